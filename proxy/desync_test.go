package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cache"
)

// The desync suite (issue 11): a table of requests and origin answers an
// attacker would try, each run through a Sluice on loopback against a raw
// origin that records the exact bytes it receives on each connection.
// Every case checks three things: what the client got, the bytes the
// origin saw (or that it saw nothing), and that the next client, on a
// fresh connection to the same origin, gets its own response and not
// one left over from the case. desync_squid_test.go runs the same table
// through squid for reference.

// Markers a desync would expose. An origin that parses smuggledReq as a
// request, or a client that gets smuggledResp as its answer, has lost
// track of where one message ends and the next begins.
const (
	smuggledReq  = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	smuggledResp = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled!"
	// nextReq is the next client's request and nextFwd what Sluice
	// sends upstream for it; {o} is the origin's host:port.
	nextReq = "GET http://{o}/next HTTP/1.1\r\nHost: {o}\r\n\r\n"
	nextFwd = "GET /next HTTP/1.1\r\nHost: {o}\r\n\r\n"
)

// Bounds of the suite's waits. A Sluice that behaves answers within
// milliseconds; these only cap how long a broken one can stall a case.
const (
	desyncWait      = 5 * time.Second // one client exchange
	desyncOriginEnd = 3 * time.Second // for the origin's conns to end after the proxy stops
	lateExtraDelay  = 300 * time.Millisecond
)

// desyncCase is one row of the table.
type desyncCase struct {
	name string
	// send is what the client writes, in one write; {o} stands for the
	// origin's host:port.
	send string
	// halfClose shuts the client's write side after send.
	halfClose bool
	// warm sends GET /warm first, on its own client connection, so the
	// case's request runs on a pooled upstream connection.
	warm bool
	// want lists the responses the client must get, in order.
	want []clientWant
	// closed: the proxy must close the client connection after them.
	closed bool
	// origin is the exact bytes each upstream connection delivered, in
	// the order they were accepted, with {o} for the origin's address.
	// The next client's request (nextFwd) is part of it: on the same
	// connection when the case leaves a reusable one, on a new one when
	// not.
	origin []string
	// partial: the first connection may carry any prefix of origin[0]
	// (a body found malformed while it streamed), or be missing.
	partial bool
	// reply is how the origin answers the case's request; nil answers
	// 200 with the request target as the body.
	reply *originReply
	// ipv6 puts the origin on [::1].
	ipv6 bool
	// port80: the target names no port (or an empty one); Sluice's dial
	// is pointed at the origin instead of port 80. squid skips the case.
	port80 bool
	// response marks the cases about the origin's side.
	response bool
	// cached runs the case through a Sluice with a response cache; squid
	// (its cache off) skips it.
	cached bool
	// fault names the known fault of c0bb79f (issue 11) the case shows.
	fault string
}

// clientWant is one response the client must get.
type clientWant struct {
	method string // of the request; "" is GET
	status int
	// alt is another acceptable status (an HTTP/0.9 line is refused as
	// malformed, 400, or as an unsupported version, 505).
	alt  int
	body string
	// broken: the answer is cut off where the origin's message broke, so
	// the client must not get a complete response other than Sluice's
	// 502: nothing at all, or a response cut short, and then the close.
	broken bool
}

// originReply is how the origin answers the case's request.
type originReply struct {
	bytes string // written at once
	later string // written lateExtraDelay after bytes
	close bool   // the origin closes the connection after writing
}

