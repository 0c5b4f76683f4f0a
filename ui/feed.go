package ui

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// maxWatchers bounds the pages watching at once, and so the feed's
// memory: each holds a small batch and write buffer (about 100 KiB).
const maxWatchers = 16

// pointsKept is the charts' span: one point a second for 5 minutes.
const pointsKept = 300

// Sources are the figures the dashboard shows besides the traffic, read
// when shown. A nil func means that part does not exist here: the system
// resolver has no cache to list, and without routing there are no
// upstreams to check.
type Sources struct {
	// Stats are the live counters. Required.
	Stats *stats.Collector
	// ConfigError is the last reload's error, shown at the top.
	ConfigError func() error
	// DNSNames lists up to max cached names; FlushDNS empties the cache
	// and returns how many names it held. Both report false while
	// Sluice's resolver is off ([dns] enabled = false).
	DNSNames func(max int) ([]DNSName, bool)
	FlushDNS func() (int, bool)
	// PoolByHost is the idle pooled upstream connections per host:port.
	PoolByHost func() map[string]int
	// Upstreams is the routing's upstream proxies and their health; nil
	// until routing exists.
	Upstreams func() []Upstream
	// Alerts are the alerts raised and not yet over, one line each.
	Alerts func() []string
	// Capture is told when the first page starts watching (true) and the
	// last one stops (false): proxy.Server.CaptureHeads.
	Capture func(on bool)
}

// DNSName is one cached name for the DNS panel.
type DNSName struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs"`
	// TTL is the time left, in seconds; negative once expired and kept
	// to be served stale.
	TTL float64 `json:"ttl_s"`
}

// Upstream is one upstream proxy for the upstreams panel, as routing
// reports it.
type Upstream struct {
	Name      string  `json:"name"`
	Addr      string  `json:"addr"`
	Up        bool    `json:"up"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	RTTMillis float64 `json:"rtt_ms"`
	LastError string  `json:"last_error,omitempty"`
}

// Feed keeps the traffic records and serves the dashboard. It is a
// proxy.AccessLogger: the app hands it every access record beside the
// access log. While no page watches, LogAccess is one atomic load and
// keeps nothing; while one does, it copies the record into the ring (no
// allocation) and the proxy captures heads.
type Feed struct {
	src Sources

	watchers atomic.Int32
	ring     atomic.Pointer[ring] // made when the first page watches
	off      atomic.Bool          // [ui] enabled = false: streams end

	mu      sync.Mutex // guards history and the ring's replacement
	history int

	snapMu   sync.Mutex
	snapSec  int64
	snapJSON []byte
	points   [pointsKept]point
	npoints  int // points held, up to pointsKept; the newest is at npoints-1 mod pointsKept after pstart
	pstart   int
}

// New returns a Feed keeping history records (0: DefaultHistory).
func New(src Sources, history int) *Feed {
	f := &Feed{src: src}
	f.SetHistory(history)
	return f
}

// SetHistory changes how many records the ring keeps (0: DefaultHistory);
// a different size starts an empty ring.
func (f *Feed) SetHistory(n int) {
	if n <= 0 {
		n = DefaultHistory
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = n
	if r := f.ring.Load(); r != nil && r.size() != n {
		f.ring.Store(newRing(n))
	}
}

// SetEnabled follows [ui] enabled: off, the streams still open end (the
// app stops routing /ui to the feed for new requests).
func (f *Feed) SetEnabled(on bool) { f.off.Store(!on) }

// Idle reports that no page watches: the relay then builds no record for
// the feed (proxy.AccessIdler).
func (f *Feed) Idle() bool { return f.watchers.Load() == 0 }

// LogAccess records a finished request while a page watches. It does not
// block for long (one short lock) and keeps nothing of rec but its
// strings, which are immutable.
func (f *Feed) LogAccess(rec *proxy.AccessRecord) {
	if f.watchers.Load() == 0 {
		return
	}
	if r := f.ring.Load(); r != nil {
		r.put(rec)
	}
}

// Watchers returns how many pages watch now.
func (f *Feed) Watchers() int { return int(f.watchers.Load()) }

// watch registers a page; false when maxWatchers already watch.
func (f *Feed) watch() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchers.Load() >= maxWatchers {
		return false
	}
	if f.ring.Load() == nil {
		f.ring.Store(newRing(f.history))
	}
	if f.watchers.Add(1) == 1 && f.src.Capture != nil {
		f.src.Capture(true)
	}
	return true
}

func (f *Feed) unwatch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchers.Add(-1) == 0 && f.src.Capture != nil {
		f.src.Capture(false)
	}
}

// point is one second of the charts.
type point struct {
	t                 int64 // Unix seconds
	rps, eps, in, out float64
	p50, p95, p99     float64 // milliseconds
	conns, tunnels    int64
}

// snapshot is the once-a-second summary the page gets.
type snapshot struct {
	Time     int64   `json:"t"` // Unix milliseconds
	RPS      float64 `json:"rps"`
	EPS      float64 `json:"eps"`
	In       float64 `json:"in"`  // bytes/s from clients
	Out      float64 `json:"out"` // bytes/s to clients
	P50      float64 `json:"p50"` // milliseconds, over the last minute
	P95      float64 `json:"p95"`
	P99      float64 `json:"p99"`
	Conns    int64   `json:"conns"`
	Tunnels  int64   `json:"tunnels"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	// ErrorRate is the share of requests that failed over the last 10s.
	ErrorRate   float64     `json:"error_rate"`
	DNS         *dnsFigures `json:"dns"` // null with the system resolver
	Pool        poolFigures `json:"pool"`
	ConfigError string      `json:"config_error,omitempty"`
	Alerts      []string    `json:"alerts"`
	Watchers    int         `json:"watchers"`
	History     int         `json:"history"`
}

