package alert

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/sluiceproxy/sluice/internal/snihost"
	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// notificationServer is a freedesktop notification service, as a
// desktop runs one, recording what it is asked to show.
type notificationServer struct {
	mu    sync.Mutex
	shown []string // "app|summary|body"
}

func (n *notificationServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.shown = append(n.shown, app+"|"+summary+"|"+body)
	return uint32(len(n.shown)), nil
}

func (n *notificationServer) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.shown...)
}

// startNotificationServer runs a private session bus with the service on
// it and points DBUS_SESSION_BUS_ADDRESS at it for the test.
func startNotificationServer(t *testing.T) *notificationServer {
	bus := snihost.StartBus(t)
	conn, err := dbus.Connect(bus.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv := &notificationServer{}
	if err := conn.Export(srv, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: %v %v", reply, err)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Addr)
	return srv
}

// TestErrorRateNotifiesOnceOverDBus sends real traffic through a real
// proxy, most of it to a closed port, and checks the alert against the
// proxy's counters: one desktop notification when the error rate crosses
// the threshold, none more while it stays above within 5 minutes, the
// next after them, and the alert line gone once requests succeed again.
func TestErrorRateNotifiesOnceOverDBus(t *testing.T) {
	notes := startNotificationServer(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer origin.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	st := stats.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Config{Listen: ln.Addr().String(), Stats: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	pu, _ := url.Parse("http://" + ln.Addr().String())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	send := func(ok, failing int) {
		t.Helper()
		want := st.Snapshot().Requests + int64(ok+failing)
		defer func() {
			// A request is counted just after its answer is sent.
			for deadline := time.Now().Add(10 * time.Second); st.Snapshot().Requests < want; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the proxy did not count the requests")
				}
			}
		}()
		for i := 0; i < ok+failing; i++ {
			u := origin.URL + "/fine"
			if i >= ok {
				u = "http://" + deadAddr + "/refused"
			}
			resp, err := client.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}

	w := New(Config{ErrorRate: 0.05, UpstreamDown: true}, SystemNotifier(), slog.New(slog.DiscardHandler))
	t0 := time.Now()
	at := func(d time.Duration) Sample {
		s := st.Snapshot()
		return Sample{Time: t0.Add(d), Requests: s.Requests, Errors: s.Errors}
	}
	w.Check(at(0))
	send(30, 0)
	w.Check(at(time.Second))
	if n := len(notes.list()); n != 0 || len(w.Active()) != 0 {
		t.Fatalf("no failures, yet %d notifications and alerts %q", n, w.Active())
	}
	send(20, 10) // 10 of 60 in the minute: 17%
	w.Check(at(2 * time.Second))
	send(0, 10)
	w.Check(at(3 * time.Second))
	if a := w.Active(); len(a) != 1 || !strings.Contains(a[0], "requests failed") {
		t.Errorf("active alerts %q", a)
	}
	send(0, 20)
	w.Check(at(time.Minute))
	shown := notes.list()
	if len(shown) != 1 || !strings.HasPrefix(shown[0], "Sluice|Sluice: 17% of requests failed|10 of 60 in the last 2s") {
		t.Fatalf("notifications %q, want one about 17%% failed", shown)
	}
	send(0, 20)
	w.Check(at(Quiet + 3*time.Second))
	if n := len(notes.list()); n != 2 {
		t.Errorf("%d notifications once the quiet time passed with failures going on, want 2", n)
	}
	send(40, 0)
	w.Check(at(Quiet + 2*time.Minute))
	if a := w.Active(); len(a) != 0 {
		t.Errorf("alerts %q after a minute of successes", a)
	}
}

// TestRules checks the thresholds: the error rate needs MinRequests,
// 0 turns it off, and an upstream down alerts when asked to.
func TestRules(t *testing.T) {
	rec := &recorder{}
	t0 := time.Unix(1e9, 0)
	for _, tc := range []struct {
		name   string
		cfg    Config
		sample Sample
		want   int
	}{
		{"few requests", Config{ErrorRate: 0.05}, Sample{Time: t0.Add(time.Second), Requests: MinRequests - 1, Errors: MinRequests - 1}, 0},
		{"at the threshold", Config{ErrorRate: 0.5}, Sample{Time: t0.Add(time.Second), Requests: 40, Errors: 20}, 0},
		{"above it", Config{ErrorRate: 0.5}, Sample{Time: t0.Add(time.Second), Requests: 40, Errors: 21}, 1},
		{"off", Config{}, Sample{Time: t0.Add(time.Second), Requests: 100, Errors: 100}, 0},
		{"upstream down", Config{UpstreamDown: true}, Sample{Time: t0.Add(time.Second), Down: []string{"corp"}}, 1},
		{"upstream down, not asked", Config{}, Sample{Time: t0.Add(time.Second), Down: []string{"corp"}}, 0},
	} {
		rec.n = 0
		w := New(tc.cfg, rec, slog.New(slog.DiscardHandler))
		w.Check(Sample{Time: t0})
		w.Check(tc.sample)
		if rec.n != tc.want || len(w.Active()) != tc.want {
			t.Errorf("%s: %d notifications, alerts %q; want %d", tc.name, rec.n, w.Active(), tc.want)
		}
	}
}

type recorder struct{ n int }

func (r *recorder) Notify(title, body string) error { r.n++; return nil }

// TestNotifyCommand pins the macOS and Windows command lines, quotes
// included (they cannot run here).
func TestNotifyCommand(t *testing.T) {
	mac := notifyCommand("darwin", `Sluice: "x"`, `a\b`)
	if want := []string{"osascript", "-e", `display notification "a\\b" with title "Sluice: \"x\""`}; strings.Join(mac, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("darwin: %q", mac)
	}
	win := notifyCommand("windows", "it's", "down")
	if win[0] != "powershell" || win[len(win)-2] != "-Command" ||
		!strings.Contains(win[len(win)-1], "CreateTextNode('it''s')") || !strings.Contains(win[len(win)-1], "CreateTextNode('down')") ||
		!strings.Contains(win[len(win)-1], "CreateToastNotifier(") {
		t.Errorf("windows: %q", win)
	}
}
