package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Who may use Sluice ([access] in config.toml). A client's address must be
// in the allowed ranges before its request is even parsed. A proxied
// request or tunnel must then be within its client's rate limit and carry
// a user's credentials when users are set. And a client on another
// machine may not reach this machine's own services through the proxy:
// loopback, link-local and this host's addresses are refused to it before
// dialing (addresses written in the request) and after (the address the
// dial reached, whatever name led there), the way loop.go checks for
// loops. Local endpoints have their own rule (local.go).

// ClientPolicy says who may use the proxy. Its zero value serves loopback
// clients only, asks no credentials and sets no rate limit.
type ClientPolicy struct {
	// Allow lists the client address ranges served. Empty means loopback
	// only (127.0.0.0/8 and ::1/128). A client outside gets 403 for an
	// HTTP request and a closed connection for anything else. IPv4
	// clients of a dual-stack listener match IPv4 ranges.
	Allow []netip.Prefix

	// Users maps user names to bcrypt hashes of their passwords. When not
	// empty, every proxied request and tunnel needs Proxy-Authorization
	// Basic credentials of one of them, or gets 407. Local endpoints do
	// not ask (they serve loopback clients only).
	Users map[string]string

	// RateLimit is the requests per second each client address may make,
	// in bursts of up to max(1, RateLimit); past it, 429. Zero means no
	// limit; at most MaxRateLimit.
	RateLimit float64
}

// MaxRateLimit bounds ClientPolicy.RateLimit, so its burst fits an int.
const MaxRateLimit = 1e6

// gate is a ClientPolicy ready for use. One is built per Config (New,
// Update), so a reload drops the verified credentials and the rate
// buckets along with the settings they came from.
type gate struct {
	allow  []netip.Prefix // nil: loopback only
	users  map[string][]byte
	auth   *authCache  // nil without users
	rates  *rateLimits // nil without a rate limit
	hostIP hostAddrs
}

func newGate(p ClientPolicy) (*gate, error) {
	g := &gate{}
	for _, pfx := range p.Allow {
		if !pfx.IsValid() {
			return nil, errors.New("allow: an invalid address range")
		}
		// Client addresses are unmapped (addrPortOf), so ranges are too.
		if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		g.allow = append(g.allow, pfx.Masked())
	}
	if len(p.Users) > 0 {
		g.users = make(map[string][]byte, len(p.Users))
		for name, hash := range p.Users {
			if err := CheckPasswordHash(hash); err != nil {
				return nil, fmt.Errorf("user %q: %w", name, err)
			}
			g.users[name] = []byte(hash)
		}
		g.auth = newAuthCache()
	}
	switch r := p.RateLimit; {
	case !(r >= 0 && r <= MaxRateLimit):
		return nil, fmt.Errorf("rate limit %v is not from 0 to %v", r, float64(MaxRateLimit))
	case r > 0:
		g.rates = newRateLimits(r)
	}
	return g, nil
}

// CheckPasswordHash reports whether hash is a bcrypt hash, as
// ClientPolicy.Users needs.
func CheckPasswordHash(hash string) error {
	// Every bcrypt hash is 60 characters: "$2a$", the cost, "$", 22 of
	// salt and 31 of hash.
	if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
		return errors.New("not a bcrypt hash (make one with: sluice access hash-password)")
	}
	return nil
}

