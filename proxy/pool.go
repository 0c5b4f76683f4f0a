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
	uc.conn.Close()
	putReader(uc.br)
	putWriter(uc.bw)
	uc.br, uc.bw = nil, nil
}

// pool keeps idle upstream connections per host:port, most recently used
// first: a warm connection is likelier to still be open at the far end.
// All clients share it.
type pool struct {
	mu   sync.Mutex
	idle map[string][]*upstreamConn // guarded by mu
	n    int                        // idle conns in all lists; guarded by mu
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

// sweepEvery is how often an idle pool is trimmed and expired.
const sweepEvery = time.Second

func newPool(maxPerHost int, timeout time.Duration) *pool {
	p := &pool{idle: make(map[string][]*upstreamConn), maxPerHost: maxPerHost, timeout: timeout}
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

// get returns the most recently used idle conn for key, or nil. Conns idle
// longer than the timeout are closed on the way.
func (p *pool) get(key []byte, now time.Time) *upstreamConn {
	p.mu.Lock()
	list := p.idle[string(key)]
	for len(list) > 0 {
		uc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		p.n--
		if now.Sub(uc.idleSince) < p.timeout {
			p.idle[uc.key] = list
			p.mu.Unlock()
			return uc
		}
		p.mu.Unlock()
		uc.close()
		p.mu.Lock()
		list = p.idle[string(key)]
	}
	p.mu.Unlock()
	return nil
}

// burstFactor is how far over maxPerHost a host's idle list may grow
// between two sweeps. Under many concurrent clients the idle count swings
// widely from one millisecond to the next; closing every conn returned at
// the top of a swing, only to dial a new one at the bottom of the next,
// cost a quarter of all requests a fresh connection at 1000 clients. The
// sweeper trims the list back to maxPerHost, oldest first, within a
// second.
const burstFactor = 4

// put returns a conn whose last response was read to the end and nothing
// past it (see reusable), or closes it if the host's list is full or the
// pool is closed.
func (p *pool) put(uc *upstreamConn, now time.Time) {
	p.mu.Lock()
	list := p.idle[uc.key]
	if p.closed || len(list) >= burstFactor*p.maxPerHost {
		p.mu.Unlock()
		uc.close()
		return
	}
	uc.idleSince = now
	p.idle[uc.key] = append(list, uc)
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
	m := make(map[string]int, len(p.idle))
	for key, list := range p.idle {
		if len(list) > 0 {
			m[key] = len(list)
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

// sweep trims bursts and closes expired idle conns in the background, so
// an idle pool does not hold sockets open at origins long after their use.
// It re-arms itself while idle conns remain; put arms it again after.
func (p *pool) sweep() {
	now := time.Now()
	p.trim()
	p.closeIdle(func(uc *upstreamConn) bool { return now.Sub(uc.idleSince) >= p.timeout })
	p.mu.Lock()
	if p.n > 0 && !p.closed {
		p.sweeper.Reset(sweepEvery)
	} else {
		p.sweeping = false
	}
	p.mu.Unlock()
}

// trim closes the least recently used idle conns of every host holding
// more than maxPerHost.
func (p *pool) trim() {
	var extra []*upstreamConn
	p.mu.Lock()
	for key, list := range p.idle {
		if over := len(list) - p.maxPerHost; over > 0 {
			// The list runs from least to most recently used.
			extra = append(extra, list[:over]...)
			n := copy(list, list[over:])
			clear(list[n:])
			p.idle[key] = list[:n]
			p.n -= over
		}
	}
	p.mu.Unlock()
	for _, uc := range extra {
		uc.close()
	}
}

// closeIdle closes every idle conn for which expired returns true
// (expired is called with mu held).
func (p *pool) closeIdle(expired func(*upstreamConn) bool) {
	var dead []*upstreamConn
	p.mu.Lock()
	for key, list := range p.idle {
		keep := list[:0]
		for _, uc := range list {
			if expired(uc) {
				dead = append(dead, uc)
			} else {
				keep = append(keep, uc)
			}
		}
		clear(list[len(keep):])
		p.n -= len(list) - len(keep)
		if len(keep) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = keep
		}
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
