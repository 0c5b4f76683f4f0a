package proxy

import (
	"io"
	"net/http"
	"strconv"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// statusOverloaded is the answer past max_concurrent.
const statusOverloaded = http.StatusServiceUnavailable

// proxyStatusError maps error kinds to RFC 9209 Proxy-Status error types,
// so a client (or a person with curl -v) sees why in a standard form.
var proxyStatusError = [stats.NumErrKinds]string{
	stats.ErrBadRequest:      "http_request_error",
	stats.ErrForbidden:       "http_request_denied",
	stats.ErrLoop:            "proxy_loop_detected",
	stats.ErrTooLarge:        "http_request_error",
	stats.ErrDNS:             "dns_error",
	stats.ErrRefused:         "connection_refused",
	stats.ErrConnectTimeout:  "connection_timeout",
	stats.ErrUpstreamTimeout: "http_response_timeout",
	stats.ErrUpstream:        "http_protocol_error",
	stats.ErrOverload:        "proxy_internal_error",
	stats.ErrClientTimeout:   "http_request_error",
	stats.ErrAuth:            "http_request_denied",
	stats.ErrRateLimited:     "http_request_denied",
}

// fail answers the current request with code and a one-line plain-text
// reason, and records kind. keep says whether the connection stays open
// (only when the request was read completely).
func (cc *clientConn) fail(code int, kind stats.ErrKind, reason string, keep bool) {
	cc.failWith(code, kind, reason, keep, "")
}

// failWith is fail with extra header fields: complete lines, each ending
// in CRLF (Proxy-Authenticate for a 407, Retry-After for a 429).
func (cc *clientConn) failWith(code int, kind stats.ErrKind, reason string, keep bool, fields string) {
	cc.res.status, cc.res.err = code, kind
	cc.res.headOut = false // cc.out's buffer is rewritten below
	nextHop := cc.res.downGroup
	if up := cc.res.up; up != nil {
		nextHop = up.Name
	}
	cc.bw.Write(errorResponseVia(cc.out[:0], code, kind, reason, keep, fields, nextHop))
	cc.bw.Flush()
	cc.res.ttfb = 0
}

// errorResponse builds a complete error response.
func errorResponse(b []byte, code int, kind stats.ErrKind, reason string, keep bool) []byte {
	return errorResponseWith(b, code, kind, reason, keep, "")
}

// errorResponseWith is errorResponse with extra header fields, as in
// failWith.
func errorResponseWith(b []byte, code int, kind stats.ErrKind, reason string, keep bool, fields string) []byte {
	return errorResponseVia(b, code, kind, reason, keep, fields, "")
}

// errorResponseVia is errorResponseWith for a request that went through
// the upstream proxy named nextHop ("" for none), which Proxy-Status
// names (RFC 9209 §2.1.2).
func errorResponseVia(b []byte, code int, kind stats.ErrKind, reason string, keep bool, fields, nextHop string) []byte {
	b = appendStatusLine(b, code, []byte(http.StatusText(code)))
	b = append(b, fields...)
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len("sluice: ")+len(reason)+1), 10)
	b = append(b, "\r\n"...)
	if t := proxyStatusError[kind]; t != "" {
		b = append(b, "Proxy-Status: sluice; error="...)
		b = append(b, t...)
		if nextHop != "" {
			b = append(b, "; next-hop="...)
			b = strconv.AppendQuote(b, nextHop)
		}
		b = append(b, "; details="...)
		b = strconv.AppendQuote(b, reason)
		b = append(b, "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\nsluice: "...)
	b = append(b, reason...)
	return append(b, '\n')
}

// writeStatus writes a complete error response straight to w, for
// connections that are refused before they get buffers.
func writeStatus(w io.Writer, code int, reason string) {
	w.Write(errorResponse(nil, code, stats.ErrOverload, reason, false))
}
