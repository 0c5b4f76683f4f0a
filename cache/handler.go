package cache

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Handler returns an http.Handler that answers from c what it may and
// passes the rest to next (which fetches from the origin: an
// httputil.ReverseProxy, or the round trip of an inspected HTTPS
// exchange), storing what next answers. scheme is the requests' scheme
// ("https" for inspected exchanges), as it goes into the cache key; name
// is the identifier in Cache-Status ("Sluice").
//
// next's answer is teed into the cache as it is written. A body next
// cuts short must show as such: a Content-Length it does not meet, or a
// panic with http.ErrAbortHandler (what ReverseProxy does); otherwise a
// body of unknown length that ends early is stored as if whole.
func (c *Cache) Handler(scheme, name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port, err := net.SplitHostPort(r.Host)
		if err != nil {
			host, port = r.Host, ""
		}
		req := &Request{Method: r.Method, Key: Key(scheme, host, port, r.URL.RequestURI()), Header: r.Header}
		if unsafeMethod(r.Method) {
			iw := &invalidatingWriter{ResponseWriter: w, c: c, req: req}
			next.ServeHTTP(iw, r)
			return
		}
		l := c.Lookup(req)
		defer l.Done()
		switch l.Action {
		case Serve:
			serveLookup(w, l, name)
			return
		case Follow:
			serveFollower(w, l, name)
			return
		case Unsatisfied:
			w.Header().Set("Cache-Status", l.CacheStatus(name))
			http.Error(w, "only-if-cached, and the cache has no usable answer", http.StatusGatewayTimeout)
			return
		}
		if conds := l.Conditionals(); conds != nil {
			r = r.Clone(r.Context())
			for _, kv := range conds {
				r.Header.Set(kv[0], kv[1])
			}
		}
		tw := &teeResponseWriter{ResponseWriter: w, l: l, name: name, reqTime: time.Now()}
		defer func() {
			if v := recover(); v != nil {
				if tw.cw != nil {
					tw.cw.Close(errors.New("the handler broke off the body"))
				}
				panic(v)
			}
			if tw.cw != nil {
				tw.cw.Close(nil)
			}
		}()
		next.ServeHTTP(tw, r)
		if tw.refreshed {
			serveLookup(w, l, name)
		}
	})
}

// serveLookup writes an answer from a stored object.
func serveLookup(w http.ResponseWriter, l *Lookup, name string) {
	h := w.Header()
	for k, vs := range l.Object.Header() {
		h[k] = vs
	}
	h.Set("Age", strconv.FormatInt(l.Object.Age(time.Now()), 10))
	h.Set("Cache-Status", l.CacheStatus(name))
	if l.Status == http.StatusPartialContent || l.Status == http.StatusRequestedRangeNotSatisfiable {
		h.Set("Content-Range", l.ContentRange())
	}
	if l.Status != http.StatusNotModified {
		h.Set("Content-Length", strconv.FormatInt(l.RangeLen, 10))
	}
	w.WriteHeader(l.Status)
	if l.req.Method != http.MethodHead && l.Status != http.StatusNotModified {
		l.WriteBody(w)
	}
}

// serveFollower writes an answer that follows another request's fetch.
func serveFollower(w http.ResponseWriter, l *Lookup, name string) {
	h := w.Header()
	for k, vs := range l.Object.Header() {
		h[k] = vs
	}
	h.Set("Cache-Status", l.CacheStatus(name))
	if l.RangeLen >= 0 {
		h.Set("Content-Length", strconv.FormatInt(l.RangeLen, 10))
	}
	w.WriteHeader(l.Status)
	f, _ := w.(http.Flusher)
	var n int64
	for {
		p, err := l.Follower.Next(true)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				panic(http.ErrAbortHandler) // the client must see the body cut
			}
			break
		}
		if _, err := w.Write(p); err != nil {
			break
		}
		n += int64(len(p))
		if f != nil {
			f.Flush()
		}
	}
	l.Followed(n)
}

// teeResponseWriter passes next's answer on and into the cache.
type teeResponseWriter struct {
	http.ResponseWriter
	l         *Lookup
	name      string
	reqTime   time.Time
	cw        *Writer
	wrote     bool
	refreshed bool // a 304 refreshed the stored object; next's answer is dropped
}

func (t *teeResponseWriter) WriteHeader(code int) {
	if t.wrote {
		return
	}
	t.wrote = true
	now := time.Now()
	h := t.ResponseWriter.Header()
	if code == http.StatusNotModified && t.l.Refresh(h.Clone(), t.reqTime, now) {
		t.refreshed = true
		for k := range h {
			delete(h, k)
		}
		return
	}
	length := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			length = n
		}
	}
	if t.l.req.Method == http.MethodGet {
		t.cw, _ = t.l.Store(code, h.Clone(), length, t.reqTime, now)
	}
	h.Set("Cache-Status", t.l.CacheStatus(t.name))
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeResponseWriter) Write(p []byte) (int, error) {
	if !t.wrote {
		t.WriteHeader(http.StatusOK)
	}
	if t.refreshed {
		return len(p), nil
	}
	if t.cw != nil {
		t.cw.Write(p)
	}
	return t.ResponseWriter.Write(p)
}

// Flush lets a streaming next reach the client as it writes.
func (t *teeResponseWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok && !t.refreshed {
		f.Flush()
	}
}

// invalidatingWriter applies RFC 9111 §4.4 to an unsafe method's answer.
type invalidatingWriter struct {
	http.ResponseWriter
	c     *Cache
	req   *Request
	wrote bool
}

func (iw *invalidatingWriter) WriteHeader(code int) {
	if !iw.wrote {
		iw.wrote = true
		iw.c.Invalidate(iw.req, code, iw.ResponseWriter.Header())
	}
	iw.ResponseWriter.WriteHeader(code)
}

func (iw *invalidatingWriter) Write(p []byte) (int, error) {
	if !iw.wrote {
		iw.WriteHeader(http.StatusOK)
	}
	return iw.ResponseWriter.Write(p)
}

func (iw *invalidatingWriter) Flush() {
	if f, ok := iw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
