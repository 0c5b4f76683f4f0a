package proxy

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Which failed requests the relay sends again on a fresh connection
// (issue 11, fault 3): RFC 9110 §9.2.2 allows automatic retries of
// idempotent methods only, and a replay is safe only when the request
// can be sent again whole and the origin gave no sign of acting on it.

// reusedConnFails runs one test of a request sent on a pooled connection
// that the origin reads and then closes, having written partial first
// (nothing, or the start of a response). Every later connection answers
// with okReply. It returns the client's status and body, and what the
// origin's connections received.
func reusedConnFails(t *testing.T, request, partial string) (*http.Response, string, []string) {
	t.Helper()
	o := startScriptOrigin(t, func(conn, req int, r *http.Request) (string, bool) {
		if conn == 0 && req == 1 {
			return partial, true
		}
		return okReply(r), false
	})
	p := startProxy(t, Config{})
	expectOwnResponse(t, p, o.addr, "/warm")
	waitFor(t, "the upstream conn to be pooled", func() bool { return p.srv.IdleUpstreamConns() == 1 })
	rc := dialRaw(t, p.addr)
	rc.send(strings.ReplaceAll(request, "ORIGIN", o.addr))
	method, _, _ := strings.Cut(request, " ")
	resp, body := rc.response(method)
	return resp, body, o.received()
}

// TestNonIdempotentNeverReplayed: a POST or PATCH without a body, and a
// PUT with one, fail on a reused connection after the origin read them;
// the client gets 502 and the origin saw each once.
func TestNonIdempotentNeverReplayed(t *testing.T) {
	for _, tc := range []struct{ name, request string }{
		{"POST", "POST http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\n\r\n"},
		{"POST, Content-Length 0", "POST http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\nContent-Length: 0\r\n\r\n"},
		{"PATCH", "PATCH http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\n\r\n"},
		{"PUT with a body", "PUT http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\nContent-Length: 4\r\n\r\nbody"},
		{"PUT, empty chunked body", "PUT http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, got := reusedConnFails(t, tc.request, "")
			checkError(t, resp, body, http.StatusBadGateway)
			if len(got) != 1 {
				t.Errorf("origin connections %q, want 1: the request was sent again", got)
			}
		})
	}
}

// TestIdempotentReplayedOnce: a bodiless GET, HEAD, OPTIONS, TRACE, PUT
// or DELETE that fails the same way before any response byte is sent
// once more, on a fresh connection, and gets its answer.
func TestIdempotentReplayedOnce(t *testing.T) {
	for _, method := range []string{"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			resp, body, got := reusedConnFails(t, method+" http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\n\r\n", "")
			want := "/x"
			if method == "HEAD" {
				want = ""
			}
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
			}
			if len(got) != 2 {
				t.Errorf("origin connections %q, want 2 (the pooled one, then one fresh)", got)
			}
		})
	}
}

// TestNoReplayAfterResponseByte: a GET whose pooled connection breaks
// after part of a response arrived is not replayed: the origin acted.
func TestNoReplayAfterResponseByte(t *testing.T) {
	for _, tc := range []struct{ name, partial string }{
		{"one byte", "H"},
		{"an empty line", "\r\n"},
		{"half a head", "HTTP/1.1 200 OK\r\nContent-Le"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, got := reusedConnFails(t, "GET http://ORIGIN/x HTTP/1.1\r\nHost: ORIGIN\r\n\r\n", tc.partial)
			checkError(t, resp, body, http.StatusBadGateway)
			if len(got) != 1 {
				t.Errorf("origin connections %q, want 1: the request was sent again", got)
			}
		})
	}
}

// TestReplayOnlyOnce: when the fresh connection fails as well, the
// client gets 502; there is no third try.
func TestReplayOnlyOnce(t *testing.T) {
	o := startScriptOrigin(t, func(conn, req int, r *http.Request) (string, bool) {
		if conn == 0 && req == 0 {
			return okReply(r), false
		}
		return "", true
	})
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	expectOwnResponse(t, p, o.addr, "/warm")
	waitFor(t, "the upstream conn to be pooled", func() bool { return p.srv.IdleUpstreamConns() == 1 })
	rc := dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/x HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusBadGateway)
	if got := o.received(); len(got) != 2 {
		t.Errorf("origin connections %q, want 2", got)
	}
	if rec := recordFor(t, log, "/x"); rec.Err != stats.ErrUpstream {
		t.Errorf("access record error %v, want upstream", rec.Err)
	}
}

// TestRetryable is the rule itself, case by case.
func TestRetryable(t *testing.T) {
	nothing := &noResponseError{errSourceEOF}
	cases := []struct {
		method string
		length int64
		reused bool
		err    error
		want   bool
	}{
		{"GET", -1, true, nothing, true},
		{"HEAD", -1, true, nothing, true},
		{"OPTIONS", -1, true, nothing, true},
		{"TRACE", -1, true, nothing, true},
		{"PUT", 0, true, nothing, true},
		{"DELETE", -1, true, writeErr(errSourceEOF), true},
		{"GET", -1, false, nothing, false},                                 // a fresh conn failed: the origin is the problem
		{"GET", -1, true, errSourceEOF, false},                             // part of a response arrived
		{"GET", -1, true, &noResponseError{os.ErrDeadlineExceeded}, false}, // the origin was slow, not gone
		{"PUT", 4, true, nothing, false},                                   // a body was streamed, not kept
		{"POST", -1, true, nothing, false},
		{"PATCH", -1, true, nothing, false},
		{"CONNECT", -1, true, nothing, false},
		{"get", -1, true, nothing, false}, // methods are case-sensitive
	}
	for _, tc := range cases {
		req := &request{method: []byte(tc.method)}
		req.mi.length = tc.length
		if got := retryable(req, tc.reused, tc.err); got != tc.want {
			t.Errorf("retryable(%s, length %d, reused %v, %v) = %v, want %v", tc.method, tc.length, tc.reused, tc.err, got, tc.want)
		}
	}
}
