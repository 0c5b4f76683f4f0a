package resolver

import (
	"net/netip"
	"time"
)

// The two address families an entry holds, each with its own TTL: an
// IPv4-only name's empty AAAA answer (negative TTL, often short) must not
// make its A answer (often long) expire early.
const (
	famA    = 0
	famAAAA = 1
)

// prefetchHits is how many hits within one TTL make a name popular enough
// to refresh before it expires (CoreDNS's prefetch default is also 2).
const prefetchHits = 2

// family is the cached answer for one name and one type.
type family struct {
	// addrs is empty for negative answers.
	addrs []netip.Addr
	// ttl is the clamped TTL the answer was stored with.
	ttl time.Duration
	// expires is when the answer stops being fresh.
	expires time.Time
	// negative is NXDOMAIN or NODATA; nxdomain only the former.
	negative, nxdomain bool
	// set tells a stored answer from the zero value.
	set bool
}

// due reports whether the answer must be fetched again: it is missing,
// expired, or (for prefetch) within the last tenth of its TTL.
func (f *family) due(now time.Time, prefetchWindow bool) bool {
	if !f.set || !now.Before(f.expires) {
		return true
	}
	return prefetchWindow && !now.Before(f.expires.Add(-f.ttl/10))
}

// entry is one cached name: both families, the addresses handed to callers,
// and the bookkeeping for LRU, prefetch and serve-stale. The cache's mutex
// guards every field.
type entry struct {
	key        string
	prev, next *entry

	fam [2]family
	// addrs is IPv6 then IPv4, rebuilt (never modified) on every store, so
	// callers may keep the slice.
	addrs []netip.Addr

	// freshUntil and prefetchAt are worked out on store so a hit only
	// compares times: until freshUntil both families are fresh (zero if one
	// is missing); from prefetchAt one is in the last tenth of its TTL.
	freshUntil, prefetchAt time.Time

	// hits counts fresh hits since the last store.
	hits int
	// refreshing is set while a background refresh runs, so only one starts.
	refreshing bool
	// recheckAt is set when every server failed and a stale answer was
	// served: until then the name is answered stale without asking a
	// server, after it stale with a background refresh (RFC 8767 section 5,
	// the "failure recheck timer").
	recheckAt time.Time
}

// expires is when the first of the stored families expires.
func (e *entry) expires() time.Time {
	switch {
	case !e.fam[famA].set:
		return e.fam[famAAAA].expires
	case !e.fam[famAAAA].set:
		return e.fam[famA].expires
	}
	if e.fam[famA].expires.Before(e.fam[famAAAA].expires) {
		return e.fam[famA].expires
	}
	return e.fam[famAAAA].expires
}

// fresh reports whether both families are stored and unexpired.
func (e *entry) fresh(now time.Time) bool {
	return now.Before(e.freshUntil)
}

// staleUsable reports whether the addresses may still be served when every
// server fails.
func (e *entry) staleUsable(now time.Time, staleTTL time.Duration) bool {
	return len(e.addrs) > 0 && staleTTL > 0 && now.Before(e.expires().Add(staleTTL))
}

// prefetchDue reports whether a popular fresh entry is near its end.
func (e *entry) prefetchDue(now time.Time) bool {
	return e.hits >= prefetchHits && !now.Before(e.prefetchAt)
}

// store replaces the families given and rebuilds addrs.
func (e *entry) store(fams [2]*family) {
	for i, f := range fams {
		if f != nil {
			e.fam[i] = *f
		}
	}
	v6, v4 := e.fam[famAAAA].addrs, e.fam[famA].addrs
	addrs := make([]netip.Addr, 0, len(v6)+len(v4))
	e.addrs = append(append(addrs, v6...), v4...)
	e.freshUntil, e.prefetchAt = time.Time{}, time.Time{}
	if a, aaaa := &e.fam[famA], &e.fam[famAAAA]; a.set && aaaa.set {
		e.freshUntil = e.expires()
		e.prefetchAt = a.expires.Add(-a.ttl / 10)
		if p := aaaa.expires.Add(-aaaa.ttl / 10); p.Before(e.prefetchAt) {
			e.prefetchAt = p
		}
	}
	e.hits = 0
	e.refreshing = false
	e.recheckAt = time.Time{}
}
