package cache

import (
	"container/list"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Object is one stored response: its head, what its fields say about
// reuse, and its body in memory, on disk or both. Its head and body never
// change once stored; a 304 makes a new Object that shares the body.
type Object struct {
	key       string // the primary key: the URL (see Key)
	host      string
	varyNames []string
	varyVals  []string
	status    int
	header    http.Header
	// head is header as "Name: value\r\n" lines, without Content-Length
	// and Age, which are written per answer: built once, so a hit costs
	// one write.
	head              []byte
	reqTime, respTime time.Time
	rules
	size               int64
	etag, lastModified string
	// announced is the Content-Length the origin sent, -1 for none: the
	// length followers announce before the body is whole.
	announced int64

	// Guarded by Cache.mu.
	body     [][]byte // the memory tier's copy; nil when only on disk
	file     string   // the disk tier's file; "" when not on disk
	bodyAt   int64    // where the body starts in file
	writing  bool     // a disk write of this object is under way
	gone     bool     // replaced, purged or evicted from both tiers
	memElem  *list.Element
	diskElem *list.Element
	lastUse  time.Time
}

// Header is the stored response's fields. Callers must not change it.
func (o *Object) Header() http.Header { return o.header }

// Head is Header as "Name: value\r\n" lines, without Content-Length and
// Age. Callers must not change it.
func (o *Object) Head() []byte { return o.head }

// URL is the object's primary key.
func (o *Object) URL() string { return o.key }

// Age is current_age (RFC 9111 §4.2.3) at now, in whole seconds as the
// Age field carries it.
func (o *Object) Age(now time.Time) int64 {
	return int64(o.age(now) / time.Second)
}

func (o *Object) age(now time.Time) time.Duration {
	return o.initialAge + max(0, now.Sub(o.respTime))
}

// newObject builds an object from a response head; body comes later.
func newObject(key string, req http.Header, status int, h http.Header, reqTime, respTime time.Time, r rules) *Object {
	o := &Object{key: key, host: hostOf(key), status: status, header: storedHeader(h, respTime), reqTime: reqTime, respTime: respTime, rules: r}
	o.varyNames = varyNames(h)
	o.varyVals = varyValues(req, o.varyNames)
	o.etag, o.lastModified = h.Get("ETag"), h.Get("Last-Modified")
	o.buildHead()
	return o
}

// storedHeader copies the fields worth storing: end-to-end ones (RFC
// 9111 §3.1), with the framing the cache writes itself left out. Date is
// added when missing, as a recipient should (RFC 9110 §6.6.1).
func storedHeader(h http.Header, respTime time.Time) http.Header {
	out := make(http.Header, len(h))
	drop := map[string]bool{}
	for _, v := range h.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			drop[http.CanonicalHeaderKey(strings.TrimSpace(t))] = true
		}
	}
	for name, vs := range h {
		switch name {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
			"Proxy-Authenticate", "Proxy-Authorization", "Content-Length", "Age":
			continue
		}
		if drop[name] {
			continue
		}
		out[name] = slices.Clone(vs)
	}
	if _, ok := out["Date"]; !ok {
		out.Set("Date", respTime.UTC().Format(http.TimeFormat))
	}
	return out
}

// buildHead serialises header in a stable order.
func (o *Object) buildHead() {
	names := make([]string, 0, len(o.header))
	for n := range o.header {
		names = append(names, n)
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		for _, v := range o.header[n] {
			b = append(b, n...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	o.head = b
}

// memSize is what the object costs the memory tier.
func (o *Object) memSize() int64 {
	n := int64(len(o.head)) + 512 // the struct, its maps and slices
	for _, c := range o.body {
		n += int64(cap(c))
	}
	return n
}

// hostOf is the host[:port] of a key.
func hostOf(key string) string {
	_, rest, _ := strings.Cut(key, "://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// Key is the primary cache key of a request (RFC 9111 §2): its target
// URI, scheme and host lower-cased and a default port left out, so every
// spelling of one URL finds one entry.
func Key(scheme, host, port, pathQuery string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	if port != "" && !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host += ":" + port
	}
	if pathQuery == "" || pathQuery[0] == '?' {
		pathQuery = "/" + pathQuery
	}
	return scheme + "://" + host + pathQuery
}

// writeChunks writes [off, off+n) of a body held as chunks.
func writeChunks(w io.Writer, chunks [][]byte, off, n int64) (int64, error) {
	var done int64
	for _, c := range chunks {
		if n == 0 {
			break
		}
		if off >= int64(len(c)) {
			off -= int64(len(c))
			continue
		}
		p := c[off:]
		off = 0
		if int64(len(p)) > n {
			p = p[:n]
		}
		k, err := w.Write(p)
		done += int64(k)
		n -= int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
