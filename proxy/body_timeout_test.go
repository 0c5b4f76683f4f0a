package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Config.BodyTimeout: a body that stops moving, either way, ends both
// connections within 1.5 times the timeout, and the access record names
// the side that stalled. Each case runs once through the buffered copy
// (a remainder under spliceMin) and once through the pump (splice).

// bodyTimeout is these tests' body_timeout: short, so a stall shows in a
// fraction of a second.
const bodyTimeout = 200 * time.Millisecond

// TestClientStallsMidUpload has a client send part of its body and stop:
// it gets 408 once body_timeout passes, never sooner, and both its
// connection and the upstream's close.
func TestClientStallsMidUpload(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, sent int
		chunked    bool
	}{
		{"buffered", 1000, 100, false},
		// The part sent fits the socket buffers, so the write returns at once
		// however slowly a loaded machine relays it.
		{"spliced", 16 << 20, 64 << 10, false},
		{"chunked", 1000, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			p := startProxy(t, Config{BodyTimeout: bodyTimeout, Access: log})
			rc := dialRaw(t, p.addr)
			head := "PUT http://" + o.addr + "/up HTTP/1.1\r\nHost: " + o.addr + "\r\n"
			if tc.chunked {
				rc.send(head + "Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(tc.size), 16) + "\r\n")
			} else {
				rc.send(head + "Content-Length: " + strconv.Itoa(tc.size) + "\r\n\r\n")
			}
			lastByte := time.Now() // no later than the proxy's last read
			rc.send(strings.Repeat("x", tc.sent))
			rc.c.SetReadDeadline(time.Now().Add(stallBound))
			resp, body := rc.response("PUT")
			quiet := time.Since(lastByte)
			checkError(t, resp, body, http.StatusRequestTimeout)
			if !strings.Contains(body, "body_timeout") {
				t.Errorf("reason %q does not name body_timeout", body)
			}
			if quiet < bodyTimeout {
				t.Errorf("answered %v after the last byte, before the %v body_timeout", quiet, bodyTimeout)
			}
			readToEnd(t, rc.br, rc.c)
			expectClosedWithin(t, "the upstream connection", upstreamClosed)
			rec := waitRecord(t, log, http.StatusRequestTimeout, stats.ErrClientTimeout)
			if rec.BytesIn < int64(tc.sent)/2 {
				t.Errorf("BytesIn %d: the part sent before the stall (%d) was not relayed", rec.BytesIn, tc.sent)
			}
		})
	}
}

// TestUpstreamStopsTakingUpload has an origin read the request head and
// then read nothing more, without answering: the client gets 504 once
// body_timeout passes with its upload stuck, and the upstream connection
// is closed.
func TestUpstreamStopsTakingUpload(t *testing.T) {
	const size = 64 << 20
	release := make(chan struct{})
	releaseOrigin := sync.OnceFunc(func() { close(release) })
	defer releaseOrigin() // even when the test fails, or the origin's cleanup waits forever
	upstreamClosed := make(chan struct{})
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readRequestHead(br); err != nil {
			return
		}
		<-release // read nothing until the proxy gave up
		<-closedBy(c, br)
		close(upstreamClosed)
	})
	log := &accessLog{}
	p := startProxy(t, Config{BodyTimeout: bodyTimeout, Access: log})
	rc := dialRaw(t, p.addr)
	rc.send("PUT http://" + o.addr + "/up HTTP/1.1\r\nHost: " + o.addr + "\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	go func() {
		if _, err := io.Copy(rc.c, prngBody(2, size)); err == nil {
			rc.c.(*net.TCPConn).CloseWrite()
		}
	}()
	rc.c.SetReadDeadline(time.Now().Add(stallBound))
	resp, body := rc.response("PUT")
	releaseOrigin()
	checkError(t, resp, body, http.StatusGatewayTimeout)
	if !strings.Contains(body, "body_timeout") {
		t.Errorf("reason %q does not name body_timeout", body)
	}
	expectClosedWithin(t, "the upstream connection", upstreamClosed)
	waitRecord(t, log, http.StatusGatewayTimeout, stats.ErrUpstreamTimeout)
}

