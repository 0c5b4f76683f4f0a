package inspect

import (
	"container/list"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultMaxCerts bounds the leaves kept: a few hundred hosts cover a
// browsing session, and a leaf is about 1 KB.
const DefaultMaxCerts = 1000

// renewBefore replaces a cached leaf this long before it expires, so a
// connection never gets one about to lapse.
const renewBefore = 24 * time.Hour

// certCache keeps one leaf per host, least recently used out first.
// Concurrent first requests for a host wait for one leaf (singleflight)
// rather than each signing their own.
type certCache struct {
	is  *issuer
	max int

	mu    sync.Mutex
	hosts map[string]*list.Element // guarded by mu; values are *cacheEntry
	lru   list.List                // guarded by mu; front is most recent

	group singleflight.Group
	// made counts leaves signed, for tests and /stats.
	made atomic.Int64
}

type cacheEntry struct {
	host string
	cert *tls.Certificate
	// renewAt is when to sign a new leaf, Unix seconds.
	renewAt int64
}

func newCertCache(is *issuer, max int) *certCache {
	if max <= 0 {
		max = DefaultMaxCerts
	}
	return &certCache{is: is, max: max, hosts: make(map[string]*list.Element)}
}

// get returns the leaf for host (lower case), signing it on first use.
func (c *certCache) get(host string) (*tls.Certificate, error) {
	if cert := c.lookup(host, time.Now()); cert != nil {
		return cert, nil
	}
	v, err, _ := c.group.Do(host, func() (any, error) {
		now := time.Now()
		// A caller that just missed may find the leaf another signed.
		if cert := c.lookup(host, now); cert != nil {
			return cert, nil
		}
		cert, err := c.is.issue(host, now)
		if err != nil {
			return nil, err
		}
		c.made.Add(1)
		c.add(host, cert)
		return cert, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

// lookup returns a cached leaf still fresh at now, or nil. It does not
// allocate.
func (c *certCache) lookup(host string, now time.Time) *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.hosts[host]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if now.Unix() >= e.renewAt {
		return nil
	}
	c.lru.MoveToFront(el)
	return e.cert
}

func (c *certCache) add(host string, cert *tls.Certificate) {
	e := &cacheEntry{host: host, cert: cert, renewAt: cert.Leaf.NotAfter.Add(-renewBefore).Unix()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.hosts[host]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.hosts[host] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.hosts, old.Value.(*cacheEntry).host)
	}
}

// len returns the number of cached leaves.
func (c *certCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
