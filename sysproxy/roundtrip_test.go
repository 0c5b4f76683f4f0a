package sysproxy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The acceptance scenario every backend passes: the user has their own
// proxy (corp.example:3128 with its own bypass list); On points the system
// at Sluice; Off puts every setting back as it was; On twice and Off twice
// are harmless; a setting changed behind Sluice's back is left alone.

var testBypass = []string{"localhost", "127.0.0.0/8", "::1", "*.local", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// osTool is a backend under test together with the means to read and
// write the OS settings without going through it.
type osTool struct {
	b Backend
	// setPrior writes the user's own manual proxy corp.example:3128.
	setPrior func(t *testing.T)
	// snapshot reads the settings independently of the backend, as
	// comparable text, to check the restore.
	snapshot func(t *testing.T) string
	// pointsAtSluice checks, independently, that the OS now uses Sluice.
	pointsAtSluice func(t *testing.T) bool
	// meddle changes the proxy host as another program would.
	meddle func(t *testing.T)
}

func newTestManager(t *testing.T, b Backend) *Manager {
	t.Helper()
	m, err := NewManager(Options{StateDir: t.TempDir(), Backends: []Backend{b}, Owner: os.Getpid(), Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runRoundTrip(t *testing.T, tool osTool) {
	t.Run("on then off restores every field", func(t *testing.T) {
		tool.setPrior(t)
		prior := tool.snapshot(t)
		m := newTestManager(t, tool.b)
		if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
			t.Fatal(err)
		}
		if !tool.pointsAtSluice(t) {
			t.Fatalf("after On the OS does not point at Sluice:\n%s", tool.snapshot(t))
		}
		if !m.IsOn() {
			t.Fatal("IsOn is false after On")
		}
		st, err := m.Status(Target{})
		if err != nil || len(st) != 1 || !st[0].PointsAtSluice || !st[0].Owned {
			t.Fatalf("Status = %+v, %v; want one owned backend pointing at Sluice", st, err)
		}
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := tool.snapshot(t); got != prior {
			t.Fatalf("after Off:\n%s\nwant the prior settings:\n%s", got, prior)
		}
		if m.IsOn() {
			t.Fatal("IsOn is true after Off")
		}
	})
	t.Run("on twice keeps the first snapshot, off twice is a no-op", func(t *testing.T) {
		tool.setPrior(t)
		prior := tool.snapshot(t)
		m := newTestManager(t, tool.b)
		if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
			t.Fatal(err)
		}
		if err := m.On("127.0.0.1", 8878, testBypass); err != nil {
			t.Fatal(err)
		}
		st, err := m.Status(Target{})
		if err != nil || !st[0].PointsAtSluice {
			t.Fatalf("second On did not re-point: %+v, %v", st, err)
		}
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := tool.snapshot(t); got != prior {
			t.Fatalf("after On, On, Off:\n%s\nwant the prior settings:\n%s", got, prior)
		}
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := tool.snapshot(t); got != prior {
			t.Fatalf("second Off changed the settings:\n%s", got)
		}
	})
	t.Run("changed behind our back is left alone", func(t *testing.T) {
		tool.setPrior(t)
		m := newTestManager(t, tool.b)
		if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
			t.Fatal(err)
		}
		tool.meddle(t)
		meddled := tool.snapshot(t)
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := tool.snapshot(t); got != meddled {
			t.Fatalf("Off overwrote another program's change:\n%s\nwant:\n%s", got, meddled)
		}
		if m.IsOn() {
			t.Fatal("the state file is still there after Off")
		}
	})
}

// toolEnv is an environment whose gsettings and kwriteconfig write under a
// fresh temporary XDG_CONFIG_HOME, and never to a D-Bus session bus.
func toolEnv(t *testing.T) []string {
	return []string{
		"GSETTINGS_BACKEND=keyfile",
		"XDG_CONFIG_HOME=" + t.TempDir(),
		"DBUS_SESSION_BUS_ADDRESS=",
		"XDG_RUNTIME_DIR=" + t.TempDir(),
	}
}

func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install libglib2.0-bin gsettings-desktop-schemas libkf5config-bin)", n)
		}
	}
}

