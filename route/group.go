package route

import (
	"net/url"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// Group strategies.
const (
	StrategyFailover       = "failover"
	StrategyRoundRobin     = "round-robin"
	StrategyLeastLatency   = "least-latency"
	StrategySelect         = "select"
	StrategyConsistentHash = "consistent-hash"
)

var strategies = []string{StrategyFailover, StrategyRoundRobin, StrategyLeastLatency, StrategySelect, StrategyConsistentHash}

// upstream is one [[upstream]] and its health. Health is kept per
// upstream, not per group: a parent that is down is down for every group
// it is in. It is checked when some group has it as a member, with the
// check_url and check_interval of the first such group.
type upstream struct {
	p       *proxy.Upstream
	url     *url.URL // for the health check's transport
	display string   // the URL without its password
	seed    uint64   // consistent-hash's per-member salt

	checked       bool
	checkURL      string
	checkInterval time.Duration

	down      atomic.Bool
	rtt       atomic.Int64 // the last good check's round trip, ns; 0 before one
	lastCheck atomic.Int64 // unix ns of the last check; 0 before one
	lastErr   atomic.Pointer[string]
	// recheck asks the checker for a check soon, after a real request
	// failed; one waiting signal is enough.
	recheck chan struct{}
}

// report is the Upstream.Report the relay calls after each real request:
// a failure marks the parent down at once and asks for a recheck; a
// success marks it up.
func (u *upstream) report(ok bool, _ time.Duration) {
	if ok {
		u.down.Store(false)
		return
	}
	u.down.Store(true)
	select {
	case u.recheck <- struct{}{}:
	default:
	}
}

// group is one [[group]].
type group struct {
	name, strategy string
	members        []*upstream
	rr             atomic.Uint32
	selected       atomic.Int32 // select's choice, an index into members
}

// pick returns the member to use for host now, or nil when every member
// is down. It reads only atomics: no lock, no allocation.
func (g *group) pick(host []byte) *upstream {
	n := len(g.members)
	switch g.strategy {
	case StrategySelect:
		// The user's explicit choice stands even while its checks fail:
		// the tray shows the state and offers the others.
		return g.members[g.selected.Load()]
	case StrategyRoundRobin:
		start := int(g.rr.Add(1) - 1)
		for k := range n {
			if m := g.members[(start+k)%n]; !m.down.Load() {
				return m
			}
		}
	case StrategyLeastLatency:
		var best *upstream
		bestRTT := int64(0)
		for _, m := range g.members {
			if m.down.Load() {
				continue
			}
			// Not yet measured counts as slowest, so a measured member
			// is preferred; among unmeasured ones, the first.
			rtt := m.rtt.Load()
			if rtt == 0 {
				rtt = 1 << 62
			}
			if best == nil || rtt < bestRTT {
				best, bestRTT = m, rtt
			}
		}
		return best
	case StrategyConsistentHash:
		// Rendezvous hashing: each host goes to the healthy member with
		// the highest score for it, so a member going down moves only
		// the hosts it had, and coming back takes back only those.
		h := hashHost(host)
		var best *upstream
		bestScore := uint64(0)
		for _, m := range g.members {
			if m.down.Load() {
				continue
			}
			if s := mix(h ^ m.seed); best == nil || s > bestScore {
				best, bestScore = m, s
			}
		}
		return best
	default: // failover
		for _, m := range g.members {
			if !m.down.Load() {
				return m
			}
		}
	}
	return nil
}

// hashHost is FNV-1a over the host in lower case.
func hashHost(host []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64's finalizer: it spreads the combined hash so that
// scores of different members are independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
