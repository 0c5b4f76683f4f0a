package tray_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/snihost"
	"github.com/sluiceproxy/sluice/tray"
)

// fakeApp is a Controller whose facts the test sets and whose actions it
// records. The tray under test is real and talks real D-Bus.
type fakeApp struct {
	mu         sync.Mutex
	addr       string
	listenErr  error
	stats      tray.Stats
	proxyOn    bool
	proxySets  []bool
	configErr  error
	reloads    int
	quits      int
	quitCalled chan struct{}
	routing    tray.Routing
	modeSets   []string
	selects    []string
}

func (f *fakeApp) ListenAddr() string { f.mu.Lock(); defer f.mu.Unlock(); return f.addr }
func (f *fakeApp) ListenErr() error   { f.mu.Lock(); defer f.mu.Unlock(); return f.listenErr }
func (f *fakeApp) Stats() tray.Stats  { f.mu.Lock(); defer f.mu.Unlock(); return f.stats }
func (f *fakeApp) SystemProxyPointsAtSluice() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.proxyOn
}
func (f *fakeApp) SetSystemProxy(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proxySets = append(f.proxySets, on)
	f.proxyOn = on
	return nil
}
func (f *fakeApp) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.configErr
}
func (f *fakeApp) ConfigError() error { f.mu.Lock(); defer f.mu.Unlock(); return f.configErr }
func (f *fakeApp) ConfigPath() string { return "/home/u/.config/sluice/config.toml" }
func (f *fakeApp) LogDir() string     { return "/home/u/.local/state/sluice/logs" }
func (f *fakeApp) Quit() {
	f.mu.Lock()
	f.quits++
	f.mu.Unlock()
	close(f.quitCalled)
}

func (f *fakeApp) Routing() tray.Routing {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.routing
	r.Groups = append([]tray.SelectGroup(nil), r.Groups...)
	return r
}
func (f *fakeApp) SetMode(mode string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modeSets = append(f.modeSets, mode)
	f.routing.Mode = mode
	return nil
}
func (f *fakeApp) Select(group, member string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.selects = append(f.selects, group+"="+member)
	for i := range f.routing.Groups {
		if f.routing.Groups[i].Name == group {
			f.routing.Groups[i].Selected = member
		}
	}
	return nil
}

func (f *fakeApp) set(fn func(f *fakeApp)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// opener records the paths the tray asked to open and can be made to
// fail.
type opener struct {
	mu     sync.Mutex
	opened []string
	fail   error
}

func (o *opener) open(p string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.opened = append(o.opened, p)
	return nil
}

func (o *opener) paths() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.opened...)
}

const wait = 30 * time.Second

// trayRan records that tray.Run was started in this process.
var trayRan atomic.Bool

