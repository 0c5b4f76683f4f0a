package sysproxy

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// noPoll is Follow's poll interval in the tests where only a change
// notification may deliver the change: longer than any test runs.
const noPoll = time.Hour

// startFollow starts m.Follow with poll and returns a channel that receives a
// value per call of changed.
func startFollow(t *testing.T, m *Manager, poll time.Duration) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	calls := make(chan struct{}, 100)
	m.Follow(ctx, poll, func() { calls <- struct{}{} })
	return calls
}

func waitCall(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(30 * time.Second):
		t.Fatalf("Follow did not call back after %s", what)
	}
}

// A `gsettings set` run by another program reaches Follow through the
// keyfile watch, with polling out of the picture.
func TestFollowHearsGSettingsKeyfile(t *testing.T) {
	needTool(t, "gsettings")
	env := toolEnv(t)
	run(t, env, "gsettings", "set", "org.gnome.system.proxy", "mode", "none")
	m := newTestManager(t, GNOME{Run: ExecRunner{Env: env}, Env: env})
	calls := startFollow(t, m, noPoll)
	run(t, env, "gsettings", "set", "org.gnome.system.proxy.http", "host", "other.example")
	waitCall(t, calls, "gsettings set with the keyfile backend")
	// Sluice's own switch is a change like any other.
	if err := m.On("127.0.0.1", 8877, nil); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, "On")
}

// The same through dconf, GNOME's real backend: gsettings writes through
// the dconf service on a private session bus, which broadcasts the change.
func TestFollowHearsGSettingsDconf(t *testing.T) {
	needTool(t, "gsettings")
	if _, err := os.Stat("/usr/share/dbus-1/services/ca.desrt.dconf.service"); err != nil {
		t.Skip("dconf-service is not installed (Debian: apt-get install dconf-service dconf-gsettings-backend)")
	}
	runDir := t.TempDir()
	os.Chmod(runDir, 0o700)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_RUNTIME_DIR=" + runDir}
	// dconf-service, which the bus starts, must see the same XDG dirs.
	env = append(env, "DBUS_SESSION_BUS_ADDRESS="+snihost.StartBus(t, env...).Addr, "GSETTINGS_BACKEND=dconf")
	m := newTestManager(t, GNOME{Run: ExecRunner{Env: env}, Env: env})
	calls := startFollow(t, m, noPoll)
	run(t, env, "gsettings", "set", "org.gnome.system.proxy", "mode", "manual")
	waitCall(t, calls, "gsettings set with the dconf backend")
	if got := run(t, env, "gsettings", "get", "org.gnome.system.proxy", "mode"); got != "'manual'" {
		t.Fatalf("dconf did not keep the write: mode = %s", got)
	}
}

// A `kwriteconfig5` run reaches Follow through the kioslaverc watch.
func TestFollowHearsKwriteconfig(t *testing.T) {
	needTool(t, "kwriteconfig5", "kreadconfig5")
	env := toolEnv(t)
	m := newTestManager(t, KDE{Version: 5, Run: ExecRunner{Env: env}, Env: env})
	calls := startFollow(t, m, noPoll)
	run(t, env, "kwriteconfig5", "--file", "kioslaverc", "--group", "Proxy Settings", "--key", "ProxyType", "1")
	waitCall(t, calls, "kwriteconfig5")
}

// A backend that cannot be watched is polled, and so is one whose watch
// breaks (the watched directory is removed).
func TestFollowPollsWhatItCannotWatch(t *testing.T) {
	t.Run("no watch", func(t *testing.T) {
		m := newTestManager(t, Windows{Reg: &fakeRegistry{values: map[string]Value{}}})
		calls := startFollow(t, m, 20*time.Millisecond)
		waitCall(t, calls, "the first poll")
		waitCall(t, calls, "the second poll")
	})
	t.Run("watch lost", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("the KDE backend, and the directory watch it loses here, are for Linux desktops")
		}
		env := toolEnv(t)
		m := newTestManager(t, KDE{Version: 5, Run: ExecRunner{Env: env}, Env: env})
		calls := startFollow(t, m, 20*time.Millisecond)
		select {
		case <-calls:
			t.Fatal("Follow called back before anything changed")
		case <-time.After(100 * time.Millisecond):
		}
		if err := os.RemoveAll(lookEnv(env, "XDG_CONFIG_HOME")); err != nil {
			t.Fatal(err)
		}
		waitCall(t, calls, "the watched directory was removed")
		waitCall(t, calls, "a poll after the watch was lost")
	})
}