// TestClientNeverReadsResponse has a client ask for 64 MiB and read
// nothing: once the buffers between are full and body_timeout passes, both
// connections close and the record says the client stalled.
func TestClientNeverReadsResponse(t *testing.T) {
	const size = 64 << 20
	for _, chunked := range []bool{false, true} {
		name := "content-length (spliced)"
		if chunked {
			name = "chunked (buffered)"
		}
		t.Run(name, func(t *testing.T) {
			originDone := make(chan error, 1)
			o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				http.NewResponseController(w).SetWriteDeadline(time.Now().Add(patience))
				_, err := io.Copy(w, prngBody(3, size))
				originDone <- err
			}))
			log := &accessLog{}
			p := startProxy(t, Config{BodyTimeout: bodyTimeout, Access: log})
			rc := dialRaw(t, p.addr)
			rc.send("GET " + o.URL + "/big HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			select {
			case err := <-originDone:
				if err == nil {
					t.Fatal("the origin sent the whole body to a client that reads nothing")
				}
			case <-time.After(stallBound):
				t.Fatalf("the origin is still sending %v later: the proxy holds the stalled download", stallBound)
			}
			rec := waitRecord(t, log, http.StatusOK, stats.ErrClientTimeout)
			if n := readToEnd(t, rc.br, rc.c); n >= size {
				t.Errorf("the client got %d bytes, the whole body", n)
			}
			if rec.BytesOut >= size {
				t.Errorf("BytesOut %d, the whole body", rec.BytesOut)
			}
		})
	}
}

// TestUpstreamStallsMidBody has an origin send part of a response body
// and stop without closing: the client's connection closes once
// body_timeout passes, and the record says the upstream stalled.
func TestUpstreamStallsMidBody(t *testing.T) {
	for _, tc := range []struct {
		name, head, part string
	}{
		{"content-length, buffered", "Content-Length: 1000", strings.Repeat("y", 100)},
		{"content-length, spliced", "Content-Length: 16777216", strings.Repeat("y", 100<<10)},
		{"chunked", "Transfer-Encoding: chunked", "5\r\nhello\r\n"},
		{"until close", "", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstreamClosed := make(chan struct{})
			o := startRawOrigin(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := readRequestHead(br); err != nil {
					return
				}
				head := "HTTP/1.1 200 OK\r\n"
				if tc.head != "" {
					head += tc.head + "\r\n"
				}
				io.WriteString(c, head+"\r\n"+tc.part)
				<-closedBy(c, br)
				close(upstreamClosed)
			})
			log := &accessLog{}
			p := startProxy(t, Config{BodyTimeout: bodyTimeout, Access: log})
			rc := dialRaw(t, p.addr)
			rc.send("GET http://" + o.addr + "/stall HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			rc.c.SetReadDeadline(time.Now().Add(stallBound))
			resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatalf("read response head: %v", err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, want the origin's 200", resp.StatusCode)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			switch {
			case isTimeout(err):
				t.Fatalf("the body is still open %v later: the proxy holds the stalled upstream", stallBound)
			case err == nil:
				t.Error("the body of a stalled upstream ended as if complete")
			}
			readToEnd(t, rc.br, rc.c)
			expectClosedWithin(t, "the upstream connection", upstreamClosed)
			waitRecord(t, log, http.StatusOK, stats.ErrUpstreamTimeout)
		})
	}
}

// TestSlowBodiesOutliveBodyTimeout moves 4 MiB each way in pieces spaced
// well within body_timeout, so each transfer takes many times the
// timeout: none may be cut, and every byte arrives.
func TestSlowBodiesOutliveBodyTimeout(t *testing.T) {
	const (
		size  = 4 << 20
		piece = 128 << 10
		gap   = bodyTimeout / 4
	)
	bo := startBodyOrigin(t)
	p := startProxy(t, Config{BodyTimeout: bodyTimeout})

	t.Run("download", func(t *testing.T) {
		rc := dialRaw(t, p.addr)
		rc.send("GET " + bo.URL + "/down?id=slow&seed=4&n=" + strconv.Itoa(size) + " HTTP/1.1\r\nHost: " + bo.hostPort() + "\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatal(err)
		}
		hr := newHashReader(resp.Body)
		for {
			time.Sleep(gap)
			if _, err := io.CopyN(io.Discard, hr, piece); err != nil {
				if err != io.EOF {
					t.Fatalf("after %d bytes: %v", hr.n, err)
				}
				break
			}
		}
		if want := bo.sentSum(t, "slow"); hr.n != size || hr.sum() != want {
			t.Fatalf("got %d bytes, sha256 %s; want %d, %s", hr.n, hr.sum(), size, want)
		}
	})

	t.Run("upload", func(t *testing.T) {
		rc := dialRaw(t, p.addr)
		rc.send("PUT " + bo.URL + "/up HTTP/1.1\r\nHost: " + bo.hostPort() + "\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
		body := newHashReader(prngBody(5, size))
		for sent := 0; sent < size; sent += piece {
			time.Sleep(gap)
			if _, err := io.CopyN(rc.c, body, piece); err != nil {
				t.Fatalf("after %d bytes: %v", sent, err)
			}
		}
		resp, got := rc.response("PUT")
		if want := fmt.Sprintf("%s %d", body.sum(), size); resp.StatusCode != 200 || got != want {
			t.Fatalf("origin answered %d %q, want 200 %q", resp.StatusCode, got, want)
		}
	})
}
