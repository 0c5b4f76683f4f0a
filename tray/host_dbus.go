//go:build (linux || freebsd || openbsd || netbsd) && !android

package tray

import (
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// lookBeforeRun: the title, icon and tooltip are set before systray
// starts (see presetLook).
const lookBeforeRun = true

// watcherName is the well-known name a tray host (a panel's
// StatusNotifier plugin, or a standalone watcher) owns on the session bus;
// an item registers with it to be shown.
const watcherName = "org.kde.StatusNotifierWatcher"

// checkHost returns nil when a StatusNotifierWatcher owns its name on the
// session bus, polling for up to wait or until done is closed. It uses a private connection and
// closes it, leaving systray's shared one untouched. It never autolaunches
// a bus: a bus started for Sluice alone has no panel on it.
func checkHost(wait time.Duration, done <-chan struct{}) error {
	conn, err := dbus.SessionBusPrivateNoAutoStartup()
	if err != nil {
		return fmt.Errorf("%w: no D-Bus session bus (is DBUS_SESSION_BUS_ADDRESS set?): %w", ErrNoHost, err)
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return fmt.Errorf("%w: authenticate to the D-Bus session bus: %w", ErrNoHost, err)
	}
	if err := conn.Hello(); err != nil {
		return fmt.Errorf("%w: greet the D-Bus session bus: %w", ErrNoHost, err)
	}
	deadline := time.Now().Add(wait)
	for {
		var has bool
		if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, watcherName).Store(&has); err != nil {
			return fmt.Errorf("%w: ask the session bus for %s: %w", ErrNoHost, watcherName, err)
		}
		if has {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: nothing owns %s on the D-Bus session bus (the panel needs a StatusNotifier/AppIndicator tray)", ErrNoHost, watcherName)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-done:
			return fmt.Errorf("%w: stopped while waiting for %s", ErrNoHost, watcherName)
		}
	}
}
