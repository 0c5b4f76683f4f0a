package stats

import (
	"bytes"
	"compress/gzip"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MetricsHandler serves c in the Prometheus text exposition format 0.0.4
// (the /metrics endpoint), with the Go runtime and process metrics beside
// it: the families client_golang's Go and process collectors export, under
// the same names, help, types and values, sorted by name as its registry
// sorts them, so dashboards and alerts see no change. The format is
// written here rather than with client_golang because that library and
// what it imports (protobuf, procfs, expfmt's parsers) made up about a
// fifth of Sluice's binary and 2 MiB of an idle Sluice's resident pages.
// It answers in the text format whatever Accept asks for (client_golang
// would offer protobuf; Prometheus scrapes text by default), gzipped when
// the client accepts it.
func MetricsHandler(c *Collector) http.Handler {
	var goDescs sync.Once
	var gd runtimeDescs
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goDescs.Do(func() { gd = readRuntimeDescs() })
		var e exposition
		sluiceMetrics(&e, c.Snapshot())
		goMetrics(&e, &gd)
		processMetrics(&e)
		body := e.text()

		h := w.Header()
		h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(body)
			zw.Close()
			h.Set("Content-Encoding", "gzip")
			body = z.Bytes()
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// sluiceMetrics adds the proxy's own families from one Snapshot.
func sluiceMetrics(e *exposition, s Snapshot) {
	counter := func(name, help string, v int64) { e.add(name, help, "counter").sample("", float64(v)) }
	gauge := func(name, help string, v float64) { e.add(name, help, "gauge").sample("", v) }

	counter("sluice_requests_total", "Finished proxied requests (tunnels not included).", s.Requests)
	f := e.add("sluice_errors_total", "Failed requests by kind.", "counter")
	for k := ErrNone + 1; k < NumErrKinds; k++ {
		f.sample("", float64(s.ErrorsByKind[k.String()]), "kind", k.String())
	}
	counter("sluice_bytes_in_total", "Body bytes from clients, and tunnel bytes upstream, counted as they move.", s.BytesIn)
	counter("sluice_bytes_out_total", "Body bytes to clients, and tunnel bytes downstream, counted as they move.", s.BytesOut)
	gauge("sluice_connections_active", "Open client connections.", float64(s.ConnsActive))
	counter("sluice_connections_total", "Client connections accepted.", s.ConnsTotal)
	gauge("sluice_tunnels_active", "Open CONNECT and Upgrade tunnels.", float64(s.TunnelsActive))
	counter("sluice_tunnels_total", "CONNECT and Upgrade tunnels opened.", s.TunnelsTotal)
	latencySummary(e.add("sluice_request_duration_seconds", "Request duration; quantiles over the last 60 to 70 seconds.", "summary"),
		s.Latency, s.LatencySum, s.Requests)
	latencySummary(e.add("sluice_request_ttfb_seconds", "Time to the first response byte; quantiles over the last 60 to 70 seconds.", "summary"),
		s.TTFB, s.TTFBSum, s.TTFBCount)
	f = e.add("sluice_upstream_requests_total", "Requests sent upstream, by whether the connection was reused from the pool or newly dialed.", "counter")
	f.sample("", float64(s.Upstream.Reused), "conn", "reused")
	f.sample("", float64(s.Upstream.Dialed), "conn", "new")
	gauge("sluice_upstream_pool_idle", "Idle pooled upstream connections.", float64(s.Upstream.PoolIdle))
	counter("sluice_log_records_dropped_total", "Log records dropped because the log writer fell behind.", s.LogsDropped)
	if d := s.DNS; d != nil {
		counter("sluice_dns_lookups_total", "Names asked of the caching resolver.", d.Lookups)
		f = e.add("sluice_dns_cache_results_total", "Resolver lookups by how they were answered.", "counter")
		f.sample("", float64(d.Hits), "result", "hit")
		f.sample("", float64(d.Misses), "result", "miss")
		f.sample("", float64(d.Stale), "result", "stale")
		f.sample("", float64(d.NegativeHits), "result", "negative_hit")
		gauge("sluice_dns_cache_entries", "Names in the DNS cache.", float64(d.Entries))
		f = e.add("sluice_dns_query_seconds", "Quantiles of the time a query to a DNS server took.", "gauge")
		f.sample("", d.QueryP50.Seconds(), "quantile", "0.5")
		f.sample("", d.QueryP99.Seconds(), "quantile", "0.99")
	}
	if len(s.Upstreams) > 0 {
		// Per upstream proxy; sluice_upstream_requests_total above is
		// the connection pool's, by conn.
		families := []struct {
			name, help, typ string
			value           func(u *UpstreamStats) float64
		}{
			{"sluice_upstream_proxy_requests_total", "Requests and tunnels sent through each upstream proxy.", "counter", func(u *UpstreamStats) float64 { return float64(u.Requests) }},
			{"sluice_upstream_proxy_errors_total", "Requests and tunnels through each upstream proxy that failed.", "counter", func(u *UpstreamStats) float64 { return float64(u.Errors) }},
			{"sluice_upstream_proxy_bytes_in_total", "Bytes from clients sent through each upstream proxy.", "counter", func(u *UpstreamStats) float64 { return float64(u.BytesIn) }},
			{"sluice_upstream_proxy_bytes_out_total", "Bytes to clients received through each upstream proxy.", "counter", func(u *UpstreamStats) float64 { return float64(u.BytesOut) }},
			{"sluice_upstream_proxy_up", "1 when the upstream proxy is up (or never checked), 0 when its last check or request failed.", "gauge", func(u *UpstreamStats) float64 {
				if u.State == "down" {
					return 0
				}
				return 1
			}},
			{"sluice_upstream_proxy_check_seconds", "Round trip of the last good health check through each upstream proxy; 0 before one.", "gauge", func(u *UpstreamStats) float64 { return u.CheckRTT.Seconds() }},
		}
		for _, fam := range families {
			f := e.add(fam.name, fam.help, fam.typ)
			for i := range s.Upstreams {
				f.sample("", fam.value(&s.Upstreams[i]), "upstream", s.Upstreams[i].Name)
			}
		}
	}
	if len(s.Rules) > 0 {
		f := e.add("sluice_route_rule_hits_total", "Requests and tunnels each routing rule decided (rule 0: the default action).", "counter")
		for _, r := range s.Rules {
			f.sample("", float64(r.Hits), "rule", strconv.Itoa(r.Rule), "action", r.Action)
		}
	}
	if cs := s.Cache; cs != nil {
		f = e.add("sluice_cache_lookups_total", "Response cache lookups by outcome: a hit, a miss that went upstream, or a miss collapsed onto another request's fetch.", "counter")
		f.sample("", float64(cs.Hits), "result", "hit")
		f.sample("", float64(cs.Misses), "result", "miss")
		f.sample("", float64(cs.Collapsed), "result", "collapsed")
		gauge("sluice_cache_hit_ratio", "Response cache hits and collapsed misses over all lookups.", cs.HitRatio)
		counter("sluice_cache_bytes_saved_total", "Body bytes answered by the response cache without a fetch of their own.", cs.BytesSaved)
		gauge("sluice_cache_objects", "Objects in the response cache.", float64(cs.Objects))
		gauge("sluice_cache_bytes", "Body bytes in the response cache.", float64(cs.Bytes))
	}
}

// latencySummary writes a Latency as a summary; an empty window gives no
// quantiles, which Prometheus shows as absent rather than a false zero.
func latencySummary(f *family, l Latency, sum time.Duration, count int64) {
	if l.Count > 0 {
		f.sample("", l.P50.Seconds(), "quantile", "0.5")
		f.sample("", l.P95.Seconds(), "quantile", "0.95")
		f.sample("", l.P99.Seconds(), "quantile", "0.99")
	}
	f.sample("_sum", sum.Seconds())
	f.sample("_count", float64(count))
}

// The runtime/metrics the Go families read: client_golang's defaults
// (GOGC, the memory limit, GOMAXPROCS) and the ones its go_memstats_*
// families are computed from.
const (
	rmGOGC          = "/gc/gogc:percent"
	rmMemLimit      = "/gc/gomemlimit:bytes"
	rmGOMAXPROCS    = "/sched/gomaxprocs:threads"
	rmTinyAllocs    = "/gc/heap/tiny/allocs:objects"
	rmAllocsObjects = "/gc/heap/allocs:objects"
	rmFreesObjects  = "/gc/heap/frees:objects"
	rmAllocsBytes   = "/gc/heap/allocs:bytes"
	rmHeapObjects   = "/gc/heap/objects:objects"
	rmHeapGoal      = "/gc/heap/goal:bytes"
	rmTotal         = "/memory/classes/total:bytes"
	rmHeapInObjects = "/memory/classes/heap/objects:bytes"
	rmHeapUnused    = "/memory/classes/heap/unused:bytes"
	rmHeapReleased  = "/memory/classes/heap/released:bytes"
	rmHeapFree      = "/memory/classes/heap/free:bytes"
	rmHeapStacks    = "/memory/classes/heap/stacks:bytes"
	rmOSStacks      = "/memory/classes/os-stacks:bytes"
	rmMSpanInuse    = "/memory/classes/metadata/mspan/inuse:bytes"
	rmMSpanFree     = "/memory/classes/metadata/mspan/free:bytes"
	rmMCacheInuse   = "/memory/classes/metadata/mcache/inuse:bytes"
	rmMCacheFree    = "/memory/classes/metadata/mcache/free:bytes"
	rmBuckets       = "/memory/classes/profiling/buckets:bytes"
	rmMetaOther     = "/memory/classes/metadata/other:bytes"
	rmOther         = "/memory/classes/other:bytes"
)

// runtimeDescs holds, for the three runtime/metrics exported under their
// own names, the runtime's description: client_golang's help text.
type runtimeDescs map[string]string

func readRuntimeDescs() runtimeDescs {
	d := runtimeDescs{}
	for _, m := range metrics.All() {
		switch m.Name {
		case rmGOGC, rmMemLimit, rmGOMAXPROCS:
			d[m.Name] = m.Description + " Sourced from " + m.Name + "."
		}
	}
	return d
}

// goMetrics adds the Go runtime's families, as client_golang's
// collectors.NewGoCollector() does with its default options.
func goMetrics(e *exposition, descs *runtimeDescs) {
	names := []string{rmGOGC, rmMemLimit, rmGOMAXPROCS, rmTinyAllocs, rmAllocsObjects, rmFreesObjects, rmAllocsBytes,
		rmHeapObjects, rmHeapGoal, rmTotal, rmHeapInObjects, rmHeapUnused, rmHeapReleased, rmHeapFree, rmHeapStacks,
		rmOSStacks, rmMSpanInuse, rmMSpanFree, rmMCacheInuse, rmMCacheFree, rmBuckets, rmMetaOther, rmOther}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	metrics.Read(samples)
	rm := func(name string) float64 {
		i := slices.Index(names, name)
		switch v := samples[i].Value; v.Kind() {
		case metrics.KindUint64:
			return float64(v.Uint64())
		case metrics.KindFloat64:
			return v.Float64()
		}
		return 0
	}
	gauge := func(name, help string, v float64) { e.add(name, help, "gauge").sample("", v) }
	counter := func(name, help string, v float64) { e.add(name, help, "counter").sample("", v) }

	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	gauge("go_threads", "Number of OS threads created.", float64(threads))
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	f := e.add("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", "summary")
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		f.sample("", gc.PauseQuantiles[i].Seconds(), "quantile", q)
	}
	f.sample("_sum", gc.PauseTotal.Seconds())
	f.sample("_count", float64(gc.NumGC))
	gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(gc.LastGC.UnixNano())/1e9)
	e.add("go_info", "Information about the Go environment.", "gauge").sample("", 1, "version", runtime.Version())
	for _, n := range []string{rmGOGC, rmMemLimit, rmGOMAXPROCS} {
		if help, ok := (*descs)[n]; ok {
			gauge(goName(n), help, rm(n))
		}
	}

	// go_memstats_*: runtime.MemStats fields as client_golang derives
	// them from runtime/metrics (memStatsFromRM), with its help texts.
	tiny := rm(rmTinyAllocs)
	heapAlloc := rm(rmHeapInObjects)
	heapInuse := heapAlloc + rm(rmHeapUnused)
	heapReleased := rm(rmHeapReleased)
	heapIdle := heapReleased + rm(rmHeapFree)
	stackInuse := rm(rmHeapStacks)
	mspanInuse, mcacheInuse := rm(rmMSpanInuse), rm(rmMCacheInuse)
	ms := "go_memstats_"
	gauge(ms+"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", heapAlloc)
	counter(ms+"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", rm(rmAllocsBytes))
	gauge(ms+"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", rm(rmTotal))
	counter(ms+"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", rm(rmAllocsObjects)+tiny)
	counter(ms+"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", rm(rmFreesObjects)+tiny)
	gauge(ms+"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", heapAlloc)
	gauge(ms+"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", heapInuse+heapIdle)
	gauge(ms+"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", heapIdle)
	gauge(ms+"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", heapInuse)
	gauge(ms+"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", heapReleased)
	gauge(ms+"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", rm(rmHeapObjects))
	gauge(ms+"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", stackInuse)
	gauge(ms+"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", stackInuse+rm(rmOSStacks))
	gauge(ms+"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", mspanInuse)
	gauge(ms+"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", mspanInuse+rm(rmMSpanFree))
	gauge(ms+"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", mcacheInuse)
	gauge(ms+"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", mcacheInuse+rm(rmMCacheFree))
	gauge(ms+"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", rm(rmBuckets))
	gauge(ms+"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", rm(rmMetaOther))
	gauge(ms+"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", rm(rmOther))
	gauge(ms+"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", rm(rmHeapGoal))
}

