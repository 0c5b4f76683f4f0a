package proxy

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// timedConn is a connection as the relay's buffered reader and writer see
// it: every Write, and every Read while a body is read, is bounded by the
// body timeout, so a peer that stops sending or stops reading cannot hold
// the relay. A deadline is moved only when less than the timeout is left,
// to 1.5 times the timeout ahead: a transfer that keeps moving costs one
// deadline update per half timeout, not one per call (and the runtime's
// poller keeps deadlines, so an update costs no syscall), and one that
// stalls ends between once and 1.5 times the timeout after its last byte.
// Heads are read under deadlines their callers set: reads are bounded
// only between startBody and the next reset or stopBody.
//
// The two directions are used by one goroutine each at most: during an
// upload (see exchange) one goroutine reads the client and writes the
// upstream while another reads the upstream and writes the client.
type timedConn struct {
	net.Conn
	// timeout is body_timeout, set for each request by reset.
	timeout time.Duration
	// readBody bounds reads by timeout; otherwise their deadline is the
	// caller's.
	readBody    bool
	read, write bound
}

// bound is the deadline state of one direction of a timedConn.
type bound struct {
	// until is the deadline last set through the bound; zero when a
	// deadline set around it may have replaced it.
	until time.Time
	// halted ends the direction's calls with errHalted; another
	// goroutine sets it to stop a transfer (see haltReads).
	halted atomic.Bool
}

// errHalted ends a transfer another goroutine stopped.
var errHalted = errors.New("transfer stopped")

// aLongTimeAgo is a deadline that has passed: setting it wakes a blocked
// call at once.
var aLongTimeAgo = time.Unix(1, 0)

// next returns the deadline to set when the one set is less than timeout
// away.
func (b *bound) next(timeout time.Duration) (time.Time, bool) {
	now := time.Now()
	if b.until.Sub(now) >= timeout {
		return time.Time{}, false
	}
	b.until = now.Add(timeout + timeout/2)
	return b.until, true
}

func (c *timedConn) Read(p []byte) (int, error) {
	if c.readBody {
		if d, ok := c.read.next(c.timeout); ok {
			c.Conn.SetReadDeadline(d)
		}
		// Checked after the deadline is set: a halt that comes later
		// sets a deadline in the past after it, which wakes this read.
		if c.read.halted.Load() {
			return 0, errHalted
		}
	}
	return c.Conn.Read(p)
}

func (c *timedConn) Write(p []byte) (int, error) {
	if d, ok := c.write.next(c.timeout); ok {
		c.Conn.SetWriteDeadline(d)
	}
	if c.write.halted.Load() {
		return 0, errHalted
	}
	return c.Conn.Write(p)
}

// reset readies c for a request under timeout: reads are the caller's
// until a body starts, and a halt left by the last request is lifted
// (its deadline in the past is replaced on the next call).
func (c *timedConn) reset(timeout time.Duration) {
	c.timeout = timeout
	c.readBody = false
	c.read.lift()
	c.write.lift()
}

// lift ends a halt; the deadline it left in the past is replaced on the
// next call.
func (b *bound) lift() {
	if b.halted.Load() {
		b.halted.Store(false)
		b.until = time.Time{}
	}
}

// startBody bounds reads by the timeout from the next one on, replacing
// whatever deadline a head was read under.
func (c *timedConn) startBody() {
	c.readBody = true
	c.read.until = time.Time{}
}

// stopBody leaves reads' deadline to the caller again and lifts a halt of
// reads.
func (c *timedConn) stopBody() {
	c.readBody = false
	c.read.lift()
}

// haltReads stops the goroutine reading a body from c, from another
// goroutine: its current read returns at once and later ones fail, until
// reset or stopBody.
func (c *timedConn) haltReads() {
	c.read.halted.Store(true)
	c.Conn.SetReadDeadline(aLongTimeAgo)
}

// haltWrites is haltReads for the goroutine writing to c.
func (c *timedConn) haltWrites() {
	c.write.halted.Store(true)
	c.Conn.SetWriteDeadline(aLongTimeAgo)
}

// newUpstreamConn wraps a new upstream connection with its buffers, which
// read and write it through uc.tc.
func newUpstreamConn(conn net.Conn, key string, dnsCached bool) *upstreamConn {
	uc := &upstreamConn{conn: conn, key: key, dnsCached: dnsCached}
	uc.tc.Conn = conn
	uc.br, uc.bw = newReader(&uc.tc), newWriter(&uc.tc)
	uc.probe.init(conn)
	return uc
}
