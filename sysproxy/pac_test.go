package sysproxy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// [sysproxy] mode = "pac" with the real tools: the OS is pointed at
// Sluice's PAC URL, Status and Follow see that as Sluice's, and Off puts
// back the user's own settings, their own PAC URL included.

const (
	testPAC = "http://127.0.0.1:8877/proxy.pac"
	userPAC = "http://wpad.corp.example/wpad.dat"
)

var pacTarget = Target{Host: "127.0.0.1", Port: 8877, PAC: testPAC}

func TestGNOMEPAC(t *testing.T) {
	needTool(t, "gsettings")
	testGNOMEPAC(t, toolEnv(t))
}

// The same through dconf, GNOME's real settings backend, on a private
// session bus.
func TestGNOMEPACDconf(t *testing.T) {
	needTool(t, "gsettings")
	if _, err := os.Stat("/usr/share/dbus-1/services/ca.desrt.dconf.service"); err != nil {
		t.Skip("dconf-service is not installed (Debian: apt-get install dconf-service dconf-gsettings-backend)")
	}
	runDir := t.TempDir()
	os.Chmod(runDir, 0o700)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_RUNTIME_DIR=" + runDir}
	env = append(env, "DBUS_SESSION_BUS_ADDRESS="+snihost.StartBus(t, env...).Addr, "GSETTINGS_BACKEND=dconf")
	testGNOMEPAC(t, env)
}

func testGNOMEPAC(t *testing.T, env []string) {
	gs := func(t *testing.T, args ...string) string { return run(t, env, "gsettings", args...) }
	all := func(t *testing.T) string { return gs(t, "list-recursively", "org.gnome.system.proxy") }
	b := GNOME{Run: ExecRunner{Env: env}, Env: env}

	t.Run("over the user's own PAC URL", func(t *testing.T) {
		gs(t, "set", "org.gnome.system.proxy.http", "host", "corp.example")
		gs(t, "set", "org.gnome.system.proxy", "autoconfig-url", userPAC)
		gs(t, "set", "org.gnome.system.proxy", "mode", "auto")
		prior := all(t)
		m := newTestManager(t, b)
		calls := startFollow(t, m, noPoll)
		if err := m.OnTarget(pacTarget); err != nil {
			t.Fatal(err)
		}
		if gs(t, "get", "org.gnome.system.proxy", "mode") != "'auto'" ||
			gs(t, "get", "org.gnome.system.proxy", "autoconfig-url") != "'"+testPAC+"'" ||
			gs(t, "get", "org.gnome.system.proxy.http", "host") != "'corp.example'" {
			t.Fatalf("after On with a PAC URL:\n%s", all(t))
		}
		// Follow hears the switch, and what it reads back is Sluice's.
		waitCall(t, calls, "On with a PAC URL")
		st, err := m.Status(Target{})
		if err != nil || !st[0].PointsAtSluice || !st[0].Owned {
			t.Fatalf("Status = %+v, %v; want Sluice's PAC URL seen as Sluice's", st, err)
		}
		if (GNOME{}).PointsAt(st[0].Current, Target{Host: "127.0.0.1", Port: 8877}) {
			t.Error("auto mode taken for the manual proxy")
		}
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := all(t); got != prior {
			t.Fatalf("after Off:\n%s\nwant:\n%s", got, prior)
		}
	})
	t.Run("manual, then pac while on", func(t *testing.T) {
		gs(t, "set", "org.gnome.system.proxy.http", "host", "corp.example")
		gs(t, "set", "org.gnome.system.proxy", "mode", "manual")
		prior := all(t)
		m := newTestManager(t, b)
		if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
			t.Fatal(err)
		}
		if err := m.OnTarget(pacTarget); err != nil {
			t.Fatal(err)
		}
		if gs(t, "get", "org.gnome.system.proxy", "mode") != "'auto'" {
			t.Fatalf("after the switch to pac:\n%s", all(t))
		}
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := all(t); got != prior {
			t.Fatalf("after Off:\n%s\nwant the first snapshot:\n%s", got, prior)
		}
	})
	t.Run("another program's PAC URL is left alone", func(t *testing.T) {
		m := newTestManager(t, b)
		if err := m.OnTarget(pacTarget); err != nil {
			t.Fatal(err)
		}
		gs(t, "set", "org.gnome.system.proxy", "autoconfig-url", "http://other.example/p.pac")
		if err := m.Off(); err != nil {
			t.Fatal(err)
		}
		if got := gs(t, "get", "org.gnome.system.proxy", "autoconfig-url"); got != "'http://other.example/p.pac'" {
			t.Fatalf("Off overwrote another program's PAC URL: %s", got)
		}
	})
}

