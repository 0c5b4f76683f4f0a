package proxy

import (
	"bytes"
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
	w := &localResponse{header: http.Header{}}
	localHandler(cfg).ServeHTTP(w, r)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	cc.res.status = w.code
	b := appendStatusLine(cc.out[:0], w.code, []byte(http.StatusText(w.code)))
	w.header.Del("Content-Length")
	w.header.Del("Connection")
	for name, vs := range w.header {
		for _, v := range vs {
			b = appendField(b, []byte(name), []byte(v))
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(w.body.Len()), 10)
	b = append(b, "\r\n"...)
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	cc.out = b
	cc.bw.Write(b)
	if r.Method != http.MethodHead {
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

// localResponse collects a local endpoint's response; the endpoints are
// small, so it is sent with a Content-Length.
type localResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *localResponse) Header() http.Header { return w.header }

func (w *localResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *localResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}
