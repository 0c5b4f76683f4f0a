package proxy

import "errors"

// response is one parsed upstream response head.
type response struct {
	code   int
	minor  int
	reason []byte
	fields []field
	mi     messageInfo
}

var errBadResponse = errors.New("malformed response head")

// parse fills r from a response head: a status line of HTTP/1.x with a
// three-digit code, then fields. A head the relay cannot frame or honour
// is an error, answered with 502.
func (r *response) parse(head []byte) error {
	r.fields = r.fields[:0]
	first := true
	ok := true
	splitLines(head, func(line []byte) bool {
		if first {
			first = false
			// HTTP/1.1 200 OK
			if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
				ok = false
				return false
			}
			major, minor, vok := parseVersion(line[:8])
			code := parseDecimal(line[9:12])
			if !vok || major != 1 || code < 100 || code > 999 {
				ok = false
				return false
			}
			r.code, r.minor = int(code), minor
			r.reason = nil
			if len(line) > 13 {
				r.reason = line[13:]
			}
			return true
		}
		if len(line) == 0 {
			return false
		}
		f, fok := parseField(line)
		if !fok {
			ok = false
			return false
		}
		r.fields = append(r.fields, f)
		return true
	})
	if !ok {
		return errBadResponse
	}
	r.mi.scan(r.fields)
	if reason := r.mi.connRefusal(); reason != "" {
		return errors.New(reason)
	}
	if r.mi.badCL {
		return errors.New("invalid Content-Length in response")
	}
	if r.mi.chunkings > 1 {
		return errors.New("chunked applied more than once in the response's Transfer-Encoding")
	}
	return nil
}

// bodyKind is how a response body is delimited.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// responseBody says how the body of cc.resp, the answer to cc.req, is
// delimited (RFC 9112 §6.3).
func (cc *clientConn) responseBody() bodyKind {
	r := &cc.resp
	switch {
	case string(cc.req.method) == "HEAD", r.code < 200, r.code == 204, r.code == 304:
		return bodyNone
	case r.mi.chunked:
		return bodyChunked
	case r.mi.hasTE:
		return bodyUntilClose // a coding other than chunked last (RFC 9112 §6.3)
	case r.mi.length >= 0:
		return bodyLength
	}
	return bodyUntilClose
}
