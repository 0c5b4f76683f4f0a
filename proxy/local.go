package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// maxLocalBody bounds a request body sent to a local endpoint; none of
// them takes one, so it is read and dropped only to keep the conn usable.
const maxLocalBody = 64 << 10

// serveLocal answers an origin-form request: one addressed to Sluice
// itself rather than through it (GET /healthz, /stats, /metrics). Only
// loopback clients are served, so a proxy opened to the network does not
// expose its counters, and only for a Host that names this machine (see
// localHostError).
func (cc *clientConn) serveLocal(cfg *Config) bool {
	req := &cc.req
	if !cc.loopback {
		cc.fail(http.StatusForbidden, stats.ErrForbidden, "local endpoints are served to loopback clients only", false)
		return false
	}
	if se := cc.s.localHostError(req); se != nil {
		kind := stats.ErrForbidden
		if se.code == http.StatusBadRequest {
			kind = stats.ErrBadRequest
		}
		cc.fail(se.code, kind, se.reason, false)
		return false
	}
	if req.mi.chunked || req.mi.length > maxLocalBody {
		cc.fail(http.StatusRequestEntityTooLarge, stats.ErrTooLarge, "local endpoints take no request body", false)
		return false
	}
	if req.mi.length > 0 {
		if _, err := cc.br.Discard(int(req.mi.length)); err != nil {
			return false
		}
	}
	cc.whole = true
	keep := cc.keepAlive(true)
	u, err := url.ParseRequestURI(string(req.path))
	if err != nil {
		cc.fail(http.StatusBadRequest, stats.ErrBadRequest, "bad path", keep)
		return keep
	}
	r := &http.Request{
		Method: string(req.method), URL: u, RequestURI: string(req.path),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: req.minor,
		Header: make(http.Header, len(req.fields)), Body: http.NoBody,
		Host: string(req.mi.host), RemoteAddr: cc.conn.RemoteAddr().String(),
	}
	for _, f := range req.fields {
		r.Header.Add(string(f.name), string(f.value))
	}
	w := &localResponse{cc: cc, header: http.Header{}, head: r.Method == http.MethodHead}
	localHandler(cfg).ServeHTTP(w, r)
	if w.streaming {
		return w.endStream()
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	cc.res.status = w.code
	b := w.appendHead(cc.out[:0])
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(w.body.Len()), 10)
	b = append(b, "\r\n"...)
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	cc.bw.Write(b)
	if !w.head {
		cc.bw.Write(w.body.Bytes())
		cc.res.bytesOut = int64(w.body.Len())
	}
	if err := cc.bw.Flush(); err != nil {
		cc.res.err = stats.ErrClientAbort
		return false
	}
	return keep
}

// localHostError checks the Host of a request to a local endpoint and
// returns nil when it names this machine: localhost or a name under it,
// a loopback address, or Sluice's own listen address. A web page can make
// a browser send requests to Sluice by pointing a name of its own at
// 127.0.0.1 (DNS rebinding); the browser then treats the answers as the
// page's own and lets it read them. The Host it sends is that name, so a
// Host naming this machine is what shows the request was meant for
// Sluice (421 otherwise). An HTTP/1.0 request may come without a Host:
// browsers always send one, so such a request cannot come from a page.
func (s *Server) localHostError(req *request) *statusError {
	var host []byte
	n := 0
	for i := range req.fields {
		if fieldIs(req.fields[i].name, "host") {
			host = req.fields[i].value
			n++
		}
	}
	switch {
	case n > 1:
		return badRequest("more than one Host field")
	case n == 0 && req.minor == 0:
		return nil
	case n == 0:
		return badRequest("an HTTP/1.1 request needs a Host field (RFC 9112 §3.2)")
	}
	var name, port []byte
	if splitHostPort(host, &name, &port) {
		if isLocalhostName(name) {
			return nil
		}
		if ip, err := netip.ParseAddr(string(name)); err == nil {
			p := int64(80)
			if len(port) > 0 {
				p = parseDecimal(port)
			}
			if ip.IsLoopback() || s.isSelf(ip, uint16(p)) {
				return nil
			}
		}
	}
	return &statusError{http.StatusMisdirectedRequest, fmt.Sprintf(
		"local endpoints answer requests for localhost, a loopback address or Sluice's listen address, not Host %.80q", host)}
}

