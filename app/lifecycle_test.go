package app

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A tray run where there is no tray host and the port is taken has no
// menu to show the listen error in: it must end with that error, as a
// headless run does, not serve nothing forever.
func TestTrayRunWithoutHostEndsOnAPortInUse(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("a missing tray host is a Linux condition: Windows always has a notification area, macOS a menu bar")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	t.Setenv("PROXY_LISTEN", "")
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "no-bus"))
	path := filepath.Join(dir, "config.toml")
	writeConfig(t, path, configWithListen(taken.Addr().String(), dir))
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.RunTray(ctx)
	if ctx.Err() != nil {
		t.Fatalf("RunTray ran until the test's deadline (returned %v); want it to end with the listen error", err)
	}
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("RunTray = %v, want the port-in-use error", err)
	}
}

// The first run writes the default config and says where, once.
func TestFirstRunSaysWhereItWroteTheDefaultConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	path := filepath.Join(dir, "sluice", "config.toml")
	for i, want := range []bool{true, false} {
		var out strings.Builder
		a, err := New(Options{ConfigPath: path, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.logs.Close(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), `msg="wrote the default config" path=`+path+"\n"); got != want {
			t.Errorf("run %d printed %q; want the note about the new config: %v", i+1, out.String(), want)
		}
	}
}
