package resolver

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// When the server dies, the expired answer is served (RFC 8767) without
// asking again for 30s; after that it is still served while a background
// refresh runs, and once the server is back the fresh answer replaces it.
func TestServeStale(t *testing.T) {
	srv := startServer(t)
	srv.set("stale.test", 10, "192.0.2.20")
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, StaleTTL: time.Hour}, clock)
	lookup(t, r, "stale.test")

	srv.stop()
	clock.Advance(20 * time.Second)
	got, cached := lookup(t, r, "stale.test")
	if !slices.Equal(got, []string{"192.0.2.20"}) || cached {
		t.Fatalf("after the server died: %v cached=%v, want the stale 192.0.2.20 after a failed query", got, cached)
	}
	if st := r.Stats(); st.StaleServed != 1 {
		t.Fatalf("StaleServed = %d, want 1", st.StaleServed)
	}
	// Within the recheck time: stale straight away, no query.
	queries := r.Stats().Queries
	clock.Advance(10 * time.Second)
	if got, cached := lookup(t, r, "stale.test"); !slices.Equal(got, []string{"192.0.2.20"}) || !cached {
		t.Fatalf("within recheck: %v cached=%v, want stale from memory", got, cached)
	}
	if q := r.Stats().Queries; q != queries {
		t.Fatalf("a query was sent within the recheck time (%d -> %d)", queries, q)
	}

	srv.set("stale.test", 10, "192.0.2.21")
	srv.restart()
	clock.Advance(25 * time.Second) // past the 30s recheck
	if got, cached := lookup(t, r, "stale.test"); !slices.Equal(got, []string{"192.0.2.20"}) || !cached {
		t.Fatalf("after recheck: %v cached=%v, want stale while refreshing", got, cached)
	}
	waitFor(t, "the background refresh", func() bool {
		addrs, _, err := r.LookupNetIP(context.Background(), "stale.test")
		return err == nil && len(addrs) == 1 && addrs[0].String() == "192.0.2.21"
	})
	if n := srv.count("stale.test", dns.TypeA); n != 2 {
		t.Fatalf("A queries = %d, want 2 (the first lookup and one refresh)", n)
	}
}

// Past stale_ttl nothing stale is served: the lookup fails.
func TestServeStaleBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		staleTTL time.Duration
		off      bool
		advance  time.Duration
		served   bool
	}{
		{"within stale_ttl", time.Minute, false, 50 * time.Second, true},
		{"past stale_ttl", time.Minute, false, 80 * time.Second, false},
		{"disabled", 0, true, 11 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			srv.set("bounded.test", 10, "192.0.2.22")
			clock := newClock()
			r := newTestResolver(t, Config{Servers: []string{srv.addr}, StaleTTL: tc.staleTTL, NoServeStale: tc.off}, clock)
			lookup(t, r, "bounded.test")
			srv.stop()
			clock.Advance(tc.advance)
			addrs, _, err := r.LookupNetIP(context.Background(), "bounded.test")
			if served := err == nil; served != tc.served {
				t.Fatalf("got %v, %v; want stale served = %v", addrs, err, tc.served)
			}
		})
	}
}
