//go:build linux

package soak

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request kinds: the first segment of a target's path tells the origin what
// to do. Targets look like /KIND/VARIANT/ID?n=SIZE[&te=chunked][&ms=STALL].
const (
	kindOK      = "ok"      // 200 with the n-byte body naming the target
	kindEcho    = "echo"    // reads the request body, answers its length and CRC-32
	kindReset   = "reset"   // resets the connection (variants below)
	kindStall   = "stall"   // goes quiet for ms milliseconds, then closes
	kindGarbage = "garbage" // answers something that is not HTTP, then closes
	kindExtra   = "extra"   // a valid answer followed by a second, unasked one
	kindShort   = "short"   // promises n bytes, sends half, closes
)

// Limits on what a target may ask of the origin, so that a bad target
// cannot make it stall or send for long.
const (
	maxStall    = 30 * time.Second
	maxBodySize = 64 << 20
	// originIdle bounds the wait for the next request on a connection.
	originIdle = 60 * time.Second
	// originWrite bounds each write to Sluice.
	originWrite = 30 * time.Second
	// lateExtra is how long extra/late waits before its unasked response:
	// long enough for the relay to have pooled the connection.
	lateExtra = 300 * time.Millisecond
)

// origin is the fault-injecting HTTP/1.1 server. It parses requests with
// net/http's ReadRequest and writes every response byte itself, so a fault
// is exactly the bytes it means.
type origin struct {
	ln   net.Listener
	done chan struct{}

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	// poison counts unasked responses sent (extra/*); each names a
	// /poison/ target that no client asks for.
	poison atomic.Int64
	// served counts requests read.
	served atomic.Int64
	// lateSkipped counts extra/late answers whose unasked response was
	// not sent because the next request came first.
	lateSkipped atomic.Int64
}

func startOrigin() (*origin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("origin: listen: %w", err)
	}
	o := &origin{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	o.wg.Add(1)
	go o.accept()
	return o, nil
}

func (o *origin) addr() string { return o.ln.Addr().String() }

// close stops the origin and every connection it holds, and waits for
// their goroutines.
func (o *origin) close() {
	close(o.done)
	o.ln.Close()
	o.mu.Lock()
	for c := range o.conns {
		c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

func (o *origin) accept() {
	defer o.wg.Done()
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		select {
		case <-o.done:
			o.mu.Unlock()
			c.Close()
			return
		default:
		}
		o.conns[c] = struct{}{}
		o.wg.Add(1)
		o.mu.Unlock()
		go func() {
			defer o.wg.Done()
			o.serve(c)
			o.mu.Lock()
			delete(o.conns, c)
			o.mu.Unlock()
			c.Close()
		}()
	}
}

// sleep waits d or until the origin closes; it reports whether d passed.
func (o *origin) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.done:
		return false
	}
}

// serve answers requests on c until one asks for a fault that ends the
// connection, or c closes.
func (o *origin) serve(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriterSize(c, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(originIdle))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		o.served.Add(1)
		c.SetDeadline(time.Now().Add(originWrite))
		keep := o.answer(c, br, bw, req)
		if err := bw.Flush(); err != nil || !keep {
			return
		}
	}
}

// answer writes the response req asks for into bw (or straight to c for
// faults) and reports whether the connection stays open; serve flushes bw
// and closes c when it does not (with RST after a reset).
func (o *origin) answer(c net.Conn, br *bufio.Reader, bw *bufio.Writer, req *http.Request) bool {
	target := req.RequestURI
	kind, variant, _ := splitTarget(req.URL.Path)
	q := req.URL.Query()
	n, _ := strconv.ParseInt(q.Get("n"), 10, 64)
	n = min(max(n, 0), maxBodySize)
	stall := min(time.Duration(atoiDefault(q.Get("ms"), 1000))*time.Millisecond, maxStall)
	chunked := q.Get("te") == "chunked"

	var crc uint32
	var got int64
	if kind == kindEcho {
		h := crc32.NewIEEE()
		got, _ = io.Copy(h, req.Body)
		crc = h.Sum32()
	} else if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	switch kind {
	case kindOK:
		writeHead(bw, 200, target, n, chunked, "")
		if req.Method != http.MethodHead {
			writeBodyFramed(bw, target, n, chunked)
		}
		return !req.Close
	case kindEcho:
		extra := fmt.Sprintf("X-Soak-Len: %d\r\nX-Soak-Crc: %08x\r\n", got, crc)
		writeHead(bw, 200, target, n, chunked, extra)
		writeBodyFramed(bw, target, n, chunked)
		return !req.Close
	case kindReset:
		switch variant {
		case "partial":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		case "body":
			writeHead(bw, 200, target, n, false, "")
			writeBody(bw, target, n/2)
			bw.Flush()
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST
		}
		return false
	case kindStall:
		if variant == "body" {
			writeHead(bw, 200, target, n, chunked, "")
			writeBody(bw, target, n/2)
			bw.Flush()
		}
		o.sleep(stall)
		return false
	case kindGarbage:
		switch variant {
		case "status":
			io.WriteString(c, "HTTP/1.1 2x0 Fine\r\n"+pathHeader+": "+target+"\r\n\r\n")
		case "header":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+pathHeader+": "+target+"\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok")
		case "nul":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+pathHeader+": "+target+"\x00\r\nContent-Length: 2\r\n\r\nok")
		default:
			b := make([]byte, 512)
			for i := range b {
				b[i] = byte(rand.IntN(256))
			}
			c.Write(b)
		}
		return false
	case kindExtra:
		return o.extra(c, br, bw, variant, target, n) && !req.Close
	case kindShort:
		writeHead(bw, 200, target, n, false, "")
		writeBody(bw, target, n/2)
		bw.Flush()
		return false
	}
	writeHead(bw, 404, target, 0, false, "")
	return !req.Close
}

