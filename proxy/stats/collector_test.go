package stats

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) advance(d time.Duration) { f.ns.Add(int64(d)) }
func newFakeClock(start time.Time) *fakeClock {
	f := &fakeClock{}
	f.ns.Store(start.UnixNano())
	return f
}

// newTestCollector returns a Collector on a fake clock that starts at a
// whole 10-second boundary, so tests know which window slot they fill.
func newTestCollector() (*Collector, *fakeClock) {
	clk := newFakeClock(time.Unix(1_800_000_000, 0))
	c := New()
	c.now = clk.now
	c.started = clk.now()
	return c, clk
}

func TestBucketBoundsContainTheirValues(t *testing.T) {
	prev := -1
	for v := time.Duration(0); v < 2*time.Hour; v = v*17/16 + time.Microsecond {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%v) = %d, below bucketOf of a smaller value (%d)", v, i, prev)
		}
		prev = i
		lower, width := bucketBounds(i)
		if v >= time.Duration(1<<maxExp)*time.Microsecond {
			if i != numBuckets-1 {
				t.Fatalf("bucketOf(%v) = %d, want the last bucket %d", v, i, numBuckets-1)
			}
			continue
		}
		vu := v.Truncate(time.Microsecond)
		if vu < lower || vu >= lower+width {
			t.Fatalf("bucketOf(%v) = %d with bounds [%v, %v)", v, i, lower, lower+width)
		}
		if lower >= subCount*time.Microsecond && width*subCount > lower {
			t.Fatalf("bucket %d [%v, +%v) is wider than 1/%d of its value", i, lower, width, subCount)
		}
	}
}

func TestQuantilesOfKnownDistributionWithinOneBucket(t *testing.T) {
	c, _ := newTestCollector()
	rng := rand.New(rand.NewPCG(1, 2))
	var totals, ttfbs []time.Duration
	for range 20000 {
		// A long-tailed mix: most requests fast, some slow.
		d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		if rng.IntN(20) == 0 {
			d += time.Duration(rng.IntN(2000)) * time.Millisecond
		}
		ttfb := d / 3
		totals = append(totals, d)
		if ttfb > 0 {
			ttfbs = append(ttfbs, ttfb)
		}
		c.Request(&Sample{Status: 200, Duration: d, TTFB: ttfb})
	}
	s := c.Snapshot()
	check := func(name string, got Latency, samples []time.Duration) {
		t.Helper()
		slices.Sort(samples)
		if got.Count != int64(len(samples)) {
			t.Errorf("%s count = %d, want %d", name, got.Count, len(samples))
		}
		for _, q := range []struct {
			level float64
			got   time.Duration
		}{{0.50, got.P50}, {0.95, got.P95}, {0.99, got.P99}} {
			rank := int(q.level*float64(len(samples))+0.999999) - 1
			want := samples[rank]
			_, width := bucketBounds(bucketOf(want))
			if diff := (q.got - want).Abs(); diff > width {
				t.Errorf("%s p%v = %v, true %v: off by %v, more than one bucket (%v)",
					name, q.level*100, q.got, want, diff, width)
			}
		}
	}
	check("latency", s.Latency, totals)
	check("ttfb", s.TTFB, ttfbs)
}

func TestLatencyWindowForgetsOldSamples(t *testing.T) {
	c, clk := newTestCollector()
	for range 100 {
		c.Request(&Sample{Duration: 5 * time.Second})
	}
	clk.advance(30 * time.Second)
	for range 100 {
		c.Request(&Sample{Duration: time.Millisecond})
	}
	s := c.Snapshot()
	if s.Latency.Count != 200 || s.Latency.P99 < 4*time.Second {
		t.Fatalf("30s later: latency %+v, want both batches (200, p99 ≈ 5s)", s.Latency)
	}
	// 80 s after the first batch, it has left the window; the second,
	// 50 s old, is still in it.
	clk.advance(50 * time.Second)
	s = c.Snapshot()
	if s.Latency.Count != 100 || s.Latency.P99 > 2*time.Millisecond {
		t.Fatalf("80s later: latency %+v, want only the 1ms batch", s.Latency)
	}
	clk.advance(2 * time.Minute)
	c.Request(&Sample{Duration: 3 * time.Millisecond})
	s = c.Snapshot()
	if s.Latency.Count != 1 {
		t.Fatalf("after a long idle: latency count %d, want 1 (stale slots cleared)", s.Latency.Count)
	}
	if s.Requests != 201 || s.LatencySum != 100*5*time.Second+100*time.Millisecond+3*time.Millisecond {
		t.Fatalf("totals: requests %d, latency sum %v", s.Requests, s.LatencySum)
	}
}

