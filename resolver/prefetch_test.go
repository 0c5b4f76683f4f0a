package resolver

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A name looked up often is refreshed in the last tenth of its TTL, so it
// never misses; a name looked up once is left to expire.
func TestPrefetch(t *testing.T) {
	srv := startServer(t)
	srv.set("hot.test", 100, "192.0.2.30")
	srv.set("cold.test", 100, "192.0.2.31")
	srv.configure(func(s *testServer) { s.negTTL = 100 })
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, Prefetch: true, NegativeTTL: 100 * time.Second}, clock)

	lookup(t, r, "hot.test")
	lookup(t, r, "cold.test")
	lookup(t, r, "hot.test")
	lookup(t, r, "hot.test")
	srv.set("hot.test", 100, "192.0.2.32")

	clock.Advance(95 * time.Second)
	if got, cached := lookup(t, r, "hot.test"); !cached || !slices.Equal(got, []string{"192.0.2.30"}) {
		t.Fatalf("hot.test near expiry = %v cached=%v, want the cached answer", got, cached)
	}
	if got, _ := lookup(t, r, "cold.test"); !slices.Equal(got, []string{"192.0.2.31"}) {
		t.Fatalf("cold.test = %v", got)
	}
	// The refresh has stored its answer once it has returned, not when
	// the server has seen its query.
	r.bg.Wait()

	clock.Advance(10 * time.Second) // past the original expiry
	got, cached := lookup(t, r, "hot.test")
	if !cached || !slices.Equal(got, []string{"192.0.2.32"}) {
		t.Fatalf("hot.test after original expiry = %v cached=%v, want the prefetched answer from cache", got, cached)
	}
	if _, cached := lookup(t, r, "cold.test"); cached {
		t.Fatal("cold.test was prefetched though it was looked up only once before the window")
	}
	if n := srv.count("hot.test", dns.TypeA); n != 2 {
		t.Fatalf("hot.test A queries = %d, want 2", n)
	}
	if st := r.Stats(); st.Prefetches != 1 {
		t.Fatalf("Prefetches = %d, want 1", st.Prefetches)
	}
}
