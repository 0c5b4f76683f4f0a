package resolver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func lookupErr(t *testing.T, r *Resolver, host string) (*net.DNSError, bool) {
	t.Helper()
	addrs, cached, err := r.LookupNetIP(context.Background(), host)
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("LookupNetIP(%q) = %v, %v; want a *net.DNSError", host, addrs, err)
	}
	return de, cached
}

// NXDOMAIN and NODATA are cached for the SOA minimum (RFC 2308), bounded by
// negative_ttl, and reported as "not found".
func TestNegativeCaching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		host      string
		soaMin    uint32
		negTTL    time.Duration
		cachedFor time.Duration
		expiresAt time.Duration
	}{
		{"NXDOMAIN bounded by negative_ttl", "missing.test", 600, 30 * time.Second, 29 * time.Second, 31 * time.Second},
		{"NXDOMAIN by SOA minimum", "missing.test", 10, 30 * time.Second, 9 * time.Second, 11 * time.Second},
		{"NODATA by SOA minimum", "nodata.test", 20, time.Minute, 19 * time.Second, 21 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			srv.setRR("nodata.test", dns.TypeTXT, &dns.TXT{Hdr: dns.RR_Header{Name: "nodata.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"x"}})
			srv.configure(func(s *testServer) { s.negTTL = tc.soaMin })
			clock := newClock()
			r := newTestResolver(t, Config{Servers: []string{srv.addr}, NegativeTTL: tc.negTTL}, clock)

			de, cached := lookupErr(t, r, tc.host)
			if !de.IsNotFound || de.IsTimeout || cached || de.Name != tc.host {
				t.Fatalf("first lookup: %#v cached=%v, want IsNotFound for %s", de, cached, tc.host)
			}
			clock.Advance(tc.cachedFor)
			de, cached = lookupErr(t, r, tc.host)
			if !de.IsNotFound || !cached {
				t.Fatalf("lookup at %v: %v cached=%v, want a cached not-found", tc.cachedFor, de, cached)
			}
			if n := srv.count(tc.host, dns.TypeA); n != 1 {
				t.Fatalf("A queries while cached = %d, want 1", n)
			}
			clock.Advance(tc.expiresAt - tc.cachedFor)
			if _, cached = lookupErr(t, r, tc.host); cached {
				t.Fatalf("still cached at %v", tc.expiresAt)
			}
			if n := srv.count(tc.host, dns.TypeA); n != 2 {
				t.Fatalf("A queries after expiry = %d, want 2", n)
			}
			if st := r.Stats(); st.NegativeHits != 1 {
				t.Fatalf("NegativeHits = %d, want 1", st.NegativeHits)
			}
		})
	}
}

// Without an SOA there is no TTL for a negative answer, so it is not
// cached (RFC 2308 section 5).
func TestNegativeWithoutSOAIsNotCached(t *testing.T) {
	srv := startServer(t)
	srv.configure(func(s *testServer) { s.negTTL = 0 })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())
	for range 3 {
		if de, cached := lookupErr(t, r, "nosoa.test"); !de.IsNotFound || cached {
			t.Fatalf("got %v cached=%v, want an uncached not-found", de, cached)
		}
	}
	if n := srv.count("nosoa.test", dns.TypeA); n != 3 {
		t.Fatalf("A queries = %d, want 3", n)
	}
}

// A server failure is not "not found": it is temporary and not cached.
func TestServerFailureIsNotNotFound(t *testing.T) {
	srv := startServer(t)
	srv.configure(func(s *testServer) { s.rcode["broken.test."] = dns.RcodeServerFailure })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())
	de, _ := lookupErr(t, r, "broken.test")
	if de.IsNotFound || !de.IsTemporary || de.Server != srv.addr {
		t.Fatalf("got %#v, want a temporary error naming %s", de, srv.addr)
	}
	lookupErr(t, r, "broken.test")
	if n := srv.count("broken.test", dns.TypeA); n != 2 {
		t.Fatalf("A queries = %d, want 2 (failures are not cached)", n)
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
