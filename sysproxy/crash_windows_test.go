package sysproxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/sluiceproxy/sluice/internal/testproc"
	"github.com/sluiceproxy/sluice/internal/wintest"
)

// The Windows counterpart of crash_test.go: the real sluice.exe against
// the real registry, killed as Task Manager or taskkill /F would kill it
// (TerminateProcess: no signal, no cleanup). The user's own proxy must
// come back within restoreBoundWindows by the watchdog, or at the next
// start when the watchdog was killed too.

// restoreBoundWindows is the promise of crash_test.go's restoreBound.
// Under Wine it takes 0.35 to 0.9 s (measured).
const restoreBoundWindows = 2 * time.Second

type exeRun struct {
	exe, dir, config string
	env              []string
}

// newExeRun prepares a sluice.exe run with its own %AppData% and
// %LocalAppData% (so its own state dir) and the corporate proxy set.
func newExeRun(t *testing.T) *exeRun {
	t.Helper()
	wintest.ScratchRegistry(t)
	r := &exeRun{exe: wintest.SluiceExe(t), dir: t.TempDir()}
	r.config = filepath.Join(r.dir, "config.toml")
	cfg := fmt.Sprintf("[proxy]\nlisten = \"127.0.0.1:0\"\n\n[log]\ndir = %q\n", filepath.Join(r.dir, "logs"))
	if err := os.WriteFile(r.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.env = append(os.Environ(), "APPDATA="+filepath.Join(r.dir, "Roaming"), "LOCALAPPDATA="+filepath.Join(r.dir, "Local"))
	keepInternetSettings(t)
	setCorporateProxy(t)
	return r
}

// start runs `sluice.exe run --headless` with args; it is killed when t
// ends.
func (r *exeRun) start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return testproc.Start(t, r.dir, r.env, r.exe, append([]string{"run", "--headless", "--config", r.config}, args...)...)
}

func pointsAtSluiceExe(t *testing.T) bool {
	return readRaw(t, winEnable).String() == "DWORD 1" && strings.HasPrefix(readRaw(t, winServer).s, "127.0.0.1:")
}

// childOf returns the pid of a running sluice.exe whose parent is pid (the
// watchdog), or 0.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(snap)
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		name := strings.ToLower(windows.UTF16ToString(e.ExeFile[:]))
		if int(e.ParentProcessID) == pid && strings.HasSuffix(name, "sluice.exe") {
			return int(e.ProcessID)
		}
	}
	return 0
}

// taskkill ends pid the way a user ends a hung program.
func taskkill(t *testing.T, pid int) {
	t.Helper()
	if out, err := exec.Command("taskkill", "/F", "/PID", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("taskkill /F /PID %d: %v\n%s", pid, err, out)
	}
}

// on starts sluice.exe with the system proxy on and returns it and its
// watchdog's pid once both run.
func (r *exeRun) on(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	app := r.start(t, "--system-proxy")
	waitFor(t, "the registry to point at sluice.exe", time.Minute, func() bool { return pointsAtSluiceExe(t) })
	var dog int
	waitFor(t, "the watchdog to start", time.Minute, func() bool {
		dog = childOf(t, app.Process.Pid)
		return dog != 0
	})
	return app, dog
}

func TestWindowsTaskkillRestoresWithinTwoSeconds(t *testing.T) {
	r := newExeRun(t)
	prior := proxyValues(t)
	app, dog := r.on(t)

	killed := time.Now()
	taskkill(t, app.Process.Pid)
	app.Wait()
	waitFor(t, "the registry to hold the prior proxy", time.Minute, func() bool { return proxyValues(t) == prior })
	took := time.Since(killed)
	t.Logf("restored %s after taskkill /F", took)
	if took > restoreBoundWindows {
		t.Errorf("restore took %s after taskkill /F, promised within %s", took, restoreBoundWindows)
	}
	waitFor(t, "the watchdog to exit", time.Minute, func() bool { return !alive(dog, 0) })
	if got := proxyValues(t); got != prior {
		t.Fatalf("after the watchdog exited:\n%swant:\n%s", got, prior)
	}
}

func TestWindowsWatchdogKilledTooRestoresAtNextStart(t *testing.T) {
	r := newExeRun(t)
	prior := proxyValues(t)
	app, dog := r.on(t)
	taskkill(t, dog)
	waitFor(t, "the watchdog to die", time.Minute, func() bool { return !alive(dog, 0) })
	taskkill(t, app.Process.Pid)
	app.Wait()
	// Nobody is left to restore: the setting stays pointing at a dead port.
	time.Sleep(restoreBoundWindows)
	if !pointsAtSluiceExe(t) {
		t.Fatal("restored with no watchdog running; the test proves nothing")
	}
	r.start(t)
	waitFor(t, "the next start to restore the prior proxy", time.Minute, func() bool { return proxyValues(t) == prior })
}

// `sluice sysproxy on|status|off` from a shell, with no app running.
func TestWindowsCLIOnStatusOff(t *testing.T) {
	r := newExeRun(t)
	if err := os.WriteFile(r.config, []byte("[proxy]\nlisten = \"127.0.0.1:18877\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prior := proxyValues(t)
	sluice := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(r.exe, append(append([]string{"sysproxy"}, args...), "--config", r.config)...)
		cmd.Env = r.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sluice.exe sysproxy %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := sluice("status"); !strings.Contains(out, "windows: does not point at Sluice") || !strings.Contains(out, "corp.example:3128") {
		t.Fatalf("status before on:\n%s", out)
	}
	sluice("on")
	if got := readRaw(t, winServer); got.s != "127.0.0.1:18877" {
		t.Fatalf("after on, ProxyServer = %s", got)
	}
	if out := sluice("status"); !strings.Contains(out, "windows: points at Sluice") {
		t.Fatalf("status after on:\n%s", out)
	}
	sluice("off")
	if got := proxyValues(t); got != prior {
		t.Fatalf("after on, off:\n%swant:\n%s", got, prior)
	}
}
