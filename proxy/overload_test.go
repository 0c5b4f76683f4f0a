package proxy

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestOverload503EndsWithFIN checks that the 503 past max_concurrent
// reaches a client that had sent its request before it was written: the
// answer must end with a FIN, not a reset, which would destroy it on its
// way or in the client's buffer on some systems (closing a socket with
// the request unread makes the kernel send one).
func TestOverload503EndsWithFIN(t *testing.T) {
	p := startProxy(t, Config{MaxConcurrent: 1, OverloadWait: 100 * time.Millisecond})
	holder := dialRaw(t, p.addr)
	holder.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := holder.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("first connection: %d", resp.StatusCode)
	}

	rc := dialRaw(t, p.addr)
	// The request is in well before the 503 is written, OverloadWait
	// after the connection was accepted.
	rc.send("POST http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 5\r\n\r\nhello")
	rc.c.SetReadDeadline(time.Now().Add(stallBound))
	all, err := io.ReadAll(rc.c)
	if err != nil {
		t.Fatalf("after %d bytes (%q): %v; want the 503 and a clean end", len(all), all, err)
	}
	if !strings.HasPrefix(string(all), "HTTP/1.1 503 ") || !strings.Contains(string(all), "max_concurrent") {
		t.Fatalf("got %q, want the 503 naming max_concurrent", all)
	}
}
