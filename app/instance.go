package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// instanceLockName is the lock file, in the state dir, that makes the
// tray app one per user.
const instanceLockName = "instance.lock"

// errLocked is what lockFile returns when another process holds the lock.
var errLocked = errors.New("locked by another process")

// Instance is this process's claim to be the user's one Sluice tray app.
// The claim is an OS lock on a file in the state dir (flock on Unix,
// LockFileEx on Windows), so it ends with the process however the process
// ends; the file also says where this instance listens, so a second
// launch can check that the first one answers.
type Instance struct {
	f    *os.File
	addr string
	tray TrayState
}

// TrayState is whether an instance shows a tray icon, as it records in
// the instance file for a second launch to tell the user.
type TrayState string

const (
	// TrayUnknown: still starting, or still waiting for a tray host.
	TrayUnknown TrayState = ""
	// TrayShown: the icon is up; its menu has Quit.
	TrayShown TrayState = "shown"
	// TrayNone: there is no tray host; it runs without an icon.
	TrayNone TrayState = "none"
)

// RunningError is ClaimInstance's answer when another Sluice holds the
// claim.
type RunningError struct {
	// PID is the other process, as it recorded itself; 0 if unknown.
	PID int
	// Addr is where it listens, as it recorded; "" if unknown.
	Addr string
	// Healthy is true when it answered GET /healthz on Addr.
	Healthy bool
	// Tray is whether it shows a tray icon, as it recorded.
	Tray TrayState
}

func (e *RunningError) Error() string {
	switch {
	case e.Healthy && e.Tray == TrayShown:
		return fmt.Sprintf("Sluice is already running (pid %d) and listening on %s; use its tray icon, or quit it first", e.PID, e.Addr)
	case e.Healthy && e.Tray == TrayNone:
		return fmt.Sprintf("Sluice is already running (pid %d) and listening on %s, without a tray icon; stop it first (Ctrl-C where it runs, or kill %d)", e.PID, e.Addr, e.PID)
	case e.Healthy:
		return fmt.Sprintf("Sluice is already running (pid %d) and listening on %s, still looking for a system tray; quit it first (kill %d) to start another", e.PID, e.Addr, e.PID)
	case e.Addr != "":
		return fmt.Sprintf("another Sluice (pid %d) holds the instance lock but does not answer on http://%s/healthz; if it hangs, end it and start Sluice again", e.PID, e.Addr)
	default:
		return fmt.Sprintf("another Sluice (pid %d) is starting or holds the instance lock; wait a moment, or end it and start Sluice again", e.PID)
	}
}

// ExitCode is the exit status for a second launch: 0 when the first
// instance is up and answering (the user has what they asked for, e.g. a
// login item and a manual start racing), 1 when it is not.
func (e *RunningError) ExitCode() int {
	if e.Healthy {
		return 0
	}
	return 1
}

// ClaimInstance takes the instance lock in dir (StateDir() in normal
// use). If another process holds it, it reads where that one listens,
// pings its /healthz and returns a *RunningError.
func ClaimInstance(dir string) (*Instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, instanceLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open instance lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, otherInstance(path)
	}
	in := &Instance{f: f}
	if err := in.record("", TrayUnknown); err != nil {
		in.Release()
		return nil, err
	}
	return in, nil
}

// SetAddr records the address this instance listens on, for a second
// launch to ping. Recording the same address again writes nothing.
func (in *Instance) SetAddr(addr string) error {
	if addr == in.addr {
		return nil
	}
	return in.record(addr, in.tray)
}

// SetTray records whether this instance shows a tray icon, so that a
// second launch can say how to reach or stop it.
func (in *Instance) SetTray(t TrayState) error {
	if t == in.tray {
		return nil
	}
	return in.record(in.addr, t)
}

// record rewrites the lock file's content: this pid, addr and tray. The lock is
// on the file, not the bytes (Windows locks a range far past them), so
// the content stays readable by a second launch.
func (in *Instance) record(addr string, tray TrayState) error {
	data := fmt.Sprintf("pid=%d\naddr=%s\ntray=%s\n", os.Getpid(), addr, tray)
	if err := in.f.Truncate(0); err != nil {
		return fmt.Errorf("write instance lock: %w", err)
	}
	if _, err := in.f.WriteAt([]byte(data), 0); err != nil {
		return fmt.Errorf("write instance lock: %w", err)
	}
	in.addr, in.tray = addr, tray
	return nil
}

// Release gives up the claim. The file stays: deleting it would let a
// third launch lock a new file while a second still holds the old one.
func (in *Instance) Release() error {
	if in == nil || in.f == nil {
		return nil
	}
	err := in.f.Close() // closing releases flock and LockFileEx locks
	in.f = nil
	return err
}

// otherInstance describes the holder of the lock at path.
func otherInstance(path string) error {
	e := &RunningError{}
	// The holder may be rewriting the file at this very moment; a second
	// read a moment later sees the whole of it.
	for try := 0; try < 2; try++ {
		data, err := os.ReadFile(path)
		if err == nil {
			e.PID, e.Addr, e.Tray = parseInstanceFile(string(data))
		}
		if e.PID != 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.Addr != "" {
		e.Healthy = pingHealthz(e.Addr)
	}
	return e
}

func parseInstanceFile(s string) (pid int, addr string, tray TrayState) {
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "addr":
			addr = v
		case "tray":
			tray = TrayState(v)
		}
	}
	return pid, addr, tray
}

// pingHealthz reports whether GET /healthz on the proxy at addr answers
// 200 ok within two seconds. It connects directly: the system proxy may
// point at that very instance, or at nothing.
func pingHealthz(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	// A wildcard listener is reached on loopback; the local endpoints
	// answer loopback clients only.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
}
