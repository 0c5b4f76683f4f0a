//go:build linux

package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// How a row aggregates its rounds.
const (
	aggMedian = iota
	// aggMax is for errors and memory peaks: one bad round counts.
	aggMax
)

// row is one figure of the table.
type row struct {
	label  string
	metric string
	agg    int
	// scale converts the stored value to the shown unit; format prints it.
	scale  float64
	format string
	// higher is true when more is better (rps, MB/s); it picks the best
	// peer and the direction of the ratio.
	higher bool
	// noRatio leaves the ratio columns empty (error counts, differences).
	noRatio bool
}

const mib = 1 << 20

func rows() []row {
	return []row{
		{label: "keep-alive rps, 64 conns", metric: MRPS64, scale: 1, format: "%.0f", higher: true},
		{label: "p50 at 64 conns (ms)", metric: MP50_64, scale: 1e-3, format: "%.2f"},
		{label: "p99 at 64 conns (ms)", metric: MP99_64, scale: 1e-3, format: "%.2f"},
		{label: "errors at 64 conns (max)", metric: MErr64, agg: aggMax, scale: 1, format: "%.0f", noRatio: true},
		{label: "mean latency, 1 conn (µs)", metric: MMean1, scale: 1, format: "%.0f"},
		{label: "latency added over direct, 1 conn (µs)", metric: mAdded, scale: 1, format: "%.0f", noRatio: true},
		{label: "p50 latency, 1 conn (µs)", metric: MP50_1, scale: 1, format: "%.0f"},
		{label: "new-connection rps, 64 conns", metric: MRPSNew, scale: 1, format: "%.0f", higher: true},
		{label: "errors, new connections (max)", metric: MErrNew, agg: aggMax, scale: 1, format: "%.0f", noRatio: true},
		{label: "rps at 1000 conns", metric: MRPS1000, scale: 1, format: "%.0f", higher: true},
		{label: "errors at 1000 conns (max)", metric: MErr1000, agg: aggMax, scale: 1, format: "%.0f", noRatio: true},
		{label: "p99 at 1000 conns (ms)", metric: MP99_1000, scale: 1e-3, format: "%.1f"},
		{label: "1 GiB download (MB/s)", metric: MGet, scale: 1e-6, format: "%.0f", higher: true},
		{label: "1 GiB through CONNECT (MB/s)", metric: MTunnel, scale: 1e-6, format: "%.0f", higher: true},
		{label: "1 GiB upload (MB/s)", metric: MPost, scale: 1e-6, format: "%.0f", higher: true},
		{label: "idle RSS at start (MiB)", metric: MIdleRSS, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "idle RSS, anonymous part (MiB)", metric: MIdleAnon, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "idle RSS, file-backed part (MiB)", metric: MIdleFile, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "peak RSS, 64 conns (MiB)", metric: MRSS64, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "peak RSS, 1000 conns (MiB)", metric: MRSS1000, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "peak RSS, 1 GiB download (MiB)", metric: MGetRSS, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "RSS growth, 1 GiB download (MiB)", metric: MGetGrowth, agg: aggMax, scale: 1.0 / mib, format: "%.1f", noRatio: true},
		{label: "RSS after all loads (MiB)", metric: MFinalRSS, agg: aggMax, scale: 1.0 / mib, format: "%.1f"},
		{label: "tray app idle RSS (MiB)", metric: MTrayIdle, agg: aggMax, scale: 1.0 / mib, format: "%.1f", noRatio: true},
		{label: "tray idle RSS, anonymous part (MiB)", metric: MTrayAnon, agg: aggMax, scale: 1.0 / mib, format: "%.1f", noRatio: true},
		{label: "tray idle RSS, file-backed part (MiB)", metric: MTrayFile, agg: aggMax, scale: 1.0 / mib, format: "%.1f", noRatio: true},
		{label: "tray app idle CPU over 60 s, children included (% of a core)", metric: MTrayCPU, agg: aggMax, scale: 100, format: "%.3f", noRatio: true},
	}
}

// mAdded is derived: a target's mean latency at 1 connection minus
// direct's.
const mAdded = "added1"