// rawHead builds a message head: a start line and fields, each ended by CRLF,
// then the empty line.
func rawHead(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

const (
	hostO     = "Host: {o}"
	getA      = "GET http://{o}/a HTTP/1.1"
	getAFwd   = "GET /a HTTP/1.1"
	postA     = "POST http://{o}/a HTTP/1.1"
	postFwd   = "POST /a HTTP/1.1"
	teChunked = "Transfer-Encoding: chunked"
	getReq    = getA + "\r\n" + hostO + "\r\n\r\n"
	getFwd    = getAFwd + "\r\n" + hostO + "\r\n\r\n"
)

// okWant is a 200 from the origin with body; errWant, Sluice's own code.
func okWant(body string) clientWant { return clientWant{status: 200, body: body} }
func errWant(code int) clientWant   { return clientWant{status: code} }

// refuseCase is a request Sluice answers itself with code before anything
// goes upstream: the origin's first connection is the next client's.
func refuseCase(name string, code int, fault, send string) desyncCase {
	return desyncCase{name: name, send: send, want: []clientWant{{status: code}}, closed: true,
		origin: []string{nextFwd}, fault: fault}
}

// relayCase is a request the origin gets as fwd; the client gets the
// origin's answer naming path, and the upstream conn stays in use.
func relayCase(name, fault, send, path, fwd string) desyncCase {
	return desyncCase{name: name, send: send, want: []clientWant{okWant(path)},
		origin: []string{fwd + nextFwd}, fault: fault}
}

// refuseBodyCase is a chunked body found malformed while it streams: the
// client gets 400 and its connection closes; the origin got at most a
// prefix of sent (the well-formed part) on a connection that is closed.
func refuseBodyCase(name, fault, send, sent string) desyncCase {
	return desyncCase{name: name, send: send, want: []clientWant{{status: 400}}, closed: true,
		origin: []string{sent, nextFwd}, partial: true, fault: fault}
}

// answerCase is a GET /a the origin answers with r. reused says whether the
// upstream conn may serve the next client afterwards.
func answerCase(name, fault string, r originReply, want clientWant, reused, closed bool) desyncCase {
	c := desyncCase{name: name, send: getReq, reply: &r, want: []clientWant{want}, closed: closed,
		origin: []string{getFwd, nextFwd}, response: true, fault: fault}
	if reused {
		c.origin = []string{getFwd + nextFwd}
	}
	return c
}

// Names of the faults of c0bb79f that cases expose (issue 11).
const (
	faultConnFraming    = "connection-names-framing-field"
	faultConnTokens     = "connection-token-cap"
	faultPoolPoison     = "pool-poisoning"
	faultReplay         = "non-idempotent-replay"
	faultRetryAfterByte = "retry-after-response-byte"
	faultChunkedLenient = "chunked-bare-lf-accepted"
	faultChunkExt       = "chunk-extension-unchecked"
	faultChunked400     = "malformed-chunked-no-400"
	faultTrailers       = "trailers-unchecked"
	faultFragment       = "fragment-forwarded"
)

// desyncCases is the table: request-side cases first, then the origin's
// side (response framing and retries).
func desyncCases() []desyncCase {
	cl := func(n int) string { return fmt.Sprintf("Content-Length: %d", n) }
	tokens := func(n int) string {
		t := make([]string, n)
		for i := range t {
			t[i] = fmt.Sprintf("x-%d", i)
		}
		return "Connection: " + strings.Join(t, ", ")
	}
	chunked := "5\r\nhello\r\n0\r\n\r\n"
	// trailer is a chunked POST whose trailer section holds fields, and
	// the bytes the origin must get: the same body with only kept.
	trailer := func(name, fault string, fields []string, kept ...string) desyncCase {
		tr := ""
		for _, f := range fields {
			tr += f + "\r\n"
		}
		fwd := ""
		for _, f := range kept {
			fwd += f + "\r\n"
		}
		return relayCase(name, fault, rawHead(postA, hostO, teChunked)+"5\r\nhello\r\n0\r\n"+tr+"\r\n",
			"/a", rawHead(postFwd, hostO, teChunked)+"5\r\nhello\r\n0\r\n"+fwd+"\r\n")
	}
	chunkedFwd := rawHead(postFwd, hostO, teChunked)
	notHTTP1 := func(name, send string, halfClose bool) desyncCase {
		c := refuseCase(name, 400, "", send)
		c.want[0].alt, c.halfClose = 505, halfClose
		return c
	}
	// badChunks is a chunked POST whose body turns malformed after
	// prefix; the origin may get the head and prefix, never more.
	badChunks := func(name, fault, prefix, rest string) desyncCase {
		return refuseBodyCase(name, fault, rawHead(postA, hostO, teChunked)+prefix+rest, chunkedFwd+prefix)
	}

	cases := []desyncCase{
		// Content-Length and Transfer-Encoding.
		relayCase("CL body", "", rawHead(postA, hostO, cl(5))+"hello", "/a", rawHead(postFwd, hostO, cl(5))+"hello"),
		relayCase("CL zero", "", rawHead(postA, hostO, cl(0)), "/a", rawHead(postFwd, hostO, cl(0))),
		relayCase("CL with OWS around the value", "", rawHead(postA, hostO, "Content-Length: \t5 ")+"hello", "/a", rawHead(postFwd, hostO, cl(5))+"hello"),
		relayCase("CL with leading zeros", "", rawHead(postA, hostO, "Content-Length: 005")+"hello", "/a", rawHead(postFwd, hostO, "Content-Length: 005")+"hello"),
		relayCase("CL twice with the same value", "", rawHead(postA, hostO, cl(5), cl(5))+"hello", "/a", rawHead(postFwd, hostO, cl(5), cl(5))+"hello"),
		refuseCase("CL then TE", 400, "", rawHead(postA, hostO, cl(5), teChunked)+chunked),
		refuseCase("TE then CL", 400, "", rawHead(postA, hostO, teChunked, cl(5))+chunked),
		refuseCase("CL zero with TE", 400, "", rawHead(postA, hostO, cl(0), teChunked)+chunked),
		refuseCase("CL conflicting lines", 400, "", rawHead(postA, hostO, cl(5), cl(6))+"hello!"),
		refuseCase("CL list of equal values", 400, "", rawHead(postA, hostO, "Content-Length: 5, 5")+"hello"),
		refuseCase("CL list of different values", 400, "", rawHead(postA, hostO, "Content-Length: 5, 6")+"hello!"),
		refuseCase("CL with plus sign", 400, "", rawHead(postA, hostO, "Content-Length: +5")+"hello"),
		refuseCase("CL negative", 400, "", rawHead(postA, hostO, "Content-Length: -5")+"hello"),
		refuseCase("CL in hex", 400, "", rawHead(postA, hostO, "Content-Length: 0x5")+"hello"),
		refuseCase("CL with inner space", 400, "", rawHead(postA, hostO, "Content-Length: 5 5")+"hello"),
		refuseCase("CL empty", 400, "", rawHead(postA, hostO, "Content-Length: ")+"hello"),
		refuseCase("CL over int64", 400, "", rawHead(postA, hostO, "Content-Length: 9223372036854775808")+"hello"),
		refuseCase("CL of 20 digits", 400, "", rawHead(postA, hostO, "Content-Length: 18446744073709551621")+"hello"),
		refuseCase("CL with exponent", 400, "", rawHead(postA, hostO, "Content-Length: 5e0")+"hello"),
		refuseCase("CL with trailing junk", 400, "", rawHead(postA, hostO, "Content-Length: 5;")+"hello"),
		refuseCase("TE in HTTP/1.0", 400, "", rawHead("POST http://{o}/a HTTP/1.0", hostO, teChunked)+chunked),
		refuseCase("TE and CL in HTTP/1.0", 400, "", rawHead("POST http://{o}/a HTTP/1.0", hostO, teChunked, cl(5))+"hello"),
		refuseCase("TE gzip alone", 501, "", rawHead(postA, hostO, "Transfer-Encoding: gzip")+"hello"),
		refuseCase("TE chunked then gzip", 501, "", rawHead(postA, hostO, "Transfer-Encoding: chunked, gzip")+chunked),
		refuseCase("TE chunked twice in a list", 400, "", rawHead(postA, hostO, "Transfer-Encoding: chunked, chunked")+chunked),
		refuseCase("TE chunked on two lines", 400, "", rawHead(postA, hostO, teChunked, teChunked)+chunked),
		refuseCase("TE chunked line then gzip line", 501, "", rawHead(postA, hostO, teChunked, "Transfer-Encoding: gzip")+chunked),
		refuseCase("TE xchunked", 501, "", rawHead(postA, hostO, "Transfer-Encoding: xchunked")+chunked),
		refuseCase("TE value folded", 400, "", rawHead(postA, hostO, "Transfer-Encoding:", " chunked")+chunked),
		refuseCase("TE with space before the colon", 400, "", rawHead(postA, hostO, "Transfer-Encoding : chunked")+chunked),
		refuseCase("TE with a vertical tab", 400, "", rawHead(postA, hostO, "Transfer-Encoding: chunked\v")+chunked),
		// Relayed as sent; the origin here (net/http) knows chunked
		// alone, refuses the list and closes.
		{name: "TE gzip, chunked", send: rawHead(postA, hostO, "Transfer-Encoding: gzip, chunked") + chunked,
			want:   []clientWant{{status: 400, body: "origin refused"}},
			origin: []string{rawHead(postFwd, hostO, "Transfer-Encoding: gzip, chunked") + chunked, nextFwd}},
		relayCase("TE Chunked in upper case", "", rawHead(postA, hostO, "Transfer-Encoding: Chunked")+chunked,
			"/a", rawHead(postFwd, hostO, "Transfer-Encoding: Chunked")+chunked),

		// Framing fields named as connection options.
		refuseCase("Connection names Content-Length", 400, faultConnFraming,
			rawHead(getA, hostO, "Connection: Content-Length", cl(len(smuggledReq)))+smuggledReq),
		refuseCase("Proxy-Connection names Content-Length", 400, faultConnFraming,
			rawHead(getA, hostO, "Proxy-Connection: Content-Length", cl(len(smuggledReq)))+smuggledReq),
		refuseCase("Connection names content-length among others", 400, faultConnFraming,
			rawHead(postA, hostO, "Connection: keep-alive, content-length, x-a", cl(len(smuggledReq)))+smuggledReq),
		refuseCase("Connection names Content-Length on a bodiless GET", 400, faultConnFraming,
			rawHead(getA, hostO, "Connection: Content-Length")),
		refuseCase("Connection names Transfer-Encoding", 400, faultConnFraming,
			rawHead(postA, hostO, "Connection: Transfer-Encoding", teChunked)+chunked),
		refuseCase("Proxy-Connection names Transfer-Encoding", 400, faultConnFraming,
			rawHead(postA, hostO, "Proxy-Connection: transfer-encoding", teChunked)+chunked),
		refuseCase("Connection names Host", 400, faultConnFraming, rawHead(getA, hostO, "Connection: Host")),
		relayCase("Connection with 64 tokens", "", rawHead(getA, hostO, tokens(64)), "/a", getFwd),
		refuseCase("Connection with 65 tokens", 400, faultConnTokens, rawHead(getA, hostO, tokens(65))),

		// Field syntax.
		refuseCase("obs-fold with a space", 400, "", rawHead(getA, hostO, "X-A: 1", " 2")),
		refuseCase("obs-fold with a tab", 400, "", rawHead(getA, hostO, "X-A: 1", "\t2")),
		refuseCase("obs-fold as the first field", 400, "", rawHead(getA, " X-A: 1", hostO)),
		refuseCase("obs-fold continuing Content-Length", 400, "", rawHead(postA, hostO, "Content-Length: 5", " 5")+"hello"),
		refuseCase("bare CR in a value", 400, "", rawHead(getA, hostO, "X-A: 1\r2")),
		refuseCase("bare CR hiding Content-Length", 400, "", rawHead(postA, hostO, "X-A: 1\rContent-Length: 5")+"hello"),
		refuseCase("bare CR in the request line", 400, "", rawHead("GET http://{o}/a HTTP/1.1\rX: y", hostO)),
		refuseCase("NUL in a value", 400, "", rawHead(getA, hostO, "X-A: 1\x002")),
		refuseCase("NUL in a name", 400, "", rawHead(getA, hostO, "X\x00A: 1")),
		refuseCase("DEL in a value", 400, "", rawHead(getA, hostO, "X-A: 1\x7f")),
		refuseCase("space before the colon", 400, "", rawHead(getA, hostO, "X-A : 1")),
		refuseCase("tab before the colon of Content-Length", 400, "", rawHead(postA, hostO, "Content-Length\t: 5")+"hello"),
		refuseCase("empty field name", 400, "", rawHead(getA, hostO, ": 1")),
		refuseCase("field without a colon", 400, "", rawHead(getA, hostO, "X-A 1")),
		refuseCase("non-token field name", 400, "", rawHead(getA, hostO, "X(A): 1")),
		relayCase("bare LF line ends", "", "GET http://{o}/a HTTP/1.1\nHost: {o}\nX-A: 1\n\n", "/a", rawHead(getAFwd, hostO, "X-A: 1")),
		relayCase("one bare LF line end", "", "GET http://{o}/a HTTP/1.1\r\nHost: {o}\nX-A: 1\r\n\r\n", "/a", rawHead(getAFwd, hostO, "X-A: 1")),
		relayCase("obs-text in a value", "", rawHead(getA, hostO, "X-A: caf\xe9"), "/a", rawHead(getAFwd, hostO, "X-A: caf\xe9")),

		// Chunked bodies.
		relayCase("chunked", "", rawHead(postA, hostO, teChunked)+chunked, "/a", chunkedFwd+chunked),
		relayCase("chunk extension dropped", "", rawHead(postA, hostO, teChunked)+"5;ext=v\r\nhello\r\n0;last\r\n\r\n", "/a", chunkedFwd+chunked),
		relayCase("quoted chunk extension dropped", "", rawHead(postA, hostO, teChunked)+"5;a=\"x;y\\\"z\"\r\nhello\r\n0\r\n\r\n", "/a", chunkedFwd+chunked),
		relayCase("chunk extension after BWS dropped", "", rawHead(postA, hostO, teChunked)+"5 ; a = b\r\nhello\r\n0\r\n\r\n", "/a", chunkedFwd+chunked),
		relayCase("chunk size in upper-case hex", "", rawHead(postA, hostO, teChunked)+"A\r\nhelloworld\r\n0\r\n\r\n", "/a", chunkedFwd+"a\r\nhelloworld\r\n0\r\n\r\n"),
		relayCase("chunk size with leading zeros", "", rawHead(postA, hostO, teChunked)+"0005\r\nhello\r\n0\r\n\r\n", "/a", chunkedFwd+chunked),
		badChunks("chunk extension without a name", faultChunkExt, "", "5;=v\r\nhello\r\n0\r\n\r\n"),
		badChunks("chunk extension with an open quote", faultChunkExt, "", "5;a=\"b\r\nhello\r\n0\r\n\r\n"),
		badChunks("junk after the chunk size", faultChunkExt, "", "5 junk\r\nhello\r\n0\r\n\r\n"),
		badChunks("chunk extension with a NUL", faultChunkExt, "", "5;a\x00\r\nhello\r\n0\r\n\r\n"),
		badChunks("chunk size over 15 hex digits", faultChunked400, "", "10000000000000005\r\nhello\r\n0\r\n\r\n"),
		badChunks("negative chunk size", faultChunked400, "", "-5\r\nhello\r\n0\r\n\r\n"),
		badChunks("chunk size in 0x form", faultChunked400, "", "0x5\r\nhello\r\n0\r\n\r\n"),
		badChunks("empty chunk size line", faultChunked400, "", "\r\nhello\r\n0\r\n\r\n"),
		badChunks("space before the chunk size", faultChunked400, "", " 5\r\nhello\r\n0\r\n\r\n"),
		badChunks("chunk data shorter than its size", faultChunked400, "", "5\r\nabc\r\n0\r\n\r\n"),
		badChunks("chunk data longer than its size", faultChunked400, "", "3\r\nhello\r\n0\r\n\r\n"),
		badChunks("second chunk longer than its size", faultChunked400, "5\r\nhello\r\n", "1\r\n"+smuggledReq+"\r\n0\r\n\r\n"),
		badChunks("bare LF after the chunk size", faultChunkedLenient, "", "5\nhello\r\n0\r\n\r\n"),
		badChunks("bare LF after the chunk data", faultChunkedLenient, "", "5\r\nhello\n0\r\n\r\n"),
		badChunks("bare LF after the last chunk size", faultChunkedLenient, "5\r\nhello\r\n", "0\n\r\n"),
		badChunks("bare LF ending the body", faultChunkedLenient, "5\r\nhello\r\n", "0\r\n\n"),
		badChunks("bare LF ending a trailer line", faultChunkedLenient, "5\r\nhello\r\n", "0\r\nX-T: 1\n\r\n"),

		// Trailers: checked like fields, framing and hop-by-hop fields dropped.
		trailer("trailer field kept", "", []string{"X-T: 1"}, "X-T: 1"),
		trailer("Content-Length in a trailer dropped", faultTrailers, []string{"Content-Length: 5", "X-T: 1"}, "X-T: 1"),
		trailer("Transfer-Encoding in a trailer dropped", faultTrailers, []string{"X-T: 1", "Transfer-Encoding: chunked"}, "X-T: 1"),
		trailer("Host in a trailer dropped", faultTrailers, []string{"Host: evil.example", "X-T: 1"}, "X-T: 1"),
		trailer("hop-by-hop fields in a trailer dropped", faultTrailers, []string{"Connection: close", "TE: trailers", "Trailer: X-T", "Keep-Alive: 1", "Upgrade: h2c", "X-T: 1"}, "X-T: 1"),
		trailer("Proxy-Authorization in a trailer dropped", faultTrailers, []string{"Proxy-Authorization: Basic Zm9vOmJhcg==", "X-T: 1"}, "X-T: 1"),
		badChunks("NUL in a trailer", faultTrailers, "5\r\nhello\r\n", "0\r\nX-T: 1\x002\r\n\r\n"),
		badChunks("obs-fold in a trailer", faultTrailers, "5\r\nhello\r\n", "0\r\nX-T: 1\r\n 2\r\n\r\n"),
		badChunks("space in a trailer name", faultTrailers, "5\r\nhello\r\n", "0\r\nX T: 1\r\n\r\n"),
		badChunks("space before a trailer's colon", faultTrailers, "5\r\nhello\r\n", "0\r\nContent-Length : 5\r\n\r\n"),
		badChunks("trailer line without a colon", faultTrailers, "5\r\nhello\r\n", "0\r\nX-T\r\n\r\n"),

		// Pipelined requests with bodies, each framed as parsed.
		{name: "pipelined POSTs with Content-Length",
			send:   rawHead("POST http://{o}/p1 HTTP/1.1", hostO, cl(5)) + "hello" + rawHead("POST http://{o}/p2 HTTP/1.1", hostO, cl(3)) + "abc",
			want:   []clientWant{okWant("/p1"), okWant("/p2")},
			origin: []string{rawHead("POST /p1 HTTP/1.1", hostO, cl(5)) + "hello" + rawHead("POST /p2 HTTP/1.1", hostO, cl(3)) + "abc" + nextFwd}},
		{name: "pipelined chunked POST, GET and HEAD",
			send:   rawHead("POST http://{o}/p1 HTTP/1.1", hostO, teChunked) + chunked + rawHead("GET http://{o}/p2 HTTP/1.1", hostO) + rawHead("HEAD http://{o}/p3 HTTP/1.1", hostO),
			want:   []clientWant{okWant("/p1"), okWant("/p2"), {method: "HEAD", status: 200}},
			origin: []string{rawHead("POST /p1 HTTP/1.1", hostO, teChunked) + chunked + rawHead("GET /p2 HTTP/1.1", hostO) + rawHead("HEAD /p3 HTTP/1.1", hostO) + nextFwd}},
		{name: "pipelined GET with a body",
			send:   rawHead("GET http://{o}/p1 HTTP/1.1", hostO, cl(5)) + "hello" + rawHead("GET http://{o}/p2 HTTP/1.1", hostO),
			want:   []clientWant{okWant("/p1"), okWant("/p2")},
			origin: []string{rawHead("GET /p1 HTTP/1.1", hostO, cl(5)) + "hello" + rawHead("GET /p2 HTTP/1.1", hostO) + nextFwd}},
		relayCase("body that looks like a request", "", rawHead(postA, hostO, cl(len(smuggledReq)))+smuggledReq,
			"/a", rawHead(postFwd, hostO, cl(len(smuggledReq)))+smuggledReq),
		{name: "pipelined good request then CL+TE",
			send:   rawHead("POST http://{o}/p1 HTTP/1.1", hostO, cl(5)) + "hello" + rawHead(postA, hostO, cl(len(smuggledReq)), teChunked) + "0\r\n\r\n" + smuggledReq,
			want:   []clientWant{okWant("/p1"), errWant(400)},
			closed: true,
			origin: []string{rawHead("POST /p1 HTTP/1.1", hostO, cl(5)) + "hello" + nextFwd}},
		{name: "pipelined request after a refused one",
			send:   rawHead(getA, hostO, "Connection: content-length", cl(5)) + "hello" + rawHead("GET http://{o}/p2 HTTP/1.1", hostO),
			want:   []clientWant{errWant(400)},
			closed: true,
			origin: []string{nextFwd},
			fault:  faultConnFraming},

		// HTTP/0.9 and HTTP/2 prefaces: refused as malformed (400) or as
		// a version Sluice does not speak (505), either way before
		// anything goes upstream.
		notHTTP1("HTTP/0.9 request line, origin-form", "GET /\r\n\r\n", false),
		notHTTP1("HTTP/0.9 request line, absolute-form", "GET http://{o}/a\r\n\r\n", false),
		notHTTP1("HTTP/0.9 request line, then EOF", "GET http://{o}/a\r\n", true),
		notHTTP1("HTTP/2 connection preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
		notHTTP1("HTTP/2.0 request line", rawHead("GET http://{o}/a HTTP/2.0", hostO), false),
		refuseCase("junk after the version", 400, "", rawHead("GET http://{o}/a HTTP/1.1 x", hostO)),
		refuseCase("two spaces before the target", 400, "", rawHead("GET  http://{o}/a HTTP/1.1", hostO)),
		refuseCase("lower-case version", 400, "", rawHead("GET http://{o}/a http/1.1", hostO)),

		// Absolute-form oddities.
		relayCase("fragment stripped", faultFragment, rawHead("GET http://{o}/a#f HTTP/1.1", hostO), "/a", getFwd),
		relayCase("fragment after a query stripped", faultFragment, rawHead("GET http://{o}/a?x=1#f HTTP/1.1", hostO), "/a?x=1", rawHead("GET /a?x=1 HTTP/1.1", hostO)),
		relayCase("fragment right after the authority", faultFragment, rawHead("GET http://{o}#f HTTP/1.1", hostO), "/", rawHead("GET / HTTP/1.1", hostO)),
		relayCase("query without a path", "", rawHead("GET http://{o}?x=1 HTTP/1.1", hostO), "/?x=1", rawHead("GET /?x=1 HTTP/1.1", hostO)),
		relayCase("upper-case scheme", "", rawHead("GET HTTP://{o}/a HTTP/1.1", hostO), "/a", getFwd),
		relayCase("Host field differing from the target", "", rawHead(getA, "Host: evil.example"), "/a", getFwd),
		relayCase("no Host field", "", rawHead(getA), "/a", getFwd),
		refuseCase("userinfo", 400, "", rawHead("GET http://user@{o}/a HTTP/1.1", hostO)),
		refuseCase("userinfo with a password", 400, "", rawHead("GET http://user:pw@{o}/a HTTP/1.1", hostO)),
		refuseCase("https target", 400, "", rawHead("GET https://{o}/a HTTP/1.1", hostO)),
		refuseCase("ftp target", 400, "", rawHead("GET ftp://{o}/a HTTP/1.1", hostO)),
		refuseCase("empty host", 400, "", rawHead("GET http:///a HTTP/1.1", hostO)),
		refuseCase("port 0", 400, "", rawHead("GET http://127.0.0.1:0/a HTTP/1.1", hostO)),
		refuseCase("port over 65535", 400, "", rawHead("GET http://127.0.0.1:65536/a HTTP/1.1", hostO)),
		refuseCase("port with a sign", 400, "", rawHead("GET http://127.0.0.1:+80/a HTTP/1.1", hostO)),
		{name: "IPv6 literal", ipv6: true, send: getReq, want: []clientWant{okWant("/a")}, origin: []string{getFwd + nextFwd}},
		{name: "IPv6 literal without brackets", ipv6: true, send: rawHead("GET http://::1/a HTTP/1.1", hostO),
			want: []clientWant{errWant(400)}, closed: true, origin: []string{nextFwd}},
		{name: "empty port", port80: true, send: rawHead("GET http://127.0.0.1:/a HTTP/1.1", "Host: 127.0.0.1:"),
			want: []clientWant{okWant("/a")}, origin: []string{rawHead(getAFwd, "Host: 127.0.0.1"), nextFwd}},
		{name: "no port", port80: true, send: rawHead("GET http://127.0.0.1/a HTTP/1.1", "Host: 127.0.0.1"),
			want: []clientWant{okWant("/a")}, origin: []string{rawHead(getAFwd, "Host: 127.0.0.1"), nextFwd}},
	}

	ok2 := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	chunkedOK := func(body string) string { return "HTTP/1.1 200 OK\r\n" + teChunked + "\r\n\r\n" + body }
	broken := clientWant{broken: true}
	head := func(status, fields string) string {
		if fields != "" {
			fields += "\r\n"
		}
		return "HTTP/1.1 " + status + "\r\n" + fields + "\r\n"
	}
	smuggledLen := cl(len(smuggledResp))
	// retry is a request on a pooled conn that the origin closes after
	// reading it (with partial written first): replayed on a fresh conn
	// (the origin's second conn gets it again) or answered 502.
	retry := func(name, fault, method, partial string, replayed bool) desyncCase {
		fwd := rawHead(method+" /a HTTP/1.1", hostO)
		c := desyncCase{name: name, warm: true, send: rawHead(method+" http://{o}/a HTTP/1.1", hostO),
			reply: &originReply{bytes: partial, close: true}, response: true, fault: fault}
		if replayed {
			c.want = []clientWant{okWant("/a")}
			c.origin = []string{rawHead("GET /warm HTTP/1.1", hostO) + fwd, fwd + nextFwd}
		} else {
			c.want = []clientWant{errWant(502)}
			c.origin = []string{rawHead("GET /warm HTTP/1.1", hostO) + fwd, nextFwd}
		}
		return c
	}

	cases = append(cases,
		answerCase("Content-Length body", "", originReply{bytes: ok2}, okWant("ok"), true, false),
		answerCase("extra bytes after a Content-Length body", faultPoolPoison, originReply{bytes: ok2 + smuggledResp}, okWant("ok"), false, false),
		answerCase("extra bytes 300 ms after a Content-Length body", faultPoolPoison, originReply{bytes: ok2, later: smuggledResp}, okWant("ok"), false, false),
		answerCase("CL and TE, TE wins", faultPoolPoison, originReply{bytes: head("200 OK", "Content-Length: 100\r\n"+teChunked) + "2\r\nok\r\n0\r\n\r\n"}, okWant("ok"), false, false),
		answerCase("TE and a short CL, TE wins", faultPoolPoison, originReply{bytes: head("200 OK", teChunked+"\r\nContent-Length: 2") + "4\r\nokok\r\n0\r\n\r\n"}, okWant("okok"), false, false),
		answerCase("response Connection names Content-Length", faultConnFraming, originReply{bytes: head("200 OK", "Connection: Content-Length\r\nContent-Length: 2") + "ok"}, errWant(502), false, false),
		answerCase("response Connection names Transfer-Encoding", faultConnFraming, originReply{bytes: head("200 OK", "Connection: Transfer-Encoding\r\n"+teChunked) + "2\r\nok\r\n0\r\n\r\n"}, errWant(502), false, false),
		answerCase("chunked body", "", originReply{bytes: chunkedOK("2\r\nok\r\n0\r\n\r\n")}, okWant("ok"), true, false),
		answerCase("chunk extension in a response", "", originReply{bytes: chunkedOK("2;x=\"y\"\r\nok\r\n0;z\r\n\r\n")}, okWant("ok"), true, false),
		answerCase("chunk size overflow in a response", "", originReply{bytes: chunkedOK("10000000000000002\r\nok\r\n0\r\n\r\n")}, broken, false, true),
		answerCase("chunk size not hex in a response", "", originReply{bytes: chunkedOK("zz\r\nok\r\n0\r\n\r\n")}, broken, false, true),
		answerCase("chunk data shorter than its size in a response", "", originReply{bytes: chunkedOK("5\r\nok\r\n0\r\n\r\n")}, broken, false, true),
		answerCase("chunk data longer than its size in a response", "", originReply{bytes: chunkedOK("1\r\nok\r\n0\r\n\r\n")}, broken, false, true),
		answerCase("bare LF after a chunk size in a response", faultChunkedLenient, originReply{bytes: chunkedOK("2\nok\r\n0\r\n\r\n")}, broken, false, true),
		answerCase("invalid CL in a response", "", originReply{bytes: head("200 OK", "Content-Length: -2") + "ok"}, errWant(502), false, false),
		answerCase("CL list in a response", "", originReply{bytes: head("200 OK", "Content-Length: 2, 2") + "ok"}, errWant(502), false, false),
		answerCase("conflicting CL lines in a response", "", originReply{bytes: head("200 OK", "Content-Length: 2\r\nContent-Length: 3") + "ok!"}, errWant(502), false, false),
		answerCase("CL with a plus sign in a response", "", originReply{bytes: head("200 OK", "Content-Length: +2") + "ok"}, errWant(502), false, false),
		answerCase("obs-fold in a response", "", originReply{bytes: head("200 OK", "X-A: 1\r\n 2\r\nContent-Length: 2") + "ok"}, errWant(502), false, false),
		answerCase("NUL in a response field", "", originReply{bytes: head("200 OK", "X-A: 1\x00\r\nContent-Length: 2") + "ok"}, errWant(502), false, false),
		answerCase("bare CR in a response field", "", originReply{bytes: head("200 OK", "X-A: 1\rContent-Length: 9\r\nContent-Length: 2") + "ok"}, errWant(502), false, false),
		answerCase("space before the colon in a response", "", originReply{bytes: head("200 OK", "Content-Length : 2") + "ok"}, errWant(502), false, false),
		answerCase("HTTP/2.0 status line", "", originReply{bytes: "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}, errWant(502), false, false),
		answerCase("no status line", "", originReply{bytes: "ok\r\n\r\n"}, errWant(502), false, false),
		answerCase("100 Continue before the response", "", originReply{bytes: "HTTP/1.1 100 Continue\r\n\r\n" + ok2}, okWant("ok"), true, false),
		answerCase("Content-Length body cut short", "", originReply{bytes: head("200 OK", "Content-Length: 5") + "ok", close: true}, broken, false, true),
		answerCase("close-delimited body", "", originReply{bytes: head("200 OK", "") + "hello", close: true}, okWant("hello"), false, false),
		answerCase("HTTP/1.0 response without keep-alive", "", originReply{bytes: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}, okWant("ok"), false, false),
		answerCase("Connection: close", "", originReply{bytes: head("200 OK", "Connection: close\r\nContent-Length: 2") + "ok"}, okWant("ok"), false, false),
		answerCase("204 with a body", faultPoolPoison, originReply{bytes: head("204 No Content", smuggledLen) + smuggledResp}, clientWant{status: 204}, false, false),
		answerCase("204 with a chunked body", faultPoolPoison, originReply{bytes: head("204 No Content", teChunked) + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggledResp), smuggledResp)}, clientWant{status: 204}, false, false),
		answerCase("304 with a body", faultPoolPoison, originReply{bytes: head("304 Not Modified", smuggledLen) + smuggledResp}, clientWant{status: 304}, false, false),
		answerCase("204", "", originReply{bytes: head("204 No Content", "")}, clientWant{status: 204}, true, false),
		answerCase("304 with a Content-Length and no body", "", originReply{bytes: head("304 Not Modified", "Content-Length: 10")}, clientWant{status: 304}, true, false),
		desyncCase{name: "HEAD answered with a body", send: rawHead("HEAD http://{o}/a HTTP/1.1", hostO),
			reply: &originReply{bytes: head("200 OK", smuggledLen) + smuggledResp}, want: []clientWant{{method: "HEAD", status: 200}},
			origin: []string{rawHead("HEAD /a HTTP/1.1", hostO), nextFwd}, response: true, fault: faultPoolPoison},
		desyncCase{name: "HEAD answered with a Content-Length", send: rawHead("HEAD http://{o}/a HTTP/1.1", hostO),
			reply: &originReply{bytes: head("200 OK", "Content-Length: 10")}, want: []clientWant{{method: "HEAD", status: 200}},
			origin: []string{rawHead("HEAD /a HTTP/1.1", hostO) + nextFwd}, response: true},
		retry("GET on a pooled conn closed unanswered: retried once", "", "GET", "", true),
		retry("DELETE on a pooled conn closed unanswered: retried once", "", "DELETE", "", true),
		retry("bodiless POST on a pooled conn closed unanswered: not replayed", faultReplay, "POST", "", false),
		retry("bodiless PATCH on a pooled conn closed unanswered: not replayed", faultReplay, "PATCH", "", false),
		retry("GET on a pooled conn closed mid-head: not retried", faultRetryAfterByte, "GET", "HTTP/1.1 200 OK\r\nContent-Le", false),
		desyncCase{name: "POST with a body on a pooled conn closed unanswered: not replayed", warm: true,
			send: rawHead(postA, hostO, cl(5)) + "hello", reply: &originReply{close: true}, want: []clientWant{errWant(502)},
			origin:   []string{rawHead("GET /warm HTTP/1.1", hostO) + rawHead(postFwd, hostO, cl(5)) + "hello", nextFwd},
			response: true},
	)
	// The cached path: an answer from the cache carries framing of
	// Sluice's own making, and must leave the connection ready for the
	// client's next request and the origin's conn for the next client.
	cachedOK := head("200 OK", "Cache-Control: max-age=60\r\nContent-Length: 2") + "ok"
	cachedCase := func(name, send string, reply string, want []clientWant, origin ...string) desyncCase {
		return desyncCase{name: "cached: " + name, cached: true, send: send, reply: &originReply{bytes: reply},
			want: want, origin: origin, response: true}
	}
	headA := rawHead("HEAD http://{o}/a HTTP/1.1", hostO)
	get10 := "GET http://{o}/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	cases = append(cases,
		cachedCase("a second GET on the conn is answered from the cache", getReq+getReq, cachedOK,
			[]clientWant{okWant("ok"), okWant("ok")}, getFwd+nextFwd),
		cachedCase("a chunked answer is stored and served with its length", getReq+getReq,
			head("200 OK", "Cache-Control: max-age=60\r\n"+teChunked)+"2\r\nok\r\n0\r\n\r\n",
			[]clientWant{okWant("ok"), okWant("ok")}, getFwd+nextFwd),
		cachedCase("bytes past the answer are neither stored nor served", getReq+getReq, cachedOK+smuggledResp,
			[]clientWant{okWant("ok"), okWant("ok")}, getFwd, nextFwd),
		cachedCase("a HEAD after the cached GET gets no body", getReq+headA+getReq, cachedOK,
			[]clientWant{okWant("ok"), {method: "HEAD", status: 200}, okWant("ok")}, getFwd+nextFwd),
		cachedCase("a Range from the cached object", getReq+rawHead(getA, hostO, "Range: bytes=1-1")+getReq, cachedOK,
			[]clientWant{okWant("ok"), {status: 206, body: "k"}, okWant("ok")}, getFwd+nextFwd),
		cachedCase("an HTTP/1.0 keep-alive client gets the cached answer", get10+get10, cachedOK,
			[]clientWant{okWant("ok"), okWant("ok")}, getFwd+nextFwd),
		cachedCase("a cached 204 has no body", getReq+getReq, head("204 No Content", "Cache-Control: max-age=60"),
			[]clientWant{{status: 204}, {status: 204}}, getFwd+nextFwd),
		cachedCase("a no-store answer is relayed and fetched again", getReq+getReq,
			head("200 OK", "Cache-Control: no-store\r\nContent-Length: 2")+"ok",
			[]clientWant{okWant("ok"), okWant("/a")}, getFwd+getFwd+nextFwd),
	)
	return cases
}

// desyncOrigin is a raw origin that records every byte each connection
// delivers, answers the case's request as scripted, and any other request
// (the warm-up, the next client's, a smuggled one) with 200 and the
// request target as the body, so a desync shows as a wrong body.
type desyncOrigin struct {
	ln    net.Listener
	addr  string
	reply *originReply
	wg    sync.WaitGroup
	// replied is closed when the scripted reply has been written in full.
	replied chan struct{}

	mu      sync.Mutex
	conns   []*lockedBuffer       // guarded by mu; in accept order
	open    map[net.Conn]struct{} // guarded by mu
	started bool                  // the scripted reply began; guarded by mu
}

func startDesyncOrigin(network, addr string, reply *originReply) (*desyncOrigin, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	o := &desyncOrigin{ln: ln, addr: ln.Addr().String(), reply: reply, replied: make(chan struct{}),
		open: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			rec := &lockedBuffer{}
			o.conns = append(o.conns, rec)
			o.open[c] = struct{}{}
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				o.serve(c, rec)
				c.Close()
				o.mu.Lock()
				delete(o.open, c)
				o.mu.Unlock()
			}()
		}
	}()
	return o, nil
}

