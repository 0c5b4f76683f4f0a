package proxy

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
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
	err := cc.tunnelAllowed(cfg, req.host, req.port)
	if err == nil {
		err = cc.route(cfg, req.host, req.port)
	}
	// Only this machine's clients are inspected: the inspector's shared
	// pool cannot apply checkReached's per-client destination rules. Its
	// origin leg goes the way the router says (Server.DialRouted).
	if err == nil && cfg.Inspect != nil && cc.loopback && cfg.Inspect.Match(string(req.host)) {
		return cc.inspect(cfg)
	}
	var up net.Conn
	if err == nil {
		up, err = cc.dialRouted(cfg, req.host, req.port)
	}
	if err != nil {
		cc.res.tunnel = false
		code, kind, reason := cc.targetError(err)
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
	cc.res.bytesIn, cc.res.bytesOut, cc.res.err = tunnel(cc.conn, cc.br, up, nil, &cc.meterIn, &cc.meterOut, cfg.TunnelIdleTimeout)
	up.Close()
	return false
}

// dialTunnel opens the upstream end of a tunnel (CONNECT or SOCKS5) to
// host:port, as routed (dialTarget), after the checks every tunnel
// passes (tunnelAllowed). Its errors are for targetError.
func (cc *clientConn) dialTunnel(cfg *Config, host, port []byte) (net.Conn, error) {
	if err := cc.tunnelAllowed(cfg, host, port); err != nil {
		return nil, err
	}
	return cc.dialTarget(cfg, host, port)
}

// tunnelAllowed checks what every tunnel to host:port passes before
// anything is dialled: connect_ports, and a target that is Sluice itself
// (the address the dial reaches is checked after it, by checkReached).
// It leaves the dial address in cc.key, which targetError names.
func (cc *clientConn) tunnelAllowed(cfg *Config, host, port []byte) error {
	cc.key = appendKey(cc.key[:0], host, port)
	if !portAllowed(cfg.ConnectPorts, port) {
		return &portError{string(port)}
	}
	if cc.s.targetIsSelf(host, port) {
		return errLoop
	}
	return nil
}

// portError is a tunnel to a port connect_ports does not list.
type portError struct{ port string }

