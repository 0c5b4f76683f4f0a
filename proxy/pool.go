package proxy

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// upstreamConn is one connection to an origin, with its buffers. It is
// owned by exactly one request at a time, or by the pool while idle.
type upstreamConn struct {
	conn net.Conn
	// tc is conn as br and bw read and write it (see newUpstreamConn).
	tc timedConn
	br *bufio.Reader
	bw *bufio.Writer
	// key is the pool key and dial address, "host:port" as appendKey
	// builds it: the name lowercased, an IPv6 literal in brackets.
	key string
	// idleSince is when the conn went back to the pool.
	idleSince time.Time
	// dnsCached reports whether the dial's lookup hit the DNS cache.
	dnsCached bool
	// dialTook is how long the dial took, its lookup included;
	// lookupTook the lookup alone, when timed (Server.lookupTimer).
	dialTook, lookupTook time.Duration
	// probe checks the conn is clean before each reuse (connAlive).
	probe probe
	// from is the pool that counts the conn as in use (see host.busy),
	// from its dial or its leaving the pool until it is put back or
	// closed; nil while it is idle, and when pooling is off.
	from *pool
}

// Buffer sizes. 4 KiB holds a typical head; long bodies bypass buffers
// through splice, so bigger buffers would only cost memory per connection.
const (
	readBufSize  = 4 << 10
	writeBufSize = 4 << 10
)

var (
	readerPool sync.Pool
	writerPool sync.Pool
)

