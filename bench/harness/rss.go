//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStatusKB returns the named fields ("VmRSS", "VmHWM") of
// /proc/PID/status, in KiB.
func procStatusKB(pid int, fields ...string) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	out := make(map[string]int64, len(fields))
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for _, f := range fields {
			if name != f {
				continue
			}
			v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB"))
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("pid %d: parse %s %q: %w", pid, name, rest, err)
			}
			out[name] = n
		}
	}
	for _, f := range fields {
		if _, ok := out[f]; !ok {
			return nil, fmt.Errorf("pid %d: no %s in /proc status (a kernel thread or a zombie?)", pid, f)
		}
	}
	return out, nil
}

// processTree returns root and all its descendants, found through the
// parent pid in /proc/PID/stat. A proxy that forks (nginx's worker) is
// measured as the sum of its processes.
func processTree(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: the
		// fields after the last ')' are state, ppid, ...
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// treeRSS sums VmRSS over pids, in bytes. Processes that vanished are
// skipped.
func treeRSS(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		if m, err := procStatusKB(pid, "VmRSS"); err == nil {
			sum += m["VmRSS"] << 10
		}
	}
	return sum
}

// rssParts splits a process tree's resident memory the way the kernel
// counts it (the RssAnon, RssFile and RssShmem lines of /proc/PID/status,
// which sum to VmRSS). Anon is what the program allocated: heap, stacks,
// runtime structures. File is pages of mapped files, for a Go program
// almost all its own binary's text and read-only data as far as they were
// touched: paged in from the file, shared with any other process running
// the same binary, and dropped (not swapped) under memory pressure.
type rssParts struct {
	Anon, File, Shmem int64
}

// treeRSSParts sums rssParts over pids, in bytes. Processes that vanished
// are skipped.
func treeRSSParts(pids []int) rssParts {
	var p rssParts
	for _, pid := range pids {
		m, err := procStatusKB(pid, "RssAnon", "RssFile", "RssShmem")
		if err != nil {
			continue
		}
		p.Anon += m["RssAnon"] << 10
		p.File += m["RssFile"] << 10
		p.Shmem += m["RssShmem"] << 10
	}
	return p
}

// RSSWatch measures the peak resident memory of a process tree over a
// phase. It resets each process's high-water mark (VmHWM) at the start
// through /proc/PID/clear_refs, so the kernel records the true peak between
// samples, and also samples the sum of VmRSS every interval; Peak is the
// larger of the two (the summed high-water marks can overstate a
// multi-process peak slightly; for Sluice, one process, they are exact).
type RSSWatch struct {
	pids []int
	stop chan struct{}
	wg   sync.WaitGroup
	peak int64
}

// WatchRSS starts watching root's process tree.
func WatchRSS(root int, interval time.Duration) *RSSWatch {
	w := &RSSWatch{pids: processTree(root), stop: make(chan struct{})}
	for _, pid := range w.pids {
		// "5" resets the peak RSS (Linux ≥ 4.0); without it, VmHWM
		// would hold the peak of an earlier phase.
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
	w.peak = treeRSS(w.pids)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if v := treeRSS(w.pids); v > w.peak {
					w.peak = v
				}
			}
		}
	}()
	return w
}

// Stop ends the watch and returns the peak RSS in bytes.
func (w *RSSWatch) Stop() int64 {
	close(w.stop)
	w.wg.Wait()
	var hwm int64
	for _, pid := range w.pids {
		if m, err := procStatusKB(pid, "VmHWM"); err == nil {
			hwm += m["VmHWM"] << 10
		}
	}
	return max(w.peak, hwm)
}
