package main

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// variant is one way to relay a connection's two directions: the bare
// splice io.Copy, or Sluice's tunnel loop (proxy/tunnel.go, copied below)
// with one of its parts changed.
type variant struct {
	// bare: io.Copy between the two *net.TCPConn, nothing else.
	bare bool
	// step is the bytes per round (Sluice: 1 MiB).
	step int64
	// deadline sets a read deadline of timeout/4 before every round
	// (Sluice: on, timeout 10 m).
	deadline bool
	// watch reports each round to the idle watch (Sluice: on).
	watch bool
	// meter counts bytes in steps as Sluice's meter does (Sluice: on).
	meter bool
	// activeRound, if set, is the read deadline after a round that moved
	// bytes; after a quiet round it is timeout/4 as before. With step
	// unlimited, rounds then end by time, not by bytes.
	activeRound time.Duration
}

var variants = map[string]variant{
	"bare":        {bare: true},
	"sluice":      {step: 1 << 20, deadline: true, watch: true, meter: true},
	"no-deadline": {step: 1 << 20, watch: true, meter: true},
	"no-watch":    {step: 1 << 20, deadline: true, meter: true},
	"step-256k":   {step: 256 << 10, deadline: true, watch: true, meter: true},
	"step-4m":     {step: 4 << 20, deadline: true, watch: true, meter: true},
	"step-16m":    {step: 16 << 20, deadline: true, watch: true, meter: true},
	"step-inf":    {step: math.MaxInt64, deadline: true, watch: true, meter: true},
	"loop-only":   {step: 1 << 20},
	"timed-250ms": {step: math.MaxInt64, deadline: true, watch: true, meter: true, activeRound: 250 * time.Millisecond},
	"timed-1s":    {step: math.MaxInt64, deadline: true, watch: true, meter: true, activeRound: time.Second},
}

const tunnelIdle = 10 * time.Minute

func serveRelay(ln net.Listener, to string, v variant) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			u, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				return
			}
			if v.bare {
				bare(c.(*net.TCPConn), u.(*net.TCPConn))
			} else {
				tunnel(c, u, v)
			}
			c.Close()
			u.Close()
		}()
	}
}

// bare is bench/harness.ServeRelay's relay.
func bare(c, up *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.CloseWrite()
	<-done
}

// What follows is proxy/tunnel.go's loop at c0bb79f, with v's switches.

type meter struct {
	total   atomic.Int64 // stands in for the stats collector's counter
	pending int64
}

const meterStep = 256 << 10

func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	if m.pending += n; m.pending >= meterStep {
		m.total.Add(m.pending)
		m.pending = 0
	}
}

func tunnel(client, up net.Conn, v variant) {
	w := newIdleWatch(tunnelIdle)
	var mIn, mOut *meter
	if v.meter {
		mIn, mOut = &meter{}, &meter{}
	}
	done := make(chan struct{})
	go func() {
		_, err := pipe(up, client, mIn, w, 0, v)
		finishDirection(up, client, err)
		close(done)
	}()
	_, err := pipe(client, up, mOut, w, 1, v)
	finishDirection(client, up, err)
	<-done
}

type idleWatch struct {
	timeout      time.Duration
	round        time.Duration
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

func (w *idleWatch) finished(d int) { w.seen[d].Store(math.MaxInt64) }

var errTunnelIdle = errors.New("tunnel idle")

func pipe(dst, src net.Conn, m *meter, w *idleWatch, d int, v variant) (int64, error) {
	var n int64
	lr := &io.LimitedReader{R: src}
	var last int64
	for {
		if v.deadline {
			round := w.round
			if v.activeRound > 0 && last > 0 {
				round = v.activeRound
			}
			src.SetReadDeadline(time.Now().Add(round))
		}
		lr.N = v.step
		k, err := io.Copy(dst, lr)
		last = k
		n += k
		m.add(k)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err == nil && lr.N > 0 {
			if v.watch {
				w.roundEnded(d, k)
				w.finished(d)
			}
			return n, nil
		}
		if v.watch && w.roundEnded(d, k) {
			return n, errTunnelIdle
		}
	}
}

type closeWriter interface{ CloseWrite() error }

func finishDirection(dst, src net.Conn, err error) {
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}
