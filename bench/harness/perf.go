//go:build linux

package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// perfRecord is a running `perf record` of one process.
type perfRecord struct {
	cmd  *exec.Cmd
	data string
	name string
	out  bytes.Buffer
}

// startPerf samples pid's call stacks for d with perf (Debian package
// linux-perf), into dir/name.perf.data. perf rather than pprof: it needs
// nothing from Sluice (no debug endpoint on the proxy port) and sees the
// kernel's share too (syscalls, splice, the loopback TCP stack).
func startPerf(ctx context.Context, dir, name string, pid int, d time.Duration) (*perfRecord, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("profile %s: perf not installed (apt-get install -y linux-perf): %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	p := &perfRecord{data: filepath.Join(dir, name+".perf.data"), name: name}
	p.cmd = exec.CommandContext(ctx, "perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid),
		"-o", p.data, "--", "sleep", strconv.Itoa(max(1, int(d.Seconds()))))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("profile %s: start perf: %w", name, err)
	}
	return p, nil
}

// finish waits for the recording, writes name.txt with perf's flat
// report, and returns a one-line summary of the top symbols.
func (p *perfRecord) finish() (string, error) {
	if err := p.cmd.Wait(); err != nil {
		return "", fmt.Errorf("profile %s: perf record: %w: %s", p.name, err, tail(p.out.String(), 500))
	}
	rep, err := exec.Command("perf", "report", "-i", p.data, "--stdio", "--no-children",
		"--sort", "symbol", "--percent-limit", "0.5", "-g", "none").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("profile %s: perf report: %w: %s", p.name, err, tail(string(rep), 500))
	}
	txt := strings.TrimSuffix(p.data, ".perf.data") + ".txt"
	if err := os.WriteFile(txt, rep, 0o644); err != nil {
		return "", fmt.Errorf("profile %s: %w", p.name, err)
	}
	var top []string
	// Shares by where the time went: the kernel (syscalls, loopback TCP,
	// scheduler), Go's runtime, and Sluice's own code.
	var kernel, runtimeShare, own float64
	for _, line := range strings.Split(string(rep), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || strings.HasPrefix(line, "#") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		switch {
		case f[1] == "[k]":
			kernel += pct
		case strings.HasPrefix(f[2], "runtime.") || strings.HasPrefix(f[2], "internal/runtime"):
			runtimeShare += pct
		case strings.Contains(f[2], "sluiceproxy/sluice"):
			own += pct
		}
	}
	for _, line := range strings.Split(string(rep), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || strings.HasPrefix(line, "#") {
			continue
		}
		// Columns: overhead, [k] or [.], the symbol, then IPC columns
		// that are "-" where the VM has no hardware counters.
		sym := f[2:]
		for len(sym) > 1 && sym[len(sym)-1] == "-" {
			sym = sym[:len(sym)-1]
		}
		top = append(top, f[0]+" "+f[1]+" "+strings.Join(sym, " "))
		if len(top) == 8 {
			break
		}
	}
	return fmt.Sprintf("perf profile %s (%s): kernel %.0f%%, Go runtime %.0f%%, Sluice's code %.0f%% (symbols ≥ 0.5%%); top: %s",
		p.name, txt, kernel, runtimeShare, own, strings.Join(top, "; ")), nil
}
