package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondInstanceFindsTheFirst(t *testing.T) {
	dir := t.TempDir()
	first, err := ClaimInstance(dir)
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	defer first.Release()

	healthz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprint(w, "ok")
			return
		}
		http.NotFound(w, r)
	}))
	defer healthz.Close()
	addr := healthz.Listener.Addr().String()
	if err := first.SetAddr(addr); err != nil {
		t.Fatal(err)
	}

	_, err = ClaimInstance(dir)
	var running *RunningError
	if !errors.As(err, &running) {
		t.Fatalf("second claim = %v, want *RunningError", err)
	}
	if running.PID != os.Getpid() || running.Addr != addr || !running.Healthy || running.ExitCode() != 0 {
		t.Errorf("second claim found %+v (exit %d), want pid %d at %s, healthy, exit 0", running, running.ExitCode(), os.Getpid(), addr)
	}
	if !strings.Contains(err.Error(), "already running") {
		t.Errorf("message: %v", err)
	}

	// The first one stops answering: the second launch says so and fails.
	healthz.Close()
	_, err = ClaimInstance(dir)
	if !errors.As(err, &running) || running.Healthy || running.ExitCode() != 1 {
		t.Fatalf("claim with a silent holder = %v, want an unhealthy *RunningError", err)
	}
	if !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("message: %v", err)
	}

	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := ClaimInstance(dir)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	second.Release()
}

func TestPingHealthzOnWildcardListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok\n") })}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// A proxy listening on 0.0.0.0 is pinged on loopback.
	if !pingHealthz("0.0.0.0:" + port) {
		t.Error("pingHealthz(0.0.0.0:port) = false, want true through loopback")
	}
	if pingHealthz("not an address") {
		t.Error("pingHealthz accepted a bad address")
	}
}

// TestInstanceLockEndsWithTheProcess kills the holder with SIGKILL, as a
// crash would, and claims the lock it leaves behind.
func TestInstanceLockEndsWithTheProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldInstanceLock$")
	cmd.Env = append(os.Environ(), "SLUICE_TEST_HOLD_LOCK="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("helper did not take the lock: %q, %v", buf, err)
	}
	_, err = ClaimInstance(dir)
	var running *RunningError
	if !errors.As(err, &running) || running.PID != cmd.Process.Pid {
		t.Fatalf("claim while another process holds the lock = %v, want *RunningError with pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := ClaimInstance(dir)
		if err == nil {
			in.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock still held after its holder was killed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, instanceLockName)); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

// TestHelperHoldInstanceLock is not a test: TestInstanceLockEndsWithTheProcess
// runs it in a child process to hold the lock until killed.
func TestHelperHoldInstanceLock(t *testing.T) {
	dir := os.Getenv("SLUICE_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := ClaimInstance(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Print("held\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// A second launch says what is true of the first: "use its tray icon"
// only when it shows one.
func TestSecondLaunchSaysWhetherTheFirstHasATray(t *testing.T) {
	dir := t.TempDir()
	first, err := ClaimInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	healthz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer healthz.Close()
	if err := first.SetAddr(healthz.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tray      TrayState
		want, not string
	}{
		{TrayShown, "use its tray icon", "without a tray"},
		{TrayNone, "without a tray icon", "use its tray icon"},
		{TrayUnknown, "still looking for a system tray", "use its tray icon"},
	} {
		if err := first.SetTray(tc.tray); err != nil {
			t.Fatal(err)
		}
		_, err := ClaimInstance(dir)
		var running *RunningError
		if !errors.As(err, &running) || running.Tray != tc.tray || running.ExitCode() != 0 {
			t.Fatalf("tray %q: second claim = %#v, want a healthy *RunningError with that tray", tc.tray, err)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, tc.not) {
			t.Errorf("tray %q: message %q, want %q and not %q", tc.tray, msg, tc.want, tc.not)
		}
	}
}
