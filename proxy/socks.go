package proxy

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// SOCKS5 on the HTTP port (RFC 1928, with RFC 1929 user/password), as
// mihomo's "mixed port": a connection whose first byte is 5 speaks
// SOCKS5, as no HTTP request line starts with that byte. Only CONNECT is
// served; it passes the same [access] gate as an HTTP CONNECT (allow,
// users, rate limit, the destination guard), the same checks
// (connect_ports, loops) and the same dial (dialTunnel), then becomes the
// same tunnel, counted as one and logged with Method "SOCKS5". The whole
// handshake must arrive within read_header_timeout of the accept, as a
// first HTTP head must. SOCKS never reaches the HTTP parser, so it
// changes no request or response framing.

// The protocol's constants (RFC 1928 §3-6, RFC 1929 §2).
const (
	socksVersion4 = 0x04
	socksVersion5 = 0x05
	socksAuthVer  = 0x01 // the user/password subnegotiation's version

	socksNoAuth       = 0x00
	socksUserPass     = 0x02
	socksNoAcceptable = 0xff

	socksCmdConnect = 0x01

	socksAtypIPv4   = 0x01
	socksAtypDomain = 0x03
	socksAtypIPv6   = 0x04

	repSucceeded          = 0x00
	repFailure            = 0x01
	repNotAllowed         = 0x02
	repNetUnreachable     = 0x03
	repHostUnreachable    = 0x04
	repRefused            = 0x05
	repTTLExpired         = 0x06
	repCmdNotSupported    = 0x07
	repAtypNotSupported   = 0x08
	socksAuthSucceeded    = 0x00
	socksAuthFailed       = 0x01
	maxSocksDomainAndPort = 255 + 2
)

// socksMethod names SOCKS5 tunnels in AccessRecord.Method.
var socksMethod = []byte("SOCKS5")

// startsSOCKS reports whether a connection's first byte b opens a SOCKS
// handshake: 5 for SOCKS5, 4 for SOCKS4, which is refused.
func startsSOCKS(b byte) bool { return b == socksVersion5 || b == socksVersion4 }

// socks serves a connection that opened with a SOCKS version byte; it
// consumes the connection. The read deadline set for the first head
// (accept + read_header_timeout) bounds every read of the handshake.
func (cc *clientConn) socks(cfg *Config) {
	req := &cc.req
	*req = request{method: socksMethod, form: formAuthority, fields: req.fields[:0]}
	if v, _ := cc.br.ReadByte(); v == socksVersion4 {
		cc.s.log.Debug("SOCKS4 refused: Sluice speaks SOCKS5 only", "client", cc.conn.RemoteAddr().String())
		return
	}
	outsider := !cfg.gate.allows(cc.addr)
	kind, reason := cc.socksGreet(cfg, outsider)
	if kind == stats.ErrNone {
		kind, reason = cc.socksRequest()
	}
	if kind != stats.ErrNone {
		cc.socksFail(cfg, kind, reason)
		cc.socksLinger()
		return
	}
	if outsider {
		cc.socksRefuse(cfg, http.StatusForbidden, stats.ErrForbidden, "clients at "+cc.addr.String()+" may not use this proxy (they are not in [access] allow)")
		cc.socksLinger()
		return
	}
	if r := cc.check(cfg, req.host, nil, true); r != nil {
		cc.socksRefuse(cfg, r.code, r.kind, r.reason)
		cc.socksLinger()
		return
	}
	cc.res.tunnel = true
	up, err := cc.dialTunnel(cfg, req.host, req.port)
	if err != nil {
		cc.res.tunnel = false
		code, kind, reason := cc.targetError(err)
		cc.res.status, cc.res.err = code, kind
		cc.socksReply(socksDialCode(err), nil)
		cc.s.log.Debug("SOCKS5 CONNECT failed", "client", cc.conn.RemoteAddr().String(), "reason", reason)
		cc.finish(cfg)
		cc.socksLinger()
		return
	}
	if err := cc.socksReply(repSucceeded, up.LocalAddr()); err != nil {
		up.Close()
		cc.res.tunnel = false
		cc.res.err = stats.ErrClientAbort
		cc.finish(cfg)
		return
	}
	cc.res.status = http.StatusOK
	cc.res.ttfb = time.Since(cc.started)
	cc.s.stats.TunnelOpened()
	cc.res.bytesIn, cc.res.bytesOut, cc.res.err = tunnel(cc.conn, cc.br, up, nil, &cc.meterIn, &cc.meterOut, cfg.TunnelIdleTimeout)
	up.Close()
	cc.finish(cfg)
}

