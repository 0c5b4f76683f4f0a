package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// The message Sluice parsed is the message the origin receives, and a
// pooled upstream connection carries nothing past the last response:
// a framing field named in Connection, a response with two framings,
// bytes past a response's end or a body on a bodiless response never
// reach the next client (issue 11, faults 1 and 2).

// scriptOrigin is a raw origin that records the exact bytes each of its
// connections received and answers each request as a script says.
type scriptOrigin struct {
	*rawOrigin
	mu    sync.Mutex
	conns []*bytes.Buffer // guarded by mu; in accept order
}

// scriptFunc answers request number req (from 0) on connection number
// conn (from 0, in accept order): reply is written as it is, then the
// connection closes if close is set. The request's body has been read.
type scriptFunc func(conn, req int, r *http.Request) (reply string, close bool)

// startScriptOrigin starts a scriptOrigin that reads requests with
// net/http's parser, bodies and trailers included.
func startScriptOrigin(t testing.TB, script scriptFunc) *scriptOrigin {
	o := &scriptOrigin{}
	o.rawOrigin = startRawOrigin(t, func(c net.Conn) {
		o.mu.Lock()
		conn := len(o.conns)
		rec := &bytes.Buffer{}
		o.conns = append(o.conns, rec)
		o.mu.Unlock()
		br := bufio.NewReader(io.TeeReader(c, lockedWriter{&o.mu, rec}))
		for req := 0; ; req++ {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			reply, close := script(conn, req, r)
			if _, err := io.WriteString(c, reply); err != nil || close {
				return
			}
		}
	})
	return o
}

// received returns the bytes each connection received so far.
func (o *scriptOrigin) received() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := make([]string, len(o.conns))
	for i, b := range o.conns {
		got[i] = b.String()
	}
	return got
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// okReply is a 200 whose body is the request's path, so each client can
// tell its own response from another's.
func okReply(r *http.Request) string {
	head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(r.URL.Path)) + "\r\n\r\n"
	if r.Method == "HEAD" {
		return head
	}
	return head + r.URL.Path
}

// proxiedGet is the head Sluice sends an origin at addr for a plain
// "GET http://addr/path" from a raw client.
func proxiedGet(addr, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nVia: 1.1 sluice\r\n\r\n"
}

// expectOwnResponse sends "GET /path" on a new client connection and
// checks that the answer is the origin's answer to it, not bytes left
// over from an earlier exchange on a pooled upstream connection.
func expectOwnResponse(t *testing.T, p *testProxy, addr, path string) {
	t.Helper()
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + addr + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != path {
		t.Fatalf("next client got %d %q, want 200 %q", resp.StatusCode, body, path)
	}
}

// lastRecord waits for the access log to hold n records and returns the
// last one.
func lastRecord(t *testing.T, log *accessLog, n int) AccessRecord {
	t.Helper()
	waitFor(t, strconv.Itoa(n)+" access records", func() bool { return len(log.records()) >= n })
	recs := log.records()
	return recs[len(recs)-1]
}

// recordFor waits for the access record of path and returns it. Records
// of earlier requests may land after a later one's (each is written once
// its own response is flushed), so a test with several picks by path.
func recordFor(t *testing.T, log *accessLog, path string) AccessRecord {
	t.Helper()
	var rec AccessRecord
	waitFor(t, "the access record of "+path, func() bool {
		for _, r := range log.records() {
			if r.Path == path {
				rec = r
				return true
			}
		}
		return false
	})
	return rec
}

