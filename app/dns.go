package app

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/resolver"
)

// upstream is the proxy's way out for one [dns] and connect_timeout
// setting: the dial function and the resolver behind it. A reload that
// changes them makes a new upstream and retires the old one, which closes
// its resolver only once the dials already using it have ended, so a
// lookup in flight across a reload finishes instead of failing.
type upstream struct {
	dial proxy.DialFunc
	// dns is nil when [dns] enabled = false (the system resolver).
	dns *resolver.Resolver

	mu      sync.Mutex
	dialing int  // dials in flight; guarded by mu
	retired bool // replaced: close dns when dialing reaches 0; guarded by mu
	closed  sync.Once
}

// newUpstream returns the upstream for cfg's [dns] section: the caching
// resolver's Happy Eyeballs dialer, or the system resolver when [dns]
// enabled = false.
func newUpstream(cfg *Config) (*upstream, error) {
	connectTimeout := cfg.Proxy.ConnectTimeout.Duration
	if !cfg.DNS.Enabled {
		d := &net.Dialer{Timeout: connectTimeout}
		return &upstream{dial: func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
			c, err := d.DialContext(ctx, network, addr)
			return c, false, err
		}}, nil
	}
	d := cfg.DNS
	r, err := resolver.New(resolver.Config{
		Servers:      d.Servers,
		MinTTL:       d.MinTTL.Duration,
		MaxTTL:       d.MaxTTL.Duration,
		NegativeTTL:  d.NegativeTTL.Duration,
		StaleTTL:     d.StaleTTL.Duration,
		NoServeStale: d.StaleTTL.Duration == 0,
		MaxEntries:   d.MaxEntries,
		Prefetch:     d.Prefetch,
		Timeout:      d.Timeout.Duration,
	})
	if err != nil {
		return nil, err
	}
	dialer := &resolver.Dialer{Resolver: r, Timeout: connectTimeout}
	return &upstream{dial: dialer.Dial, dns: r}, nil
}

// Dial is the proxy's DialFunc.
func (u *upstream) Dial(ctx context.Context, network, addr string) (net.Conn, bool, error) {
	u.mu.Lock()
	u.dialing++
	u.mu.Unlock()
	defer u.dialDone()
	return u.dial(ctx, network, addr)
}

// Resolve is the proxy's Resolve, for socks5 upstreams: the resolver the
// dials use, kept open while it runs as for a dial.
func (u *upstream) Resolve(ctx context.Context, host string) ([]netip.Addr, bool, error) {
	u.mu.Lock()
	u.dialing++
	u.mu.Unlock()
	defer u.dialDone()
	if u.dns == nil {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		return addrs, false, err
	}
	return u.dns.LookupNetIP(ctx, host)
}

func (u *upstream) dialDone() {
	u.mu.Lock()
	u.dialing--
	last := u.retired && u.dialing == 0
	u.mu.Unlock()
	if last {
		u.close()
	}
}

// retire closes the resolver once no dial uses it. A dial that starts
// after that (a request that picked up the old config just before the
// swap) still works for cached names and fails cleanly, with a DNS error,
// for others.
func (u *upstream) retire() {
	u.mu.Lock()
	u.retired = true
	idle := u.dialing == 0
	u.mu.Unlock()
	if idle {
		u.close()
	}
}

// close closes the resolver at once, for a stop or an upstream that was
// never used. Later calls do nothing.
func (u *upstream) close() {
	u.closed.Do(func() {
		if u.dns != nil {
			u.dns.Close()
		}
	})
}

// dnsStats adapts the resolver's figures to the stats snapshot.
func dnsStats(r *resolver.Resolver) stats.DNSStats {
	s := r.Stats()
	return stats.DNSStats{
		Lookups:      int64(s.Lookups),
		Hits:         int64(s.Hits),
		Misses:       int64(s.Misses),
		Stale:        int64(s.StaleServed),
		NegativeHits: int64(s.NegativeHits),
		Entries:      int64(s.Entries),
		QueryP50:     s.LatencyP50,
		QueryP99:     s.LatencyP99,
	}
}
