//go:build !darwin && !windows

package alert

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// SystemNotifier returns the freedesktop notification service on the
// D-Bus session bus, which every Linux and BSD desktop runs.
func SystemNotifier() Notifier { return dbusNotifier{} }

// dbusNotifier calls org.freedesktop.Notifications.Notify (Desktop
// Notifications Specification 1.2) on the session bus.
type dbusNotifier struct{}

// notifyTimeout is how long a notification stays, in milliseconds; -1
// would leave it to the server, which may keep it until clicked.
const notifyTimeout = 10000

func (dbusNotifier) Notify(title, body string) error {
	// A connection of its own: alerts are rare, and the shared one
	// (dbus.SessionBus) belongs to the tray.
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("connect to the session bus: %w", err)
	}
	defer conn.Close()
	obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	var id uint32
	err = obj.Call("org.freedesktop.Notifications.Notify", 0,
		"Sluice", uint32(0), "network-server", title, body, []string{}, map[string]dbus.Variant{}, int32(notifyTimeout)).Store(&id)
	if err != nil {
		return fmt.Errorf("org.freedesktop.Notifications.Notify: %w", err)
	}
	return nil
}
