package resolver

import (
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// A truncated UDP answer is asked again over TCP and the full answer used.
func TestTruncationFallsBackToTCP(t *testing.T) {
	srv := startServer(t)
	var ips []string
	for i := 1; i <= 100; i++ { // 100 A records: more than fits in 512 bytes
		ips = append(ips, fmt.Sprintf("198.51.100.%d", i))
	}
	srv.set("big.test", 300, ips...)
	srv.configure(func(s *testServer) { s.truncate["big.test."] = true })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())

	got, _ := lookup(t, r, "big.test")
	if !slices.Equal(got, ips) {
		t.Fatalf("got %d addresses %v..., want the %d from the TCP answer", len(got), got[:min(3, len(got))], len(ips))
	}
	if u, tc := srv.countNet("udp", "big.test", dns.TypeA), srv.countNet("tcp", "big.test", dns.TypeA); u != 1 || tc != 1 {
		t.Fatalf("A queries udp=%d tcp=%d, want 1 and 1", u, tc)
	}
	// Names that fit stay on UDP.
	srv.set("small.test", 300, "198.51.100.200")
	lookup(t, r, "small.test")
	if tc := srv.countNet("tcp", "small.test", dns.TypeA); tc != 0 {
		t.Fatalf("small answer went over TCP %d times", tc)
	}
}
