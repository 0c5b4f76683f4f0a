package resolver

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the resolver's figures, for the stats endpoint and
// the tray. Counters only grow; Entries and the latencies are current values.
type Stats struct {
	// Lookups counts names looked up; IP literals are not counted.
	Lookups uint64
	// Hits counts lookups answered with fresh cached addresses.
	Hits uint64
	// NegativeHits counts lookups answered "no such host" from the cache.
	NegativeHits uint64
	// Misses counts lookups that had to wait for a server (alone or
	// sharing another lookup's query).
	Misses uint64
	// StaleServed counts lookups answered with expired addresses because
	// every server failed (RFC 8767).
	StaleServed uint64
	// HostsAnswers counts lookups answered by the hosts file or as localhost.
	HostsAnswers uint64
	// Prefetches counts background refreshes started before expiry.
	Prefetches uint64
	// Entries is the number of names in the cache now.
	Entries int
	// Queries counts queries sent to servers, each try on each server once.
	Queries uint64
	// QueryErrors counts queries that failed (timeout, refused, SERVFAIL...).
	QueryErrors uint64
	// LatencyP50 and LatencyP99 are quantiles of the last latencyWindow
	// successful queries; zero before the first.
	LatencyP50, LatencyP99 time.Duration
}

// latencyWindow is how many recent query latencies the quantiles describe.
const latencyWindow = 1024

// stats holds the live counters. The counters are atomics so the cached
// path takes no extra lock; the latency ring has its own mutex and is only
// touched when a server is asked.
type stats struct {
	lookups, hits, negativeHits, misses, stale, hosts, prefetches atomic.Uint64
	queries, queryErrors                                          atomic.Uint64

	mu      sync.Mutex
	latency [latencyWindow]time.Duration
	n       int // how many samples were ever recorded
}

func (s *stats) recordQuery(d time.Duration, err error) {
	s.queries.Add(1)
	if err != nil {
		s.queryErrors.Add(1)
		return
	}
	s.mu.Lock()
	s.latency[s.n%latencyWindow] = d
	s.n++
	s.mu.Unlock()
}

func (s *stats) snapshot() Stats {
	st := Stats{
		Lookups:      s.lookups.Load(),
		Hits:         s.hits.Load(),
		NegativeHits: s.negativeHits.Load(),
		Misses:       s.misses.Load(),
		StaleServed:  s.stale.Load(),
		HostsAnswers: s.hosts.Load(),
		Prefetches:   s.prefetches.Load(),
		Queries:      s.queries.Load(),
		QueryErrors:  s.queryErrors.Load(),
	}
	s.mu.Lock()
	samples := slices.Clone(s.latency[:min(s.n, latencyWindow)])
	s.mu.Unlock()
	if len(samples) > 0 {
		slices.Sort(samples)
		st.LatencyP50 = quantile(samples, 0.50)
		st.LatencyP99 = quantile(samples, 0.99)
	}
	return st
}

// quantile returns the nearest-rank q-quantile of sorted, non-empty samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
