//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a run. The zero value of each field means its default.
type Options struct {
	// Rounds is how many interleaved rounds to run; each figure is the
	// median over rounds. Zero means 3.
	Rounds int
	// Duration is the length of each measured wrk run. Zero means 5s.
	Duration time.Duration
	// Warmup is the length of the unmeasured wrk run before each measured
	// one (fills pools, lets the proxy grow to its working size). Zero
	// means 2s; negative means none.
	Warmup time.Duration
	// Targets names the columns to measure, from AllTargets. Empty means
	// all of them. Direct is always measured: other figures are relative
	// to it.
	Targets []string
	// SluiceBin is the Sluice binary. Empty means "bin/sluice".
	SluiceBin string
	// SlowLogFile is the access log's file name inside Sluice's log dir,
	// which the slow-writer column replaces with a named pipe. Empty
	// means "access.log".
	SlowLogFile string
	// Self is this program's executable, run as "Self sink" and
	// "Self refproxy". Empty means os.Executable().
	Self string
	// NoInstall stops the harness from installing missing packages.
	NoInstall bool
	// BigSize is the size of the large body. Zero means 1 GiB.
	BigSize int64
	// ProfileDir, when set, records CPU profiles of Sluice with perf
	// during the first round's 64- and 1000-connection loads and writes
	// them (perf.data and a text report) there. Profile an unstripped
	// build (make bench-profile builds one). Empty means no profiling.
	ProfileDir string
	// Log receives progress lines. Nil means os.Stderr.
	Log io.Writer
}

func (o *Options) fill() error {
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if len(o.Targets) == 0 {
		o.Targets = AllTargets()
	}
	known := map[string]bool{}
	for _, t := range AllTargets() {
		known[t] = true
	}
	hasDirect := false
	for _, t := range o.Targets {
		if !known[t] {
			return fmt.Errorf("unknown target %q: choose from %v", t, AllTargets())
		}
		hasDirect = hasDirect || t == Direct
	}
	if !hasDirect {
		o.Targets = append([]string{Direct}, o.Targets...)
	}
	if o.SluiceBin == "" {
		o.SluiceBin = "bin/sluice"
	}
	if o.SlowLogFile == "" {
		o.SlowLogFile = "access.log"
	}
	if o.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable for the sink: %w", err)
		}
		o.Self = self
	}
	if o.BigSize == 0 {
		o.BigSize = 1 << 30
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	return nil
}

// Phase names of the wrk loads, used as keys of Results.
const (
	PhaseKeepAlive = "ka64"
	PhaseOneConn   = "lat1"
	PhaseNewConn   = "new64"
	Phase1000      = "c1000"
)

// Metric keys of Results.
const (
	MRPS64     = "rps64"
	MP50_64    = "p50_64"
	MP99_64    = "p99_64"
	MErr64     = "err64"
	MRSS64     = "rss64"
	MMean1     = "mean1"
	MP50_1     = "p50_1"
	MRPSNew    = "rpsnew"
	MErrNew    = "errnew"
	MRPS1000   = "rps1000"
	MErr1000   = "err1000"
	MP99_1000  = "p99_1000"
	MRSS1000   = "rss1000"
	MGet       = "get"
	MGetRSS    = "getrss"  // peak RSS during the 1 GiB download
	MGetGrowth = "getgrow" // that peak minus the RSS just before
	MTunnel    = "tunnel"
	MPost      = "post"
	MIdleRSS   = "idlerss"
	MIdleAnon  = "idleanon" // the anonymous part of the idle RSS
	MIdleFile  = "idlefile" // the file-backed part (the binary's pages)
	MFinalRSS  = "finalrss" // RSS after every load, a sign of leaks
	MTrayIdle  = "trayidle" // the tray app's idle RSS (Sluice only)
	MTrayAnon  = "trayanon" // its anonymous part
	MTrayFile  = "trayfile" // its file-backed part
	MTrayCPU   = "traycpu"  // its idle CPU, children included, in cores
	MLogBytes  = "logbytes" // access log bytes written (Sluice columns only)
)

// Results holds every sample: target → metric → one value per round.
// Errors noted during the run are kept per target.
type Results struct {
	Samples map[string]map[string][]float64
	Errors  map[string][]string
	// Notes are facts about the run worth printing under the table.
	Notes   []string
	Targets []string
	Opts    Options
	Started time.Time
	Elapsed time.Duration
}

