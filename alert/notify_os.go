//go:build darwin || windows

package alert

import "runtime"

// SystemNotifier returns the OS's own notifications: osascript on macOS,
// a toast on Windows.
func SystemNotifier() Notifier { return commandNotifier{goos: runtime.GOOS} }