// socksGreet reads the method offer (the version byte is read), picks a
// method and, for user/password, checks the credentials. An outsider is
// offered no-auth only: it is refused at its request, with no credential
// asked of it. It returns why the handshake cannot go on, if it cannot;
// the client has had its answer then, but for a malformed message.
func (cc *clientConn) socksGreet(cfg *Config, outsider bool) (stats.ErrKind, string) {
	n, err := cc.br.ReadByte()
	if err != nil {
		return socksReadError(err, "greeting")
	}
	methods, err := cc.br.Peek(int(n))
	if err != nil {
		return socksReadError(err, "greeting")
	}
	want := byte(socksNoAuth)
	if cfg.gate.users != nil && !outsider {
		want = socksUserPass
	}
	chosen := byte(socksNoAcceptable)
	for _, m := range methods {
		if m == want {
			chosen = want
		}
	}
	cc.br.Discard(int(n))
	cc.bw.Write([]byte{socksVersion5, chosen})
	if err := cc.bw.Flush(); err != nil {
		return stats.ErrClientAbort, "client left during the SOCKS5 greeting"
	}
	switch chosen {
	case socksNoAcceptable:
		if outsider {
			return stats.ErrForbidden, "clients at " + cc.addr.String() + " may not use this proxy (they are not in [access] allow)"
		}
		if want == socksUserPass {
			return stats.ErrAuth, "SOCKS5 client offered no user/password authentication, which [access] users requires"
		}
		return stats.ErrAuth, "SOCKS5 client offered no method Sluice takes (no authentication)"
	case socksUserPass:
		return cc.socksAuth(cfg)
	}
	return stats.ErrNone, ""
}

// socksAuth runs the RFC 1929 subnegotiation against [access] users,
// through the same bcrypt check and cache as Proxy-Authorization.
func (cc *clientConn) socksAuth(cfg *Config) (stats.ErrKind, string) {
	// VER ULEN UNAME PLEN PASSWD, each length at most 255.
	var msg [2 + 255 + 1 + 255]byte
	if _, err := io.ReadFull(cc.br, msg[:2]); err != nil {
		return socksReadError(err, "authentication")
	}
	if msg[0] != socksAuthVer {
		return stats.ErrBadRequest, "SOCKS5 authentication version " + strconv.Itoa(int(msg[0])) + " (RFC 1929 is version 1)"
	}
	ulen := int(msg[1])
	if _, err := io.ReadFull(cc.br, msg[2:2+ulen+1]); err != nil {
		return socksReadError(err, "authentication")
	}
	plen := int(msg[2+ulen])
	if _, err := io.ReadFull(cc.br, msg[3+ulen:3+ulen+plen]); err != nil {
		return socksReadError(err, "authentication")
	}
	user, pass := msg[2:2+ulen], msg[3+ulen:3+ulen+plen]
	// The gate checks Basic credentials, cached by their field value; the
	// same user and password make the same value, so SOCKS5 and HTTP
	// clients share the cache.
	var cred [len("Basic ") + (255+1+255+2)/3*4]byte
	c := append(cred[:0], "Basic "...)
	var plainBuf [255 + 1 + 255]byte
	plain := append(append(append(plainBuf[:0], user...), ':'), pass...)
	c = base64.StdEncoding.AppendEncode(c, plain)
	status := byte(socksAuthSucceeded)
	r := cfg.gate.checkCredentials(c)
	if r != nil {
		status = socksAuthFailed
	}
	cc.bw.Write([]byte{socksAuthVer, status})
	if err := cc.bw.Flush(); err != nil {
		return stats.ErrClientAbort, "client left during SOCKS5 authentication"
	}
	if r != nil {
		return r.kind, "SOCKS5: " + r.reason
	}
	return stats.ErrNone, ""
}