func (r *Results) add(target, metric string, v float64) {
	m := r.Samples[target]
	if m == nil {
		m = map[string][]float64{}
		r.Samples[target] = m
	}
	m[metric] = append(m[metric], v)
}

func (r *Results) fail(target string, err error) {
	r.Errors[target] = append(r.Errors[target], err.Error())
}

// raiseNoFile lifts the soft open-file limit to the hard limit, for the
// 1000-connection load; children inherit it.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Max < 65536 {
		// Root may raise the hard limit too.
		want := syscall.Rlimit{Cur: 65536, Max: 65536}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			return nil
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	if lim.Cur < 4096 {
		return fmt.Errorf("open-file limit is %d, too low for 1000 connections through a proxy: raise the hard limit (ulimit -Hn) to 4096 or more", lim.Cur)
	}
	return nil
}

// makeBigFile creates a file of size bytes whose blocks are all allocated
// (not sparse): fallocate where the filesystem has it, else written zeros.
func makeBigFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
		// Read it once so the page cache holds it: otherwise the first
		// download (direct's, in round 1) pays for filling the cache and
		// looks slower than the proxies'.
		r, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer r.Close()
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		return nil
	}
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		left -= n
	}
	return f.Close()
}

// Run does one full benchmark run and returns its results. Every process it
// started is stopped and its temporary directory removed before it returns,
// also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Results, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	if err := ensureTools(ctx, o.Log, !o.NoInstall); err != nil {
		return nil, err
	}
	if err := raiseNoFile(); err != nil {
		return nil, err
	}
	e, cleanup, err := newEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	res := &Results{Samples: map[string]map[string][]float64{}, Errors: map[string][]string{}, Opts: o, Started: time.Now()}
	targets, err := startTargets(ctx, e, o, res)
	if err != nil {
		return nil, err
	}
	if slices.Contains(res.Targets, Sluice) {
		measureTray(ctx, e, res)
	}
	if err := sanityCheck(ctx, e, targets, res); err != nil {
		return nil, err
	}
	for _, st := range stages {
		for round := 0; round < o.Rounds; round++ {
			if err := runRound(ctx, e, o, st, targets, round, res); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range targets {
		if strings.HasPrefix(t.Name, Sluice) {
			recordAccessLog(ctx, o, t, res)
		}
	}
	for _, t := range targets {
		if t.Proc != nil {
			res.add(t.Name, MFinalRSS, float64(treeRSS(processTree(t.Proc.Pid()))))
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

// newEnv makes the run's temporary directory with the bodies to serve and
// starts the origin and the upload sink. cleanup stops every process the
// run started and removes the directory.
func newEnv(ctx context.Context, o Options) (e *env, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, nil, fmt.Errorf("create temp dir: %w", err)
	}
	procs := &Procs{}
	cleanup = func() {
		procs.StopAll()
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	// Directories must be readable by the peers' unprivileged users.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("chmod %s: %w", dir, err)
	}
	e = &env{dir: dir, procs: procs, self: o.Self, sluiceBin: o.SluiceBin, slowLog: o.SlowLogFile, log: o.Log}
	if e.originPort, err = FreePort(); err != nil {
		return nil, nil, err
	}
	if e.sinkPort, err = FreePort(); err != nil {
		return nil, nil, err
	}
	www, err := e.subdir("www")
	if err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(www, "64"), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Log, "creating the %d-byte body in %s\n", o.BigSize, www)
	if err := makeBigFile(filepath.Join(www, "1g"), o.BigSize); err != nil {
		return nil, nil, err
	}
	if _, err := e.startOrigin(ctx, www); err != nil {
		return nil, nil, err
	}
	if _, err := e.startSink(ctx); err != nil {
		return nil, nil, err
	}
	return e, cleanup, nil
}

// startTargets starts every target in o.Targets and records its idle RSS.
// A target that does not start is noted in res and left out; the others
// are returned and listed in res.Targets.
func startTargets(ctx context.Context, e *env, o Options, res *Results) ([]*Target, error) {
	var targets []*Target
	for _, name := range o.Targets {
		t, err := e.startTarget(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			fmt.Fprintf(e.log, "%s: not measured: %v\n", name, err)
			res.fail(name, fmt.Errorf("not started: %w", err))
			continue
		}
		if t.Proc != nil {
			// Let it settle: allocations made while starting up are
			// returned, and the idle figure is what a user would see.
			time.Sleep(time.Second)
			pids := processTree(t.Proc.Pid())
			t.IdleRSS = treeRSS(pids)
			parts := treeRSSParts(pids)
			res.add(name, MIdleRSS, float64(t.IdleRSS))
			res.add(name, MIdleAnon, float64(parts.Anon))
			res.add(name, MIdleFile, float64(parts.File))
			fmt.Fprintf(e.log, "%s listening on %s (pid %d), idle RSS %.1f MiB (anonymous %.1f, file-backed %.1f)\n",
				name, t.Addr, t.Proc.Pid(), mb(t.IdleRSS), mb(parts.Anon), mb(parts.File))
		}
		targets = append(targets, t)
		res.Targets = append(res.Targets, name)
	}
	return targets, nil
}

// measureTray records the tray app's idle RSS and idle CPU for Sluice's
// column; a figure that cannot be taken is noted in res.
func measureTray(ctx context.Context, e *env, res *Results) {
	fmt.Fprintf(e.log, "measuring the tray app's idle RSS on a private D-Bus session\n")
	if rss, parts, note, err := e.measureTrayIdle(ctx, 3*time.Second); err != nil {
		fmt.Fprintf(e.log, "tray idle RSS not measured: %v\n", err)
		res.fail(Sluice, fmt.Errorf("tray idle RSS: %w", err))
	} else {
		res.add(Sluice, MTrayIdle, float64(rss))
		res.add(Sluice, MTrayAnon, float64(parts.Anon))
		res.add(Sluice, MTrayFile, float64(parts.File))
		fmt.Fprintf(e.log, "tray app idle RSS %.1f MiB (anonymous %.1f, file-backed %.1f)\n", mb(rss), mb(parts.Anon), mb(parts.File))
		res.Notes = append(res.Notes, note)
	}
	fmt.Fprintf(e.log, "measuring the tray app's idle CPU over %v\n", trayCPUWindow)
	if used, frac, err := e.measureTrayCPU(ctx, trayCPUWindow); err != nil {
		res.fail(Sluice, fmt.Errorf("tray idle CPU: %w", err))
	} else {
		res.add(Sluice, MTrayCPU, frac)
		fmt.Fprintf(e.log, "tray app idle CPU %v in %v (%.3f%% of a core)\n", used, trayCPUWindow, 100*frac)
	}
}

// sanityCheck fetches /64 once through every target with curl, so that a
// misconfigured peer shows up as one clear error instead of a column of
// zeros; failing targets are dropped.
func sanityCheck(ctx context.Context, e *env, targets []*Target, res *Results) error {
	url := "http://127.0.0.1:" + strconv.Itoa(e.originPort) + "/64"
	for _, t := range targets {
		tr := Transfer{URL: url, Size: 64, MaxTime: 10 * time.Second}
		if t.Proxy {
			tr.Proxy = t.Addr
		}
		if t.DownloadOnly {
			tr.URL = "http://" + t.Addr + "/64"
		}
		if _, err := RunTransfer(ctx, tr); err != nil {
			if t.Name == Direct {
				return fmt.Errorf("origin does not serve /64: %w", err)
			}
			fmt.Fprintf(e.log, "%s: sanity check failed: %v\n", t.Name, err)
			res.fail(t.Name, fmt.Errorf("sanity check: %w", err))
		}
	}
	return nil
}

// A phase is one wrk load through a target and the figures it yields.
type phase struct {
	name  string // a Phase* constant
	conns int
	close bool // a new connection per request
	// profile has Sluice recorded with perf during this load in the
	// first round, when Options.ProfileDir is set.
	profile bool
	// The metric keys the load's figures go to; empty means not kept.
	rps, p50, p99, mean, errs string
	// peakRSS keeps the process tree's RSS peak during the load.
	peakRSS string
}

var (
	keepAlive = phase{name: PhaseKeepAlive, conns: 64, profile: true,
		rps: MRPS64, p50: MP50_64, p99: MP99_64, errs: MErr64, peakRSS: MRSS64}
	oneConn = phase{name: PhaseOneConn, conns: 1,
		mean: MMean1, p50: MP50_1}
	newConn = phase{name: PhaseNewConn, conns: 64, close: true,
		rps: MRPSNew, errs: MErrNew}
	conns1000 = phase{name: Phase1000, conns: 1000, profile: true,
		rps: MRPS1000, errs: MErr1000, p99: MP99_1000, peakRSS: MRSS1000}
)

// A stage is a sequence of rounds, each running its phases through every
// target, then, with transfers, the large downloads and upload.
type stage struct {
	phases    []phase
	transfers bool
}

// stages is the order of the loads. The 1000-connection rounds come last:
// a proxy that keeps the memory of 1000 connections after they close
// would otherwise carry it into the 64-connection and 1 GiB figures of the
// next round.
var stages = []stage{
	{phases: []phase{keepAlive, oneConn, newConn}, transfers: true},
	{phases: []phase{conns1000}},
}

// runRound runs one round of st through targets. A load that fails is
// noted in res and the round goes on; only a cancelled ctx stops it.
func runRound(ctx context.Context, e *env, o Options, st stage, targets []*Target, round int, res *Results) error {
	// Rotate the order each round so no target always runs right after
	// the same neighbour (or first, on a cold machine).
	order := make([]*Target, len(targets))
	for i := range targets {
		order[i] = targets[(i+round)%len(targets)]
	}
	for _, ph := range st.phases {
		for _, t := range order {
			if (t.KeepAliveOnly && ph.name != PhaseKeepAlive) || t.DownloadOnly {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(e.log, "round %d/%d %-6s %-14s ", round+1, o.Rounds, ph.name, t.Name)
			if err := runPhase(ctx, e, o, t, ph, round, res); err != nil {
				fmt.Fprintf(e.log, "error: %v\n", err)
				res.fail(t.Name, fmt.Errorf("round %d %s: %w", round+1, ph.name, err))
			}
		}
	}
	if !st.transfers {
		return nil
	}
	for _, t := range order {
		if t.KeepAliveOnly {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		runTransfers(ctx, e, o, t, round, res)
	}
	return nil
}

// runPhase runs ph's load through t (after a warmup, watching t's memory
// and, if asked, profiling it) and adds its figures to res.
func runPhase(ctx context.Context, e *env, o Options, t *Target, ph phase, round int, res *Results) error {
	l := WrkLoad{Addr: t.Addr, Origin: "127.0.0.1:" + strconv.Itoa(e.originPort), Path: "/64", Absolute: t.Proxy,
		Conns: ph.conns, Close: ph.close}
	if o.Warmup > 0 {
		w := l
		w.Duration = o.Warmup
		if _, err := RunWrk(ctx, e.dir, w); err != nil {
			return fmt.Errorf("warmup: %w", err)
		}
	}
	l.Duration = o.Duration
	var watch *RSSWatch
	if t.Proc != nil {
		watch = WatchRSS(t.Proc.Pid(), 50*time.Millisecond)
	}
	var prof *perfRecord
	if o.ProfileDir != "" && t.Name == Sluice && round == 0 && ph.profile {
		var perr error
		if prof, perr = startPerf(ctx, o.ProfileDir, "sluice-"+ph.name, t.Proc.Pid(), o.Duration); perr != nil {
			res.fail(t.Name, perr)
		}
	}
	r, err := RunWrk(ctx, e.dir, l)
	var peak int64
	if watch != nil {
		peak = watch.Stop()
	}
	if prof != nil {
		if summary, perr := prof.finish(); perr != nil {
			res.fail(t.Name, perr)
		} else {
			res.Notes = append(res.Notes, summary)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.log, "%8.0f rps  p50 %7.2f ms  p99 %7.2f ms  mean %7.1f µs  errors %d (connect %d, read %d, write %d, status %d, timeout %d)",
		r.RPS, r.P50Us/1e3, r.P99Us/1e3, r.MeanUs, r.Errors(), r.ConnErrs, r.ReadErrs, r.WriteErrs, r.StatusErrs, r.Timeouts)
	if watch != nil {
		fmt.Fprintf(e.log, "  peak RSS %.1f MiB", mb(peak))
	}
	fmt.Fprintln(e.log)
	if r.Requests == 0 {
		return errors.New("no request completed")
	}
	keep := func(metric string, v float64) {
		if metric != "" {
			res.add(t.Name, metric, v)
		}
	}
	keep(ph.rps, r.RPS)
	keep(ph.p50, r.P50Us)
	keep(ph.p99, r.P99Us)
	keep(ph.mean, r.MeanUs)
	keep(ph.errs, float64(r.Errors()))
	if watch != nil {
		keep(ph.peakRSS, float64(peak))
	}
	return nil
}

// runTransfers downloads the large body plainly and through a CONNECT
// tunnel, and uploads it to the sink, through t.
func runTransfers(ctx context.Context, e *env, o Options, t *Target, round int, res *Results) {
	origin := "127.0.0.1:" + strconv.Itoa(e.originPort)
	// A generous bound: a slow proxy at 20 MB/s still finishes.
	maxTime := time.Duration(o.BigSize/(10<<20)+30) * time.Second
	base := Transfer{Size: o.BigSize, MaxTime: maxTime}
	if t.Proxy {
		base.Proxy = t.Addr
	}
	type kind struct {
		metric string
		tr     Transfer
	}
	get := base
	get.URL = "http://" + origin + "/1g"
	if t.DownloadOnly {
		// A fixed relay: the URL names the relay, which forwards to
		// the origin.
		get.URL = "http://" + t.Addr + "/1g"
	}
	kinds := []kind{{MGet, get}}
	if t.Tunnel {
		tun := get
		tun.Tunnel = true
		kinds = append(kinds, kind{MTunnel, tun})
	}
	if !t.DownloadOnly {
		post := base
		post.URL = "http://127.0.0.1:" + strconv.Itoa(e.sinkPort) + "/upload"
		post.Upload = filepath.Join(e.dir, "www", "1g")
		kinds = append(kinds, kind{MPost, post})
	}
	for _, k := range kinds {
		if t.Name == Direct && k.tr.Tunnel {
			continue
		}
		fmt.Fprintf(e.log, "round %d/%d %-6s %-14s ", round+1, o.Rounds, k.metric, t.Name)
		var watch *RSSWatch
		var before int64
		if t.Proc != nil {
			before = treeRSS(processTree(t.Proc.Pid()))
			watch = WatchRSS(t.Proc.Pid(), 50*time.Millisecond)
		}
		speed, err := RunTransfer(ctx, k.tr)
		var peak int64
		if watch != nil {
			peak = watch.Stop()
		}
		if err != nil {
			fmt.Fprintf(e.log, "error: %v\n", err)
			res.fail(t.Name, fmt.Errorf("round %d %s: %w", round+1, k.metric, err))
			continue
		}
		fmt.Fprintf(e.log, "%8.0f MB/s", speed/1e6)
		if watch != nil {
			fmt.Fprintf(e.log, "  peak RSS %.1f MiB (+%.1f)", mb(peak), mb(peak-before))
		}
		fmt.Fprintln(e.log)
		res.add(t.Name, k.metric, speed)
		if k.metric == MGet && watch != nil {
			res.add(t.Name, MGetRSS, float64(peak))
			res.add(t.Name, MGetGrowth, float64(peak-before))
		}
	}
}

// recordAccessLog notes how much access log Sluice's target t wrote and
// how many records it dropped: a build that writes none makes the log
// columns meaningless.
func recordAccessLog(ctx context.Context, o Options, t *Target, res *Results) {
	dropped, err := logsDropped(ctx, t.Addr)
	if err != nil {
		res.fail(t.Name, err)
	}
	var written int64
	if t.piped != nil {
		written = t.piped.Load()
	} else if st, err := os.Stat(filepath.Join(t.LogDir, o.SlowLogFile)); err == nil {
		written = st.Size()
	}
	res.add(t.Name, MLogBytes, float64(written))
	res.Notes = append(res.Notes, fmt.Sprintf("%s: %d bytes of access log written, %d records dropped (its /stats).", t.Name, written, dropped))
}

// logsDropped reads logs_dropped from Sluice's /stats: for the slow-writer
// column it shows that the writer really was slow (records were dropped
// rather than requests held up).
func logsDropped(ctx context.Context, addr string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stats", nil)
	if err != nil {
		return 0, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read /stats of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	var st struct {
		LogsDropped *int64 `json:"logs_dropped"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.LogsDropped == nil {
		return 0, fmt.Errorf("read /stats of %s: status %d, no logs_dropped (%v)", addr, resp.StatusCode, err)
	}
	return *st.LogsDropped, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
