package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// How a request goes through an upstream proxy (docs/parents.md). The
// Router decides once per request (route); this file carries it out:
//
//   - a plain HTTP request to an http or https parent is sent to it in
//     absolute form with the parent's Proxy-Authorization, over a conn
//     pooled per parent (viaUpstream, sendRequest);
//   - everything else opens a tunnel to the destination through the
//     parent first (openThrough): CONNECT to an http or https parent,
//     SOCKS5 CONNECT to a socks5 or socks5h one. CONNECT tunnels then
//     splice; an Upgrade, and any request through a SOCKS5 parent, goes
//     over it in origin form as if the tunnel were the origin's own conn,
//     pooled per parent and destination.
//
// Each use of a parent is told to its Report: false when it could not be
// reached, failed its handshake, refused Sluice's credentials or failed
// before any byte of an answer; true with the round trip when it answered.

// routeRefusal is a destination the router does not let through.
type routeRefusal struct {
	code   int
	kind   stats.ErrKind
	reason string
}

func (e *routeRefusal) Error() string { return e.reason }

// route asks cfg.Router how the current request reaches host:port and
// keeps the upstream in cc.res.up (nil: direct). A destination the router
// blocks, or whose group has every member down, comes back as a
// *routeRefusal.
func (cc *clientConn) route(cfg *Config, host, port []byte) error {
	if cfg.Router == nil {
		return nil
	}
	r := cfg.Router.Route(host, port)
	switch {
	case r.Block != "":
		return &routeRefusal{http.StatusForbidden, stats.ErrForbidden, r.Block}
	case r.Down != "":
		cc.res.downGroup = r.Down
		return &routeRefusal{http.StatusBadGateway, stats.ErrRefused, "every upstream of group " + r.Down + " is down"}
	}
	cc.res.up = r.Upstream
	return nil
}

// reroute asks the router again after the upstream in cc.res.up failed
// before the request left Sluice (parentDown): its Report(false) has just
// marked it down, so a group now names another member. It reports
// whether there is another way to try, a different upstream or direct,
// and counts the request against the failed one. Nothing of the request
// reached any origin yet, so any request, with a body or not, may take
// it; it is taken once per request.
func (cc *clientConn) reroute(cfg *Config, host, port []byte) bool {
	failed := cc.res.up
	if cfg.Router == nil || failed == nil {
		return false
	}
	r := cfg.Router.Route(host, port)
	if r.Block != "" || r.Down != "" || r.Upstream == failed {
		return false
	}
	failed.Requests.Add(1)
	cc.res.up = r.Upstream
	return true
}

// refusedByRoute answers a request the router refused. It returns whether
// the client connection may be kept.
func (cc *clientConn) refusedByRoute(err error) bool {
	code, kind, reason := cc.targetError(err)
	keep := cc.keepAlive(true)
	cc.fail(code, kind, reason, keep)
	if !cc.whole {
		cc.drainBody()
	}
	return keep
}

// dialTarget opens a conn to host:port for the current request as
// routed: it asks cfg.Router (again only when an upstream could not be
// reached, see reroute), then dials the destination directly or through
// the upstream. The conn carries the destination's bytes from the first:
// bytes that came with the parent's answer are read first. CONNECT
// tunnels use it, and so can any other inbound protocol that needs a
// stream to host:port; a failure is answered with targetError's status,
// kind and reason.
func (cc *clientConn) dialTarget(cfg *Config, host, port []byte) (net.Conn, error) {
	cc.key = appendKey(cc.key[:0], host, port)
	if err := cc.route(cfg, host, port); err != nil {
		return nil, err
	}
	return cc.dialRouted(cfg, host, port)
}

// dialRouted is dialTarget once route has decided (cc.res.up, and cc.key
// set): a failed upstream proxy gets one reroute.
func (cc *clientConn) dialRouted(cfg *Config, host, port []byte) (net.Conn, error) {
	for rerouted := false; ; rerouted = true {
		conn, err := cc.openTarget(cfg, host, port)
		if err == nil || rerouted || !parentDown(err) || !cc.reroute(cfg, host, port) {
			return conn, err
		}
	}
}

