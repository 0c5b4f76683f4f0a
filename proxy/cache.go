package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/cache"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// The relay's glue to the response cache (package cache, Config.Cache).
// With no cache configured, none of this runs: relay checks cfg.Cache
// once, and every other hook checks cc.cx, nil then.

// cacheName is Sluice's identifier in Cache-Status (RFC 9211).
const cacheName = "Sluice"

// cacheExchange is one request's dealings with the cache.
type cacheExchange struct {
	req cache.Request
	// l is the lookup; nil for an unsafe method, whose answer may only
	// invalidate (RFC 9111 §4.4).
	l *cache.Lookup
	// w receives the body being stored; nil when the answer is not.
	w *cache.Writer
	// status is the Cache-Status sent with the relayed head.
	status string
}

// cacheLookup asks the cache about the request. done reports that it was
// answered (from the cache, or with a 504 for only-if-cached), keep
// whether the connection stays; otherwise cc.cx is set when the answer
// should reach the cache, and cacheDone must follow. cc.cx never
// outlives its request: a later one on the conn must not store its
// answer under this one's URL.
func (cc *clientConn) cacheLookup(cfg *Config) (done, keep bool) {
	cc.cx = nil
	req := &cc.req
	m := methodString(req.method)
	switch {
	case req.hasBody() && (m == http.MethodGet || m == http.MethodHead):
		return false, false // a GET with a body is not the URL's representation
	case m == http.MethodOptions || m == http.MethodTrace, req.mi.wantsUpgrade():
		return false, false // neither stored nor invalidating; an upgrade is a tunnel
	}
	cx := &cacheExchange{req: cache.Request{Method: m, Key: cache.Key("http", string(req.host), string(req.port), string(req.path))}}
	h := make(http.Header, len(req.fields))
	for _, f := range req.fields {
		h.Add(string(f.name), string(f.value))
	}
	cx.req.Header = h
	cc.cx = cx
	if m != http.MethodGet && m != http.MethodHead {
		return false, false
	}
	l := cfg.Cache.Lookup(&cx.req)
	cx.l = l
	switch l.Action {
	case cache.Serve:
		cc.cx = nil
		return true, cc.serveObject(cfg, l)
	case cache.Follow:
		cc.cx = nil
		return true, cc.serveFollow(cfg, l)
	case cache.Unsatisfied:
		cc.cx = nil
		keep = cc.keepAlive(true)
		cc.res.cache = l.CacheStatus(cacheName)
		cc.failWith(http.StatusGatewayTimeout, stats.ErrNone, "only-if-cached, and the cache has no usable answer", keep, "Cache-Status: "+cc.res.cache+"\r\n")
		return true, keep
	}
	return false, false
}

// cacheDone ends the request's lookup, whatever happened upstream.
func (cc *clientConn) cacheDone() {
	if cx := cc.cx; cx != nil {
		if cx.l != nil {
			cx.l.Done()
			if cc.res.cache == "" {
				cc.res.cache = cx.l.CacheStatus(cacheName)
			}
		}
		cc.cx = nil
	}
}

// appendConditionals adds the validators of a revalidation.
func (cx *cacheExchange) appendConditionals(b []byte) []byte {
	if cx.l == nil {
		return b
	}
	for _, kv := range cx.l.Conditionals() {
		b = appendField(b, []byte(kv[0]), []byte(kv[1]))
	}
	return b
}

// cacheAnswer hands the response head to the cache: a 304 to a
// revalidation is answered from the refreshed object (done), an answer
// to an unsafe method invalidates, and a storable answer gets a Writer
// the body is teed into.
func (cc *clientConn) cacheAnswer(uc *upstreamConn, cfg *Config, kind bodyKind) (done, keep bool) {
	cx, resp := cc.cx, &cc.resp
	h := make(http.Header, len(resp.fields))
	for _, f := range resp.fields {
		h.Add(string(f.name), string(f.value))
	}
	now := time.Now()
	if cx.l == nil {
		cfg.Cache.Invalidate(&cx.req, resp.code, h)
		return false, false
	}
	if resp.code == http.StatusNotModified && cx.l.Refresh(h, cc.started, now) {
		if cc.whole && cfg.MaxIdlePerHost > 0 && reusable(uc, resp, bodyNone) {
			cc.s.pool.put(uc, now)
		} else {
			uc.close()
		}
		return true, cc.serveObject(cfg, cx.l)
	}
	length := int64(-1)
	switch {
	case kind == bodyLength:
		length = resp.mi.length
	case kind == bodyNone && string(cc.req.method) != http.MethodHead:
		length = 0
	}
	if !resp.mi.coded && string(cc.req.method) != http.MethodHead {
		cx.w, _ = cx.l.Store(resp.code, h, length, cc.started, now)
	}
	if cx.w == nil {
		cx.l.Done()
	}
	cx.status = cx.l.CacheStatus(cacheName)
	cc.res.cache = cx.status
	return false, false
}

