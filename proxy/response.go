package proxy

import (
	"net/http"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// relayResponse sends the response head and streams the body to the
// client, then pools or closes uc. It returns whether the client
// connection may be kept: never when the request did not go upstream
// whole (an early answer), and then uc, whose request was cut short, is
// not pooled either.
func (cc *clientConn) relayResponse(uc *upstreamConn, cfg *Config) bool {
	req, resp := &cc.req, &cc.resp
	if resp.code == http.StatusSwitchingProtocols {
		if !cc.whole {
			uc.close()
			cc.fail(http.StatusBadGateway, stats.ErrUpstream, "upstream switched protocols before the request body was sent", false)
			return false
		}
		return cc.upgrade(uc, cfg)
	}
	kind := cc.responseBody()
	if cc.cx != nil {
		if done, keep := cc.cacheAnswer(uc, cfg, kind); done {
			return keep
		}
	}
	http11 := req.minor == 1
	if !http11 && kind != bodyNone && resp.mi.coded {
		// A server must not send Transfer-Encoding to an HTTP/1.0 client
		// (RFC 9112 §6.1), and without the field the coded bytes would
		// pass for the content. Decoding is not the relay's job, so the
		// honest answer is 502; the request was read whole, so the
		// client's connection stays as it asked.
		uc.close()
		keep := cc.keepAlive(true)
		cc.fail(http.StatusBadGateway, stats.ErrUpstream, cc.upstreamLabel()+" sent a body under a Transfer-Encoding other than chunked, which cannot be relayed to an HTTP/1.0 client (RFC 9112 §6.1); retry with HTTP/1.1", keep)
		return keep
	}
	keep := cc.keepAlive(framedForClient(kind, http11, resp))
	cc.res.status = resp.code
	cc.writeResponseHead(cfg, kind, keep, http11)
	cc.res.ttfb = time.Since(cc.started)
	// A body may take any time to arrive (a download, server-sent
	// events), as long as it keeps moving: replace the response-header
	// deadline by body_timeout's, unless the whole body is buffered
	// already.
	if kind != bodyNone && !(kind == bodyLength && resp.mi.length <= int64(uc.br.Buffered())) {
		uc.tc.startBody()
	}
	var n int64
	var err error
	switch {
	case cc.cx != nil && cc.cx.w != nil:
		n, err = cc.teeBody(uc, cfg, kind, http11)
	case kind == bodyLength:
		n, err = copyN(cc.bw, &cc.tc, uc.br, &uc.tc, resp.mi.length, &cc.meterOut)
	case kind == bodyChunked:
		n, err = copyChunked(cc.bw, &cc.tc, uc.br, &uc.tc, http11, 0, cfg.MaxHeaderBytes, &cc.meterOut)
	case kind == bodyUntilClose:
		n, err = copyUntilEOF(cc.bw, uc.br, http11 && !resp.mi.hasTE, &cc.meterOut)
	}
	cc.res.bytesOut = n
	if err == nil {
		// The response is read to its end, so the upstream conn can take
		// the next request (from any client) before this client's last
		// bytes are flushed; pooled after the flush, a client's next
		// request on another connection could miss it and dial anew.
		if cc.whole && cfg.MaxIdlePerHost > 0 && reusable(uc, resp, kind) {
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
	// The status is already sent, so the only honest signal left is
	// closing the connection.
	switch {
	case isWriteErr(err) && isTimeout(err):
		cc.res.err = stats.ErrClientTimeout // it read nothing for body_timeout
	case isWriteErr(err):
		cc.res.err = stats.ErrClientAbort
	case isTimeout(err):
		cc.res.err = stats.ErrUpstreamTimeout // it sent nothing for body_timeout
	default:
		cc.res.err = stats.ErrUpstream
		cc.s.log.Debug("upstream failed mid-body", "upstream", string(cc.key), "err", err)
	}
	return false
}

// framedForClient reports whether a response body of kind, as relayed to
// a client of the given version, ends where the client can see without
// the connection closing.
func framedForClient(kind bodyKind, http11 bool, r *response) bool {
	switch {
	case !http11 && (kind == bodyChunked || kind == bodyUntilClose):
		// An HTTP/1.0 client can only find the end of an unknown-length
		// body by the connection closing.
		return false
	case kind == bodyUntilClose && r.mi.hasTE:
		// A body under a transfer coding other than chunked ends with
		// the connection (RFC 9112 §6.3), and it is relayed as it came.
		return false
	}
	return true
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

// writeResponseHead writes cc.resp's head, whose body is of kind, to the
// client buffer, without hop-by-hop fields, with this proxy's framing and
// Connection fields.
func (cc *clientConn) writeResponseHead(cfg *Config, kind bodyKind, keep, http11 bool) {
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
	if cc.cx != nil && resp.code >= 200 {
		b = cc.cx.appendCacheStatus(b)
	}
	if resp.code >= 200 {
		switch {
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
	cc.res.headOut = resp.code >= 200
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
	cc.res.headOut = true
	cc.bw.Write(b)
	cc.res.ttfb = time.Since(cc.started)
	if err := cc.bw.Flush(); err != nil {
		uc.close()
		cc.res.err = stats.ErrClientAbort
		return false
	}
	cc.res.tunnel = true
	cc.s.stats.TunnelOpened()
	cc.res.bytesIn, cc.res.bytesOut, cc.res.err = tunnel(cc.conn, cc.br, uc.conn, uc.br, &cc.meterIn, &cc.meterOut, cfg.TunnelIdleTimeout)
	uc.close()
	return false
}
