//go:build unix

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestLateBytesOnABurstsConnsNeverReachAClient is
// TestLateBytesOnPooledConnNeverReachNextClient for a pool grown past
// MaxIdlePerHost: a burst leaves 40 conns idle (MaxIdlePerHost 4), then
// the origin sends an unasked response on every one of them. The check
// before reuse covers each conn the pool keeps, however many: 40 more
// clients each get their own response, over new conns.
func TestLateBytesOnABurstsConnsNeverReachAClient(t *testing.T) {
	const n = 40
	arrived, release, late := make(chan struct{}, n), make(chan struct{}), make(chan struct{})
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.URL.Path != "/burst" {
				io.WriteString(c, okReply(r))
				continue
			}
			arrived <- struct{}{}
			<-release
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			<-late
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")
		}
	})
	// Should the test fail half-way, free the origin's handlers before its
	// cleanup waits for them (cleanups run last-in first-out).
	var released, poisoned sync.Once
	t.Cleanup(func() {
		released.Do(func() { close(release) })
		poisoned.Do(func() { close(late) })
	})
	p := startProxy(t, Config{MaxIdlePerHost: 4})
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialRaw(t, p.addr)
		clients[i].send("GET http://" + o.addr + "/burst HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	}
	for i := 0; i < n; i++ {
		select {
		case <-arrived: // all n in flight at once: n conns
		case <-time.After(patience):
			t.Fatalf("%d of %d requests reached the origin", i, n)
		}
	}
	released.Do(func() { close(release) })
	for _, rc := range clients {
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("burst client got %d %q", resp.StatusCode, body)
		}
	}
	waitFor(t, fmt.Sprintf("the burst's %d conns pooled", n), func() bool { return p.srv.IdleUpstreamConns() == n })
	poisoned.Do(func() { close(late) })
	waitFor(t, "the late bytes on every pooled conn", func() bool { return pooledAlive(t, p.srv) == 0 })
	for i := 0; i < n; i++ {
		expectOwnResponse(t, p, o.addr, fmt.Sprintf("/after%d", i))
	}
	if got := o.accepted.Load(); got != n+1 {
		t.Errorf("origin accepted %d connections, want %d (the burst's, then one for the clients after)", got, n+1)
	}
}