// appendCacheStatus adds the Cache-Status of a relayed answer.
func (cx *cacheExchange) appendCacheStatus(b []byte) []byte {
	if cx.status == "" {
		return b
	}
	b = append(b, "Cache-Status: "...)
	b = append(b, cx.status...)
	return append(b, "\r\n"...)
}

// teeBody relays a body that is being stored: each piece goes to the
// client and into the cache as it arrives (never through splice, which
// would keep the bytes from Sluice). A body the client reads chunked is
// re-framed as chunked (trailer fields are not kept). A client that goes
// away does not end the fetch while the cache still takes the body
// (up to max_object_mb): requests following it, and the next ones, get
// it whole.
func (cc *clientConn) teeBody(uc *upstreamConn, cfg *Config, kind bodyKind, http11 bool) (int64, error) {
	t := &teeWriter{dst: cc.bw, w: cc.cx.w, chunked: http11 && (kind == bodyChunked || kind == bodyUntilClose)}
	bw := bufio.NewWriterSize(t, 32<<10)
	var n int64
	var err error
	switch kind {
	case bodyLength:
		n, err = copyN(bw, nil, uc.br, &uc.tc, cc.resp.mi.length, &cc.meterOut)
	case bodyChunked:
		n, err = copyChunked(bw, nil, uc.br, &uc.tc, false, 0, cfg.MaxHeaderBytes, &cc.meterOut)
	case bodyUntilClose:
		n, err = copyUntilEOF(bw, uc.br, false, &cc.meterOut)
	}
	if err == nil {
		// The body is in: the last piece is stored before the client
		// has it, so its next request finds the object (see Write).
		t.last = true
		err = bw.Flush()
	}
	// nil: the body came whole from upstream, whatever the client did.
	cc.cx.w.Close(err)
	cc.res.cache = cc.cx.l.CacheStatus(cacheName)
	switch {
	case err == nil && t.err != nil:
		err = writeErr(t.err)
	case err == nil && t.chunked:
		if _, werr := cc.bw.WriteString("0\r\n\r\n"); werr != nil {
			err = writeErr(werr)
		}
	}
	return n, err
}

// teeWriter writes what its bufio.Writer flushes to the client (framed
// as a chunk when chunked) and to the cache, then flushes the client's
// buffer: the bufio.Writer in front flushes when the upstream has no
// more bytes ready, so a trickling body reaches the client as it comes.
type teeWriter struct {
	dst     *bufio.Writer
	w       *cache.Writer
	chunked bool
	last    bool  // p is the body's last piece
	err     error // the client's write failure, once it failed
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.w.Write(p)
	if t.last {
		t.w.Close(nil)
	}
	if t.err == nil {
		t.err = t.toClient(p)
	}
	if t.err != nil && !t.w.Storing() {
		return 0, t.err
	}
	return len(p), nil
}

func (t *teeWriter) toClient(p []byte) error {
	if t.chunked {
		if err := writeChunkSize(t.dst, int64(len(p))); err != nil {
			return err
		}
	}
	if _, err := t.dst.Write(p); err != nil {
		return err
	}
	if t.chunked {
		if _, err := t.dst.WriteString("\r\n"); err != nil {
			return err
		}
	}
	return t.dst.Flush()
}

