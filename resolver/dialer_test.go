package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// listenTCP accepts (and holds) connections on addr until the test ends.
func listenTCP(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l
}

// When the first address refuses, the next is tried at once, without
// waiting for the fallback delay, and the result is a raw *net.TCPConn.
func TestDialNextAddressOnFailure(t *testing.T) {
	l := listenTCP(t, "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	// ::1 first (IPv6 is preferred) with nothing listening on that port.
	hosts := writeFile(t, "hosts", "::1 twofam.test\n127.0.0.1 twofam.test\n")
	r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: hosts}, nil)
	d := &Dialer{Resolver: r, FallbackDelay: 5 * time.Second}

	start := time.Now()
	c, cached, err := d.Dial(context.Background(), "tcp", fmt.Sprintf("twofam.test:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("dial took %v: it waited for the fallback delay instead of moving on", elapsed)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Fatalf("connection is %T, want *net.TCPConn", c)
	}
	if got := c.RemoteAddr().String(); got != l.Addr().String() {
		t.Fatalf("connected to %s, want %s", got, l.Addr())
	}
	if !cached {
		t.Fatal("a hosts-file answer was not reported as cached")
	}
}

// A name that does not exist fails with a not-found *net.DNSError the
// proxy can turn into "unknown host"; a lookup answered by a server is not
// reported as cached, the next one is.
func TestDialResolvesThroughResolver(t *testing.T) {
	l := listenTCP(t, "127.0.0.1:0")
	srv := startServer(t)
	srv.set("up.test", 300, "127.0.0.1")
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, nil)
	d := &Dialer{Resolver: r}
	port := l.Addr().(*net.TCPAddr).Port

	for i, wantCached := range []bool{false, true} {
		c, cached, err := d.Dial(context.Background(), "tcp", fmt.Sprintf("up.test:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if cached != wantCached {
			t.Fatalf("dial %d: cached = %v, want %v", i, cached, wantCached)
		}
	}

	_, _, err := d.Dial(context.Background(), "tcp", "gone.test:80")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("dial to a missing name: %v, want a not-found *net.DNSError", err)
	}
}

// When every address fails, the error is the connection error, not DNS.
func TestDialAllAddressesFail(t *testing.T) {
	hosts := writeFile(t, "hosts", "127.0.0.1 dead.test\n::1 dead.test\n")
	r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: hosts}, nil)
	d := &Dialer{Resolver: r}
	port := netip.MustParseAddrPort(closedPort(t)).Port()
	_, _, err := d.Dial(context.Background(), "tcp", fmt.Sprintf("dead.test:%d", port))
	var de *net.DNSError
	var oe *net.OpError
	if err == nil || errors.As(err, &de) || !errors.As(err, &oe) {
		t.Fatalf("err = %v, want a *net.OpError", err)
	}
}

// tcp4 and tcp6 keep only their family.
func TestDialNetworkFamily(t *testing.T) {
	l := listenTCP(t, "127.0.0.1:0")
	hosts := writeFile(t, "hosts", "::1 fam.test\n127.0.0.1 fam.test\n")
	r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: hosts}, nil)
	d := &Dialer{Resolver: r, FallbackDelay: 5 * time.Second}
	port := l.Addr().(*net.TCPAddr).Port
	c, err := d.DialContext(context.Background(), "tcp4", fmt.Sprintf("fam.test:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := d.DialContext(context.Background(), "udp", "fam.test:53"); err == nil {
		t.Fatal("udp dial was accepted")
	}
}

// Without a Resolver the system resolver is used; IP literals need none.
func TestDialWithoutResolver(t *testing.T) {
	l := listenTCP(t, "127.0.0.1:0")
	c, cached, err := (&Dialer{}).Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.TCPConn); !ok || !cached {
		t.Fatalf("got %T cached=%v, want *net.TCPConn and cached", c, cached)
	}
}

func TestInterleave(t *testing.T) {
	a := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, tc := range []struct {
		network string
		in, out []netip.Addr
	}{
		{"tcp", a("::1", "::2", "::3", "10.0.0.1"), a("::1", "10.0.0.1", "::2", "::3")},
		{"tcp", a("10.0.0.1", "10.0.0.2", "::1"), a("10.0.0.1", "::1", "10.0.0.2")},
		{"tcp", a("::ffff:10.0.0.1", "::1"), a("10.0.0.1", "::1")},
		{"tcp4", a("::1", "10.0.0.1"), a("10.0.0.1")},
		{"tcp6", a("::1", "10.0.0.1"), a("::1")},
		{"tcp", nil, a()},
	} {
		if got := interleave(tc.in, tc.network); !slices.Equal(got, tc.out) {
			t.Errorf("interleave(%v, %s) = %v, want %v", tc.in, tc.network, got, tc.out)
		}
	}
}
