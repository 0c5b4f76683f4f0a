package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSequentialRequestsShareOneUpstreamConn sends 100 sequential
// requests to one origin, from one kept-alive client and then from ten
// separate client connections, and checks they all use one upstream
// connection.
func TestSequentialRequestsShareOneUpstreamConn(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	p := startProxy(t, Config{})
	c := p.client(t)
	for i := 0; i < 100; i++ {
		path := fmt.Sprintf("/r%d", i)
		if resp, body := mustGet(t, c, o.URL+path); resp.StatusCode != 200 || body != path {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// The pool is shared: other clients get the same upstream conn.
	for i := 0; i < 10; i++ {
		rc := dialRaw(t, p.addr)
		rc.send("GET " + o.URL + "/other HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nConnection: close\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "/other" {
			t.Fatalf("client %d: %d %q", i, resp.StatusCode, body)
		}
		rc.expectClosed()
	}
	if n := o.accepted.Load(); n != 1 {
		t.Errorf("origin accepted %d connections, want 1", n)
	}
	if reused, dialed := p.srv.Stats().Reused(); reused != 109 || dialed != 1 {
		t.Errorf("Stats().Reused() = %d reused, %d dialed; want 109, 1", reused, dialed)
	}
	if n := p.srv.IdleUpstreamConns(); n != 1 {
		t.Errorf("IdleUpstreamConns() = %d, want 1", n)
	}
}

// pooledAlive counts the idle pooled connections that still look open.
func pooledAlive(s *Server) int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	n := 0
	for _, list := range s.pool.idle {
		for _, uc := range list {
			if connAlive(uc.conn) {
				n++
			}
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
		waitFor(t, "the proxy to see the origin's close", func() bool { return pooledAlive(p.srv) == 0 })
	}
	emptySum, _, _ := hashAll(strings.NewReader(""))

	mustGet(t, c, o.URL+"/warm")
	killPooled()
	if resp, body := mustGet(t, c, o.URL+"/get"); resp.StatusCode != 200 || body != "GET "+emptySum+" 0" {
		t.Fatalf("GET after the origin closed the pooled conn: %d %q", resp.StatusCode, body)
	}

	killPooled()
	hr := newHashReader(prngBody(1, 64<<10))
	resp, err := c.Post(o.URL+"/post", "application/octet-stream", hr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("POST %s %d", hr.sum(), 64<<10); resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("POST after the origin closed the pooled conn: %d %q, want %q", resp.StatusCode, body, want)
	}
	if n := o.accepted.Load(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3", n)
	}
}

// TestUpstreamConnectionCloseNotPooled checks that a connection the
// origin marks "Connection: close" is not reused.
func TestUpstreamConnectionCloseNotPooled(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}))
	p := startProxy(t, Config{})
	c := p.client(t)
	for i := 0; i < 3; i++ {
		if resp, body := mustGet(t, c, o.URL+"/"); resp.StatusCode != 200 || body != "bye" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := o.accepted.Load(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3", n)
	}
	if n := p.srv.IdleUpstreamConns(); n != 0 {
		t.Errorf("%d idle upstream conns, want 0", n)
	}
}
