package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// clientConn is one client connection and the buffers it reuses from one
// request to the next, so a kept-alive request allocates almost nothing.
type clientConn struct {
	s    *Server
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
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
	res   result
	rec   AccessRecord // the access record being handed over
	// meterIn and meterOut report the current request's body bytes to
	// the live counters while it runs.
	meterIn, meterOut meter
	started           time.Time
	// draining is closed when the goroutine dropping a request body the
	// upstream did not take ends; nil when there is none (see drainBody).
	draining chan struct{}
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
}

// response is one parsed upstream response head.
type response struct {
	code   int
	minor  int
	reason []byte
	fields []field
	mi     messageInfo
}

func (s *Server) serve(c net.Conn) {
	s.stats.ConnOpened()
	cc := &clientConn{s: s, conn: c, br: newReader(c), bw: newWriter(c)}
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
	s.active.Add(-1)
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
	if cc.br.Buffered() == 0 {
		c.SetReadDeadline(time.Now().Add(cfg.ClientIdleTimeout))
		if _, err := cc.br.Peek(1); err != nil {
			return false // the client left, or idled out: nothing to answer
		}
	}
	cc.idle.Store(false)
	cc.started = time.Now()
	cc.res = result{}
	cc.meterIn = meter{stats: cc.s.stats, in: true}
	cc.meterOut = meter{stats: cc.s.stats}
	c.SetReadDeadline(cc.started.Add(cfg.ReadHeaderTimeout))
	cfg = cc.s.cfg.Load() // a reload while the conn idled applies to this request
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
	// The head's deadline must not cut a body upload or a tunnel short.
	// A bodiless request reads nothing more from the client before the
	// next head, whose wait sets a deadline of its own, so it keeps the
	// stale one and saves a timer update per request.
	if req.hasBody() || req.form == formAuthority || req.mi.wantsUpgrade() {
		c.SetReadDeadline(time.Time{})
	}
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

// finish reports the request to the counters and the access log.
func (cc *clientConn) finish(cfg *Config) {
	r := &cc.res
	d := time.Since(cc.started)
	// The meters reported part of the bytes of long transfers already.
	in, out := r.bytesIn-cc.meterIn.reported, r.bytesOut-cc.meterOut.reported
	if r.tunnel {
		cc.s.stats.TunnelClosed(in, out)
	} else {
		cc.s.stats.Request(&stats.Sample{Status: r.status, BytesIn: in, BytesOut: out, Duration: d, TTFB: r.ttfb, Err: r.err})
	}
	if cfg.Access == nil {
		return
	}
	if cc.remote == "" {
		cc.remote = cc.conn.RemoteAddr().String()
	}
	req := &cc.req
	var path []byte
	if !r.tunnel {
		path = req.path
		if !cfg.LogQuery {
			if i := indexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
		}
	}
	// Host, port and path share one string: one allocation, not three.
	b := append(append(append(cc.key[:0], req.host...), req.port...), path...)
	cc.key = b
	all := string(b)
	h, p := len(req.host), len(req.host)+len(req.port)
	// The record lives in cc: handing a stack value to an interface
	// method would move it to the heap on every request.
	cc.rec = AccessRecord{
		Time: cc.started, Client: cc.remote, Method: methodString(req.method),
		Host: all[:h], Port: all[h:p], Path: all[p:],
		Status: r.status, BytesIn: r.bytesIn, BytesOut: r.bytesOut,
		Duration: d, TTFB: r.ttfb, Reused: r.reused, DNSCached: r.dnsCached,
		Tunnel: r.tunnel, Err: r.err,
	}
	if req.form == formAbsolute {
		cc.rec.Scheme = "http"
	}
	cfg.Access.LogAccess(&cc.rec)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// relay forwards an absolute-form request to its origin and streams the
// response back. It returns whether the client connection may be kept.
func (cc *clientConn) relay(cfg *Config) bool {
	if ok, keep := cc.admit(cfg); !ok {
		return keep
	}
	req := &cc.req
	if cfg.MaxBodyBytes > 0 && req.mi.length > cfg.MaxBodyBytes {
		cc.fail(http.StatusRequestEntityTooLarge, stats.ErrTooLarge, "request body over max_body_bytes", false)
		cc.drainBody() // so the 413 is not lost to a reset (see lingerTime)
		return false
	}
	if cc.s.targetIsSelf(req.host, req.port) {
		cc.fail(http.StatusLoopDetected, stats.ErrLoop, "the request is addressed to Sluice itself", !req.hasBody() && req.clientKeepAlive())
		return !req.hasBody() && req.clientKeepAlive()
	}
	cc.key = appendKey(cc.key[:0], req.host, req.port)
	hasBody := req.hasBody()
	sent100 := false
	var uc *upstreamConn
	for attempt := 0; ; attempt++ {
		var err error
		var reused bool
		uc, reused, err = cc.s.upstream(cfg, cc.key, attempt > 0)
		if err == nil {
			if err = cc.checkReached(cfg, uc.conn); err != nil {
				uc.close()
			}
		}
		if err != nil {
			cc.dialFailed(err)
			return !hasBody && req.clientKeepAlive()
		}
		cc.res.reused, cc.res.dnsCached = reused, uc.dnsCached
		if req.mi.expect100 && !sent100 && req.minor == 1 {
			// Sluice answers 100-continue itself once the upstream is
			// connected, as nginx does; the origin gets the body outright.
			sent100 = true
			cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := cc.bw.Flush(); err != nil {
				uc.close()
				cc.res.err = stats.ErrClientAbort
				return false
			}
		}
		err = cc.sendRequest(uc, cfg)
		if err == nil {
			err = cc.readResponseHead(uc, cfg, cfg.ResponseHeaderTimeout)
		} else if hasBody && isWriteErr(err) && cc.readResponseHead(uc, cfg, earlyAnswerWait) == nil {
			// The upstream stopped taking the body because it has
			// answered already (a 413, 401 or 403 after the head): that
			// answer, not a 502, is what the client needs. The rest of
			// the body is read and dropped meanwhile.
			cc.s.stats.UpstreamConn(cc.res.reused)
			cc.drainBody()
			return cc.relayResponse(uc, cfg)
		}
		if err == nil {
			break
		}
		uc.close()
		var ce chunkError
		switch {
		case errors.As(err, &ce):
			// No response was sent yet, so the client can hear what is
			// wrong; its framing is lost, so its connection ends.
			cc.fail(http.StatusBadRequest, stats.ErrBadRequest, "malformed chunked request body: "+string(ce), false)
			cc.drainBody()
			return false
		case errors.Is(err, errClientBody):
			cc.res.err = stats.ErrClientAbort
			return false
		case errors.Is(err, errBodyTooLarge):
			cc.fail(http.StatusRequestEntityTooLarge, stats.ErrTooLarge, "request body over max_body_bytes", false)
			cc.drainBody()
			return false
		case attempt == 0 && retryable(req, reused, err):
			continue // the origin closed the pooled conn: retry once, fresh
		case isTimeout(err):
			// A bodiless request was read whole, so the client's next
			// request starts cleanly after the 504; only the silent
			// upstream conn is dropped.
			keep := !hasBody && req.clientKeepAlive()
			cc.fail(http.StatusGatewayTimeout, stats.ErrUpstreamTimeout, "no response from "+string(cc.key)+" within response_header_timeout", keep)
			return keep
		default:
			// As with the 504: a bodiless request was read whole, so the
			// client may keep its connection; one whose body is left
			// unread gets the 502 with a lingering close.
			keep := !hasBody && req.clientKeepAlive()
			cc.fail(http.StatusBadGateway, stats.ErrUpstream, "upstream "+string(cc.key)+": "+describe(err), keep)
			if hasBody {
				cc.drainBody()
			}
			return keep
		}
	}
	cc.s.stats.UpstreamConn(cc.res.reused)
	return cc.relayResponse(uc, cfg)
}

// errClientBody marks a failure reading the request body from the client.
var errClientBody = errors.New("client request body")

// retryable reports whether a request whose upstream conn failed may be
// sent again on a fresh one. RFC 9110 §9.2.2 lets a proxy retry on its
// own only idempotent methods; of those, only a request without a body
// can be replayed (a body was streamed through, not kept); only when the
// failed conn came from the pool, where the origin may have closed it
// just as it was reused, the one failure a retry fixes; and only when no
// byte of a response arrived, since a partial answer means the origin
// acted. A timeout is not retried either: the origin had the request and
// was slow. net/http's shouldRetryRequest and isReplayable are the model.
func retryable(req *request, reused bool, err error) bool {
	if !reused || req.hasBody() || isTimeout(err) || !beforeResponse(err) {
		return false
	}
	switch string(req.method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false // POST, PATCH, CONNECT and any other method
}

// noResponseError is an upstream conn that failed before any byte of a
// response arrived.
type noResponseError struct{ err error }

func (e *noResponseError) Error() string { return e.err.Error() }
func (e *noResponseError) Unwrap() error { return e.err }

// beforeResponse reports whether err came before any byte of a response
// arrived: a failed write of the request (nothing was read yet) or a
// noResponseError from readResponseHead.
func beforeResponse(err error) bool {
	var nr *noResponseError
	return isWriteErr(err) || errors.As(err, &nr)
}

// earlyAnswerWait bounds the look for a response after the upstream
// stopped taking a request body. An origin that answers early and closes
// has sent its answer before the failure showed, so it is in the kernel's
// buffer already; the wait only covers the other order of events.
const earlyAnswerWait = time.Second

// lingerTime bounds the drain of a request body left unread once its
// answer is sent. Closing a socket with unread bytes makes the kernel
// send a reset, which can destroy the answer still on its way to the
// client; so the answer ends with a FIN, what the client still sends is
// dropped for up to this long, and only then does the connection close.
// nginx's lingering_close does the same (its lingering_timeout is 5s).
const lingerTime = 5 * time.Second

// drainBody reads and drops what the client sends from now on, in its own
// goroutine, so a client that sends its whole body before it reads is
// not stuck while the answer is written. lingerClose ends it; until then
// nothing else may read cc.br.
func (cc *clientConn) drainBody() {
	done := make(chan struct{})
	cc.draining = done
	br := cc.br
	go func() {
		defer close(done)
		for {
			if _, err := br.Discard(readBufSize); err != nil {
				return
			}
		}
	}()
}

// lingerClose ends the answer with a FIN, lets drainBody run for up to
// lingerTime more, and waits for it; the caller then closes the conn.
func (cc *clientConn) lingerClose() {
	if cw, ok := cc.conn.(closeWriter); ok {
		cw.CloseWrite()
	}
	cc.conn.SetReadDeadline(time.Now().Add(lingerTime))
	<-cc.draining
	cc.draining = nil
}

// sendRequest writes the request head and streams its body upstream.
func (cc *clientConn) sendRequest(uc *upstreamConn, cfg *Config) error {
	req := &cc.req
	b := cc.out[:0]
	b = append(b, req.method...)
	b = append(b, ' ')
	if len(req.path) == 0 || req.path[0] == '?' {
		b = append(b, '/')
	}
	b = append(b, req.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.authority...)
	b = append(b, "\r\n"...)
	for i := range req.fields {
		f := &req.fields[i]
		if isHopHeader(f.name, req.mi.connTokens) || fieldIs(f.name, "host") || fieldIs(f.name, "expect") && req.mi.expect100 {
			continue
		}
		b = appendField(b, f.name, f.value)
	}
	if !cfg.NoVia {
		b = appendVia(b, req.minor)
	}
	if req.mi.wantsUpgrade() {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, req.mi.upgrade...)
		b = append(b, "\r\n"...)
	}
	if req.mi.chunked {
		b = appendTransferEncoding(b, req.fields)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	if _, err := uc.bw.Write(b); err != nil {
		return writeErr(err)
	}
	var n int64
	var err error
	switch {
	case req.mi.chunked:
		n, err = copyChunked(uc.bw, uc.conn, cc.br, cc.conn, true, cfg.MaxBodyBytes, cfg.MaxHeaderBytes, &cc.meterIn)
	case req.mi.length > 0:
		n, err = copyN(uc.bw, uc.conn, cc.br, cc.conn, req.mi.length, &cc.meterIn)
	}
	cc.res.bytesIn = n
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return err
		}
		if !isWriteErr(err) {
			return errors.Join(errClientBody, err)
		}
		return err
	}
	if err := uc.bw.Flush(); err != nil {
		return writeErr(err)
	}
	return nil
}

// appendVia adds this hop to Via (RFC 9110 §7.6.3), naming the protocol
// version it was received with.
func appendVia(b []byte, minor int) []byte {
	if minor == 0 {
		return append(b, "Via: 1.0 sluice\r\n"...)
	}
	return append(b, "Via: 1.1 sluice\r\n"...)
}

// readResponseHead reads the final response head (after any 1xx) into
// cc.resp within wait, forwarding informational responses the client can
// use.
func (cc *clientConn) readResponseHead(uc *upstreamConn, cfg *Config, wait time.Duration) error {
	// The deadline stays set after the head: relayResponse clears it only
	// when a body still has to be read (every other read of an upstream
	// conn sets a deadline first), saving a timer update per request.
	uc.conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := uc.br.Peek(1); err != nil {
		return &noResponseError{err}
	}
	for {
		head, err := readHead(uc.br, cc.rhead, cfg.MaxHeaderBytes)
		cc.rhead = head
		if err != nil {
			return err
		}
		if err := cc.resp.parse(head); err != nil {
			return err
		}
		code := cc.resp.code
		if code >= 200 || code == http.StatusSwitchingProtocols {
			return nil
		}
		// 100 is for Sluice (it answered the client itself); other 1xx
		// (103 Early Hints) go on to HTTP/1.1 clients.
		if code != http.StatusContinue && cc.req.minor == 1 {
			cc.writeResponseHead(cfg, false, true)
			if err := cc.bw.Flush(); err != nil {
				return errors.Join(errClientBody, err)
			}
		}
	}
}

var errBadResponse = errors.New("malformed response head")

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

// relayResponse sends the response head and streams the body to the
// client, then pools or closes uc. It returns whether the client
// connection may be kept: never while the request body is being drained,
// and then uc, whose request was cut short, is not pooled either.
func (cc *clientConn) relayResponse(uc *upstreamConn, cfg *Config) bool {
	req, resp := &cc.req, &cc.resp
	whole := cc.draining == nil // the request went upstream whole
	if resp.code == http.StatusSwitchingProtocols {
		if !whole {
			uc.close()
			cc.fail(http.StatusBadGateway, stats.ErrUpstream, "upstream switched protocols before the request body was sent", false)
			return false
		}
		return cc.upgrade(uc, cfg)
	}
	kind := cc.responseBody()
	http11 := req.minor == 1
	if !http11 && kind != bodyNone && resp.mi.coded {
		// A server must not send Transfer-Encoding to an HTTP/1.0 client
		// (RFC 9112 §6.1), and without the field the coded bytes would
		// pass for the content. Decoding is not the relay's job, so the
		// honest answer is 502; the request was read whole, so the
		// client's connection stays as it asked.
		uc.close()
		keep := whole && req.clientKeepAlive()
		cc.fail(http.StatusBadGateway, stats.ErrUpstream, "upstream "+string(cc.key)+" sent a body under a Transfer-Encoding other than chunked, which cannot be relayed to an HTTP/1.0 client (RFC 9112 §6.1); retry with HTTP/1.1", keep)
		return keep
	}
	keep := whole && req.clientKeepAlive() && !cc.s.shuttingDown()
	// An HTTP/1.0 client can only find the end of an unknown-length
	// body by the connection closing.
	if !http11 && (kind == bodyChunked || kind == bodyUntilClose) {
		keep = false
	}
	// A body under a transfer coding other than chunked ends with the
	// connection (RFC 9112 §6.3), and it is relayed as it came.
	if kind == bodyUntilClose && resp.mi.hasTE {
		keep = false
	}
	cc.res.status = resp.code
	cc.writeResponseHead(cfg, keep, http11)
	cc.res.ttfb = time.Since(cc.started)
	// A body may take any time to arrive (a download, server-sent
	// events): lift the response-header deadline unless the whole body is
	// buffered already.
	if kind != bodyNone && !(kind == bodyLength && resp.mi.length <= int64(uc.br.Buffered())) {
		uc.conn.SetReadDeadline(time.Time{})
	}
	var n int64
	var err error
	switch kind {
	case bodyLength:
		n, err = copyN(cc.bw, cc.conn, uc.br, uc.conn, resp.mi.length, &cc.meterOut)
	case bodyChunked:
		n, err = copyChunked(cc.bw, cc.conn, uc.br, uc.conn, http11, 0, cfg.MaxHeaderBytes, &cc.meterOut)
	case bodyUntilClose:
		n, err = copyUntilEOF(cc.bw, uc.br, http11 && !resp.mi.hasTE, &cc.meterOut)
	}
	cc.res.bytesOut = n
	if err == nil {
		// The response is read to its end, so the upstream conn can take
		// the next request (from any client) before this client's last
		// bytes are flushed; pooled after the flush, a client's next
		// request on another connection could miss it and dial anew.
		if whole && cfg.MaxIdlePerHost > 0 && reusable(uc, resp, kind) {
			cc.s.pool.put(uc, time.Now())
		} else {
			uc.close()
		}
		if ferr := cc.bw.Flush(); ferr != nil {
			cc.res.err = stats.ErrClientAbort
			return false
		}
		return keep
	}
	uc.close()
	if isWriteErr(err) {
		cc.res.err = stats.ErrClientAbort
	} else {
		// The upstream broke mid-body. The status is already sent, so
		// the only honest signal left is closing the connection.
		cc.res.err = stats.ErrUpstream
		cc.s.log.Debug("upstream failed mid-body", "upstream", string(cc.key), "err", err)
	}
	return false
}

// reusable reports whether uc, whose response r (with body kind) was
// read to its end, is clean enough for the pool: the origin keeps it,
// the response ended exactly at a message boundary with nothing past it,
// and its framing left no doubt. Anything an origin sends past its
// response would otherwise be read as the next client's.
func reusable(uc *upstreamConn, r *response, kind bodyKind) bool {
	switch {
	case kind == bodyUntilClose, !upstreamKeepAlive(r):
		return false
	case r.mi.hasTE && (r.mi.sawCL || r.minor == 0):
		// Transfer-Encoding won over Content-Length, or came in an
		// HTTP/1.0 message: RFC 9112 §6.1 and §6.3 call the framing
		// faulty and the connection to be closed after the message.
		return false
	case uc.br.Buffered() > 0:
		return false // bytes past the end of the response
	case kind == bodyNone:
		// An origin that answers HEAD, 204 or 304 with a body anyway
		// sends it right after the head: look for it now as well as
		// before reuse.
		return connAlive(uc)
	}
	return true
}

func upstreamKeepAlive(r *response) bool {
	if r.minor == 0 {
		return r.mi.keepAlive && !r.mi.connClose
	}
	return !r.mi.connClose
}

// writeResponseHead writes cc.resp's head to the client buffer, without
// hop-by-hop fields, with this proxy's framing and Connection fields.
func (cc *clientConn) writeResponseHead(cfg *Config, keep, http11 bool) {
	resp := &cc.resp
	b := appendStatusLine(cc.out[:0], resp.code, resp.reason)
	for i := range resp.fields {
		f := &resp.fields[i]
		if isHopHeader(f.name, resp.mi.connTokens) {
			continue
		}
		if resp.mi.hasTE && fieldIs(f.name, "content-length") {
			continue // Transfer-Encoding won (RFC 9112 §6.3)
		}
		b = appendField(b, f.name, f.value)
	}
	if !cfg.NoVia {
		b = appendVia(b, resp.minor)
	}
	if resp.code >= 200 {
		switch kind := cc.responseBody(); {
		case kind == bodyChunked && http11:
			b = appendTransferEncoding(b, resp.fields)
		case kind == bodyUntilClose && http11 && !resp.mi.hasTE:
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		case kind == bodyUntilClose && http11:
			b = appendTransferEncoding(b, resp.fields)
		}
		switch {
		case !keep:
			b = append(b, "Connection: close\r\n"...)
		case !http11:
			b = append(b, "Connection: keep-alive\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	cc.out = b
	cc.bw.Write(b)
}

// upgrade completes a 101 Switching Protocols (WebSocket) and tunnels
// both ways until either side closes.
func (cc *clientConn) upgrade(uc *upstreamConn, cfg *Config) bool {
	if !cc.req.mi.wantsUpgrade() {
		uc.close()
		cc.fail(http.StatusBadGateway, stats.ErrUpstream, "upstream switched protocols unasked", false)
		return false
	}
	resp := &cc.resp
	cc.res.status = resp.code
	b := appendStatusLine(cc.out[:0], resp.code, resp.reason)
	for i := range resp.fields {
		f := &resp.fields[i]
		if isHopHeader(f.name, resp.mi.connTokens) {
			continue
		}
		b = appendField(b, f.name, f.value)
	}
	b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
	b = append(b, resp.mi.upgrade...)
	b = append(b, "\r\n\r\n"...)
	cc.out = b
	cc.bw.Write(b)
	cc.res.ttfb = time.Since(cc.started)
	if err := cc.bw.Flush(); err != nil {
		uc.close()
		cc.res.err = stats.ErrClientAbort
		return false
	}
	cc.res.tunnel = true
	cc.s.stats.TunnelOpened()
	cc.res.bytesIn, cc.res.bytesOut = tunnel(cc.conn, cc.br, uc.conn, uc.br, &cc.meterIn, &cc.meterOut, cfg.TunnelIdleTimeout)
	uc.close()
	return false
}

// upstream returns a pooled conn for key or dials a new one; fresh skips
// the pool. A pooled conn is used only if it is still open and nothing
// arrived on it while idle (connAlive): stray bytes there would be read
// as the next client's response.
func (s *Server) upstream(cfg *Config, key []byte, fresh bool) (*upstreamConn, bool, error) {
	if !fresh && cfg.MaxIdlePerHost > 0 {
		now := time.Now()
		for uc := s.pool.get(key, now); uc != nil; uc = s.pool.get(key, now) {
			if !connAlive(uc) {
				uc.close()
				continue
			}
			return uc, true, nil
		}
	}
	conn, cached, err := s.dial(cfg, string(key))
	if err != nil {
		return nil, false, err
	}
	uc := &upstreamConn{conn: conn, br: newReader(conn), bw: newWriter(conn), key: string(key), dnsCached: cached}
	uc.probe.init(conn)
	return uc, false, nil
}

// errLoop is a dial that reached Sluice's own listener.
var errLoop = errors.New("the target is Sluice itself")

func (s *Server) dial(cfg *Config, addr string) (net.Conn, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
	defer cancel()
	conn, cached, err := cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, cached, err
	}
	if s.connIsSelf(conn) {
		conn.Close()
		return nil, cached, errLoop
	}
	return conn, cached, nil
}

// dialFailed answers a failed upstream dial with 502, 504 or 508.
func (cc *clientConn) dialFailed(err error) {
	keep := !cc.req.hasBody() && cc.req.clientKeepAlive()
	code, kind, reason := classifyDialError(err, string(cc.key))
	cc.fail(code, kind, reason, keep)
}

func classifyDialError(err error, addr string) (int, stats.ErrKind, string) {
	var dnsErr *net.DNSError
	var destErr *destError
	switch {
	case errors.As(err, &destErr):
		return http.StatusForbidden, stats.ErrForbidden, destErr.Error()
	case errors.Is(err, errLoop):
		return http.StatusLoopDetected, stats.ErrLoop, "the request is addressed to Sluice itself"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return http.StatusBadGateway, stats.ErrDNS, "unknown host " + dnsErr.Name
	case errors.As(err, &dnsErr):
		return http.StatusBadGateway, stats.ErrDNS, "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case isTimeout(err):
		return http.StatusGatewayTimeout, stats.ErrConnectTimeout, "connecting to " + addr + " timed out (connect_timeout)"
	case isRefused(err):
		return http.StatusBadGateway, stats.ErrRefused, "connection refused by " + addr
	}
	return http.StatusBadGateway, stats.ErrRefused, "cannot connect to " + addr + ": " + describe(err)
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// describe shortens an error for a one-line reason: the innermost cause.
func describe(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "connection closed before a complete response"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err.Error()
		}
		err = u
	}
}

// appendKey builds the pool key and dial address "host:port", with IPv6
// literals in brackets.
func appendKey(b, host, port []byte) []byte {
	if indexByte(host, ':') >= 0 {
		b = append(b, '[')
		b = append(b, host...)
		b = append(b, ']')
	} else {
		for _, c := range host {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A' // names are case-insensitive; share one pool
			}
			b = append(b, c)
		}
	}
	b = append(b, ':')
	return append(b, port...)
}
