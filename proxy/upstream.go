package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// upstream returns a pooled conn for key or dials a new one; fresh skips
// the pool. A pooled conn is used only if it is still open and nothing
// arrived on it while idle (connAlive): stray bytes there would be read
// as the next client's response.
func (s *Server) upstream(cfg *Config, key []byte, fresh bool) (*upstreamConn, bool, error) {
	if !fresh && cfg.MaxIdlePerHost > 0 {
		if uc := s.pooled(key); uc != nil {
			return uc, true, nil
		}
	}
	uc, err := s.dialPooled(cfg, key)
	return uc, false, err
}

// dialPooled dials a new conn for key. While pooling is on, the pool
// counts it in use from before the dial (pool.reserve): it sizes itself
// by that count.
func (s *Server) dialPooled(cfg *Config, key []byte) (*upstreamConn, error) {
	pooled := cfg.MaxIdlePerHost > 0
	start := time.Now()
	if pooled {
		s.pool.reserve(key, start)
	}
	lookup := s.lookupTimer()
	conn, cached, err := s.dial(cfg, string(key), lookup)
	if err != nil {
		if pooled {
			s.pool.unreserve(key)
		}
		return nil, err
	}
	uc := newUpstreamConn(conn, string(key), cached)
	uc.dialTook = time.Since(start)
	if lookup != nil {
		uc.lookupTook = *lookup
	}
	if pooled {
		s.pool.dialed(uc)
	}
	return uc, nil
}

// errLoop is a dial that reached Sluice's own listener.
var errLoop = errors.New("the target is Sluice itself")

// dial connects to addr within connect_timeout through cfg.Dial, and
// refuses a conn that reached this proxy's own listener. The bool reports
// whether the name came from the DNS cache. When lookup is not nil, it is
// set to how long the DNS lookup took, if the dial function reports it
// through an httptrace.ClientTrace (Sluice's resolver and Go's do).
func (s *Server) dial(cfg *Config, addr string, lookup *time.Duration) (net.Conn, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout)
	defer cancel()
	if lookup != nil {
		var start time.Time
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			DNSStart: func(httptrace.DNSStartInfo) { start = time.Now() },
			DNSDone:  func(httptrace.DNSDoneInfo) { *lookup = time.Since(start) },
		})
	}
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

// lookupTimer returns where dial puts the DNS lookup's duration while
// access records carry heads (CaptureHeads: a dashboard watches), nil
// otherwise, so that timing costs nothing when nobody looks.
func (s *Server) lookupTimer() *time.Duration {
	if s.capture.Load() {
		return new(time.Duration)
	}
	return nil
}

// dialFailed answers a failed upstream dial, or a refused route, with
// 403, 502, 504 or 508.
// It returns whether the client connection may be kept.
func (cc *clientConn) dialFailed(err error) bool {
	keep := cc.keepAlive(true)
	code, kind, reason := cc.targetError(err)
	cc.fail(code, kind, reason, keep)
	return keep
}

// classifyDialError turns a failed dial of addr into the status, error
// kind and one-line reason the client is answered with.
func classifyDialError(err error, addr string) (int, stats.ErrKind, string) {
	var dnsErr *net.DNSError
	var destErr *destError
	var portErr *portError
	switch {
	case errors.As(err, &destErr):
		return http.StatusForbidden, stats.ErrForbidden, destErr.Error()
	case errors.As(err, &portErr):
		return http.StatusForbidden, stats.ErrForbidden, portErr.Error()
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

// isTimeout reports whether err is a deadline or timeout, of a context or
// of a conn.
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
