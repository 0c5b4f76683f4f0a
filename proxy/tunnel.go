package proxy

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// connect opens a CONNECT tunnel. It consumes the connection unless
// [access] refuses the request first.
func (cc *clientConn) connect(cfg *Config) bool {
	if ok, keep := cc.admit(cfg); !ok {
		return keep
	}
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
	if err == nil {
		if err = cc.checkReached(cfg, up); err != nil {
			up.Close()
		}
	}
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
	cc.res.bytesIn, cc.res.bytesOut = tunnel(cc.conn, cc.br, up, nil, &cc.meterIn, &cc.meterOut, cfg.TunnelIdleTimeout)
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
// directions end, or until neither has moved a byte for idle (see
// idleWatch), and returns the bytes each way. Bytes already buffered on
// either side go first. When one side finishes sending (EOF), the other
// side's write half is closed, so half-closed protocols work; when a copy
// fails or the tunnel idles out, both connections are closed, which ends
// the other copy too. Between two TCP connections io.Copy uses splice, so
// the bytes never enter user space.
func tunnel(client net.Conn, cbr *bufio.Reader, up net.Conn, ubr *bufio.Reader, mIn, mOut *meter, idle time.Duration) (up2, down int64) {
	w := newIdleWatch(idle)
	done := make(chan int64, 1)
	go func() {
		n, err := pipe(up, client, cbr, mIn, w, 0)
		finishDirection(up, client, err)
		done <- n
	}()
	down, err := pipe(client, up, ubr, mOut, w, 1)
	finishDirection(client, up, err)
	up2 = <-done
	client.Close()
	up.Close()
	return up2, down
}

// errTunnelIdle ends a tunnel that moved nothing for its idle timeout.
var errTunnelIdle = errors.New("tunnel idle")

// idleWatch tells when a tunnel has been idle for its timeout, from what
// its two directions' copy rounds report.
//
// A splice round (see pipe) returns only once spliceStep bytes have moved
// or its source ends, so a slow but steady stream, a terminal session
// say, could sit in one round for hours: counting bytes between rounds
// cannot see it. So each round's read gets a deadline a quarter of the
// timeout away, which costs no syscall (the runtime's poller keeps
// deadlines) and makes every round end within that time with what it
// moved. A round that moved bytes marks its direction active as of its
// end. A round that moved nothing says nothing about the other direction,
// whose own round may be moving bytes unseen, so the tunnel counts as
// idle only when rounds finished in both directions show one quiet span
// of the whole timeout: the latest finish of the direction seen least
// recently, minus the latest active mark of either. Marks are never
// earlier than the bytes they stand for, so a tunnel whose gaps are all
// shorter than the timeout is never closed; an idle one is closed within
// 1.5 times the timeout (a quarter for the last active round to end, a
// quarter for the quiet rounds to show it).
type idleWatch struct {
	timeout time.Duration
	// round is the read deadline of each round: timeout/4.
	round time.Duration
	// active and seen hold Unix nanoseconds per direction: the end of its
	// last round that moved bytes, and the end of its last round. A
	// direction that finished sets seen to the far future: it will stay
	// quiet.
	active, seen [2]atomic.Int64
}

func newIdleWatch(timeout time.Duration) *idleWatch {
	w := &idleWatch{timeout: timeout, round: timeout / 4}
	now := time.Now().UnixNano()
	for d := range 2 {
		w.active[d].Store(now)
		w.seen[d].Store(now)
	}
	return w
}

// roundEnded records a round of direction d that moved n bytes, and
// reports whether the tunnel has been idle for its timeout.
func (w *idleWatch) roundEnded(d int, n int64) bool {
	now := time.Now().UnixNano()
	if n > 0 {
		w.active[d].Store(now)
	}
	w.seen[d].Store(now)
	quietUntil := min(w.seen[0].Load(), w.seen[1].Load())
	quietFrom := max(w.active[0].Load(), w.active[1].Load())
	return quietUntil-quietFrom >= int64(w.timeout)
}

// finished records that direction d will move nothing more.
func (w *idleWatch) finished(d int) { w.seen[d].Store(math.MaxInt64) }

// pipe copies buffered bytes and then everything from src to dst, in
// rounds of at most spliceStep bytes and w.round time, so the meter sees
// progress and w sees activity. d is the direction's index in w.
func pipe(dst, src net.Conn, buf *bufio.Reader, m *meter, w *idleWatch, d int) (int64, error) {
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
		w.roundEnded(d, int64(k))
	}
	// io.Copy over a LimitedReader of a *net.TCPConn still splices. One
	// serves every round: made per round, it escapes to io.Copy and costs
	// an allocation each time.
	lr := &io.LimitedReader{R: src}
	for {
		src.SetReadDeadline(time.Now().Add(w.round))
		lr.N = spliceStep
		k, err := io.Copy(dst, lr)
		n += k
		m.add(k)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err == nil && lr.N > 0 {
			w.roundEnded(d, k)
			w.finished(d)
			return n, nil // lr.N > 0 with no error: src reached EOF
		}
		if w.roundEnded(d, k) {
			return n, errTunnelIdle
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
