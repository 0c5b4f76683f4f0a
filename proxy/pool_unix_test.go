//go:build unix

package proxy

import (
	"fmt"
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
	for _, list := range s.pool.idle {
		for _, uc := range list {
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
// between requests: a bodiless request is retried on a new connection,
// and a request with a body (which could not be replayed) is not sent on
// the dead one in the first place.
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
