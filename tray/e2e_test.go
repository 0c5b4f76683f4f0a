package tray_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// gsettingsKeys are the org.gnome.system.proxy keys Sluice switches.
var gsettingsKeys = []string{
	"org.gnome.system.proxy mode",
	"org.gnome.system.proxy ignore-hosts",
	"org.gnome.system.proxy.http host",
	"org.gnome.system.proxy.http port",
	"org.gnome.system.proxy.https host",
	"org.gnome.system.proxy.https port",
}

// desktop is the environment of a fake GNOME session: a private bus,
// gsettings in a keyfile under a temp XDG_CONFIG_HOME, and temp state and
// home dirs.
type desktop struct {
	env       []string
	configDir string // $XDG_CONFIG_HOME
	stateDir  string // $XDG_STATE_HOME
}

func (d *desktop) gsettings(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("gsettings", args...)
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gsettings %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// proxySettings reads every key Sluice switches, as one comparable string.
func (d *desktop) proxySettings(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, k := range gsettingsKeys {
		schema, key, _ := strings.Cut(k, " ")
		fmt.Fprintf(&b, "%s=%s\n", k, d.gsettings(t, "get", schema, key))
	}
	return b.String()
}

// sluiceBinary builds cmd/sluice into a temp dir, or uses $SLUICE_BIN
// (for CI that has built bin/sluice already).
func sluiceBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sluiceproxy/sluice/cmd/sluice")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a child's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// vmRSS reads a process's resident set size in KiB from /proc.
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmRSS line")
}

// requestsTotal reads the total from the "Requests: r/s · N total" item.
func requestsTotal(t *testing.T, es []snihost.Entry) int {
	t.Helper()
	e, _ := snihost.Find(es, "Requests:")
	_, rest, _ := strings.Cut(e.Label, "· ")
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSuffix(rest, " total"), ",", ""))
	if err != nil {
		t.Fatalf("requests item %q: %v", e.Label, err)
	}
	return n
}

