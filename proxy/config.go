package proxy

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluiceproxy/sluice/cache"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// DialFunc opens a TCP connection to address ("host:port"). dnsCached
// reports whether the name was answered from a DNS cache, for the access
// log. The returned conn should be a *net.TCPConn so that tunnels and large
// bodies can use the kernel's splice path.
type DialFunc func(ctx context.Context, network, address string) (c net.Conn, dnsCached bool, err error)

// AccessLogger receives one record per finished request or tunnel. LogAccess
// is called on the request path: it must not block (hand the record to a
// queue and return) and must not keep rec after it returns.
type AccessLogger interface {
	LogAccess(rec *AccessRecord)
}

// AccessIdler is an AccessLogger that is at times not listening: while
// Idle reports true, no record is built for it, so a sink that wants
// records only now and then (the dashboard's feed, while a page watches)
// costs the relay nothing otherwise. Idle is called per request: one
// atomic load, no more.
type AccessIdler interface {
	AccessLogger
	Idle() bool
}

// AccessRecord describes one finished request or tunnel.
type AccessRecord struct {
	// Time is when the request head started to arrive.
	Time time.Time
	// Client is the client's address ("ip:port").
	Client string
	// Method is the request method; "CONNECT" for tunnels, "SOCKS5" for
	// SOCKS5 tunnels.
	Method string
	// Scheme is "http" for relayed requests, "https" for inspected
	// exchanges, "" for tunnels.
	Scheme string
	// Host and Port name the upstream.
	Host string
	Port string
	// Path is the request path, with the query only if Config.LogQuery.
	Path string
	// Status is the status code sent to the client; 0 if none was sent.
	// For SOCKS5, which has no status codes, it is the one an HTTP
	// CONNECT with the same outcome gets (200 for an open tunnel).
	Status int
	// BytesIn and BytesOut count body bytes from and to the client (for
	// tunnels: all bytes each way).
	BytesIn, BytesOut int64
	// Duration and TTFB are as in stats.Sample.
	Duration, TTFB time.Duration
	// Reused reports whether the upstream connection came from the pool.
	Reused bool
	// DNSCached reports whether the upstream name came from the DNS cache.
	DNSCached bool
	// Tunnel is true for CONNECT and Upgrade tunnels.
	Tunnel bool
	// Inspected is true for a CONNECT tunnel the Inspector decrypted and
	// for each exchange in it (Scheme "https").
	Inspected bool
	// ClientProto and UpstreamProto are an inspected exchange's protocol
	// on each leg: "HTTP/1.1" or "HTTP/2.0"; UpstreamProto is "" when no
	// response came from the origin.
	ClientProto, UpstreamProto string
	// Err is why the request failed; stats.ErrNone if it did not.
	Err stats.ErrKind
	// Upstream names the upstream proxy the request or tunnel went
	// through (Upstream.Name); "" when it went direct.
	Upstream string

	// Connect is how long dialing the upstream took, its DNS lookup
	// included; 0 when the connection came from the pool. DNS is the
	// lookup alone, set only while Server.CaptureHeads is on and when
	// Config.Dial reports it (through an httptrace.ClientTrace in its
	// context, as Sluice's resolver and Go's do).
	Connect, DNS time.Duration
	// RequestHead is the request head as the client sent it, and
	// ResponseHead the response head as Sluice sent it to the client
	// (after hop-by-hop fields went and Via came), for relayed HTTP
	// exchanges, a WebSocket's handshake included. Both are set only
	// while Server.CaptureHeads is on (a dashboard watches, or a HAR
	// capture runs) and are
	// nil otherwise, for CONNECT, and for Sluice's own error answers (Status and Err say
	// what those were). They alias the connection's buffers: valid only
	// during LogAccess, so a sink that keeps them copies them.
	RequestHead, ResponseHead []byte
	// CacheStatus is the Cache-Status the answer carried (RFC 9211,
	// "Sluice; hit"); "" when the response cache had no part in it.
	CacheStatus string
}

