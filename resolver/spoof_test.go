package resolver

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A reply that carries records for other names plants nothing: the other
// name is still asked about, and gets its own answer.
func TestSpoofedExtraRecordsAreIgnored(t *testing.T) {
	srv := startServer(t)
	srv.set("innocent.test", 300, "192.0.2.80")
	srv.set("bank.test", 300, "192.0.2.81")
	srv.configure(func(s *testServer) {
		s.extra["innocent.test."] = []dns.RR{
			rr("bank.test. 86400 IN A 203.0.113.66"),
			rr("elsewhere.test. 86400 IN CNAME bank.test."),
		}
	})
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())

	if got, _ := lookup(t, r, "innocent.test"); !slices.Equal(got, []string{"192.0.2.80"}) {
		t.Fatalf("innocent.test = %v", got)
	}
	got, cached := lookup(t, r, "bank.test")
	if !slices.Equal(got, []string{"192.0.2.81"}) || cached {
		t.Fatalf("bank.test = %v cached=%v, want its own answer from the server", got, cached)
	}
}

// CNAME chains are followed within a reply; the TTL is the chain's minimum.
func TestCNAMEChain(t *testing.T) {
	srv := startServer(t)
	srv.setRR("www.chain.test", dns.TypeA,
		rr("www.chain.test. 300 IN CNAME edge.chain.test."),
		rr("edge.chain.test. 20 IN A 192.0.2.90"),
	)
	clock := newClock()
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, NegativeTTL: time.Hour}, clock)
	if got, _ := lookup(t, r, "www.chain.test"); !slices.Equal(got, []string{"192.0.2.90"}) {
		t.Fatalf("www.chain.test = %v", got)
	}
	clock.Advance(21 * time.Second)
	if _, cached := lookup(t, r, "www.chain.test"); cached {
		t.Fatal("still cached after the 20s TTL of the chain's last record")
	}
}
