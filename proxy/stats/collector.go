package stats

import (
	"sync/atomic"
	"time"
)

// Sample describes one finished request, as the proxy reports it.
type Sample struct {
	// Status is the status code sent to the client (0 if none was sent).
	Status int
	// BytesIn counts request body bytes read from the client, less what
	// was already reported through Transferred.
	BytesIn int64
	// BytesOut counts response body bytes written to the client, less
	// what was already reported through Transferred.
	BytesOut int64
	// Duration runs from the first byte of the request head to the last
	// byte of the response.
	Duration time.Duration
	// TTFB runs from the first byte of the request head to the first
	// byte of the response head sent to the client. Zero means no
	// response was sent; it then stays out of the TTFB quantiles.
	TTFB time.Duration
	// Err is why the request failed; ErrNone if it did not.
	Err ErrKind
	// Inspected is true for a decrypted HTTPS exchange (package inspect).
	Inspected bool
}

// DNSStats are the resolver's figures, as Snapshot shows them. The app
// adapts the resolver's own statistics to this shape, so that stats does
// not import the resolver.
type DNSStats struct {
	// Lookups counts names asked of the resolver.
	Lookups int64 `json:"lookups"`
	// Hits counts lookups answered from a fresh cache entry.
	Hits int64 `json:"hits"`
	// Misses counts lookups that had to query a server.
	Misses int64 `json:"misses"`
	// Stale counts lookups answered from an expired entry because every
	// server failed.
	Stale int64 `json:"stale"`
	// NegativeHits counts lookups answered from a cached "no such name".
	NegativeHits int64 `json:"negative_hits"`
	// Entries is the number of names in the cache now.
	Entries int64 `json:"entries"`
	// QueryP50 and QueryP99 are quantiles of the time a query to a
	// server took.
	QueryP50 time.Duration `json:"query_p50_ns"`
	QueryP99 time.Duration `json:"query_p99_ns"`
}

// CacheStats are the response cache's figures, as the cache reports them.
type CacheStats struct {
	// Objects and Bytes are what is stored now.
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Hits counts answers from the cache; Misses lookups that went
	// upstream; Collapsed misses that followed another request's fetch.
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Collapsed int64 `json:"collapsed"`
	// HitRatio is (Hits+Collapsed) over every lookup, 0 with none.
	HitRatio float64 `json:"hit_ratio"`
	// BytesSaved counts body bytes answered without a fetch of their own.
	BytesSaved int64 `json:"bytes_saved"`
}

// Collector is the set of live counters. The zero value is not usable;
// call New. All methods are safe for concurrent use; the recording ones
// take no lock and do not allocate.
type Collector struct {
	requests    atomic.Int64
	inspected   atomic.Int64
	errors      [NumErrKinds]atomic.Int64
	bytesIn     atomic.Int64
	bytesOut    atomic.Int64
	durationSum atomic.Int64 // nanoseconds, for the Prometheus summary
	ttfbSum     atomic.Int64
	ttfbCount   atomic.Int64
	conns       atomic.Int64
	connsTotal  atomic.Int64
	connsPeak   atomic.Int64 // high-water mark since TakeConnsPeak
	tunnels     atomic.Int64
	tunnelTotal atomic.Int64
	reused      atomic.Int64
	dialed      atomic.Int64

	latency latencyRing
	rates   rateRing

	// Figures owned by other parts, read at Snapshot time.
	dropped  atomic.Pointer[func() int64]
	poolIdle atomic.Pointer[func() int]
	dns      atomic.Pointer[func() DNSStats]
	route    atomic.Pointer[func() RouteStats]
	cache    atomic.Pointer[func() (CacheStats, bool)]

	started time.Time
	// now is the clock; tests replace it to step through the windows.
	now func() time.Time
}

// New returns a Collector with every counter at zero.
func New() *Collector {
	return &Collector{started: time.Now(), now: time.Now}
}

// ConnOpened records an accepted client connection.
func (c *Collector) ConnOpened() {
	n := c.conns.Add(1)
	c.connsTotal.Add(1)
	for {
		p := c.connsPeak.Load()
		if n <= p || c.connsPeak.CompareAndSwap(p, n) {
			return
		}
	}
}

// TakeConnsPeak returns the most client connections open at once since
// the last call, and starts a new period at the number open now.
func (c *Collector) TakeConnsPeak() int64 {
	return c.connsPeak.Swap(c.conns.Load())
}

// ConnClosed records a client connection that ended.
func (c *Collector) ConnClosed() { c.conns.Add(-1) }

