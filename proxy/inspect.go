package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Inspector decrypts the CONNECT tunnels of the hosts it matches
// (package inspect implements it); the rest stay blind tunnels.
type Inspector interface {
	// Match reports whether a CONNECT to host is decrypted. It is asked
	// before anything is dialled: the inspector dials the origin itself.
	Match(host string) bool
	// Inspect serves a tunnel the proxy has answered with 200 and returns
	// once its client connection is closed.
	Inspect(t *InspectedTunnel)
}

// InspectedTunnel is a CONNECT handed to an Inspector.
type InspectedTunnel struct {
	// Conn is the client connection, with no deadline set. Reads return
	// the bytes the proxy had already read past the CONNECT head first.
	Conn net.Conn
	// Host and Port are the CONNECT target: the origin to dial, whatever
	// the requests inside say.
	Host, Port string
	// Client is the client's address ("ip:port").
	Client string
	// LogQuery keeps the query string in the records' Path.
	LogQuery bool
	// Record reports one decrypted exchange to the live counters and the
	// access log. It is safe for concurrent use (HTTP/2 streams) and, like
	// AccessLogger.LogAccess, keeps nothing of rec.
	Record func(rec *AccessRecord)
}

// inspect answers a CONNECT to an inspected host with 200 and hands the
// connection to cfg.Inspect, which dials the origin: nothing is dialled
// here. The tunnel's own record counts no bytes; its exchanges do.
func (cc *clientConn) inspect(cfg *Config) bool {
	cc.res.status = http.StatusOK
	cc.res.inspected = true
	cc.bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if err := cc.bw.Flush(); err != nil {
		cc.res.err = stats.ErrClientAbort
		return false
	}
	cc.res.ttfb = time.Since(cc.started)
	if cc.remote == "" {
		cc.remote = cc.conn.RemoteAddr().String()
	}
	cc.s.stats.TunnelOpened()
	cc.conn.SetDeadline(time.Time{})
	s, access := cc.s, cfg.Access
	cfg.Inspect.Inspect(&InspectedTunnel{
		Conn:     &bufferedConn{Conn: cc.conn, br: cc.br},
		Host:     string(cc.req.host),
		Port:     string(cc.req.port),
		Client:   cc.remote,
		LogQuery: cfg.LogQuery,
		Record: func(rec *AccessRecord) {
			s.stats.Request(&stats.Sample{Status: rec.Status, BytesIn: rec.BytesIn, BytesOut: rec.BytesOut,
				Duration: rec.Duration, TTFB: rec.TTFB, Err: rec.Err, Inspected: true})
			if access != nil {
				access.LogAccess(rec)
			}
		},
	})
	return false
}

// bufferedConn reads what br holds before reading Conn: the bytes that
// came with a parent's CONNECT answer (parent.go), or a client's bytes
// read past its CONNECT head (inspect).
type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.Conn.Read(p)
}

// DialRouted opens a connection to host:port the way a CONNECT from this
// machine would go: refused when the router blocks host or finds its
// group down, through the upstream proxy it names (with one reroute if
// that proxy cannot be reached), else direct through Config.Dial; within
// connect_timeout, not ctx. The Inspector's origin leg dials with it, so
// decrypted exchanges follow the same rules as blind tunnels; each conn
// through an upstream counts as one of its requests.
func (s *Server) DialRouted(_ context.Context, host, port string) (net.Conn, error) {
	cfg := s.cfg.Load()
	cc := &clientConn{s: s, loopback: true} // only this machine's clients are inspected
	h, p := []byte(host), []byte(port)
	cc.key = appendKey(nil, h, p)
	if err := cc.route(cfg, h, p); err != nil {
		return nil, err
	}
	conn, err := cc.dialRouted(cfg, h, p)
	if err == nil && cc.res.up != nil {
		cc.res.up.Requests.Add(1) // the conn, which carries the exchanges
	}
	return conn, err
}