// extra answers req correctly, then sends bytes that form a second,
// unasked response naming a /poison/ target: a relay that pools the
// connection hands them to the next request it sends on it.
func (o *origin) extra(c net.Conn, br *bufio.Reader, bw *bufio.Writer, variant, target string, n int64) bool {
	var poison string
	if variant != "late" {
		poison = o.poisonResponse(variant)
	}
	switch variant {
	case "late":
		writeHead(bw, 200, target, n, false, "")
		writeBody(bw, target, n)
		if bw.Flush() != nil {
			return false
		}
		// Only into an idle connection: once the relay has sent the
		// next request, an unasked response is indistinguishable from
		// the answer to it (no HTTP/1.1 relay can tell them apart),
		// so the fault is the one a relay must catch: bytes that
		// arrive while the connection waits in its pool.
		c.SetReadDeadline(time.Now().Add(lateExtra))
		_, err := br.Peek(1)
		var ne net.Error
		switch {
		case err == nil:
			o.lateSkipped.Add(1)
			return true
		case !errors.As(err, &ne) || !ne.Timeout():
			return false
		}
		poison := o.poisonResponse(variant)
		bw.WriteString(poison)
	case "204":
		// A 204 has no body (RFC 9110 §15.3.5); what follows is a new message.
		writeHead(bw, 204, target, -1, false, "")
		bw.WriteString(poison)
	case "head":
		// The answer to HEAD has no body (RFC 9110 §9.3.2), whatever its
		// Content-Length says.
		writeHead(bw, 200, target, int64(len(poison)), false, "")
		bw.WriteString(poison)
	case "clte":
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3); a
		// relay that reads by Content-Length leaves the chunks behind.
		bw.WriteString("HTTP/1.1 200 OK\r\n" + pathHeader + ": " + target + "\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
		writeBodyFramed(bw, target, n, true)
	default: // "now"
		writeHead(bw, 200, target, n, false, "")
		writeBody(bw, target, n)
		bw.WriteString(poison)
	}
	return true
}

// poisonResponse is the unasked response sent after an extra/VARIANT
// answer; its target names the variant, so a report shows which one leaked.
func (o *origin) poisonResponse(variant string) string {
	p := "/poison/" + variant + "/" + strconv.FormatInt(o.poison.Add(1), 10)
	return "HTTP/1.1 200 OK\r\n" + pathHeader + ": " + p + "\r\nContent-Length: " +
		strconv.Itoa(len(p)+1) + "\r\n\r\n" + p + "\n"
}

// writeHead writes a response head naming target. n < 0 writes no
// Content-Length (a 204).
func writeHead(bw *bufio.Writer, code int, target string, n int64, chunked bool, extra string) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n%s: %s\r\n%s", code, http.StatusText(code), pathHeader, target, extra)
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case n >= 0:
		bw.WriteString("Content-Length: " + strconv.FormatInt(n, 10) + "\r\n")
	}
	bw.WriteString("\r\n")
}

// writeBodyFramed writes target's n-byte body, as chunks if chunked.
func writeBodyFramed(bw *bufio.Writer, target string, n int64, chunked bool) {
	if !chunked {
		writeBody(bw, target, n)
		return
	}
	cw := &chunkWriter{w: bw}
	writeBody(cw, target, n)
	bw.WriteString("0\r\n\r\n")
}

// chunkWriter frames each write as one chunk.
type chunkWriter struct{ w *bufio.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(c.w, "%x\r\n", len(p))
	c.w.Write(p)
	_, err := c.w.WriteString("\r\n")
	return len(p), err
}

// splitTarget splits "/kind/variant/id" into its parts.
func splitTarget(path string) (kind, variant, id string) {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}

func atoiDefault(s string, def int) int {
	if v, err := strconv.Atoi(s); err == nil {
		return v
	}
	return def
}

// echoServer is the target of CONNECT tunnels: it writes back what it
// reads until the client half-closes, then half-closes too.
type echoServer struct {
	ln net.Listener
	mu sync.Mutex
	cs map[net.Conn]struct{}
	wg sync.WaitGroup
}

func startEcho() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo: listen: %w", err)
	}
	e := &echoServer{ln: ln, cs: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.cs[c] = struct{}{}
			e.wg.Add(1)
			e.mu.Unlock()
			go func() {
				defer e.wg.Done()
				c.SetDeadline(time.Now().Add(originIdle))
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				e.mu.Lock()
				delete(e.cs, c)
				e.mu.Unlock()
				c.Close()
			}()
		}
	}()
	return e, nil
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for c := range e.cs {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}