// openTarget is one try of dialTarget along cc.res.up.
func (cc *clientConn) openTarget(cfg *Config, host, port []byte) (net.Conn, error) {
	up := cc.res.up
	if up == nil {
		start := time.Now()
		lookup := cc.s.lookupTimer()
		conn, cached, err := cc.s.dial(cfg, string(cc.key), lookup)
		cc.res.connect = time.Since(start)
		if lookup != nil {
			cc.res.lookup = *lookup
		}
		cc.res.dnsCached = cached
		if err == nil {
			if err = cc.checkReached(cfg, conn); err != nil {
				conn.Close()
				return nil, err
			}
		}
		return conn, err
	}
	conn, br, err := cc.openThrough(cfg, up, host, port)
	if err != nil {
		return nil, err
	}
	if br.Buffered() == 0 {
		putReader(br)
		return conn, nil
	}
	// The destination spoke first (SSH, SMTP) and its bytes came with
	// the parent's answer: they go first.
	return &bufferedConn{Conn: conn, br: br}, nil
}

// forwardsAbsolute reports whether the current request goes to an HTTP
// parent as an absolute-form request (RFC 9112 §3.2.2) rather than over a
// tunnel: every relayed request through an http or https parent but an
// Upgrade, which goes through CONNECT, since a forward proxy need not
// pass upgrades on (squid does not by default) and a tunnel always does.
func (cc *clientConn) forwardsAbsolute() bool {
	up := cc.res.up
	return up != nil && (up.Scheme == "http" || up.Scheme == "https") && !cc.req.mi.wantsUpgrade()
}

// viaUpstream is Server.upstream for a request through cc.res.up: a
// pooled conn to the parent (absolute form) or through it to the
// destination (a tunnel), or a new one.
func (cc *clientConn) viaUpstream(cfg *Config, fresh bool) (*upstreamConn, bool, error) {
	up := cc.res.up
	tunnel := !cc.forwardsAbsolute()
	cc.pkey = appendParentKey(cc.pkey[:0], up, cc.key, tunnel)
	if !fresh && cfg.MaxIdlePerHost > 0 {
		if uc := cc.s.pooled(cc.pkey); uc != nil {
			return uc, true, nil
		}
	}
	// Counted in use from before the dial, as Server.dialPooled does: the
	// pool sizes itself by that count.
	pooled := cfg.MaxIdlePerHost > 0
	if pooled {
		cc.s.pool.reserve(cc.pkey, time.Now())
	}
	conn, err := cc.openParentConn(cfg, up, tunnel)
	if err != nil {
		if pooled {
			cc.s.pool.unreserve(cc.pkey)
		}
		return nil, false, err
	}
	uc := newUpstreamConn(conn, string(cc.pkey), false)
	if tc, ok := conn.(*tls.Conn); ok {
		// Stray bytes show on the TCP conn under TLS just as well.
		uc.probe.init(tc.NetConn())
	}
	if pooled {
		cc.s.pool.dialed(uc)
	}
	return uc, false, nil
}

// openParentConn opens a new conn for viaUpstream: to the parent itself,
// or through it to the destination (tunnel).
func (cc *clientConn) openParentConn(cfg *Config, up *Upstream, tunnel bool) (net.Conn, error) {
	req := &cc.req
	if !tunnel {
		conn, err := cc.s.dialParent(cfg, up)
		if err != nil {
			cc.parentResult(err, 0)
		}
		return conn, err
	}
	conn, br, err := cc.openThrough(cfg, up, req.host, req.port)
	if err != nil {
		return nil, err
	}
	n := br.Buffered()
	putReader(br)
	if n > 0 {
		// HTTP is client-first: bytes before the request are not an
		// answer to it, and would be read as one.
		conn.Close()
		return nil, &parentError{up: up, alive: true, code: http.StatusBadGateway, kind: stats.ErrUpstream,
			reason: parentLabel(up) + ": the destination " + string(cc.key) + " sent bytes before the request"}
	}
	return conn, nil
}

// appendParentKey builds the pool key of a conn through up:
// "scheme://name|user@addr" for a conn to an HTTP parent that carries
// absolute-form requests, with "/host:port" after it for a tunnel through
// the parent to one destination. Origin keys ("host:port") never hold a
// '/', so the kinds never share a list; the name and user keep conns
// opened under one identity from serving another.
func appendParentKey(b []byte, up *Upstream, dest []byte, tunnel bool) []byte {
	b = append(b, up.Scheme...)
	b = append(b, "://"...)
	b = append(b, up.Name...)
	b = append(b, '|')
	b = append(b, up.Username...)
	b = append(b, '@')
	b = append(b, up.Addr...)
	if tunnel {
		b = append(b, '/')
		b = append(b, dest...)
	}
	return b
}