// lockedBuffer collects bytes written by one goroutine while another
// may read them.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// originRefusal is the origin's answer to what it cannot parse; a client
// that gets it was sent something the proxy should have refused.
const originRefusal = "HTTP/1.1 400 Bad Request\r\nContent-Length: 14\r\nConnection: close\r\n\r\norigin refused"

func (o *desyncOrigin) serve(c net.Conn, rec io.Writer) {
	br := bufio.NewReader(io.TeeReader(c, rec))
	for {
		req, err := http.ReadRequest(br)
		if err == nil {
			_, err = io.Copy(io.Discard, req.Body)
		}
		if err != nil {
			if err != io.EOF {
				io.WriteString(c, originRefusal)
			}
			io.Copy(io.Discard, br) // record what else arrives, to the end
			return
		}
		uri := req.RequestURI
		if req.URL.IsAbs() {
			uri = req.URL.RequestURI() // as a parent (desync_parent_test.go)
		}
		if o.takeReply(uri) {
			r := o.reply
			io.WriteString(c, r.bytes)
			if r.later != "" {
				time.Sleep(lateExtraDelay)
				io.WriteString(c, r.later)
			}
			close(o.replied)
			if r.close {
				return
			}
			continue
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(uri))
		if req.Method != "HEAD" {
			io.WriteString(c, uri)
		}
	}
}

