package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Server is a forward proxy. Create it with New, then call Serve with one
// or more listeners.
type Server struct {
	cfg   atomic.Pointer[Config] // with defaults filled in; swapped by Update
	stats *stats.Collector
	pool  *pool
	log   *slog.Logger

	slots    slots // client connections being served, up to MaxConcurrent
	shutting atomic.Bool
	// capture puts the request and response heads in access records
	// (see CaptureHeads).
	capture atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}   // guarded by mu
	conns     map[*clientConn]struct{}    // guarded by mu
	selfAddrs map[netip.AddrPort]struct{} // listener addresses, for loop detection; guarded by mu
	localIPs  map[netip.Addr]struct{}     // this host's addresses; guarded by mu
	// selfPorts lists the listeners' ports, copied on change, so the
	// per-request loop check reads it without the lock.
	selfPorts atomic.Pointer[[]uint16]
}

// New returns a Server for cfg. It fails only on an invalid cfg.
func New(cfg Config) (*Server, error) {
	c, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		stats:     c.Stats,
		log:       c.Logger,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*clientConn]struct{}),
		selfAddrs: make(map[netip.AddrPort]struct{}),
	}
	s.cfg.Store(c)
	s.slots.setLimit(c.MaxConcurrent)
	s.selfPorts.Store(new([]uint16))
	s.pool = newPool(c.MaxIdlePerHost, c.IdleConnTimeout)
	return s, nil
}

// withDefaults returns a copy of cfg with every zero field set to its
// default.
func withDefaults(cfg Config) (*Config, error) {
	c := cfg
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	switch {
	case c.MaxIdlePerHost < 0:
		return nil, fmt.Errorf("max idle per host %d is negative (set NoPool to turn pooling off)", c.MaxIdlePerHost)
	case c.NoPool:
		c.MaxIdlePerHost = 0 // the relay pools only while this is positive
	case c.MaxIdlePerHost == 0:
		c.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	setDefault(&c.IdleConnTimeout, DefaultIdleConnTimeout)
	setDefault(&c.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&c.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	setDefault(&c.OverloadWait, DefaultOverloadWait)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.ClientIdleTimeout, DefaultClientIdleTimeout)
	setDefault(&c.BodyTimeout, DefaultBodyTimeout)
	setDefault(&c.TunnelIdleTimeout, DefaultTunnelIdleTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxHeaderBytes < 512 {
		// A sanity check for library callers, not the app's bound.
		return nil, fmt.Errorf("max header bytes %d is under 512", c.MaxHeaderBytes)
	}
	if c.TunnelIdleTimeout < 0 {
		return nil, fmt.Errorf("tunnel idle timeout %v is negative", c.TunnelIdleTimeout)
	}
	if c.BodyTimeout < 0 {
		return nil, fmt.Errorf("body timeout %v is negative", c.BodyTimeout)
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	for _, p := range c.ConnectPorts {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("connect port %d is not from 1 to 65535", p)
		}
	}
	g, err := newGate(c.Clients)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	c.gate = g
	c.accessIdle, _ = c.Access.(AccessIdler)
	if c.Dial == nil {
		c.Dial = netDial(c.ConnectTimeout)
	}
	if c.Stats == nil {
		c.Stats = stats.New()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &c, nil
}

// netDial is the default DialFunc: the system resolver and net.Dialer.
func netDial(timeout time.Duration) DialFunc {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		c, err := d.DialContext(ctx, network, addr)
		return c, false, err
	}
}

// Update applies a new configuration to work that starts from now on:
// requests already in flight finish under the old one. Listen, Stats and
// Logger cannot change (the caller rebinds listeners itself); their new
// values are ignored.
func (s *Server) Update(cfg Config) error {
	old := s.cfg.Load()
	c, err := withDefaults(cfg)
	if err != nil {
		return err
	}
	c.Stats, c.Logger = old.Stats, old.Logger
	s.cfg.Store(c)
	s.slots.setLimit(c.MaxConcurrent)
	s.pool.setLimits(c.MaxIdlePerHost, c.IdleConnTimeout)
	return nil
}

// Stats returns the server's live counters.
func (s *Server) Stats() *stats.Collector { return s.stats }

// CaptureHeads turns on or off the request and response heads in
// AccessRecord (RequestHead, ResponseHead). A dashboard turns it on while
// someone watches; off, the relay pays one atomic load per request.
func (s *Server) CaptureHeads(on bool) { s.capture.Store(on) }

// IdleUpstreamByHost returns the idle pooled upstream connections per
// pool key ("host:port").
func (s *Server) IdleUpstreamByHost() map[string]int { return s.pool.idleByKey() }

// IdleUpstreamConns returns how many upstream connections sit idle in
// the pool.
func (s *Server) IdleUpstreamConns() int { return s.pool.idleCount() }

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Serve accepts connections on ln until ln fails or the server shuts
// down, serving each in its own goroutine. It always returns a non-nil
// error; after Shutdown or Close, ErrServerClosed. Serve may be called
// with several listeners, and closing one (a rebind on reload) leaves the
// connections it accepted running.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.track(ln); err != nil {
		return err
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, don't spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.accepted(c)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) track(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if ap, ok := addrPortOf(ln.Addr()); ok {
		s.selfAddrs[ap] = struct{}{}
		if ap.Addr().IsUnspecified() && s.localIPs == nil {
			s.localIPs = interfaceIPs()
		}
	}
	s.storeSelfPorts()
	return nil
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
	if ap, ok := addrPortOf(ln.Addr()); ok {
		delete(s.selfAddrs, ap)
	}
	s.storeSelfPorts()
}

