package cache

import (
	"container/list"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/cachecontrol/cacheobject"
)

// Config is the cache's configuration.
type Config struct {
	// MemoryBytes bounds the memory tier. Zero keeps no body in memory
	// (the disk tier serves every hit).
	MemoryBytes int64
	// Dir is the disk tier's directory; "" keeps no disk tier.
	Dir string
	// DiskBytes bounds the disk tier. Zero keeps no disk tier.
	DiskBytes int64
	// MaxObjectBytes bounds one stored body; a larger one is relayed but
	// not stored. Zero means 256 MiB.
	MaxObjectBytes int64
	// Shared applies the rules of a shared cache (RFC 9111): private
	// answers are not stored, s-maxage and proxy-revalidate count. Set
	// it when the cache serves more than one person (a proxy open to
	// other machines).
	Shared bool
	// CollapseWait is how long a miss waits for another request's fetch
	// of the same URL to show its head before it goes upstream itself.
	// Zero means 5s, nginx's proxy_cache_lock_timeout.
	CollapseWait time.Duration
	// Logger receives warnings (a full disk, a torn file dropped). Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Defaults used where a Config field is zero.
const (
	DefaultMaxObjectBytes = 256 << 20
	DefaultCollapseWait   = 5 * time.Second
)

// Cache is a private HTTP cache. It is safe for concurrent use.
type Cache struct {
	cfg Config
	log *slog.Logger

	// mu guards the index, both tiers' lists and byte counts, inflight,
	// and the storage fields of every Object. It is never held across
	// I/O.
	mu        sync.Mutex
	index     map[string][]*Object // primary key → its variants
	mem       list.List            // objects with a body in memory, most recent first
	memBytes  int64
	disk      list.List // objects with a file, most recent first
	diskBytes int64
	inflight  map[string]*fill
	diskOff   time.Time // no disk writes until then (after a write failed)

	writes  sync.WaitGroup // disk writes under way
	sem     chan struct{}  // bounds them; guarded by mu
	pending int            // disk writes queued or running; guarded by mu
	closed  bool           // Close was called; guarded by mu
	seq     atomic.Uint64  // makes file names unique
	st      counters
}

// Request is what the cache needs of a request.
type Request struct {
	// Method is the request method.
	Method string
	// Key is the request's primary key (see Key).
	Key string
	// Header is the request's fields.
	Header http.Header
}

// Open makes a cache, loading the disk tier from cfg.Dir when there is
// one (dropping torn or foreign files).
func Open(cfg Config) (*Cache, error) {
	if cfg.MaxObjectBytes <= 0 {
		cfg.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if cfg.CollapseWait <= 0 {
		cfg.CollapseWait = DefaultCollapseWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DiskBytes <= 0 {
		cfg.Dir = ""
	}
	c := &Cache{cfg: cfg, log: cfg.Logger, index: map[string][]*Object{}, inflight: map[string]*fill{}}
	if cfg.Dir != "" {
		if err := c.loadDisk(); err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", cfg.Dir, err)
		}
	}
	return c, nil
}

// Close waits for the disk writes under way.
//
// After Close the cache still answers (requests that began under it may
// finish), but it leaves the disk alone: a new Cache on the same
// directory (a reload) owns it.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.writes.Wait()
	return nil
}

// Action is what a Lookup tells its caller to do.
type Action uint8

const (
	// Forward: go upstream; Lookup.Store may keep the answer.
	Forward Action = iota
	// Revalidate: go upstream with Lookup.Conditionals; a 304 goes to
	// Lookup.Refresh, anything else to Lookup.Store.
	Revalidate
	// Serve: answer from Lookup.Object with Lookup.Status.
	Serve
	// Follow: answer from Lookup.Follower, another request's fetch.
	Follow
	// Unsatisfied: only-if-cached and nothing usable; answer 504
	// (RFC 9111 §5.2.1.7).
	Unsatisfied
)

// Lookup is the cache's answer to one request, and the handle through
// which its caller stores the upstream answer.
type Lookup struct {
	Action Action
	// Object is the object to serve (Serve) or revalidate (Revalidate).
	Object *Object
	// Status is the status to answer with when serving: the object's,
	// 304 for a client's own conditional that matches, 206 or 416 for a
	// Range.
	Status int
	// RangeStart and RangeLen are the body bytes to send; the whole body
	// unless Status is 206.
	RangeStart, RangeLen int64
	// Follower reads the followed body (Follow).
	Follower *Follower
	// Collapsed is true when the answer came from another request's
	// fetch.
	Collapsed bool

	c    *Cache
	req  *Request
	rq   *cacheobject.RequestCacheDirectives
	fwd  string // Cache-Status fwd, when going upstream
	lead *fill  // set when this request leads a fetch others may follow
	// stored, detail: what happened to the answer, for Cache-Status.
	stored bool
	detail string
	done   bool
}

// Lookup decides how to answer req. A Forward or Revalidate lookup must
// end with Done, which lets requests that wait on it go on.
func (c *Cache) Lookup(req *Request) *Lookup {
	l := &Lookup{c: c, req: req, Action: Forward}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		l.fwd = "method"
		return l
	}
	// A request's no-store forbids storing its answer (storable), not
	// answering it from what is stored (RFC 9111 §5.2.1.5).
	l.rq = requestDirectives(req.Header)
	now := time.Now()
	auth := req.Header.Get("Authorization") != ""
	c.mu.Lock()
	obj, vary := c.find(req)
	if obj != nil && auth && !obj.authOK {
		obj = nil
	}
	if obj != nil {
		if c.usable(l.rq, obj, now) {
			if l.serve(obj) {
				c.touch(obj, now)
				c.mu.Unlock()
				c.st.hit(l)
				return l
			}
			obj = nil // a multi-range request: the origin answers it
		}
	}
	switch {
	case l.rq.OnlyIfCached:
		c.mu.Unlock()
		l.Action, l.done = Unsatisfied, true
		c.st.misses.Add(1)
		return l
	case obj != nil:
		l.fwd = "stale"
		if l.rq.NoCache || l.rq.MaxAge == 0 {
			l.fwd = "request"
		}
		if (obj.etag != "" || obj.lastModified != "") && !clientConditional(req.Header) && req.Header.Get("Range") == "" {
			l.Action, l.Object = Revalidate, obj
		}
	case vary:
		l.fwd = "vary-miss"
	default:
		l.fwd = "miss"
	}
	if req.Method != http.MethodGet || auth || req.Header.Get("Range") != "" || clientConditional(req.Header) {
		c.mu.Unlock()
		c.st.misses.Add(1)
		return l // answers that may differ per request are not shared
	}
	f := c.inflight[req.Key]
	if f == nil {
		l.lead = newFill(req.Key, req.Header)
		c.inflight[req.Key] = l.lead
		c.mu.Unlock()
		c.st.misses.Add(1)
		return l
	}
	c.mu.Unlock()
	return l.follow(f)
}

