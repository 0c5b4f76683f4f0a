package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Differential fuzzing of the head parsers: the same bytes go through
// Sluice's readHead and request.parse (or response.parse) and through
// net/http's ReadRequest (or ReadResponse). Where the two disagree on
// whether a head is acceptable, or both accept it but frame its body or
// route it differently, the input must fall in one of the documented
// classes below, each with the reason Sluice's reading is the safe one.
// An undocumented disagreement fails, and so, always, does a head Sluice
// accepts while net/http refuses it over its framing. TestParserDifferences
// pins one concrete input per class.

// divKind says how the parsers part.
type divKind uint8

const (
	sluiceStricter divKind = iota // Sluice refuses, net/http accepts
	sluiceLenient                 // Sluice accepts, net/http refuses
	framingDiffers                // both accept, the body is framed differently
	routingDiffers                // both accept, the target host differs
)

// divergence is a documented class of heads the parsers read differently.
type divergence struct {
	name  string
	kind  divKind
	why   string // why Sluice's reading is the safe one
	match func(d *headDiff) bool
}

// divergences lists every documented class; the first that matches an
// input names it.
var divergences = []divergence{
	{"version", sluiceStricter,
		"net/http parses any HTTP/x.y (an HTTP/2 preface included) and leaves the version to its server; Sluice speaks HTTP/1.x only and says so with 505 before anything goes upstream",
		func(d *headDiff) bool { return !d.http1() }},
	{"target-form", sluiceStricter,
		"a forward proxy relays absolute http:// (or ws://) targets, tunnels CONNECT and serves its own origin-form endpoints; net/http parses any URI (*, https://, ftp://) and leaves it to the handler",
		func(d *headDiff) bool {
			m, t := d.method(), d.target()
			return !d.response && m != "CONNECT" && !strings.HasPrefix(t, "/") && !hasPrefixFold([]byte(t), "http://") && !hasPrefixFold([]byte(t), "ws://")
		}},
	{"userinfo", sluiceStricter,
		"user info in a target is a phishing device (http://bank@evil/) and has no meaning to an origin; net/http parses it",
		func(d *headDiff) bool {
			a, ok := d.absoluteAuthority()
			return !d.response && ok && strings.Contains(a, "@")
		}},
	{"authority", sluiceStricter,
		"Sluice dials only a host with a port from 1 to 65535 (CONNECT: a port it must name); net/http takes port 0, no port on CONNECT, or a CONNECT path",
		func(d *headDiff) bool {
			if d.response {
				return false
			}
			if d.method() == "CONNECT" {
				return !rfcAuthority(d.target(), true)
			}
			a, ok := d.absoluteAuthority()
			return ok && !rfcAuthority(a, false)
		}},
	{"obs-fold", sluiceStricter,
		"RFC 9112 §5.2 lets a recipient refuse obsolete line folding; a proxy that unfolds while the next hop does not (or the reverse) reads different fields",
		func(d *headDiff) bool { return d.folded }},
	{"field-name-space", sluiceStricter,
		"whitespace in a field name is invalid (RFC 9112 §5.1 says to reject it before the colon); net/http keeps \"Content-Length :\" as a field of another name, so a body it frames as empty another parser frames by that length",
		func(d *headDiff) bool {
			for _, f := range d.fields {
				if strings.ContainsAny(f.name, " \t") {
					return true
				}
			}
			return false
		}},
	{"teChunked-in-http10", sluiceStricter,
		"net/http ignores Transfer-Encoding in an HTTP/1.0 request and frames by Content-Length; a hop that honours it frames otherwise, so Sluice refuses the message (RFC 9112 §6.1: faulty framing)",
		func(d *headDiff) bool { return !d.response && d.minor() == 0 && d.has("transfer-encoding") }},
	{"cl-and-teChunked", sluiceStricter,
		"both framings at once is the request-smuggling pattern; net/http drops Content-Length and goes on, Sluice refuses (RFC 9112 §6.1 allows either, and refusing leaves no hop to disagree)",
		func(d *headDiff) bool { return !d.response && d.has("content-length") && d.has("transfer-encoding") }},
	{"connection-framing", sluiceStricter,
		"a Connection (or Proxy-Connection) option naming Content-Length, Transfer-Encoding or Host would make a proxy drop the field that frames or routes the message while still relaying its body; net/http does not act on Connection tokens",
		func(d *headDiff) bool {
			for _, t := range d.connTokens() {
				switch strings.ToLower(t) {
				case "content-length", "transfer-encoding", "host":
					return true
				}
			}
			return false
		}},
	{"connection-tokens", sluiceStricter,
		"more than 64 Connection tokens serve no client and cost a proxy work per field; net/http does not act on them",
		func(d *headDiff) bool { return len(d.connTokens()) > maxDesyncConnTokens }},
	{"long-content-length", sluiceStricter,
		"Sluice takes Content-Length of at most 18 digits (it fits an int64 with no overflow check); net/http takes 19 digits up to 2^63-1, and leading zeros make any length that long",
		func(d *headDiff) bool {
			for _, v := range d.values("content-length") {
				if len(v) > 18 {
					return true
				}
			}
			return false
		}},
	{"status-line", sluiceStricter,
		"net/http takes extra spaces before the status code, codes under 100 or with a sign, and any HTTP/x.y; Sluice takes \"HTTP/1.x NNN\" with a code from 100 to 999 and answers anything else with 502",
		func(d *headDiff) bool { return d.response && !statusLineRE.MatchString(d.start) }},
	{"coding-list", sluiceLenient,
		"net/http implements chunked alone; Sluice frames by the final coding as RFC 9112 §6.3 says (chunked, or to the close for a response whose last coding is not chunked) and passes the codings on, so every hop agrees on where the body ends",
		func(d *headDiff) bool {
			return strings.Contains(d.goErr.Error(), "transfer encoding") && (d.sluiceChunked() || d.response)
		}},
	{"trailer-declares-framing", sluiceLenient,
		"net/http refuses a head whose Trailer field names Content-Length or Transfer-Encoding; the declaration frames nothing, and Sluice drops such fields from the trailer section itself",
		func(d *headDiff) bool { return strings.Contains(d.goErr.Error(), "bad trailer key") }},
	{"content-length-spelling", sluiceLenient,
		"Content-Length fields spelling one length differently (5 and 05): net/http compares the strings, Sluice the numbers; every reading frames the same body",
		func(d *headDiff) bool {
			if !strings.Contains(d.goErr.Error(), "multiple Content-Length") {
				return false
			}
			n := int64(-1)
			for _, v := range d.values("content-length") {
				m, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n >= 0 && m != n {
					return false
				}
				n = m
			}
			return true
		}},
	{"host-fields", sluiceLenient,
		"Sluice routes by the request target and writes the one Host the origin gets (an origin-form request is one Sluice answers itself), so a client's Host fields, however many, reach no one",
		func(d *headDiff) bool { return strings.Contains(d.goErr.Error(), "Host header") }},
	{"target-url-syntax", sluiceLenient,
		"Sluice checks what it routes on (scheme, host, port) and passes the path through byte for byte for the origin to judge, with a fragment cut off; net/http's URL parser refuses bad escapes and a fragment where it expects a host",
		func(d *headDiff) bool { var ue *url.Error; return errors.As(d.goErr, &ue) }},
	{"http10-teChunked", framingDiffers,
		"an HTTP/1.0 response with Transfer-Encoding is faulty framing (RFC 9112 §6.1): net/http ignores the field, Sluice decodes it; both read to the close and Sluice never reuses the connection",
		func(d *headDiff) bool { return d.response && d.minor() == 0 && d.has("transfer-encoding") }},
	{"host-percent", routingDiffers,
		"net/http decodes percent escapes in a host (h%C3%A9 is hé); Sluice dials the bytes the client sent, and a name with % in it resolves nowhere (502), so no request reaches a host the client did not spell out",
		func(d *headDiff) bool {
			a, ok := d.absoluteAuthority()
			if d.method() == "CONNECT" {
				a, ok = d.target(), true
			}
			return ok && strings.Contains(a, "%")
		}},
}

