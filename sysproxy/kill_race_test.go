//go:build linux

package sysproxy

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestKill9AtAnyMomentRestores kills `sluice run --headless --system-proxy`
// with SIGKILL at 50 moments spread over its first 300 ms: before, while
// and after it switches the system proxy on. Every time, the user's own
// setting must come back, because the watchdog runs before anything is
// switched. It is not skipped in -short mode: this is the promise that a
// crash never leaves programs pointing at a dead port.
func TestKill9AtAnyMomentRestores(t *testing.T) {
	needTool(t, "gsettings")
	const (
		runs = 50
		// Lanes run side by side, each with its own settings store and
		// state dir, to keep the test short.
		lanes = 5
	)
	bin := buildSluice(t)
	var rs [lanes]*sluiceRun
	for i := range rs {
		rs[i] = setupSluiceRun(t, bin)
	}

	// On a loaded machine gsettings is slow and the switch may end after
	// 300 ms; the kills then spread until a quarter past it, so that they
	// always cover the switch. It is timed in every lane at once, as the
	// kills will run.
	var (
		wg   sync.WaitGroup
		errs = make(chan error, runs)
		ons  [lanes]time.Duration
	)
	for l, r := range rs {
		wg.Go(func() {
			var err error
			if ons[l], err = r.timeToSwitchOn(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(<-errs)
	}
	on := slices.Max(ons[:])
	window := max(300*time.Millisecond, on*5/4)
	t.Logf("Sluice switched the system proxy on %s after start; killing at moments up to %s", on, window)

	var switched atomic.Int64
	for l, r := range rs {
		wg.Go(func() {
			// Lane l takes every lanes-th of 50 equal slots and kills at
			// a random moment in each, so together the lanes cover the
			// whole window however the random numbers fall.
			slot := window / runs
			for i := l; i < runs; i += lanes {
				at := time.Duration(i)*slot + rand.N(slot)
				sw, err := r.killAt(at)
				if err != nil {
					errs <- fmt.Errorf("run %d, killed %s after start: %w", i, at, err)
					return
				}
				if sw {
					switched.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d of %d kills left the system proxy pointing at the dead Sluice until its watchdog restored it", switched.Load(), runs)
	if switched.Load() == 0 {
		t.Fatal("no kill came after Sluice had started switching the system proxy on: the test exercised nothing")
	}
}

// killAt starts Sluice with the system proxy on, kills it with SIGKILL at
// after start, and waits up to 10 s for the settings to be as before, the
// state file gone and the watchdog exited. switched reports whether the
// kill found the settings already changed. It is safe to call from any
// goroutine (it does not use t).
func (r *sluiceRun) killAt(at time.Duration) (switched bool, err error) {
	prior, err := os.ReadFile(r.keyfile)
	if err != nil {
		return false, err
	}
	out, err := os.CreateTemp(r.dir, "sluice-*.out")
	if err != nil {
		return false, err
	}
	defer out.Close()
	cmd := exec.Command(r.bin, "run", "--headless", "--system-proxy", "--config", r.config)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return false, err
	}
	time.Sleep(at)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	now, _ := os.ReadFile(r.keyfile)
	switched = !bytes.Equal(now, prior)

	state := filepath.Join(r.dir, "xdg-state", "sluice", StateFileName)
	deadline := time.Now().Add(10 * time.Second)
	for {
		now, _ = os.ReadFile(r.keyfile)
		_, serr := os.Stat(state)
		dog := watchdogOf(cmd.Process.Pid)
		if bytes.Equal(now, prior) && errors.Is(serr, os.ErrNotExist) && dog == 0 {
			return switched, nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			return switched, fmt.Errorf("10 s after the kill: settings restored %v, state file %v, watchdog pid %d\nkeyfile:\n%s\nsluice output:\n%s",
				bytes.Equal(now, prior), serr, dog, now, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timeToSwitchOn starts Sluice with the system proxy on, returns how long
// after the start it reported the switch done, and stops it. It is safe
// to call from any goroutine.
func (r *sluiceRun) timeToSwitchOn() (time.Duration, error) {
	prior, err := os.ReadFile(r.keyfile)
	if err != nil {
		return 0, err
	}
	out, err := os.CreateTemp(r.dir, "sluice-*.out")
	if err != nil {
		return 0, err
	}
	defer out.Close()
	start := time.Now()
	cmd := exec.Command(r.bin, "run", "--headless", "--system-proxy", "--config", r.config)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	for {
		b, _ := os.ReadFile(out.Name())
		if bytes.Contains(b, []byte("system proxy points at Sluice")) {
			break
		}
		if time.Since(start) > time.Minute {
			return 0, fmt.Errorf("Sluice did not switch the system proxy on within a minute:\n%s", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	on := time.Since(start)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("sluice after SIGTERM: %v", err)
	}
	if now, _ := os.ReadFile(r.keyfile); !bytes.Equal(now, prior) {
		return 0, fmt.Errorf("a stop did not restore the prior settings")
	}
	return on, nil
}
