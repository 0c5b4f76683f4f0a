package proxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// parseHead runs a raw head through readHead and request.parse, as the
// server does.
func parseHead(t *testing.T, raw string) (*request, error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(raw), 16) // heads longer than the buffer
	head, err := readHead(br, nil, DefaultMaxHeaderBytes)
	if err != nil {
		t.Fatalf("readHead(%q): %v", raw, err)
	}
	r := &request{}
	return r, r.parse(head)
}

func TestRequestParseAccepts(t *testing.T) {
	cases := []struct {
		raw                         string
		form                        targetForm
		host, port, authority, path string
		minor                       int
		keepAlive, close, expect100 bool
		length                      int64
		chunked                     bool
		connTokens                  string
	}{
		{raw: "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
			form: formAbsolute, host: "example.com", port: "80", authority: "example.com", path: "/a?b", minor: 1, length: -1},
		{raw: "GET HTTP://Example.COM:8080 HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "Example.COM", port: "8080", authority: "Example.COM:8080", path: "", minor: 1, length: -1},
		{raw: "GET http://h?q=1 HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "?q=1", minor: 1, length: -1},
		{raw: "GET http://h:/ HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "/", minor: 1, length: -1},
		{raw: "GET http://[::1]: HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "::1", port: "80", authority: "[::1]", path: "", minor: 1, length: -1},
		{raw: "POST http://[::1]:9/x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 12\r\n\r\n",
			form: formAbsolute, host: "::1", port: "9", authority: "[::1]:9", path: "/x", minor: 0, keepAlive: true, length: 12},
		{raw: "GET ws://chat.example/socket HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			form: formAbsolute, host: "chat.example", port: "80", authority: "chat.example", path: "/socket", minor: 1, length: -1, connTokens: "Upgrade"},
		{raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n",
			form: formAuthority, host: "example.com", port: "443", authority: "example.com:443", minor: 1, keepAlive: true, length: -1},
		{raw: "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n",
			form: formAuthority, host: "2001:db8::1", port: "8443", authority: "[2001:db8::1]:8443", minor: 1, length: -1},
		{raw: "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
			form: formOrigin, path: "/healthz", minor: 1, length: -1},
		{raw: "\r\n\r\nPUT http://h/ HTTP/1.1\nContent-Length: 5\nContent-Length: 5\nExpect: 100-continue\n\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "/", minor: 1, length: 5, expect100: true},
		{raw: "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close, X-Hop\r\n\r\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "/", minor: 1, length: -1, chunked: true, close: true, connTokens: "X-Hop"},
		// A fragment is cut off the target.
		{raw: "GET http://h/a?b#frag HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "/a?b", minor: 1, length: -1},
		{raw: "GET http://h:81#/x?y HTTP/1.1\r\n\r\n",
			form: formAbsolute, host: "h", port: "81", authority: "h:81", path: "", minor: 1, length: -1},
		{raw: "GET /healthz#x HTTP/1.1\r\n\r\n",
			form: formOrigin, path: "/healthz", minor: 1, length: -1},
		// 64 tokens, the most allowed; "upgrade" outside an upgrade is
		// only a token.
		{raw: "GET http://h/ HTTP/1.1\r\nConnection: upgrade" + strings.Repeat(",a", 62) + "\r\nProxy-Connection: keep-alive\r\n\r\n",
			form: formAbsolute, host: "h", port: "80", authority: "h", path: "/", minor: 1, length: -1, keepAlive: true,
			connTokens: "upgrade" + strings.Repeat(",a", 62)},
	}
	for _, tc := range cases {
		r, err := parseHead(t, tc.raw)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.raw, err)
			continue
		}
		var tokens []string
		for _, tok := range r.mi.connTokens {
			tokens = append(tokens, string(tok))
		}
		got := []any{r.form, string(r.host), string(r.port), string(r.authority), string(r.path), r.minor,
			r.mi.keepAlive, r.mi.connClose, r.mi.expect100, r.mi.length, r.mi.chunked, strings.Join(tokens, ",")}
		want := []any{tc.form, tc.host, tc.port, tc.authority, tc.path, tc.minor,
			tc.keepAlive, tc.close, tc.expect100, tc.length, tc.chunked, tc.connTokens}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("parse(%q):\n got  %v\n want %v", tc.raw, got, want)
				break
			}
		}
	}
}

func TestRequestParseRejects(t *testing.T) {
	cases := []struct {
		raw  string
		code int
	}{
		{"GET http://user@h/ HTTP/1.1\r\n\r\n", 400},
		{"GET http://h:0/ HTTP/1.1\r\n\r\n", 400},
		{"GET http://h:65536/ HTTP/1.1\r\n\r\n", 400},
		{"GET http://h:8x/ HTTP/1.1\r\n\r\n", 400},
		{"GET http:///path HTTP/1.1\r\n\r\n", 400},
		{"GET http://::1/ HTTP/1.1\r\n\r\n", 400},
		{"GET http://[::1/ HTTP/1.1\r\n\r\n", 400},
		{"CONNECT example.com HTTP/1.1\r\n\r\n", 400},
		{"CONNECT example.com: HTTP/1.1\r\n\r\n", 400},
		{"CONNECT [::1]: HTTP/1.1\r\n\r\n", 400},
		{"GET https://h/ HTTP/1.1\r\n\r\n", 400},
		{"GET ftp://h/ HTTP/1.1\r\n\r\n", 400},
		{"GET * HTTP/1.1\r\n\r\n", 400},
		{"GET http://h/ HTTP/2.0\r\n\r\n", 505},
		{"GET http://h/ HTTP/1.x\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1 \r\n\r\n", 400},
		{"G@T http://h/ HTTP/1.1\r\n\r\n", 400},
		{"GET  http://h/ HTTP/1.1\r\n\r\n", 400},
		{"GET http://h/\x01 HTTP/1.1\r\n\r\n", 400},
		{"GETHTTP/1.1\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nBad Name: v\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nName : v\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nNoColon\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
		{"POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		// Framing and routing fields are never connection options.
		{"POST http://h/ HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n", 400},
		{"POST http://h/ HTTP/1.1\r\nConnection: keep-alive,transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nConnection: HOST\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nProxy-Connection: close, Content-Length\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nProxy-Connection: host\r\n\r\n", 400},
		{"GET http://h/ HTTP/1.1\r\nConnection: " + strings.Repeat("a,", 40) + "\r\nProxy-Connection: " + strings.Repeat("b,", 25) + "\r\n\r\n", 400},
	}
	for _, tc := range cases {
		_, err := parseHead(t, tc.raw)
		var se *statusError
		if !errors.As(err, &se) {
			t.Errorf("parse(%q) = %v, want a %d", tc.raw, err, tc.code)
			continue
		}
		if se.code != tc.code || strings.ContainsAny(se.reason, "\r\n") {
			t.Errorf("parse(%q) = %d %q, want %d with a one-line reason", tc.raw, se.code, se.reason, tc.code)
		}
	}
}

func TestReadHead(t *testing.T) {
	cases := []struct {
		name, in, head string
		max            int
		err            error
	}{
		{"crlf", "GET / HTTP/1.1\r\nA: b\r\n\r\nbody", "GET / HTTP/1.1\r\nA: b\r\n\r\n", 1024, nil},
		{"bare lf", "GET / HTTP/1.1\nA: b\n\nbody", "GET / HTTP/1.1\nA: b\n\n", 1024, nil},
		{"leading empty lines", "\r\n\n\r\nGET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", 1024, nil},
		{"long line past the buffer", "GET /" + strings.Repeat("x", 100) + " HTTP/1.1\r\n\r\n", "GET /" + strings.Repeat("x", 100) + " HTTP/1.1\r\n\r\n", 1024, nil},
		{"exactly max", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", 18, nil},
		{"one over max", "GET / HTTP/1.1\r\n\r\n", "", 17, errHeadTooLarge},
		{"long line over max", "GET /" + strings.Repeat("x", 100), "", 50, errHeadTooLarge},
		{"cut short", "GET / HTTP/1.1\r\nA: b\r\n", "", 1024, io.EOF},
		{"empty", "", "", 1024, io.EOF},
	}
	for _, tc := range cases {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		head, err := readHead(br, make([]byte, 0, 4), tc.max)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && string(head) != tc.head {
			t.Errorf("%s: head %q, want %q", tc.name, head, tc.head)
		}
	}
}

func TestResponseParse(t *testing.T) {
	cases := []struct {
		head   string
		code   int
		reason string
		length int64
		ok     bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, "OK", 5, true},
		{"HTTP/1.1 204\r\n\r\n", 204, "", -1, true},
		{"HTTP/1.0 404 Not Found Here\r\n\r\n", 404, "Not Found Here", -1, true},
		{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 103, "Early Hints", -1, true},
		{"HTTP/1.1 20 OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 2000 OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/2 200 OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/2.0 200 OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 099 Low\r\n\r\n", 0, "", 0, false},
		{"ICY 200 OK\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nConnection: keep-alive, Transfer-Encoding\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nConnection: host\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nConnection: " + strings.Repeat("a,", 65) + "\r\n\r\n", 0, "", 0, false},
		{"HTTP/1.1 200 OK\r\nConnection: " + strings.Repeat("a,", 64) + "\r\nContent-Length: 1\r\n\r\n", 200, "OK", 1, true},
	}
	for _, tc := range cases {
		var r response
		err := r.parse([]byte(tc.head))
		if (err == nil) != tc.ok {
			t.Errorf("parse(%q): error %v, want ok=%v", tc.head, err, tc.ok)
			continue
		}
		if tc.ok && (r.code != tc.code || string(r.reason) != tc.reason || r.mi.length != tc.length) {
			t.Errorf("parse(%q) = %d %q length %d, want %d %q %d", tc.head, r.code, r.reason, r.mi.length, tc.code, tc.reason, tc.length)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	cases := []struct {
		line string
		n    int64
		err  error
	}{
		{"0\r\n", 0, nil},
		{"1a\r\n", 26, nil},
		{"1A;name=value\r\n", 26, nil},
		{"ff ; ext\r\n", 255, nil},
		{"5 \r\n", 5, nil},
		{"5;a;b=c\r\n", 5, nil},
		{"5 ; a = \"q \\\" \\\\ v\" ;b\r\n", 5, nil},
		{"5;a=\"\x80\"\r\n", 5, nil},
		{"fffffffffffffff\r\n", 1<<60 - 1, nil},
		{"1000000000000000\r\n", 0, errChunkSize}, // 16 hex digits: refused before overflow
		{"\r\n", 0, errChunkSize},
		{";ext\r\n", 0, errChunkSize},
		{" 5\r\n", 0, errChunkSize},
		{"-1\r\n", 0, errChunkSize},
		{"0x10\r\n", 0, errChunkExt},
		{"g\r\n", 0, errChunkSize},
		{"5;\r\n", 0, errChunkExt},
		{"5;=v\r\n", 0, errChunkExt},
		{"5;a=\r\n", 0, errChunkExt},
		{"5;a=b c\r\n", 0, errChunkExt},
		{"5;a b\r\n", 0, errChunkExt},
		{"5;a=\"open\r\n", 0, errChunkExt},
		{"5;a=\"x\x00\"\r\n", 0, errChunkExt},
		{"5;a=\"x\\\x01\"\r\n", 0, errChunkExt},
		{"5;a\x00\r\n", 0, errChunkExt},
		{"5;a=v\rx\r\n", 0, errChunkExt},
		{"5;a=v\x7f\r\n", 0, errChunkExt},
		{"5;a\r\r\n", 0, errChunkExt},
		{"5,6\r\n", 0, errChunkExt},
	}
	for _, tc := range cases {
		n, err := parseChunkSize([]byte(tc.line))
		if err != tc.err || err == nil && n != tc.n {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d, %v", tc.line, n, err, tc.n, tc.err)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	cases := map[string]int64{
		"0": 0, "123": 123, "000": 0, "999999999999999999": 999999999999999999,
		"": -1, "-1": -1, "+1": -1, "1 ": -1, " 1": -1, "1,1": -1, "0x1": -1, "9999999999999999999": -1,
	}
	for in, want := range cases {
		if got := parseDecimal([]byte(in)); got != want {
			t.Errorf("parseDecimal(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestIsHopHeader(t *testing.T) {
	tokens := [][]byte{[]byte("X-Custom"), []byte("keep-alive-ish")}
	cases := map[string]bool{
		"Connection": true, "connection": true, "PROXY-CONNECTION": true, "Keep-Alive": true,
		"Proxy-Authenticate": true, "Proxy-Authorization": true, "TE": true, "Transfer-Encoding": true,
		"Upgrade": true, "x-custom": true, "Keep-Alive-Ish": true,
		"Trailer": false, "Content-Length": false, "Cookie": false, "Proxy-Status": false, "X-Other": false, "Host": false,
	}
	for name, want := range cases {
		if got := isHopHeader([]byte(name), tokens); got != want {
			t.Errorf("isHopHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
