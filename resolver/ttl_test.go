package resolver

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A cached answer is served without a query until its TTL passes, then
// asked for again.
func TestTTLExpiry(t *testing.T) {
	srv := startServer(t)
	srv.set("ttl.test", 60, "192.0.2.1", "2001:db8::1")
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, clock)

	got, cached := lookup(t, r, "ttl.test")
	if want := []string{"2001:db8::1", "192.0.2.1"}; !slices.Equal(got, want) || cached {
		t.Fatalf("first lookup = %v cached=%v, want %v cached=false", got, cached, want)
	}
	clock.Advance(59 * time.Second)
	for range 5 {
		if _, cached := lookup(t, r, "TTL.test."); !cached {
			t.Fatal("lookup within the TTL was not cached")
		}
	}
	if n := srv.count("ttl.test", dns.TypeA); n != 1 {
		t.Fatalf("A queries within TTL = %d, want 1", n)
	}
	clock.Advance(2 * time.Second)
	if _, cached := lookup(t, r, "ttl.test"); cached {
		t.Fatal("lookup after the TTL was answered from the cache")
	}
	if a, aaaa := srv.count("ttl.test", dns.TypeA), srv.count("ttl.test", dns.TypeAAAA); a != 2 || aaaa != 2 {
		t.Fatalf("queries after expiry A=%d AAAA=%d, want 2 and 2", a, aaaa)
	}
	st := r.Stats()
	if st.Hits != 5 || st.Misses != 2 || st.Lookups != 7 {
		t.Fatalf("stats = %+v, want 5 hits, 2 misses, 7 lookups", st)
	}
	if st.LatencyP50 <= 0 || st.LatencyP99 < st.LatencyP50 {
		t.Fatalf("latency p50=%v p99=%v, want 0 < p50 <= p99", st.LatencyP50, st.LatencyP99)
	}
}

// min_ttl and max_ttl bound how long an answer stays, whatever its TTL.
func TestTTLClamp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recordTTL uint32
		min, max  time.Duration
		cachedFor time.Duration // still cached just before this
		expiresAt time.Duration // queried again at this
	}{
		{"min raises a short TTL", 5, 30 * time.Second, time.Hour, 29 * time.Second, 31 * time.Second},
		{"max lowers a long TTL", 86400, 0, 100 * time.Second, 99 * time.Second, 101 * time.Second},
		{"within bounds is kept", 50, 10 * time.Second, 100 * time.Second, 49 * time.Second, 51 * time.Second},
		{"zero TTL is not cached", 0, 0, time.Hour, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			srv.set("clamp.test", tc.recordTTL, "192.0.2.7")
			srv.configure(func(s *testServer) { s.negTTL = 3600 }) // AAAA NODATA outlives A
			clock := newClock()
			r := newTestResolver(t, Config{Servers: []string{srv.addr}, MinTTL: tc.min, MaxTTL: tc.max, NegativeTTL: time.Hour}, clock)
			lookup(t, r, "clamp.test")
			if tc.cachedFor > 0 {
				clock.Advance(tc.cachedFor)
				if _, cached := lookup(t, r, "clamp.test"); !cached {
					t.Fatalf("not cached at %v", tc.cachedFor)
				}
				clock.Advance(tc.expiresAt - tc.cachedFor)
			}
			if _, cached := lookup(t, r, "clamp.test"); cached {
				t.Fatalf("still cached at %v", tc.expiresAt)
			}
			if n := srv.count("clamp.test", dns.TypeA); n != 2 {
				t.Fatalf("A queries = %d, want 2", n)
			}
		})
	}
}

// Each family keeps its own TTL: an IPv4-only name's short negative AAAA
// answer is asked again without asking A again.
func TestTTLPerFamily(t *testing.T) {
	srv := startServer(t)
	srv.set("v4only.test", 300, "192.0.2.4")
	srv.configure(func(s *testServer) { s.negTTL = 10 })
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, clock)
	lookup(t, r, "v4only.test")
	clock.Advance(11 * time.Second)
	got, _ := lookup(t, r, "v4only.test")
	if !slices.Equal(got, []string{"192.0.2.4"}) {
		t.Fatalf("addresses = %v", got)
	}
	if a, aaaa := srv.count("v4only.test", dns.TypeA), srv.count("v4only.test", dns.TypeAAAA); a != 1 || aaaa != 2 {
		t.Fatalf("queries A=%d AAAA=%d, want A=1 AAAA=2", a, aaaa)
	}
}
