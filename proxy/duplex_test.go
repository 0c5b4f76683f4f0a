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

// The relay reads the upstream's response while a request body is still
// being sent (full duplex), so an answer that comes before the upload
// ends reaches the client at once.

// TestEarlyAnswerFromOriginThatStopsReading has an origin answer 413
// after the request head and keep its connection open without reading
// the body, as many servers do: the client must get the 413 promptly (not
// when body_timeout, left at its default, would cut the upload), and the
// upstream connection must be closed once it is relayed.
func TestEarlyAnswerFromOriginThatStopsReading(t *testing.T) {
	const size = 64 << 20
	const answer = "too large"
	for _, chunked := range []bool{false, true} {
		name := "content-length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
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
				<-relayed // read nothing while the client waits for the answer
				<-closedBy(c, br)
				close(upstreamClosed)
			})
			log := &accessLog{}
			p := startProxy(t, Config{Access: log})
			rc := dialRaw(t, p.addr)
			head := "PUT http://" + o.addr + "/upload HTTP/1.1\r\nHost: " + o.addr + "\r\n"
			if chunked {
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
			expectClosedWithin(t, "the upstream connection", upstreamClosed)
			waitRecord(t, log, 413, stats.ErrNone)
		})
	}
}

// TestClientResetMidUploadIsAnAbort has a client reset its connection in
// the middle of a large (spliced) upload: that is the client's failure,
// recorded as client_abort with no answer, not a 502 blamed on the
// upstream after a wait for an answer that cannot come.
func TestClientResetMidUploadIsAnAbort(t *testing.T) {
	const size = 64 << 20
	upstreamClosed := make(chan struct{})
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		<-closedBy(c, br)
		close(upstreamClosed)
	})
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	rc := dialRaw(t, p.addr)
	rc.send("PUT http://" + o.addr + "/upload HTTP/1.1\r\nHost: " + o.addr + "\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	if _, err := io.Copy(rc.c, prngBody(6, 8<<20)); err != nil {
		t.Fatalf("upload the first 8 MiB: %v", err)
	}
	rc.c.(*net.TCPConn).SetLinger(0)
	rc.c.Close()
	expectClosedWithin(t, "the upstream connection", upstreamClosed)
	waitRecord(t, log, 0, stats.ErrClientAbort)
}
