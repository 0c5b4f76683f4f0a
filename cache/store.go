package cache

import (
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serve sets l to answer from obj (RFC 9111 §4.3.2 for the client's own
// conditionals, RFC 9110 §14 for a Range). It returns false for what the
// origin should answer instead: a multi-range request.
func (l *Lookup) serve(obj *Object) bool {
	h := l.req.Header
	status, start, n := obj.status, int64(0), obj.size
	rng := h.Get("Range")
	switch {
	case obj.status != http.StatusOK:
	case notModified(h, obj):
		status = http.StatusNotModified
	case rng == "" || l.req.Method != http.MethodGet || !ifRangeHolds(h.Get("If-Range"), obj):
	default:
		var ok bool
		if start, n, ok = parseRange(rng, obj.size); !ok {
			return false // several ranges, or a unit other than bytes
		}
		status = http.StatusPartialContent
		if n == 0 {
			status = http.StatusRequestedRangeNotSatisfiable
		}
	}
	l.Action, l.Object, l.Status, l.RangeStart, l.RangeLen = Serve, obj, status, start, n
	return true
}

// ContentRange is the Content-Range field value for a 206 or 416 answer.
func (l *Lookup) ContentRange() string {
	size := strconv.FormatInt(l.Object.size, 10)
	if l.Status == http.StatusRequestedRangeNotSatisfiable {
		return "bytes */" + size
	}
	return "bytes " + strconv.FormatInt(l.RangeStart, 10) + "-" + strconv.FormatInt(l.RangeStart+l.RangeLen-1, 10) + "/" + size
}

// notModified evaluates If-None-Match, or without it If-Modified-Since,
// against obj (RFC 9110 §13.1.2, §13.1.3; weak comparison).
func notModified(h http.Header, obj *Object) bool {
	if inm := h.Get("If-None-Match"); inm != "" {
		if obj.etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(obj.etag, "W/") {
				return true
			}
		}
		return false
	}
	v := h.Get("If-Modified-Since")
	if v == "" || obj.lastModified == "" {
		return false
	}
	ims, err := http.ParseTime(v)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(obj.lastModified)
	return err == nil && !lm.After(ims)
}

// ifRangeHolds reports whether a Range applies under If-Range (RFC 9110
// §13.1.5): an absent If-Range, a strong ETag equal to the stored one, or
// the stored Last-Modified date exactly.
func ifRangeHolds(v string, obj *Object) bool {
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, "W/"):
		return false
	case strings.HasPrefix(v, `"`):
		return v == obj.etag
	}
	return obj.lastModified != "" && v == obj.lastModified
}

// parseRange reads a single byte range (RFC 9110 §14.1.2) against a body
// of size bytes. ok is false for what is not one byte range; n is 0 for a
// range that is not satisfiable. (net/http's parser is unexported.)
func parseRange(v string, size int64) (start, n int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if first == "" { // a suffix: the last N bytes
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return 0, 0, false
		}
		k = min(k, size)
		return size - k, k, true
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false
	}
	e := size - 1
	if last != "" {
		if e, err = strconv.ParseInt(last, 10, 64); err != nil || e < s {
			return 0, 0, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true
	}
	return s, e - s + 1, true
}

// BodyInMemory returns the body bytes l answers with when they are in
// memory, as slices the caller must not change; ok is false when they
// must be read from disk (use WriteBody).
func (l *Lookup) BodyInMemory(dst [][]byte) (bufs [][]byte, ok bool) {
	c := l.c
	c.mu.Lock()
	body := l.Object.body
	c.mu.Unlock()
	if body == nil && l.RangeLen > 0 {
		return dst, false
	}
	off, n := l.RangeStart, l.RangeLen
	for _, p := range body {
		if n == 0 {
			break
		}
		if off >= int64(len(p)) {
			off -= int64(len(p))
			continue
		}
		p = p[off:]
		off = 0
		if int64(len(p)) > n {
			p = p[:n]
		}
		dst = append(dst, p)
		n -= int64(len(p))
	}
	return dst, true
}

// WriteBody writes the body bytes l answers with (RangeStart, RangeLen)
// of a served object to w: from memory, or from the disk tier, in which
// case a small body is brought into memory for the next hit.
func (l *Lookup) WriteBody(w io.Writer) (int64, error) {
	return l.c.writeBody(w, l.Object, l.RangeStart, l.RangeLen)
}