func newReader(r net.Conn) *bufio.Reader {
	if v := readerPool.Get(); v != nil {
		br := v.(*bufio.Reader)
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readBufSize)
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

func newWriter(w net.Conn) *bufio.Writer {
	if v := writerPool.Get(); v != nil {
		bw := v.(*bufio.Writer)
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, writeBufSize)
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}

// close closes the connection and returns its buffers to their pools.
func (uc *upstreamConn) close() {
	if uc.from != nil {
		uc.from.release(uc)
	}
	uc.conn.Close()
	uc.dropBuffers()
}

// dropBuffers returns uc's buffers to their pools. A conn left idle past
// a sweep holds none (see pool.rest): a pool sized to a burst of a
// thousand would otherwise pin 8 MiB of buffers after it.
func (uc *upstreamConn) dropBuffers() {
	if uc.br != nil {
		putReader(uc.br)
		putWriter(uc.bw)
		uc.br, uc.bw = nil, nil
	}
}

// takeBuffers gives uc, leaving the pool, its buffers back if a sweep took
// them.
func (uc *upstreamConn) takeBuffers() {
	if uc.br == nil {
		uc.br, uc.bw = newReader(&uc.tc), newWriter(&uc.tc)
	}
}

// pool keeps idle upstream connections per host:port, most recently used
// first: a warm connection is likelier to still be open at the far end.
// All clients share it.
//
// How many idle conns a host keeps follows its load: as many as were in
// use for it at once lately (its high-water mark, see host), and at least
// maxPerHost. Under many concurrent clients the idle count swings widely
// from one millisecond to the next; a fixed cap closed the conns returned
// at the top of a swing, only to dial new ones at the bottom of the next
// (a 1000-client load dialled 19.5k conns in 6 s at maxPerHost 64). A host
// never holds more conns than it had requests in flight at once, so the
// high-water mark bounds the pool by the load, and the peak is forgotten
// within an idle timeout, as the conns it left idle expire.
type pool struct {
	mu    sync.Mutex
	hosts map[string]*host // guarded by mu
	n     int              // idle conns of all hosts; guarded by mu
	// maxPerHost and timeout are read under mu, since a reload may
	// change them.
	maxPerHost int
	timeout    time.Duration
	// closed is set by close; a conn put back afterwards (by a request
	// that outlived a forced shutdown) is closed instead of kept.
	closed bool // guarded by mu
	// sweeper runs sweep every sweepEvery, armed only while the pool
	// holds idle conns: an idle desktop proxy should not wake up every
	// second for an empty pool (it was most of the tray's idle CPU).
	sweeper  *time.Timer
	sweeping bool // sweeper is armed; guarded by mu
}

// host is one host:port's part of the pool. It exists while the host has
// conns, idle or in use.
type host struct {
	idle []*upstreamConn // least to most recently used
	// busy counts the host's conns in use: being dialed (see reserve),
	// dialed or taken from the pool, and not yet put back or closed. An
	// upgraded conn (a WebSocket) counts until its tunnel ends.
	busy int
	// peak and prevPeak are the most conns busy at once in the current
	// window and in the one before; a window lasts half the idle timeout,
	// so the high-water mark, the larger of the two, remembers a peak for
	// between half an idle timeout and a whole one.
	peak, prevPeak int
	window         time.Time // when the current window started
}

// sweepEvery is how often an idle pool is trimmed and expired.
const sweepEvery = time.Second

func newPool(maxPerHost int, timeout time.Duration) *pool {
	p := &pool{hosts: make(map[string]*host), maxPerHost: maxPerHost, timeout: timeout}
	p.sweeper = time.AfterFunc(time.Hour, p.sweep)
	p.sweeper.Stop()
	return p
}

// setLimits applies new limits to connections returned from now on.
func (p *pool) setLimits(maxPerHost int, timeout time.Duration) {
	p.mu.Lock()
	p.maxPerHost, p.timeout = maxPerHost, timeout
	p.mu.Unlock()
}

// roll starts a new window of h's high-water mark when the current one is
// over; mu is held.
func (p *pool) roll(h *host, now time.Time) {
	elapsed := now.Sub(h.window)
	if elapsed < p.timeout/2 {
		return
	}
	h.prevPeak = h.peak
	if elapsed >= p.timeout {
		// A whole window passed without a conn taken: busy held still.
		h.prevPeak = h.busy
	}
	h.peak, h.window = h.busy, now
}

// limit is how many idle conns h may hold; mu is held.
func (p *pool) limit(h *host, now time.Time) int {
	p.roll(h, now)
	return max(p.maxPerHost, h.peak, h.prevPeak)
}

// use counts one more of h's conns in use; mu is held.
func (p *pool) use(h *host, now time.Time) {
	p.roll(h, now)
	h.busy++
	h.peak = max(h.peak, h.busy)
}

// forget drops h once it has no conns left; mu is held.
func (p *pool) forget(key string, h *host) {
	if len(h.idle) == 0 && h.busy == 0 {
		delete(p.hosts, key)
	}
}

// get returns the most recently used idle conn for key, counted in use, or
// nil. Conns idle longer than the timeout are closed on the way.
func (p *pool) get(key []byte, now time.Time) *upstreamConn {
	p.mu.Lock()
	h := p.hosts[string(key)]
	for h != nil && len(h.idle) > 0 {
		uc := h.idle[len(h.idle)-1]
		h.idle[len(h.idle)-1] = nil
		h.idle = h.idle[:len(h.idle)-1]
		p.n--
		if now.Sub(uc.idleSince) < p.timeout {
			p.use(h, now)
			uc.from = p
			p.mu.Unlock()
			uc.takeBuffers()
			return uc
		}
		p.forget(uc.key, h)
		p.mu.Unlock()
		uc.close()
		p.mu.Lock()
		h = p.hosts[string(key)]
	}
	p.mu.Unlock()
	return nil
}

// reserve counts a conn about to be dialed for key in use, from before
// the dial: when a thousand requests find the pool empty at once, the
// first answers come back before the last dials end, and counting each
// conn only once dialed would put the peak well under the thousand conns
// the load needs (the surplus was closed as it came back, and dialed
// again). dialed or unreserve must follow.
func (p *pool) reserve(key []byte, now time.Time) {
	p.mu.Lock()
	h := p.hosts[string(key)]
	if h == nil {
		h = &host{window: now}
		p.hosts[string(key)] = h
	}
	p.use(h, now)
	p.mu.Unlock()
}

// dialed makes uc, dialed after reserve, one the pool counts in use until
// it is put back or closed.
func (p *pool) dialed(uc *upstreamConn) {
	p.mu.Lock()
	uc.from = p
	p.mu.Unlock()
}

// unreserve undoes reserve for a dial that failed.
func (p *pool) unreserve(key []byte) {
	p.mu.Lock()
	if h := p.hosts[string(key)]; h != nil {
		h.busy--
		p.forget(string(key), h)
	}
	p.mu.Unlock()
}

// release stops counting uc, which is being closed, in use.
func (p *pool) release(uc *upstreamConn) {
	p.mu.Lock()
	if h := p.hosts[uc.key]; h != nil && uc.from == p {
		h.busy--
		p.forget(uc.key, h)
	}
	uc.from = nil
	p.mu.Unlock()
}

// put returns a conn whose last response was read to the end and nothing
// past it (see reusable), or closes it if its host holds as many idle
// conns as it may (see limit) or the pool is closed. A request left
// unsent in its buffer (never, as the relay flushes each before reading
// the answer) closes it too.
func (p *pool) put(uc *upstreamConn, now time.Time) {
	if uc.br.Buffered() > 0 || uc.bw.Buffered() > 0 {
		uc.close()
		return
	}
	p.mu.Lock()
	h := p.hosts[uc.key]
	if h == nil {
		h = &host{window: now}
		p.hosts[uc.key] = h
	}
	if uc.from == p {
		h.busy--
		uc.from = nil
	}
	if p.closed || len(h.idle) >= p.limit(h, now) {
		p.forget(uc.key, h)
		p.mu.Unlock()
		uc.close()
		return
	}
	uc.idleSince = now
	h.idle = append(h.idle, uc)
	p.n++
	if !p.sweeping {
		// Reset on an existing timer allocates nothing.
		p.sweeping = true
		p.sweeper.Reset(sweepEvery)
	}
	p.mu.Unlock()
}

// idleByKey returns how many idle conns the pool holds per key.
func (p *pool) idleByKey() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.hosts))
	for key, h := range p.hosts {
		if len(h.idle) > 0 {
			m[key] = len(h.idle)
		}
	}
	return m
}