// takeReply reports whether the request for uri is the case's, the one
// the scripted reply answers: the first that is not the warm-up or the
// next client's.
func (o *desyncOrigin) takeReply(uri string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reply == nil || o.started || uri == "/warm" || uri == "/next" {
		return false
	}
	o.started = true
	return true
}

// waitReplied waits up to wait until a scripted reply that began has been
// written in full, so what comes next sees all of it.
func (o *desyncOrigin) waitReplied(wait time.Duration) {
	o.mu.Lock()
	started := o.started
	o.mu.Unlock()
	if started {
		select {
		case <-o.replied:
		case <-time.After(wait):
		}
	}
}

// stop waits up to grace for the connections to end by themselves (the
// proxy closed its side), closes the rest and returns what each
// connection delivered.
func (o *desyncOrigin) stop(grace time.Duration) []string {
	o.ln.Close()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		o.mu.Lock()
		for c := range o.open {
			c.Close()
		}
		o.mu.Unlock()
		<-done
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, len(o.conns))
	for i, b := range o.conns {
		out[i] = b.String()
	}
	return out
}

// desyncProxy is the proxy a case runs through.
type desyncProxy struct {
	// start starts it for the origin o (or points at a running one) and
	// returns its address and how to stop it.
	start func(o *desyncOrigin) (addr string, stop func(), err error)
	// wait bounds each client exchange and the wait for a close.
	wait time.Duration
	// grace is how long the origin's conns get to end by themselves
	// after stop, for every byte the proxy sent to be recorded.
	grace time.Duration
}

