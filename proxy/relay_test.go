package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// headLines splits a raw head into its lines, without the empty last one.
func headLines(head string) []string {
	return strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHeadersRelayed checks both heads byte for byte against a raw origin:
// hop-by-hop fields (and those Connection or Proxy-Connection name) are
// removed, Proxy-Authorization never leaves, Via is added unless NoVia,
// and every other field keeps its name's case and its place.
func TestHeadersRelayed(t *testing.T) {
	for _, noVia := range []bool{false, true} {
		name := "via"
		if noVia {
			name = "no via"
		}
		t.Run(name, func(t *testing.T) {
			heads := make(chan string, 1)
			o := startRawOrigin(t, func(c net.Conn) {
				head, err := readRequestHead(bufio.NewReader(c))
				if err != nil {
					return
				}
				heads <- head
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Lower-case: a\r\nConnection: X-Resp-Hop, keep-alive\r\n"+
					"X-Resp-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-UPPER: b\r\n"+
					"Upgrade: h2c\r\nx-mixed-Case: c\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok")
			})
			p := startProxy(t, Config{NoVia: noVia})
			rc := dialRaw(t, p.addr)
			rc.send("GET http://" + o.addr + "/path?q=1 HTTP/1.1\r\nHost: " + o.addr + "\r\nX-First: 1\r\n" +
				"Connection: keep-alive, X-Hop-A\r\nProxy-Connection: keep-alive, X-Hop-B\r\nX-Hop-A: a\r\n" +
				"X-Hop-B: b\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nTE: trailers\r\n" +
				"X-lower-Case: v\r\nX-Dup: 1\r\nX-Dup: 2\r\nUSER-AGENT: raw\r\n\r\n")

			want := []string{"GET /path?q=1 HTTP/1.1", "Host: " + o.addr, "X-First: 1", "X-lower-Case: v", "X-Dup: 1", "X-Dup: 2", "USER-AGENT: raw"}
			if !noVia {
				want = append(want, "Via: 1.1 sluice")
			}
			if got := headLines(<-heads); !equalLines(got, want) {
				t.Errorf("origin received\n%q\nwant\n%q", got, want)
			}

			head, err := readRequestHead(rc.br)
			if err != nil {
				t.Fatal(err)
			}
			want = []string{"HTTP/1.1 200 OK", "X-Lower-case: a", "X-UPPER: b", "x-mixed-Case: c", "Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 2"}
			if !noVia {
				want = append(want, "Via: 1.1 sluice")
			}
			if got := headLines(head); !equalLines(got, want) {
				t.Errorf("client received\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestHTTP10Clients checks an HTTP/1.0 client with and without
// keep-alive.
func TestHTTP10Clients(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.URL.Path)
	}))
	p := startProxy(t, Config{})
	req := "GET " + o.URL + "/a HTTP/1.0\r\n"

	rc := dialRaw(t, p.addr)
	rc.send(req + "\r\n")
	resp, body := rc.response("GET")
	// The origin is spoken to in HTTP/1.1 whatever the client's version.
	if resp.StatusCode != 200 || body != "HTTP/1.1 /a" || !resp.Close {
		t.Fatalf("got %d %q, close %v", resp.StatusCode, body, resp.Close)
	}
	if v := resp.Header.Get("Via"); v != "1.1 sluice" {
		t.Errorf("Via %q", v)
	}
	rc.expectClosed()

	rc = dialRaw(t, p.addr)
	for i := 0; i < 3; i++ {
		rc.send(req + "Connection: keep-alive\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "HTTP/1.1 /a" || resp.Close {
			t.Fatalf("keep-alive request %d: %d %q, close %v", i, resp.StatusCode, body, resp.Close)
		}
		if c := resp.Header.Get("Connection"); !strings.EqualFold(c, "keep-alive") {
			t.Errorf("Connection %q, want keep-alive", c)
		}
	}
}

// TestCloseDelimitedResponse relays a response that ends when the origin
// closes: to an HTTP/1.1 client as chunked on a kept connection, to an
// HTTP/1.0 client as is, ending with the close.
func TestCloseDelimitedResponse(t *testing.T) {
	const body = "no length here, read until close"
	o := startRawOrigin(t, func(c net.Conn) {
		head, err := readRequestHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		status := "HTTP/1.1 200 OK\r\n"
		if strings.Contains(head, "/v10") {
			status = "HTTP/1.0 200 OK\r\n"
		}
		io.WriteString(c, status+"Content-Type: text/plain\r\n\r\n"+body[:10])
		io.WriteString(c, body[10:])
	})
	p := startProxy(t, Config{})

	rc := dialRaw(t, p.addr)
	for _, path := range []string{"/v11", "/v10"} {
		rc.send("GET http://" + o.addr + path + " HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
		resp, got := rc.response("GET")
		if got != body || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.Close {
			t.Fatalf("%s: body %q, Transfer-Encoding %q, close %v; want chunked on a kept conn", path, got, resp.TransferEncoding, resp.Close)
		}
	}

	rc = dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, got := rc.response("GET")
	if got != body || len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Fatalf("HTTP/1.0: body %q, Transfer-Encoding %q, close %v", got, resp.TransferEncoding, resp.Close)
	}
	rc.expectClosed()
	if n := p.srv.IdleUpstreamConns(); n != 0 {
		t.Errorf("%d upstream conns pooled after close-delimited bodies, want 0", n)
	}
}

// TestResponseWithNonChunkedTransferCoding relays a response whose only
// transfer coding is not chunked: its body runs until the origin closes
// (RFC 9112 §6.3), so the client must be told the coding and see the
// connection close at the end of the body.
func TestResponseWithNonChunkedTransferCoding(t *testing.T) {
	o := startRawOrigin(t, func(c net.Conn) {
		if _, err := readRequestHead(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity-ish\r\n\r\ncoded bytes")
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/ HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	head, err := readRequestHead(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	lines := headLines(head)
	if !strings.Contains(head, "\r\nTransfer-Encoding: identity-ish\r\n") || !strings.Contains(head, "\r\nConnection: close\r\n") {
		t.Errorf("head %q: want the transfer coding kept and Connection: close", lines)
	}
	rest, err := io.ReadAll(rc.br)
	if err != nil {
		t.Fatalf("the body did not end with a close: %v", err)
	}
	if string(rest) != "coded bytes" {
		t.Errorf("body %q", rest)
	}
}

// TestPipelinedRequests sends three requests in one write, the last with
// a body, and checks the three responses come back in order on the same
// connection.
func TestPipelinedRequests(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	}))
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	host := "Host: " + o.hostPort() + "\r\n"
	rc.send("GET " + o.URL + "/1 HTTP/1.1\r\n" + host + "\r\n" +
		"HEAD " + o.URL + "/2 HTTP/1.1\r\n" + host + "\r\n" +
		"POST " + o.URL + "/3 HTTP/1.1\r\n" + host + "Content-Length: 4\r\n\r\nbody")
	for _, want := range []struct{ method, body string }{{"GET", "GET /1 "}, {"HEAD", ""}, {"POST", "POST /3 body"}} {
		resp, body := rc.response(want.method)
		if resp.StatusCode != 200 || body != want.body {
			t.Fatalf("%s: %d %q, want %q", want.method, resp.StatusCode, body, want.body)
		}
	}
}

// TestEmptyPortMeansDefault relays "http://h:/" to port 80: RFC 3986
// §3.2.3 allows an empty port and says it means the scheme's default. The
// Host sent upstream drops the empty port, as §6.2.3 normalizes it.
func TestEmptyPortMeansDefault(t *testing.T) {
	heads := make(chan string, 1)
	o := startRawOrigin(t, func(c net.Conn) {
		head, err := readRequestHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		heads <- head
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	dialed := make(chan string, 1)
	dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		dialed <- addr
		var d net.Dialer
		c, err := d.DialContext(ctx, network, o.addr) // port 80 is not ours to bind
		return c, false, err
	}
	p := startProxy(t, Config{Dial: dial})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://empty-port.test:/p HTTP/1.1\r\nHost: empty-port.test:\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
	if addr := <-dialed; addr != "empty-port.test:80" {
		t.Errorf("dialed %q, want empty-port.test:80", addr)
	}
	if lines := headLines(<-heads); len(lines) < 2 || lines[0] != "GET /p HTTP/1.1" || lines[1] != "Host: empty-port.test" {
		t.Errorf("upstream head %q, want GET /p with Host: empty-port.test", lines)
	}

	// CONNECT names a port outright (RFC 9110 §9.3.6): an empty one is
	// still refused.
	rc = dialRaw(t, p.addr)
	rc.send("CONNECT empty-port.test: HTTP/1.1\r\nHost: empty-port.test:\r\n\r\n")
	resp, body = rc.response("CONNECT")
	checkError(t, resp, body, http.StatusBadRequest)
}

// TestTransferCodingRefusedToHTTP10Client checks the answer to an HTTP/1.0
// client when the origin applied a transfer coding other than chunked. A
// server must not send Transfer-Encoding to an HTTP/1.0 client (RFC 9112
// §6.1), and without the field the coded bytes would pass for the content,
// so Sluice answers 502 with the reason and keeps the client's connection
// (its request was read whole). Chunked alone is still de-chunked.
func TestTransferCodingRefusedToHTTP10Client(t *testing.T) {
	responses := map[string]string{
		"/gzip":         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b coded until close",
		"/gzip-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\n\x1f\x8bxyz\r\n0\r\n\r\n",
		"/two-fields":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n\x1f\x8bxyz\r\n0\r\n\r\n",
		"/chunked":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nplain\r\n0\r\n\r\n",
	}
	o := startRawOrigin(t, func(c net.Conn) {
		head, err := readRequestHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		path := strings.Fields(head)[1]
		io.WriteString(c, responses[path])
	})
	p := startProxy(t, Config{})
	for _, path := range []string{"/gzip", "/gzip-chunked", "/two-fields"} {
		rc := dialRaw(t, p.addr)
		rc.send("GET http://" + o.addr + path + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := rc.response("GET")
		reason := checkError(t, resp, body, http.StatusBadGateway)
		if !strings.Contains(reason, "Transfer-Encoding") || !strings.Contains(reason, "HTTP/1.0") {
			t.Errorf("%s: reason %q should name the coding and HTTP/1.0", path, reason)
		}
		if resp.Close {
			t.Errorf("%s: connection closed, but the request was read whole", path)
			continue
		}
		rc.send("GET http://" + o.addr + "/chunked HTTP/1.0\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "plain" || len(resp.TransferEncoding) != 0 {
			t.Errorf("%s, then chunked alone: %d %q, Transfer-Encoding %q", path, resp.StatusCode, body, resp.TransferEncoding)
		}
	}
}

// TestTransferCodingsAcrossFieldLines relays a message whose transfer
// codings are split over two Transfer-Encoding lines, which RFC 9110 §5.3
// makes the same as one list ("gzip, chunked"): both directions must keep
// the gzip, or the coded bytes pass for the content.
func TestTransferCodingsAcrossFieldLines(t *testing.T) {
	heads := make(chan string, 1)
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		head, err := readRequestHead(br)
		if err != nil {
			return
		}
		heads <- head
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n\x1f\x8bxyz\r\n0\r\n\r\n")
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("POST http://" + o.addr + "/ HTTP/1.1\r\nHost: " + o.addr + "\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	up := <-heads
	if !strings.Contains(up, "\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") {
		t.Errorf("upstream head %q lost a transfer coding", headLines(up))
	}
	down, err := readRequestHead(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(down, "\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") {
		t.Errorf("response head %q lost a transfer coding", headLines(down))
	}
}