// pooled returns a clean idle conn for key, or nil (see Server.upstream).
func (s *Server) pooled(key []byte) *upstreamConn {
	now := time.Now()
	for uc := s.pool.get(key, now); uc != nil; uc = s.pool.get(key, now) {
		if connAlive(uc) {
			return uc
		}
		uc.close()
	}
	return nil
}

// dialParent connects to up within connect_timeout, over TLS verified
// against cfg.UpstreamRootCAs for an https parent. A failure is a
// *parentError; the caller reports it.
func (s *Server) dialParent(cfg *Config, up *Upstream) (net.Conn, error) {
	switch up.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		// The router's config check should have refused it.
		return nil, &parentError{up: up, code: http.StatusBadGateway, kind: stats.ErrUpstream,
			reason: parentLabel(up) + ": scheme " + strconv.Quote(up.Scheme) + " is not http, https, socks5 or socks5h"}
	}
	conn, _, err := s.dial(cfg, up.Addr, nil)
	if err != nil {
		return nil, unreachable(up, "", err)
	}
	if up.Scheme != "https" {
		return conn, nil
	}
	host, _, _ := net.SplitHostPort(up.Addr)
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: cfg.UpstreamRootCAs, NextProtos: []string{"http/1.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, unreachable(up, "TLS handshake", err)
	}
	return tc, nil
}

// openThrough dials up and opens a tunnel through it to host:port (cc.key
// names it): CONNECT for an http or https parent, SOCKS5 CONNECT for the
// others. It returns the conn and the reader that read the parent's
// answer, which may hold the destination's first bytes. The outcome is
// told to up (parentResult).
func (cc *clientConn) openThrough(cfg *Config, up *Upstream, host, port []byte) (net.Conn, *bufio.Reader, error) {
	var ip netip.Addr // the address a SOCKS5 parent is asked for
	if up.Scheme == "socks5" || up.Scheme == "socks5h" {
		var err error
		if ip, err = cc.socksAddr(cfg, up, host); err != nil {
			return nil, nil, err
		}
	}
	began := time.Now()
	conn, err := cc.s.dialParent(cfg, up)
	if err != nil {
		cc.parentResult(err, 0)
		return nil, nil, err
	}
	br := newReader(conn)
	conn.SetDeadline(began.Add(cfg.ConnectTimeout + cfg.ResponseHeaderTimeout))
	switch up.Scheme {
	case "http", "https":
		err = cc.httpConnect(cfg, conn, br, up)
	default:
		err = cc.socksConnect(conn, br, up, host, ip, port)
	}
	conn.SetDeadline(time.Time{})
	cc.parentResult(err, time.Since(began))
	if err != nil {
		putReader(br)
		conn.Close()
		return nil, nil, err
	}
	return conn, br, nil
}