// desyncResult is what one run of a case observed.
type desyncResult struct {
	addr    string // the origin's host:port
	got     []gotResponse
	readErr string // why an expected response could not be read
	closed  bool   // the proxy closed the client conn after the responses
	extra   string // bytes after the expected responses
	origin  []string
	next    gotResponse
	nextErr string
}

type gotResponse struct {
	status    int
	body      string
	truncated bool
	// sluice: the body is one of Sluice's one-line reasons, with a
	// Proxy-Status field naming Sluice.
	sluice bool
}

func (g gotResponse) String() string {
	if g.status == 0 {
		return "nothing"
	}
	s := fmt.Sprintf("%d %.60q", g.status, g.body)
	if g.truncated {
		s += " (cut short)"
	}
	return s
}

// runDesyncCase runs c through p and reports what happened.
func runDesyncCase(c *desyncCase, p desyncProxy) (desyncResult, error) {
	network, laddr := "tcp4", "127.0.0.1:0"
	if c.ipv6 {
		network, laddr = "tcp6", "[::1]:0"
	}
	o, err := startDesyncOrigin(network, laddr, c.reply)
	if err != nil {
		return desyncResult{}, err
	}
	addr, stopProxy, err := p.start(o)
	if err != nil {
		o.stop(0)
		return desyncResult{}, err
	}
	expand := func(s string) string { return strings.ReplaceAll(s, "{o}", o.addr) }
	r := desyncResult{addr: o.addr}
	if c.warm {
		got, rerr, _, _ := exchange(addr, expand(rawHead("GET http://{o}/warm HTTP/1.1", hostO)), false, []clientWant{okWant("/warm")}, false, p.wait)
		if rerr != "" || len(got) != 1 || got[0].body != "/warm" {
			stopProxy()
			o.stop(0)
			return r, fmt.Errorf("warm-up request: %v %s", got, rerr)
		}
	}
	r.got, r.readErr, r.closed, r.extra = exchange(addr, expand(c.send), c.halfClose, c.want, c.closed, p.wait)
	o.waitReplied(p.wait)
	next, nextErr, _, _ := exchange(addr, expand(nextReq), false, []clientWant{okWant("/next")}, false, p.wait)
	r.nextErr = nextErr
	if len(next) > 0 {
		r.next = next[0]
	}
	stopProxy()
	r.origin = o.stop(p.grace)
	return r, nil
}

