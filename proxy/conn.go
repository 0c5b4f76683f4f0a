package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// clientConn is one client connection and the buffers it reuses from one
// request to the next, so a kept-alive request allocates almost nothing.
type clientConn struct {
	s    *Server
	conn net.Conn
	// tc is conn as br and bw read and write it, bounded by body_timeout.
	tc timedConn
	br *bufio.Reader
	bw *bufio.Writer
	// accepted is when the conn was accepted; first is true until its
	// first request head is read, which is due read_header_timeout after.
	accepted time.Time
	first    bool
	// idle is true while the conn waits for a request, when Shutdown may
	// close it.
	idle atomic.Bool
	// loopback is true for clients on this machine, the only ones served
	// the local endpoints.
	loopback bool
	addr     netip.Addr // client IP, unmapped, for [access]
	remote   string     // client address, built once for access records

	req   request
	head  []byte // request head
	resp  response
	rhead []byte // response head
	out   []byte // outgoing heads are built here
	key   []byte // pool key of the current request
	pkey  []byte // pool key of a request through an upstream proxy (parent.go)
	res   result
	rec   AccessRecord // the access record being handed over
	// meterIn and meterOut report the current request's body bytes to
	// the live counters while it runs.
	meterIn, meterOut meter
	started           time.Time
	// whole is true once the request has been read from the client whole
	// and passed on: from its head for a request without a body; for one
	// with a body, once exchange sent all of it and the answer's head
	// came. Until then the rest of a body may still be arriving, so the
	// connection cannot carry another request (see keepAlive).
	whole bool
	// draining is closed when the goroutine dropping a request body the
	// upstream did not take ends; nil when there is none (see drainBody).
	draining chan struct{}
	// sent carries the result of an upload to exchange; made on the
	// conn's first upload. upload says which end of it came first.
	sent   chan sendResult
	upload atomic.Int32
	// cx is the request's dealings with the response cache; nil when
	// there is no cache or the request has none (see cache.go).
	cx *cacheExchange
	// bufs holds a cached answer's head and body slices for one writev.
	bufs [][]byte
}

// result is what one request did, for the counters and the access log.
type result struct {
	status    int
	bytesIn   int64
	bytesOut  int64
	ttfb      time.Duration
	err       stats.ErrKind
	reused    bool
	dnsCached bool
	tunnel    bool
	inspected bool
	// up is the upstream proxy the request goes through, nil for direct
	// (set by route, parent.go).
	up *Upstream
	// connect is how long the upstream dial took, lookup how long its
	// DNS lookup took when timed; 0 for a pooled conn.
	connect, lookup time.Duration
	// headOut is true once the final response head relayed from the
	// upstream is in cc.out (writeResponseHead, upgrade), until Sluice
	// answers itself instead (failWith).
	headOut bool
	cache   string // Cache-Status, "" when the cache had no part
	// downGroup names the group route found with every member down, for
	// Proxy-Status's next-hop on the 502 (there is no member to name).
	downGroup string
}

// serve runs one client connection, which holds a slot, from accept to
// close: serveOne answers each of its requests in turn.
func (s *Server) serve(c net.Conn, accepted time.Time) {
	s.stats.ConnOpened()
	cc := &clientConn{s: s, conn: c, accepted: accepted, first: true}
	cc.tc.Conn = c
	cc.br, cc.bw = newReader(&cc.tc), newWriter(&cc.tc)
	cc.idle.Store(true)
	if ap, ok := addrPortOf(c.RemoteAddr()); ok {
		cc.loopback, cc.addr = ap.Addr().IsLoopback(), ap.Addr()
	}
	if s.addConn(cc) {
		for cc.serveOne() {
		}
		s.removeConn(cc)
	}
	c.Close()
	putReader(cc.br)
	putWriter(cc.bw)
	s.slots.release()
	s.stats.ConnClosed()
}

func (s *Server) addConn(cc *clientConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return false
	}
	s.conns[cc] = struct{}{}
	return true
}

func (s *Server) removeConn(cc *clientConn) {
	s.mu.Lock()
	delete(s.conns, cc)
	s.mu.Unlock()
}