func TestKDEPAC(t *testing.T) {
	needTool(t, "kwriteconfig5", "kreadconfig5")
	env := toolEnv(t)
	rc := filepath.Join(lookEnv(env, "XDG_CONFIG_HOME"), "kioslaverc")
	kr := func(t *testing.T, key string) string {
		return run(t, env, "kreadconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key", key)
	}
	entries := func(t *testing.T) string {
		b, err := os.ReadFile(rc)
		if err != nil {
			t.Fatal(err)
		}
		return iniEntries(string(b))
	}
	b := KDE{Version: 5, Run: ExecRunner{Env: env}, Env: env}
	for _, tc := range []struct{ name, prior string }{
		{"over the user's own PAC URL", "[Proxy Settings]\nProxyType=2\nProxy Config Script=" + userPAC + "\nhttpProxy=http://corp.example 3128\n"},
		// No script key at all: it must be absent again after Off.
		{"over a manual proxy", "[Proxy Settings]\nProxyType=1\nhttpProxy=http://corp.example 3128\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(rc, []byte(tc.prior), 0o644); err != nil {
				t.Fatal(err)
			}
			prior := entries(t)
			m := newTestManager(t, b)
			calls := startFollow(t, m, noPoll)
			if err := m.OnTarget(pacTarget); err != nil {
				t.Fatal(err)
			}
			if kr(t, "ProxyType") != "2" || kr(t, "Proxy Config Script") != testPAC || kr(t, "httpProxy") != "http://corp.example 3128" {
				t.Fatalf("after On with a PAC URL:\n%s", entries(t))
			}
			waitCall(t, calls, "On with a PAC URL")
			st, err := m.Status(Target{})
			if err != nil || !st[0].PointsAtSluice {
				t.Fatalf("Status = %+v, %v; want Sluice's PAC URL seen as Sluice's", st, err)
			}
			if err := m.Off(); err != nil {
				t.Fatal(err)
			}
			if got := entries(t); got != prior {
				t.Fatalf("after Off:\n%s\nwant:\n%s", got, prior)
			}
		})
	}
}

// TestPACPointsAt checks each backend tells Sluice's PAC URL from another
// one, and from the manual proxy.
func TestPACPointsAt(t *testing.T) {
	other := Target{Host: "127.0.0.1", Port: 8877, PAC: userPAC}
	manual := Target{Host: "127.0.0.1", Port: 8877}
	for _, b := range []Backend{GNOME{}, KDE{}, Windows{}, MacOS{}} {
		cur := b.Want(Settings{"Wi-Fi\tweb.enabled": {V: "No"}}, pacTarget)
		if !b.PointsAt(cur, pacTarget) {
			t.Errorf("%s: its own PAC settings do not point at Sluice: %v", b.Name(), cur)
		}
		if b.PointsAt(cur, other) || b.PointsAt(cur, manual) {
			t.Errorf("%s: PAC settings taken for another PAC URL or the manual proxy", b.Name())
		}
		if b.PointsAt(b.Want(Settings{"Wi-Fi\tweb.enabled": {V: "No"}}, manual), pacTarget) {
			t.Errorf("%s: manual settings taken for the PAC URL", b.Name())
		}
	}
}