// exchange sends one client's bytes to the proxy at addr and reads the
// final responses wants describes, each within wait; with waitClose it
// then waits for the proxy to close the connection.
func exchange(addr, send string, halfClose bool, wants []clientWant, waitClose bool, wait time.Duration) (got []gotResponse, readErr string, closed bool, extra string) {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, "dial: " + err.Error(), false, ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, send); err != nil {
		return nil, "write: " + err.Error(), false, ""
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	for _, w := range wants {
		method := w.method
		if method == "" {
			method = "GET"
		}
		resp, err := readFinalResponse(br, method)
		if err != nil && w.broken && !isTimeout(err) {
			// Nothing came before the close.
			return append(got, gotResponse{truncated: true}), "", true, ""
		}
		if err != nil {
			readErr = fmt.Sprintf("response %d: %v", len(got)+1, err)
			break
		}
		body, err := io.ReadAll(resp.Body)
		g := gotResponse{status: resp.StatusCode, body: string(body), truncated: err != nil}
		g.sluice = strings.HasPrefix(resp.Header.Get("Proxy-Status"), "sluice;") && reasonRE.Match(body)
		got = append(got, g)
		if g.truncated {
			break
		}
	}
	if waitClose && readErr == "" && statusesMatch(got, wants) {
		c.SetReadDeadline(time.Now().Add(wait))
		rest, err := io.ReadAll(br)
		closed = !isTimeout(err)
		extra = string(rest)
	}
	return got, readErr, closed, extra
}

