package resolver

import (
	"slices"
	"testing"
	"time"
)

// Entries lists cached names, most recently used first, with the TTL
// left; Flush empties the cache so the next lookup asks a server.
func TestEntriesAndFlush(t *testing.T) {
	srv := startServer(t)
	srv.set("a.test", 60, "192.0.2.1", "2001:db8::1")
	srv.set("b.test", 300, "192.0.2.2", "2001:db8::2")
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, clock)
	lookup(t, r, "a.test")
	lookup(t, r, "B.test.")
	clock.Advance(10 * time.Second)

	got := r.Entries(0)
	if len(got) != 2 || got[0].Name != "b.test" || got[1].Name != "a.test" {
		t.Fatalf("entries %+v, want b.test then a.test", got)
	}
	if got[0].TTL != 290*time.Second || got[1].TTL != 50*time.Second {
		t.Errorf("TTLs left %v and %v, want 290s and 50s", got[0].TTL, got[1].TTL)
	}
	var addrs []string
	for _, a := range got[0].Addrs {
		addrs = append(addrs, a.String())
	}
	if !slices.Equal(addrs, []string{"2001:db8::2", "192.0.2.2"}) {
		t.Errorf("b.test addresses %v", addrs)
	}
	if one := r.Entries(1); len(one) != 1 || one[0].Name != "b.test" {
		t.Errorf("Entries(1) = %+v", one)
	}

	if n := r.Flush(); n != 2 {
		t.Errorf("Flush dropped %d names, want 2", n)
	}
	if n := len(r.Entries(0)); n != 0 || r.Stats().Entries != 0 {
		t.Errorf("%d entries after Flush", n)
	}
	if _, cached := lookup(t, r, "a.test"); cached {
		t.Error("a lookup after Flush was answered from the cache")
	}
	if n := len(r.Entries(0)); n != 1 {
		t.Errorf("%d entries after a new lookup, want 1", n)
	}
}