// maxDesyncConnTokens is the cap on Connection tokens the hardening
// decided (issue 11).
const maxDesyncConnTokens = 64

var statusLineRE = regexp.MustCompile(`^HTTP/1\.[0-9] [1-9][0-9][0-9]( |$)`)

// headDiff is one head as both parsers read it, with the fields as an
// independent, permissive splitter sees them for the classes to inspect.
type headDiff struct {
	head     []byte
	response bool
	start    string
	fields   []rawField
	folded   bool // a field line starts with whitespace

	sluiceErr error
	req       request
	resp      response

	goErr  error
	goReq  *http.Request
	goResp *http.Response
}

type rawField struct{ name, value string }

// diffHead reads one head from data and runs both parsers on it; ok is
// false when data holds no complete head.
func diffHead(data []byte, isResponse bool) (*headDiff, bool) {
	head, err := readHead(bufio.NewReaderSize(bytes.NewReader(data), 64), nil, DefaultMaxHeaderBytes)
	if err != nil {
		return nil, false
	}
	d := &headDiff{head: head, response: isResponse}
	d.split()
	br := bufio.NewReader(bytes.NewReader(head))
	if isResponse {
		d.sluiceErr = d.resp.parse(head)
		d.goResp, d.goErr = http.ReadResponse(br, &http.Request{Method: "GET"})
	} else {
		d.sluiceErr = d.req.parse(head)
		d.goReq, d.goErr = http.ReadRequest(br)
	}
	return d, true
}

