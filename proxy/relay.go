package proxy

import (
	"errors"
	"net/http"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// relay forwards an absolute-form request to its origin, directly or
// through the upstream proxy the router names (parent.go), and streams
// the response back. It returns whether the client connection may be
// kept.
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
		keep := cc.keepAlive(true)
		cc.fail(http.StatusLoopDetected, stats.ErrLoop, "the request is addressed to Sluice itself", keep)
		return keep
	}
	if cfg.Cache != nil {
		if done, keep := cc.cacheLookup(cfg); done {
			return keep
		}
		defer cc.cacheDone()
	}
	cc.key = appendKey(cc.key[:0], req.host, req.port)
	if cfg.Router != nil {
		if err := cc.route(cfg, req.host, req.port); err != nil {
			return cc.refusedByRoute(err)
		}
	}
	hasBody := req.hasBody()
	sent100 := false
	rerouted := false
	var uc *upstreamConn
	var began time.Time // when the try through an upstream proxy began
	for attempt := 0; ; attempt++ {
		var err error
		var reused bool
		if cc.res.up == nil {
			uc, reused, err = cc.s.upstream(cfg, cc.key, attempt > 0)
			if err == nil {
				if err = cc.checkReached(cfg, uc.conn); err != nil {
					uc.close()
				}
			}
		} else {
			began = time.Now()
			uc, reused, err = cc.viaUpstream(cfg, attempt > 0)
		}
		if err != nil {
			if !rerouted && parentDown(err) && cc.reroute(cfg, req.host, req.port) {
				// The parent could not be reached: nothing was sent, so
				// the request takes the router's next choice.
				rerouted, attempt = true, -1
				continue
			}
			return cc.dialFailed(err)
		}
		uc.tc.reset(cfg.BodyTimeout)
		cc.res.reused, cc.res.dnsCached = reused, uc.dnsCached
		if !reused {
			cc.res.connect, cc.res.lookup = uc.dialTook, uc.lookupTook
		}
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
		if err == nil && hasBody {
			var early bool
			if early, err = cc.exchange(uc, cfg); early {
				// The upstream answered before the body was in (a 413,
				// 401 or 403 after the head): that answer, not a 502 or
				// a wait on an upload it no longer reads, is what the
				// client needs. The rest of the body is read and dropped
				// meanwhile.
				cc.s.stats.UpstreamConn(cc.res.reused)
				cc.drainBody()
				if cc.forwardsAbsolute() && !cc.parentAnswer(uc, began) {
					return false
				}
				return cc.relayResponse(uc, cfg)
			}
		} else if err == nil {
			err = cc.readResponseHead(uc, cfg, cfg.ResponseHeaderTimeout)
		}
		if err == nil {
			break
		}
		uc.close()
		if attempt == 0 && retryable(req, reused, err) {
			continue // the origin closed the pooled conn: retry once, fresh
		}
		if cc.res.up != nil {
			cc.upstreamFailed(err)
		}
		return cc.relayFailed(err)
	}
	cc.whole = true // any body went upstream whole, and the answer came
	cc.s.stats.UpstreamConn(cc.res.reused)
	if cc.forwardsAbsolute() && !cc.parentAnswer(uc, began) {
		return cc.keepAlive(true)
	}
	return cc.relayResponse(uc, cfg)
}

// relayFailed answers a request whose relay failed, and was not retried,
// before an answer's head came. It returns whether the client connection
// may be kept: a request with a body was not read whole (cc.whole), so
// its connection ends.
func (cc *clientConn) relayFailed(err error) bool {
	var ce chunkError
	switch {
	case isTimeout(err) && (errors.Is(err, errClientBody) || isWriteErr(err)):
		return cc.requestStalled(err)
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
	case isTimeout(err):
		// A bodiless request was read whole, so the client's next
		// request starts cleanly after the 504; only the silent
		// upstream conn is dropped.
		keep := cc.keepAlive(true)
		cc.fail(http.StatusGatewayTimeout, stats.ErrUpstreamTimeout, "no response from "+cc.upstreamLabel()+" within response_header_timeout", keep)
		return keep
	}
	// As with the 504: a bodiless request was read whole, so the client
	// may keep its connection; one whose body is left unread gets the 502
	// with a lingering close.
	keep := cc.keepAlive(true)
	cc.fail(http.StatusBadGateway, stats.ErrUpstream, cc.upstreamLabel()+": "+describe(err), keep)
	if !cc.whole {
		cc.drainBody()
	}
	return keep
}

