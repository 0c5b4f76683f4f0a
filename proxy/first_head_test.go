package proxy

import (
	"net/http"
	"testing"
	"time"
)

// TestFirstHeadDueWithinReadHeaderTimeout checks that a new connection
// must send its first request head within read_header_timeout of being
// accepted: one that sends nothing is closed then, not after the much
// longer client_idle_timeout, which applies only between requests (a
// client opening connections and sending nothing would otherwise hold
// every slot).
func TestFirstHeadDueWithinReadHeaderTimeout(t *testing.T) {
	const headTimeout = 200 * time.Millisecond
	p := startProxy(t, Config{ReadHeaderTimeout: headTimeout, ClientIdleTimeout: time.Minute})

	dialed := time.Now() // no later than the accept
	rc := dialRaw(t, p.addr)
	if n := readToEnd(t, rc.br, rc.c); n != 0 {
		t.Errorf("%d bytes sent to a client that asked nothing", n)
	}
	if held := time.Since(dialed); held < headTimeout {
		t.Errorf("closed after %v, before read_header_timeout (%v)", held, headTimeout)
	}

	// After its first request, a kept-alive connection may idle past
	// read_header_timeout.
	rc = dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	time.Sleep(3 * headTimeout)
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a kept-alive connection idle for 3× read_header_timeout: %d %q", resp.StatusCode, body)
	}
}
