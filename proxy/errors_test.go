package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/wintest"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// TestErrorAnswers checks each error Sluice answers itself: its status, a
// one-line plain-text reason, the error kind in the access record, and whether
// the client connection is closed afterwards.
func TestErrorAnswers(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	silent := func(t *testing.T) string {
		// Accepts and reads the request, never answers.
		o := startRawOrigin(t, func(c net.Conn) {
			readRequestHead(bufio.NewReader(c))
			c.Read(make([]byte, 1)) // until the proxy gives up and closes
		})
		return o.addr
	}
	blockingDial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		<-ctx.Done()
		return nil, false, ctx.Err()
	}
	notFoundDial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, false, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	cases := []struct {
		name string
		cfg  Config
		// request returns the raw request to send; self is the proxy's
		// own address.
		request func(t *testing.T, self string) string
		code    int
		kind    stats.ErrKind
		reason  string // a substring of the reason
		closed  bool   // the proxy closes the connection after answering
	}{
		{"unknown host, system resolver", Config{}, func(t *testing.T, _ string) string {
			return "GET http://sluice-test.invalid/ HTTP/1.1\r\nHost: sluice-test.invalid\r\n\r\n"
		}, 502, stats.ErrDNS, "sluice-test.invalid", false},
		{"unknown host", Config{Dial: notFoundDial}, func(t *testing.T, _ string) string {
			return "GET http://nowhere.invalid/ HTTP/1.1\r\nHost: nowhere.invalid\r\n\r\n"
		}, 502, stats.ErrDNS, "unknown host nowhere.invalid", false},
		{"connection refused", Config{}, func(t *testing.T, _ string) string {
			a := refused(t)
			return "GET http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n"
		}, 502, stats.ErrRefused, "connection refused", false},
		{"connection refused, with a body", Config{}, func(t *testing.T, _ string) string {
			a := refused(t)
			return "POST http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\nContent-Length: 3\r\n\r\nabc"
		}, 502, stats.ErrRefused, "connection refused", true},
		{"CONNECT refused", Config{}, func(t *testing.T, _ string) string {
			a := refused(t)
			return "CONNECT " + a + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n"
		}, 502, stats.ErrRefused, "connection refused", true},
		{"upstream timeout", Config{ResponseHeaderTimeout: 300 * time.Millisecond}, func(t *testing.T, _ string) string {
			a := silent(t)
			return "GET http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n"
		}, 504, stats.ErrUpstreamTimeout, "response_header_timeout", false},
		{"upstream timeout, with a body", Config{ResponseHeaderTimeout: 300 * time.Millisecond}, func(t *testing.T, _ string) string {
			a := silent(t)
			return "POST http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\nContent-Length: 3\r\n\r\nabc"
		}, 504, stats.ErrUpstreamTimeout, "response_header_timeout", true},
		{"connect timeout", Config{Dial: blockingDial, ConnectTimeout: 200 * time.Millisecond}, func(t *testing.T, _ string) string {
			return "GET http://192.0.2.1/ HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n"
		}, 504, stats.ErrConnectTimeout, "connect_timeout", false},
		{"CONNECT connect timeout", Config{Dial: blockingDial, ConnectTimeout: 200 * time.Millisecond}, func(t *testing.T, _ string) string {
			return "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n"
		}, 504, stats.ErrConnectTimeout, "connect_timeout", true},
		{"loop to own address", Config{}, func(t *testing.T, self string) string {
			return "GET http://" + self + "/ HTTP/1.1\r\nHost: " + self + "\r\n\r\n"
		}, 508, stats.ErrLoop, "Sluice itself", false},
		{"loop to localhost", Config{}, func(t *testing.T, self string) string {
			_, port, _ := net.SplitHostPort(self)
			return "GET http://localhost:" + port + "/x HTTP/1.1\r\nHost: localhost:" + port + "\r\n\r\n"
		}, 508, stats.ErrLoop, "Sluice itself", false},
		{"loop through CONNECT", Config{}, func(t *testing.T, self string) string {
			return "CONNECT " + self + " HTTP/1.1\r\nHost: " + self + "\r\n\r\n"
		}, 508, stats.ErrLoop, "Sluice itself", true},
		{"CONNECT port not allowed", Config{ConnectPorts: []int{443}}, func(t *testing.T, _ string) string {
			return "CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n"
		}, 403, stats.ErrForbidden, "connect_ports", true},
		{"garbage", Config{}, func(t *testing.T, _ string) string {
			return "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n"
		}, 400, stats.ErrBadRequest, "request line", true},
		{"https in absolute form", Config{}, func(t *testing.T, _ string) string {
			return "GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
		}, 400, stats.ErrBadRequest, "CONNECT", true},
		{"HTTP/2 preface", Config{}, func(t *testing.T, _ string) string {
			return "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
		}, 505, stats.ErrBadRequest, "HTTP/1.1", true},
		{"both Content-Length and Transfer-Encoding", Config{}, func(t *testing.T, _ string) string {
			return "POST http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
		}, 400, stats.ErrBadRequest, "Transfer-Encoding", true},
		{"unknown local endpoint", Config{}, func(t *testing.T, _ string) string {
			return "GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n"
		}, 404, stats.ErrNone, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &accessLog{}
			tc.cfg.Access = log
			p := startProxy(t, tc.cfg)
			rc := dialRaw(t, p.addr)
			rc.send(tc.request(t, p.addr))
			resp, body := rc.response("GET")
			if tc.code == 404 {
				if resp.StatusCode != 404 {
					t.Fatalf("status %d, want 404", resp.StatusCode)
				}
			} else {
				reason := checkError(t, resp, body, tc.code)
				if !strings.Contains(reason, tc.reason) {
					t.Errorf("reason %q does not mention %q", reason, tc.reason)
				}
				if ps := resp.Header.Get("Proxy-Status"); !strings.HasPrefix(ps, "sluice; error=") {
					t.Errorf("Proxy-Status %q", ps)
				}
			}
			if tc.kind != stats.ErrNone {
				waitFor(t, "the error's access record", func() bool {
					recs := log.records()
					return len(recs) == 1 && recs[0].Err == tc.kind && recs[0].Status == tc.code
				})
			}
			if tc.closed {
				if !resp.Close {
					t.Error("no Connection: close on an answer that closes the connection")
				}
				rc.expectClosed()
				return
			}
			if resp.Close {
				t.Fatal("the connection was closed after an error that leaves it usable")
			}
			rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok\n" {
				t.Errorf("next request on the kept connection: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestHealthz checks the local endpoint for a loopback client, with
// HTTP/1.1 and HTTP/1.0.
func TestHealthz(t *testing.T) {
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: " + p.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 200 || body != "ok\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	rc.send("HEAD /healthz HTTP/1.1\r\nHost: " + p.addr + "\r\n\r\n")
	if resp, body := rc.response("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != 3 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	resp, body = mustGet(t, http.DefaultClient, "http://"+p.addr+"/healthz")
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("net/http client: %d %q", resp.StatusCode, body)
	}
	rc = dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.0\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("HTTP/1.0: %d %q", resp.StatusCode, body)
	}
	rc.expectClosed()
}

// remoteListener makes accepted connections report addr as their remote
// address. The sandbox has only loopback to test with, so this is how a
// test sees what a client from another machine would get: the bytes
// still flow over a real loopback TCP connection.
type remoteListener struct {
	net.Listener
	addr net.Addr
}

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c, l.addr}, nil
}

