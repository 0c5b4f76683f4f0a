package cache

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"
)

// counters are the cache's running totals.
type counters struct {
	hits, misses, collapsed, collapseTimeouts atomic.Int64
	revalidated, invalidations                atomic.Int64
	bytesServed                               atomic.Int64
}

// hit counts an answer served from the cache, with its body bytes.
func (s *counters) hit(l *Lookup) {
	s.hits.Add(1)
	s.hitBytes(l)
}

// hitBytes counts the body bytes an answer takes from the cache.
func (s *counters) hitBytes(l *Lookup) {
	if l.req.Method != "HEAD" && l.Status != 304 {
		s.bytesServed.Add(l.RangeLen)
	}
}

// Followed counts the body bytes a Follow answer read from another
// request's fetch: bytes the origin did not send twice.
func (l *Lookup) Followed(n int64) { l.c.st.bytesServed.Add(n) }

// Stats are the cache's figures.
type Stats struct {
	// Objects and Bytes are what is stored; MemoryBytes and DiskBytes
	// what each tier holds.
	Objects     int64 `json:"objects"`
	Bytes       int64 `json:"bytes"`
	MemoryBytes int64 `json:"memory_bytes"`
	DiskBytes   int64 `json:"disk_bytes"`
	// Hits counts answers from the cache without contacting the origin;
	// Misses the lookups that went upstream (Revalidated of them were
	// answered 304 and served the stored body); Collapsed the misses
	// that followed another request's fetch instead.
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Collapsed int64 `json:"collapsed"`
	// CollapseTimeouts counts followers that gave up waiting for a
	// fetch's head and went upstream themselves.
	CollapseTimeouts int64 `json:"collapse_timeouts"`
	Revalidated      int64 `json:"revalidated"`
	Invalidations    int64 `json:"invalidations"`
	// HitRatio is (Hits+Collapsed) over every lookup, 0 with none.
	HitRatio float64 `json:"hit_ratio"`
	// BytesSaved counts body bytes answered without an upstream fetch
	// of their own.
	BytesSaved int64 `json:"bytes_saved"`
	// TopHosts lists the hosts with the most bytes stored, at most ten.
	TopHosts []HostBytes `json:"top_hosts,omitempty"`
}

// HostBytes is one host's share of the cache.
type HostBytes struct {
	Host    string `json:"host"`
	Objects int64  `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// Stats returns the cache's figures; with hosts, the top hosts too
// (which walks the index).
func (c *Cache) Stats(hosts bool) Stats {
	s := Stats{
		Hits: c.st.hits.Load(), Misses: c.st.misses.Load(), Collapsed: c.st.collapsed.Load(),
		CollapseTimeouts: c.st.collapseTimeouts.Load(), Revalidated: c.st.revalidated.Load(),
		Invalidations: c.st.invalidations.Load(), BytesSaved: c.st.bytesServed.Load(),
	}
	if n := s.Hits + s.Misses + s.Collapsed; n > 0 {
		s.HitRatio = float64(s.Hits+s.Collapsed) / float64(n)
	}
	by := map[string]*HostBytes{}
	c.mu.Lock()
	s.MemoryBytes, s.DiskBytes = c.memBytes, c.diskBytes
	for _, vs := range c.index {
		for _, o := range vs {
			s.Objects++
			s.Bytes += o.size
			if hosts {
				h := by[o.host]
				if h == nil {
					h = &HostBytes{Host: o.host}
					by[o.host] = h
				}
				h.Objects++
				h.Bytes += o.size
			}
		}
	}
	c.mu.Unlock()
	for _, h := range by {
		s.TopHosts = append(s.TopHosts, *h)
	}
	slices.SortFunc(s.TopHosts, func(a, b HostBytes) int {
		if a.Bytes != b.Bytes {
			return cmp.Compare(b.Bytes, a.Bytes)
		}
		return strings.Compare(a.Host, b.Host)
	})
	if len(s.TopHosts) > 10 {
		s.TopHosts = s.TopHosts[:10]
	}
	return s
}