// idleCount returns how many idle conns the pool holds.
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// sweep trims hosts past their peak and closes expired idle conns in the
// background, so an idle pool does not hold sockets open at origins long
// after their use. It re-arms itself while idle conns remain; put arms it
// again after.
func (p *pool) sweep() {
	now := time.Now()
	p.trim(now)
	p.closeIdle(func(uc *upstreamConn) bool { return now.Sub(uc.idleSince) >= p.timeout })
	p.rest(now)
	p.mu.Lock()
	if p.n > 0 && !p.closed {
		p.sweeper.Reset(sweepEvery)
	} else {
		p.sweeping = false
	}
	p.mu.Unlock()
}

// trim closes the least recently used idle conns of every host holding
// more than its limit.
func (p *pool) trim(now time.Time) {
	var extra []*upstreamConn
	p.mu.Lock()
	for _, h := range p.hosts {
		if over := len(h.idle) - p.limit(h, now); over > 0 {
			extra = append(extra, h.idle[:over]...)
			n := copy(h.idle, h.idle[over:])
			clear(h.idle[n:])
			h.idle = h.idle[:n]
			p.n -= over
		}
	}
	p.mu.Unlock()
	for _, uc := range extra {
		uc.close()
	}
}

// rest takes the buffers of conns idle for a sweep or more. A conn
// reused sooner keeps them, so a steady load moves no buffer through the
// sync.Pools (which, under the race detector, drop some on purpose).
func (p *pool) rest(now time.Time) {
	p.mu.Lock()
	for _, h := range p.hosts {
		for _, uc := range h.idle {
			if now.Sub(uc.idleSince) >= sweepEvery {
				uc.dropBuffers()
			}
		}
	}
	p.mu.Unlock()
}

// closeIdle closes every idle conn for which expired returns true
// (expired is called with mu held).
func (p *pool) closeIdle(expired func(*upstreamConn) bool) {
	var dead []*upstreamConn
	p.mu.Lock()
	for key, h := range p.hosts {
		keep := h.idle[:0]
		for _, uc := range h.idle {
			if expired(uc) {
				dead = append(dead, uc)
			} else {
				keep = append(keep, uc)
			}
		}
		clear(h.idle[len(keep):])
		p.n -= len(h.idle) - len(keep)
		h.idle = keep
		p.forget(key, h)
	}
	p.mu.Unlock()
	for _, uc := range dead {
		uc.close()
	}
}

// close stops the sweeper and closes every idle conn. It may be called
// more than once (Shutdown, then Close).
func (p *pool) close() {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.sweeper.Stop()
	p.mu.Unlock()
	if already {
		return
	}
	p.closeIdle(func(*upstreamConn) bool { return true })
}
