package proxy

import (
	"sync/atomic"
	"time"
)

// Router decides how each request and tunnel leaves Sluice: straight to
// its origin, through an upstream proxy, or not at all. The rules, groups
// and health checks that make the decision live in package route; the
// relay only carries it out. Config.Router nil means every destination
// is reached directly.
type Router interface {
	// Route returns the way to host:port (host without brackets, as the
	// client named it, port in decimal). It is called once per request
	// on the hot path: it must not block, do I/O or allocate.
	Route(host, port []byte) Route
}

// Route is one routing decision.
type Route struct {
	// Upstream is the proxy to go through; nil means direct (unless
	// Block or Down is set).
	Upstream *Upstream
	// Block, when not empty, refuses the request: HTTP gets 403 and
	// CONNECT is refused with 403, with this one-line reason.
	Block string
	// Down, when not empty, names a group all of whose members are down:
	// the request gets 502 naming it.
	Down string
	// Rule is the index of the matched rule, -1 for the default action or
	// global mode, for per-rule hit counts and `route test`.
	Rule int
}

// Upstream is a parent proxy the relay can go through. A Router hands out
// the same *Upstream for every request that uses it (and a new one after a
// config reload), so the relay keys its pool and counters by it.
type Upstream struct {
	// Name is the upstream's name from the config, named in errors and
	// in Proxy-Status's next-hop (RFC 9209).
	Name string
	// Scheme is "http", "https" (TLS to the proxy), "socks5" (names
	// resolved by Sluice) or "socks5h" (names resolved by the parent).
	Scheme string
	// Addr is the parent's "host:port".
	Addr string
	// Username and Password are the credentials for the parent (Basic
	// for http and https parents, RFC 1929 for SOCKS5); empty for none.
	Username, Password string
	// ProxyAuthorization is the precomputed Proxy-Authorization field
	// value ("Basic ...") for http and https parents, "" for none.
	ProxyAuthorization string

	// Report, if set, hears the outcome of each real request or tunnel
	// through this upstream: ok false when the parent could not be
	// reached or failed before answering, so a group marks it down at
	// once and rechecks it. It must not block.
	Report func(ok bool, rtt time.Duration)

	// Counters the relay keeps for /stats and /metrics: Requests counts
	// the requests and tunnels that went through it or tried to, Errors
	// those it failed itself (each Report(false)), BytesIn the body (or
	// tunnel) bytes from clients through it and BytesOut those back to
	// clients, as AccessRecord counts them.
	Requests, Errors, BytesIn, BytesOut atomic.Int64
}
