package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// FuzzRequestHead feeds arbitrary bytes through readHead and the request
// and response parsers, as they arrive from a client or an origin: no
// input may panic, every refusal must be a statusError with a one-line
// reason, and every accepted relay target must name a host and a valid
// port.
func FuzzRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"CONNECT [::1]:443 HTTP/1.1\r\nProxy-Connection: keep-alive\r\n\r\n",
		"POST http://h:8080/ HTTP/1.0\nContent-Length: 5\nConnection: keep-alive, X-A\n\nhello",
		"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n",
		"GET /healthz HTTP/1.1\r\n\r\n",
		"\r\n\r\nGET ws://h/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"GET http://u@h:0/ HTTP/2.0\r\nX: \x00\r\n folded\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		head, err := readHead(br, nil, 4096)
		if err != nil {
			return
		}
		if len(head) > 4096 {
			t.Fatalf("head of %d bytes over the 4096 limit", len(head))
		}
		var resp response
		resp.parse(head) // must not panic

		var r request
		err = r.parse(head)
		if err != nil {
			var se *statusError
			if !errors.As(err, &se) {
				t.Fatalf("parse error %v is not a statusError", err)
			}
			if se.code < 400 || se.code > 599 || bytes.ContainsAny([]byte(se.reason), "\r\n") {
				t.Fatalf("refusal %d %q", se.code, se.reason)
			}
			return
		}
		switch r.form {
		case formAbsolute, formAuthority:
			if len(r.host) == 0 {
				t.Fatalf("accepted %q with an empty host", head)
			}
			if n := parseDecimal(r.port); n < 1 || n > 65535 {
				t.Fatalf("accepted %q with port %q", head, r.port)
			}
			if bytes.ContainsAny(r.host, " \t\r\n/@") {
				t.Fatalf("accepted host %q", r.host)
			}
			key := appendKey(nil, r.host, r.port)
			if bytes.ContainsAny(key, "\r\n ") {
				t.Fatalf("pool key %q", key)
			}
		case formOrigin:
			if len(r.path) == 0 || r.path[0] != '/' {
				t.Fatalf("origin-form path %q", r.path)
			}
		}
		if r.hasBody() && r.mi.length < 0 && !r.mi.chunked {
			t.Fatalf("a body with neither length nor chunked framing")
		}
	})
}
