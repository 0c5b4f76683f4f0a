//go:build (linux || freebsd || openbsd || netbsd) && !android

package tray

import (
	"errors"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// TestCheckHostWaitsForLatePanel covers logging in: Sluice starts, the
// panel with its tray comes up a moment later.
func TestCheckHostWaitsForLatePanel(t *testing.T) {
	bus := snihost.StartBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Addr)
	if err := checkHost(0, nil); !errors.Is(err, ErrNoHost) {
		t.Fatalf("checkHost with no watcher = %v, want ErrNoHost", err)
	}
	watcherUp := make(chan struct{})
	go func() {
		defer close(watcherUp)
		time.Sleep(500 * time.Millisecond)
		snihost.NewWatcher(t, bus)
	}()
	err := checkHost(30*time.Second, nil)
	<-watcherUp
	if err != nil {
		t.Fatalf("checkHost with a watcher arriving late: %v", err)
	}
}
