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
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Workers is how many client workers of each kind a phase runs.
type Workers struct {
	// Get sends keep-alive GETs, about one in eight to a fault target,
	// on the same connections as the good ones.
	Get int
	// Pipeline writes 2 to 6 requests at once and reads the answers.
	Pipeline int
	// Upload posts bodies (Content-Length or chunked) to the echo target.
	Upload int
	// Tunnel opens CONNECT tunnels to the echo server or the origin.
	Tunnel int
	// Bad stalls, aborts mid-body, never reads, or sends oversized or
	// garbage heads.
	Bad int
}

// load is one phase's traffic.
type load struct {
	proxy, origin, echo string
	run                 string // tells this run's targets apart
	phase               string
	t                   *tally
	end                 time.Time
	done                <-chan struct{}
	pace                time.Duration
	maxEpisodes         int
	// timeout bounds every read and write.
	timeout time.Duration
	// maxStall is the longest a bad client or a stalling origin waits.
	maxStall time.Duration
	// sluiceTimeout is Sluice's read_header_timeout and
	// response_header_timeout: stalls are labelled as shorter or longer.
	sluiceTimeout time.Duration
}

// drive runs w's workers until the phase ends and waits for them.
func (l *load) drive(w Workers) {
	var wg sync.WaitGroup
	id := 0
	start := func(n int, f func(id int, rng *rand.Rand)) {
		for range n {
			id++
			wid := id // each worker's own: its targets must be unique
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(wid)))
			wg.Go(func() { f(wid, rng) })
		}
	}
	start(w.Get, l.getWorker)
	start(w.Pipeline, l.pipelineWorker)
	start(w.Upload, l.uploadWorker)
	start(w.Tunnel, l.tunnelWorker)
	start(w.Bad, l.badWorker)
	wg.Wait()
}

// running reports whether a worker that has run n episodes goes on.
func (l *load) running(n int) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	return n < l.maxEpisodes && time.Now().Before(l.end)
}

// pause sleeps up to twice the pace, so workers do not move in step.
func (l *load) pause(rng *rand.Rand) {
	if l.pace > 0 {
		sleepOrDone(l.done, time.Duration(rng.Int64N(int64(2*l.pace))))
	}
}

// stall picks how long a stalling client or origin waits: from 200 ms to
// maxStall, so some waits end before Sluice's timeouts and some after.
func (l *load) stall(rng *rand.Rand) time.Duration {
	const least = 200 * time.Millisecond
	if l.maxStall <= least {
		return l.maxStall
	}
	return least + time.Duration(rng.Int64N(int64(l.maxStall-least)))
}

