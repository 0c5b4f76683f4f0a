package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestEarlyAnswerDuringUpload checks that an origin that answers before
// the request body is in (a 413, 401 or 403 after reading the head) and
// then closes or resets its connection gets its answer to the client,
// not a 502 for the upload it cut short; and that the client's
// connection ends cleanly after it, since its body was never read whole.
func TestEarlyAnswerDuringUpload(t *testing.T) {
	const size = 64 << 20
	const answer = "too large"
	for _, tc := range []struct {
		name    string
		reset   bool // SO_LINGER 0: the origin's close sends a reset at once
		chunked bool // the upload is one chunk of size, not Content-Length
	}{{"origin closes", false, false}, {"origin resets", true, false}, {"chunked upload", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			o := startRawOrigin(t, func(c net.Conn) {
				if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: "+
					strconv.Itoa(len(answer))+"\r\n\r\n"+answer)
				if tc.reset {
					c.(*net.TCPConn).SetLinger(0)
				}
				// Returning closes c with the body unread, so the kernel
				// answers the proxy's next bytes with a reset.
			})
			log := &accessLog{}
			p := startProxy(t, Config{Access: log})
			rc := dialRaw(t, p.addr)
			head := "PUT http://" + o.addr + "/upload HTTP/1.1\r\nHost: " + o.addr + "\r\n"
			if tc.chunked {
				rc.send(head + "Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(size, 16) + "\r\n")
			} else {
				rc.send(head + "Content-Length: " + strconv.Itoa(size) + "\r\n\r\n")
			}
			uploaded := make(chan error, 1)
			go func() {
				_, err := io.Copy(rc.c, prngBody(1, size))
				if err == nil {
					rc.c.(*net.TCPConn).CloseWrite()
				}
				uploaded <- err
			}()
			resp, body := rc.response("PUT")
			if resp.StatusCode != 413 || body != answer {
				t.Fatalf("got %d %q, want the origin's 413 %q", resp.StatusCode, body, answer)
			}
			if !resp.Close {
				t.Error("no Connection: close after an answer that left the request body unread")
			}
			rc.expectClosed()
			select {
			case <-uploaded:
			case <-time.After(patience):
				t.Fatal("the upload neither finished nor failed")
			}
			waitFor(t, "the access record", func() bool {
				recs := log.records()
				return len(recs) == 1 && recs[0].Status == 413
			})
		})
	}
}
