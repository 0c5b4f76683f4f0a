package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// staleRecheck is how long after every server failed a name is answered
// stale without asking again; RFC 8767 section 5 recommends 30 seconds.
const staleRecheck = 30 * time.Second

// Resolver looks names up through the hosts file, its cache and the
// configured servers. It is safe for concurrent use.
type Resolver struct {
	cfg      Config
	hosts    *hostsFile
	cache    *cache
	servers  *serverList
	group    singleflight.Group
	stats    stats
	loopback []netip.Addr

	// ctx bounds every query; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// bgMu guards closed and the Add side of bg, so no background refresh
	// starts once Close waits for them.
	bgMu   sync.Mutex
	closed bool
	bg     sync.WaitGroup
}

// New returns a Resolver for cfg. It fails only on a bad server entry.
func New(cfg Config) (*Resolver, error) {
	cfg = cfg.withDefaults()
	servers, err := newServerList(cfg)
	if err != nil {
		return nil, err
	}
	hostsPath := cfg.HostsFile
	if hostsPath == "" {
		hostsPath = defaultHostsPath()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Resolver{
		cfg:      cfg,
		hosts:    newHostsFile(hostsPath, cfg.Now()),
		cache:    newCache(cfg.MaxEntries),
		servers:  servers,
		loopback: loopbackAddrs(),
		ctx:      ctx,
		cancel:   cancel,
	}, nil
}

// LookupNetIP returns host's addresses, IPv6 first. cached reports that the
// answer came from memory (IP literal, hosts file, localhost, the cache)
// without waiting for a server. The returned slice is shared: callers must
// not modify it. A cached lookup allocates nothing.
//
// Errors are *net.DNSError: IsNotFound for names that do not exist or have
// no address, IsTimeout when no server answered in time.
func (r *Resolver) LookupNetIP(ctx context.Context, host string) (addrs []netip.Addr, cached bool, err error) {
	if ip, ok := parseIPLiteral(host); ok {
		return []netip.Addr{ip}, true, nil
	}
	name := canonicalName(host)
	r.stats.lookups.Add(1)
	// Before the hosts file, which often lists localhost for one family
	// only (see isLocalhost).
	if isLocalhost(name) {
		r.stats.hosts.Add(1)
		return r.loopback, true, nil
	}
	now := r.cfg.Now()
	if addrs, ok := r.hosts.lookup(name, now); ok {
		r.stats.hosts.Add(1)
		return addrs, true, nil
	}

	res := r.cache.lookup(name, now, r.cfg.Prefetch, r.cfg.StaleTTL)
	if res.refresh {
		if res.state == stateHit {
			r.stats.prefetches.Add(1)
		}
		r.refreshAsync(name)
	}
	switch res.state {
	case stateHit:
		r.stats.hits.Add(1)
		return res.addrs, true, nil
	case stateNegative:
		r.stats.negativeHits.Add(1)
		return nil, true, notFoundError(host, "")
	case stateStale:
		r.stats.stale.Add(1)
		return res.addrs, true, nil
	}

	r.stats.misses.Add(1)
	ch := r.group.DoChan(name, func() (any, error) { return r.resolve(name) })
	select {
	case v := <-ch:
		if v.Err != nil {
			var de *net.DNSError
			if errors.As(v.Err, &de) && de.Name != host {
				c := *de // shared between waiters; name it as this caller asked
				c.Name = host
				return nil, false, &c
			}
			return nil, false, v.Err
		}
		return v.Val.([]netip.Addr), false, nil
	case <-ctx.Done():
		return nil, false, &net.DNSError{
			Err:       ctx.Err().Error(),
			Name:      host,
			IsTimeout: errors.Is(ctx.Err(), context.DeadlineExceeded),
			UnwrapErr: ctx.Err(),
		}
	}
}

// resolve asks the servers about name and stores what they say. It runs
// once per name at a time (singleflight) and is not tied to any caller's
// context, so one caller giving up does not fail the others.
func (r *Resolver) resolve(name string) ([]netip.Addr, error) {
	if !validName(name) {
		return nil, notFoundError(name, "")
	}
	now := r.cfg.Now()
	cur := r.cache.families(name)
	need := [2]bool{cur[famA].due(now, r.cfg.Prefetch), cur[famAAAA].due(now, r.cfg.Prefetch)}
	if !need[famA] && !need[famAAAA] {
		need = [2]bool{true, true} // refreshed meanwhile; ask anyway
	}

	fqdn := dns.Fqdn(name)
	var (
		ans  [2]answer
		errs [2]error
		wg   sync.WaitGroup
	)
	for f, qtype := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		if need[f] {
			wg.Go(func() { ans[f], errs[f] = r.query(fqdn, qtype) })
		}
	}
	wg.Wait()

	now = r.cfg.Now()
	var fams [2]*family
	positive := func(f int) bool {
		if need[f] {
			return errs[f] == nil && len(ans[f].addrs) > 0
		}
		return len(cur[f].addrs) > 0
	}
	for f := range fams {
		switch {
		case !need[f]:
		case errs[f] == nil:
			fams[f] = r.family(ans[f], now)
		case positive(1 - f):
			// The other family has addresses: use them, and ask about this
			// one again after the negative TTL rather than on every lookup.
			fams[f] = &family{negative: true, set: true, ttl: r.cfg.NegativeTTL, expires: now.Add(r.cfg.NegativeTTL)}
		}
	}

	var firstErr error
	for _, err := range errs {
		if err != nil {
			firstErr = err
			break
		}
	}
	if fams[famA] != nil || fams[famAAAA] != nil {
		addrs, complete := r.cache.store(name, fams)
		switch {
		case len(addrs) > 0:
			return addrs, nil
		case complete:
			return nil, notFoundError(name, "")
		case firstErr == nil:
			// One family is NXDOMAIN and the other was not asked: the name
			// is gone.
			return nil, notFoundError(name, "")
		}
	}

	if addrs, ok := r.cache.failed(name, now, staleRecheck, r.cfg.StaleTTL); ok {
		r.stats.stale.Add(1)
		return addrs, nil
	}
	return nil, serverError(name, firstErr)
}

