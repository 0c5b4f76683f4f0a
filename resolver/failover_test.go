package resolver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// When the first server is down or failing, the next one answers, and the
// working server is asked first from then on.
func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(t *testing.T) (addr string, count func() int)
	}{
		{"first server down", func(t *testing.T) (string, func() int) {
			return closedPort(t), nil
		}},
		{"first server answers SERVFAIL", func(t *testing.T) (string, func() int) {
			bad := startServer(t)
			bad.configure(func(s *testServer) {
				s.rcode["one.test."] = dns.RcodeServerFailure
				s.rcode["two.test."] = dns.RcodeServerFailure
			})
			return bad.addr, bad.total
		}},
		{"first server refuses", func(t *testing.T) (string, func() int) {
			bad := startServer(t)
			bad.configure(func(s *testServer) {
				s.rcode["one.test."] = dns.RcodeRefused
				s.rcode["two.test."] = dns.RcodeRefused
			})
			return bad.addr, bad.total
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := startServer(t)
			good.set("one.test", 300, "192.0.2.1")
			good.set("two.test", 300, "192.0.2.2")
			firstAddr, firstCount := tc.first(t)
			r := newTestResolver(t, Config{Servers: []string{firstAddr, good.addr}}, newClock())

			if got, _ := lookup(t, r, "one.test"); len(got) != 1 || got[0] != "192.0.2.1" {
				t.Fatalf("one.test = %v", got)
			}
			if firstCount != nil && firstCount() == 0 {
				t.Fatal("the first server was never asked")
			}
			before := 0
			if firstCount != nil {
				before = firstCount()
			}
			if got, _ := lookup(t, r, "two.test"); len(got) != 1 || got[0] != "192.0.2.2" {
				t.Fatalf("two.test = %v", got)
			}
			if firstCount != nil && firstCount() != before {
				t.Fatalf("the failing first server was asked again (%d -> %d)", before, firstCount())
			}
			if n := good.count("one.test", dns.TypeA) + good.count("two.test", dns.TypeA); n != 2 {
				t.Fatalf("good server A queries = %d, want 2", n)
			}
			if st := r.Stats(); st.QueryErrors == 0 {
				t.Fatalf("QueryErrors = 0, want the first server's failures counted")
			}
		})
	}
}

// When no server answers in time the error says timeout, not "not found".
func TestAllServersTimeOut(t *testing.T) {
	// A UDP socket that never answers stands in for a blackholed server.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := newTestResolver(t, Config{Servers: []string{pc.LocalAddr().String()}, Timeout: 100 * time.Millisecond}, newClock())
	_, _, err = r.LookupNetIP(context.Background(), "silent.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout || de.IsNotFound {
		t.Fatalf("err = %#v, want a *net.DNSError with IsTimeout", err)
	}
}
