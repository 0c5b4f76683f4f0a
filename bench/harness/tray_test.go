//go:build linux

package harness

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startTray brings the real tray app up on the private bus with the
// harness as the tray host, and its stop leaves nothing running.
func TestStartTrayShowsTheTrayItem(t *testing.T) {
	needTool(t, "dbus-daemon")
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "sluice")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluiceproxy/sluice/cmd/sluice").CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	}
	procs := &Procs{}
	t.Cleanup(procs.StopAll)
	e := &env{dir: t.TempDir(), procs: procs, sluiceBin: bin, log: os.Stderr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, stop, err := e.startTray(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	if !isLive(pid) {
		t.Fatalf("the tray app (pid %d) is not running after its item registered", pid)
	}
	stop()
	if exited, _ := p.Exited(); !exited {
		t.Errorf("the tray app (pid %d) still runs after stop", pid)
	}
}
