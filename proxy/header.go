package proxy

import "bytes"

// hopHeaders are the hop-by-hop header fields a proxy must not forward
// (RFC 9110 §7.6.1), plus the proxy-specific fields that only ever
// concern the client-to-proxy hop (Proxy-Authorization, Proxy-Connection,
// Proxy-Authenticate). Fields named in the Connection header are removed
// too, by the caller. Transfer-Encoding is listed because the relay
// re-frames every body itself.
var hopHeaders = [][]byte{
	[]byte("Connection"),
	[]byte("Proxy-Connection"),
	[]byte("Keep-Alive"),
	[]byte("Proxy-Authenticate"),
	[]byte("Proxy-Authorization"),
	[]byte("Te"),
	[]byte("Transfer-Encoding"),
	[]byte("Upgrade"),
}

// isHopHeader reports whether name is in hopHeaders or listed in the
// message's Connection header (connTokens).
func isHopHeader(name []byte, connTokens [][]byte) bool {
	// The first byte narrows the candidates cheaply on the hot path.
	switch name[0] | 0x20 {
	case 'c', 'p', 'k', 't', 'u':
		for _, h := range hopHeaders {
			if bytes.EqualFold(name, h) {
				return true
			}
		}
	}
	for _, t := range connTokens {
		if bytes.EqualFold(name, t) {
			return true
		}
	}
	return false
}

// field is one header field; both slices point into a message's head buffer.
type field struct {
	name, value []byte
}

// tokenChars marks the bytes allowed in an RFC 9110 token (§5.6.2), the
// syntax of methods and field names.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-32] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validFieldValue rejects control characters other than HTAB (RFC 9110
// §5.5): a bare CR or NUL in a value is how header injection starts.
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP and HTAB) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// forEachToken calls fn for every comma-separated element of a list-valued
// field (RFC 9110 §5.6.1), trimmed, skipping empty elements.
func forEachToken(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

// parseDecimal parses an unsigned decimal number of at most 18 digits:
// digits only, no sign, no space, so it cannot overflow. It returns -1
// for anything else. It reads Content-Length values (RFC 9110 §8.6),
// ports and status codes, which share that syntax.
func parseDecimal(v []byte) int64 {
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// fieldIs compares a field name case-insensitively with a lower-case
// constant, without allocating.
func fieldIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// indexByte is bytes.IndexByte for the few bytes of a host or path.
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