// storeSelfPorts publishes the listeners' ports; mu is held.
func (s *Server) storeSelfPorts() {
	ports := make([]uint16, 0, len(s.selfAddrs))
	for ap := range s.selfAddrs {
		ports = append(ports, ap.Port())
	}
	s.selfPorts.Store(&ports)
}

// accepted starts serving c, or makes it wait for a slot when
// MaxConcurrent connections are already served.
func (s *Server) accepted(c net.Conn) {
	now := time.Now()
	if s.slots.tryAcquire() {
		go s.serve(c, now)
		return
	}
	go s.waitForSlot(c, now)
}

// overloadLinger bounds the read after a 503 under overload. The client
// has most often sent its request already, and closing a socket with
// unread bytes makes the kernel send a reset, which can destroy the 503
// on its way (or in the client's buffer, on some systems). So the 503
// ends with a FIN and what the client still sends is dropped until it
// closes or this passes; shorter than lingerTime, as an overloaded proxy
// should not hold sockets long.
const overloadLinger = time.Second

// waitForSlot holds an over-limit connection for up to OverloadWait, then
// answers 503. The wait smooths over a burst without queueing unboundedly.
func (s *Server) waitForSlot(c net.Conn, accepted time.Time) {
	if s.slots.acquire(s.cfg.Load().OverloadWait) {
		s.serve(c, accepted)
		return
	}
	limit := s.cfg.Load().MaxConcurrent
	s.stats.Request(&stats.Sample{Status: 503, Err: stats.ErrOverload})
	c.SetWriteDeadline(time.Now().Add(time.Second))
	writeStatus(c, statusOverloaded, fmt.Sprintf("Sluice is serving its limit of %d connections (max_concurrent); try again shortly", limit))
	if cw, ok := c.(closeWriter); ok && cw.CloseWrite() == nil {
		c.SetReadDeadline(time.Now().Add(overloadLinger))
		io.Copy(io.Discard, c)
	}
	c.Close()
}

// Shutdown stops accepting, closes idle client connections, and waits for
// the others to finish their current request or tunnel. When ctx ends
// first, it closes them all and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s.closeIdleConns() {
			s.pool.close()
			return nil
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			s.pool.close()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.closeAll()
	s.pool.close()
	return nil
}

// closeIdleConns closes client conns waiting for a request and reports
// whether none are left.
func (s *Server) closeIdleConns() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cc := range s.conns {
		if cc.idle.Load() {
			cc.conn.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cc := range s.conns {
		cc.conn.Close()
	}
}

// shuttingDown reports whether Shutdown or Close was called.
func (s *Server) shuttingDown() bool { return s.shutting.Load() }
