//go:build linux

package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/bench/harness"
)

// Options configure a soak run. The zero value of each field means its
// default.
type Options struct {
	// SluiceBin is the Sluice binary. Empty means "bin/sluice".
	SluiceBin string
	// Duration is the measured load phase. Zero means 10 minutes.
	Duration time.Duration
	// Warmup is the load before the first reading, so pools, buffers and
	// the heap reach their working size. Zero means 20 s (or a sixth of
	// Duration, if that is shorter).
	Warmup time.Duration
	// Quiet is the pause with no load before each reading: long enough
	// for Sluice's idle timeouts (5 s in the soak's config) to close
	// every connection. Zero means 15 s.
	Quiet time.Duration
	// Workers is the load's mix. Zero means defaultWorkers.
	Workers Workers
	// Pace is the mean pause between one worker's requests. Zero means
	// 2 ms; negative means none.
	Pace time.Duration
	// MaxEpisodes bounds each worker's episodes per phase. Zero means
	// one million.
	MaxEpisodes int
	// MaxStall is the longest a stalling client or origin waits. Zero
	// means 6 s (twice the config's header timeouts).
	MaxStall time.Duration
	// Growth limits: how much more the end reading may show than the
	// start reading. Zero means 5 goroutines, 4 fds, 4 MiB of RSS: after
	// the quiet period every connection is closed, so a sound build
	// shows the same counts (a log file reopened after a rotation, or
	// lumberjack's goroutine, is the slack).
	MaxGoroutineGrowth, MaxFDGrowth int64
	MaxRSSGrowth                    int64
	// Every is the interval of progress lines. Zero means 30 s.
	Every time.Duration
	// Log receives progress lines. Nil means os.Stderr.
	Log io.Writer
}

// DefaultWorkers is the load's mix when Options.Workers is zero.
var DefaultWorkers = Workers{Get: 8, Pipeline: 2, Upload: 2, Tunnel: 2, Bad: 4}

// sluiceTimeout is the soak config's read_header_timeout and
// response_header_timeout: short, so stalls on either side end in a
// timeout within the run.
const sluiceTimeout = 3 * time.Second