// TestConnectionNamingFramingFieldRefused sends requests whose
// Connection or Proxy-Connection lists Content-Length, Transfer-Encoding
// or Host. Dropped as a connection option, the field would leave the
// body unframed at the origin: with Content-Length, the 46 body bytes
// below are a second request, smuggled past the proxy's log onto a
// pooled connection. Each gets 400, the client connection closes, the
// origin receives nothing, and the next client gets its own response.
func TestConnectionNamingFramingFieldRefused(t *testing.T) {
	o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) { return okReply(r), false })
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: o\r\nX-Pad: 12\r\n\r\n"
	if len(smuggled) != 46 {
		t.Fatalf("smuggled request is %d bytes", len(smuggled))
	}
	cases := []struct {
		name, fields, body, reason string
	}{
		{"Connection: Content-Length", "Connection: Content-Length\r\nContent-Length: 46\r\n", smuggled,
			"Connection names Content-Length, a framing field"},
		{"Proxy-Connection: content-length", "Proxy-Connection: keep-alive, content-length\r\nContent-Length: 46\r\n", smuggled,
			"Proxy-Connection names Content-Length, a framing field"},
		{"Connection: Transfer-Encoding", "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n", "2e\r\n" + smuggled + "\r\n0\r\n\r\n",
			"Connection names Transfer-Encoding, a framing field"},
		{"Connection: Host", "Connection: Host\r\n", "",
			"Connection names Host, a routing field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &accessLog{}
			p := startProxy(t, Config{Access: log})
			rc := dialRaw(t, p.addr)
			rc.send("POST http://" + o.addr + "/a.txt HTTP/1.1\r\nHost: " + o.addr + "\r\n" + tc.fields + "\r\n" + tc.body)
			resp, body := rc.response("POST")
			if reason := checkError(t, resp, body, http.StatusBadRequest); !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			rc.expectClosed()
			if rec := lastRecord(t, log, 1); rec.Err != stats.ErrBadRequest {
				t.Errorf("access record error %v, want bad_request", rec.Err)
			}
			if got := o.received(); len(got) != 0 {
				t.Fatalf("the origin received %q", got)
			}
		})
	}
	p := startProxy(t, Config{})
	expectOwnResponse(t, p, o.addr, "/next")
	if got, want := o.received(), []string{proxiedGet(o.addr, "/next")}; !equalLines(got, want) {
		t.Errorf("origin received %q, want %q", got, want)
	}
}

// TestResponseConnectionNamingFramingField has the origin answer with a
// Connection field that lists a framing field: the client gets 502, the
// upstream connection closes, and the client's connection (its request
// went upstream whole) serves its next request.
func TestResponseConnectionNamingFramingField(t *testing.T) {
	for _, named := range []string{"Content-Length", "Transfer-Encoding", "Host"} {
		t.Run(named, func(t *testing.T) {
			o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
				if r.URL.Path == "/bad" {
					return "HTTP/1.1 200 OK\r\nConnection: keep-alive, " + named + "\r\nContent-Length: 5\r\n\r\nhello", false
				}
				return okReply(r), false
			})
			log := &accessLog{}
			p := startProxy(t, Config{Access: log})
			rc := dialRaw(t, p.addr)
			rc.send("GET http://" + o.addr + "/bad HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			resp, body := rc.response("GET")
			if reason := checkError(t, resp, body, http.StatusBadGateway); !strings.Contains(reason, "Connection names "+named) {
				t.Errorf("reason %q does not say Connection names %s", reason, named)
			}
			if resp.Close {
				t.Error("the client connection closes, though its request went upstream whole")
			}
			if rec := lastRecord(t, log, 1); rec.Err != stats.ErrUpstream {
				t.Errorf("access record error %v, want upstream", rec.Err)
			}
			rc.send("GET http://" + o.addr + "/next HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "/next" {
				t.Fatalf("next request: %d %q", resp.StatusCode, body)
			}
			if got := o.received(); len(got) != 2 {
				t.Errorf("origin connections %q, want 2: the one that answered /bad is not reused", got)
			}
		})
	}
}