// readFinalResponse reads the next final response, skipping interim
// (1xx) ones as a client does.
func readFinalResponse(br *bufio.Reader, method string) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil || resp.StatusCode >= 200 {
			return resp, err
		}
	}
}

// statusesMatch reports whether got has the statuses wants asks for;
// only then is it worth waiting for the proxy to close the connection.
func statusesMatch(got []gotResponse, wants []clientWant) bool {
	if len(got) != len(wants) {
		return false
	}
	for i, w := range wants {
		if !w.statusMatches(got[i]) {
			return false
		}
	}
	return true
}

func (w *clientWant) statusMatches(g gotResponse) bool {
	if w.broken {
		return g.truncated || g.status == http.StatusBadGateway
	}
	return g.status == w.status || w.alt != 0 && g.status == w.alt
}

// mismatches lists how r departs from what c expects. exact compares the
// origin's bytes and Sluice's own error answers; otherwise (a reference
// proxy that adds fields of its own) only what the origin parsed is
// compared, request by request.
func (c *desyncCase) mismatches(r *desyncResult, exact bool) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for i, w := range c.want {
		if i >= len(r.got) {
			add("client: response %d missing (%s)", i+1, r.readErr)
			break
		}
		g := r.got[i]
		switch {
		case w.broken && !w.statusMatches(g):
			add("client: response %d is %v, want nothing, a response cut short or 502", i+1, g)
		case w.broken && exact && !g.truncated && !g.sluice:
			add("client: response %d is %v, want Sluice's own 502", i+1, g)
		case w.broken:
		case !w.statusMatches(g):
			add("client: response %d is %v, want status %d", i+1, g, w.status)
		case g.truncated:
			add("client: response %d is %v, want it whole", i+1, g)
		case (w.status < 300 || w.body != "") && g.body != w.body:
			add("client: response %d is %v, want body %q", i+1, g, w.body)
		case exact && w.status >= 400 && w.body == "" && !g.sluice:
			add("client: response %d is %v, want Sluice's own error answer", i+1, g)
		}
	}
	if len(r.got) > len(c.want) {
		add("client: %d responses, want %d", len(r.got), len(c.want))
	}
	if c.closed && !r.closed && statusesMatch(r.got, c.want) && r.readErr == "" {
		add("client: connection still open after the responses")
	}
	if r.extra != "" {
		add("client: unexpected bytes after the responses: %.80q", r.extra)
	}
	if r.nextErr != "" || r.next.status != 200 || r.next.body != "/next" {
		add("next client: got %v %s, want 200 \"/next\"", r.next, r.nextErr)
	}
	want := make([]string, len(c.origin))
	for i, s := range c.origin {
		want[i] = strings.ReplaceAll(s, "{o}", r.addr)
	}
	got := r.origin
	if c.partial && len(got) == len(want)-1 {
		got = append([]string{""}, got...) // the cut-short connection was never made
	}
	if exact {
		if !originMatches(got, want, c.partial) {
			add("origin: got %s\nwant %s", quoteConns(got), quoteConns(want))
		}
	} else if g, w := digestConns(got, c.partial), digestConns(want, c.partial); g != w {
		add("origin: parsed %s, Sluice's expectation %s", g, w)
	}
	if originParsedSmuggled(r.origin) {
		add("origin: parsed the smuggled request")
	}
	return out
}