// Config is the proxy's configuration. The zero value of each field means
// its documented default, so Config{} is a working proxy on the default
// address.
type Config struct {
	// Listen is the address to listen on. Default "127.0.0.1:8877".
	Listen string

	// ConnectPorts lists the ports CONNECT may reach. Empty allows all.
	ConnectPorts []int

	// NoSOCKS turns off SOCKS5 on the listener (socks.go): a connection
	// whose first byte is 5 then reads as a malformed HTTP request.
	NoSOCKS bool

	// NoVia turns off the Via header added to requests and responses.
	NoVia bool

	// MaxIdlePerHost bounds the idle upstream connections kept per
	// host:port. Zero means 64; negative is refused.
	MaxIdlePerHost int

	// NoPool turns upstream connection pooling off: every request dials
	// and its upstream connection closes after the response.
	NoPool bool

	// IdleConnTimeout closes pooled upstream connections idle this long.
	// Zero means 90s.
	IdleConnTimeout time.Duration

	// ConnectTimeout bounds dialing an upstream. Zero means 10s.
	ConnectTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the upstream's response
	// head after the request was sent. Zero means 60s.
	ResponseHeaderTimeout time.Duration

	// MaxHeaderBytes bounds a request head (request line and headers).
	// Zero means 64 KiB. Larger heads get 431. Under 512 is refused, as
	// no real request line and Host fit; the app's own bounds are in its
	// key table (app/keys.go).
	MaxHeaderBytes int

	// MaxConcurrent bounds simultaneous client connections. Zero means
	// 2048. A connection over the limit waits up to OverloadWait for a
	// slot, then gets 503.
	MaxConcurrent int

	// OverloadWait is how long a connection over MaxConcurrent waits for
	// a slot before it gets 503. Zero means 100ms.
	OverloadWait time.Duration

	// MaxBodyBytes bounds a request body; larger ones get 413. Zero means
	// no limit.
	MaxBodyBytes int64

	// ReadHeaderTimeout bounds reading a request head, against slow
	// clients: a connection's first head from when it was accepted, a
	// later one from its first byte. Zero means 10s.
	ReadHeaderTimeout time.Duration

	// ClientIdleTimeout closes kept-alive client connections that send no
	// new request for this long after their last answer. Zero means 120s.
	ClientIdleTimeout time.Duration

	// BodyTimeout bounds every silence while a body moves: reading a
	// request body from the client or writing it to the upstream,
	// reading a response body from the upstream, and writing anything
	// to the client. When one side moves no byte for this long, both
	// connections close and the access record says which side stalled
	// (stats.ErrClientTimeout or stats.ErrUpstreamTimeout); a request
	// still waiting for its answer gets 408 (the client stalled) or 504
	// (the upstream did). It fires between once and 1.5 times this after
	// the last byte. Zero means 30s (nginx's client_body_timeout and
	// proxy_read_timeout are 60s; a peer that is slow but moving is never
	// cut).
	BodyTimeout time.Duration

	// TunnelIdleTimeout closes a CONNECT or Upgrade tunnel once neither
	// direction has delivered a byte for this long (a side that stops
	// reading while the other sends counts as idle); it fires between
	// once and 1.5 times this after the last byte. Zero means 10 minutes, as
	// nginx's stream proxy_timeout (squid's read_timeout is 15 minutes):
	// long enough for a quiet SSH or WebSocket session that sends
	// keepalives, short enough that tunnels whose peers vanished without
	// a FIN do not pile up.
	TunnelIdleTimeout time.Duration

	// LogQuery keeps the query string in AccessRecord.Path.
	LogQuery bool

	// Dial opens upstream connections. Nil means a net.Dialer with
	// ConnectTimeout and the system resolver.
	Dial DialFunc

	// Inspect decrypts the CONNECT tunnels it matches (see inspect.go).
	// Nil means every CONNECT is a blind tunnel.
	Inspect Inspector
	// Cache is the response cache (RFC 9111) GET and HEAD are answered
	// from and stored into. Nil means none, at no cost to the relay.
	Cache *cache.Cache

	// Router decides, per request, whether it goes direct, through an
	// upstream proxy or is refused (see route.go). Nil means direct.
	Router Router

	// Resolve looks up a destination's addresses for a socks5 upstream,
	// which is given an address rather than the name (socks5h upstreams
	// get the name). It has resolver.Resolver.LookupNetIP's signature;
	// cached reports an answer from a DNS cache. Nil means the system
	// resolver.
	Resolve func(ctx context.Context, host string) (addrs []netip.Addr, cached bool, err error)

	// UpstreamRootCAs verifies the certificates of https upstream
	// proxies. Nil means the system roots.
	UpstreamRootCAs *x509.CertPool

	// Stats receives the live counters. Nil means a private Collector,
	// reachable through Server.Stats.
	Stats *stats.Collector

	// Access receives access records. Nil means none are made.
	Access AccessLogger

	// Clients says who may use the proxy: client address ranges, users
	// and a rate limit. The zero value serves loopback clients only.
	Clients ClientPolicy

	// gate is Clients ready for use, built by withDefaults.
	gate *gate
	// accessIdle is Access when it can be idle (AccessIdler), found once
	// by withDefaults rather than per request.
	accessIdle AccessIdler

	// Local serves origin-form requests ("GET /healthz") addressed to the
	// proxy itself, to loopback clients only, for a Host that names this
	// machine (see localHostError). Nil means only /healthz.
	// It is not on the hot path: responses are built with net/http types.
	Local http.Handler

	// Logger receives warnings and errors. Nil means slog.Default().
	Logger *slog.Logger
}

// Defaults used where a Config field is zero.
const (
	DefaultListen                = "127.0.0.1:8877"
	DefaultMaxIdlePerHost        = 64
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultConnectTimeout        = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultMaxHeaderBytes        = 64 << 10
	DefaultMaxConcurrent         = 2048
	DefaultOverloadWait          = 100 * time.Millisecond
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultClientIdleTimeout     = 120 * time.Second
	DefaultBodyTimeout           = 30 * time.Second
	DefaultTunnelIdleTimeout     = 10 * time.Minute
)
