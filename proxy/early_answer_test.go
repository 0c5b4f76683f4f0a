package proxy

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// How an origin that answered before the request body was in ends.
type earlyEnd int

const (
	// originCloses closes with the body unread, so the kernel answers
	// the proxy's next bytes with a reset.
	originCloses earlyEnd = iota
	// originResets closes with SO_LINGER 0: a reset at once.
	originResets
	// originStopsReading keeps its connection open and reads nothing, as
	// many servers do: only full duplex gets the answer through before
	// body_timeout (left at its default) would cut the upload.
	originStopsReading
)

// TestEarlyAnswerDuringUpload checks that an origin that answers before
// the request body is in (a 413, 401 or 403 after reading the head) and
// then closes, resets or stops reading gets its answer to the client
// promptly, not a 502 for the upload it cut short; that the client's
// connection ends cleanly after it, since its body was never read whole;
// and that the upstream connection is closed once the answer is relayed.
func TestEarlyAnswerDuringUpload(t *testing.T) {
	const size = 64 << 20
	const answer = "too large"
	for _, tc := range []struct {
		name    string
		end     earlyEnd
		chunked bool // the upload is one chunk of size, not Content-Length
	}{
		{"origin closes", originCloses, false},
		{"origin resets", originResets, false},
		{"origin closes, chunked upload", originCloses, true},
		{"origin stops reading", originStopsReading, false},
		{"origin stops reading, chunked upload", originStopsReading, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relayed := make(chan struct{})
			release := sync.OnceFunc(func() { close(relayed) })
			defer release() // even when the test fails, or the origin's cleanup waits forever
			upstreamClosed := make(chan struct{})
			o := startRawOrigin(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := readRequestHead(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: "+
					strconv.Itoa(len(answer))+"\r\n\r\n"+answer)
				switch tc.end {
				case originResets:
					c.(*net.TCPConn).SetLinger(0)
				case originStopsReading:
					<-relayed // read nothing while the client waits for the answer
					<-closedBy(c, br)
					close(upstreamClosed)
				}
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
			rc.c.SetReadDeadline(time.Now().Add(stallBound))
			resp, body := rc.response("PUT")
			release()
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
			if tc.end == originStopsReading {
				expectClosedWithin(t, "the upstream connection", upstreamClosed)
			}
			waitRecord(t, log, 413, stats.ErrNone)
		})
	}
}
