package inspect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/sluiceproxy/sluice/cache"
	"github.com/sluiceproxy/sluice/proxy"
)

// Defaults used where a Config field is zero.
const (
	// DefaultConnWindow and DefaultStreamWindow are the HTTP/2 receive
	// windows on both legs: large enough that one stream fills a fast
	// link (a 4 MiB window carries 400 MB/s at 10 ms RTT), small enough
	// that a stalled reader pins little memory per connection.
	DefaultConnWindow     = 8 << 20
	DefaultStreamWindow   = 4 << 20
	DefaultCaptureBodyMax = 1 << 20

	defaultHandshakeTimeout = 10 * time.Second
	defaultTimeout          = 60 * time.Second
)

// Config is the inspector's configuration.
type Config struct {
	// CA signs the leaf certificates. Required.
	CA *CA
	// Hosts are the CONNECT hosts decrypted, as exact names or addresses
	// or "*.domain"; Exclude lists hosts never decrypted, even if Hosts
	// matches them.
	Hosts, Exclude []string
	// HTTP2 offers h2 to clients (ALPN) and to origins.
	HTTP2 bool
	// InsecureUpstream accepts any origin certificate. False verifies
	// them against RootCAs.
	InsecureUpstream bool
	// RootCAs verifies origin certificates. Nil means the system roots.
	RootCAs *x509.CertPool
	// Dial opens TCP connections to origins. Nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnWindow and StreamWindow are the HTTP/2 receive windows per
	// connection and per stream, on both legs. Zero means
	// DefaultConnWindow and DefaultStreamWindow.
	ConnWindow, StreamWindow int
	// MaxCerts bounds the cached leaf certificates. Zero means
	// DefaultMaxCerts.
	MaxCerts int
	// ConnectTimeout bounds dialing an origin and its TLS handshake.
	// Zero means 10s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an origin's response
	// head. Zero means 60s.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes idle origin connections. Zero means 60s.
	IdleConnTimeout time.Duration
	// ClientIdleTimeout closes a client connection idle between requests;
	// ReadHeaderTimeout bounds reading a request head. Zero means 120s
	// and 10s, as the proxy's defaults.
	ClientIdleTimeout, ReadHeaderTimeout time.Duration
	// MaxIdlePerHost bounds idle origin connections per host. Zero means
	// 64; negative turns pooling off (a connection per request).
	MaxIdlePerHost int
	// MaxHeaderBytes bounds a request head from a client. Zero means
	// net/http's 1 MB.
	MaxHeaderBytes int
	// BodyTimeout closes a client connection when a write to it makes no
	// progress for this long (the client stopped reading), as the
	// relay's body_timeout does. Zero means 30s.
	BodyTimeout time.Duration
	// Capture receives exchanges while a HAR capture runs. Nil means
	// none are captured.
	Capture *Captures
	// Cache returns the response cache decrypted GET and HEAD requests
	// are answered from and stored into, as plain HTTP ones are (package
	// cache), or nil for none; asked per request, since a reload may
	// replace the cache. Nil means no cache.
	Cache func() *cache.Cache
	// Logger receives warnings. Nil means slog.Default().
	Logger *slog.Logger
}

// Inspector decrypts CONNECT tunnels; it implements proxy.Inspector.
// One net/http Server serves every inspected client connection (h1 and
// h2 alike, by the protocol the TLS handshake chose) and one Transport
// carries every exchange to the origins, so connections to an origin
// are pooled across clients.
type Inspector struct {
	cfg   Config
	log   *slog.Logger
	match *matcher
	certs *certCache
	tls   *tls.Config
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	tr    *http.Transport
	rp    *httputil.ReverseProxy
	srv   *http.Server
	ln    *connListener
	done  chan struct{} // closed when srv.Serve returns
	once  sync.Once
}

