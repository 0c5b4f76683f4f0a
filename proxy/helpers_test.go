package proxy

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shared fixtures for the proxy's tests: a Sluice on a loopback port, real
// origins (httptest servers, or raw listeners where the test needs to see
// or write exact bytes), clients (net/http with a proxy set, raw TCP), and
// deterministic bodies. Every wait is bounded by a generous deadline so a
// slow, busy machine makes a test slower, never flaky.

// patience bounds every wait for something that should happen promptly.
const patience = 20 * time.Second

// testProxy is a Sluice serving on an ephemeral loopback port.
type testProxy struct {
	srv    *Server
	addr   string   // "127.0.0.1:port"
	url    *url.URL // http://addr, for Transport.Proxy
	served chan error
}

// startProxy starts a Sluice for cfg on 127.0.0.1 and closes it when the
// test ends. cfg.Listen is set to the chosen address.
func startProxy(t testing.TB, cfg Config) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, cfg, ln)
}

// serveProxy runs a Sluice for cfg on ln until the test ends.
func serveProxy(t testing.TB, cfg Config, ln net.Listener) *testProxy {
	t.Helper()
	cfg.Listen = ln.Addr().String()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	p := &testProxy{srv: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	p.url = &url.URL{Scheme: "http", Host: p.addr}
	go func() { p.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-p.served:
		case <-time.After(patience):
			t.Error("Serve did not return after Close")
		}
	})
	return p
}

// client returns a net/http client that sends everything through p.
func (p *testProxy) client(t testing.TB) *http.Client {
	tr := &http.Transport{
		Proxy:              http.ProxyURL(p.url),
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// origin is an httptest server that counts the connections it accepted.
type origin struct {
	*httptest.Server
	accepted atomic.Int64
	closed   atomic.Int64
}

// startOrigin starts an HTTP origin on loopback for h.
func startOrigin(t testing.TB, h http.Handler) *origin {
	t.Helper()
	o := &origin{Server: httptest.NewUnstartedServer(h)}
	o.Config.ConnState = o.connState
	o.Config.ErrorLog = discardLog()
	o.Start()
	t.Cleanup(o.Close)
	return o
}

func (o *origin) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		o.accepted.Add(1)
	case http.StateClosed, http.StateHijacked:
		o.closed.Add(1)
	}
}

// hostPort is the origin's "127.0.0.1:port".
func (o *origin) hostPort() string {
	return strings.TrimPrefix(strings.TrimPrefix(o.URL, "http://"), "https://")
}

// rawOrigin is a TCP listener whose connections a test handles byte by
// byte, for framing an httptest server would not produce.
type rawOrigin struct {
	ln       net.Listener
	addr     string
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// startRawOrigin accepts connections on loopback and runs handle for
// each in its own goroutine; the connection is closed when handle
// returns, and every connection is closed when the test ends.
func startRawOrigin(t testing.TB, handle func(c net.Conn)) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.accepted.Add(1)
			o.mu.Lock()
			o.conns[c] = struct{}{}
			o.mu.Unlock()
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer c.Close()
				handle(c)
				o.mu.Lock()
				delete(o.conns, c)
				o.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		o.mu.Lock()
		for c := range o.conns {
			c.Close()
		}
		o.mu.Unlock()
		o.wg.Wait()
	})
	return o
}

// readRequestHead reads one request head from br and returns it.
func readRequestHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
	}
}

// rawClient is a TCP connection to the proxy for requests written by hand.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(patience))
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write request: %v", err)
	}
}

// response reads one response to a request with method, and its body.
func (rc *rawClient) response(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	if method == "CONNECT" && resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, "" // the rest of the stream belongs to the tunnel
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read response body: %v", err)
	}
	return resp, string(body)
}

// expectClosed fails unless the proxy closes the connection (after any
// bytes still buffered) within patience.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(patience))
	extra, err := io.ReadAll(rc.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("connection still open after %v", patience)
	}
	if len(extra) > 0 {
		rc.t.Fatalf("unexpected bytes before close: %q", extra)
	}
}

// reasonRE is the shape of every error Sluice answers itself: one line of
// plain text.
var reasonRE = regexp.MustCompile(`^sluice: [^\n]+\n$`)

// checkError asserts that resp is Sluice's own error answer with code and
// a one-line plain-text reason, and returns the reason.
func checkError(t testing.TB, resp *http.Response, body string, code int) string {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, code, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if !reasonRE.MatchString(body) {
		t.Errorf("body %q is not a one-line reason", body)
	}
	return body
}

// prngBody returns n deterministic pseudo-random bytes for seed, made as
// they are read so a 100 MiB body never sits in memory.
func prngBody(seed uint64, n int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// hashReader hashes what passes through it.
type hashReader struct {
	r io.Reader
	h hashState
	n int64
}

type hashState = interface {
	io.Writer
	Sum([]byte) []byte
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

func (hr *hashReader) sum() string { return hex.EncodeToString(hr.h.Sum(nil)) }

// hashAll reads r to the end and returns its sha256 and length.
func hashAll(r io.Reader) (string, int64, error) {
	hr := newHashReader(r)
	_, err := io.Copy(io.Discard, hr)
	return hr.sum(), hr.n, err
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGoroutines waits until the goroutine count is back to base,
// failing with a dump of the goroutines if it never gets there.
func waitGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// accessLog records the proxy's access records.
type accessLog struct {
	mu   sync.Mutex
	recs []AccessRecord
}

func (a *accessLog) LogAccess(r *AccessRecord) {
	a.mu.Lock()
	a.recs = append(a.recs, *r)
	a.mu.Unlock()
}

func (a *accessLog) records() []AccessRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AccessRecord(nil), a.recs...)
}

// discardLog silences the origins' own error logs (aborted clients are
// the point of several tests).
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// mustGet fetches u through c and returns the response with its body.
func mustGet(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", u, err)
	}
	return resp, string(b)
}

// writeTempFile writes r to a file in the test's temp dir.
func writeTempFile(t testing.TB, name string, r io.Reader) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