// serveOne reads and answers one request. It returns false when the
// connection should close.
func (cc *clientConn) serveOne() bool {
	cfg := cc.s.cfg.Load()
	c := cc.conn
	cc.tc.reset(cfg.BodyTimeout)
	// A new connection must send its first head within
	// read_header_timeout of being accepted, or a client that sends
	// nothing would hold a slot for client_idle_timeout: only between
	// requests may a kept-alive connection idle that long.
	first := cc.first
	cc.first = false
	if cc.br.Buffered() == 0 {
		wait := time.Now().Add(cfg.ClientIdleTimeout)
		if first {
			wait = cc.accepted.Add(cfg.ReadHeaderTimeout)
		}
		c.SetReadDeadline(wait)
		if _, err := cc.br.Peek(1); err != nil {
			return false // the client left, or idled out: nothing to answer
		}
	}
	cc.idle.Store(false)
	cc.started = time.Now()
	cc.res = result{}
	cc.rhead = cc.rhead[:0] // so the record never shows an earlier response's head
	cc.meterIn = meter{stats: cc.s.stats, in: true}
	cc.meterOut = meter{stats: cc.s.stats}
	if !first {
		c.SetReadDeadline(cc.started.Add(cfg.ReadHeaderTimeout))
	}
	cfg = cc.s.cfg.Load() // a reload while the conn idled applies to this request
	if first && !cfg.NoSOCKS {
		if b, _ := cc.br.Peek(1); len(b) == 1 && startsSOCKS(b[0]) {
			cc.socks(cfg)
			return false
		}
	}
	if !cfg.gate.allows(cc.addr) {
		cc.refuseOutsider(cfg)
		return false
	}
	head, err := readHead(cc.br, cc.head, cfg.MaxHeaderBytes)
	cc.head = head
	if err != nil {
		cc.headError(err, cfg)
		return false
	}
	req := &cc.req
	if err := req.parse(head); err != nil {
		var se *statusError
		errors.As(err, &se)
		cc.fail(se.code, stats.ErrBadRequest, se.reason, false)
		cc.finish(cfg)
		return false
	}
	cc.whole = !req.hasBody()
	// The head's deadline stays until a read sets another: a body's
	// (through cc.tc), a tunnel round's, or the next head's wait, which
	// saves a timer update per request.
	var keep bool
	switch req.form {
	case formAuthority:
		keep = cc.connect(cfg)
	case formOrigin:
		keep = cc.serveLocal(cfg)
	default:
		keep = cc.relay(cfg)
	}
	// Local endpoints (/healthz, /stats, /metrics) are not proxy traffic:
	// a monitor polling them must not move the figures it reads.
	if req.form != formOrigin || cc.res.err != stats.ErrNone {
		cc.finish(cfg)
	}
	if cc.draining != nil {
		cc.lingerClose()
		return false
	}
	if !keep || cc.s.shuttingDown() {
		return false
	}
	cc.idle.Store(true)
	return true
}

// keepAlive decides whether the client connection carries another
// request after this one's answer, and so whether the answer says
// "Connection: close". It does only when all of these hold:
//   - the request was read whole (cc.whole): the unread rest of a body
//     would be read as the next request;
//   - the client wants it: HTTP/1.1 unless it sent "close", HTTP/1.0 only
//     with "keep-alive" (RFC 9112 §9.3, request.clientKeepAlive);
//   - framed: the answer as relayed lets the client find its end without
//     the connection closing (RFC 9112 §6.3; see framedForClient);
//   - the server is not shutting down: a closing server says "close"
//     rather than drop a connection the client thinks is open
//     (RFC 9112 §9.6).
//
// An answer to a request whose framing is lost (a malformed body, a head
// that could not be read) ends the connection without asking.
func (cc *clientConn) keepAlive(framed bool) bool {
	return cc.whole && framed && cc.req.clientKeepAlive() && !cc.s.shuttingDown()
}

// headError answers a request head that could not be read.
func (cc *clientConn) headError(err error, cfg *Config) {
	var ne net.Error
	switch {
	case errors.Is(err, errHeadTooLarge):
		cc.fail(http.StatusRequestHeaderFieldsTooLarge, stats.ErrTooLarge, "request head over max_header_bytes", false)
	case errors.As(err, &ne) && ne.Timeout():
		cc.fail(http.StatusRequestTimeout, stats.ErrClientTimeout, "request head not received within read_header_timeout", false)
	case len(cc.head) == 0:
		return // closed between requests
	default:
		cc.fail(http.StatusBadRequest, stats.ErrBadRequest, "incomplete request head", false)
	}
	cc.finish(cfg)
}