func (o *Options) fill() {
	if o.SluiceBin == "" {
		o.SluiceBin = "bin/sluice"
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Warmup == 0 {
		o.Warmup = min(20*time.Second, o.Duration/6)
	}
	if o.Quiet == 0 {
		o.Quiet = 15 * time.Second
	}
	if o.Workers == (Workers{}) {
		o.Workers = DefaultWorkers
	}
	if o.Pace == 0 {
		o.Pace = 2 * time.Millisecond
	}
	o.Pace = max(o.Pace, 0)
	if o.MaxEpisodes == 0 {
		o.MaxEpisodes = 1_000_000
	}
	if o.MaxStall == 0 {
		o.MaxStall = 2 * sluiceTimeout
	}
	if o.MaxGoroutineGrowth == 0 {
		o.MaxGoroutineGrowth = 5
	}
	if o.MaxFDGrowth == 0 {
		o.MaxFDGrowth = 4
	}
	if o.MaxRSSGrowth == 0 {
		o.MaxRSSGrowth = 4 << 20
	}
	if o.Every == 0 {
		o.Every = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// sluiceConfig is the soak's config.toml: short timeouts, so that what a
// fault holds is released within a quiet period, and the access log and
// /metrics on, as users run it. bodyTimeout adds [proxy] body_timeout,
// which builds before issue 11 do not know (and refuse).
func sluiceConfig(port int, logDir string, bodyTimeout bool) string {
	body := ""
	if bodyTimeout {
		body = fmt.Sprintf("body_timeout = %q\n", sluiceTimeout)
	}
	return fmt.Sprintf(`[proxy]
listen = "127.0.0.1:%d"
response_header_timeout = %q
read_header_timeout = %q
%sclient_idle_timeout = "5s"
pool_idle_timeout = "5s"
connect_timeout = "2s"
tunnel_idle_timeout = "10s"
shutdown_grace = "2s"

[log]
dir = %q
access_log = true

[metrics]
enabled = true
`, port, sluiceTimeout, sluiceTimeout, body, logDir)
}

// Run starts Sluice and the servers, runs the soak and returns its report.
// Everything it started is stopped before it returns, also when ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.fill()
	dir, err := os.MkdirTemp("", "soak-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	org, err := startOrigin()
	if err != nil {
		return nil, err
	}
	defer org.close()
	echo, err := startEcho()
	if err != nil {
		return nil, err
	}
	defer echo.close()

	procs := &harness.Procs{}
	defer procs.StopAll()
	proc, addr, err := startSluice(ctx, procs, o.SluiceBin, dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "soak: sluice pid %d on %s; origin %s, echo %s\n", proc.Pid(), addr, org.addr(), echo.addr())

	id := make([]byte, 3)
	rand.Read(id)
	rep := &Report{Opts: o, Started: time.Now(), tally: newTally()}
	newLoad := func(phase string, d time.Duration) *load {
		return &load{
			proxy: addr, origin: org.addr(), echo: echo.addr(), run: hex.EncodeToString(id), phase: phase,
			t: rep.tally, end: time.Now().Add(d), done: ctx.Done(), pace: o.Pace, maxEpisodes: o.MaxEpisodes,
			timeout: 20 * time.Second, maxStall: o.MaxStall, sluiceTimeout: sluiceTimeout,
		}
	}
	pr := newProbe(proc.Pid(), addr)
	alive := func() error {
		if exited, werr := proc.Exited(); exited {
			return fmt.Errorf("sluice exited (%v); its output:\n%s", werr, proc.Output())
		}
		return ctx.Err()
	}
	quietThenRead := func(what string) (figures, error) {
		fmt.Fprintf(o.Log, "soak: quiet for %s, then the %s reading\n", o.Quiet, what)
		select {
		case <-ctx.Done():
			return figures{}, ctx.Err()
		case <-time.After(o.Quiet):
		}
		if err := alive(); err != nil {
			return figures{}, err
		}
		f, err := pr.median(ctx, 5, 200*time.Millisecond)
		if err != nil {
			return f, fmt.Errorf("%s reading: %w", what, err)
		}
		fmt.Fprintf(o.Log, "soak: %s: %s\n", what, f)
		return f, nil
	}

	fmt.Fprintf(o.Log, "soak: warm-up for %s\n", o.Warmup)
	newLoad("w", o.Warmup).drive(o.Workers)
	if err := alive(); err != nil {
		return nil, err
	}
	if rep.Start, err = quietThenRead("start"); err != nil {
		return nil, err
	}

	fmt.Fprintf(o.Log, "soak: load for %s (%+v, pace %s)\n", o.Duration, o.Workers, o.Pace)
	loadStart := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(o.Every)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
			}
			line := fmt.Sprintf("soak: %s: %d episodes, %d cross-talk, %d corrupt, %d failed",
				time.Since(loadStart).Round(time.Second), rep.tally.episodes(), rep.tally.crossTalk.Load(),
				rep.tally.corrupt.Load(), rep.tally.failed.Load())
			if f, err := pr.read(ctx); err == nil {
				line += "; " + f.String()
			}
			fmt.Fprintln(o.Log, line)
		}
	}()
	newLoad("m", o.Duration).drive(o.Workers)
	close(stopProgress)
	<-progressDone
	if err := alive(); err != nil {
		return nil, err
	}
	if rep.End, err = quietThenRead("end"); err != nil {
		return nil, err
	}
	if err := pr.getJSON(ctx, "/stats", &rep.Stats); err != nil {
		return nil, err
	}
	rep.OriginRequests, rep.Poison, rep.LateSkipped = org.served.Load(), org.poison.Load(), org.lateSkipped.Load()
	rep.Elapsed = time.Since(rep.Started)
	rep.judge()
	if !rep.Pass() {
		// Stop Sluice first, so its logs are flushed, then keep the
		// lines that tell what it saw of the problems.
		procs.StopAll()
		rep.SluiceLog = logLines(filepath.Join(dir, "logs"), rep.tally.problemPaths())
	}
	return rep, nil
}