// TunnelOpened records an established CONNECT or Upgrade tunnel.
func (c *Collector) TunnelOpened() {
	c.tunnels.Add(1)
	c.tunnelTotal.Add(1)
}

// TunnelClosed records the end of a tunnel and the bytes it carried
// that Transferred has not reported yet: up from the client to the
// upstream, down the other way. The bytes join
// the rates in the second the tunnel closes.
func (c *Collector) TunnelClosed(up, down int64) {
	c.tunnels.Add(-1)
	c.bytesIn.Add(up)
	c.bytesOut.Add(down)
	p, r := c.rates.slot(c.now())
	if up != 0 {
		r.bytesIn.add(p, up)
	}
	if down != 0 {
		r.bytesOut.add(p, down)
	}
}

// Transferred adds body bytes moved by a request or tunnel that is still
// running: in from clients, out to them. The proxy reports long transfers
// in steps, so throughput shows while a big download runs rather than all
// at once when it ends; Request and TunnelClosed then count only the rest.
func (c *Collector) Transferred(in, out int64) {
	p, r := c.rates.slot(c.now())
	if in != 0 {
		c.bytesIn.Add(in)
		r.bytesIn.add(p, in)
	}
	if out != 0 {
		c.bytesOut.Add(out)
		r.bytesOut.add(p, out)
	}
}

// Request records a finished request.
func (c *Collector) Request(s *Sample) {
	if s.BytesIn != 0 {
		c.bytesIn.Add(s.BytesIn)
	}
	if s.BytesOut != 0 {
		c.bytesOut.Add(s.BytesOut)
	}
	// Counted after its bytes, so whoever sees the request finished in a
	// snapshot sees its bytes too.
	c.requests.Add(1)
	if s.Inspected {
		c.inspected.Add(1)
	}
	failed := s.Err != ErrNone && s.Err < NumErrKinds
	if failed {
		c.errors[s.Err].Add(1)
	}
	c.durationSum.Add(int64(s.Duration))
	if s.TTFB > 0 {
		c.ttfbSum.Add(int64(s.TTFB))
		c.ttfbCount.Add(1)
	}

	now := c.now()
	p, r := c.rates.slot(now)
	r.requests.add(p, 1)
	if failed {
		r.errors.add(p, 1)
	}
	if s.BytesIn > 0 {
		r.bytesIn.add(p, s.BytesIn)
	}
	if s.BytesOut > 0 {
		r.bytesOut.add(p, s.BytesOut)
	}
	c.latency.record(now, s.Duration, s.TTFB)
}

// UpstreamConn records that a request was sent on a pooled upstream
// connection (reused) or on a newly dialed one.
func (c *Collector) UpstreamConn(reused bool) {
	if reused {
		c.reused.Add(1)
	} else {
		c.dialed.Add(1)
	}
}

// Reused reports how many requests went over a reused upstream connection
// and how many needed a new one.
func (c *Collector) Reused() (reused, dialed int64) {
	return c.reused.Load(), c.dialed.Load()
}

// SetDroppedFunc makes Snapshot report f() as the number of log records
// dropped so far (the log writer counts them). Nil removes it.
func (c *Collector) SetDroppedFunc(f func() int64) {
	if f == nil {
		c.dropped.Store(nil)
		return
	}
	c.dropped.Store(&f)
}

// SetPoolIdleFunc makes Snapshot report f() as the number of idle
// upstream connections in the pool. Nil removes it.
func (c *Collector) SetPoolIdleFunc(f func() int) {
	if f == nil {
		c.poolIdle.Store(nil)
		return
	}
	c.poolIdle.Store(&f)
}

// SetDNSFunc makes Snapshot report f() as the resolver's figures. Nil
// removes them: Snapshot.DNS is then nil, as when the system resolver is
// used.
func (c *Collector) SetDNSFunc(f func() DNSStats) {
	if f == nil {
		c.dns.Store(nil)
		return
	}
	c.dns.Store(&f)
}

// SetRouteFunc makes Snapshot report f()'s routing figures (mode,
// upstream proxies, rule hits). Nil removes them.
func (c *Collector) SetRouteFunc(f func() RouteStats) {
	if f == nil {
		c.route.Store(nil)
		return
	}
	c.route.Store(&f)
}

// SetCacheFunc makes Snapshot report f() as the response cache's
// figures; f reports false, or f is nil, while the cache is off, and
// Snapshot.Cache is then nil.
func (c *Collector) SetCacheFunc(f func() (CacheStats, bool)) {
	if f == nil {
		c.cache.Store(nil)
		return
	}
	c.cache.Store(&f)
}