// allows reports whether a client at addr may use the proxy.
func (g *gate) allows(addr netip.Addr) bool {
	if g.allow == nil {
		return addr.IsLoopback()
	}
	addr = addr.WithZone("") // a zoned address matches no prefix
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refuseOutsider answers a client whose address is not allowed: 403 for
// an HTTP request; for anything else (a port scan, TLS, another
// protocol) the connection just closes, with nothing to tell a stranger.
func (cc *clientConn) refuseOutsider(cfg *Config) {
	head, err := readHead(cc.br, cc.head, cfg.MaxHeaderBytes)
	cc.head = head
	if err != nil || cc.req.parse(head) != nil {
		return
	}
	cc.fail(http.StatusForbidden, stats.ErrForbidden, "clients at "+cc.addr.String()+" may not use this proxy (they are not in [access] allow)", false)
	cc.finish(cfg)
	if cc.req.hasBody() {
		cc.drainBody() // so the 403 is not lost to a reset (see lingerTime)
		cc.lingerClose()
	}
}

// admit applies the policy to a proxied request or tunnel before anything
// is dialed (see check). A refused request is answered here; admit then
// returns false, and whether the client connection may be kept.
func (cc *clientConn) admit(cfg *Config) (ok, keep bool) {
	if r := cc.check(cfg, cc.req.host, cc.req.fields, false); r != nil {
		return cc.refuse(r.code, r.kind, r.reason, r.fields)
	}
	return true, false
}

// check applies the policy to a request or tunnel to host before anything
// is dialed: the client's rate, its credentials (Proxy-Authorization among
// fields, unless authed says they passed already, as a SOCKS5 client's do
// at its greeting) and, for a client on another machine, a target written
// as an address it may not reach. It returns nil when the request may go
// on.
func (cc *clientConn) check(cfg *Config, host []byte, fields []field, authed bool) *refusal {
	g := cfg.gate
	if g.rates != nil {
		if wait, ok := g.rates.take(cc.addr, cc.started); !ok {
			secs := max(1, int64(math.Ceil(wait.Seconds())))
			return &refusal{http.StatusTooManyRequests, stats.ErrRateLimited,
				fmt.Sprintf("more than %v requests a second from %v ([access] rate_limit)", float64(g.rates.limit), cc.addr),
				"Retry-After: " + strconv.FormatInt(secs, 10) + "\r\n"}
		}
	}
	if g.users != nil && !authed {
		if r := g.authorize(fields); r != nil {
			return r
		}
	}
	if !cc.loopback {
		if err := g.forbiddenTarget(host); err != nil {
			return &refusal{http.StatusForbidden, stats.ErrForbidden, err.Error(), ""}
		}
	}
	return nil
}

// refuse answers the current request with an error that leaves a bodiless
// request's connection usable; a request body is drained meanwhile (see
// drainBody) and its connection closes.
func (cc *clientConn) refuse(code int, kind stats.ErrKind, reason, fields string) (ok, keep bool) {
	keep = cc.keepAlive(true)
	cc.failWith(code, kind, reason, keep, fields)
	if !cc.whole {
		cc.drainBody()
	}
	return false, keep
}

// refusal is an answer to credentials that do not pass.
type refusal struct {
	code   int
	kind   stats.ErrKind
	reason string
	fields string
}

// challenge asks for Basic credentials (RFC 9110 §11.7.1, RFC 7617).
const challenge = "Proxy-Authenticate: Basic realm=\"Sluice\", charset=\"UTF-8\"\r\n"

var (
	refuseNoCredentials = &refusal{http.StatusProxyAuthRequired, stats.ErrAuth,
		"proxy authentication required: send Proxy-Authorization Basic credentials of a user in [access.users]", challenge}
	refuseNotBasic = &refusal{http.StatusProxyAuthRequired, stats.ErrAuth,
		"Proxy-Authorization must use the Basic scheme", challenge}
	refuseWrongCredentials = &refusal{http.StatusProxyAuthRequired, stats.ErrAuth,
		"wrong user name or password", challenge}
	refuseTwoCredentials = &refusal{http.StatusBadRequest, stats.ErrBadRequest,
		"more than one Proxy-Authorization field", ""}
	refuseAuthBusy = &refusal{http.StatusServiceUnavailable, stats.ErrOverload,
		"too many password checks at once; try again in a second", "Retry-After: 1\r\n"}
)

// authorize checks a request's Proxy-Authorization against the users. It
// returns nil when the credentials pass.
func (g *gate) authorize(fields []field) *refusal {
	var cred []byte
	n := 0
	for i := range fields {
		if fieldIs(fields[i].name, "proxy-authorization") {
			cred = fields[i].value
			n++
		}
	}
	switch {
	case n == 0:
		return refuseNoCredentials
	case n > 1:
		return refuseTwoCredentials
	}
	return g.checkCredentials(cred)
}

// checkCredentials checks a Proxy-Authorization value, from the cache
// when it passed before. It returns nil when the credentials pass.
func (g *gate) checkCredentials(cred []byte) *refusal {
	key := sha256.Sum256(cred)
	if g.auth.has(key) {
		return nil
	}
	if r := g.verify(cred); r != nil {
		return r
	}
	g.auth.add(key)
	return nil
}

// maxCredentials bounds decoded Basic credentials. bcrypt reads at most
// 72 bytes of a password, so anything longer is no user's.
const maxCredentials = 512

// verify decodes Basic credentials and checks the password with bcrypt,
// the slow part that authorize caches.
func (g *gate) verify(cred []byte) *refusal {
	const scheme = "basic "
	if len(cred) < len(scheme) || !bytes.EqualFold(cred[:len(scheme)], []byte(scheme)) {
		return refuseNotBasic
	}
	b64 := trimOWS(cred[len(scheme):])
	var buf [maxCredentials]byte
	if base64.StdEncoding.DecodedLen(len(b64)) > len(buf) {
		return refuseWrongCredentials
	}
	n, err := base64.StdEncoding.Decode(buf[:], b64)
	if err != nil {
		return refuseWrongCredentials
	}
	user, pass, ok := bytes.Cut(buf[:n], []byte(":"))
	if !ok {
		return refuseWrongCredentials
	}
	hash, known := g.users[string(user)]
	if !known {
		// An unknown name costs the same check as a wrong password, so
		// timing does not tell which names exist.
		for _, h := range g.users {
			hash = h
			break
		}
	}
	if !g.auth.acquire() {
		return refuseAuthBusy
	}
	err = bcrypt.CompareHashAndPassword(hash, pass)
	g.auth.release()
	if err != nil || !known {
		return refuseWrongCredentials
	}
	return nil
}

// authCache remembers credentials that passed bcrypt, by a SHA-256 of the
// Proxy-Authorization value, so a client pays the ~50 ms check once and
// not per request; and it bounds the checks running at once, so a flood
// of wrong passwords cannot take every core from the relay.
type authCache struct {
	mu       sync.Mutex
	verified map[[sha256.Size]byte]struct{} // guarded by mu
	slots    chan struct{}                  // one per bcrypt check running
}

const (
	// maxVerified bounds the cached credentials; past it, an arbitrary
	// one is forgotten (its client pays one more check).
	maxVerified = 1024
	// authWait bounds the wait for a free bcrypt slot; past it, 503.
	authWait = 2 * time.Second
)

func newAuthCache() *authCache {
	return &authCache{
		verified: make(map[[sha256.Size]byte]struct{}),
		slots:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
}

func (c *authCache) has(key [sha256.Size]byte) bool {
	c.mu.Lock()
	_, ok := c.verified[key]
	c.mu.Unlock()
	return ok
}

func (c *authCache) add(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verified) >= maxVerified {
		for k := range c.verified {
			delete(c.verified, k)
			break
		}
	}
	c.verified[key] = struct{}{}
}

// acquire takes a bcrypt slot, waiting up to authWait for one.
func (c *authCache) acquire() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(authWait)
	defer t.Stop()
	select {
	case c.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (c *authCache) release() { <-c.slots }

// rateLimits keeps a token bucket per client address.
type rateLimits struct {
	limit rate.Limit
	burst int
	// idle is how long an unused bucket takes to fill up again; one
	// unused that long is forgotten, which changes nothing, since a new
	// bucket starts full.
	idle time.Duration

	mu      sync.Mutex
	clients map[netip.Addr]*rate.Limiter // guarded by mu
	used    map[netip.Addr]time.Time     // last use per client; guarded by mu
	swept   time.Time                    // guarded by mu
}

// maxRateClients bounds the addresses tracked at once. Past it an
// arbitrary one is forgotten: its client may then send one more burst,
// while memory stays bounded when many addresses (an IPv6 range) are
// used at once.
const maxRateClients = 10000

func newRateLimits(r float64) *rateLimits {
	burst := max(1, int(r))
	return &rateLimits{
		limit:   rate.Limit(r),
		burst:   burst,
		idle:    max(time.Second, time.Duration(float64(burst)/r*float64(time.Second))),
		clients: make(map[netip.Addr]*rate.Limiter),
		used:    make(map[netip.Addr]time.Time),
	}
}

// take spends one token of addr's bucket at now. When there is none, it
// returns false and how long until there is.
func (r *rateLimits) take(addr netip.Addr, now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.swept) >= r.idle {
		r.sweep(now)
	}
	lim := r.clients[addr]
	if lim == nil {
		if len(r.clients) >= maxRateClients {
			for a := range r.clients {
				delete(r.clients, a)
				delete(r.used, a)
				break
			}
		}
		lim = rate.NewLimiter(r.limit, r.burst)
		r.clients[addr] = lim
	}
	r.used[addr] = now
	if lim.AllowN(now, 1) {
		return 0, true
	}
	need := 1 - lim.TokensAt(now)
	return time.Duration(need / float64(r.limit) * float64(time.Second)), false
}

// sweep forgets the buckets unused for idle; mu is held.
func (r *rateLimits) sweep(now time.Time) {
	r.swept = now
	for a, t := range r.used {
		if now.Sub(t) >= r.idle {
			delete(r.clients, a)
			delete(r.used, a)
		}
	}
}

// destError is a target that a client on another machine may not reach.
type destError struct {
	target string // as written, or "name (address reached)"
	what   string // "a loopback address"
}

func (e *destError) Error() string {
	return e.target + " is " + e.what + ", which clients on other machines may not reach through Sluice"
}

// forbiddenDest says what ip is when a client on another machine may not
// reach it, or "" when it may. These addresses lead to this machine or
// its own link: through Sluice such a client would get past the host's
// firewall to services meant for this machine only.
func (g *gate) forbiddenDest(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsUnspecified(), ip.Is4() && ip.As4()[0] == 0:
		// 0.0.0.0/8 means "this host" (RFC 1122 §3.2.1.3).
		return "an unspecified address"
	case g.hostIP.has(ip):
		return "an address of the machine Sluice runs on"
	}
	return ""
}

