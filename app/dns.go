package app

import (
	"context"
	"net"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/resolver"
)

// validateDNSServer checks one [dns] servers entry.
func validateDNSServer(s string) error { return resolver.ValidateServer(s) }

// newDialer returns the proxy's dial function for the [dns] section: the
// caching resolver's Happy Eyeballs dialer, or the system resolver when
// [dns] enabled = false. The resolver, when made, is returned so it can
// be closed when replaced.
func newDialer(cfg *Config) (proxy.DialFunc, *resolver.Resolver, error) {
	connectTimeout := cfg.Proxy.ConnectTimeout.Duration
	if !cfg.DNS.Enabled {
		d := &net.Dialer{Timeout: connectTimeout}
		return func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
			c, err := d.DialContext(ctx, network, addr)
			return c, false, err
		}, nil, nil
	}
	d := cfg.DNS
	r, err := resolver.New(resolver.Config{
		Servers:     d.Servers,
		MinTTL:      d.MinTTL.Duration,
		MaxTTL:      d.MaxTTL.Duration,
		NegativeTTL: d.NegativeTTL.Duration,
		StaleTTL:    staleTTL(d.StaleTTL.Duration),
		MaxEntries:  d.MaxEntries,
		Prefetch:    d.Prefetch,
		Timeout:     d.Timeout.Duration,
	})
	if err != nil {
		return nil, nil, err
	}
	dialer := &resolver.Dialer{Resolver: r, Timeout: connectTimeout}
	return dialer.Dial, r, nil
}

// staleTTL maps the config's "0s turns serving stale answers off" to
// the resolver's "negative is off" (its zero means the default).
func staleTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
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
