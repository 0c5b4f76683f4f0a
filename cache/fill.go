package cache

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// A fill is one upstream fetch that other requests for the same key may
// follow (collapsed forwarding, as nginx's proxy_cache_lock and squid's
// collapsed_forwarding): they wait for its head, then read its body from
// a buffer that grows as the bytes arrive, each at its own pace.
type fill struct {
	key string
	// req is the leader's request, for the followers' Vary check.
	req http.Header
	// ready is closed once the head is decided; then obj says what
	// followers get: nil (go upstream yourselves: the answer was not
	// storable, or the fetch failed), a stored object refreshed by a 304
	// (serve it), or the object being filled (follow its body).
	ready     chan struct{}
	obj       *Object
	refreshed bool

	mu     sync.Mutex
	chunks [][]byte
	size   int64
	done   bool
	err    error         // why the fill ended short; nil while it runs or after a whole body
	wake   chan struct{} // closed and replaced when bytes arrive or the fill ends
	next   int           // capacity of the next chunk
}

// errFillAborted ends a follower's body when the fetch it follows broke
// off (an upstream failure, or a body over max_object_mb).
var errFillAborted = errors.New("the collapsed fetch this answer followed broke off")

const (
	minChunk = 4 << 10
	maxChunk = 1 << 20
)

func newFill(key string, req http.Header) *fill {
	return &fill{key: key, req: req, ready: make(chan struct{}), wake: make(chan struct{}), next: minChunk}
}

// decide publishes the head: obj, or nil to send followers upstream.
func (f *fill) decide(obj *Object, refreshed bool) {
	f.obj, f.refreshed = obj, refreshed
	close(f.ready)
}

// sizeHint sets the first chunk's capacity from a Content-Length.
func (f *fill) sizeHint(n int64) {
	if n > 0 {
		f.next = int(min(max(n, minChunk), maxChunk))
	}
}

// write appends p. Bytes below f.size never change, so followers read
// them without holding mu.
func (f *fill) write(p []byte) {
	f.mu.Lock()
	for len(p) > 0 {
		n := len(f.chunks)
		if n == 0 || len(f.chunks[n-1]) == cap(f.chunks[n-1]) {
			f.chunks = append(f.chunks, make([]byte, 0, f.next))
			f.next = min(f.next*2, maxChunk)
			n++
		}
		c := f.chunks[n-1]
		k := min(len(p), cap(c)-len(c))
		f.chunks[n-1] = append(c, p[:k]...)
		f.size += int64(k)
		p = p[k:]
	}
	f.signal()
	f.mu.Unlock()
}

// end marks the fill finished: whole when err is nil.
func (f *fill) end(err error) {
	f.mu.Lock()
	f.done, f.err = true, err
	f.signal()
	f.mu.Unlock()
}

// signal wakes readers; mu is held.
func (f *fill) signal() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// Follower reads the body of a fetch another request leads, as it
// arrives.
type Follower struct {
	f        *fill
	chunk    int // index of the chunk being read
	inChunk  int // offset in it
	timeout  time.Duration
	received int64
}

// Next returns the next bytes of the body as they arrive, waiting for
// them up to the follower's timeout when wait is set (without it, a nil
// slice and nil error mean none are there yet); io.EOF after the whole
// body. The slice must not be changed.
func (r *Follower) Next(wait bool) ([]byte, error) {
	f := r.f
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		f.mu.Lock()
		for r.chunk < len(f.chunks) {
			c := f.chunks[r.chunk]
			if r.inChunk < len(c) {
				p := c[r.inChunk:]
				r.inChunk = len(c)
				r.received += int64(len(p))
				f.mu.Unlock()
				return p, nil
			}
			if len(c) < cap(c) {
				break // the writer is still filling it
			}
			r.chunk++
			r.inChunk = 0
		}
		done, err, wake := f.done, f.err, f.wake
		f.mu.Unlock()
		switch {
		case done && err != nil:
			return nil, err
		case done:
			return nil, io.EOF
		case !wait:
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(r.timeout)
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, errFollowTimeout
		}
	}
}

// errFollowTimeout is a followed fetch that delivered no byte within the
// follower's timeout.
var errFollowTimeout = errors.New("the collapsed fetch this answer followed stalled")
