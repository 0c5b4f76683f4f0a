package app

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// notifications is a freedesktop notification service on a private
// session bus, recording the summaries it is asked to show.
type notifications struct {
	mu    sync.Mutex
	shown []string
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.shown = append(n.shown, summary)
	return uint32(len(n.shown)), nil
}

func (n *notifications) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.shown...)
}

// TestErrorRateAlertReachesTheDesktop runs the app with the default
// [alerts] error_rate on a private session bus with a notification service, sends
// requests that fail through it, and waits for the one notification the
// app's own alert loop raises.
func TestErrorRateAlertReachesTheDesktop(t *testing.T) {
	bus := snihost.StartBus(t)
	conn, err := dbus.Connect(bus.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notes := &notifications{}
	conn.Export(notes, "/org/freedesktop/Notifications", "org.freedesktop.Notifications")
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: %v %v", reply, err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Addr)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	addr := freePort(t)
	a, _ := startWatchedApp(t, addr)
	client := proxyClient(addr)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a request to a closed port every 50 ms: all fail (502)
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if resp, err := client.Get("http://" + dead + "/"); err == nil {
				resp.Body.Close()
			}
		}
	}()
	defer func() { close(stop); <-done }()

	deadline := time.Now().Add(4 * alertEvery)
	for len(notes.list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no notification within %v of failing traffic", 4*alertEvery)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := a.alerts.Active(); len(a) != 1 || !strings.Contains(a[0], "of requests failed") {
		t.Errorf("active alerts %q", a)
	}
	// One more check of the rules with the failures going on: no second
	// notification within the quiet time.
	time.Sleep(alertEvery + time.Second)
	if shown := notes.list(); len(shown) != 1 || !strings.HasSuffix(shown[0], "% of requests failed") {
		t.Errorf("notifications %q, want one", shown)
	}
}
