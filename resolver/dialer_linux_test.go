package resolver

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// slowListener returns a loopback port whose connects hang: a listening
// socket with backlog 0 whose accept queue is already full, so the kernel
// drops further SYNs — a server that is slow to answer, on loopback only.
func slowListener(t *testing.T, ip [4]byte) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ip}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	addr := fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], port)
	for range 10 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return port // the queue is full: connects now hang
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("could not fill the accept queue of %s", addr)
	return 0
}

// A first address that does not answer costs one fallback delay: the next
// address is raced alongside it and wins.
func TestDialHappyEyeballsSlowFirst(t *testing.T) {
	port := slowListener(t, [4]byte{127, 0, 0, 2})
	fast := listenTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	hosts := writeFile(t, "hosts", "127.0.0.2 slowfirst.test\n127.0.0.1 slowfirst.test\n")
	r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: hosts}, nil)
	const delay = 100 * time.Millisecond
	d := &Dialer{Resolver: r, FallbackDelay: delay}

	start := time.Now()
	c, _, err := d.Dial(context.Background(), "tcp", fmt.Sprintf("slowfirst.test:%d", port))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != fast.Addr().String() {
		t.Fatalf("connected to %s, want the fast %s", got, fast.Addr())
	}
	if elapsed < delay {
		t.Fatalf("connected after %v, before the %v fallback delay: the first address was not tried first", elapsed, delay)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("connected after %v: the fallback did not start", elapsed)
	}
}

// With only slow addresses the dial gives up at the Dialer's Timeout.
func TestDialTimeout(t *testing.T) {
	port := slowListener(t, [4]byte{127, 0, 0, 3})
	hosts := writeFile(t, "hosts", "127.0.0.3 slow.test\n")
	r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: hosts}, nil)
	d := &Dialer{Resolver: r, Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, _, err := d.Dial(context.Background(), "tcp", fmt.Sprintf("slow.test:%d", port))
	if err == nil {
		t.Fatal("dial to a port that never answers succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("dial gave up after %v, want about 300ms", elapsed)
	}
}
