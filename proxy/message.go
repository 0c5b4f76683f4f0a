package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

// errHeadTooLarge means a message head went over its limit.
var errHeadTooLarge = errors.New("message head too large")

// readHead appends one message head (start line and fields, up to and
// including the empty line) from br to buf and returns it. Leading empty
// lines are skipped (RFC 9112 §2.2). It reads line by line, so br's buffer
// may be smaller than the head; max bounds the head's size.
func readHead(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	for {
		line, err := br.ReadSlice('\n')
		if len(buf)+len(line) > max {
			return buf, errHeadTooLarge
		}
		buf = append(buf, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return buf, err
		}
		n := len(buf)
		// The head ends with an empty line: "\r\n" or a bare "\n".
		if n == len(line) && (n == 1 || n == 2 && buf[0] == '\r') {
			buf = buf[:0] // a leading empty line, skipped
			continue
		}
		if n >= 2 && buf[n-2] == '\n' || n >= 3 && buf[n-3] == '\n' && buf[n-2] == '\r' {
			return buf, nil
		}
	}
}

// splitLines cuts a head into its lines without their line endings. The
// callback returns false to stop.
func splitLines(head []byte, fn func(line []byte) bool) {
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			return
		}
		line := head[:i]
		head = head[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if !fn(line) {
			return
		}
	}
}

// parseField splits "Name: value", rejecting what RFC 9112 §5 says a
// recipient must reject: whitespace before the colon, an empty or
// non-token name, obsolete line folding, control characters in the value.
func parseField(line []byte) (field, bool) {
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		return field{}, false // obs-fold
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return field{}, false
	}
	f := field{name: line[:i], value: trimOWS(line[i+1:])}
	if !isToken(f.name) || !validFieldValue(f.value) {
		return field{}, false
	}
	return f, true
}

// parseVersion parses "HTTP/1.1" into its major and minor digits.
func parseVersion(v []byte) (major, minor int, ok bool) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' {
		return 0, 0, false
	}
	if v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// framing describes how a message body is delimited (RFC 9112 §6.3).
type framing struct {
	// length is the Content-Length, or -1 if none was given.
	length int64
	// chunked is true when the final transfer coding is chunked.
	chunked bool
	// te is the last Transfer-Encoding value, the one whose final coding
	// frames the body; the relay forwards every Transfer-Encoding line.
	te []byte
}

// messageInfo collects the fields of a head that the relay acts on.
type messageInfo struct {
	framing
	// connTokens are the field names listed in Connection and
	// Proxy-Connection, at most maxConnTokens of them.
	connTokens [][]byte
	connClose  bool
	keepAlive  bool // "Connection: keep-alive", for HTTP/1.0
	upgrade    []byte
	expect100  bool
	host       []byte
	badCL      bool // conflicting or invalid Content-Length
	sawCL      bool // a Content-Length field was present
	// chunkings counts "chunked" in Transfer-Encoding; more than one is
	// an error (RFC 9112 §6.1: chunked must not be applied twice).
	chunkings int
	badTE     bool // a Transfer-Encoding without chunked last
	hasTE     bool
	// coded is true when a Transfer-Encoding field (any of them) names
	// a coding other than chunked, which stays applied to the body.
	coded bool

	// nConnTokens counts every token of Connection and Proxy-Connection,
	// close and keep-alive included.
	nConnTokens int
	// connNamed is the canonical name of a framing or routing field that
	// Connection (or Proxy-Connection, as connField says) lists; "" if
	// none does. See connRefusal.
	connNamed, connField string
}

