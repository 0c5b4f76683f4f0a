package inspect

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// exchange is one decrypted request and its answer, as the access record
// and a capture report them.
type exchange struct {
	t      *proxy.InspectedTunnel
	start  time.Time
	ttfb   time.Duration
	status int // sent to the client; 0 until a final head was
	// upStatus and upProto are the origin's answer, set by roundTrip.
	upStatus int
	upProto  string
	in, out  atomic.Int64 // body bytes from and to the client
	err      stats.ErrKind
	// writeErr is the first failed write to the client.
	writeErr error
	// cancel ends the exchange with the origin; stalled is set when a
	// silent origin body made stallBody call it.
	cancel  context.CancelFunc
	stalled atomic.Bool
	// capture is the HAR capture taking this exchange, or nil; reqBody
	// and respBody hold the bodies it keeps, respHeader the head sent.
	capture    *capture
	reqBody    capBuf
	respBody   capBuf
	respHeader http.Header
}

type exchangeKey struct{}

// reverseProxy builds the relay of decrypted requests: streaming both
// ways (FlushInterval -1: every write reaches the client at once, so
// server-sent events and long polls work), upgrades (WebSocket) passed
// through, errors answered by upstreamFailed.
func (in *Inspector) reverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(tunnelKey{}).(*proxy.InspectedTunnel)
			// The origin is the CONNECT target, whatever Host says: the
			// client asked for that address, as with a blind tunnel.
			pr.Out.URL.Scheme = "https"
			pr.Out.URL.Host = net.JoinHostPort(t.Host, t.Port)
			// ReverseProxy drops these before Rewrite; an inspecting
			// proxy passes the client's request as sent.
			for _, h := range forwardedFields {
				if v, ok := pr.In.Header[h]; ok {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:     roundTripper{in.tr},
		FlushInterval: -1,
		BufferPool:    &bufferPool{},
		ErrorHandler:  in.upstreamFailed,
		ModifyResponse: func(resp *http.Response) error {
			ex := resp.Request.Context().Value(exchangeKey{}).(*exchange)
			if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil && resp.Body != http.NoBody {
				resp.Body = newStallBody(resp.Body, ex, in.cfg.BodyTimeout)
			}
			return nil
		},
		ErrorLog: slog.NewLogLogger(in.log.Handler(), slog.LevelDebug),
	}
}

// forwardedFields are the request fields ReverseProxy removes before
// Rewrite (RFC 7239 and the X-Forwarded-* de facto standard).
var forwardedFields = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// ServeHTTP relays one decrypted request and records it.
func (in *Inspector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, _ := r.Context().Value(tunnelKey{}).(*proxy.InspectedTunnel)
	if t == nil {
		http.Error(w, "sluice: not an inspected connection", http.StatusInternalServerError)
		return
	}
	ex := &exchange{t: t, start: time.Now()}
	if c := in.cfg.Capture.active(t.Host); c != nil {
		ex.capture = c
		ex.reqBody.max, ex.respBody.max = c.bodyMax, c.bodyMax
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countBody{ReadCloser: r.Body, ex: ex}
	}
	rw := &recordWriter{ResponseWriter: w, ex: ex, rc: http.NewResponseController(w), timeout: in.cfg.BodyTimeout}
	defer func() {
		p := recover()
		if p != nil && ex.err == stats.ErrNone {
			// ReverseProxy aborts a response whose copy failed: on the
			// client's side if a write to it failed, else the origin's.
			var ne net.Error
			switch {
			case ex.stalled.Load():
				ex.err = stats.ErrUpstreamTimeout
			case errors.As(ex.writeErr, &ne) && ne.Timeout():
				ex.err = stats.ErrClientTimeout
			case ex.writeErr != nil || r.Context().Err() != nil:
				ex.err = stats.ErrClientAbort
			default:
				ex.err = stats.ErrUpstream
			}
		}
		in.finish(ex, r)
		if p != nil {
			panic(p)
		}
	}()
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), exchangeKey{}, ex))
	defer cancel()
	ex.cancel = cancel
	var h http.Handler = in.rp
	if in.cfg.Cache != nil {
		if c := in.cfg.Cache(); c != nil {
			h = c.Handler("https", "Sluice", in.rp)
		}
	}
	h.ServeHTTP(rw, r.WithContext(ctx))
}

// finish reports an exchange to the counters, the access log and a
// running capture.
func (in *Inspector) finish(ex *exchange, r *http.Request) {
	t := ex.t
	status := ex.status
	if status == 0 {
		status = ex.upStatus // a 101: the upgrade wrote its own head
	}
	path := r.URL.Path
	if t.LogQuery && r.URL.RawQuery != "" {
		path = r.URL.RequestURI()
	}
	rec := proxy.AccessRecord{
		Time: ex.start, Client: t.Client, Method: r.Method, Scheme: "https",
		Host: t.Host, Port: t.Port, Path: path, Status: status,
		BytesIn: ex.in.Load(), BytesOut: ex.out.Load(),
		Duration: time.Since(ex.start), TTFB: ex.ttfb,
		Tunnel: status == http.StatusSwitchingProtocols, Inspected: true,
		ClientProto: r.Proto, UpstreamProto: ex.upProto, Err: ex.err,
	}
	t.Record(&rec)
	if ex.capture != nil {
		ex.capture.add(harEntry(ex, r, &rec))
	}
}