// socksRequest reads the request into cc.req: host (without brackets) and
// port in decimal, as CONNECT's target is, held in cc.head. A command
// other than CONNECT or an unknown address type is answered here.
func (cc *clientConn) socksRequest() (stats.ErrKind, string) {
	var hdr [5]byte // VER CMD RSV ATYP and the domain's length byte
	if _, err := io.ReadFull(cc.br, hdr[:4]); err != nil {
		return socksReadError(err, "request")
	}
	if hdr[0] != socksVersion5 {
		cc.socksReply(repFailure, nil)
		return stats.ErrBadRequest, "SOCKS5 request with version " + strconv.Itoa(int(hdr[0]))
	}
	var alen int
	switch hdr[3] {
	case socksAtypIPv4:
		alen = 4
	case socksAtypIPv6:
		alen = 16
	case socksAtypDomain:
		if _, err := io.ReadFull(cc.br, hdr[4:5]); err != nil {
			return socksReadError(err, "request")
		}
		alen = int(hdr[4])
	default:
		cc.socksReply(repAtypNotSupported, nil)
		return stats.ErrBadRequest, "SOCKS5 address type " + strconv.Itoa(int(hdr[3])) + " is not IPv4, IPv6 or a domain name"
	}
	var raw [maxSocksDomainAndPort]byte
	if _, err := io.ReadFull(cc.br, raw[:alen+2]); err != nil {
		return socksReadError(err, "request")
	}
	// The whole request is read: a client that pipelines data behind an
	// unsupported command gets its answer, not a reset.
	if hdr[1] != socksCmdConnect {
		cc.socksReply(repCmdNotSupported, nil)
		return stats.ErrBadRequest, "SOCKS5 command " + strconv.Itoa(int(hdr[1])) + " is not supported (Sluice serves CONNECT only)"
	}
	addr, port := raw[:alen], int(raw[alen])<<8|int(raw[alen+1])
	b := cc.head[:0]
	switch hdr[3] {
	case socksAtypIPv4:
		b = netip.AddrFrom4([4]byte(addr)).AppendTo(b)
	case socksAtypIPv6:
		b = netip.AddrFrom16([16]byte(addr)).AppendTo(b)
	default:
		b = append(b, addr...)
	}
	h := len(b)
	b = strconv.AppendInt(b, int64(port), 10)
	cc.head = b
	cc.req.host, cc.req.port = b[:h], b[h:]
	if port == 0 || !validSocksName(cc.req.host) {
		cc.socksReply(repFailure, nil)
		return stats.ErrBadRequest, "SOCKS5 target " + strconv.Quote(string(b[:h])) + " port " + string(b[h:]) + " is not a host and port"
	}
	return stats.ErrNone, ""
}

// validSocksName reports whether a SOCKS5 domain name can name a host:
// what splitHostPort takes in a CONNECT target, and no colon or brackets,
// which would read as an IPv6 literal.
func validSocksName(host []byte) bool {
	if len(host) == 0 {
		return false
	}
	for _, c := range host {
		if c <= ' ' || c == '/' || c == '\\' || c == '@' || c == 0x7f || c == '[' || c == ']' {
			return false
		}
	}
	if _, err := netip.ParseAddr(string(host)); err == nil {
		return true // an IPv6 literal: the IPv6 address type
	}
	return indexByte(host, ':') < 0
}

