package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Chunked framing and trailer sections get the checks a head gets
// (issue 11): strict CRLF, well-formed chunk extensions (dropped),
// trailer fields that parse as header fields, bounded in bytes and
// count, without the fields that frame, route or manage a connection.

// forbiddenTrailers are fields a trailer section must not carry (RFC
// 9110 §6.5.1), each of which the relay drops.
const forbiddenTrailers = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n" +
	"Connection: close\r\nProxy-Connection: close\r\nKeep-Alive: 1\r\nTrailer: X-Sum\r\nTE: trailers\r\n" +
	"Upgrade: h2c\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Authenticate: Basic\r\n"

// TestTrailerFramingFieldsDropped sends a chunked upload and gets a
// chunked download, each with the forbidden trailer fields around one
// allowed field and with chunk extensions: the origin and the client
// each receive the chunks without extensions and the allowed field alone.
func TestTrailerFramingFieldsDropped(t *testing.T) {
	const body = "5;name=\"quoted; value\"\r\nhello\r\n3 ; x ; y=z\r\nabc\r\n0\r\nX-Sum: abc\r\n" + forbiddenTrailers + "X-After: 1\r\n\r\n"
	const relayed = "5\r\nhello\r\n3\r\nabc\r\n0\r\nX-Sum: abc\r\nX-After: 1\r\n\r\n"
	o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, false
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("POST http://" + o.addr + "/up HTTP/1.1\r\nHost: " + o.addr + "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
	got, err := io.ReadAll(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 200 OK\r\nVia: 1.1 sluice\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + relayed; string(got) != want {
		t.Errorf("client received\n%q\nwant\n%q", got, want)
	}
	want := "POST /up HTTP/1.1\r\nHost: " + o.addr + "\r\nVia: 1.1 sluice\r\nTransfer-Encoding: chunked\r\n\r\n" + relayed
	if got := o.received(); len(got) != 1 || got[0] != want {
		t.Errorf("origin received\n%q\nwant\n%q", got, []string{want})
	}
}

// TestMalformedChunkedRequestGets400 sends chunked uploads whose framing
// breaks RFC 9112 §7.1 after a good head: each gets 400 naming what is
// wrong, logged as bad_request; the client connection closes (its
// framing is lost) and so does the upstream one, and the next client
// gets its own response.
func TestMalformedChunkedRequestGets400(t *testing.T) {
	cases := []struct {
		name, body, reason string
	}{
		{"bare LF after a chunk size", "5\nhello\r\n0\r\n\r\n", "chunk-size line ended by a bare LF"},
		{"bare LF after chunk data", "5\r\nhello\n0\r\n\r\n", "chunk data not followed by CRLF"},
		{"data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", "chunk data not followed by CRLF"},
		{"unterminated quoted extension", "5;a=\"open\r\nhello\r\n0\r\n\r\n", "malformed chunk extension"},
		{"NUL in an extension", "5;a\x00\r\nhello\r\n0\r\n\r\n", "malformed chunk extension"},
		{"size over 15 hex digits", "1000000000000000\r\nhello\r\n0\r\n\r\n", "invalid chunk size"},
		{"size not hex", "zz\r\nhello\r\n0\r\n\r\n", "invalid chunk size"},
		{"NUL in a trailer", "0\r\nX: a\x00b\r\n\r\n", "malformed trailer field"},
		{"bare CR in a trailer", "0\r\nX: a\rb\r\n\r\n", "malformed trailer field"},
		{"obs-fold in a trailer", "0\r\nX: a\r\n b\r\n\r\n", "malformed trailer field"},
		{"non-token trailer name", "0\r\nBad Name: v\r\n\r\n", "malformed trailer field"},
		{"bare LF ending a trailer line", "0\r\nX: a\n\r\n", "trailer line ended by a bare LF"},
		{"bare LF ending the body", "0\r\n\n", "trailer line ended by a bare LF"},
		{"101 trailer fields", "0\r\n" + strings.Repeat("X: v\r\n", 101) + "\r\n", "more than 100 trailer fields"},
		{"trailer over max_header_bytes", "0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 90)+"\r\n", 20) + "\r\n", "trailer section over max_header_bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) { return okReply(r), false })
			log := &accessLog{}
			p := startProxy(t, Config{Access: log, MaxHeaderBytes: 1024})
			rc := dialRaw(t, p.addr)
			rc.send("POST http://" + o.addr + "/up HTTP/1.1\r\nHost: " + o.addr + "\r\nTransfer-Encoding: chunked\r\n\r\n" + tc.body)
			resp, body := rc.response("POST")
			if reason := checkError(t, resp, body, http.StatusBadRequest); reason != "sluice: malformed chunked request body: "+tc.reason+"\n" {
				t.Errorf("reason %q, want %q", reason, tc.reason)
			}
			rc.expectClosed()
			if rec := lastRecord(t, log, 1); rec.Err != stats.ErrBadRequest || rec.Status != 400 {
				t.Errorf("access record %d %v, want 400 bad_request", rec.Status, rec.Err)
			}
			expectOwnResponse(t, p, o.addr, "/next")
			if got := o.received(); len(got) != 2 {
				t.Errorf("origin connections %q, want 2: the one with the broken upload is not reused", got)
			}
		})
	}
}