func TestRatesOverOneAndTenSeconds(t *testing.T) {
	c, clk := newTestCollector()
	// Ten seconds, each with i+1 requests of 100 bytes in and 1000 out,
	// one of them failed.
	for i := range 10 {
		for range i + 1 {
			c.Request(&Sample{BytesIn: 100, BytesOut: 1000})
		}
		c.Request(&Sample{Err: ErrRefused})
		clk.advance(time.Second)
	}
	s := c.Snapshot()
	// The last complete second had 10 good requests and 1 error.
	if want := (Rates{Requests: 11, Errors: 1, BytesIn: 1000, BytesOut: 10000}); s.Rate1s != want {
		t.Errorf("Rate1s = %+v, want %+v", s.Rate1s, want)
	}
	// Ten seconds: 55 good + 10 errors.
	if want := (Rates{Requests: 6.5, Errors: 1, BytesIn: 550, BytesOut: 5500}); s.Rate10s != want {
		t.Errorf("Rate10s = %+v, want %+v", s.Rate10s, want)
	}
	if want := 10.0 / 65; s.ErrorRate != want {
		t.Errorf("ErrorRate = %v, want %v", s.ErrorRate, want)
	}
	// A tunnel's bytes join the rates in the second it closes.
	c.TunnelOpened()
	c.TunnelClosed(7, 9)
	clk.advance(time.Second)
	s = c.Snapshot()
	if want := (Rates{BytesIn: 7, BytesOut: 9}); s.Rate1s != want {
		t.Errorf("Rate1s after a tunnel = %+v, want %+v", s.Rate1s, want)
	}
	// Idle for a minute: every rate falls to zero.
	clk.advance(time.Minute)
	if s = c.Snapshot(); s.Rate1s != (Rates{}) || s.Rate10s != (Rates{}) || s.ErrorRate != 0 {
		t.Errorf("idle: Rate1s %+v Rate10s %+v ErrorRate %v, want zeros", s.Rate1s, s.Rate10s, s.ErrorRate)
	}
}

func TestRateJustAfterStartIsNotDiluted(t *testing.T) {
	c, clk := newTestCollector()
	for range 4 {
		for range 10 {
			c.Request(&Sample{})
		}
		clk.advance(time.Second)
	}
	if s := c.Snapshot(); s.Rate10s.Requests != 10 {
		t.Fatalf("4 s after the start at 10 rps: Rate10s.Requests = %v, want 10", s.Rate10s.Requests)
	}
}

func TestCountersAndGaugesAreExact(t *testing.T) {
	c, clk := newTestCollector()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c.ConnOpened()
				s := Sample{Status: 200, BytesIn: int64(w), BytesOut: int64(i), Duration: time.Millisecond, TTFB: time.Microsecond * 500}
				if i%10 == 0 {
					s.Err = ErrUpstreamTimeout
				}
				c.Request(&s)
				c.UpstreamConn(i%4 != 0)
				c.TunnelOpened()
				c.TunnelClosed(1, 2)
				c.ConnClosed()
				if i == each/2 {
					clk.advance(time.Second / 8)
				}
			}
		})
	}
	wg.Wait()
	s := c.Snapshot()
	n := int64(workers * each)
	var wantIn, wantOut int64
	for w := range workers {
		wantIn += int64(w*each) + each // request bytes + tunnel up bytes
	}
	wantOut = workers*int64(each*(each-1)/2) + 2*n
	if s.Requests != n || s.ConnsTotal != n || s.TunnelsTotal != n || s.ConnsActive != 0 || s.TunnelsActive != 0 {
		t.Errorf("requests %d conns %d/%d tunnels %d/%d, want %d and none active",
			s.Requests, s.ConnsTotal, s.ConnsActive, s.TunnelsTotal, s.TunnelsActive, n)
	}
	if s.BytesIn != wantIn || s.BytesOut != wantOut {
		t.Errorf("bytes in %d out %d, want %d and %d", s.BytesIn, s.BytesOut, wantIn, wantOut)
	}
	if wantErr := int64(workers * each / 10); s.Errors != wantErr || s.ErrorsByKind["upstream_timeout"] != wantErr {
		t.Errorf("errors %d (%v), want %d upstream_timeout", s.Errors, s.ErrorsByKind, wantErr)
	}
	if s.Upstream.Reused != n*3/4 || s.Upstream.Dialed != n/4 || s.Upstream.ReuseRatio != 0.75 {
		t.Errorf("upstream %+v, want 3/4 reused", s.Upstream)
	}
	if s.Latency.Count != n || s.TTFB.Count != n || s.TTFBCount != n {
		t.Errorf("window counts %d/%d, ttfb count %d, want %d", s.Latency.Count, s.TTFB.Count, s.TTFBCount, n)
	}
	if len(s.ErrorsByKind) != int(NumErrKinds)-1 {
		t.Errorf("ErrorsByKind has %d kinds, want every kind but none (%d)", len(s.ErrorsByKind), NumErrKinds-1)
	}
}