// Value returns target's figure for metric aggregated over rounds.
func (r *Results) Value(target, metric string) (float64, bool) {
	if metric == mAdded {
		t, ok1 := r.Value(target, MMean1)
		d, ok2 := r.Value(Direct, MMean1)
		return t - d, ok1 && ok2
	}
	agg := aggMedian
	for _, rw := range rows() {
		if rw.metric == metric {
			agg = rw.agg
		}
	}
	v := r.Samples[target][metric]
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if agg == aggMax {
		return s[len(s)-1], true
	}
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// bestPeer returns the peer with the best figure for metric and that
// figure.
func (r *Results) bestPeer(metric string, higher bool) (string, float64, bool) {
	var name string
	var best float64
	for _, p := range peers() {
		v, ok := r.Value(p, metric)
		if !ok {
			continue
		}
		if name == "" || (higher && v > best) || (!higher && v < best) {
			name, best = p, v
		}
	}
	return name, best, name != ""
}

// Table writes the Markdown table: rows are figures, columns targets, then
// Sluice's ratio to the best peer and to direct.
func (r *Results) Table(w io.Writer) {
	cols := r.Targets
	fmt.Fprintf(w, "| figure | %s | sluice ÷ best peer | sluice ÷ direct |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|---|%s---|---|\n", strings.Repeat("---:|", len(cols)))
	for _, rw := range rows() {
		cells := make([]string, 0, len(cols)+2)
		for _, c := range cols {
			if v, ok := r.Value(c, rw.metric); ok {
				cells = append(cells, fmt.Sprintf(rw.format, v*rw.scale))
			} else {
				cells = append(cells, "–")
			}
		}
		bestCell, directCell := "–", "–"
		if s, ok := r.Value(Sluice, rw.metric); ok && !rw.noRatio {
			if name, b, ok := r.bestPeer(rw.metric, rw.higher); ok && b != 0 {
				bestCell = fmt.Sprintf("%.2f× (%s)", s/b, name)
			}
			if d, ok := r.Value(Direct, rw.metric); ok && d != 0 {
				directCell = fmt.Sprintf("%.2f×", s/d)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", rw.label, strings.Join(cells, " | "), bestCell, directCell)
	}
}

// formatValue prints v as metric's row shows it, with the unit from the
// row's label ("12.5 ms").
func formatValue(metric string, v float64) string {
	for _, rw := range rows() {
		if rw.metric != metric {
			continue
		}
		s := fmt.Sprintf(rw.format, v*rw.scale)
		if i := strings.LastIndexByte(rw.label, '('); i >= 0 && strings.HasSuffix(rw.label, ")") {
			if unit := rw.label[i+1 : len(rw.label)-1]; unit != "max" {
				s += " " + unit
			}
		}
		return s
	}
	return fmt.Sprintf("%.4g", v)
}

// Check is one target of the issues, judged on this run.
type Check struct {
	// Issue names where the target comes from ("8", "2.3").
	Issue string
	// Target is the target's wording.
	Target string
	// Got says what was measured.
	Got string
	// Verdict is "PASS", "FAIL" or "n/a" (not measured in this run).
	Verdict string
}

// Checks judges every target of issue 8, issue 2 acceptance 3, issue 3
// acceptance 3 and the performance targets of issue 11.
func (r *Results) Checks() []Check {
	var out []Check
	add := func(issue, target string, ok, measured bool, got string) {
		v := "n/a"
		if measured {
			v = "FAIL"
			if ok {
				v = "PASS"
			}
		}
		out = append(out, Check{Issue: issue, Target: target, Got: got, Verdict: v})
	}
	// ratioToPeer: Sluice's figure against factor × the best peer's.
	ratioToPeer := func(issue, target, metric string, factor float64, higher bool) {
		s, ok1 := r.Value(Sluice, metric)
		name, b, ok2 := r.bestPeer(metric, higher)
		if !ok1 || !ok2 {
			add(issue, target, false, false, "not measured")
			return
		}
		pass := s >= factor*b
		if !higher {
			pass = s <= factor*b
		}
		add(issue, target, pass, true, fmt.Sprintf("sluice %s vs %s %s (%.3g×)", formatValue(metric, s), name, formatValue(metric, b), s/b))
	}
	ratioTo := func(issue, target, metric, other string, factor float64) {
		s, ok1 := r.Value(Sluice, metric)
		o, ok2 := r.Value(other, metric)
		if !ok1 || !ok2 || o == 0 {
			add(issue, target, false, false, "not measured")
			return
		}
		add(issue, target, s >= factor*o, true, fmt.Sprintf("sluice %s vs %s %s (%.3g×)", formatValue(metric, s), other, formatValue(metric, o), s/o))
	}
	limit := func(issue, target, metric string, max, scale float64) {
		s, ok := r.Value(Sluice, metric)
		if !ok {
			add(issue, target, false, false, "not measured")
			return
		}
		add(issue, target, s*scale <= max, true, formatValue(metric, s))
	}

	ratioToPeer("8", "keep-alive rps at 64 conns ≥ 1.2× the best peer", MRPS64, 1.2, true)
	ratioTo("8", "keep-alive rps at 64 conns ≥ 0.75× the nginx relay", MRPS64, NginxRelay, 0.75)
	ratioToPeer("8", "p99 at 64 conns ≤ the best peer's", MP99_64, 1, false)
	ratioToPeer("8", "latency added at 1 conn ≤ the best peer's", mAdded, 1, false)
	ratioToPeer("8", "new-connection rps ≥ 1.2× the best peer", MRPSNew, 1.2, true)
	limit("8", "1000 conns: 0 errors", MErr1000, 0, 1)
	ratioToPeer("8", "1000 conns: rps ≥ 1.2× the best peer", MRPS1000, 1.2, true)
	limit("8", "1000 conns: p99 ≤ 250 ms", MP99_1000, 250, 1e-3)
	limit("8", "1000 conns: peak RSS ≤ 64 MB", MRSS1000, 64, 1.0/mib)
	ratioTo("8, 2.3", "1 GiB forwarded ≥ 0.6× direct", MGet, Direct, 0.6)
	limit("8", "1 GiB forwarded: RSS growth ≤ 8 MB", MGetGrowth, 8, 1.0/mib)
	limit("2.3", "1 GiB forwarded: RSS < 32 MB", MGetRSS, 32, 1.0/mib)
	// Issue 11 restated the tunnel target: no relay reaches 0.9× direct
	// on this machine (bench/README.md), so the tunnel is held to the
	// cheapest relay Go can express, measured in the same run.
	s, ok1 := r.Value(Sluice, MTunnel)
	d, ok2 := r.Value(SpliceRelay, MGet)
	if ok1 && ok2 && d > 0 {
		add("11", "CONNECT tunnel ≥ 0.95× the bare splice relay", s >= 0.95*d, true,
			fmt.Sprintf("sluice %s vs splice-relay %s (%.3g×)", formatValue(MTunnel, s), formatValue(MGet, d), s/d))
	} else {
		add("11", "CONNECT tunnel ≥ 0.95× the bare splice relay", false, false, "not measured")
	}
	ratioToPeer("11", "CONNECT tunnel ≥ 1.3× the best peer", MTunnel, 1.3, true)
	limit("8", "peak RSS at 64 conns ≤ 24 MB", MRSS64, 24, 1.0/mib)
	limit("8", "idle RSS, headless ≤ 10 MB", MIdleRSS, 10, 1.0/mib)
	limit("6.4", "tray app idle RSS ≤ 20 MB", MTrayIdle, 20, 1.0/mib)
	limit("17", "tray app idle CPU ≤ 0.05% of a core", MTrayCPU, 0.05, 100)
	ratioTo("2.3", "keep-alive rps ≥ 1.2× privoxy's", MRPS64, Privoxy, 1.2)
	// Issue 3: the access log's cost and its independence from the disk,
	// judged only when the build really wrote an access log.
	onBytes, _ := r.Value(Sluice, MLogBytes)
	slowBytes, _ := r.Value(SluiceSlowLog, MLogBytes)
	on, ok1 := r.Value(Sluice, MRPS64)
	off, ok2 := r.Value(SluiceNoLog, MRPS64)
	if ok1 && ok2 && onBytes == 0 {
		add("3.3", "keep-alive rps with access log on ≥ 0.95× off", false, false, "this build wrote no access log")
	} else if ok1 && ok2 && off > 0 {
		add("3.3", "keep-alive rps with access log on ≥ 0.95× off", on >= 0.95*off, true,
			fmt.Sprintf("on %.0f vs off %.0f (%.3g×)", on, off, on/off))
	} else {
		add("3.3", "keep-alive rps with access log on ≥ 0.95× off", false, false, "not measured")
	}
	p99, ok1 := r.Value(Sluice, MP99_64)
	slow, ok2 := r.Value(SluiceSlowLog, MP99_64)
	if ok1 && ok2 && slowBytes == 0 {
		add("3.3", "p99 unchanged with the log on a slow writer", false, false, "this build wrote nothing to the slow pipe")
	} else if ok1 && ok2 {
		// "Unchanged" on a shared 2-core machine: within 25% or 1 ms of
		// the same load with the log on a fast disk.
		add("3.3", "p99 unchanged with the log on a slow writer (≤ 1.25× or +1 ms)",
			slow <= max(1.25*p99, p99+1000), true,
			fmt.Sprintf("slow writer %.2f ms vs normal %.2f ms", slow/1e3, p99/1e3))
	} else {
		add("3.3", "p99 unchanged with the log on a slow writer", false, false, "not measured")
	}
	return out
}

// Report writes the whole report: header, table, targets and any errors.
func (r *Results) Report(w io.Writer) {
	o := r.Opts
	fmt.Fprintf(w, "## Load test, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %s. %d rounds, interleaved; each wrk run %s after a %s warmup; run took %s.\n",
		machine(), o.Rounds, o.Duration, o.Warmup, r.Elapsed.Round(time.Second))
	fmt.Fprintf(w, "Figures are medians over rounds; error counts and memory peaks are the worst round. "+
		"sluice has the access log on; sluice-nolog has it off; sluice-slowlog writes it to a pipe drained at ~20 KB/s. "+
		"Best peer = best of privoxy, tinyproxy, squid.\n\n")
	r.Table(w)
	fmt.Fprintf(w, "\n### Targets\n\n| issue | target | measured | verdict |\n|---|---|---|---|\n")
	for _, c := range r.Checks() {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.Issue, c.Target, c.Got, c.Verdict)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\n### Errors during the run\n\n")
		names := make([]string, 0, len(r.Errors))
		for n := range r.Errors {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			for _, e := range r.Errors[n] {
				fmt.Fprintf(w, "- %s: %s\n", n, oneLine(e))
			}
		}
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// machine describes the CPU, core count, kernel and tool versions.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	parts := []string{fmt.Sprintf("%s, %d cores, Linux %s, %s", cpu, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())}
	for _, v := range [][]string{{"nginx", "-v"}, {"privoxy", "--version"}, {"tinyproxy", "-v"}, {"squid", "-v"}, {"wrk", "-v"}} {
		out, _ := exec.Command(v[0], v[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}