// follow waits for f's head, then follows it, serves the object it
// refreshed, or, when it has nothing for this request, goes upstream.
func (l *Lookup) follow(f *fill) *Lookup {
	t := time.NewTimer(l.c.cfg.CollapseWait)
	defer t.Stop()
	select {
	case <-f.ready:
	case <-t.C:
		l.c.st.collapseTimeouts.Add(1)
		l.c.st.misses.Add(1)
		return l
	}
	obj := f.obj
	if obj == nil || !varyMatches(l.req.Header, obj.varyNames, obj.varyVals) {
		l.c.st.misses.Add(1)
		return l
	}
	l.Collapsed = true
	l.c.st.collapsed.Add(1)
	if f.refreshed {
		l.serve(obj)
		l.c.st.hit(l)
		return l
	}
	l.Action, l.Object, l.Status, l.RangeLen, l.done = Follow, obj, obj.status, obj.announced, true
	l.Follower = &Follower{f: f, timeout: l.c.cfg.CollapseWait}
	return l
}

// find returns the stored variant that req selects, or nil; vary reports
// that the URL is stored but no variant matches.
func (c *Cache) find(req *Request) (*Object, bool) {
	vs := c.index[req.Key]
	for _, o := range vs {
		if varyMatches(req.Header, o.varyNames, o.varyVals) {
			return o, false
		}
	}
	return nil, len(vs) > 0
}

// usable reports whether obj may answer a request with directives rq at
// now without contacting the origin (RFC 9111 §4.2, §5.2.1).
func (c *Cache) usable(rq *cacheobject.RequestCacheDirectives, obj *Object, now time.Time) bool {
	if obj.noCache || rq.NoCache {
		return false
	}
	age := obj.age(now)
	if rq.MaxAge >= 0 && age > time.Duration(rq.MaxAge)*time.Second {
		return false
	}
	left := obj.lifetime - age
	if rq.MinFresh >= 0 && left < time.Duration(rq.MinFresh)*time.Second {
		return false
	}
	if left > 0 {
		return true
	}
	// Stale: only when the client accepts it and the origin allows it.
	// (cacheobject sets MaxStaleSet only for a bare max-stale.)
	return (rq.MaxStaleSet || rq.MaxStale >= 0) && !obj.mustRevalidate && (rq.MaxStale < 0 || -left <= time.Duration(rq.MaxStale)*time.Second)
}

// clientConditional reports whether the request carries its own
// validators; its answer (a 304 or 412) is the client's, not the cache's.
func clientConditional(h http.Header) bool {
	return h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" || h.Get("If-Match") != "" || h.Get("If-Unmodified-Since") != ""
}

