//go:build linux

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// The tray app's idle CPU (issue 17): started as in measureTrayIdle, left
// alone trayCPUSettle, then measured over trayCPUWindow with no traffic
// and the menu closed.
const (
	trayCPUSettle = 5 * time.Second
	trayCPUWindow = 60 * time.Second
)

// clockTick is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's user-space ABI.
const clockTick = 10 * time.Millisecond

// measureTrayCPU returns the CPU time (user and system) the idle tray app
// and every helper it ran used over window, and that as a fraction of one
// core.
func (e *env) measureTrayCPU(ctx context.Context, window time.Duration) (used time.Duration, frac float64, err error) {
	p, stop, err := e.startTray(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(trayCPUSettle); err != nil {
		return 0, 0, err
	}
	before, err := treeCPU(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := sleep(window); err != nil {
		return 0, 0, err
	}
	after, err := treeCPU(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	used = after - before
	return used, used.Seconds() / time.Since(start).Seconds(), nil
}

// treeCPU is the CPU time the process tree at root has used so far,
// children included: the sum over its live processes of their own time and
// that of the children they reaped. A helper that ran and exited is in its
// parent's figure once reaped, so the sum only grows.
func treeCPU(root int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range processTree(root) {
		t, err := procCPU(pid)
		if err != nil {
			if pid == root {
				return 0, err
			}
			continue // exited meanwhile; its parent has its time
		}
		total += t
	}
	return total, nil
}

// procCPU is pid's CPU time (user and system) plus that of the children
// it reaped. Its own time is summed over its threads' schedstat, in
// nanoseconds: the 10 ms unit of /proc/PID/stat is too coarse for an idle
// process, which uses a few of them a minute. The reaped children's comes
// from cutime and cstime (fields 16 and 17 of /proc/PID/stat); so does
// its own, from utime and stime, where the kernel keeps no schedstat.
func procCPU(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
	}
	// Field 2, the command name, may hold spaces: count after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 15 {
		return 0, fmt.Errorf("%s/stat: %d fields after the name, want 15", dir, len(f))
	}
	var ticks [4]int64 // utime, stime, cutime, cstime
	for j := range ticks {
		if ticks[j], err = strconv.ParseInt(string(f[11+j]), 10, 64); err != nil {
			return 0, fmt.Errorf("%s/stat: %w", dir, err)
		}
	}
	children := time.Duration(ticks[2]+ticks[3]) * clockTick
	own, err := threadsCPU(dir)
	if err != nil {
		own = time.Duration(ticks[0]+ticks[1]) * clockTick
	}
	return own + children, nil
}

// threadsCPU sums the first field of task/*/schedstat under dir (a
// /proc/PID directory): each thread's time on a CPU, in nanoseconds. A
// thread that ends takes its figure along; Go programs keep theirs.
func threadsCPU(dir string) (time.Duration, error) {
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // the thread exited meanwhile
			}
			return 0, err
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/task/%s/schedstat is empty", dir, t.Name())
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/task/%s/schedstat: %w", dir, t.Name(), err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
