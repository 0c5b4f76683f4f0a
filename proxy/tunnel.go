package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// connect opens a CONNECT tunnel. It always consumes the connection.
func (cc *clientConn) connect(cfg *Config) bool {
	req := &cc.req
	cc.res.tunnel = true
	if !portAllowed(cfg.ConnectPorts, req.port) {
		cc.res.tunnel = false
		cc.fail(http.StatusForbidden, stats.ErrForbidden, "CONNECT to port "+string(req.port)+" is not allowed by connect_ports", false)
		return false
	}
	if cc.s.targetIsSelf(req.host, req.port) {
		cc.res.tunnel = false
		cc.fail(http.StatusLoopDetected, stats.ErrLoop, "the request is addressed to Sluice itself", false)
		return false
	}
	cc.key = appendKey(cc.key[:0], req.host, req.port)
	up, cached, err := cc.s.dial(cfg, string(cc.key))
	cc.res.dnsCached = cached
	if err != nil {
		cc.res.tunnel = false
		code, kind, reason := classifyDialError(err, string(cc.key))
		cc.fail(code, kind, reason, false)
		return false
	}
	cc.res.status = http.StatusOK
	cc.bw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	if err := cc.bw.Flush(); err != nil {
		up.Close()
		cc.res.err = stats.ErrClientAbort
		return false
	}
	cc.res.ttfb = time.Since(cc.started)
	cc.s.stats.TunnelOpened()
	cc.res.bytesIn, cc.res.bytesOut = tunnel(cc.conn, cc.br, up, nil, &cc.meterIn, &cc.meterOut)
	up.Close()
	return false
}

func portAllowed(allowed []int, port []byte) bool {
	if len(allowed) == 0 {
		return true
	}
	p, err := strconv.Atoi(string(port))
	if err != nil {
		return false
	}
	for _, a := range allowed {
		if a == p {
			return true
		}
	}
	return false
}

// tunnel copies bytes both ways between client and upstream until both
// directions end, and returns the bytes each way. Bytes already buffered
// on either side go first. When one side finishes sending (EOF), the other
// side's write half is closed, so half-closed protocols work; when a copy
// fails, both connections are closed, which ends the other copy too.
// Between two TCP connections io.Copy uses splice, so the bytes never
// enter user space.
func tunnel(client net.Conn, cbr *bufio.Reader, up net.Conn, ubr *bufio.Reader, mIn, mOut *meter) (up2, down int64) {
	done := make(chan int64, 1)
	go func() {
		n, err := pipe(up, client, cbr, mIn)
		finishDirection(up, client, err)
		done <- n
	}()
	down, err := pipe(client, up, ubr, mOut)
	finishDirection(client, up, err)
	up2 = <-done
	client.Close()
	up.Close()
	return up2, down
}

// pipe copies buffered bytes and then everything from src to dst, in
// steps of spliceStep so the meter sees progress.
func pipe(dst, src net.Conn, buf *bufio.Reader, m *meter) (int64, error) {
	var n int64
	if buf != nil && buf.Buffered() > 0 {
		p, _ := buf.Peek(buf.Buffered())
		k, err := dst.Write(p)
		n += int64(k)
		m.add(int64(k))
		if err != nil {
			return n, err
		}
		buf.Discard(k)
	}
	for {
		// io.Copy over a LimitedReader of a *net.TCPConn still splices.
		lr := io.LimitedReader{R: src, N: spliceStep}
		k, err := io.Copy(dst, &lr)
		n += k
		m.add(k)
		if err != nil || lr.N > 0 {
			return n, err // lr.N > 0 with no error: src reached EOF
		}
	}
}

type closeWriter interface{ CloseWrite() error }

// finishDirection ends one direction of a tunnel: a clean EOF is passed
// on as a half-close, an error tears down both ends.
func finishDirection(dst, src net.Conn, err error) {
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}