// goName is client_golang's name for a runtime/metrics metric:
// "/sched/gomaxprocs:threads" is go_sched_gomaxprocs_threads.
func goName(rm string) string {
	path, unit, _ := strings.Cut(rm, ":")
	return "go" + strings.NewReplacer("/", "_", "-", "_").Replace(path) + "_" + unit
}

// Process metric help texts, as client_golang's process collector has them.
const (
	helpCPU      = "Total user and system CPU time spent in seconds."
	helpOpenFDs  = "Number of open file descriptors."
	helpMaxFDs   = "Maximum number of open file descriptors."
	helpVSize    = "Virtual memory size in bytes."
	helpMaxVSize = "Maximum amount of virtual memory available in bytes."
	helpRSS      = "Resident memory size in bytes."
	helpStart    = "Start time of the process since unix epoch in seconds."
	helpNetIn    = "Number of bytes received by the process over the network."
	helpNetOut   = "Number of bytes sent by the process over the network."
)

// exposition collects families and writes them in the text format.
type exposition struct {
	families []*family
}

// family is one metric family: a name, its help and type, its samples.
type family struct {
	name, help, typ string
	samples         []sample
}

// sample is one line: the family's name plus suffix ("", "_sum",
// "_count"), label pairs and the value.
type sample struct {
	suffix string
	labels []string // name, value, name, value…
	value  float64
}