// isLocalhostName reports whether host is "localhost" or a name under it
// (RFC 6761 §6.3), with or without a final dot.
func isLocalhostName(host []byte) bool {
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	const name = "localhost"
	n := len(host)
	return n >= len(name) && bytes.EqualFold(host[n-len(name):], []byte(name)) &&
		(n == len(name) || host[n-len(name)-1] == '.')
}

// localHandler serves /healthz itself and passes the rest to cfg.Local.
func localHandler(cfg *Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "ok\n")
			return
		}
		if cfg.Local != nil {
			cfg.Local.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// localResponse collects a local endpoint's response. Most are small
// and sent whole with a Content-Length once the handler returns. A
// handler that calls Flush (the dashboard's event stream) streams
// instead: the head goes out at the first Flush, chunked for HTTP/1.1
// (close-delimited for 1.0), every write is bounded by body_timeout like
// any write to a client (timedConn), and the connection closes when the
// handler returns. Writes fail once the server shuts down, so a stream
// cannot hold Shutdown for longer than its handler takes to notice.
type localResponse struct {
	cc     *clientConn
	header http.Header
	code   int
	body   bytes.Buffer
	head   bool // a HEAD request: no body is sent

	streaming bool
	chunked   bool
	err       error    // the first failed write; every later one fails too
	hex       [16]byte // a chunk-size line is built here, allocation-free
}

// errLocalShutdown ends a local stream when the server shuts down.
var errLocalShutdown = errors.New("sluice is shutting down")

func (w *localResponse) Header() http.Header { return w.header }

func (w *localResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *localResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if !w.streaming {
		return w.body.Write(p)
	}
	if err := w.check(); err != nil {
		return 0, err
	}
	if len(p) == 0 || w.head {
		return len(p), nil
	}
	bw := w.cc.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.hex[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	bw.Write(p)
	if w.chunked {
		bw.WriteString("\r\n")
	}
	w.cc.res.bytesOut += int64(len(p))
	return len(p), w.check()
}

// Flush sends what was written so far: at the first call, the head (and
// the response turns into a stream), then the buffered body.
func (w *localResponse) Flush() {
	if !w.streaming {
		w.startStream()
	}
	if w.check() == nil {
		if err := w.cc.bw.Flush(); err != nil {
			w.err = err
		}
	}
}

// check returns why the stream cannot go on, if it cannot.
func (w *localResponse) check() error {
	if w.err == nil && w.cc.s.shuttingDown() {
		w.err = errLocalShutdown
	}
	return w.err
}

func (w *localResponse) startStream() {
	w.WriteHeader(http.StatusOK)
	cc := w.cc
	w.streaming = true
	w.chunked = cc.req.minor == 1
	cc.res.status = w.code
	b := w.appendHead(cc.out[:0])
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = append(b, "Connection: close\r\n\r\n"...)
	cc.out = b
	cc.bw.Write(b)
	if w.body.Len() > 0 {
		w.Write(w.body.Bytes())
		w.body = bytes.Buffer{}
	}
}

// endStream ends a streamed response; the connection closes after it. A
// client that leaves a stream is how streams usually end, so it is not
// counted as a failed request.
func (w *localResponse) endStream() bool {
	// On shutdown the connection still works: end the stream properly.
	if w.check() == nil || w.err == errLocalShutdown {
		if w.chunked && !w.head {
			w.cc.bw.WriteString("0\r\n\r\n")
		}
		w.cc.bw.Flush()
	}
	return false
}

// appendHead appends the status line and the handler's fields, less the
// framing and connection ones, which are Sluice's to write.
func (w *localResponse) appendHead(b []byte) []byte {
	b = appendStatusLine(b, w.code, []byte(http.StatusText(w.code)))
	for name, vs := range w.header {
		switch http.CanonicalHeaderKey(name) {
		case "Content-Length", "Connection", "Transfer-Encoding":
			continue
		}
		for _, v := range vs {
			b = appendField(b, []byte(name), []byte(v))
		}
	}
	return b
}