func (e *portError) Error() string {
	return "CONNECT to port " + e.port + " is not allowed by connect_ports"
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
// directions end, or until neither has delivered a byte for idle (see
// idleWatch), and returns the bytes each way and, for a tunnel closed
// idle while bytes waited for a side that stopped reading, that side's
// timeout (stats.ErrClientTimeout or stats.ErrUpstreamTimeout). Bytes
// already buffered on either side go first. When one side finishes
// sending (EOF), the other side's write half is closed, so half-closed
// protocols work; when a copy fails or the tunnel idles out, both
// connections are closed, which ends the other copy too. Between two TCP
// connections the bytes go through splice and never enter user space.
func tunnel(client net.Conn, cbr *bufio.Reader, up net.Conn, ubr *bufio.Reader, mIn, mOut *meter, idle time.Duration) (up2, down int64, stalled stats.ErrKind) {
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
	return up2, down, w.stalled()
}

// activeRound bounds a tunnel round that follows one that delivered
// bytes, so the live counters hear of a busy tunnel four times a second.
const activeRound = 250 * time.Millisecond

// errTunnelIdle ends a tunnel that moved nothing for its idle timeout.
var errTunnelIdle = errors.New("tunnel idle")

// idleWatch tells when a tunnel has been idle for its timeout, from what
// its two directions' copy rounds report. Progress means bytes delivered,
// not bytes offered: a side that stops reading while the other sends
// leaves its direction's rounds delivering nothing, and the tunnel idles
// out like a silent one.
//
// A round (see pipe) could wait on a slow but steady stream, a terminal
// session say, for hours: counting bytes between rounds could not see
// it. So each round's waits get deadlines a
// quarter of the timeout away, which cost no syscall (the runtime's poller
// keeps deadlines) and make every round end within that time with what it
// delivered; bytes read and not yet written wait in the direction's pump
// for the next round. A round that delivered bytes marks its direction
// active as of its end. A round that delivered nothing says nothing about
// the other direction, whose own round may be moving bytes unseen, so the
// tunnel counts as idle only when rounds finished in both directions show
// one quiet span of the whole timeout: the latest finish of the direction
// seen least recently, minus the latest active mark of either. Marks are
// never earlier than the bytes they stand for, so a tunnel whose gaps are
// all shorter than the timeout is never closed; an idle one is closed
// within 1.5 times the timeout (a quarter for the last active round to
// end, a quarter for the quiet rounds to show it).
type idleWatch struct {
	timeout time.Duration
	// round bounds each round's waits: timeout/4.
	round time.Duration
	// active and seen hold Unix nanoseconds per direction: the end of its
	// last round that moved bytes, and the end of its last round. A
	// direction that finished sets seen to the far future: it will stay
	// quiet.
	active, seen [2]atomic.Int64
	// held is true for a direction whose last round ended with bytes its
	// destination did not take; idle is set once the tunnel idled out.
	held [2]atomic.Bool
	idle atomic.Bool
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

// roundEnded records a round of direction d that delivered n bytes and
// ended still holding some (held) or not, and reports whether the tunnel
// has been idle for its timeout.
func (w *idleWatch) roundEnded(d int, n int64, held bool) bool {
	now := time.Now().UnixNano()
	if n > 0 {
		w.active[d].Store(now)
	}
	w.seen[d].Store(now)
	w.held[d].Store(held)
	quietUntil := min(w.seen[0].Load(), w.seen[1].Load())
	quietFrom := max(w.active[0].Load(), w.active[1].Load())
	if quietUntil-quietFrom >= int64(w.timeout) {
		w.idle.Store(true)
		return true
	}
	return false
}

// finished records that direction d will move nothing more.
func (w *idleWatch) finished(d int) { w.seen[d].Store(math.MaxInt64) }

// stalled names the side an idle tunnel was waiting on: the client when
// bytes for it were held (direction 1), else the upstream when bytes for
// it were; none for a tunnel that was simply quiet, or did not idle out.
func (w *idleWatch) stalled() stats.ErrKind {
	switch {
	case !w.idle.Load():
		return stats.ErrNone
	case w.held[1].Load():
		return stats.ErrClientTimeout
	case w.held[0].Load():
		return stats.ErrUpstreamTimeout
	}
	return stats.ErrNone
}

// pipe copies buffered bytes and then everything from src to dst, in
// rounds of w.round time (activeRound while bytes flow), so the meter sees
// progress and w sees activity. d is the direction's index in w.
//
// Rounds end by time, not by a byte count: a round cut at a size boundary
// splits a splice short, which cost 1,900 more splice calls and 15-35%
// more relay CPU per GiB than a bare splice relay (bench/README.md,
// "Findings: the CONNECT tunnel against the bare splice relay").
func pipe(dst, src net.Conn, buf *bufio.Reader, m *meter, w *idleWatch, d int) (int64, error) {
	p := newPump(dst, src)
	defer p.close()
	if buf != nil && buf.Buffered() > 0 {
		b, _ := buf.Peek(buf.Buffered())
		if err := p.load(b); err != nil {
			return 0, err
		}
		buf.Discard(len(b))
	}
	var n, k int64
	for {
		round := w.round
		if k > 0 {
			round = min(round, activeRound)
		}
		at := time.Now().Add(round)
		src.SetReadDeadline(at)
		dst.SetWriteDeadline(at)
		var err error
		k, err = p.step(math.MaxInt64)
		n += k
		m.add(k)
		switch {
		case err == io.EOF:
			w.roundEnded(d, k, false)
			w.finished(d)
			return n, nil
		case err != nil && !isTimeout(err):
			return n, err
		}
		if w.roundEnded(d, k, p.held > 0) {
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