// appendCachedHead writes the head of an answer from the cache: the
// stored fields, then Age, Cache-Status, Via and this answer's framing.
// length is the body's, -1 when unknown (then chunked or, for HTTP/1.0,
// to the close).
func (cc *clientConn) appendCachedHead(cfg *Config, l *cache.Lookup, length int64, keep bool) []byte {
	obj := l.Object
	b := appendStatusLine(cc.out[:0], l.Status, []byte(http.StatusText(l.Status)))
	b = append(b, obj.Head()...)
	if l.Status == http.StatusPartialContent || l.Status == http.StatusRequestedRangeNotSatisfiable {
		b = appendField(b, []byte("Content-Range"), []byte(l.ContentRange()))
	}
	switch {
	case l.Status == http.StatusNotModified:
	case length >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	case cc.req.minor == 1:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if l.Action == cache.Serve {
		b = append(b, "Age: "...)
		b = strconv.AppendInt(b, obj.Age(time.Now()), 10)
		b = append(b, "\r\n"...)
	}
	cc.res.cache = l.CacheStatus(cacheName)
	b = append(b, "Cache-Status: "...)
	b = append(b, cc.res.cache...)
	b = append(b, "\r\n"...)
	if !cfg.NoVia {
		b = appendVia(b, 1)
	}
	switch {
	case !keep:
		b = append(b, "Connection: close\r\n"...)
	case cc.req.minor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	return b
}

// serveObject answers from a stored object. It returns whether the
// connection stays.
func (cc *clientConn) serveObject(cfg *Config, l *cache.Lookup) bool {
	keep := cc.keepAlive(true)
	head := cc.appendCachedHead(cfg, l, l.RangeLen, keep)
	cc.res.status = l.Status
	cc.res.ttfb = time.Since(cc.started)
	withBody := string(cc.req.method) != http.MethodHead && l.Status != http.StatusNotModified && l.RangeLen > 0
	if withBody && cc.bw.Buffered() == 0 {
		// A body in memory goes out with its head in one writev.
		if bufs, ok := l.BodyInMemory(append(cc.bufs[:0], head)); ok {
			cc.bufs = bufs
			err := cc.writeBuffers(bufs)
			clear(cc.bufs) // no reference to a body the cache may drop
			if err != nil {
				cc.res.err = stats.ErrClientAbort
				return false
			}
			cc.res.bytesOut = l.RangeLen
			return keep
		}
	}
	cc.bw.Write(head)
	if withBody {
		n, err := l.WriteBody(cc.bw)
		cc.res.bytesOut = n
		if err != nil {
			cc.res.err = stats.ErrClientAbort
			return false
		}
	}
	if err := cc.bw.Flush(); err != nil {
		cc.res.err = stats.ErrClientAbort
		return false
	}
	return keep
}

// writeBuffers writes bufs to the client in one writev, under the write
// deadline cc.tc keeps.
func (cc *clientConn) writeBuffers(bufs [][]byte) error {
	if d, ok := cc.tc.write.next(cc.tc.timeout); ok {
		cc.conn.SetWriteDeadline(d)
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(cc.conn)
	return err
}

// serveFollow answers from another request's fetch, its body read as it
// arrives. It returns whether the connection stays.
func (cc *clientConn) serveFollow(cfg *Config, l *cache.Lookup) bool {
	length := l.RangeLen
	http11 := cc.req.minor == 1
	keep := cc.keepAlive(length >= 0 || http11)
	cc.bw.Write(cc.appendCachedHead(cfg, l, length, keep))
	cc.res.status = l.Status
	cc.res.ttfb = time.Since(cc.started)
	chunked := length < 0 && http11
	var n int64
	for {
		p, err := l.Follower.Next(false)
		if p == nil && err == nil {
			// Nothing more yet: what is buffered goes out before the wait.
			if err = cc.bw.Flush(); err != nil {
				cc.res.err = stats.ErrClientAbort
				break
			}
			p, err = l.Follower.Next(true)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				cc.res.err = stats.ErrUpstream
				cc.s.log.Debug("collapsed fetch failed", "url", l.Object.URL(), "err", err)
			}
			break
		}
		if chunked {
			writeChunkSize(cc.bw, int64(len(p)))
		}
		if _, err := cc.bw.Write(p); err != nil {
			cc.res.err = stats.ErrClientAbort
			break
		}
		if chunked {
			cc.bw.WriteString("\r\n")
		}
		n += int64(len(p))
		cc.meterOut.add(int64(len(p)))
	}
	cc.res.bytesOut = n
	l.Followed(n)
	if cc.res.err != stats.ErrNone {
		return false
	}
	if chunked {
		cc.bw.WriteString("0\r\n\r\n")
	}
	if err := cc.bw.Flush(); err != nil {
		cc.res.err = stats.ErrClientAbort
		return false
	}
	return keep
}
