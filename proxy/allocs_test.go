package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// The allocation budget of one kept-alive proxied request (issue 2,
// acceptance 4). testing.AllocsPerRun counts every allocation in the
// process, so the origin and the client here are raw loops over reused
// buffers that allocate nothing themselves (checked by
// TestAllocFreeHarness): whatever is counted is the proxy's.

// maxAllocsPerRequest is the budget without an access logger. It
// measured 0 with Go 1.26: the relay reuses every buffer, so any
// allocation that creeps onto the hot path fails this test. Raise it only
// with a reason in the commit message.
const maxAllocsPerRequest = 0

// maxAllocsPerLoggedRequest is the budget with an access logger: the one
// string that holds the record's Host, Port and Path (the record itself
// is reused per connection).
const maxAllocsPerLoggedRequest = 1

// fastOriginBody is what the raw origin answers every request with.
const fastOriginBody = "hello, allocation budget"

// startFastOrigin starts an origin that answers every request on a
// kept-alive connection with a fixed response, allocating nothing per
// request.
func startFastOrigin(t testing.TB) *rawOrigin {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(fastOriginBody)) + "\r\n\r\n" + fastOriginBody)
	return startRawOrigin(t, func(c net.Conn) {
		buf := make([]byte, 8<<10)
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += k
			// Requests are bodiless and the client waits for each answer,
			// so a head ends the buffer.
			if n >= 4 && bytes.Equal(buf[n-4:n], []byte("\r\n\r\n")) {
				n = 0
				if _, err := c.Write(resp); err != nil {
					return
				}
			} else if n == len(buf) {
				return
			}
		}
	})
}

// keepAliveClient sends one fixed request at a time on one connection and
// reads the response into a reused buffer.
type keepAliveClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

func newKeepAliveClient(t testing.TB, addr, target, host string) *keepAliveClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAliveClient{
		c:   c,
		req: []byte("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: alloc-test\r\nAccept: */*\r\n\r\n"),
		buf: make([]byte, 8<<10),
	}
}

var errShortResponse = errors.New("response not complete")

// roundTrip sends the request and reads the response, whose body is
// fastOriginBody with a Content-Length, without allocating.
func (k *keepAliveClient) roundTrip() error {
	if _, err := k.c.Write(k.req); err != nil {
		return err
	}
	n := 0
	for {
		m, err := k.c.Read(k.buf[n:])
		if err != nil {
			return err
		}
		n += m
		end := bytes.Index(k.buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			if n == len(k.buf) {
				return errShortResponse
			}
			continue
		}
		if !bytes.HasPrefix(k.buf, []byte("HTTP/1.1 200 ")) {
			return errShortResponse
		}
		if n == end+4+len(fastOriginBody) {
			if !bytes.Equal(k.buf[end+4:n], []byte(fastOriginBody)) {
				return errShortResponse
			}
			return nil
		}
		if n > end+4+len(fastOriginBody) {
			return errShortResponse
		}
	}
}

// measureAllocs returns the allocations of one kt.roundTrip, averaged.
func measureAllocs(t *testing.T, k *keepAliveClient) float64 {
	t.Helper()
	for i := 0; i < 50; i++ { // warm the pools and buffers
		if err := k.roundTrip(); err != nil {
			t.Fatal(err)
		}
	}
	var rtErr error
	allocs := testing.AllocsPerRun(500, func() {
		if err := k.roundTrip(); err != nil && rtErr == nil {
			rtErr = err
		}
	})
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return allocs
}

// TestAllocFreeHarness checks that the raw origin and client allocate
// nothing per request, so TestAllocsPerKeptAliveRequest counts only the
// proxy.
func TestAllocFreeHarness(t *testing.T) {
	o := startFastOrigin(t)
	k := newKeepAliveClient(t, o.addr, "/", o.addr)
	if allocs := measureAllocs(t, k); allocs != 0 {
		t.Fatalf("the harness itself allocates %v times per request", allocs)
	}
}

// dropLog is an access logger that keeps nothing, so the records' cost
// is the proxy's alone.
type dropLog struct{}

func (dropLog) LogAccess(*AccessRecord) {}