// TestTrayEndToEnd runs the real sluice binary as the tray app on a
// private session bus, with the test as the tray host, and works it
// through the menu as a user would: stats follow traffic, the System
// proxy item switches GNOME's settings (real gsettings, keyfile backend)
// and back, a bad config.toml shows, and Quit restores the system proxy
// and exits.
func TestTrayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	for _, tool := range []string{"gsettings", "dbus-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages dbus, libglib2.0-bin, gsettings-desktop-schemas)", tool)
		}
	}
	bin := sluiceBinary(t)
	bus := snihost.StartBus(t)
	w := snihost.NewWatcher(t, bus)

	root := t.TempDir()
	d := &desktop{configDir: filepath.Join(root, "config"), stateDir: filepath.Join(root, "state")}
	home := filepath.Join(root, "home")
	for _, dir := range []string{d.configDir, d.stateDir, home} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PROXY_"), strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "DBUS_"),
			k == "HOME", k == "GSETTINGS_BACKEND", strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"):
			continue
		}
		d.env = append(d.env, kv)
	}
	d.env = append(d.env,
		"DBUS_SESSION_BUS_ADDRESS="+bus.Addr,
		"XDG_CONFIG_HOME="+d.configDir,
		"XDG_STATE_HOME="+d.stateDir,
		"XDG_CURRENT_DESKTOP=GNOME",
		"HOME="+home,
		"GSETTINGS_BACKEND=keyfile",
	)
	if !strings.Contains(d.gsettings(t, "list-schemas"), "org.gnome.system.proxy") {
		t.Skip("schema org.gnome.system.proxy missing (Debian package gsettings-desktop-schemas)")
	}

	// The user's own proxy from before Sluice: Off must bring it back.
	d.gsettings(t, "set", "org.gnome.system.proxy", "mode", "manual")
	d.gsettings(t, "set", "org.gnome.system.proxy.http", "host", "corp.example")
	d.gsettings(t, "set", "org.gnome.system.proxy.http", "port", "3128")
	d.gsettings(t, "set", "org.gnome.system.proxy", "ignore-hosts", "['localhost', '*.corp.example']")
	prior := d.proxySettings(t)

	addr := freeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cfgPath := filepath.Join(d.configDir, "sluice", "config.toml")
	goodConfig := fmt.Sprintf("[proxy]\nlisten = %q\nshutdown_grace = \"2s\"\n\n[log]\ndir = %q\n", addr, filepath.Join(root, "logs"))
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(goodConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	// `sluice` with no arguments is the tray app.
	var out syncBuffer
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = d.env, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sluice output:\n%s", out.String())
		}
	}()

	item, err := w.WaitItem(2 * wait)
	if err != nil {
		t.Fatalf("%v (does `sluice` with no arguments run app.RunTray?)\nsluice output:\n%s", err, out.String())
	}
	menu, err := w.Menu(item)
	if err != nil {
		t.Fatal(err)
	}
	until := func(what string, check func([]snihost.Entry) error) []snihost.Entry {
		t.Helper()
		var last []snihost.Entry
		err := snihost.Eventually(2*wait, func() error {
			// Opened, as a user does to look: the closed menu refreshes
			// only every few seconds.
			if err := menu.Open(); err != nil {
				return err
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
	has := snihost.Has
	any := func(snihost.Entry) bool { return true }
	entries := until("title", has("Sluice — "+addr, func(e snihost.Entry) bool { return !e.Enabled }))
	click := func(label string) {
		t.Helper()
		e, ok := snihost.Find(entries, label)
		if !ok {
			t.Fatalf("no item %q in menu:\n%s", label, snihost.Labels(entries))
		}
		clickFn := menu.Click
		if label == "Quit" {
			clickFn = menu.ClickQuit
		}
		if err := clickFn(e.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Idle RSS, for the record (target ≤ 20 MB).
	time.Sleep(5 * time.Second)
	if kb, err := vmRSS(cmd.Process.Pid); err == nil {
		t.Logf("tray app idle VmRSS after 5 s: %d KiB (%.1f MB)", kb, float64(kb)/1024)
	}

	// Traffic through the proxy moves the stats.
	before := requestsTotal(t, until("requests line", has("Requests:", any)))
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 10_000))
	}))
	defer origin.Close()
	client := &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr})},
		Timeout:   wait,
	}
	const n = 25
	for i := 0; i < n; i++ {
		resp, err := client.Get(origin.URL + "/" + strconv.Itoa(i))
		if err != nil {
			t.Fatalf("request %d through sluice: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	until("stats after traffic", func(es []snihost.Entry) error {
		for _, want := range []string{fmt.Sprintf("· %d total", before+n), "Upstream reuse: 96%"} {
			found := false
			for _, e := range es {
				found = found || strings.Contains(e.Label, want)
			}
			if !found {
				return fmt.Errorf("no item with %q", want)
			}
		}
		return nil
	})

	// A second launch finds the first and leaves it alone.
	second := exec.Command(bin)
	second.Env = d.env
	secondOut, err := second.CombinedOutput()
	if err != nil || !strings.Contains(string(secondOut), "already running") {
		t.Errorf("second launch: %v\n%s", err, secondOut)
	}
	if w.Registrations() != 1 {
		t.Errorf("%d tray items registered, want 1", w.Registrations())
	}

	// System proxy on: GNOME's settings point at Sluice.
	click("System proxy")
	until("System proxy checked", has("System proxy", func(e snihost.Entry) bool { return e.Checked }))
	on := d.proxySettings(t)
	for _, want := range []string{
		"org.gnome.system.proxy mode='manual'",
		"org.gnome.system.proxy.http host='127.0.0.1'",
		"org.gnome.system.proxy.http port=" + port,
		"org.gnome.system.proxy.https host='127.0.0.1'",
		"org.gnome.system.proxy.https port=" + port,
	} {
		if !strings.Contains(on, want+"\n") {
			t.Errorf("after switching on, gsettings lacks %s:\n%s", want, on)
		}
	}
	keyfile, err := os.ReadFile(filepath.Join(d.configDir, "glib-2.0", "settings", "keyfile"))
	if err != nil || !bytes.Contains(keyfile, []byte("port="+port)) {
		t.Errorf("gsettings keyfile does not hold port %s: %v\n%s", port, err, keyfile)
	}

	// Off: every key back to what the user had.
	click("System proxy")
	until("System proxy unchecked", has("System proxy", func(e snihost.Entry) bool { return !e.Checked }))
	if got := d.proxySettings(t); got != prior {
		t.Errorf("after switching off:\n%s\nwant the prior settings:\n%s", got, prior)
	}

	// Switched on outside the menu (sluice sysproxy on): the check mark
	// follows, told by the watch on gsettings' keyfile.
	sysproxyCmd := func(arg string) {
		t.Helper()
		c := exec.Command(bin, "sysproxy", arg, "--config", cfgPath)
		c.Env = d.env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("sluice sysproxy %s: %v\n%s", arg, err, out)
		}
	}
	sysproxyCmd("on")
	until("System proxy follows an outside change", has("System proxy", func(e snihost.Entry) bool { return e.Checked }))
	sysproxyCmd("off")
	until("System proxy follows an outside change back", has("System proxy", func(e snihost.Entry) bool { return !e.Checked }))
	if applog, err := os.ReadFile(filepath.Join(root, "logs", "app.log")); err != nil {
		t.Errorf("read the app log: %v", err)
	} else if bytes.Contains(applog, []byte("re-reading it periodically")) {
		t.Errorf("the tray app polls the system proxy instead of watching it:\n%s", applog)
	}

	// On again through the menu, for Quit to restore.
	click("System proxy")
	until("System proxy checked again", has("System proxy", func(e snihost.Entry) bool { return e.Checked }))

	// A bad value in config.toml shows in the menu; the proxy keeps going.
	bad := strings.Replace(goodConfig, "shutdown_grace = \"2s\"", "max_concurrent = \"lots\"", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	es := until("config error item", has("⚠", any))
	if e, _ := snihost.Find(es, "⚠"); !strings.Contains(e.Label, "max_concurrent") {
		t.Errorf("config error item does not name the key: %q", e.Label)
	}
	if resp, err := client.Get(origin.URL + "/after-bad-config"); err != nil {
		t.Errorf("proxy stopped after a bad config: %v", err)
	} else {
		resp.Body.Close()
	}

	// Quit: the process exits and the system proxy is what it was.
	click("Quit")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("sluice exited with %v", err)
		}
	case <-time.After(2 * wait):
		t.Fatal("sluice did not exit after Quit")
	}
	if got := d.proxySettings(t); got != prior {
		t.Errorf("after Quit:\n%s\nwant the prior settings:\n%s", got, prior)
	}
}