func (c *Cache) writeBody(w io.Writer, obj *Object, off, n int64) (int64, error) {
	c.mu.Lock()
	body, file, at := obj.body, obj.file, obj.bodyAt
	c.mu.Unlock()
	if body != nil || n == 0 {
		return writeChunks(w, body, off, n)
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if obj.size <= c.memObjectMax() {
		buf := make([]byte, obj.size)
		if _, err := f.ReadAt(buf, at); err != nil {
			return 0, err
		}
		c.promote(obj, buf)
		return writeChunks(w, [][]byte{buf}, off, n)
	}
	return io.Copy(w, io.NewSectionReader(f, at+off, n))
}

// touch marks obj used at now; mu is held.
func (c *Cache) touch(obj *Object, now time.Time) {
	obj.lastUse = now
	if obj.memElem != nil {
		c.mem.MoveToFront(obj.memElem)
	}
	if obj.diskElem != nil {
		c.disk.MoveToFront(obj.diskElem)
	}
}

// insert stores a whole object with its body; false when no tier took it.
func (c *Cache) insert(obj *Object, chunks [][]byte) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, _ := c.findExact(obj); old != nil {
		c.remove(old)
	}
	obj.lastUse = now
	if c.cfg.MemoryBytes > 0 && obj.size <= c.memObjectMax() {
		if chunks == nil {
			chunks = [][]byte{} // an empty body is still a body in memory
		}
		obj.body = chunks
		obj.memElem = c.mem.PushFront(obj)
		c.memBytes += obj.memSize()
	}
	toDisk := c.diskOpen() && obj.size <= c.diskObjectMax()
	if obj.body == nil && !toDisk {
		return false
	}
	c.index[obj.key] = append(c.index[obj.key], obj)
	if toDisk {
		c.writeLater(obj, chunks)
	}
	c.evictMem()
	return true
}

// findExact returns the stored variant for the same request values as
// obj; mu is held. A Vary that changed replaces every older variant.
func (c *Cache) findExact(obj *Object) (*Object, bool) {
	for _, o := range c.index[obj.key] {
		if slices.Equal(o.varyNames, obj.varyNames) && slices.Equal(o.varyVals, obj.varyVals) {
			return o, true
		}
		if !slices.Equal(o.varyNames, obj.varyNames) {
			c.remove(o)
			return c.findExact(obj)
		}
	}
	return nil, false
}

// replace puts obj, a refreshed old, in old's place, taking over its
// body and file; mu is held.
func (c *Cache) replace(old, obj *Object, now time.Time) {
	vs := c.index[old.key]
	for i, o := range vs {
		if o == old {
			vs[i] = obj
		}
	}
	old.gone = true
	obj.lastUse = now
	if old.memElem != nil {
		c.mem.Remove(old.memElem)
		old.memElem = nil
		c.memBytes -= old.memSize()
		obj.memElem = c.mem.PushFront(obj)
		c.memBytes += obj.memSize()
	}
	if old.diskElem != nil {
		// The file keeps old's head until it is rewritten with obj's.
		c.disk.Remove(old.diskElem)
		old.diskElem = nil
		obj.diskElem = c.disk.PushFront(obj)
		old.file = ""
		c.writeLater(obj, obj.body)
	}
}

// remove drops obj from the index and both tiers; mu is held.
func (c *Cache) remove(obj *Object) {
	if obj.gone {
		return
	}
	obj.gone = true
	vs := c.index[obj.key]
	for i, o := range vs {
		if o == obj {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(c.index, obj.key)
	} else {
		c.index[obj.key] = vs
	}
	c.dropMem(obj)
	c.dropFile(obj)
}

func (c *Cache) dropMem(obj *Object) {
	if obj.memElem != nil {
		c.mem.Remove(obj.memElem)
		obj.memElem = nil
		c.memBytes -= obj.memSize()
	}
	obj.body = nil
}

func (c *Cache) dropFile(obj *Object) {
	if obj.diskElem != nil {
		c.disk.Remove(obj.diskElem)
		obj.diskElem = nil
		c.diskBytes -= obj.diskSize()
	}
	if obj.file != "" {
		if !c.closed {
			os.Remove(obj.file)
		}
		obj.file = ""
	}
}

// evictMem drops the least recently used bodies from memory until the
// tier fits; an object with no file (and none being written) leaves the
// cache. mu is held.
func (c *Cache) evictMem() {
	for c.memBytes > c.cfg.MemoryBytes {
		e := c.mem.Back()
		if e == nil {
			return
		}
		obj := e.Value.(*Object)
		c.dropMem(obj)
		if obj.file == "" && !obj.writing {
			c.remove(obj)
		}
	}
}

// promote brings a disk object's body into memory after a hit.
func (c *Cache) promote(obj *Object, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if obj.gone || obj.body != nil || c.cfg.MemoryBytes == 0 {
		return
	}
	obj.body = [][]byte{body}
	obj.memElem = c.mem.PushFront(obj)
	c.memBytes += obj.memSize()
	c.evictMem()
}

// Purge drops what matches: every object (all), a host's (host:port as
// in the key, or a bare host), or one URL's variants. It returns how many
// objects went.
func (c *Cache) Purge(all bool, host, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, vs := range c.index {
		for _, o := range vs {
			match := all || key != "" && k == key || host != "" && (strings.EqualFold(o.host, host) || strings.EqualFold(hostOnly(o.host), host))
			if match {
				c.remove(o)
				n++
			}
		}
	}
	return n
}

// hostOnly strips a port from host[:port].
func hostOnly(hp string) string {
	if i := strings.LastIndexByte(hp, ':'); i >= 0 && !strings.HasSuffix(hp, "]") {
		return strings.Trim(hp[:i], "[]")
	}
	return strings.Trim(hp, "[]")
}