type dnsFigures struct {
	Entries  int64   `json:"entries"`
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	HitRatio float64 `json:"hit_ratio"`
}

type poolFigures struct {
	Idle       int64   `json:"idle"`
	Reused     int64   `json:"reused"`
	Dialed     int64   `json:"dialed"`
	ReuseRatio float64 `json:"reuse_ratio"`
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// tick returns this second's snapshot as JSON, making it (and the
// second's chart point) if no page has yet. The slice is never modified
// afterwards, so pages write it without the lock.
func (f *Feed) tick(now time.Time) []byte {
	f.snapMu.Lock()
	defer f.snapMu.Unlock()
	if now.Unix() == f.snapSec && f.snapJSON != nil {
		return f.snapJSON
	}
	s := f.src.Stats.Snapshot()
	snap := snapshot{
		Time: now.UnixMilli(), RPS: s.Rate1s.Requests, EPS: s.Rate1s.Errors,
		In: s.Rate1s.BytesIn, Out: s.Rate1s.BytesOut,
		P50: millis(s.Latency.P50), P95: millis(s.Latency.P95), P99: millis(s.Latency.P99),
		Conns: s.ConnsActive, Tunnels: s.TunnelsActive, Requests: s.Requests, Errors: s.Errors,
		ErrorRate: s.ErrorRate,
		Pool:      poolFigures{Idle: s.Upstream.PoolIdle, Reused: s.Upstream.Reused, Dialed: s.Upstream.Dialed, ReuseRatio: s.Upstream.ReuseRatio},
		Alerts:    []string{},
		Watchers:  f.Watchers(),
	}
	if d := s.DNS; d != nil {
		hits := d.Hits + d.NegativeHits
		snap.DNS = &dnsFigures{Entries: d.Entries, Hits: hits, Misses: d.Misses}
		if n := hits + d.Misses; n > 0 {
			snap.DNS.HitRatio = float64(hits) / float64(n)
		}
	}
	if f.src.ConfigError != nil {
		if err := f.src.ConfigError(); err != nil {
			snap.ConfigError = err.Error()
		}
	}
	if f.src.Alerts != nil {
		snap.Alerts = append(snap.Alerts, f.src.Alerts()...)
	}
	if r := f.ring.Load(); r != nil {
		snap.History = r.size()
	}
	b, err := json.Marshal(snap)
	if err != nil {
		panic(err) // a struct of numbers and strings always marshals
	}
	f.snapSec, f.snapJSON = now.Unix(), b
	f.addPoint(point{t: now.Unix(), rps: snap.RPS, eps: snap.EPS, in: snap.In, out: snap.Out,
		p50: snap.P50, p95: snap.P95, p99: snap.P99, conns: snap.Conns, tunnels: snap.Tunnels})
	return b
}

func (f *Feed) addPoint(p point) {
	if f.npoints < pointsKept {
		f.points[(f.pstart+f.npoints)%pointsKept] = p
		f.npoints++
		return
	}
	f.points[f.pstart] = p
	f.pstart = (f.pstart + 1) % pointsKept
}

// appendHistory appends the chart points kept, oldest first, as a JSON
// array of [t, rps, eps, in, out, p50, p95, p99, conns, tunnels].
func (f *Feed) appendHistory(b []byte) []byte {
	f.snapMu.Lock()
	defer f.snapMu.Unlock()
	b = append(b, '[')
	for i := 0; i < f.npoints; i++ {
		p := &f.points[(f.pstart+i)%pointsKept]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, p.t, 10)
		for _, v := range []float64{p.rps, p.eps, p.in, p.out, p.p50, p.p95, p.p99, float64(p.conns), float64(p.tunnels)} {
			b = append(b, ',')
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}
