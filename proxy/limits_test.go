package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHeadOverMaxHeaderBytes checks that a request head over the limit
// gets 431 and the connection is closed.
func TestHeadOverMaxHeaderBytes(t *testing.T) {
	p := startProxy(t, Config{MaxHeaderBytes: 1024})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusRequestHeaderFieldsTooLarge)
	rc.expectClosed()

	// Just under the limit is fine.
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	rc = dialRaw(t, p.addr)
	head := "GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nX-Big: "
	rc.send(head + strings.Repeat("a", 1024-len(head)-4) + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("a head of exactly the limit: %d %q", resp.StatusCode, body)
	}
}

// TestBodyOverMaxBodyBytes checks 413 for a body over the limit, whether
// its length is declared or only found while relaying chunks, and that the
// origin never gets a complete request.
func TestBodyOverMaxBodyBytes(t *testing.T) {
	var completed atomic.Int64
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			completed.Add(1)
		}
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, Config{MaxBodyBytes: 1000})
	prefix := "POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n"

	rc := dialRaw(t, p.addr)
	rc.send(prefix + "Content-Length: 1000\r\n\r\n" + strings.Repeat("a", 1000))
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("a body of exactly the limit: %d %q", resp.StatusCode, body)
	}

	rc = dialRaw(t, p.addr)
	rc.send(prefix + "Content-Length: 1001\r\n\r\n")
	resp, body := rc.response("POST")
	checkError(t, resp, body, http.StatusRequestEntityTooLarge)
	rc.expectClosed()

	rc = dialRaw(t, p.addr)
	chunk := "258\r\n" + strings.Repeat("b", 600) + "\r\n"
	rc.send(prefix + "Transfer-Encoding: chunked\r\n\r\n" + chunk + chunk + "0\r\n\r\n")
	resp, body = rc.response("POST")
	checkError(t, resp, body, http.StatusRequestEntityTooLarge)
	rc.expectClosed()

	if n := completed.Load(); n != 1 {
		t.Errorf("origin completed %d requests, want only the one within the limit", n)
	}
}

// TestOverMaxConcurrent holds the only connection slot and checks that
// the next connection gets 503 after a short wait, and that the slot is
// usable again once freed.
func TestOverMaxConcurrent(t *testing.T) {
	p := startProxy(t, Config{MaxConcurrent: 1, OverloadWait: 50 * time.Millisecond})
	holder := dialRaw(t, p.addr)
	holder.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := holder.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("first connection: %d", resp.StatusCode)
	}

	rc := dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	resp, body := rc.response("GET")
	if reason := checkError(t, resp, body, http.StatusServiceUnavailable); !strings.Contains(reason, "max_concurrent") {
		t.Errorf("reason %q does not name max_concurrent", reason)
	}
	rc.expectClosed()

	holder.c.Close()
	waitFor(t, "the slot to be freed", func() bool {
		c, err := net.DialTimeout("tcp", p.addr, patience)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(patience))
		io.WriteString(c, "GET /healthz HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		return strings.HasPrefix(string(b), "HTTP/1.1 200")
	})
}

// TestSlowClientCutOffByReadHeaderTimeout sends half a request head and
// stops: the proxy answers 408 and closes.
func TestSlowClientCutOffByReadHeaderTimeout(t *testing.T) {
	p := startProxy(t, Config{ReadHeaderTimeout: 300 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusRequestTimeout)
	rc.expectClosed()
}

// TestIdleClientClosed checks that a kept-alive client that sends nothing
// more is closed after ClientIdleTimeout, silently. (A new connection
// that sends nothing is closed after ReadHeaderTimeout: see
// TestFirstHeadDueWithinReadHeaderTimeout.)
func TestIdleClientClosed(t *testing.T) {
	p := startProxy(t, Config{ClientIdleTimeout: 300 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
	}
	rc.expectClosed()
}