// logLines returns Sluice's access-log records of the given paths and the
// last warnings and errors of its app log, at most maxSamples of each.
func logLines(dir string, paths []string) []string {
	var out []string
	if b, err := os.ReadFile(filepath.Join(dir, "access.log")); err == nil {
		n := 0
		for line := range strings.Lines(string(b)) {
			for _, p := range paths {
				if n < maxSamples && strings.Contains(line, `"`+p+`"`) {
					out = append(out, "access.log: "+strings.TrimSpace(line))
					n++
					break
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "app.log")); err == nil {
		var warn []string
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"WARN"`) || strings.Contains(line, `"ERROR"`) {
				warn = append(warn, "app.log: "+strings.TrimSpace(line))
			}
		}
		out = append(out, warn[max(0, len(warn)-maxSamples):]...)
	}
	return out
}

// startSluice starts `sluice run --headless` on a free loopback port with
// the soak's config, its state kept inside dir.
func startSluice(ctx context.Context, procs *harness.Procs, bin, dir string) (*harness.Proc, string, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, "", fmt.Errorf("%s not built (make build): %w", bin, err)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, "", err
	}
	port, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(dir, "config.toml")
	env := append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir, "XDG_CACHE_HOME="+dir)
	// With body_timeout if the build takes it (`config check` refuses an
	// unknown key), so the soak also runs against older builds.
	for _, bodyTimeout := range []bool{true, false} {
		if err := os.WriteFile(conf, []byte(sluiceConfig(port, logDir, bodyTimeout)), 0o644); err != nil {
			return nil, "", err
		}
		check := exec.CommandContext(ctx, bin, "config", "check", "--config", conf)
		check.Env = env
		out, err := check.CombinedOutput()
		if err == nil {
			break
		}
		if !bodyTimeout {
			return nil, "", fmt.Errorf("%s config check: %w: %s", bin, err, out)
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, bin, "run", "--headless", "--config", conf, "--listen", addr)
	cmd.Env = env
	p, err := procs.Start("sluice", cmd)
	if err != nil {
		return nil, "", err
	}
	if err := harness.WaitListening(ctx, p, addr, 20*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}

func (f figures) String() string {
	return fmt.Sprintf("goroutines %d, fds %d (%d pipes, %d sockets), RSS %.1f MiB (anon %.1f, file %.1f), conns %d, tunnels %d, pool idle %d",
		f.Goroutines, f.FDs, f.Pipes, f.Sockets, mib(f.RSS), mib(f.Anon), mib(f.File), f.Conns, f.Tunnels, f.PoolIdle)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Stats is the part of Sluice's /stats the report shows.
type Stats struct {
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	ConnsTotal   int64            `json:"conns_total"`
	TunnelsTotal int64            `json:"tunnels_total"`
	BytesIn      int64            `json:"bytes_in"`
	BytesOut     int64            `json:"bytes_out"`
	LogsDropped  int64            `json:"logs_dropped"`
	Upstream     struct {
		Reused int64 `json:"reused"`
		Dialed int64 `json:"dialed"`
	} `json:"upstream"`
}

// Check is one pass/fail condition of the soak.
type Check struct {
	Name, Got string
	Pass      bool
}

// Report is a soak run's result.
type Report struct {
	Opts       Options
	Started    time.Time
	Elapsed    time.Duration
	Start, End figures
	Stats      Stats
	// OriginRequests counts requests the origin read; Poison the unasked
	// responses it sent after extra/* answers; LateSkipped the extra/late
	// answers whose unasked response was not sent because the next
	// request came first.
	OriginRequests, Poison, LateSkipped int64
	Checks                              []Check
	// SluiceLog holds, when a check failed, Sluice's access-log records
	// of the requests that had a problem and its last app-log warnings.
	SluiceLog []string
	tally     *tally
}

// Pass reports whether every check passed.
func (r *Report) Pass() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return len(r.Checks) > 0
}

func (r *Report) judge() {
	t := r.tally
	zero := func(name string, n int64) {
		r.Checks = append(r.Checks, Check{Name: name, Got: strconv.FormatInt(n, 10), Pass: n == 0})
	}
	zero("responses or tunnel bytes meant for another request", t.crossTalk.Load())
	zero("bodies corrupted", t.corrupt.Load())
	zero("requests that should have succeeded and failed", t.failed.Load())
	growth := func(name string, start, end, limit int64, unit func(int64) string) {
		r.Checks = append(r.Checks, Check{
			Name: fmt.Sprintf("%s grew by at most %s", name, unit(limit)),
			Got:  fmt.Sprintf("%s → %s (%+d)", unit(start), unit(end), end-start),
			Pass: end-start <= limit,
		})
	}
	count := func(v int64) string { return strconv.FormatInt(v, 10) }
	inMiB := func(v int64) string { return fmt.Sprintf("%.1f MiB", mib(v)) }
	growth("goroutines", r.Start.Goroutines, r.End.Goroutines, r.Opts.MaxGoroutineGrowth, count)
	growth("open fds", r.Start.FDs, r.End.FDs, r.Opts.MaxFDGrowth, count)
	r.Checks = append(r.Checks, Check{
		Name: fmt.Sprintf("RSS grew by at most %s", inMiB(r.Opts.MaxRSSGrowth)),
		Got:  fmt.Sprintf("%s → %s (%+.1f MiB)", inMiB(r.Start.RSS), inMiB(r.End.RSS), mib(r.End.RSS-r.Start.RSS)),
		Pass: r.End.RSS-r.Start.RSS <= r.Opts.MaxRSSGrowth,
	})
}

// Write writes the report in Markdown.
func (r *Report) Write(w io.Writer) {
	o := r.Opts
	verdict := "PASS"
	if !r.Pass() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "## Soak, %s: %s\n\n", r.Started.Format("2006-01-02 15:04 MST"), verdict)
	fmt.Fprintf(w, "%s of load after a %s warm-up, readings after %s of quiet (medians of 5); workers %+v, pace %s; run took %s.\n\n",
		o.Duration, o.Warmup, o.Quiet, o.Workers, o.Pace, r.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "| figure | start | end |\n|---|---:|---:|\n")
	rows := []struct {
		name       string
		start, end string
	}{
		{"goroutines", fmt.Sprint(r.Start.Goroutines), fmt.Sprint(r.End.Goroutines)},
		{"open fds", fmt.Sprint(r.Start.FDs), fmt.Sprint(r.End.FDs)},
		{"of which pipes", fmt.Sprint(r.Start.Pipes), fmt.Sprint(r.End.Pipes)},
		{"of which sockets", fmt.Sprint(r.Start.Sockets), fmt.Sprint(r.End.Sockets)},
		{"RSS (MiB)", fmt.Sprintf("%.1f", mib(r.Start.RSS)), fmt.Sprintf("%.1f", mib(r.End.RSS))},
		{"RSS anonymous (MiB)", fmt.Sprintf("%.1f", mib(r.Start.Anon)), fmt.Sprintf("%.1f", mib(r.End.Anon))},
		{"RSS file-backed (MiB)", fmt.Sprintf("%.1f", mib(r.Start.File)), fmt.Sprintf("%.1f", mib(r.End.File))},
		{"open client connections", fmt.Sprint(r.Start.Conns), fmt.Sprint(r.End.Conns)},
		{"open tunnels", fmt.Sprint(r.Start.Tunnels), fmt.Sprint(r.End.Tunnels)},
		{"idle pooled upstream connections", fmt.Sprint(r.Start.PoolIdle), fmt.Sprint(r.End.PoolIdle)},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", row.name, row.start, row.end)
	}
	fmt.Fprintf(w, "\n| check | measured | verdict |\n|---|---|---|\n")
	for _, c := range r.Checks {
		v := "PASS"
		if !c.Pass {
			v = "FAIL"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, c.Got, v)
	}
	s := r.Stats
	fmt.Fprintf(w, "\nSluice's /stats at the end: %d requests, %d errors, %d client connections, %d tunnels, upstream %d reused / %d dialed, %.1f MB in, %.1f MB out, %d log records dropped.",
		s.Requests, s.Errors, s.ConnsTotal, s.TunnelsTotal, s.Upstream.Reused, s.Upstream.Dialed,
		float64(s.BytesIn)/1e6, float64(s.BytesOut)/1e6, s.LogsDropped)
	var kinds []string
	for k, v := range s.ErrorsByKind {
		if v > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(kinds) > 0 {
		slices.Sort(kinds)
		fmt.Fprintf(w, " Errors by kind: %s.", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(w, " The origin read %d requests and sent %d unasked responses (%d extra/late ones not sent: the next request came within %s).\n\n",
		r.OriginRequests, r.Poison, r.LateSkipped, lateExtra)
	fmt.Fprintf(w, "### What the clients saw\n\n%s", r.tally.table())
	if r.tally.samples != nil {
		fmt.Fprintf(w, "\n### First problems\n\n")
		for _, p := range r.tally.samples {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
	if r.SluiceLog != nil {
		fmt.Fprintf(w, "\n### What Sluice logged of them\n\n```\n%s\n```\n", strings.Join(r.SluiceLog, "\n"))
	}
}
