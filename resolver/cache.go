package resolver

import (
	"net/netip"
	"sync"
	"time"
)

// cacheState is what the cache can say about a name without a server.
type cacheState int

const (
	stateMiss     cacheState = iota // ask a server
	stateHit                        // fresh addresses
	stateNegative                   // fresh "no such host"
	stateStale                      // servers failed recently; stale addresses
)

// cacheResult is the cache's decision for one lookup.
type cacheResult struct {
	state cacheState
	// addrs is shared with the entry and must not be modified.
	addrs []netip.Addr
	// refresh asks the caller to start a background refresh (prefetch, or
	// the recheck after serving stale).
	refresh bool
}

// cache maps names to entries, bounded by LRU eviction. One mutex guards the
// map, the list and every entry; it is never held while talking to a server.
type cache struct {
	mu   sync.Mutex
	m    map[string]*entry
	root entry // root.next is the most recently used, root.prev the least
	max  int
}

func newCache(max int) *cache {
	c := &cache{m: make(map[string]*entry), max: max}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

// lookup decides how to answer key at now. It allocates nothing.
func (c *cache) lookup(key string, now time.Time, prefetch bool, staleTTL time.Duration) cacheResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return cacheResult{}
	}
	c.toFront(e)
	if e.fresh(now) {
		e.hits++
		res := cacheResult{state: stateHit, addrs: e.addrs}
		if len(e.addrs) == 0 {
			res.state = stateNegative
		}
		if prefetch && !e.refreshing && e.prefetchDue(now) {
			e.refreshing = true
			res.refresh = true
		}
		return res
	}
	if !e.recheckAt.IsZero() && e.staleUsable(now, staleTTL) {
		res := cacheResult{state: stateStale, addrs: e.addrs}
		if !now.Before(e.recheckAt) && !e.refreshing {
			e.refreshing = true
			res.refresh = true
		}
		return res
	}
	return cacheResult{}
}

// families returns a copy of what is stored for key (zero values if nothing).
func (c *cache) families(key string) [2]family {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		return e.fam
	}
	return [2]family{}
}

// store saves the non-nil families for key, evicting the least recently used
// names beyond the bound. It returns the entry's addresses and whether both
// families are now known (so empty addresses mean "no such host").
func (c *cache) store(key string, fams [2]*family) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		e = &entry{key: key}
		c.m[key] = e
		c.insertFront(e)
		for len(c.m) > c.max {
			c.remove(c.root.prev)
		}
	} else {
		c.toFront(e)
	}
	e.store(fams)
	return e.addrs, e.fam[famA].set && e.fam[famAAAA].set
}

// failed records that no server answered for key. If a stale answer may be
// served it returns it and starts the recheck timer.
func (c *cache) failed(key string, now time.Time, recheck, staleTTL time.Duration) ([]netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return nil, false
	}
	e.refreshing = false
	if !e.staleUsable(now, staleTTL) {
		return nil, false
	}
	e.recheckAt = now.Add(recheck)
	return e.addrs, true
}

// len is the number of cached names.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *cache) insertFront(e *entry) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

func (c *cache) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) toFront(e *entry) {
	if c.root.next == e {
		return
	}
	c.unlink(e)
	c.insertFront(e)
}

func (c *cache) remove(e *entry) {
	c.unlink(e)
	delete(c.m, e.key)
}
