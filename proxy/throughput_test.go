package proxy

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// TestLongTransfersCountAsTheyRun pins down live byte counting: while a
// download (Content-Length, so the splice path, and chunked) and a tunnel
// are paused half-way, the counters already hold the half that went
// through; when they end, the totals are exact, nothing counted twice.
func TestLongTransfersCountAsTheyRun(t *testing.T) {
	const half = 4 << 20
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(2*half))
				}
				io.Copy(w, prngBody(1, half))
				w.(http.Flusher).Flush()
				<-release
				io.Copy(w, prngBody(2, half))
			}))
			// Cleanups run last-in first-out: this one frees the handler
			// before the origin's Close waits for it, should the test fail
			// half-way.
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			t.Cleanup(free)
			c := stats.New()
			p := startProxy(t, Config{Stats: c})
			resp, err := p.client(t).Get(o.URL + "/big")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.CopyN(io.Discard, resp.Body, half); err != nil {
				t.Fatal(err)
			}
			// The first half is through; the counter must show most of it
			// before the end: all but the splice round still waiting for
			// bytes (and, on the buffered path, one meterStep).
			waitFor(t, "the first half counted while the download runs", func() bool {
				return c.Snapshot().BytesOut >= half-max(spliceStep, meterStep)
			})
			free()
			if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != half {
				t.Fatalf("second half: %d bytes, %v", n, err)
			}
			resp.Body.Close()
			waitFor(t, "the request to finish", func() bool { return c.Snapshot().Requests == 1 })
			if got := c.Snapshot().BytesOut; got != 2*half {
				t.Fatalf("BytesOut = %d after the download, want exactly %d", got, 2*half)
			}
		})
	}
}
