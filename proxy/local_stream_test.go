package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLocalEndpointStreams checks that a local handler that flushes
// streams: the head and each flushed write reach the client at once,
// chunked, and the stream ends (so Shutdown does not wait for it) when
// the server shuts down.
func TestLocalEndpointStreams(t *testing.T) {
	ended := make(chan error, 1)
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		for {
			if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
				ended <- err
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	})
	p := startProxy(t, Config{Local: stream})
	resp, err := http.Get("http://" + p.addr + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, close %v, transfer-encoding %v; want a chunked 200 that closes", resp.StatusCode, resp.Close, resp.TransferEncoding)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"data: one", "", "data: tick", ""} {
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimRight(line, "\n") != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown waited for the stream: %v", err)
	}
	t.Logf("Shutdown took %v with a stream open", time.Since(start))
	select {
	case err := <-ended:
		if err != errLocalShutdown {
			t.Errorf("the handler's write failed with %v, want %v", err, errLocalShutdown)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's writes did not fail after Shutdown")
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}

// headLog keeps copies of the records' heads, which are valid only
// during LogAccess.
type headLog struct {
	mu   sync.Mutex
	recs []AccessRecord
}

func (h *headLog) LogAccess(r *AccessRecord) {
	c := *r
	c.RequestHead = bytes.Clone(r.RequestHead)
	c.ResponseHead = bytes.Clone(r.ResponseHead)
	h.mu.Lock()
	h.recs = append(h.recs, c)
	h.mu.Unlock()
}

func (h *headLog) take() []AccessRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.recs
	h.recs = nil
	return r
}

// TestCaptureHeads checks that access records carry the request head as
// the client sent it and the response head as the client got it only
// while CaptureHeads is on, and the dial time for a new upstream conn.
func TestCaptureHeads(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", "yes")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()
	log := &headLog{}
	p := startProxy(t, Config{Access: log})
	get := func() AccessRecord {
		t.Helper()
		rc := dialRaw(t, p.addr)
		rc.send("GET " + origin.URL + "/capture HTTP/1.1\r\nHost: " + strings.TrimPrefix(origin.URL, "http://") + "\r\nX-Probe: 1\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		rc.c.Close()
		deadline := time.Now().Add(patience)
		for time.Now().Before(deadline) {
			if recs := log.take(); len(recs) > 0 {
				return recs[0]
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("no access record")
		return AccessRecord{}
	}

	rec := get()
	if rec.RequestHead != nil || rec.ResponseHead != nil {
		t.Errorf("heads captured while CaptureHeads is off: %q, %q", rec.RequestHead, rec.ResponseHead)
	}
	if rec.Connect <= 0 || rec.Reused {
		t.Errorf("a newly dialed upstream: Connect %v, Reused %v", rec.Connect, rec.Reused)
	}

	p.srv.CaptureHeads(true)
	rec = get()
	if !bytes.HasPrefix(rec.RequestHead, []byte("GET "+origin.URL+"/capture HTTP/1.1\r\n")) || !bytes.Contains(rec.RequestHead, []byte("X-Probe: 1\r\n")) {
		t.Errorf("request head %q", rec.RequestHead)
	}
	if !bytes.HasPrefix(rec.ResponseHead, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.Contains(rec.ResponseHead, []byte("X-Origin: yes\r\n")) ||
		!bytes.Contains(rec.ResponseHead, []byte("Via: 1.1 sluice\r\n")) || !bytes.HasSuffix(rec.ResponseHead, []byte("\r\n\r\n")) {
		t.Errorf("response head %q", rec.ResponseHead)
	}
	if !rec.Reused || rec.Connect != 0 {
		t.Errorf("a pooled upstream: Connect %v, Reused %v", rec.Connect, rec.Reused)
	}

	// Sluice's own answer has no relayed response head.
	rc := dialRaw(t, p.addr)
	rc.send("GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n")
	rc.response("GET")
	deadline := time.Now().Add(patience)
	var recs []AccessRecord
	for len(recs) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		recs = log.take()
	}
	if len(recs) != 1 || recs[0].Status != 502 || recs[0].ResponseHead != nil || recs[0].RequestHead == nil {
		t.Errorf("an error answer's record: %+v", recs)
	}
}

// TestDialReportsLookupTime checks that the DNS lookup is timed through
// the dial function's httptrace hooks while CaptureHeads is on, and that
// no trace is even set up while it is off.
func TestDialReportsLookupTime(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer origin.Close()
	var traced atomic.Bool
	dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		trace := httptrace.ContextClientTrace(ctx)
		traced.Store(trace != nil)
		if trace != nil {
			trace.DNSStart(httptrace.DNSStartInfo{Host: addr})
			time.Sleep(20 * time.Millisecond)
			trace.DNSDone(httptrace.DNSDoneInfo{})
		}
		c, err := net.Dial(network, addr)
		return c, false, err
	}
	log := &headLog{}
	p := startProxy(t, Config{Access: log, Dial: dial, NoPool: true})
	for _, capture := range []bool{false, true} {
		p.srv.CaptureHeads(capture)
		rc := dialRaw(t, p.addr)
		rc.send("GET " + origin.URL + "/ HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.response("GET")
		rc.c.Close()
		var recs []AccessRecord
		for deadline := time.Now().Add(patience); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			recs = log.take()
		}
		if len(recs) != 1 {
			t.Fatalf("capture %v: %d records", capture, len(recs))
		}
		if traced.Load() != capture || capture != (recs[0].DNS >= 20*time.Millisecond) || recs[0].Connect < recs[0].DNS {
			t.Errorf("capture %v: traced %v, DNS %v, Connect %v", capture, traced.Load(), recs[0].DNS, recs[0].Connect)
		}
	}
}