// New checks cfg and starts an Inspector.
func New(cfg Config) (*Inspector, error) {
	if cfg.CA == nil {
		return nil, errors.New("inspect: no CA")
	}
	m, err := newMatcher(cfg.Hosts, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	is, err := newIssuer(cfg.CA)
	if err != nil {
		return nil, err
	}
	setDefault := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDefault(&cfg.ConnWindow, DefaultConnWindow)
	setDefault(&cfg.StreamWindow, DefaultStreamWindow)
	setDefault(&cfg.MaxIdlePerHost, 64)
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setDur(&cfg.ConnectTimeout, 10*time.Second)
	setDur(&cfg.ResponseHeaderTimeout, defaultTimeout)
	setDur(&cfg.IdleConnTimeout, defaultTimeout)
	setDur(&cfg.BodyTimeout, 30*time.Second)
	setDur(&cfg.ClientIdleTimeout, 120*time.Second)
	setDur(&cfg.ReadHeaderTimeout, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	in := &Inspector{cfg: cfg, log: cfg.Logger, match: m, certs: newCertCache(is, cfg.MaxCerts), done: make(chan struct{})}
	alpn := []string{"http/1.1"}
	if cfg.HTTP2 {
		alpn = []string{"h2", "http/1.1"}
	}
	in.tls = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: alpn, GetCertificate: in.certificate}
	in.dial = cfg.Dial
	if in.dial == nil {
		in.dial = (&net.Dialer{Timeout: cfg.ConnectTimeout}).DialContext
	}
	in.tr = newTransport(&cfg, in.dial)
	in.rp = in.reverseProxy()
	h2 := &http.HTTP2Config{MaxReceiveBufferPerConnection: cfg.ConnWindow, MaxReceiveBufferPerStream: cfg.StreamWindow}
	in.srv = &http.Server{
		Handler:           in,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.ClientIdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		HTTP2:             h2,
		ConnContext:       tunnelContext,
		// net/http's own complaints (a client that reset a stream) are
		// not the user's concern.
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	in.ln = newConnListener()
	go func() {
		defer close(in.done)
		in.srv.Serve(in.ln)
	}()
	return in, nil
}

func newTransport(cfg *Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs, InsecureSkipVerify: cfg.InsecureUpstream},
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ForceAttemptHTTP2:     cfg.HTTP2,
		MaxIdleConnsPerHost:   cfg.MaxIdlePerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		// Bodies pass as the origin sent them: the client asked for its
		// own Accept-Encoding.
		DisableCompression: true,
		HTTP2:              &http.HTTP2Config{MaxReceiveBufferPerConnection: cfg.ConnWindow, MaxReceiveBufferPerStream: cfg.StreamWindow},
	}
	if cfg.MaxIdlePerHost < 0 {
		tr.DisableKeepAlives = true
	}
	if !cfg.HTTP2 {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
	}
	return tr
}

// Match reports whether a CONNECT to host is decrypted.
func (in *Inspector) Match(host string) bool { return in.match.match(host) }

// LeavesMade reports how many leaf certificates were signed.
func (in *Inspector) LeavesMade() int64 { return in.certs.made.Load() }

// certificate picks the leaf for a client's TLS handshake: for the name
// it asked for (SNI), or for the CONNECT host when it sent none (an IP
// address).
func (in *Inspector) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host := hello.ServerName
	if host == "" {
		if tc, ok := hello.Conn.(*tunnelConn); ok {
			host = tc.t.Host
		}
	}
	if host == "" {
		return nil, errors.New("no server name to make a certificate for")
	}
	return in.certs.get(normalHost(host))
}

// Inspect serves an inspected tunnel: the TLS handshake with the client,
// then its requests through the shared server; a tunnel that does not
// start with a TLS handshake is relayed blind (passthrough.go). It
// returns when the client connection is closed.
func (in *Inspector) Inspect(t *proxy.InspectedTunnel) {
	conn, isTLS, err := sniff(t.Conn)
	switch {
	case err != nil:
		t.Conn.Close()
		return
	case !isTLS:
		in.passThrough(conn, t)
		return
	}
	c := &tunnelConn{Conn: conn, t: t, closed: make(chan struct{}), writeTimeout: in.cfg.BodyTimeout}
	tc := tls.Server(c, in.tls)
	ctx, cancel := context.WithTimeout(context.Background(), defaultHandshakeTimeout)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// Most often the client does not trust Sluice's CA, or pins the
		// origin's certificate.
		in.log.Info("inspect: TLS handshake with the client failed (does it trust Sluice's CA? see `sluice ca install`)",
			"host", t.Host, "client", t.Client, "err", err)
		tc.Close()
		return
	}
	if !in.ln.push(tc) {
		tc.Close()
		return
	}
	<-c.closed
}

// Close stops taking tunnels and closes idle connections. Exchanges in
// flight finish (the proxy's shutdown closes their client connections).
func (in *Inspector) Close() error {
	in.once.Do(func() {
		in.ln.Close()
		go func() {
			<-in.done
			in.srv.Shutdown(context.Background())
			in.tr.CloseIdleConnections()
		}()
	})
	return nil
}

// tunnelConn is an inspected client connection: it carries its tunnel
// to the handler, bounds each write, and tells Inspect when the server
// closed it.
type tunnelConn struct {
	net.Conn
	t            *proxy.InspectedTunnel
	writeTimeout time.Duration
	once         sync.Once
	closed       chan struct{}
}

// Write fails when the client takes nothing for writeTimeout, so a
// client that stopped reading does not hold an exchange for ever. (The
// runtime's poller keeps the deadline: no system call per write.)
func (c *tunnelConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.Conn.Write(p)
}

func (c *tunnelConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

type tunnelKey struct{}

// tunnelContext puts a connection's tunnel into its requests' context.
func tunnelContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if t, ok := tc.NetConn().(*tunnelConn); ok {
			return context.WithValue(ctx, tunnelKey{}, t.t)
		}
	}
	return ctx
}

// connListener hands inspected connections to the shared server.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

// push hands c to the server; false if the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return inspectAddr{} }

type inspectAddr struct{}

func (inspectAddr) Network() string { return "inspect" }
func (inspectAddr) String() string  { return "inspect" }