// query asks the servers one question and reduces the reply to an answer.
func (r *Resolver) query(fqdn string, qtype uint16) (answer, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.SetEdns0(ednsSize, false)
	m, err := r.servers.exchange(r.ctx, q, &r.stats)
	if err != nil {
		return answer{}, err
	}
	return extractAnswer(q, m)
}

// family turns an answer into what the cache keeps, clamping its TTL:
// positive answers between MinTTL and MaxTTL, negative ones at most
// NegativeTTL (and not at all without an SOA, RFC 2308 section 5).
func (r *Resolver) family(a answer, now time.Time) *family {
	ttl := a.ttl
	if a.negative {
		ttl = min(max(ttl, 0), r.cfg.NegativeTTL)
	} else {
		ttl = min(max(ttl, r.cfg.MinTTL), r.cfg.MaxTTL)
	}
	return &family{
		addrs:    a.addrs,
		ttl:      ttl,
		expires:  now.Add(ttl),
		negative: a.negative,
		nxdomain: a.nxdomain,
		set:      true,
	}
}

// refreshAsync resolves name in the background, sharing the query with any
// lookup that misses meanwhile.
func (r *Resolver) refreshAsync(name string) {
	r.bgMu.Lock()
	defer r.bgMu.Unlock()
	if r.closed {
		return
	}
	r.bg.Go(func() {
		<-r.group.DoChan(name, func() (any, error) { return r.resolve(name) })
	})
}

// Stats returns the current figures.
func (r *Resolver) Stats() Stats {
	st := r.stats.snapshot()
	st.Entries = r.cache.len()
	return st
}

// Close stops queries in flight, waits for background refreshes and drops
// idle DNS over HTTPS connections. Lookups after Close fail unless cached.
func (r *Resolver) Close() error {
	r.bgMu.Lock()
	r.closed = true
	r.bgMu.Unlock()
	r.cancel()
	r.bg.Wait()
	r.servers.close()
	return nil
}

// isLocalhost reports whether name (lower-case, no trailing dot) is
// "localhost" or a name under it. RFC 6761 section 6.3 makes these the
// loopback addresses, answered without asking a server. Like browsers,
// Sluice answers them without the hosts file too: its usual
// "127.0.0.1 localhost" line alone would leave a server that listens only
// on ::1 unreachable, where the dialer can try both.
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// loopbackAddrs is what a localhost name resolves to: ::1 first, as IPv6
// comes first for any name with both families, and the dialer moves on to
// 127.0.0.1 at once when nothing listens on ::1.
func loopbackAddrs() []netip.Addr {
	return []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}
}

// parseIPLiteral recognises IP literals without allocating for names, which
// netip.ParseAddr's error would.
func parseIPLiteral(host string) (netip.Addr, bool) {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if strings.IndexByte(host, ':') < 0 && !onlyDigitsAndDots(host) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

func onlyDigitsAndDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// canonicalName lower-cases host and drops one trailing dot; it allocates
// only when host has upper-case letters.
func canonicalName(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// validName reports whether name (no trailing dot) can be looked up:
// letters, digits, '-' and '_' in labels of 1 to 63 bytes, at most 253 in
// all (RFC 1035 section 2.3.4). Anything else would only waste a query.
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

func notFoundError(name, server string) error {
	return &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
}

// serverError turns a failed query into the *net.DNSError callers expect.
func serverError(name string, err error) error {
	de := &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true, UnwrapErr: err}
	var qe *queryError
	if errors.As(err, &qe) {
		de.Server = qe.server
		de.IsTimeout = qe.timeout
		if qe.timeout {
			de.Err = "no DNS server answered in time"
		}
	}
	return de
}