type remoteConn struct {
	net.Conn
	addr net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.addr }

// TestLocalEndpointsLoopbackOnly checks that a client from another
// machine, allowed by [access] allow, gets 403 for /healthz while it can
// still use the proxy (to an origin on another machine: see
// access_test.go).
func TestLocalEndpointsLoopbackOnly(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("relayed")) }))
	cfg := Config{Clients: ClientPolicy{Allow: []netip.Prefix{testNet}}, Dial: testNetDial(o.hostPort())}
	p := serveRemote(t, cfg, remoteClient)
	rc := dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: " + p.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, 403)
	rc.expectClosed()

	rc = dialRaw(t, p.addr)
	rc.send("GET http://" + originName + "/ HTTP/1.1\r\nHost: " + originName + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "relayed" {
		t.Fatalf("relay for a remote client: %d %q", resp.StatusCode, body)
	}
}

// TestLoopDetection checks both loop checks: a target written as Sluice's
// own address is refused before any dial, and a name that leads back to
// Sluice is refused once the dial shows where it went.
func TestLoopDetection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := ln.Addr().String()
	_, port, _ := net.SplitHostPort(self)
	var dials atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		dials.Add(1)
		if addr == "sluice-self.test:80" {
			addr = self // a name that resolves to Sluice
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		return c, false, err
	}
	p := serveProxy(t, Config{Dial: dial}, ln)
	for _, target := range []string{self, "localhost:" + port, "127.0.0.1:" + port} {
		rc := dialRaw(t, p.addr)
		rc.send("GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
		resp, body := rc.response("GET")
		checkError(t, resp, body, http.StatusLoopDetected)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d dials for targets that name Sluice's own address, want 0", n)
	}
	rc := dialRaw(t, p.addr)
	rc.send("GET http://sluice-self.test/ HTTP/1.1\r\nHost: sluice-self.test\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusLoopDetected)
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1", n)
	}
}