// run runs an OS tool with env for the tests' own independent reads and
// writes.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := ExecRunner{Env: env}.Run(context.Background(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func TestGNOMERoundTrip(t *testing.T) {
	needTool(t, "gsettings")
	env := toolEnv(t)
	gs := func(t *testing.T, args ...string) string { return run(t, env, "gsettings", args...) }
	tool := osTool{
		b: GNOME{Run: ExecRunner{Env: env}},
		setPrior: func(t *testing.T) {
			gs(t, "set", "org.gnome.system.proxy.http", "host", "corp.example")
			gs(t, "set", "org.gnome.system.proxy.http", "port", "3128")
			gs(t, "set", "org.gnome.system.proxy.https", "host", "corp.example")
			gs(t, "set", "org.gnome.system.proxy.https", "port", "3128")
			gs(t, "set", "org.gnome.system.proxy.socks", "host", "socks.corp.example")
			gs(t, "set", "org.gnome.system.proxy", "ignore-hosts", `['intranet.corp.example', '*.corp', "o'brien.lan"]`)
			gs(t, "set", "org.gnome.system.proxy", "mode", "manual")
		},
		snapshot: func(t *testing.T) string {
			// The whole schema, including keys Sluice does not touch.
			return gs(t, "list-recursively", "org.gnome.system.proxy")
		},
		pointsAtSluice: func(t *testing.T) bool {
			return gs(t, "get", "org.gnome.system.proxy", "mode") == "'manual'" &&
				gs(t, "get", "org.gnome.system.proxy.http", "host") == "'127.0.0.1'" &&
				strings.HasPrefix(gs(t, "get", "org.gnome.system.proxy.http", "port"), "887") &&
				gs(t, "get", "org.gnome.system.proxy.https", "host") == "'127.0.0.1'" &&
				gs(t, "get", "org.gnome.system.proxy", "ignore-hosts") == "['localhost', '127.0.0.0/8', '::1', '*.local', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']" &&
				gs(t, "get", "org.gnome.system.proxy.socks", "host") == "'socks.corp.example'"
		},
		meddle: func(t *testing.T) {
			gs(t, "set", "org.gnome.system.proxy.http", "host", "other.example")
		},
	}
	runRoundTrip(t, tool)

	// The keyfile the acceptance test reads holds the prior proxy again.
	kf, err := os.ReadFile(filepath.Join(lookEnv(env, "XDG_CONFIG_HOME"), "glib-2.0", "settings", "keyfile"))
	if err != nil || !strings.Contains(string(kf), "corp.example") {
		t.Fatalf("keyfile = %q, %v", kf, err)
	}
}

func TestGNOMEFromDefaults(t *testing.T) {
	// A user who never set a proxy: mode 'none' and the schema defaults.
	needTool(t, "gsettings")
	env := toolEnv(t)
	before := run(t, env, "gsettings", "list-recursively", "org.gnome.system.proxy")
	m := newTestManager(t, GNOME{Run: ExecRunner{Env: env}})
	if err := m.On("::1", 8877, nil); err != nil {
		t.Fatal(err)
	}
	if got := run(t, env, "gsettings", "get", "org.gnome.system.proxy", "ignore-hosts"); got != "@as []" {
		t.Fatalf("empty bypass list written as %s", got)
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	if after := run(t, env, "gsettings", "list-recursively", "org.gnome.system.proxy"); after != before {
		t.Fatalf("after Off:\n%s\nwant:\n%s", after, before)
	}
}

func TestKDERoundTrip(t *testing.T) {
	needTool(t, "kwriteconfig5", "kreadconfig5")
	env := toolEnv(t)
	rc := filepath.Join(lookEnv(env, "XDG_CONFIG_HOME"), "kioslaverc")
	kw := func(t *testing.T, key, v string) {
		run(t, env, "kwriteconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key", key, v)
	}
	kr := func(t *testing.T, key string) string {
		return run(t, env, "kreadconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key", key)
	}
	tool := osTool{
		b: KDE{Version: 5, Run: ExecRunner{Env: env}, Env: env},
		setPrior: func(t *testing.T) {
			// The file as the Plasma settings page leaves it, with other
			// groups and keys Sluice must not touch; httpsProxy and
			// ReversedException are absent and must stay absent.
			err := os.WriteFile(rc, []byte("[Cache Settings]\nMaxCacheSize=51200\n\n[Proxy Settings]\nProxyType=1\nhttpProxy=http://corp.example 3128\nftpProxy=http://corp.example 2121\nNoProxyFor=intranet.corp.example,.corp\n"), 0o644)
			if err != nil {
				t.Fatal(err)
			}
		},
		snapshot: func(t *testing.T) string {
			// KConfig sorts a group's keys when it writes the file, so
			// compare the keys and values, not the order.
			b, err := os.ReadFile(rc)
			if err != nil {
				t.Fatal(err)
			}
			return iniEntries(string(b))
		},
		pointsAtSluice: func(t *testing.T) bool {
			return kr(t, "ProxyType") == "1" &&
				strings.HasPrefix(kr(t, "httpProxy"), "http://127.0.0.1 887") &&
				strings.HasPrefix(kr(t, "httpsProxy"), "http://127.0.0.1 887") &&
				kr(t, "NoProxyFor") == "localhost,127.0.0.0/8,::1,*.local,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16" &&
				kr(t, "ReversedException") == "false" &&
				kr(t, "ftpProxy") == "http://corp.example 2121"
		},
		meddle: func(t *testing.T) { kw(t, "httpProxy", "http://other.example 8080") },
	}
	runRoundTrip(t, tool)
}

// iniEntries lists an INI file's entries as sorted "[group] key=value"
// lines.
func iniEntries(s string) string {
	var lines []string
	group := ""
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "["):
			group = l
		case strings.TrimSpace(l) != "":
			lines = append(lines, group+" "+l)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
