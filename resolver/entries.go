package resolver

import (
	"net/netip"
	"slices"
	"time"
)

// Entry is one cached name, as Entries lists it for a dashboard.
type Entry struct {
	// Name is the name looked up, lower-case, without a trailing dot.
	Name string
	// Addrs are its addresses, IPv6 first; empty for a cached "no such
	// name" or "no address".
	Addrs []netip.Addr
	// TTL is how long the answer stays fresh from now (the sooner of its
	// two families); negative once it expired, while it is kept to be
	// served stale.
	TTL time.Duration
}

// Entries lists the cached names, most recently used first, at most max
// of them (0: all).
func (r *Resolver) Entries(max int) []Entry {
	now := r.cfg.Now()
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	if max > 0 && max < n {
		n = max
	}
	list := make([]Entry, 0, n)
	for e := c.root.next; e != &c.root && len(list) < n; e = e.next {
		list = append(list, Entry{Name: e.key, Addrs: slices.Clone(e.addrs), TTL: e.expires().Sub(now)})
	}
	return list
}

// Flush empties the cache and returns how many names it held. Lookups
// already asking a server still store their answers.
func (r *Resolver) Flush() int {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	clear(c.m)
	c.root.next, c.root.prev = &c.root, &c.root
	return n
}