// httpConnect asks an HTTP parent for a tunnel to cc.key (RFC 9110
// §9.3.6) and reads its answer: any 2xx opens the tunnel.
func (cc *clientConn) httpConnect(cfg *Config, conn net.Conn, br *bufio.Reader, up *Upstream) error {
	b := append(cc.out[:0], "CONNECT "...)
	b = append(b, cc.key...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, cc.key...)
	b = append(b, "\r\n"...)
	if up.ProxyAuthorization != "" {
		b = append(b, "Proxy-Authorization: "...)
		b = append(b, up.ProxyAuthorization...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	if _, err := conn.Write(b); err != nil {
		return unreachable(up, "CONNECT", err)
	}
	head, err := readHead(br, cc.rhead, cfg.MaxHeaderBytes)
	cc.rhead = head
	if err != nil {
		return unreachable(up, "CONNECT", noAnswer(err))
	}
	resp := &cc.resp
	if err := resp.parse(head); err != nil {
		return unreachable(up, "CONNECT", err)
	}
	switch {
	case resp.code >= 200 && resp.code < 300:
		return nil
	case resp.code == http.StatusProxyAuthRequired:
		return credentialsRefused(up)
	}
	kind := stats.ErrRefused
	if resp.code == http.StatusForbidden {
		kind = stats.ErrForbidden
	}
	return &parentError{up: up, alive: true, code: http.StatusBadGateway, kind: kind,
		reason: parentLabel(up) + " answered CONNECT " + string(cc.key) + " with " + strconv.Itoa(resp.code) + " " + string(resp.reason)}
}

// noAnswer names a parent that closed before a complete answer, which
// describe would call the response's.
func noAnswer(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("connection closed before an answer")
	}
	return err
}

// socksAddr is the address a SOCKS5 parent is asked to connect to: host
// itself when it is an IP literal; for socks5, the address Sluice
// resolves host to, which a client on another machine may not reach when
// it leads here (as checkReached for a direct dial); for socks5h, none:
// the name goes to the parent, which resolves it.
func (cc *clientConn) socksAddr(cfg *Config, up *Upstream, host []byte) (netip.Addr, error) {
	if a, err := netip.ParseAddr(string(host)); err == nil {
		return a.Unmap(), nil
	}
	if up.Scheme == "socks5h" {
		return netip.Addr{}, nil
	}
	ip, err := cc.resolve(cfg, host)
	if err != nil {
		return netip.Addr{}, err
	}
	if !cc.loopback {
		if what := cfg.gate.forbiddenDest(ip); what != "" {
			return netip.Addr{}, &destError{string(cc.key) + " (" + ip.String() + ")", what}
		}
	}
	return ip, nil
}

// socksConnect asks a SOCKS5 parent for a tunnel to host:port, by ip
// when it is valid, else by name.
func (cc *clientConn) socksConnect(conn net.Conn, br *bufio.Reader, up *Upstream, host []byte, ip netip.Addr, port []byte) error {
	write := func(b []byte) error {
		_, err := conn.Write(b)
		return err
	}
	err := socksConnect(write, br, cc.out[:0], up.Username, up.Password, host, ip, uint16(parseDecimal(port)))
	var re *socksReplyError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errSocksAuth):
		return credentialsRefused(up)
	case errors.As(err, &re):
		code, kind := http.StatusBadGateway, stats.ErrRefused
		switch re.code {
		case 2:
			kind = stats.ErrForbidden
		case 6:
			code, kind = http.StatusGatewayTimeout, stats.ErrConnectTimeout
		}
		return &parentError{up: up, alive: true, code: code, kind: kind, err: err,
			reason: parentLabel(up) + ": " + string(cc.key) + ": " + re.Error()}
	}
	return unreachable(up, "SOCKS5", noAnswer(err))
}

// resolve looks up host for a socks5 parent, through cfg.Resolve. Its
// failure is the destination's, answered as a direct dial's would be.
func (cc *clientConn) resolve(cfg *Config, host []byte) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
	defer cancel()
	var addrs []netip.Addr
	var err error
	if cfg.Resolve != nil {
		addrs, cc.res.dnsCached, err = cfg.Resolve(ctx, string(host))
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", string(host))
	}
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no address", Name: string(host), IsNotFound: true}
	}
	if err != nil {
		return netip.Addr{}, err
	}
	return addrs[0].Unmap(), nil
}

// parentError is a request an upstream proxy could not carry, with the
// answer the client gets. alive is false when the parent itself failed:
// it could not be reached, failed its handshake or refused Sluice's
// credentials; a group marks it down. It is true when the parent worked
// and refused the destination, or the destination refused it.
type parentError struct {
	up     *Upstream
	alive  bool
	code   int
	kind   stats.ErrKind
	reason string
	err    error
}

func (e *parentError) Error() string { return e.reason }
func (e *parentError) Unwrap() error { return e.err }

// parentLabel names an upstream proxy in reasons.
func parentLabel(up *Upstream) string {
	return "upstream proxy " + up.Name + " (" + up.Addr + ")"
}

// unreachable describes a failure to reach up, or of a handshake with it
// (stage names which, "" for the dial).
func unreachable(up *Upstream, stage string, err error) *parentError {
	e := &parentError{up: up, err: err, code: http.StatusBadGateway, kind: stats.ErrUpstream}
	var dnsErr *net.DNSError
	var detail string
	switch {
	case errors.Is(err, errLoop):
		e.code, e.kind, detail = http.StatusLoopDetected, stats.ErrLoop, "its address is Sluice itself"
	case errors.As(err, &dnsErr):
		e.kind, detail = stats.ErrDNS, "cannot resolve "+dnsErr.Name+": "+dnsErr.Err
	case isTimeout(err) && stage == "":
		e.code, e.kind, detail = http.StatusGatewayTimeout, stats.ErrConnectTimeout, "connecting timed out (connect_timeout)"
	case isTimeout(err):
		e.code, e.kind, detail = http.StatusGatewayTimeout, stats.ErrUpstreamTimeout, "no answer within connect_timeout + response_header_timeout"
	case isRefused(err):
		e.kind, detail = stats.ErrRefused, "connection refused"
	default:
		detail = describe(err)
	}
	if stage != "" {
		detail = stage + ": " + detail
	}
	e.reason = parentLabel(up) + ": " + detail
	return e
}