// forbiddenTarget is the check before dialing, on the host as the request
// wrote it: loopback names and address literals. Other names are checked
// after the dial (checkReached).
func (g *gate) forbiddenTarget(host []byte) error {
	if isLocalhostName(host) {
		return &destError{string(host), "a loopback name"}
	}
	ip, err := netip.ParseAddr(string(host))
	if err != nil {
		return nil
	}
	if what := g.forbiddenDest(ip); what != "" {
		return &destError{ip.String(), what}
	}
	return nil
}

// checkReached is the check after dialing: the address the upstream
// connection c actually reached, for a client on another machine. A
// connection that is not TCP (a custom DialFunc) has no address to check.
func (cc *clientConn) checkReached(cfg *Config, c net.Conn) error {
	if cc.loopback {
		return nil
	}
	ap, ok := addrPortOf(c.RemoteAddr())
	if !ok {
		return nil
	}
	if what := cfg.gate.forbiddenDest(ap.Addr()); what != "" {
		return &destError{string(cc.key) + " (" + ap.Addr().String() + ")", what}
	}
	return nil
}

// hostAddrs caches this host's interface addresses for forbiddenDest.
type hostAddrs struct {
	mu  sync.Mutex
	ips map[netip.Addr]struct{} // guarded by mu
	at  time.Time               // when ips was read; guarded by mu
}

// hostAddrsTTL is how long the interface addresses are trusted: they
// change with DHCP or a new network, and reading them per request from a
// remote client would cost a netlink dump each time.
const hostAddrsTTL = 10 * time.Second

func (h *hostAddrs) has(ip netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := time.Now(); h.ips == nil || now.Sub(h.at) >= hostAddrsTTL {
		h.ips, h.at = interfaceIPs(), now
	}
	_, ok := h.ips[ip]
	return ok
}
