package stats

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram is log-linear, as in HdrHistogram: values are
// whole microseconds; below subCount each microsecond has its own bucket,
// above it every power of two is split into subCount equal buckets. A
// bucket is thus at most 1/subCount (6.25%) of its value wide, and a
// quantile read from it is within one bucket of the true one.
const (
	subBits  = 4
	subCount = 1 << subBits
	// maxExp caps values at 2^maxExp µs (about 71 minutes); longer
	// requests count in the last bucket.
	maxExp     = 32
	numBuckets = (maxExp - subBits + 1) * subCount
)

// bucketOf returns the bucket index for a duration.
func bucketOf(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	v := uint64(d / time.Microsecond)
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1
	if e >= maxExp {
		return numBuckets - 1
	}
	return (e-subBits+1)*subCount + int((v>>(e-subBits))&(subCount-1))
}

// bucketBounds returns the lowest duration counted in bucket i and the
// bucket's width.
func bucketBounds(i int) (lower, width time.Duration) {
	if i < subCount {
		return time.Duration(i) * time.Microsecond, time.Microsecond
	}
	e := i/subCount + subBits - 1
	sub := uint64(i % subCount)
	shift := uint(e - subBits)
	return time.Duration((subCount+sub)<<shift) * time.Microsecond,
		time.Duration(uint64(1)<<shift) * time.Microsecond
}

// Rolling windows. Both rings below keep one slot per period and reuse a
// slot every len(slots) periods. Rather than clear a slot when its turn
// comes round, which would need writers to wait for the clearing or skip
// it, every counter carries the period it counts for: a writer that finds
// an older period there restarts the count at its own, in the same
// compare-and-swap. Readers only sum counters whose period lies in the
// window they read. So no writer waits, skips or takes a lock.
const (
	periodBits = 24
	periodMask = 1<<periodBits - 1
	countBits  = 64 - periodBits
	countMax   = 1<<countBits - 1
	// staleHorizon is how many periods behind a writer may be and still
	// be told apart from a counter left from an older round.
	staleHorizon = 64
)

// windowCount is a count tagged with its period (modulo 2^periodBits),
// packed in one word.
type windowCount struct{ v atomic.Uint64 }

// add adds n (>= 0) to the count for period p.
func (w *windowCount) add(p, n int64) {
	tag := uint64(p) & periodMask
	for {
		old := w.v.Load()
		var next uint64
		switch ahead := (old>>countBits - tag) & periodMask; {
		case ahead == 0:
			next = old + min(uint64(n), countMax-old&countMax)
		case ahead <= staleHorizon:
			// The counter already serves a later period: this
			// writer read the clock a while ago. Its count is
			// stale, and restarting would lose the newer ones.
			return
		default:
			next = tag<<countBits | min(uint64(n), countMax)
		}
		if w.v.CompareAndSwap(old, next) {
			return
		}
	}
}

// get returns the count if it belongs to a period from p-past to p.
func (w *windowCount) get(p, past int64) int64 {
	v := w.v.Load()
	if age := (uint64(p) - v>>countBits) & periodMask; age <= uint64(past) {
		return int64(v & countMax)
	}
	return 0
}

// histogram counts one period's durations into buckets.
type histogram struct {
	counts [numBuckets]windowCount
}

// addTo adds h's counts for periods p-past to p into dst.
func (h *histogram) addTo(dst *[numBuckets]int64, p, past int64) {
	for i := range h.counts {
		dst[i] += h.counts[i].get(p, past)
	}
}

// quantiles reads the q-quantiles (each 0 < q <= 1) from merged counts,
// returning each as the middle of its bucket, and the total count. With
// no samples every quantile is zero.
func quantiles(counts *[numBuckets]int64, qs []float64, out []time.Duration) (total int64) {
	for _, n := range counts {
		total += n
	}
	for j := range out {
		out[j] = 0
	}
	if total == 0 {
		return 0
	}
	for j, q := range qs {
		// rank is the 1-based position of the sample that is the
		// q-quantile: the smallest one with at least q of all at or
		// below it.
		rank := int64(q*float64(total) + 0.999999)
		if rank < 1 {
			rank = 1
		}
		var seen int64
		for i, n := range counts {
			seen += n
			if seen >= rank {
				lower, width := bucketBounds(i)
				out[j] = lower + width/2
				break
			}
		}
	}
	return total
}

const (
	// latencyPeriod is one slot of the latency window.
	latencyPeriod = 10 * time.Second
	// latencyPast is how many complete periods a quantile covers besides
	// the current, partial one: together 60 to 70 seconds.
	latencyPast  = 6
	latencySlots = latencyPast + 1
)

// latencySlot holds one period's latency histograms.
type latencySlot struct {
	total histogram
	ttfb  histogram
}

// latencyRing is the rolling 60-second latency window.
type latencyRing struct {
	slots [latencySlots]latencySlot
}

func (r *latencyRing) record(now time.Time, total, ttfb time.Duration) {
	p := now.UnixNano() / int64(latencyPeriod)
	s := &r.slots[p%latencySlots]
	s.total.counts[bucketOf(total)].add(p, 1)
	if ttfb > 0 {
		s.ttfb.counts[bucketOf(ttfb)].add(p, 1)
	}
}

// read merges the window ending in now's period into total and ttfb.
func (r *latencyRing) read(now time.Time, total, ttfb *[numBuckets]int64) {
	p := now.UnixNano() / int64(latencyPeriod)
	for i := range r.slots {
		r.slots[i].total.addTo(total, p, latencyPast)
		r.slots[i].ttfb.addTo(ttfb, p, latencyPast)
	}
}

const (
	// ratePast is how many complete seconds the slow rates cover; the
	// fast rate covers the last complete second.
	ratePast  = 10
	rateSlots = ratePast + 1
)

// rateSlot holds one second's counts.
type rateSlot struct {
	requests, errors, bytesIn, bytesOut windowCount
}

// rateRing is the rolling per-second window behind the rates.
type rateRing struct {
	slots [rateSlots]rateSlot
}

// slot returns the current second and its slot.
func (r *rateRing) slot(now time.Time) (int64, *rateSlot) {
	p := now.UnixNano() / int64(time.Second)
	return p, &r.slots[p%rateSlots]
}

// rateCounts is a sum of rate slots.
type rateCounts struct {
	requests, errors, bytesIn, bytesOut int64
}

// read sums the complete seconds from now-past to now-1.
func (r *rateRing) read(now time.Time, past int64) rateCounts {
	// Complete seconds only: the window ends at the previous second.
	p := now.UnixNano()/int64(time.Second) - 1
	var c rateCounts
	for i := range r.slots {
		s := &r.slots[i]
		c.requests += s.requests.get(p, past-1)
		c.errors += s.errors.get(p, past-1)
		c.bytesIn += s.bytesIn.get(p, past-1)
		c.bytesOut += s.bytesOut.get(p, past-1)
	}
	return c
}