// TestTrayMenuOverDBus runs the real tray on a private session bus, with
// the test as the tray host, and drives every item through dbusmenu.
// fyne.io/systray can run once per process, so this one test walks the
// whole menu.
func TestTrayMenuOverDBus(t *testing.T) {
	if trayRan.Swap(true) {
		t.Skip("fyne.io/systray runs once per process; this test ran already (-count > 1)")
	}
	bus := snihost.StartBus(t)
	w := snihost.NewWatcher(t, bus)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Addr)

	app := &fakeApp{addr: "127.0.0.1:8877", quitCalled: make(chan struct{})}
	op := &opener{}
	autostartDir := t.TempDir()
	autostart := &tray.DesktopEntry{Dir: autostartDir, Exec: []string{"/usr/bin/sluice"}}
	done := make(chan error, 1)
	go func() {
		done <- tray.Run(app, tray.Options{
			Autostart: autostart,
			Open:      op.open,
			Dashboard: func() string { return "http://127.0.0.1:8877/ui" },
			Interval:  100 * time.Millisecond,
			// Longer than the test: while the menu is closed, nothing
			// refreshes it.
			IdleInterval: time.Hour,
			HostWait:     wait,
		})
	}()

	item, err := w.WaitItem(wait)
	if err != nil {
		t.Fatal(err)
	}
	menu, err := w.Menu(item)
	if err != nil {
		t.Fatal(err)
	}

	// poll reads the menu until check accepts it, opening it first each
	// time if open is set (as a user does to look), and fails the test
	// with the last menu seen otherwise.
	poll := func(what string, open bool, check func([]snihost.Entry) error) []snihost.Entry {
		t.Helper()
		var last []snihost.Entry
		err := snihost.Eventually(wait, func() error {
			if open {
				if err := menu.Open(); err != nil {
					return err
				}
			}
			var err error
			if last, err = menu.Layout(); err != nil {
				return err
			}
			return check(last)
		})
		if err != nil {
			t.Fatalf("%s: %v\nmenu:\n%s", what, err, snihost.Labels(last))
		}
		return last
	}
	until := func(what string, check func([]snihost.Entry) error) []snihost.Entry {
		t.Helper()
		return poll(what, true, check)
	}
	find := func(entries []snihost.Entry, prefix string) snihost.Entry {
		t.Helper()
		e, ok := snihost.Find(entries, prefix)
		if !ok {
			t.Fatalf("no item %q in menu:\n%s", prefix, snihost.Labels(entries))
		}
		return e
	}
	has := snihost.Has

	// The layout, top to bottom, as the issue lists it. The menu has not
	// been opened yet.
	entries := poll("initial menu", false, has("Sluice — 127.0.0.1:8877", func(e snihost.Entry) bool { return !e.Enabled }))
	want := `  ---
  [ ] System proxy
  ---
  (disabled) Requests: 0.0/s · 0 total
  (disabled) Connections: 0 · tunnels: 0
  (disabled) ↓ 0 B/s · ↑ 0 B/s
  (disabled) Latency p50 — · p95 — · p99 —
  (disabled) DNS cache hits: —
  (disabled) HTTP cache hits: —
  (disabled) Upstream reuse: —
  (disabled) Errors: 0.0/s
  ---
  Open dashboard
  Open config.toml
  Reload config
  Open logs folder
  ---
  [ ] Start at login
  ---
  Quit
`
	got := snihost.Labels(entries)
	// IDs are systray's business; compare without them.
	if stripIDs(got) != "  (disabled) Sluice — 127.0.0.1:8877\n"+want {
		t.Fatalf("menu:\n%s\nwant:\n  (disabled) Sluice — 127.0.0.1:8877\n%s", stripIDs(got), want)
	}
	// The icon is set beside the menu, not before it: wait for it.
	offIcon, err := w.IconPixmap(item)
	for deadline := time.Now().Add(10 * time.Second); err == nil && offIcon.W == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		offIcon, err = w.IconPixmap(item)
	}
	if err != nil {
		t.Fatal(err)
	}
	if offIcon.W != 32 || offIcon.H != 32 || len(offIcon.ARGB) != 32*32*4 {
		t.Fatalf("icon is %dx%d with %d bytes, want the 32x32 PNG from assets", offIcon.W, offIcon.H, len(offIcon.ARGB))
	}
	if tip, err := w.ToolTip(item); err != nil || tip != "Sluice: system proxy off\n127.0.0.1:8877 · 0.0/s" {
		t.Errorf("tooltip = %q, %v", tip, err)
	}

	// Live stats follow the controller when the menu opens, and not while
	// it stays closed.
	app.set(func(f *fakeApp) {
		f.stats = tray.Stats{Requests: 1234, RequestsPerSec: 12, ActiveConns: 3, ActiveTunnels: 1, UpstreamReused: 9, UpstreamDialed: 1}
	})
	time.Sleep(300 * time.Millisecond) // three open-menu refresh intervals
	if closed, err := menu.Layout(); err != nil {
		t.Fatal(err)
	} else if _, ok := snihost.Find(closed, "Requests: 0.0/s · 0 total"); !ok {
		t.Fatalf("the closed menu was refreshed:\n%s", snihost.Labels(closed))
	}
	if err := menu.Open(); err != nil {
		t.Fatal(err)
	}
	poll("stats update when the menu opens", false, func(es []snihost.Entry) error {
		for _, p := range []string{"Requests: 12/s · 1,234 total", "Connections: 3 · tunnels: 1", "Upstream reuse: 90%"} {
			if _, ok := snihost.Find(es, p); !ok {
				return fmt.Errorf("no %q", p)
			}
		}
		return nil
	})

	// System proxy: a click switches it on, and the icon and tooltip
	// follow.
	if err := menu.Click(find(entries, "System proxy").ID); err != nil {
		t.Fatal(err)
	}
	until("system proxy checked", has("System proxy", func(e snihost.Entry) bool { return e.Checked }))
	if err := snihost.Eventually(wait, func() error {
		on, err := w.IconPixmap(item)
		if err != nil {
			return err
		}
		if bytes.Equal(on.ARGB, offIcon.ARGB) {
			return errors.New("icon did not change")
		}
		tip, err := w.ToolTip(item)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(tip, "Sluice: system proxy on\n") {
			return fmt.Errorf("tooltip %q", tip)
		}
		return nil
	}); err != nil {
		t.Errorf("after switching on: %v", err)
	}
	// Switched off outside Sluice: the check mark follows.
	app.set(func(f *fakeApp) { f.proxyOn = false })
	until("system proxy unchecked by someone else", has("System proxy", func(e snihost.Entry) bool { return !e.Checked }))
	// The next click asks for on again, from the real state.
	if err := menu.Click(find(entries, "System proxy").ID); err != nil {
		t.Fatal(err)
	}
	until("system proxy checked again", has("System proxy", func(e snihost.Entry) bool { return e.Checked }))
	if err := menu.Click(find(entries, "System proxy").ID); err != nil {
		t.Fatal(err)
	}
	until("system proxy off", has("System proxy", func(e snihost.Entry) bool { return !e.Checked }))
	app.set(func(f *fakeApp) {
		if fmt.Sprint(f.proxySets) != "[true true false]" {
			t.Errorf("SetSystemProxy calls = %v, want [true true false]", f.proxySets)
		}
	})

	// A config error shows under the title; Reload calls the app.
	app.set(func(f *fakeApp) { f.configErr = errors.New("config.toml line 4: [proxy] listen: want HOST:PORT") })
	until("config error item", has("⚠ config.toml line 4: [proxy] listen: want HOST:PORT", func(e snihost.Entry) bool { return !e.Enabled }))
	if err := menu.Click(find(entries, "Reload config").ID); err != nil {
		t.Fatal(err)
	}
	if err := snihost.Eventually(wait, func() error {
		app.mu.Lock()
		defer app.mu.Unlock()
		if app.reloads != 1 {
			return fmt.Errorf("Reload called %d times, want 1", app.reloads)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	app.set(func(f *fakeApp) { f.configErr = nil })
	until("config error gone", func(es []snihost.Entry) error {
		if e, ok := snihost.Find(es, "⚠"); ok {
			return fmt.Errorf("still shows %q", e.Label)
		}
		return nil
	})

	// Open config.toml and the logs folder; a failing opener shows until
	// the next good click.
	if err := menu.Click(find(entries, "Open config.toml").ID); err != nil {
		t.Fatal(err)
	}
	if err := menu.Click(find(entries, "Open logs folder").ID); err != nil {
		t.Fatal(err)
	}
	if err := menu.Click(find(entries, "Open dashboard").ID); err != nil {
		t.Fatal(err)
	}
	if err := snihost.Eventually(wait, func() error {
		if got := strings.Join(op.paths(), " "); got != app.ConfigPath()+" "+app.LogDir()+" http://127.0.0.1:8877/ui" {
			return fmt.Errorf("opened %q", got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	op.mu.Lock()
	op.fail = errors.New("xdg-open not found (install xdg-utils)")
	op.mu.Unlock()
	if err := menu.Click(find(entries, "Open logs folder").ID); err != nil {
		t.Fatal(err)
	}
	until("open failure shown", has("⚠ open logs folder: xdg-open not found (install xdg-utils)", func(snihost.Entry) bool { return true }))
	op.mu.Lock()
	op.fail = nil
	op.mu.Unlock()
	if err := menu.Click(find(entries, "Open logs folder").ID); err != nil {
		t.Fatal(err)
	}
	until("open failure cleared", func(es []snihost.Entry) error {
		if e, ok := snihost.Find(es, "⚠"); ok {
			return fmt.Errorf("still shows %q", e.Label)
		}
		return nil
	})

	// Start at login writes and removes the desktop file.
	desktop := filepath.Join(autostartDir, "sluice.desktop")
	if err := menu.Click(find(entries, "Start at login").ID); err != nil {
		t.Fatal(err)
	}
	until("start at login checked", has("Start at login", func(e snihost.Entry) bool { return e.Checked }))
	if b, err := os.ReadFile(desktop); err != nil || !strings.Contains(string(b), `Exec="/usr/bin/sluice"`) {
		t.Errorf("autostart file: %q, %v", b, err)
	}
	if err := menu.Click(find(entries, "Start at login").ID); err != nil {
		t.Fatal(err)
	}
	until("start at login unchecked", has("Start at login", func(e snihost.Entry) bool { return !e.Checked }))
	if _, err := os.Stat(desktop); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("autostart file still there: %v", err)
	}

	// Routing: the Mode menu appears once there is something to route,
	// with the mode checked, radio-style; Global is offered only when the
	// config names a global target.
	app.set(func(f *fakeApp) {
		f.routing = tray.Routing{Configured: true, Mode: "rules",
			Groups: []tray.SelectGroup{{Name: "work", Members: []string{"corp", "backup"}, Selected: "corp"}}}
	})
	sub := func(es []snihost.Entry, parent, child string) (snihost.Entry, error) {
		p, ok := snihost.Find(es, parent)
		if !ok {
			return snihost.Entry{}, fmt.Errorf("no item %q", parent)
		}
		c, ok := snihost.Find(p.Children, child)
		if !ok {
			return snihost.Entry{}, fmt.Errorf("no item %q under %q", child, parent)
		}
		return c, nil
	}
	checks := func(parent string, want map[string]bool) func([]snihost.Entry) error {
		return func(es []snihost.Entry) error {
			for label, on := range want {
				c, err := sub(es, parent, label)
				if err != nil {
					return err
				}
				if !c.Checkmark || c.Checked != on {
					return fmt.Errorf("%s > %s is %+v, want checked %v", parent, label, c, on)
				}
			}
			return nil
		}
	}
	entries = until("mode menu", checks("Mode", map[string]bool{"Rules": true, "Global": false, "Direct": false}))
	if g, _ := sub(entries, "Mode", "Global"); g.Enabled {
		t.Error("Global is enabled though the config names no global target")
	}
	direct, _ := sub(entries, "Mode", "Direct")
	if err := menu.Click(direct.ID); err != nil {
		t.Fatal(err)
	}
	until("direct mode checked", checks("Mode", map[string]bool{"Rules": false, "Direct": true}))
	// The select group's menu: its title shows the choice, a click picks
	// another member.
	entries = until("group menu", checks("Group work: corp", map[string]bool{"corp": true, "backup": false}))
	backup, _ := sub(entries, "Group work: corp", "backup")
	if err := menu.Click(backup.ID); err != nil {
		t.Fatal(err)
	}
	until("backup selected", checks("Group work: backup", map[string]bool{"corp": false, "backup": true}))
	app.set(func(f *fakeApp) {
		if fmt.Sprint(f.modeSets, f.selects) != "[direct] [work=backup]" {
			t.Errorf("SetMode calls %v, Select calls %v", f.modeSets, f.selects)
		}
	})
	// A reload that adds a member and a group: the menus follow.
	app.set(func(f *fakeApp) {
		f.routing.Groups = []tray.SelectGroup{
			{Name: "work", Members: []string{"corp", "backup", "home"}, Selected: "home"},
			{Name: "video", Members: []string{"fast"}, Selected: "fast"},
		}
	})
	until("groups after a reload", func(es []snihost.Entry) error {
		if err := checks("Group work: home", map[string]bool{"corp": false, "backup": false, "home": true})(es); err != nil {
			return err
		}
		return checks("Group video: fast", map[string]bool{"fast": true})(es)
	})
	// An upstream that is down shows among the stats; routing turned off
	// hides the menus.
	app.set(func(f *fakeApp) { f.stats.UpstreamsDown = []string{"corp"} })
	until("upstream down line", has("⚠ Upstream down: corp", func(e snihost.Entry) bool { return !e.Enabled }))
	app.set(func(f *fakeApp) { f.stats.UpstreamsDown = nil; f.routing = tray.Routing{} })
	until("routing menus hidden", func(es []snihost.Entry) error {
		for _, p := range []string{"Mode", "Group ", "⚠ Upstream"} {
			if e, ok := snihost.Find(es, p); ok {
				return fmt.Errorf("still shows %q", e.Label)
			}
		}
		return nil
	})

	// The listener failed: the title says why, and the system proxy
	// cannot be switched on to a dead port.
	app.set(func(f *fakeApp) {
		f.listenErr = errors.New("port 8877 is in use: set [proxy] listen in config.toml")
	})
	until("listen error title", has("Sluice — port 8877 is in use", func(e snihost.Entry) bool { return !e.Enabled }))
	until("system proxy disabled", has("System proxy", func(e snihost.Entry) bool { return !e.Enabled }))

	// Quit calls the app and ends Run.
	if err := menu.ClickQuit(find(entries, "Quit").ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.quitCalled:
	case <-time.After(wait):
		t.Fatal("Quit did not reach the app")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return after Quit")
	}
}

// stripIDs drops the item IDs Labels prints.
func stripIDs(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if f := strings.TrimLeft(line, " "); f != "" && f[0] >= '0' && f[0] <= '9' {
			if i := strings.IndexByte(f, ' '); i >= 0 {
				line = "  " + f[i+1:]
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestRunWithoutTrayHost(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("a missing tray host is a Linux condition: Windows always has a notification area, macOS a menu bar")
	}
	t.Run("bus without watcher", func(t *testing.T) {
		bus := snihost.StartBus(t)
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus.Addr)
		err := tray.Run(&fakeApp{addr: "127.0.0.1:1"}, tray.Options{Autostart: &tray.DesktopEntry{Dir: t.TempDir()}})
		if !errors.Is(err, tray.ErrNoHost) {
			t.Fatalf("Run = %v, want ErrNoHost", err)
		}
		if !strings.Contains(err.Error(), "org.kde.StatusNotifierWatcher") {
			t.Errorf("error does not name the missing watcher: %v", err)
		}
	})
	t.Run("no bus", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "nobus"))
		err := tray.Run(&fakeApp{addr: "127.0.0.1:1"}, tray.Options{Autostart: &tray.DesktopEntry{Dir: t.TempDir()}, HostWait: time.Second})
		if !errors.Is(err, tray.ErrNoHost) {
			t.Fatalf("Run = %v, want ErrNoHost", err)
		}
	})
}