func sleepOrDone(done <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// hconn is a client connection to Sluice.
type hconn struct {
	c       net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

func (l *load) dial() (*hconn, error) {
	c, err := net.DialTimeout("tcp", l.proxy, l.timeout)
	if err != nil {
		return nil, err
	}
	return &hconn{c: c, br: bufio.NewReaderSize(c, 16<<10), timeout: l.timeout}, nil
}

func (h *hconn) write(s string) error {
	h.c.SetWriteDeadline(time.Now().Add(h.timeout))
	_, err := io.WriteString(h.c, s)
	return err
}

// read reads the next final response (skipping 1xx) to a request with
// method; the read deadline also covers reading its body.
func (h *hconn) read(method string) (*http.Response, error) {
	h.c.SetReadDeadline(time.Now().Add(h.timeout))
	for {
		resp, err := http.ReadResponse(h.br, &http.Request{Method: method})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// reset closes c with RST instead of FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// errClass names an error for the outcome table.
func errClass(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// want says what a response to a target must be.
type want int

const (
	// wantGood: 200 (204 for extra/204) with exactly the target's body.
	// Anything else is a failure.
	wantGood want = iota
	// wantValid: the origin's answer was valid, but the target tests how
	// Sluice handles what came with it (extra bytes, CL with TE); an
	// error status is noted, a 2xx must be whole and right.
	wantValid
	// wantFault: the origin failed; any answer that does not name
	// another request is acceptable.
	wantFault
)

// request is one request a client sends.
type request struct {
	method, target string
	// n is the body size the origin sends for target.
	n int64
	// head is the whole request head; body follows it if set.
	head string
	body []byte
	// chunked sends body as chunks.
	chunked bool
	want    want
	// class labels the outcome in the table.
	class string
	// echo: the response must report this body's length and CRC-32.
	echo bool
}

// newTarget returns "/kind/variant/ID?query" with an ID unique to this
// run, worker and sequence number.
func (l *load) newTarget(kind, variant string, worker int, n int, query string) string {
	t := "/" + kind + "/" + variant + "/" + l.run + "-" + l.phase + "-" + strconv.Itoa(worker) + "-" + strconv.Itoa(n)
	if query != "" {
		t += "?" + query
	}
	return t
}

// absolute builds a proxy request head for target on the origin.
func (l *load) absolute(method, target, extra string) string {
	return method + " http://" + l.origin + target + " HTTP/1.1\r\nHost: " + l.origin + "\r\n" + extra + "\r\n"
}

// bodySize picks a response or upload size: mostly small, some large.
func bodySize(rng *rand.Rand) int64 {
	switch p := rng.IntN(100); {
	case p < 50:
		return rng.Int64N(257)
	case p < 80:
		return 256 + rng.Int64N(16<<10)
	case p < 95:
		return 16<<10 + rng.Int64N(240<<10)
	default:
		return 1<<20 + rng.Int64N(3<<20)
	}
}

// faults are the origin's fault targets the GET workers mix in:
// kind/variant and the method to use.
var faults = []struct {
	kind, variant, method string
	want                  want
}{
	{kindReset, "head", "GET", wantFault},
	{kindReset, "partial", "GET", wantFault},
	{kindReset, "body", "GET", wantFault},
	{kindStall, "head", "GET", wantFault},
	{kindStall, "body", "GET", wantFault},
	{kindGarbage, "bytes", "GET", wantFault},
	{kindGarbage, "status", "GET", wantFault},
	{kindGarbage, "header", "GET", wantFault},
	{kindGarbage, "nul", "GET", wantFault},
	{kindShort, "x", "GET", wantFault},
	{kindExtra, "now", "GET", wantValid},
	{kindExtra, "late", "GET", wantValid},
	{kindExtra, "204", "GET", wantValid},
	{kindExtra, "head", "HEAD", wantValid},
	{kindExtra, "clte", "GET", wantValid},
}

// pickGet picks a GET worker's next request: a good one, or one time in
// eight a fault.
func (l *load) pickGet(rng *rand.Rand, worker, n int) request {
	if rng.IntN(8) == 0 {
		f := faults[rng.IntN(len(faults))]
		size := rng.Int64N(4 << 10)
		q := "n=" + strconv.FormatInt(size, 10)
		if f.kind == kindStall {
			q += "&ms=" + strconv.FormatInt(l.stall(rng).Milliseconds(), 10)
		}
		t := l.newTarget(f.kind, f.variant, worker, n, q)
		return request{method: f.method, target: t, n: size, head: l.absolute(f.method, t, ""), want: f.want,
			class: "get " + f.kind + "/" + f.variant}
	}
	size := bodySize(rng)
	q := "n=" + strconv.FormatInt(size, 10)
	variant := "cl"
	if rng.IntN(10) < 3 {
		q += "&te=chunked"
		variant = "chunked"
	}
	method := "GET"
	if rng.IntN(20) == 0 {
		method = "HEAD"
		variant = "head"
	}
	t := l.newTarget(kindOK, variant, worker, n, q)
	return request{method: method, target: t, n: size, head: l.absolute(method, t, ""), want: wantGood, class: "get ok"}
}

// send writes r's head and body.
func (h *hconn) send(r *request) error {
	if !r.chunked {
		if len(r.body) == 0 {
			return h.write(r.head)
		}
		h.c.SetWriteDeadline(time.Now().Add(h.timeout))
		_, err := (&net.Buffers{[]byte(r.head), r.body}).WriteTo(h.c)
		return err
	}
	if err := h.write(r.head); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(h.c, 64<<10)
	for b := r.body; len(b) > 0; {
		k := min(len(b), 1+len(b)/3, 64<<10)
		fmt.Fprintf(bw, "%x\r\n", k)
		bw.Write(b[:k])
		bw.WriteString("\r\n")
		b = b[k:]
	}
	bw.WriteString("0\r\n\r\n")
	return bw.Flush()
}

// roundTrip sends r on h, reads and checks the answer, and reports
// whether h may carry another request.
func (l *load) roundTrip(h *hconn, r *request) bool {
	if err := h.send(r); err != nil {
		l.t.note(r.class, "write "+errClass(err))
		if r.want == wantGood {
			l.t.fail(r.target, "%s %s: write: %v", r.method, r.target, err)
		}
		return false
	}
	return l.receive(h, r)
}

// receive reads and checks the answer to r.
func (l *load) receive(h *hconn, r *request) bool {
	resp, err := h.read(r.method)
	if err != nil {
		l.t.note(r.class, "no answer, "+errClass(err))
		if r.want == wantGood {
			l.t.fail(r.target, "%s %s: no answer: %v", r.method, r.target, err)
		}
		return false
	}
	return l.check(resp, r)
}

// check judges resp as the answer to r, reads its body, and reports
// whether the connection may carry another request.
func (l *load) check(resp *http.Response, r *request) bool {
	defer resp.Body.Close()
	status := strconv.Itoa(resp.StatusCode)
	got := resp.Header.Get(pathHeader)
	if got != r.target && (got != "" || resp.StatusCode < 300) {
		// An answer from the origin to another request, or a success
		// that is nobody's: either way it was meant for someone else.
		l.t.crossed(r.target, "%s %s got %s for %q", r.method, r.target, status, got)
		l.t.note(r.class, status+" for another request")
		if p, ok := strings.CutPrefix(got, "/poison/"); ok {
			// Which extra/* fault the unasked response followed.
			variant, _, _ := strings.Cut(p, "/")
			l.t.note("unasked response delivered", "after extra/"+variant)
		}
		return false
	}
	if got == "" {
		// Sluice's own answer (an error status): read it and go on.
		_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		l.t.note(r.class, status)
		if r.want == wantGood {
			l.t.fail(r.target, "%s %s: status %s", r.method, r.target, status)
		}
		return err == nil && !resp.Close
	}
	okStatus := http.StatusOK
	if r.class == "get "+kindExtra+"/204" {
		okStatus = http.StatusNoContent
	}
	if resp.StatusCode != okStatus {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		l.t.note(r.class, status+" from origin")
		if r.want == wantGood {
			l.t.fail(r.target, "%s %s: status %s from the origin", r.method, r.target, status)
		}
		return false
	}
	var err error
	switch {
	case r.method == http.MethodHead || okStatus == http.StatusNoContent:
		err = checkBody(resp.Body, r.target, 0)
	case r.echo:
		err = checkEcho(resp, r)
		if err == nil {
			err = checkBody(resp.Body, r.target, r.n)
		}
	default:
		err = checkBody(resp.Body, r.target, r.n)
	}
	switch {
	case err == nil:
		l.t.note(r.class, status)
		return !resp.Close
	case errors.Is(err, errBodyDiffers) && r.want != wantFault:
		l.t.corrupted(r.target, "%s %s: %v", r.method, r.target, err)
		l.t.note(r.class, status+" corrupt")
	case r.want == wantFault:
		l.t.note(r.class, status+" cut ("+errClassOrDiffers(err)+")")
	default:
		l.t.note(r.class, status+" cut ("+errClass(err)+")")
		l.t.fail(r.target, "%s %s: body: %v", r.method, r.target, err)
	}
	return false
}

func errClassOrDiffers(err error) string {
	if errors.Is(err, errBodyDiffers) {
		return "short"
	}
	return errClass(err)
}

// checkEcho checks the upload's length and CRC-32 as the origin counted
// them.
func checkEcho(resp *http.Response, r *request) error {
	wantLen := strconv.Itoa(len(r.body))
	wantCRC := fmt.Sprintf("%08x", crc32.ChecksumIEEE(r.body))
	gotLen, gotCRC := resp.Header.Get("X-Soak-Len"), resp.Header.Get("X-Soak-Crc")
	if gotLen != wantLen || gotCRC != wantCRC {
		return fmt.Errorf("%w: the origin got %s bytes with CRC %s, sent %s with CRC %s", errBodyDiffers, gotLen, gotCRC, wantLen, wantCRC)
	}
	return nil
}

// getWorker sends keep-alive GETs, good and faulty mixed on the same
// connections, up to 30 per connection.
func (l *load) getWorker(id int, rng *rand.Rand) {
	var h *hconn
	left := 0
	for n := 0; l.running(n); n++ {
		if h == nil {
			var err error
			if h, err = l.dial(); err != nil {
				l.t.fail("", "dial: %v", err)
				l.pause(rng)
				continue
			}
			left = 1 + rng.IntN(30)
		}
		r := l.pickGet(rng, id, n)
		left--
		if !l.roundTrip(h, &r) || left == 0 {
			h.c.Close()
			h = nil
		}
		l.pause(rng)
	}
	if h != nil {
		h.c.Close()
	}
}

// pipelineWorker writes 2 to 6 requests in one write and reads the
// answers in order; some are HEADs, some extra/now (whose unasked second
// response must reach no one), and some connections end with close.
func (l *load) pipelineWorker(id int, rng *rand.Rand) {
	for n := 0; l.running(n); n++ {
		h, err := l.dial()
		if err != nil {
			l.t.fail("", "dial: %v", err)
			l.pause(rng)
			continue
		}
		k := 2 + rng.IntN(5)
		reqs := make([]request, k)
		var all strings.Builder
		for i := range reqs {
			size := rng.Int64N(16 << 10)
			kind, variant, method, w := kindOK, "pipelined", "GET", wantGood
			switch rng.IntN(10) {
			case 0:
				kind, variant, w = kindExtra, "now", wantValid
			case 1:
				method = "HEAD"
			}
			t := l.newTarget(kind, variant, id, n*10+i, "n="+strconv.FormatInt(size, 10))
			extra := ""
			if i == k-1 && rng.IntN(3) == 0 {
				extra = "Connection: close\r\n"
			}
			reqs[i] = request{method: method, target: t, n: size, head: l.absolute(method, t, extra), want: w,
				class: "pipeline " + kind}
			all.WriteString(reqs[i].head)
		}
		if err := h.write(all.String()); err != nil {
			l.t.note("pipeline ok", "write "+errClass(err))
			l.t.fail("", "pipelined write: %v", err)
		} else {
			for i := range reqs {
				if !l.receive(h, &reqs[i]) {
					for range k - 1 - i {
						l.t.note("pipeline unanswered", "after a close")
					}
					break
				}
			}
		}
		h.c.Close()
		l.pause(rng)
	}
}

// uploadWorker posts bodies of random bytes, with Content-Length or
// chunked, sometimes with Expect: 100-continue, up to 10 per connection;
// the origin reports the length and CRC-32 it read.
func (l *load) uploadWorker(id int, rng *rand.Rand) {
	src := make([]byte, 4<<20)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	for n := 0; l.running(n); {
		h, err := l.dial()
		if err != nil {
			l.t.fail("", "dial: %v", err)
			n++
			l.pause(rng)
			continue
		}
		for range 1 + rng.IntN(10) {
			if !l.running(n) {
				break
			}
			size := min(bodySize(rng), int64(len(src)))
			off := rng.Int64N(int64(len(src)) - size + 1)
			body := src[off : off+size]
			t := l.newTarget(kindEcho, "upload", id, n, "n=64")
			r := request{method: "POST", target: t, n: 64, body: body, want: wantGood, class: "upload", echo: true}
			extra := ""
			if rng.IntN(10) < 3 {
				r.chunked = true
				extra = "Transfer-Encoding: chunked\r\n"
			} else {
				extra = "Content-Length: " + strconv.FormatInt(size, 10) + "\r\n"
			}
			if rng.IntN(5) == 0 {
				extra += "Expect: 100-continue\r\n"
			}
			r.head = l.absolute("POST", t, extra)
			n++
			if !l.roundTrip(h, &r) {
				break
			}
			l.pause(rng)
		}
		h.c.Close()
	}
}

// connect opens a CONNECT tunnel through Sluice to addr.
func (l *load) connect(addr string) (*hconn, *http.Response, error) {
	h, err := l.dial()
	if err != nil {
		return nil, nil, err
	}
	if err := h.write("CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"); err != nil {
		h.c.Close()
		return nil, nil, err
	}
	resp, err := h.read(http.MethodConnect)
	if err != nil {
		h.c.Close()
		return nil, nil, err
	}
	return h, resp, nil
}

// tunnelWorker opens tunnels: most to the echo server, exchanging
// messages that name the tunnel and their sequence (ended by a half-close
// half the time), some to the origin with GETs inside.
func (l *load) tunnelWorker(id int, rng *rand.Rand) {
	for n := 0; l.running(n); n++ {
		toOrigin := rng.IntN(10) < 3
		addr, class := l.echo, "tunnel echo"
		if toOrigin {
			addr, class = l.origin, "tunnel origin"
		}
		h, resp, err := l.connect(addr)
		switch {
		case err != nil:
			l.t.note(class, "CONNECT "+errClass(err))
			l.t.fail("", "CONNECT %s: %v", addr, err)
		case resp.StatusCode != http.StatusOK:
			l.t.note(class, "CONNECT "+strconv.Itoa(resp.StatusCode))
			l.t.fail("", "CONNECT %s: status %d", addr, resp.StatusCode)
			h.c.Close()
		case toOrigin:
			l.insideTunnel(h, rng, id, n, class)
			h.c.Close()
		default:
			l.echoTunnel(h, rng, id, n, class)
			h.c.Close()
		}
		l.pause(rng)
	}
}

func (l *load) insideTunnel(h *hconn, rng *rand.Rand, id, n int, class string) {
	for i := range 1 + rng.IntN(10) {
		size := bodySize(rng)
		t := l.newTarget(kindOK, "tunnel", id, n*100+i, "n="+strconv.FormatInt(size, 10))
		r := request{method: "GET", target: t, n: size, want: wantGood, class: class,
			head: "GET " + t + " HTTP/1.1\r\nHost: " + l.origin + "\r\n\r\n"}
		if !l.roundTrip(h, &r) {
			return
		}
	}
}

func (l *load) echoTunnel(h *hconn, rng *rand.Rand, id, n int, class string) {
	buf := make([]byte, 32<<10)
	for i := range 1 + rng.IntN(20) {
		msg := fmt.Appendf(nil, "%s-%d-%d-%d:", l.run, id, n, i)
		for len(msg) < 1+rng.IntN(32<<10) {
			msg = append(msg, byte('a'+rng.IntN(26)))
		}
		if err := h.write(string(msg)); err != nil {
			l.t.note(class, "write "+errClass(err))
			l.t.fail("", "tunnel write: %v", err)
			return
		}
		got := buf[:len(msg)]
		h.c.SetReadDeadline(time.Now().Add(l.timeout))
		if _, err := io.ReadFull(h.br, got); err != nil {
			l.t.note(class, "read "+errClass(err))
			l.t.fail("", "tunnel read: %v", err)
			return
		}
		if string(got) != string(msg) {
			l.t.crossed("", "tunnel %d-%d message %d: sent %q…, got %q…", id, n, i, snippet(msg), snippet(got))
			l.t.note(class, "bytes of another")
			return
		}
	}
	if rng.IntN(2) == 0 {
		// Half-close: the echo server half-closes back, and Sluice
		// must pass both on.
		h.c.(*net.TCPConn).CloseWrite()
		h.c.SetReadDeadline(time.Now().Add(l.timeout))
		if k, err := h.br.Read(buf); k != 0 || err != io.EOF {
			l.t.note(class, "no EOF after half-close")
			l.t.fail("", "tunnel %d-%d: after a half-close read %d bytes, %v; want EOF", id, n, k, err)
			return
		}
		l.t.note(class, "ok, half-closed")
		return
	}
	l.t.note(class, "ok")
}

// badWorker runs misbehaving clients, one at a time.
func (l *load) badWorker(id int, rng *rand.Rand) {
	bad := []func(h *hconn, rng *rand.Rand, id, n int) string{
		l.stallHead, l.slowHead, l.stallBody, l.abortBody, l.abortDownload,
		l.neverRead, l.oversizedHead, l.garbageHead, l.idleTunnel, l.abortTunnel,
	}
	for n := 0; l.running(n); n++ {
		i := rng.IntN(len(bad))
		h, err := l.dial()
		if err != nil {
			l.t.fail("", "dial: %v", err)
			l.pause(rng)
			continue
		}
		class, outcome, _ := strings.Cut(bad[i](h, rng, id, n), ": ")
		l.t.note("bad "+class, outcome)
		h.c.Close()
		l.pause(rng)
	}
}

// answer reads what Sluice says within wait: a status, "closed" or
// "silent".
func (h *hconn) answer(method string, wait time.Duration) string {
	h.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(h.br, &http.Request{Method: method})
	if err != nil {
		if c := errClass(err); c != "timeout" {
			return c
		}
		return "silent"
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

func (l *load) stallHead(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindOK, "stalled-head", id, n, "n=10")
	head := l.absolute("GET", t, "")
	h.write(head[:len(head)/2])
	d := l.stall(rng)
	sleepOrDone(l.done, d)
	return "stall in head: " + h.answer("GET", time.Second) + l.bucket(d)
}

func (l *load) slowHead(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindOK, "slow-head", id, n, "n=10")
	head := l.absolute("GET", t, "")
	// A byte every 20-80 ms: the head takes 2 to 8 seconds.
	gap := time.Duration(20+rng.IntN(60)) * time.Millisecond
	for i := range len(head) {
		if h.write(head[i:i+1]) != nil {
			return "slow head: closed by Sluice mid-head"
		}
		sleepOrDone(l.done, gap)
	}
	r := request{method: "GET", target: t, n: 10, class: "bad slow head", want: wantFault}
	resp, err := h.read("GET")
	if err != nil {
		return "slow head: " + errClass(err)
	}
	l.check(resp, &r)
	return "slow head: " + strconv.Itoa(resp.StatusCode)
}

func (l *load) stallBody(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindEcho, "stalled-body", id, n, "n=10")
	h.write(l.absolute("POST", t, "Content-Length: 100000\r\n") + strings.Repeat("x", 1000))
	d := l.stall(rng)
	sleepOrDone(l.done, d)
	return "stall in body: " + h.answer("POST", time.Second) + l.bucket(d)
}

func (l *load) abortBody(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindEcho, "aborted-body", id, n, "n=10")
	h.write(l.absolute("POST", t, "Content-Length: 4194304\r\n") + strings.Repeat("x", 256<<10))
	if rng.IntN(2) == 0 {
		reset(h.c)
		return "abort in body: reset"
	}
	return "abort in body: closed"
}

func (l *load) abortDownload(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindOK, "aborted-download", id, n, "n=8388608")
	h.write(l.absolute("GET", t, ""))
	resp, err := h.read("GET")
	if err != nil {
		return "abort download: " + errClass(err)
	}
	if resp.Header.Get(pathHeader) != t {
		r := request{method: "GET", target: t, n: 8 << 20, class: "bad abort download", want: wantFault}
		l.check(resp, &r)
		return "abort download: " + strconv.Itoa(resp.StatusCode)
	}
	io.CopyN(io.Discard, resp.Body, 64<<10)
	if rng.IntN(2) == 0 {
		reset(h.c)
		return "abort download: reset"
	}
	return "abort download: closed"
}

func (l *load) neverRead(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindOK, "never-read", id, n, "n=16777216")
	h.write(l.absolute("GET", t, ""))
	d := l.stall(rng)
	sleepOrDone(l.done, d)
	return "never read a 16 MiB answer: closed" + l.bucket(d)
}

func (l *load) oversizedHead(h *hconn, rng *rand.Rand, id, n int) string {
	t := l.newTarget(kindOK, "oversized", id, n, "n=10")
	big := "X-Big: " + strings.Repeat("a", 96<<10+rng.IntN(64<<10)) + "\r\n"
	h.write(l.absolute("GET", t, big))
	return "oversized head: " + h.answer("GET", 5*time.Second)
}

func (l *load) garbageHead(h *hconn, rng *rand.Rand, id, n int) string {
	b := make([]byte, 64+rng.IntN(512))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	h.write(string(b) + "\r\n\r\n")
	return "garbage head: " + h.answer("GET", 5*time.Second)
}

func (l *load) idleTunnel(h *hconn, rng *rand.Rand, id, n int) string {
	h.write("CONNECT " + l.echo + " HTTP/1.1\r\nHost: " + l.echo + "\r\n\r\n")
	a := h.answer("CONNECT", l.timeout)
	d := l.stall(rng)
	sleepOrDone(l.done, d)
	return "idle tunnel: " + a + l.bucket(d)
}

func (l *load) abortTunnel(h *hconn, rng *rand.Rand, id, n int) string {
	h.write("CONNECT " + l.echo + " HTTP/1.1\r\nHost: " + l.echo + "\r\n\r\n")
	a := h.answer("CONNECT", l.timeout)
	// Send a lot without reading the echo, then reset.
	h.c.SetWriteDeadline(time.Now().Add(time.Second))
	h.c.Write(make([]byte, 1<<20))
	reset(h.c)
	return "tunnel sent 1 MiB unread, reset: " + a
}

// bucket labels a stall by whether it outlasted Sluice's header timeouts.
func (l *load) bucket(d time.Duration) string {
	if d > l.sluiceTimeout {
		return " (stall > " + l.sluiceTimeout.String() + ")"
	}
	return " (stall ≤ " + l.sluiceTimeout.String() + ")"
}