// TestConnectionTokensCapped sends 16k Connection tokens, which cost a
// quadratic scan 0.28 s of CPU before there was a cap: a request with
// more than maxConnTokens gets 400, a response 502.
func TestConnectionTokensCapped(t *testing.T) {
	many := strings.Repeat("a,", 16<<10)
	o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
		if r.URL.Path == "/many" {
			return "HTTP/1.1 200 OK\r\nConnection: " + many + "\r\nContent-Length: 2\r\n\r\nok", false
		}
		return okReply(r), false
	})
	p := startProxy(t, Config{})
	const reason = "Connection and Proxy-Connection list more than 64 tokens"

	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/ HTTP/1.1\r\nHost: " + o.addr + "\r\nConnection: " + many + "\r\n\r\n")
	resp, body := rc.response("GET")
	if got := checkError(t, resp, body, http.StatusBadRequest); !strings.Contains(got, reason) {
		t.Errorf("reason %q, want %q", got, reason)
	}
	if got := o.received(); len(got) != 0 {
		t.Fatalf("the origin received %q", got)
	}

	rc = dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/many HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	resp, body = rc.response("GET")
	if got := checkError(t, resp, body, http.StatusBadGateway); !strings.Contains(got, reason) {
		t.Errorf("reason %q, want %q", got, reason)
	}

	// 64 tokens, the most allowed, pass (and their fields are dropped).
	rc = dialRaw(t, p.addr)
	var list, fields []string
	for i := range 62 {
		list = append(list, "x-"+strconv.Itoa(i))
		fields = append(fields, "X-"+strconv.Itoa(i)+": v\r\n")
	}
	rc.send("GET http://" + o.addr + "/sixty-four HTTP/1.1\r\nHost: " + o.addr + "\r\nConnection: keep-alive, " +
		strings.Join(list, ", ") + "\r\nProxy-Connection: keep-alive\r\n" + strings.Join(fields, "") + "\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "/sixty-four" {
		t.Fatalf("64 tokens: %d %q", resp.StatusCode, body)
	}
	if got := o.received(); len(got) != 2 || !strings.HasSuffix(got[1], proxiedGet(o.addr, "/sixty-four")) {
		t.Errorf("origin received %q, want the fields Connection names dropped", got)
	}
}

// TestResponseWithBothFramingsNotPooled has the origin answer with both
// Content-Length and chunked Transfer-Encoding: the chunked framing wins
// (RFC 9112 §6.3) and is what the client gets, and the connection, whose
// framing is in doubt, is closed rather than pooled.
func TestResponseWithBothFramingsNotPooled(t *testing.T) {
	o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
		if r.URL.Path == "/both" {
			return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false
		}
		return okReply(r), false
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/both HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 200 || body != "hello" || resp.ContentLength != -1 {
		t.Fatalf("got %d %q (length %d), want 200 \"hello\" without a Content-Length", resp.StatusCode, body, resp.ContentLength)
	}
	if resp.Close {
		t.Error("the client connection closes after a response that was relayed whole")
	}
	rc.send("GET http://" + o.addr + "/next HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "/next" {
		t.Fatalf("next request: %d %q", resp.StatusCode, body)
	}
	if got := o.received(); len(got) != 2 {
		t.Errorf("origin connections %q, want 2: the one with both framings is not reused", got)
	}
}

// TestBytesPastResponseNeverReachNextClient has the origin send more
// than its response frames: bytes past a Content-Length, or a body on a
// HEAD, 204 or 304 answer, in the same write as the response. Here the
// extra bytes are a complete response, so a relay that pooled the
// connection would hand them to the next client as its own.
func TestBytesPastResponseNeverReachNextClient(t *testing.T) {
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned"
	cases := []struct {
		name, method, reply string
		code                int
		body                string
	}{
		{"past Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + poison, 200, "ok"},
		{"chunked, then more", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + poison, 200, "ok"},
		{"HEAD with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n" + poison, 200, ""},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + poison, 204, ""},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\n" + poison, 304, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
				if r.URL.Path == "/first" {
					return tc.reply, false
				}
				return okReply(r), false
			})
			p := startProxy(t, Config{})
			rc := dialRaw(t, p.addr)
			rc.send(tc.method + " http://" + o.addr + "/first HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			if resp, body := rc.response(tc.method); resp.StatusCode != tc.code || body != tc.body {
				t.Fatalf("first client got %d %q, want %d %q", resp.StatusCode, body, tc.code, tc.body)
			}
			expectOwnResponse(t, p, o.addr, "/second")
			if got := o.received(); len(got) != 2 || got[1] != proxiedGet(o.addr, "/second") {
				t.Errorf("origin received %q, want /second alone on a second connection", got)
			}
		})
	}
}

// TestFragmentNotForwarded sends a target with a fragment: the origin
// sees the target without it, and the access log does not record it.
func TestFragmentNotForwarded(t *testing.T) {
	o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) { return okReply(r), false })
	log := &accessLog{}
	p := startProxy(t, Config{Access: log, LogQuery: true})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/a?q=1#frag HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "/a" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got, want := o.received(), []string{proxiedGet(o.addr, "/a?q=1")}; !equalLines(got, want) {
		t.Errorf("origin received %q, want %q", got, want)
	}
	if rec := lastRecord(t, log, 1); rec.Path != "/a?q=1" {
		t.Errorf("access log path %q, want %q", rec.Path, "/a?q=1")
	}
}