func (d *headDiff) split() {
	lines := strings.Split(string(d.head), "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if i == 0 {
			d.start = l
			continue
		}
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			d.folded = true
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		d.fields = append(d.fields, rawField{name, strings.Trim(value, " \t")})
	}
}

// values returns the values of the fields named name (exactly, ignoring
// case).
func (d *headDiff) values(name string) []string {
	var vs []string
	for _, f := range d.fields {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value)
		}
	}
	return vs
}

func (d *headDiff) has(name string) bool { return len(d.values(name)) > 0 }

func (d *headDiff) connTokens() []string {
	var ts []string
	for _, v := range append(d.values("connection"), d.values("proxy-connection")...) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.Trim(t, " \t"); t != "" {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

func (d *headDiff) method() string { m, _, _ := strings.Cut(d.start, " "); return m }

func (d *headDiff) target() string {
	_, rest, _ := strings.Cut(d.start, " ")
	t, _, _ := strings.Cut(rest, " ")
	return t
}

// absoluteAuthority returns the authority of an http:// or ws:// target.
func (d *headDiff) absoluteAuthority() (string, bool) {
	t := d.target()
	for _, scheme := range []string{"http://", "ws://"} {
		if hasPrefixFold([]byte(t), scheme) {
			a := t[len(scheme):]
			if i := strings.IndexAny(a, "/?#"); i >= 0 {
				a = a[:i]
			}
			return a, true
		}
	}
	return "", false
}

// http1 and minor read the version as net/http parsed it; they serve the
// classes of heads net/http accepted.
func (d *headDiff) http1() bool {
	if d.goReq != nil {
		return d.goReq.ProtoMajor == 1
	}
	return d.goResp.ProtoMajor == 1
}

func (d *headDiff) minor() int {
	if d.goReq != nil {
		return d.goReq.ProtoMinor
	}
	return d.goResp.ProtoMinor
}

func (d *headDiff) sluiceChunked() bool {
	if d.response {
		return d.resp.mi.chunked
	}
	return d.req.mi.chunked
}

// rfcAuthority reports whether a is host[:port] as RFC 3986 §3.2 allows,
// with a port from 1 to 65535 of at most five digits. needPort: the port
// must be there (CONNECT); otherwise an empty one means the default.
func rfcAuthority(a string, needPort bool) bool {
	host, port, hasPort := a, "", false
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 2 {
			return false
		}
		rest := a[end+1:]
		host = "x" // an IP literal: its inside is the dialer's to judge
		if rest != "" {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host, port, hasPort = a[:i], a[i+1:], true
	}
	if host == "" {
		return false
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=%", c) >= 0) {
			return false
		}
	}
	if !hasPort || port == "" {
		return !needPort
	}
	n, err := strconv.Atoi(port)
	return err == nil && len(port) <= 5 && port[0] != '+' && n >= 1 && n <= 65535
}

// framing is how each parser delimits the body: a length, "chunked" or
// "close".
func (d *headDiff) framing() (sluice, goHTTP string) {
	if d.response {
		r := &d.resp
		switch {
		case r.code < 200, r.code == 204, r.code == 304:
			sluice = "0"
		case r.mi.chunked:
			sluice = "chunked"
		case r.mi.hasTE, r.mi.length < 0:
			sluice = "close"
		default:
			sluice = strconv.FormatInt(r.mi.length, 10)
		}
		g := d.goResp
		switch {
		case g.StatusCode < 200, g.StatusCode == 204, g.StatusCode == 304:
			goHTTP = "0"
		case len(g.TransferEncoding) > 0:
			goHTTP = "chunked"
		case g.ContentLength < 0:
			goHTTP = "close"
		default:
			goHTTP = strconv.FormatInt(g.ContentLength, 10)
		}
		return sluice, goHTTP
	}
	switch r := &d.req; {
	case r.mi.chunked:
		sluice = "chunked"
	case r.mi.length > 0:
		sluice = strconv.FormatInt(r.mi.length, 10)
	default:
		sluice = "0"
	}
	if len(d.goReq.TransferEncoding) > 0 {
		goHTTP = "chunked"
	} else {
		goHTTP = strconv.FormatInt(d.goReq.ContentLength, 10)
	}
	return sluice, goHTTP
}

// routing returns where each parser sends an absolute-form or CONNECT
// request: "host:port", host folded to lower case, port as a number.
func (d *headDiff) routing() (sluice, goHTTP string, ok bool) {
	r := &d.req
	if d.response || r.form == formOrigin {
		return "", "", false
	}
	port := func(p string) string {
		if p == "" {
			return "80"
		}
		n, _ := strconv.Atoi(p)
		return strconv.Itoa(n)
	}
	sluice = strings.ToLower(string(r.host)) + ":" + port(string(r.port))
	goHTTP = strings.ToLower(d.goReq.URL.Hostname()) + ":" + port(d.goReq.URL.Port())
	return sluice, goHTTP, true
}

// classify returns the documented class of kind that d falls in, or nil.
func (d *headDiff) classify(kind divKind) *divergence {
	for i := range divergences {
		if dv := &divergences[i]; dv.kind == kind && dv.match(d) {
			return dv
		}
	}
	return nil
}

// verdict says how the parsers part on d: the class, or a problem (an
// undocumented divergence, or a framing hazard) when there is none.
func (d *headDiff) verdict() (class *divergence, problem string) {
	sOK, gOK := d.sluiceErr == nil, d.goErr == nil
	switch {
	case !sOK && !gOK:
		return nil, ""
	case !sOK:
		if dv := d.classify(sluiceStricter); dv != nil {
			return dv, ""
		}
		return nil, fmt.Sprintf("undocumented: Sluice refuses (%v) what net/http accepts:\n%q", d.sluiceErr, d.head)
	case !gOK:
		if dv := d.classify(sluiceLenient); dv != nil {
			return dv, ""
		}
		if e := d.goErr.Error(); strings.Contains(e, "Content-Length") || strings.Contains(e, "ransfer") || strings.Contains(e, "chunked") || strings.Contains(e, "railer") {
			return nil, fmt.Sprintf("FRAMING HAZARD: Sluice accepts what net/http refuses as %v:\n%q", d.goErr, d.head)
		}
		return nil, fmt.Sprintf("undocumented: Sluice accepts what net/http refuses (%v):\n%q", d.goErr, d.head)
	}
	if s, g := d.framing(); s != g {
		if dv := d.classify(framingDiffers); dv != nil {
			return dv, ""
		}
		return nil, fmt.Sprintf("FRAMING HAZARD: Sluice frames the body as %s, net/http as %s:\n%q", s, g, d.head)
	}
	if s, g, ok := d.routing(); ok && s != g {
		if dv := d.classify(routingDiffers); dv != nil {
			return dv, ""
		}
		return nil, fmt.Sprintf("ROUTING: Sluice would dial %s, net/http reads %s:\n%q", s, g, d.head)
	}
	return nil, ""
}

// FuzzRequestHeadDiff compares the request head parsers. Seeded with the
// desync table's requests: go test -fuzz FuzzRequestHeadDiff ./proxy/
func FuzzRequestHeadDiff(f *testing.F) {
	for _, c := range desyncCases() {
		if !c.response {
			f.Add([]byte(strings.ReplaceAll(c.send, "{o}", "127.0.0.1:8080")))
		}
	}
	for _, p := range parserDifferences {
		if !p.response {
			f.Add([]byte(p.head))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ok := diffHead(data, false)
		if !ok {
			return
		}
		if _, problem := d.verdict(); problem != "" {
			t.Fatal(problem)
		}
	})
}

// FuzzResponseHeadDiff compares the response head parsers. Seeded with
// the desync table's origin answers: go test -fuzz FuzzResponseHeadDiff ./proxy/
func FuzzResponseHeadDiff(f *testing.F) {
	for _, c := range desyncCases() {
		if c.reply != nil && c.reply.bytes != "" {
			f.Add([]byte(c.reply.bytes))
		}
	}
	for _, p := range parserDifferences {
		if p.response {
			f.Add([]byte(p.head))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ok := diffHead(data, true)
		if !ok {
			return
		}
		if _, problem := d.verdict(); problem != "" {
			t.Fatal(problem)
		}
	})
}

// parserDifferences pins one input per documented class, with whether
// each parser accepts it.
var parserDifferences = []struct {
	class      string
	response   bool
	head       string
	sluiceOK   bool
	goAccepted bool
}{
	// Sluice answers 505: only HTTP/1.x is spoken.
	{"version", false, "PRI * HTTP/2.0\r\n\r\n", false, true},
	// A forward proxy has nothing to do with "*" or an https:// target
	// (that goes through CONNECT).
	{"target-form", false, "GET https://h/ HTTP/1.1\r\nHost: h\r\n\r\n", false, true},
	{"target-form", false, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", false, true},
	// http://bank.example@evil.example/ is a phishing device.
	{"userinfo", false, "GET http://bank.example@evil.example/ HTTP/1.1\r\n\r\n", false, true},
	// Port 0 cannot be dialled; CONNECT must name its port.
	{"authority", false, "GET http://h:0/ HTTP/1.1\r\n\r\n", false, true},
	{"authority", false, "CONNECT h HTTP/1.1\r\n\r\n", false, true},
	// net/http unfolds; a hop that does not reads another field list.
	{"obs-fold", false, "GET http://h/ HTTP/1.1\r\nX-A: 1\r\n Content-Length: 5\r\n\r\n", false, true},
	// net/http frames this body as empty: "Content-Length " is not
	// Content-Length to it, while a lenient hop reads 5.
	{"field-name-space", false, "POST http://h/ HTTP/1.1\r\nContent-Length : 5\r\n\r\n", false, true},
	// net/http frames by Content-Length (3), a hop honouring the
	// Transfer-Encoding reads chunks.
	{"teChunked-in-http10", false, "POST http://h/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", false, true},
	{"cl-and-teChunked", false, "POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, true},
	// Dropping Content-Length as a connection option would relay the
	// body with no framing: the origin reads it as the next request.
	{"connection-framing", false, "GET http://h/ HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n", false, true},
	{"connection-framing", false, "GET http://h/ HTTP/1.1\r\nProxy-Connection: host\r\n\r\n", false, true},
	{"connection-tokens", false, "GET http://h/ HTTP/1.1\r\nConnection: " + strings.Repeat("a, ", 64) + "b\r\n\r\n", false, true},
	{"long-content-length", false, "POST http://h/ HTTP/1.1\r\nContent-Length: 0000000000000000005\r\n\r\n", false, true},
	// Sluice frames by the final coding, chunked, and forwards the list.
	{"coding-list", false, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", true, false},
	{"coding-list", false, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", true, false},
	{"trailer-declares-framing", false, "POST http://h/ HTTP/1.1\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n", true, false},
	{"content-length-spelling", false, "POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", true, false},
	// The origin gets one Host, made from the target.
	{"host-fields", false, "GET http://h/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", true, false},
	// The path is the origin's to judge; the fragment is cut off.
	{"target-url-syntax", false, "GET http://h/%zz HTTP/1.1\r\n\r\n", true, false},
	{"target-url-syntax", false, "GET http://h#f HTTP/1.1\r\n\r\n", true, false},
	// net/http reads host "hé"; Sluice dials "h%C3%A9", which resolves
	// nowhere.
	{"host-percent", false, "GET http://h%C3%A9/ HTTP/1.1\r\n\r\n", true, true},

	// Sluice answers 502 rather than relay a status line it cannot be
	// sure of.
	{"status-line", true, "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n", false, true},
	{"status-line", true, "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false, true},
	{"status-line", true, "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n", false, true},
	{"version", true, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, true},
	{"obs-fold", true, "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", false, true},
	{"field-name-space", true, "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", false, true},
	{"connection-framing", true, "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok", false, true},
	// A response whose last coding is not chunked runs to the close
	// (RFC 9112 §6.3); Sluice relays it so and does not reuse the conn.
	{"coding-list", true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true, false},
	{"trailer-declares-framing", true, "HTTP/1.1 200 OK\r\nTrailer: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n", true, false},
	{"http10-teChunked", true, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, true},
}

// TestParserDifferences pins each documented class with a concrete head:
// both parsers must still read it as listed, and the classification must
// name the class. Every class appears at least once.
func TestParserDifferences(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range parserDifferences {
		seen[p.class] = true
		d, ok := diffHead([]byte(p.head), p.response)
		if !ok {
			t.Errorf("%s: no complete head in %q", p.class, p.head)
			continue
		}
		if got := d.sluiceErr == nil; got != p.sluiceOK {
			t.Errorf("%s: %q: Sluice accepts: %v (%v), want %v", p.class, p.head, got, d.sluiceErr, p.sluiceOK)
		}
		if got := d.goErr == nil; got != p.goAccepted {
			t.Errorf("%s: %q: net/http accepts: %v (%v), want %v", p.class, p.head, got, d.goErr, p.goAccepted)
		}
		dv, problem := d.verdict()
		switch {
		case problem != "":
			t.Errorf("%s: %s", p.class, problem)
		case dv == nil && (p.sluiceOK != p.goAccepted || p.sluiceOK && p.goAccepted):
			t.Errorf("%s: %q: no divergence found", p.class, p.head)
		case dv != nil && dv.name != p.class:
			t.Errorf("%q: classified %s, want %s", p.head, dv.name, p.class)
		}
	}
	for _, dv := range divergences {
		if !seen[dv.name] {
			t.Errorf("class %s has no example in parserDifferences", dv.name)
		}
	}
}