// TestGatewayTimeoutKeepsBodilessClient checks that a 504 for an upstream
// that never answered leaves the client connection usable when the
// request had no body (it was read whole, so the next request starts
// cleanly), and that the silent upstream connection is closed, not pooled.
func TestGatewayTimeoutKeepsBodilessClient(t *testing.T) {
	upstreamClosed := make(chan struct{})
	silent := startRawOrigin(t, func(c net.Conn) {
		readRequestHead(bufio.NewReader(c))
		c.Read(make([]byte, 1)) // returns when the proxy closes its end
		close(upstreamClosed)
	})
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("next")) }))
	p := startProxy(t, Config{ResponseHeaderTimeout: 300 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + silent.addr + "/ HTTP/1.1\r\nHost: " + silent.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusGatewayTimeout)
	if resp.Close {
		t.Error("Connection: close on a 504 to a bodiless request")
	}
	select {
	case <-upstreamClosed:
	case <-time.After(patience):
		t.Fatal("the silent upstream connection was not closed")
	}
	rc.send("GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "next" {
		t.Fatalf("next request on the same connection: %d %q", resp.StatusCode, body)
	}
}

// TestBadGatewayKeepsBodilessClient: an origin that breaks the protocol
// costs a bodiless request a 502, not its connection.
func TestBadGatewayKeepsBodilessClient(t *testing.T) {
	broken := startRawOrigin(t, func(c net.Conn) {
		readRequestHead(bufio.NewReader(c))
		c.Write([]byte("this is not HTTP\r\n\r\n"))
		c.Close()
	})
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("next")) }))
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + broken.addr + "/ HTTP/1.1\r\nHost: " + broken.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusBadGateway)
	if resp.Close {
		t.Error("Connection: close on a 502 to a bodiless request")
	}
	rc.send("GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "next" {
		t.Fatalf("next request on the same connection: %d %q", resp.StatusCode, body)
	}
}

// TestDeclaredBodyOverLimitGets413WhileSending: a client that sends its
// whole over-limit body before it reads still gets the 413, because the
// proxy drains the body and closes with a FIN rather than a reset.
func TestDeclaredBodyOverLimitGets413WhileSending(t *testing.T) {
	wintest.SkipUnderWine(t, "the 32 MiB body must drain within the 5 s lingering close; Wine's loopback moves some 20 MB/s (Linux's 1.2 GB/s), so it takes 2 to 5 s alone and more beside the other tests")
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the origin was reached")
	}))
	p := startProxy(t, Config{MaxBodyBytes: 1 << 20})
	const size = 32 << 20
	rc := dialRaw(t, p.addr)
	rc.send("POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(rc.c, prngBody(3, size))
		sent <- err
	}()
	// Like a naive client, read only once the whole body is sent: without
	// the drain, the proxy's close would reset the upload half-way.
	if err := <-sent; err != nil {
		t.Fatalf("sending the body: %v (the proxy reset the connection)", err)
	}
	resp, body := rc.response("POST")
	checkError(t, resp, body, http.StatusRequestEntityTooLarge)
}
