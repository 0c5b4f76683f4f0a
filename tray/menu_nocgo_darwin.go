//go:build darwin && !cgo

package tray

import "fmt"

// runSystray fails: the macOS menu bar is reached through Cocoa, which
// needs cgo. Release builds for macOS are built with CGO_ENABLED=1; a
// cross build without it (make cross vets darwin) runs headless.
func runSystray(Controller, Options) error {
	return fmt.Errorf("%w: this build has no menu bar support (built without cgo)", ErrNoHost)
}