// originParsedSmuggled reports whether an origin took smuggledReq for a
// request of its own (rather than, say, the body of one).
func originParsedSmuggled(conns []string) bool {
	for _, s := range conns {
		if slices.ContainsFunc(originDigest(s), func(d string) bool { return strings.HasPrefix(d, "GET /smuggled ") }) {
			return true
		}
	}
	return false
}

func originMatches(got, want []string, partial bool) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if partial && i == 0 {
			if !strings.HasPrefix(want[0], got[0]) {
				return false
			}
		} else if got[i] != want[i] {
			return false
		}
	}
	return true
}

func quoteConns(conns []string) string {
	q := make([]string, len(conns))
	for i, s := range conns {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// originDigest is what an origin parses from one connection's bytes:
// "METHOD target", the body and the trailer fields of each request.
func originDigest(raw string) []string {
	br := bufio.NewReader(strings.NewReader(raw))
	var out []string
	for {
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			return out
		}
		if err != nil {
			return append(out, "unparsable")
		}
		body, err := io.ReadAll(req.Body)
		s := req.Method + " " + req.RequestURI + " "
		if len(body) > 0 {
			s += fmt.Sprintf("body=%q ", body)
		}
		if err != nil {
			return append(out, s+"(cut short)")
		}
		var keys []string
		for k := range req.Trailer {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			s += "trailer=" + strings.Join(keys, ",")
		}
		out = append(out, strings.TrimSpace(s))
	}
}

// digestConns summarizes each connection's requests; with partial, a
// first connection that was cut short shows as such.
func digestConns(conns []string, partial bool) string {
	var parts []string
	for i, s := range conns {
		d := strings.Join(originDigest(s), "; ")
		if partial && i == 0 {
			d = "cut short"
		}
		if d == "" {
			d = "nothing"
		}
		parts = append(parts, "["+d+"]")
	}
	return strings.Join(parts, " ")
}

// sluiceForDesync runs each case through a Sluice of its own, closed
// after the case so every upstream conn it held ends.
func sluiceForDesync(t *testing.T, c *desyncCase) desyncProxy {
	return desyncProxy{wait: desyncWait, grace: desyncOriginEnd, start: func(o *desyncOrigin) (string, func(), error) {
		cfg := Config{NoVia: true, ResponseHeaderTimeout: desyncWait}
		if c.cached {
			ch, err := cache.Open(cache.Config{MemoryBytes: 1 << 20})
			if err != nil {
				return "", nil, err
			}
			cfg.Cache = ch
		}
		if c.port80 {
			cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
				if strings.HasSuffix(addr, ":80") {
					addr = o.addr // port 80 is not ours to bind
				}
				var d net.Dialer
				conn, err := d.DialContext(ctx, network, addr)
				return conn, false, err
			}
		}
		p := startProxy(t, cfg)
		return p.addr, func() { p.srv.Close() }, nil
	}}
}

// TestDesync runs the desync table through Sluice.
func TestDesync(t *testing.T) {
	ipv6 := ipv6Loopback()
	for _, c := range desyncCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.ipv6 && !ipv6 {
				t.Skip("no IPv6 loopback (::1) on this machine")
			}
			r, err := runDesyncCase(&c, sluiceForDesync(t, &c))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.mismatches(&r, true) {
				t.Error(m)
			}
			if t.Failed() && c.fault != "" {
				t.Logf("known fault of c0bb79f: %s", c.fault)
			}
		})
	}
}

func ipv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
