//go:build darwin || windows

package alert

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

// SystemNotifier returns the OS's own notifications: osascript on macOS,
// a toast on Windows.
func SystemNotifier() Notifier { return commandNotifier{goos: runtime.GOOS} }

// commandNotifier shows notifications by running the OS's own tool.
type commandNotifier struct{ goos string }

// Notify runs the tool and waits for it: osascript and PowerShell return
// once the notification is handed to the system.
func (c commandNotifier) Notify(title, body string) error {
	args := notifyCommand(c.goos, title, body)
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}