// TestAllocsPerKeptAliveRequest measures the allocations of one proxied
// request on a kept-alive client connection over a pooled upstream
// connection, without and with an access logger, and holds them to
// their budgets.
func TestAllocsPerKeptAliveRequest(t *testing.T) {
	cases := []struct {
		name    string
		access  AccessLogger
		clients ClientPolicy
		header  string // an extra request header line
		capture bool   // CaptureHeads on, as while a dashboard watches
		budget  float64
		// parent routes every request through the origin as an http
		// parent (the raw origin answers absolute-form requests alike).
		parent bool
	}{
		{"no access log", nil, ClientPolicy{}, "", false, maxAllocsPerRequest, false},
		{"access log", dropLog{}, ClientPolicy{}, "", false, maxAllocsPerLoggedRequest, false},
		// Heads are handed over by reference, never copied.
		{"access log with heads", dropLog{}, ClientPolicy{}, "", true, maxAllocsPerLoggedRequest, false},
		// Verified credentials and a rate limit cost no allocation either.
		{"users and rate limit", nil, ClientPolicy{Users: map[string]string{"alice": hashFor(t, "secret")}, RateLimit: MaxRateLimit},
			"Proxy-Authorization: " + basic("alice", "secret") + "\r\n", false, maxAllocsPerRequest, false},
		// Through an upstream proxy, with its credentials and a Report.
		{"through an http parent", nil, ClientPolicy{}, "", false, maxAllocsPerRequest, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := startFastOrigin(t)
			cfg := Config{Access: tc.access, Clients: tc.clients}
			if tc.parent {
				up := &Upstream{Name: "p", Scheme: "http", Addr: o.addr, ProxyAuthorization: "Basic dTpw"}
				up.Report = func(bool, time.Duration) {}
				cfg.Router = via(up)
			}
			p := startProxy(t, cfg)
			p.srv.CaptureHeads(tc.capture)
			k := newKeepAliveClient(t, p.addr, "http://"+o.addr+"/alloc?q=1", o.addr)
			k.req = append(k.req[:len(k.req)-2], tc.header+"\r\n"...)
			allocs := measureAllocs(t, k)
			t.Logf("%v allocations per kept-alive proxied request (budget %v)", allocs, tc.budget)
			if allocs > tc.budget {
				t.Errorf("%v allocations per kept-alive proxied request, budget %v", allocs, tc.budget)
			}
			if n := o.accepted.Load(); n != 1 {
				t.Errorf("origin accepted %d connections, want 1", n)
			}
		})
	}
}

// BenchmarkProxyKeepAlive measures one proxied request on a kept-alive
// client connection, with allocations.
func BenchmarkProxyKeepAlive(b *testing.B) {
	o := startFastOrigin(b)
	p := startProxy(b, Config{})
	k := newKeepAliveClient(b, p.addr, "http://"+o.addr+"/bench", o.addr)
	if err := k.roundTrip(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBodyCopiesAllocateNothing holds the chunked and close-delimited
// body copies to zero allocations however many chunks or reads a body
// has: a chunked download of thousands of chunks must not allocate per
// chunk.
func TestBodyCopiesAllocateNothing(t *testing.T) {
	var chunked bytes.Buffer
	for i := 0; i < 100; i++ {
		chunked.WriteString("a\r\n0123456789\r\n")
	}
	chunked.WriteString("0\r\nTrailer: x\r\n\r\n")
	src := bytes.NewReader(nil)
	br := bufio.NewReaderSize(src, 16) // a read per few bytes
	bw := bufio.NewWriterSize(io.Discard, 64)
	cases := []struct {
		name string
		body []byte
		copy func() (int64, error)
		want int64
	}{
		{"chunked, framing kept", chunked.Bytes(), func() (int64, error) { return copyChunked(bw, nil, br, nil, true, 0, DefaultMaxHeaderBytes, nil) }, 1000},
		{"chunked to HTTP/1.0", chunked.Bytes(), func() (int64, error) { return copyChunked(bw, nil, br, nil, false, 0, DefaultMaxHeaderBytes, nil) }, 1000},
		{"until EOF, as chunks", bytes.Repeat([]byte("x"), 1000), func() (int64, error) { return copyUntilEOF(bw, br, true, nil) }, 1000},
		{"until EOF", bytes.Repeat([]byte("x"), 1000), func() (int64, error) { return copyUntilEOF(bw, br, false, nil) }, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(20, func() {
				src.Reset(tc.body)
				br.Reset(src)
				bw.Reset(io.Discard)
				n, cerr := tc.copy()
				if cerr == nil && n != tc.want {
					cerr = fmt.Errorf("copied %d bytes, want %d", n, tc.want)
				}
				if cerr != nil && err == nil {
					err = cerr
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per body, want 0", allocs)
			}
		})
	}
}

// TestTunnelAllocationsDoNotGrowWithBytes moves 256 splice rounds' worth
// of bytes through a CONNECT tunnel and holds the whole tunnel, connection
// setup included, to fewer allocations than rounds: none may be per round.
func TestTunnelAllocationsDoNotGrowWithBytes(t *testing.T) {
	const size = 256 * spliceStep
	o := startRawOrigin(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte{'!'})
	})
	p := startProxy(t, Config{})
	buf := make([]byte, 256<<10)
	head := make([]byte, len("HTTP/1.1 200 Connection established\r\n\r\n"))
	req := []byte("CONNECT " + o.addr + " HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
	var err error
	allocs := testing.AllocsPerRun(3, func() {
		c, derr := net.Dial("tcp", p.addr)
		if derr != nil {
			err = derr
			return
		}
		defer c.Close()
		c.Write(req)
		if _, rerr := io.ReadFull(c, head); rerr != nil {
			err = rerr
			return
		}
		for sent := 0; sent < size; sent += len(buf) {
			if _, werr := c.Write(buf); werr != nil {
				err = werr
				return
			}
		}
		c.(*net.TCPConn).CloseWrite()
		if _, rerr := io.ReadFull(c, head[:1]); rerr != nil || head[0] != '!' {
			err = fmt.Errorf("the origin did not confirm the upload: %v", rerr)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// About 80, with or without the race detector: each direction's
	// pump makes its pipe once per tunnel.
	rounds := float64(size / spliceStep)
	t.Logf("%v allocations per %d MiB tunnel (%v splice rounds)", allocs, size>>20, rounds)
	if allocs >= rounds {
		t.Errorf("%v allocations per %d MiB tunnel, %v splice rounds: about one per round", allocs, size>>20, rounds)
	}
}