func (e *exposition) add(name, help, typ string) *family {
	f := &family{name: name, help: help, typ: typ}
	e.families = append(e.families, f)
	return f
}

func (f *family) sample(suffix string, v float64, labels ...string) {
	f.samples = append(f.samples, sample{suffix: suffix, labels: labels, value: v})
}

// text writes every family, sorted by name; within a family that is not a
// summary the samples are sorted by their label values, as client_golang's
// registry orders them.
func (e *exposition) text() []byte {
	slices.SortFunc(e.families, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	b := make([]byte, 0, 12<<10)
	for _, f := range e.families {
		if f.typ != "summary" {
			slices.SortStableFunc(f.samples, func(x, y sample) int { return slices.Compare(x.labels, y.labels) })
		}
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.typ...)
		b = append(b, '\n')
		for _, s := range f.samples {
			b = append(b, f.name...)
			b = append(b, s.suffix...)
			if len(s.labels) > 0 {
				b = append(b, '{')
				for i := 0; i < len(s.labels); i += 2 {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(b, s.labels[i]...)
					b = append(b, `="`...)
					b = appendEscaped(b, s.labels[i+1], true)
					b = append(b, '"')
				}
				b = append(b, '}')
			}
			b = append(b, ' ')
			b = appendFloat(b, s.value)
			b = append(b, '\n')
		}
	}
	return b
}

// appendEscaped escapes backslash and newline, and the double quote in a
// label value (the text format, version 0.0.4).
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes v as expfmt does: the shortest 'g' form, and Inf and
// NaN spelled its way.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
