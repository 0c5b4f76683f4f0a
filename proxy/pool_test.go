package proxy

import (
	"fmt"
	"io"
	"net/http"
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