// credentialsRefused is a parent that answered 407, or refused the
// SOCKS5 user and password.
func credentialsRefused(up *Upstream) *parentError {
	what := "refused Sluice's credentials (407 Proxy Authentication Required)"
	switch {
	case up.Scheme == "socks5" || up.Scheme == "socks5h":
		what = "refused Sluice's user and password (SOCKS5, RFC 1929)"
	case up.ProxyAuthorization == "":
		what = "asks for credentials (407 Proxy Authentication Required)"
	}
	return &parentError{up: up, code: http.StatusBadGateway, kind: stats.ErrUpstream,
		reason: parentLabel(up) + " " + what + ": check the user and password in its url"}
}

// parentDown reports whether err says the upstream proxy itself failed.
func parentDown(err error) bool {
	var pe *parentError
	return errors.As(err, &pe) && !pe.alive
}

// parentResult tells the parent in cc.res.up how a handshake or a
// request through it went: err nil or a refusal of the destination is an
// answer (ok, rtt), a failure of the parent counts as its error. Errors
// that are not the parent's (a name Sluice could not resolve for a
// socks5 parent) are not told.
func (cc *clientConn) parentResult(err error, rtt time.Duration) {
	up := cc.res.up
	var pe *parentError
	switch {
	case err == nil:
		report(up, true, rtt)
	case !errors.As(err, &pe):
	case pe.alive:
		report(up, true, rtt)
	default:
		up.Errors.Add(1)
		report(up, false, 0)
	}
}

// upstreamFailed tells an HTTP parent that an absolute-form request
// through it failed after it was sent: nothing, or a broken answer, came
// back, where a working parent answers even for an origin it cannot
// reach. Failures of the client's own body are not the parent's, nor is
// a failure over a tunnel, which is the destination's.
func (cc *clientConn) upstreamFailed(err error) {
	var ce chunkError
	if !cc.forwardsAbsolute() || errors.Is(err, errClientBody) || errors.Is(err, errBodyTooLarge) || errors.As(err, &ce) {
		return
	}
	cc.res.up.Errors.Add(1)
	report(cc.res.up, false, 0)
}

func report(up *Upstream, ok bool, rtt time.Duration) {
	if up.Report != nil {
		up.Report(ok, rtt)
	}
}

// targetError turns a failure of dialTarget, or of a request's dial, into
// the client's answer: a status, an error kind and a one-line reason that
// names the upstream proxy when there was one.
func (cc *clientConn) targetError(err error) (int, stats.ErrKind, string) {
	var rr *routeRefusal
	var pe *parentError
	switch {
	case errors.As(err, &rr):
		return rr.code, rr.kind, rr.reason
	case errors.As(err, &pe):
		return pe.code, pe.kind, pe.reason
	}
	return classifyDialError(err, string(cc.key))
}

// upstreamLabel names the next hop in reasons: "upstream example.com:80"
// when direct, "upstream proxy corp (127.0.0.1:3128)" through a parent.
func (cc *clientConn) upstreamLabel() string {
	if up := cc.res.up; up != nil {
		return parentLabel(up)
	}
	return "upstream " + string(cc.key)
}

// parentAnswer checks the answer an HTTP parent gave to an absolute-form
// request: a 407 is the parent refusing Sluice's credentials, not the
// origin's answer, and the client cannot fix it (its own
// Proxy-Authorization is for Sluice). Otherwise the parent answered:
// its round trip since began is reported. ok false means the request was
// answered with a 502 and uc closed.
func (cc *clientConn) parentAnswer(uc *upstreamConn, began time.Time) bool {
	if cc.resp.code == http.StatusProxyAuthRequired {
		uc.close()
		err := credentialsRefused(cc.res.up)
		cc.parentResult(err, 0)
		keep := cc.keepAlive(true)
		cc.fail(err.code, err.kind, err.reason, keep)
		return false
	}
	report(cc.res.up, true, time.Since(began))
	return true
}