// scan fills mi from fields. Proxy-Connection, which clients send to
// proxies in place of Connection, counts as Connection.
func (mi *messageInfo) scan(fields []field) {
	*mi = messageInfo{connTokens: mi.connTokens[:0], framing: framing{length: -1}}
	for i := range fields {
		f := &fields[i]
		switch {
		case fieldIs(f.name, "content-length"):
			n := parseDecimal(f.value)
			mi.sawCL = true
			if n < 0 || mi.length >= 0 && mi.length != n {
				mi.badCL = true
			}
			mi.length = n
		case fieldIs(f.name, "transfer-encoding"):
			mi.hasTE = true
			mi.te = f.value
			last := f.value
			if i := bytes.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			mi.chunked = bytes.EqualFold(trimOWS(last), []byte("chunked"))
			mi.badTE = !mi.chunked
			forEachToken(f.value, func(t []byte) {
				if bytes.EqualFold(t, []byte("chunked")) {
					mi.chunkings++
				} else {
					mi.coded = true
				}
			})
		case fieldIs(f.name, "connection"), fieldIs(f.name, "proxy-connection"):
			which := "Connection"
			if len(f.name) > len(which) {
				which = "Proxy-Connection"
			}
			forEachToken(f.value, func(t []byte) {
				if mi.nConnTokens++; mi.nConnTokens > maxConnTokens {
					return // refused by connRefusal; no more work per token
				}
				switch {
				case fieldIs(t, "close"):
					mi.connClose = true
				case fieldIs(t, "keep-alive"):
					mi.keepAlive = true
				default:
					if name := framingFieldName(t); name != "" && mi.connNamed == "" {
						mi.connNamed, mi.connField = name, which
					}
					mi.connTokens = append(mi.connTokens, t)
				}
			})
		case fieldIs(f.name, "upgrade"):
			mi.upgrade = f.value
		case fieldIs(f.name, "expect"):
			mi.expect100 = bytes.EqualFold(f.value, []byte("100-continue"))
		case fieldIs(f.name, "host"):
			mi.host = f.value
		}
	}
	if mi.hasTE {
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
		mi.length = -1
	}
}

// maxConnTokens bounds the tokens of Connection and Proxy-Connection
// together. Every field of a message is checked against them on its way
// through (isHopHeader), so without a bound a head of 16k tokens costs
// fields×tokens comparisons; real messages list one or two.
const maxConnTokens = 64

// framingFieldName returns the canonical name of token if it names a
// field that frames or routes the message, "" otherwise. Such a field is
// never a connection option: a proxy that dropped it as one, as RFC 9110
// §7.6.1 says of the fields Connection lists, would forward a body under
// a framing other than the one it read (request smuggling).
func framingFieldName(token []byte) string {
	switch {
	case fieldIs(token, "content-length"):
		return "Content-Length"
	case fieldIs(token, "transfer-encoding"):
		return "Transfer-Encoding"
	case fieldIs(token, "host"):
		return "Host"
	}
	return ""
}

// connRefusal says why the message's Connection fields cannot be
// honoured, or returns "" when they can. A request refused so gets 400, a
// response 502. The token "upgrade" outside an upgrade needs no refusal:
// Upgrade is hop-by-hop already.
func (mi *messageInfo) connRefusal() string {
	switch {
	case mi.nConnTokens > maxConnTokens:
		return "Connection and Proxy-Connection list more than " + strconv.Itoa(maxConnTokens) + " tokens"
	case mi.connNamed == "Host":
		return mi.connField + " names Host, a routing field"
	case mi.connNamed != "":
		return mi.connField + " names " + mi.connNamed + ", a framing field"
	}
	return ""
}

// wantsUpgrade reports whether the message asks for a protocol switch:
// an Upgrade field that Connection names (RFC 9110 §7.8).
func (mi *messageInfo) wantsUpgrade() bool {
	if len(mi.upgrade) == 0 {
		return false
	}
	for _, t := range mi.connTokens {
		if bytes.EqualFold(t, []byte("upgrade")) {
			return true
		}
	}
	return false
}

// appendStatusLine appends "HTTP/1.1 code reason\r\n".
func appendStatusLine(b []byte, code int, reason []byte) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	return append(b, "\r\n"...)
}

// appendTransferEncoding appends every Transfer-Encoding line of fields,
// in order. Codings split over several lines form one list (RFC 9110
// §5.3), so forwarding only the last line would drop a coding that still
// applies to the body.
func appendTransferEncoding(b []byte, fields []field) []byte {
	for i := range fields {
		if f := &fields[i]; fieldIs(f.name, "transfer-encoding") {
			b = appendField(b, []byte("Transfer-Encoding"), f.value)
		}
	}
	return b
}

// appendField appends "name: value\r\n".
func appendField(b, name, value []byte) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}