// TestMalformedChunkedResponseClosesBoth has the origin send chunked
// responses whose framing or trailer section is malformed: the client's
// connection closes before the message ends, without the bad line; the
// upstream connection is not reused; the access log says upstream.
func TestMalformedChunkedResponseClosesBoth(t *testing.T) {
	cases := []struct{ name, body, bad string }{
		{"bare LF after a chunk size", "5\nhello\r\n0\r\n\r\n", ""},
		{"data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", "!"},
		{"malformed extension", "5;a=b c\r\nhello\r\n0\r\n\r\n", ""},
		{"NUL in a trailer", "5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n", "\x00"},
		{"obs-fold in a trailer", "5\r\nhello\r\n0\r\nX: a\r\n folded\r\n\r\n", "folded"},
		{"bare LF ending a trailer line", "5\r\nhello\r\n0\r\nX-Bare: a\n\r\n", "X-Bare"},
		{"bare LF ending the body", "5\r\nhello\r\n0\r\nX-Ok: 1\r\n\n", "X-Ok"},
		{"trailer over max_header_bytes", "5\r\nhello\r\n0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("v", 90)+"\r\n", 20) + "\r\n", "X-Long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startScriptOrigin(t, func(_, _ int, r *http.Request) (string, bool) {
				if r.URL.Path == "/bad" {
					return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + tc.body, false
				}
				return okReply(r), false
			})
			log := &accessLog{}
			p := startProxy(t, Config{Access: log, MaxHeaderBytes: 1024})
			rc := dialRaw(t, p.addr)
			rc.send("GET http://" + o.addr + "/bad HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
			// Whether the status line and the good chunks reach the
			// client depends on whether the relay flushed them before
			// the bad line came; either way the message must not end.
			var raw bytes.Buffer
			resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(rc.c, &raw)), nil)
			if err == nil {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d, want the origin's 200 or nothing", resp.StatusCode)
				}
				if _, err := io.ReadAll(resp.Body); err == nil {
					t.Error("the client read the body to a clean end")
				}
			}
			if tc.bad != "" && strings.Contains(raw.String(), tc.bad) {
				t.Errorf("the client received %q", tc.bad)
			}
			if rec := lastRecord(t, log, 1); rec.Err != stats.ErrUpstream {
				t.Errorf("access record error %v, want upstream", rec.Err)
			}
			expectOwnResponse(t, p, o.addr, "/next")
			if got := o.received(); len(got) != 2 {
				t.Errorf("origin connections %q, want 2: the one with the broken response is not reused", got)
			}
		})
	}
}
