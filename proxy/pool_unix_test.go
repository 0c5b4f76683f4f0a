//go:build unix

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The liveness check on pooled conns (connAlive) exists only on unix;
// elsewhere a dead pooled conn shows up as a failed request.

// pooledAlive counts the idle pooled connections that still look open to
// a non-blocking peek (done here rather than with connAlive, so that a
// broken connAlive fails the test below instead of hanging it).
func pooledAlive(t *testing.T, s *Server) int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	n := 0
	for _, h := range s.pool.hosts {
		for _, uc := range h.idle {
			rc, err := uc.conn.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rc.Read(func(fd uintptr) bool {
				var b [1]byte
				_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
				if err == unix.EAGAIN {
					n++
				}
				return true
			})
		}
	}
	return n
}

// TestPooledConnClosedByOrigin has the origin close its idle connection
// between requests: the liveness check before each reuse sees the close,
// so neither a bodiless request nor one with a body (which could not be
// replayed) is sent on the dead connection.
func TestPooledConnClosedByOrigin(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum, n, _ := hashAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, sum, n)
	}))
	p := startProxy(t, Config{})
	c := p.client(t)
	killPooled := func() {
		t.Helper()
		// The client has its response before the proxy pools the conn.
		waitFor(t, "the upstream conn to be pooled", func() bool { return p.srv.IdleUpstreamConns() == 1 })
		o.CloseClientConnections()
		waitFor(t, "the proxy to see the origin's close", func() bool { return pooledAlive(t, p.srv) == 0 })
	}
	emptySum, _, _ := hashAll(strings.NewReader(""))

	mustGet(t, c, o.URL+"/warm")
	killPooled()
	// A raw client: net/http would hide a failure by retrying itself.
	rc := dialRaw(t, p.addr)
	rc.send("GET " + o.URL + "/get HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "GET "+emptySum+" 0" {
		t.Fatalf("GET after the origin closed the pooled conn: %d %q", resp.StatusCode, body)
	}

	killPooled()
	post := strings.Repeat("p", 64<<10)
	rc.send("POST " + o.URL + "/post HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nContent-Length: 65536\r\n\r\n" + post)
	postSum, _, _ := hashAll(strings.NewReader(post))
	resp, body := rc.response("POST")
	if want := fmt.Sprintf("POST %s %d", postSum, 64<<10); resp.StatusCode != 200 || body != want {
		t.Fatalf("POST after the origin closed the pooled conn: %d %q, want %q", resp.StatusCode, body, want)
	}
	if n := o.accepted.Load(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3", n)
	}
}

// TestLateBytesOnPooledConnNeverReachNextClient has the origin answer
// with Content-Length: 2 and, once the connection is pooled, send a whole
// second response nobody asked for (an origin that writes 300 ms late
// does so): the check before reuse finds the bytes, so the connection is
// closed and the next client gets its own response from a new one.
func TestLateBytesOnPooledConnNeverReachNextClient(t *testing.T) {
	late := make(chan struct{})
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.URL.Path != "/first" {
				io.WriteString(c, okReply(r))
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			<-late
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")
		}
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/first HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("first client got %d %q", resp.StatusCode, body)
	}
	waitFor(t, "the upstream conn to be pooled", func() bool { return p.srv.IdleUpstreamConns() == 1 })
	close(late)
	waitFor(t, "the late bytes to reach the pooled conn", func() bool { return pooledAlive(t, p.srv) == 0 })
	expectOwnResponse(t, p, o.addr, "/second")
	if n := o.accepted.Load(); n != 2 {
		t.Errorf("origin accepted %d connections, want 2", n)
	}
}

// BenchmarkConnAlive measures the check each reuse of a pooled conn
// pays: one non-blocking peek, no allocation.
func BenchmarkConnAlive(b *testing.B) {
	o := startRawOrigin(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	c, err := net.Dial("tcp", o.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	uc := &upstreamConn{conn: c}
	uc.probe.init(c)
	b.ReportAllocs()
	for b.Loop() {
		if !connAlive(uc) {
			b.Fatal("an idle open conn reported dead")
		}
	}
}
