//go:build linux

package harness

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ServeSink serves the upload sink on ln until it fails: every request's
// body is read to the end and discarded, and the answer is 200 with the
// number of bytes read. nginx cannot play this part: for a `return` it
// answers before the body has arrived, which would measure nothing.
// The harness runs the sink in its own process (loadbench sink) so its CPU
// and memory are not mixed with the harness's.
func ServeSink(ln net.Listener) error {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 256<<10)
			n, err := io.CopyBuffer(io.Discard, r.Body, buf)
			if err != nil {
				http.Error(w, fmt.Sprintf("read body after %d bytes: %v", n, err), http.StatusBadRequest)
				return
			}
			body := strconv.FormatInt(n, 10) + "\n"
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = io.WriteString(w, body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.Serve(ln); err != nil {
		return fmt.Errorf("upload sink on %s: %w", ln.Addr(), err)
	}
	return nil
}