func TestSnapshotReadsAttachedFigures(t *testing.T) {
	c, _ := newTestCollector()
	if s := c.Snapshot(); s.DNS != nil || s.LogsDropped != 0 || s.Upstream.PoolIdle != 0 {
		t.Fatalf("nothing attached: DNS %v dropped %d idle %d", s.DNS, s.LogsDropped, s.Upstream.PoolIdle)
	}
	dns := DNSStats{Lookups: 10, Hits: 7, Misses: 3, Entries: 3, QueryP50: time.Millisecond}
	c.SetDNSFunc(func() DNSStats { return dns })
	c.SetDroppedFunc(func() int64 { return 42 })
	c.SetPoolIdleFunc(func() int { return 5 })
	s := c.Snapshot()
	if s.DNS == nil || *s.DNS != dns || s.LogsDropped != 42 || s.Upstream.PoolIdle != 5 {
		t.Fatalf("attached: DNS %+v dropped %d idle %d", s.DNS, s.LogsDropped, s.Upstream.PoolIdle)
	}
	c.SetDNSFunc(nil)
	if s := c.Snapshot(); s.DNS != nil {
		t.Fatalf("DNS func removed, still %+v", s.DNS)
	}
}

func TestRequestDoesNotAllocate(t *testing.T) {
	c := New()
	s := &Sample{Status: 200, BytesIn: 10, BytesOut: 1000, Duration: 3 * time.Millisecond, TTFB: time.Millisecond, Err: ErrUpstream}
	if n := testing.AllocsPerRun(1000, func() { c.Request(s) }); n != 0 {
		t.Fatalf("Request allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		c.ConnOpened()
		c.TunnelOpened()
		c.TunnelClosed(1, 2)
		c.UpstreamConn(true)
		c.ConnClosed()
	}); n != 0 {
		t.Fatalf("connection and tunnel updates allocate %v times, want 0", n)
	}
}

func BenchmarkRequest(b *testing.B) {
	c := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := &Sample{Status: 200, BytesIn: 10, BytesOut: 1000, Duration: 3 * time.Millisecond, TTFB: time.Millisecond}
		for pb.Next() {
			c.Request(s)
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	c := New()
	for i := range 1000 {
		c.Request(&Sample{Duration: time.Duration(i) * time.Microsecond})
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Snapshot()
	}
}

func TestWindowCountKeepsItsPeriod(t *testing.T) {
	var w windowCount
	const p = 1<<periodBits + 12345 // past a wrap of the tag
	w.add(p, 3)
	w.add(p, 4)
	if got := w.get(p, 0); got != 7 {
		t.Fatalf("same period: %d, want 7", got)
	}
	if got := w.get(p+5, 4); got != 0 {
		t.Fatalf("read 5 periods later with a 4-period window: %d, want 0", got)
	}
	if got := w.get(p+4, 4); got != 7 {
		t.Fatalf("read 4 periods later with a 4-period window: %d, want 7", got)
	}
	// A writer with a stale clock must not wipe a newer count.
	w.add(p-1, 100)
	if got := w.get(p, 0); got != 7 {
		t.Fatalf("after a stale write: %d, want 7", got)
	}
	// The next round restarts the count.
	w.add(p+11, 2)
	if got, old := w.get(p+11, 0), w.get(p, 0); got != 2 || old != 0 {
		t.Fatalf("next round: %d and old period %d, want 2 and 0", got, old)
	}
	// Counts saturate rather than spill into the tag.
	w.add(p+11, countMax)
	if got := w.get(p+11, 0); got != countMax {
		t.Fatalf("saturated count %d, want %d", got, int64(countMax))
	}
}

func TestTakeConnsPeak(t *testing.T) {
	c := New()
	for range 5 {
		c.ConnOpened()
	}
	for range 3 {
		c.ConnClosed()
	}
	if got := c.TakeConnsPeak(); got != 5 {
		t.Fatalf("peak = %d, want 5", got)
	}
	// A new period starts at the 2 still open.
	if got := c.TakeConnsPeak(); got != 2 {
		t.Fatalf("peak after take = %d, want 2 (open now)", got)
	}
	c.ConnOpened()
	if got := c.TakeConnsPeak(); got != 3 {
		t.Fatalf("peak = %d, want 3", got)
	}
}
