package resolver

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

// The cache holds at most max_entries names and drops the least recently
// used first.
func TestLRUBound(t *testing.T) {
	srv := startServer(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		srv.set(n+".test", 300, "192.0.2.40")
	}
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, MaxEntries: 3}, newClock())

	lookup(t, r, "a.test")
	lookup(t, r, "b.test")
	lookup(t, r, "c.test")
	lookup(t, r, "a.test") // a is now more recent than b
	lookup(t, r, "d.test") // evicts b
	if e := r.Stats().Entries; e != 3 {
		t.Fatalf("Entries = %d, want 3", e)
	}
	for _, tc := range []struct {
		name    string
		queries int
	}{{"a.test", 1}, {"c.test", 1}, {"d.test", 1}, {"b.test", 2}} {
		lookup(t, r, tc.name)
		if n := srv.count(tc.name, dns.TypeA); n != tc.queries {
			t.Errorf("%s: A queries = %d, want %d", tc.name, n, tc.queries)
		}
	}
}

// Many names never grow the cache past the bound.
func TestLRUManyNames(t *testing.T) {
	srv := startServer(t)
	srv.configure(func(s *testServer) { s.wildcard, s.wildTTL = mustAddr("192.0.2.41"), 300 })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, MaxEntries: 50}, newClock())
	for i := range 200 {
		lookup(t, r, fmt.Sprintf("n%d.test", i))
		if e := r.Stats().Entries; e > 50 {
			t.Fatalf("Entries = %d after %d names, want at most 50", e, i+1)
		}
	}
	if e := r.Stats().Entries; e != 50 {
		t.Fatalf("Entries = %d, want 50", e)
	}
}
