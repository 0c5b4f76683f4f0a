//go:build !((linux || freebsd || openbsd || netbsd) && !android)

package tray

import "time"

// lookBeforeRun is false: the icon and tooltip are set once systray runs
// (see presetLook).
const lookBeforeRun = false

// checkHost returns nil: macOS and Windows always have a menu bar or
// notification area.
func checkHost(time.Duration, <-chan struct{}) error { return nil }