// roundTripper sends a request on the shared Transport and notes the
// origin's answer in the exchange.
type roundTripper struct{ tr *http.Transport }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := req.Context().Value(exchangeKey{}).(*exchange)
	resp, err := rt.tr.RoundTrip(req)
	if err == nil {
		ex.upStatus, ex.upProto = resp.StatusCode, resp.Proto
	}
	return resp, err
}

// upstreamFailed answers a request the origin did not answer: 502 or 504
// with a one-line reason and RFC 9209 Proxy-Status, as the proxy's own
// errors. An origin certificate that fails verification is never passed
// over: the client gets 502 saying why.
func (in *Inspector) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	ex := r.Context().Value(exchangeKey{}).(*exchange)
	if r.Context().Err() != nil {
		ex.err = stats.ErrClientAbort // the client left; nobody to answer
		return
	}
	addr := net.JoinHostPort(ex.t.Host, ex.t.Port)
	code, kind, errType, reason := classify(err, addr)
	ex.err = kind
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Proxy-Status", "sluice; error="+errType+"; details="+strconv.Quote(reason))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, "sluice: "+reason+"\n")
}

// classify turns a failed exchange with the origin at addr into the
// status, error kind, RFC 9209 error type and one-line reason.
func classify(err error, addr string) (code int, kind stats.ErrKind, errType, reason string) {
	var cve *tls.CertificateVerificationError
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &cve):
		return http.StatusBadGateway, stats.ErrUpstream, "tls_certificate_error",
			"the certificate of " + addr + " failed verification (" + cve.Err.Error() + "); Sluice does not pass it on"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return http.StatusBadGateway, stats.ErrDNS, "dns_error", "unknown host " + dnsErr.Name
	case errors.As(err, &dnsErr):
		return http.StatusBadGateway, stats.ErrDNS, "dns_error", "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, stats.ErrUpstreamTimeout, "connection_timeout", addr + " did not answer in time: " + innermost(err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return http.StatusBadGateway, stats.ErrRefused, "connection_refused", "cannot connect to " + addr + ": " + innermost(err)
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) {
		return http.StatusBadGateway, stats.ErrUpstream, "tls_protocol_error", addr + " does not speak TLS"
	}
	return http.StatusBadGateway, stats.ErrUpstream, "http_protocol_error", "the exchange with " + addr + " failed: " + innermost(err)
}

// innermost is the innermost cause of err, for a one-line reason.
func innermost(err error) string {
	for {
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err.Error()
		}
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// recordWriter counts what goes to the client, keeps what a capture
// needs, and bounds each write by body_timeout: on HTTP/2 a client that
// stops reading stalls a handler on flow control, which no connection
// deadline sees, so the stream's own write deadline resets it. Flush and
// Unwrap keep streaming and upgrades working through it.
type recordWriter struct {
	http.ResponseWriter
	ex      *exchange
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *recordWriter) WriteHeader(code int) {
	if ex := w.ex; ex.status == 0 && code >= 200 {
		ex.status, ex.ttfb = code, time.Since(ex.start)
		if ex.capture != nil {
			ex.respHeader = w.Header().Clone()
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordWriter) Write(p []byte) (int, error) {
	if w.ex.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	w.ex.out.Add(int64(n))
	if err != nil && w.ex.writeErr == nil {
		w.ex.writeErr = err
	}
	if w.ex.capture != nil {
		w.ex.respBody.write(p[:n])
	}
	return n, err
}

// Flush sends what Write buffered, under Write's deadline, then clears
// it: a deadline left set while the origin is silent would cut the
// client's stream (HTTP/2 resets it) for the origin's stall, which
// stallBody answers on the origin's side.
func (w *recordWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	w.rc.SetWriteDeadline(time.Time{})
}

func (w *recordWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// stallBody ends an exchange whose origin sends no byte of its response
// body for the timeout, as the relay's body_timeout does: the origin
// leg has no deadline of its own, since the shared Transport's
// connections outlive each exchange. Only time spent waiting inside Read
// counts: a client reading slowly is the client's side, bounded by the
// write deadlines.
type stallBody struct {
	io.ReadCloser
	ex      *exchange
	timeout time.Duration
	timer   *time.Timer
}

func newStallBody(rc io.ReadCloser, ex *exchange, timeout time.Duration) *stallBody {
	b := &stallBody{ReadCloser: rc, ex: ex, timeout: timeout}
	b.timer = time.AfterFunc(time.Hour, func() {
		ex.stalled.Store(true)
		ex.cancel()
	})
	b.timer.Stop()
	return b
}

func (b *stallBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *stallBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

// countBody counts a request body as the origin reads it.
type countBody struct {
	io.ReadCloser
	ex *exchange
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.ex.in.Add(int64(n))
	if b.ex.capture != nil {
		b.ex.reqBody.write(p[:n])
	}
	return n, err
}

// capBuf keeps the first max bytes of a body and counts the rest.
type capBuf struct {
	mu        sync.Mutex
	max       int64
	b         []byte
	truncated bool
}

func (c *capBuf) write(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - int64(len(c.b))
	if int64(len(p)) > room {
		p = p[:max(room, 0)]
		c.truncated = true
	}
	c.b = append(c.b, p...)
}

func (c *capBuf) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b, c.truncated
}

// bufferPool lends ReverseProxy its copy buffers, so a busy inspector
// does not make 32 KiB of garbage per response.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[32 << 10]byte); ok {
		return b[:]
	}
	return new([32 << 10]byte)[:]
}

func (bp *bufferPool) Put(b []byte) {
	if len(b) == 32<<10 {
		bp.p.Put((*[32 << 10]byte)(b))
	}
}
