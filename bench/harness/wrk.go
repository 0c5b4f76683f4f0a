//go:build linux

package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WrkLoad describes one wrk run.
type WrkLoad struct {
	// Addr is where wrk connects ("127.0.0.1:PORT"): the proxy, or the
	// origin for the direct column.
	Addr string
	// Origin is the origin's "host:port", sent as Host.
	Origin string
	// Path is the origin path ("/64").
	Path string
	// Absolute sends absolute-form request targets
	// ("GET http://origin/64"), as clients of a forward proxy do. False
	// sends origin-form, for the direct column.
	Absolute bool
	// Close sends "Connection: close", so every request opens a new
	// connection.
	Close bool
	// Conns is the number of connections; Threads the number of wrk
	// threads (zero: 1 for one connection, else 2, one per core here).
	Conns, Threads int
	// Duration of the run.
	Duration time.Duration
	// Timeout after which wrk counts a request as timed out. Zero: 2s,
	// wrk's default.
	Timeout time.Duration
}

// WrkResult is what one wrk run measured. Latencies are in microseconds.
type WrkResult struct {
	Requests  int64
	Duration  time.Duration
	RPS       float64
	MeanUs    float64
	P50Us     float64
	P99Us     float64
	MaxUs     float64
	ConnErrs  int64
	ReadErrs  int64
	WriteErrs int64
	// StatusErrs counts responses with a status of 400 or more.
	StatusErrs int64
	Timeouts   int64
}

// Errors is the sum of every kind of error wrk counted.
func (r WrkResult) Errors() int64 {
	return r.ConnErrs + r.ReadErrs + r.WriteErrs + r.StatusErrs + r.Timeouts
}

// wrkScript builds the Lua script for l. The request is static (set
// through wrk.path and wrk.headers, no request() function), so wrk formats
// it once and the client costs as little CPU as it can. done() prints one
// machine-readable line instead of wrk's rounded text report.
func wrkScript(l WrkLoad) string {
	target := l.Path
	if l.Absolute {
		target = "http://" + l.Origin + l.Path
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = \"GET\"\nwrk.path = %q\nwrk.headers[\"Host\"] = %q\n", target, l.Origin)
	if l.Close {
		b.WriteString("wrk.headers[\"Connection\"] = \"close\"\n")
	}
	b.WriteString(`function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADBENCH %d %d %d %d %d %d %d %.1f %.1f %.1f %.1f\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
`)
	return b.String()
}

// parseWrk finds the LOADBENCH line the script's done() prints.
func parseWrk(out string) (WrkResult, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 12 || f[0] != "LOADBENCH" {
			continue
		}
		var ints [7]int64
		for i := range ints {
			v, err := strconv.ParseInt(f[1+i], 10, 64)
			if err != nil {
				return WrkResult{}, fmt.Errorf("wrk summary field %d %q: %w", i+1, f[1+i], err)
			}
			ints[i] = v
		}
		var fl [4]float64
		for i := range fl {
			v, err := strconv.ParseFloat(f[8+i], 64)
			if err != nil {
				return WrkResult{}, fmt.Errorf("wrk latency field %d %q: %w", i+8, f[8+i], err)
			}
			fl[i] = v
		}
		r := WrkResult{
			Requests: ints[0], Duration: time.Duration(ints[1]) * time.Microsecond,
			ConnErrs: ints[2], ReadErrs: ints[3], WriteErrs: ints[4], StatusErrs: ints[5], Timeouts: ints[6],
			MeanUs: fl[0], P50Us: fl[1], P99Us: fl[2], MaxUs: fl[3],
		}
		if r.Duration > 0 {
			r.RPS = float64(r.Requests) / r.Duration.Seconds()
		}
		return r, nil
	}
	return WrkResult{}, fmt.Errorf("no LOADBENCH line in wrk output:\n%s", out)
}

// RunWrk runs wrk for l, with its script in dir.
func RunWrk(ctx context.Context, dir string, l WrkLoad) (WrkResult, error) {
	script, err := os.CreateTemp(dir, "wrk-*.lua")
	if err != nil {
		return WrkResult{}, fmt.Errorf("write wrk script: %w", err)
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkScript(l)); err != nil {
		script.Close()
		return WrkResult{}, fmt.Errorf("write wrk script: %w", err)
	}
	if err := script.Close(); err != nil {
		return WrkResult{}, fmt.Errorf("write wrk script: %w", err)
	}
	threads := l.Threads
	if threads == 0 {
		threads = min(2, l.Conns)
	}
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	args := []string{
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.Conns),
		// wrk takes whole seconds only.
		"-d", fmt.Sprintf("%ds", max(1, int(l.Duration.Round(time.Second).Seconds()))),
		"--timeout", fmt.Sprintf("%ds", max(1, int(timeout.Round(time.Second).Seconds()))),
		"-s", filepath.Clean(script.Name()),
		"http://" + l.Addr + "/",
	}
	// Generous: wrk may take a while to close 1000 connections.
	runCtx, cancel := context.WithTimeout(ctx, l.Duration+timeout+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(runCtx, "wrk", args...).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return parseWrk(string(out))
}