// Conditionals are the fields that revalidate l.Object (RFC 9111 §4.3.1):
// name, value pairs to add to the request sent upstream.
func (l *Lookup) Conditionals() [][2]string {
	if l.Action != Revalidate {
		return nil
	}
	var out [][2]string
	if l.Object.etag != "" {
		out = append(out, [2]string{"If-None-Match", l.Object.etag})
	}
	if l.Object.lastModified != "" {
		out = append(out, [2]string{"If-Modified-Since", l.Object.lastModified})
	}
	return out
}

// Refresh handles a 304 to a revalidation (RFC 9111 §4.3.4): the stored
// fields are updated from h, and the refreshed object is what l now
// serves (l.Action is Serve). A 304 whose fields forbid storing, or whose
// ETag is not the stored one, still answers this request from the stored
// body, which is left as it is (stale, it is revalidated again next
// time). It returns false when l did not
// revalidate: the caller relays the 304 as it is.
func (l *Lookup) Refresh(h http.Header, reqTime, respTime time.Time) bool {
	old := l.Object
	if l.Action != Revalidate || old == nil {
		return false
	}
	merged := old.header.Clone()
	for name, vs := range storedHeader(h, respTime) {
		if name == "Content-Type" || name == "Content-Encoding" || name == "Content-Range" {
			continue // a 304 describes the stored content, it does not change it
		}
		merged[name] = vs
	}
	r, reason := storable(&Request{Method: http.MethodGet, Key: old.key, Header: http.Header{}}, &noDirectives, old.status, merged, reqTime, respTime, l.c.cfg.Shared)
	if et := h.Get("ETag"); et != "" && old.etag != "" && strings.TrimPrefix(et, "W/") != strings.TrimPrefix(old.etag, "W/") {
		reason = "validator changed"
	}
	r.authOK = r.authOK || old.authOK
	obj := &Object{key: old.key, host: old.host, varyNames: old.varyNames, varyVals: old.varyVals, status: old.status,
		header: merged, reqTime: reqTime, respTime: respTime, rules: r, size: old.size}
	obj.etag, obj.lastModified = merged.Get("ETag"), merged.Get("Last-Modified")
	obj.buildHead()
	c := l.c
	c.mu.Lock()
	obj.body, obj.file, obj.bodyAt = old.body, old.file, old.bodyAt
	if !old.gone && reason == "" {
		c.replace(old, obj, time.Now())
	}
	c.mu.Unlock()
	l.stored, l.detail = reason == "", "fwd-status=304"
	c.st.revalidated.Add(1)
	l.serve(obj)
	c.st.hitBytes(l)
	if reason == "" {
		l.release(obj, true)
	}
	l.done = true
	l.release(nil, false)
	return true
}

// noDirectives is a request without Cache-Control.
var noDirectives = cacheobject.RequestCacheDirectives{MaxAge: -1, MaxStale: -1, MinFresh: -1}

// Store decides whether the answer (status, fields h) may be stored and,
// when it may, returns the Writer its body is teed into. contentLength
// is the body's announced length, -1 when unknown. reason says why not.
func (l *Lookup) Store(status int, h http.Header, contentLength int64, reqTime, respTime time.Time) (w *Writer, reason string) {
	if l.rq == nil {
		return nil, "method"
	}
	r, reason := storable(l.req, l.rq, status, h, reqTime, respTime, l.c.cfg.Shared)
	switch {
	case reason != "":
	case contentLength > l.c.cfg.MaxObjectBytes:
		reason = "over max_object_mb"
	case !l.c.canStore(contentLength):
		reason = "larger than the tiers take"
	}
	if reason != "" {
		l.detail = "detail=" + strings.ReplaceAll(reason, " ", "-")
		l.release(nil, false)
		return nil, reason
	}
	obj := newObject(l.req.Key, l.req.Header, status, h, reqTime, respTime, r)
	obj.announced = contentLength
	l.stored = true // meant to be; Close says whether it was
	f := l.lead
	if f == nil {
		f = newFill(l.req.Key, l.req.Header)
	}
	f.sizeHint(contentLength)
	l.release(obj, false)
	return &Writer{l: l, obj: obj, f: f, length: contentLength}, ""
}

// canStore reports whether a body of n bytes (-1: unknown) has a tier
// to go to, so that a body none would keep is relayed (spliced) rather
// than teed for nothing.
func (c *Cache) canStore(n int64) bool {
	c.mu.Lock()
	disk := c.diskOpen() && n <= c.diskObjectMax()
	c.mu.Unlock()
	return disk || c.cfg.MemoryBytes > 0 && n <= c.memObjectMax()
}

// diskOpen reports whether the disk tier takes writes now; mu is held.
func (c *Cache) diskOpen() bool {
	return c.cfg.Dir != "" && !c.closed && time.Now().After(c.diskOff) && c.pending < maxPendingWrites
}

