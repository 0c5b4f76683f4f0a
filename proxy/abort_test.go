package proxy

import (
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestClientAbortClosesUpstream has a client read part of an endless
// download and hang up: the proxy must close the upstream connection (the
// origin's writes fail) rather than drain or pool it, and every goroutine
// the request started must end.
func TestClientAbortClosesUpstream(t *testing.T) {
	for _, framing := range []string{"chunked", "content-length"} {
		t.Run(framing, func(t *testing.T) {
			originDone := make(chan error, 1)
			o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if framing == "content-length" {
					w.Header().Set("Content-Length", "1099511627776") // 1 TiB: through splice
				}
				// Bounded, so that a proxy that leaks the upstream conn
				// fails the test rather than hanging the origin's Close.
				http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * patience))
				buf := make([]byte, 32<<10)
				for {
					if _, err := w.Write(buf); err != nil {
						originDone <- err
						return
					}
					w.(http.Flusher).Flush()
				}
			}))
			p := startProxy(t, Config{})
			runtime.GC()
			base := runtime.NumGoroutine()

			rc := dialRaw(t, p.addr)
			rc.send("GET " + o.URL + "/endless HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
				t.Fatalf("read %d bytes of the download: %v", n, err)
			}
			rc.c.Close()

			select {
			case <-originDone:
			case <-time.After(patience):
				t.Fatal("the origin is still sending: the proxy kept the upstream connection")
			}
			waitGoroutines(t, base)
			if n := p.srv.IdleUpstreamConns(); n != 0 {
				t.Errorf("%d upstream conns pooled after an aborted body", n)
			}
		})
	}
}
