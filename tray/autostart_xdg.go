//go:build !windows && !darwin

package tray

// NewAutostart returns the XDG autostart entry for the given command
// line.
func NewAutostart(exec []string) (Autostart, error) {
	return NewDesktopEntry(exec)
}