// socksLinger ends a refused handshake with a FIN and drops what the
// client still sends for up to overloadLinger. Closing a socket with
// unread bytes (the rest of a malformed request, or data a client sent
// behind its request without waiting for the reply) makes the kernel
// send a reset, which can destroy the reply on its way.
func (cc *clientConn) socksLinger() {
	if cw, ok := cc.conn.(closeWriter); ok && cw.CloseWrite() == nil {
		cc.conn.SetReadDeadline(time.Now().Add(overloadLinger))
		io.Copy(io.Discard, cc.br)
	}
}

// socksReadError names a handshake message that did not arrive whole.
func socksReadError(err error, msg string) (stats.ErrKind, string) {
	if isTimeout(err) {
		return stats.ErrClientTimeout, "SOCKS5 " + msg + " not received within read_header_timeout"
	}
	return stats.ErrBadRequest, "incomplete SOCKS5 " + msg
}

// socksReply answers the request with rep and, when bound is a TCP
// address, it as BND.ADDR and BND.PORT; otherwise 0.0.0.0:0.
func (cc *clientConn) socksReply(rep byte, bound net.Addr) error {
	b := append(cc.out[:0], socksVersion5, rep, 0)
	ap, ok := addrPortOf(bound)
	switch {
	case ok && ap.Addr().Is4():
		b = append(b, socksAtypIPv4)
		b = append(b, ap.Addr().AsSlice()...)
	case ok:
		b = append(b, socksAtypIPv6)
		a16 := ap.Addr().As16()
		b = append(b, a16[:]...)
	default:
		b = append(b, socksAtypIPv4, 0, 0, 0, 0)
	}
	b = append(b, byte(ap.Port()>>8), byte(ap.Port()))
	cc.out = b
	cc.bw.Write(b)
	return cc.bw.Flush()
}

// socksRefuse answers a request the gate refuses with "not allowed by
// ruleset", and records it with the status a CONNECT would have had.
func (cc *clientConn) socksRefuse(cfg *Config, code int, kind stats.ErrKind, reason string) {
	cc.res.status, cc.res.err = code, kind
	cc.socksReply(repNotAllowed, nil)
	cc.s.log.Debug("SOCKS5 refused", "client", cc.conn.RemoteAddr().String(), "reason", reason)
	cc.finish(cfg)
}

// socksFail records a handshake that ended before a tunnel, with the
// status a CONNECT with the same fault would have had.
func (cc *clientConn) socksFail(cfg *Config, kind stats.ErrKind, reason string) {
	code := http.StatusBadRequest
	switch kind {
	case stats.ErrClientTimeout:
		code = http.StatusRequestTimeout
	case stats.ErrAuth:
		code = http.StatusProxyAuthRequired
	case stats.ErrForbidden:
		code = http.StatusForbidden
	case stats.ErrOverload:
		code = http.StatusServiceUnavailable
	case stats.ErrClientAbort:
		code = 0
	}
	cc.res.status, cc.res.err = code, kind
	cc.s.log.Debug("SOCKS5 handshake failed", "client", cc.conn.RemoteAddr().String(), "reason", reason)
	cc.finish(cfg)
}

// socksDialCode maps a failed tunnel dial (see dialTunnel and
// targetError) to the SOCKS5 reply for it. A destination the router
// blocks is "not allowed by ruleset"; a group with every member down is a
// general failure, as is an upstream proxy that answered with an error.
func socksDialCode(err error) byte {
	var destErr *destError
	var portErr *portError
	var dnsErr *net.DNSError
	var refusal *routeRefusal
	switch {
	case errors.As(err, &refusal):
		if refusal.code == http.StatusForbidden {
			return repNotAllowed
		}
		return repFailure
	case errors.As(err, &destErr), errors.As(err, &portErr), errors.Is(err, errLoop):
		return repNotAllowed
	case errors.As(err, &dnsErr):
		return repHostUnreachable
	case isTimeout(err):
		return repTTLExpired
	case isRefused(err):
		return repRefused
	case isNetUnreachable(err):
		return repNetUnreachable
	case isHostUnreachable(err):
		return repHostUnreachable
	}
	return repFailure
}
