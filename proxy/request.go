package proxy

import (
	"bytes"
	"fmt"
	"net/http"
)

// request is one parsed request head. Its slices point into the client
// connection's head buffer and are valid until the next request.
type request struct {
	method []byte
	target []byte
	major  int
	minor  int
	fields []field
	mi     messageInfo

	// form is how the target was written (RFC 9112 §3.2).
	form targetForm
	// host and port name the upstream; port is always set.
	host, port []byte
	// authority is host[:port] as it goes into the upstream Host field.
	authority []byte
	// path is the origin-form target sent upstream ("/p?q").
	path []byte
}

type targetForm uint8

const (
	formOrigin    targetForm = iota // "/path": a request to Sluice itself
	formAbsolute                    // "http://host/path": relay
	formAuthority                   // "host:port": CONNECT
)

// statusError is a request the proxy answers itself, with a status and a
// one-line reason.
type statusError struct {
	code   int
	reason string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.reason) }

func badRequest(format string, args ...any) *statusError {
	return &statusError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// parse fills r from a request head. Errors are *statusError.
func (r *request) parse(head []byte) error {
	r.fields = r.fields[:0]
	first := true
	var perr error
	splitLines(head, func(line []byte) bool {
		if first {
			first = false
			perr = r.parseRequestLine(line)
			return perr == nil
		}
		if len(line) == 0 {
			return false
		}
		f, ok := parseField(line)
		if !ok {
			perr = badRequest("malformed header line %.40q", line)
			return false
		}
		r.fields = append(r.fields, f)
		return true
	})
	if perr != nil {
		return perr
	}
	mi := &r.mi
	mi.scan(r.fields)
	if reason := mi.connRefusal(); reason != "" {
		return badRequest("%s", reason)
	}
	switch {
	case mi.badCL:
		return badRequest("invalid or conflicting Content-Length")
	case mi.hasTE && mi.sawCL:
		// Both framings at once is how request smuggling works
		// (RFC 9112 §6.1): refuse rather than pick one.
		return badRequest("both Transfer-Encoding and Content-Length")
	case mi.hasTE && r.minor == 0:
		return badRequest("Transfer-Encoding in an HTTP/1.0 request")
	case mi.chunkings > 1:
		return badRequest("chunked applied more than once in Transfer-Encoding")
	case mi.badTE:
		return &statusError{http.StatusNotImplemented, fmt.Sprintf("Transfer-Encoding %q is not supported", mi.te)}
	}
	return r.parseTarget()
}

func (r *request) parseRequestLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("malformed request line %.60q", line)
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return badRequest("malformed request line %.60q", line)
	}
	r.method, r.target = line[:sp1], rest[:sp2]
	if !isToken(r.method) {
		return badRequest("malformed method %.20q", r.method)
	}
	major, minor, ok := parseVersion(rest[sp2+1:])
	if !ok {
		return badRequest("malformed HTTP version %.20q", rest[sp2+1:])
	}
	if major != 1 {
		return &statusError{http.StatusHTTPVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are supported"}
	}
	r.major, r.minor = major, minor
	for _, c := range r.target {
		if c <= ' ' || c == 0x7f {
			return badRequest("control character in request target")
		}
	}
	return nil
}

func (r *request) parseTarget() error {
	t := r.target
	if string(r.method) == "CONNECT" {
		r.form = formAuthority
		if !splitHostPort(t, &r.host, &r.port) || len(r.port) == 0 {
			return badRequest("CONNECT target %.80q is not host:port", t)
		}
		r.authority = t
		return nil
	}
	// A fragment is for the user agent alone (RFC 9110 §7.1): cut here, it
	// reaches neither the origin nor the access log.
	if i := bytes.IndexByte(t, '#'); i >= 0 {
		t = t[:i]
		r.target = t
	}
	if len(t) > 0 && t[0] == '/' {
		r.form = formOrigin
		r.path = t
		return nil
	}
	r.form = formAbsolute
	var rest []byte
	switch {
	case hasPrefixFold(t, "http://"):
		rest = t[7:]
	case hasPrefixFold(t, "ws://"):
		rest = t[5:]
	case hasPrefixFold(t, "https://"), hasPrefixFold(t, "wss://"):
		return badRequest("https requests must be tunnelled with CONNECT")
	default:
		return badRequest("request target %.80q is not an http:// URL", t)
	}
	end := bytes.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	r.authority, r.path = rest[:end], rest[end:]
	if bytes.IndexByte(r.authority, '@') >= 0 {
		return badRequest("user info in the request target is not allowed")
	}
	if !splitHostPort(r.authority, &r.host, &r.port) {
		return badRequest("bad host %.80q", r.authority)
	}
	if len(r.port) == 0 {
		// No port, or an empty one ("http://h:/"), which RFC 3986 §3.2.3
		// allows and gives the scheme's default; the Host sent upstream
		// drops the lone colon, as §6.2.3 normalizes it.
		r.port = port80
		if n := len(r.authority); r.authority[n-1] == ':' {
			r.authority = r.authority[:n-1]
		}
	}
	return nil
}

var port80 = []byte("80")

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port". The
// port, when present, must be a number from 1 to 65535 or empty ("h:"),
// which callers treat as their own case: a default for URLs, an error for
// CONNECT.
func splitHostPort(a []byte, host, port *[]byte) bool {
	*host, *port = nil, nil
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 {
			return false
		}
		*host = a[1:end]
		a = a[end+1:]
		if len(a) > 0 {
			if a[0] != ':' {
				return false
			}
			*port = a[1:]
		}
	} else if i := bytes.LastIndexByte(a, ':'); i >= 0 {
		*host, *port = a[:i], a[i+1:]
		if bytes.IndexByte(*host, ':') >= 0 {
			return false // an IPv6 literal without brackets
		}
	} else {
		*host = a
	}
	if len(*host) == 0 {
		return false
	}
	for _, c := range *host {
		if c <= ' ' || c == '/' || c == '\\' || c == '@' || c == 0x7f {
			return false
		}
	}
	if len(*port) > 0 {
		n := parseDecimal(*port)
		if n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// hasBody reports whether the request carries a body.
func (r *request) hasBody() bool { return r.mi.chunked || r.mi.length > 0 }

// clientKeepAlive reports whether the client wants its connection kept
// after this request: HTTP/1.1 unless it said close, HTTP/1.0 only if it
// asked for keep-alive.
func (r *request) clientKeepAlive() bool {
	if r.minor == 0 {
		return r.mi.keepAlive && !r.mi.connClose
	}
	return !r.mi.connClose
}

// methodString returns the method as a string without allocating for the
// common methods.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "PATCH":
		return "PATCH"
	case "CONNECT":
		return "CONNECT"
	case "SOCKS5":
		return "SOCKS5"
	}
	return string(m)
}