// diskObjectMax is the largest body the disk tier takes, an eighth of it.
func (c *Cache) diskObjectMax() int64 { return c.cfg.DiskBytes / 8 }

// objectMax is the largest body any tier takes: past it, a body being
// teed is dropped from the cache at once.
func (c *Cache) objectMax() (n int64, detail string) {
	n = c.memObjectMax()
	if c.cfg.Dir != "" {
		n = max(n, c.diskObjectMax())
	}
	if n >= c.cfg.MaxObjectBytes {
		return c.cfg.MaxObjectBytes, "detail=over-max_object_mb"
	}
	return n, "detail=over-an-eighth-of-the-tiers"
}

// memObjectMax is the largest body the memory tier takes: an eighth of
// it, so one object cannot flush the rest.
func (c *Cache) memObjectMax() int64 { return c.cfg.MemoryBytes / 8 }

// release publishes the fetch's outcome to the requests waiting on it.
func (l *Lookup) release(obj *Object, refreshed bool) {
	f := l.lead
	if f == nil {
		return
	}
	l.lead = nil
	if obj == nil {
		l.c.mu.Lock()
		if l.c.inflight[f.key] == f {
			delete(l.c.inflight, f.key)
		}
		l.c.mu.Unlock()
	}
	f.decide(obj, refreshed)
	if obj != nil && refreshed {
		l.c.mu.Lock()
		if l.c.inflight[f.key] == f {
			delete(l.c.inflight, f.key)
		}
		l.c.mu.Unlock()
	}
}

// Done ends a lookup: a fetch that stored nothing (it failed, or its
// answer was not storable) lets its followers go upstream.
func (l *Lookup) Done() {
	if l.done {
		return
	}
	l.done = true
	l.release(nil, false)
}

// Writer receives the body of an answer being stored while it is sent
// to the client, and lets followers read it as it arrives.
type Writer struct {
	l      *Lookup
	obj    *Object
	f      *fill
	length int64
	over   bool
}

// Write tees p into the cache. It never fails: a body that grows past
// max_object_mb (or what the tiers take) is dropped from the cache, not
// from the client's answer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.over {
		return len(p), nil
	}
	if limit, detail := w.l.c.objectMax(); w.f.size+int64(len(p)) > limit {
		w.over = true
		w.l.stored, w.l.detail = false, detail
		w.f.end(errFillAborted)
		w.drop()
		return len(p), nil
	}
	w.f.write(p)
	return len(p), nil
}

// Storing reports whether the body is still being stored (it has not
// gone over max_object_mb, and Close was not called).
func (w *Writer) Storing() bool { return !w.over }

// Close ends the body: err nil means it arrived whole and is stored;
// otherwise it is dropped and followers see the failure.
func (w *Writer) Close(err error) {
	if w.over {
		return
	}
	w.over = true
	if err == nil && w.length >= 0 && w.f.size != w.length {
		err = fmt.Errorf("body of %d bytes, Content-Length %d", w.f.size, w.length)
	}
	if err != nil {
		w.f.end(errFillAborted)
		w.drop()
		w.l.stored, w.l.detail = false, "detail=incomplete"
		return
	}
	w.f.mu.Lock()
	chunks, size := w.f.chunks, w.f.size
	w.f.mu.Unlock()
	w.obj.size = size
	if !w.l.c.insert(w.obj, chunks) {
		w.l.detail = "detail=no-room"
	} else {
		w.l.stored = true
	}
	w.f.end(nil)
	w.drop()
}

// drop ends the fill's time in flight.
func (w *Writer) drop() {
	c := w.l.c
	c.mu.Lock()
	if c.inflight[w.f.key] == w.f {
		delete(c.inflight, w.f.key)
	}
	c.mu.Unlock()
	w.l.done = true
}

// Invalidate applies RFC 9111 §4.4: a non-error answer to an unsafe
// method invalidates the target URI and the same-origin URIs its
// Location and Content-Location name.
func (c *Cache) Invalidate(req *Request, status int, h http.Header) {
	if !unsafeMethod(req.Method) || status < 200 || status >= 400 {
		return
	}
	keys := []string{req.Key}
	base, err := url.Parse(req.Key)
	if err == nil {
		for _, name := range []string{"Location", "Content-Location"} {
			v := h.Get(name)
			if v == "" {
				continue
			}
			u, err := base.Parse(v)
			if err != nil || !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
				continue // another origin's entries are not this answer's to drop
			}
			keys = append(keys, Key(u.Scheme, u.Hostname(), u.Port(), u.RequestURI()))
		}
	}
	c.mu.Lock()
	for _, k := range keys {
		for _, o := range c.index[k] {
			c.remove(o)
		}
	}
	c.mu.Unlock()
	c.st.invalidations.Add(1)
}