// TestNoTrayHostRunsHeadless starts the tray app where nothing can show a
// tray icon: with no session bus at all, and with a bus but no
// StatusNotifierWatcher on it. Each time it warns once, serves as a proxy
// all the same, and stops cleanly on SIGTERM.
func TestNoTrayHostRunsHeadless(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("a missing tray host is a Linux condition: Windows always has a notification area, macOS a menu bar")
	}
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	bin := sluiceBinary(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "through")
	}))
	defer origin.Close()

	cases := []struct {
		name string
		bus  func(t *testing.T) string
		want string
	}{
		{"no session bus", func(t *testing.T) string { return "unix:path=" + filepath.Join(t.TempDir(), "none") }, "no D-Bus session bus"},
		{"bus without a watcher", func(t *testing.T) string { return snihost.StartBus(t).Addr }, "nothing owns org.kde.StatusNotifierWatcher"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			addr := freeLoopbackAddr(t)
			cfg := filepath.Join(root, "config.toml")
			body := fmt.Sprintf("[proxy]\nlisten = %q\nshutdown_grace = \"1s\"\n\n[log]\ndir = %q\n", addr, filepath.Join(root, "logs"))
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			var env []string
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "DBUS_") && !strings.HasPrefix(k, "XDG_") && !strings.HasPrefix(k, "PROXY_") {
					env = append(env, kv)
				}
			}
			env = append(env, "DBUS_SESSION_BUS_ADDRESS="+tc.bus(t), "XDG_STATE_HOME="+filepath.Join(root, "state"),
				"XDG_CONFIG_HOME="+filepath.Join(root, "xdg"), "GSETTINGS_BACKEND=keyfile")
			var out syncBuffer
			cmd := exec.Command(bin, "run", "--config", cfg)
			cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer cmd.Process.Kill()

			if err := snihost.Eventually(2*wait, func() error {
				if !strings.Contains(out.String(), "no system tray") {
					return errors.New("no warning yet")
				}
				return nil
			}); err != nil {
				t.Fatalf("%v\noutput:\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("warning does not say why (%q):\n%s", tc.want, out.String())
			}
			client := &http.Client{
				Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr})},
				Timeout:   wait,
			}
			resp, err := client.Get(origin.URL)
			if err != nil {
				t.Fatalf("proxy without a tray: %v\noutput:\n%s", err, out.String())
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "through" {
				t.Errorf("proxied body %q", b)
			}

			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after SIGTERM: %v\noutput:\n%s", err, out.String())
				}
			case <-time.After(2 * wait):
				t.Fatal("no exit after SIGTERM")
			}
			if n := strings.Count(out.String(), "no system tray here"); n != 1 {
				t.Errorf("%d warnings, want 1:\n%s", n, out.String())
			}
		})
	}
}