// sendRequest writes the request head upstream, and flushes it when no
// body follows (exchange sends a body).
func (cc *clientConn) sendRequest(uc *upstreamConn, cfg *Config) error {
	req := &cc.req
	b := cc.out[:0]
	b = append(b, req.method...)
	b = append(b, ' ')
	absolute := cc.res.up != nil && cc.forwardsAbsolute()
	if absolute {
		b = append(b, "http://"...)
		b = append(b, req.authority...)
	}
	if len(req.path) == 0 || req.path[0] == '?' {
		b = append(b, '/')
	}
	b = append(b, req.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, req.authority...)
	b = append(b, "\r\n"...)
	if absolute && cc.res.up.ProxyAuthorization != "" {
		// The client's own Proxy-Authorization was for Sluice, and is
		// dropped below with the other hop-by-hop fields.
		b = append(b, "Proxy-Authorization: "...)
		b = append(b, cc.res.up.ProxyAuthorization...)
		b = append(b, "\r\n"...)
	}
	for i := range req.fields {
		f := &req.fields[i]
		if isHopHeader(f.name, req.mi.connTokens) || fieldIs(f.name, "host") || fieldIs(f.name, "expect") && req.mi.expect100 {
			continue
		}
		b = appendField(b, f.name, f.value)
	}
	if cc.cx != nil {
		b = cc.cx.appendConditionals(b)
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
	if req.hasBody() {
		return nil
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

// sendResult is what an upload did: the body bytes sent and the error
// that ended it, nil when it went whole.
type sendResult struct {
	n   int64
	err error
}

// The states of cc.upload. An upload ends when its goroutine finishes or
// when exchange stops it, whichever comes first: only that one touches
// the other goroutine's deadlines, and its outcome is the one reported.
const (
	uploadRunning int32 = iota
	uploadEnded         // the sender finished, or failed, first
	uploadStopped       // exchange had the response head, or its failure, first
)

// exchange sends the body of a request whose head sendRequest buffered,
// while it reads the response head: full duplex, as the upstream may
// answer before the body is in (a 413 or 401 after the head) and then
// read no more, so a relay that waited for the upload to end would wait
// forever. The body goes from its own goroutine (see sendBody); the head
// is awaited here, without a deadline until the body is sent, then
// within response_header_timeout. early reports a final answer that came
// before the body went whole: the upload is stopped, and the caller
// drains the rest of the client's body. Otherwise err is the failure that
// came first: of the client's body (errClientBody, errBodyTooLarge), the
// upload, or the response head.
func (cc *clientConn) exchange(uc *upstreamConn, cfg *Config) (early bool, err error) {
	uc.conn.SetReadDeadline(time.Time{})
	if cc.sent == nil {
		cc.sent = make(chan sendResult, 1)
	}
	cc.upload.Store(uploadRunning)
	cc.tc.startBody()
	go cc.sendBody(uc, cfg)
	herr := cc.readResponseHead(uc, cfg, 0)
	stopped := cc.upload.CompareAndSwap(uploadRunning, uploadStopped)
	if stopped {
		// An answer, or a broken one, came while the upload runs: stop
		// it. Its goroutine owns cc.br until it reports.
		cc.tc.haltReads()
		uc.tc.haltWrites()
	}
	res := <-cc.sent
	cc.res.bytesIn = res.n
	switch {
	case res.err == nil:
		return false, herr
	case herr == nil:
		return true, nil
	case stopped:
		return false, herr
	}
	return false, res.err
}

// sendBody streams the request body upstream and flushes it, then tells
// exchange on cc.sent. When it ends first (see cc.upload), it sets the
// response head's read deadline: the time left for the answer, or how
// long a failure makes the answer worth waiting for.
func (cc *clientConn) sendBody(uc *upstreamConn, cfg *Config) {
	req := &cc.req
	var n int64
	var err error
	switch {
	case req.mi.chunked:
		n, err = copyChunked(uc.bw, &uc.tc, cc.br, &cc.tc, true, cfg.MaxBodyBytes, cfg.MaxHeaderBytes, &cc.meterIn)
	case req.mi.length > 0:
		n, err = copyN(uc.bw, &uc.tc, cc.br, &cc.tc, req.mi.length, &cc.meterIn)
	}
	if err == nil {
		if ferr := uc.bw.Flush(); ferr != nil {
			err = writeErr(ferr)
		}
	} else if !isWriteErr(err) && !errors.Is(err, errBodyTooLarge) {
		err = errors.Join(errClientBody, err)
	}
	if cc.upload.CompareAndSwap(uploadRunning, uploadEnded) {
		switch {
		case err == nil:
			// The request is sent: its answer is due.
			uc.conn.SetReadDeadline(time.Now().Add(cfg.ResponseHeaderTimeout))
		case isWriteErr(err) && !isTimeout(err):
			// The upstream stopped taking the body, most often because
			// it answered and closed: an answer sent before the close
			// is in the kernel's buffer already, so a short look finds
			// it.
			uc.conn.SetReadDeadline(time.Now().Add(earlyAnswerWait))
		default:
			// The client's body failed or a side stalled: no answer is
			// worth waiting for.
			uc.conn.SetReadDeadline(aLongTimeAgo)
		}
	}
	cc.sent <- sendResult{n, err}
}

// earlyAnswerWait bounds the look for a response after the upstream
// stopped taking a request body with an error (a reset, a closed
// connection), not a stall.
const earlyAnswerWait = time.Second

// readResponseHead reads the final response head (after any 1xx) into
// cc.resp within wait (0: under the deadline the caller set), forwarding
// informational responses the client can use.
func (cc *clientConn) readResponseHead(uc *upstreamConn, cfg *Config, wait time.Duration) error {
	// The deadline stays set after the head: relayResponse replaces it
	// only when a body still has to be read (every other read of an
	// upstream conn sets a deadline first), saving a timer update per
	// request.
	if wait > 0 {
		uc.conn.SetReadDeadline(time.Now().Add(wait))
	}
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
			cc.writeResponseHead(cfg, bodyNone, false, true) // a 1xx has no body
			if err := cc.bw.Flush(); err != nil {
				return errors.Join(errClientBody, err)
			}
		}
	}
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

// requestStalled answers a request that stopped moving for body_timeout
// before its answer came: 408 when the client stopped sending its body,
// 504 when the upstream stopped taking the request. It returns whether
// the client connection may be kept.
func (cc *clientConn) requestStalled(err error) bool {
	if errors.Is(err, errClientBody) {
		cc.fail(http.StatusRequestTimeout, stats.ErrClientTimeout, "no request body byte arrived for body_timeout", false)
		return false
	}
	// As with a 504 for no response: a bodiless request was read whole.
	keep := cc.keepAlive(true)
	cc.fail(http.StatusGatewayTimeout, stats.ErrUpstreamTimeout, cc.upstreamLabel()+" took no request byte for body_timeout", keep)
	if !cc.whole {
		cc.drainBody()
	}
	return keep
}

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
	// Until lingerClose gives it one, the drain has no deadline: the
	// answer is being written meanwhile, under write deadlines.
	cc.tc.stopBody()
	cc.conn.SetReadDeadline(time.Time{})
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
