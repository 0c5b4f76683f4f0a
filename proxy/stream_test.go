package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTricklingResponseArrivesPieceByPiece checks that each event of a
// response that trickles reaches the client as it is sent: the origin
// sends the first event, then waits until the test has received it
// through the proxy before it sends the last. A proxy that held the
// first event back in a buffer would deadlock here; the origin gives up
// after patience and sends "timeout" instead, which fails the test.
func TestTricklingResponseArrivesPieceByPiece(t *testing.T) {
	// waitOrGiveUp is what every origin does between the two events.
	waitOrGiveUp := func(gotFirst <-chan struct{}) string {
		select {
		case <-gotFirst:
			return "data: last\n\n"
		case <-time.After(patience):
			return "data: timeout\n\n"
		}
	}
	cases := []struct {
		name string
		// start returns the URL to fetch; the origin must send
		// "data: first\n\n", then waitOrGiveUp's answer.
		start   func(t *testing.T, gotFirst <-chan struct{}) string
		chunked bool // the client must see a chunked response
	}{
		{"chunked", func(t *testing.T, gotFirst <-chan struct{}) string {
			o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				io.WriteString(w, waitOrGiveUp(gotFirst))
			}))
			return o.URL + "/events"
		}, true},
		{"content-length", func(t *testing.T, gotFirst <-chan struct{}) string {
			o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "25")
				io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				io.WriteString(w, waitOrGiveUp(gotFirst)[:12])
			}))
			return o.URL + "/events"
		}, false},
		{"close-delimited", func(t *testing.T, gotFirst <-chan struct{}) string {
			o := startRawOrigin(t, func(c net.Conn) {
				if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: first\n\n")
				io.WriteString(c, waitOrGiveUp(gotFirst))
			})
			return "http://" + o.addr + "/events"
		}, true},
	}
	p := startProxy(t, Config{})
	c := p.client(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotFirst := make(chan struct{})
			resp, err := c.Get(tc.start(t, gotFirst))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tc.chunked && (len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked") {
				t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
			}
			br := bufio.NewReader(resp.Body)
			first, err := readEvent(br)
			if err != nil {
				t.Fatalf("first event: %v", err)
			}
			if first != "data: first" {
				t.Fatalf("first event %q", first)
			}
			close(gotFirst)
			last, err := readEvent(br)
			if err != nil {
				t.Fatalf("last event: %v", err)
			}
			if last != "data: last" {
				t.Fatalf("last event %q: the first one was held back", last)
			}
		})
	}
}

// readEvent reads one server-sent event (lines up to an empty line).
func readEvent(br *bufio.Reader) (string, error) {
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, line)
	}
}
