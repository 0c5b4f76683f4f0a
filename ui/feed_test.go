package ui

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

const patience = 10 * time.Second

// sluice is a real proxy with the dashboard as its access logger and
// local handler, as the app wires them.
type sluice struct {
	srv  *proxy.Server
	feed *Feed
	addr string
}

func startSluice(t testing.TB, history int, cfg proxy.Config) *sluice {
	t.Helper()
	st := stats.New()
	s := &sluice{}
	s.feed = New(Sources{Stats: st, Capture: func(on bool) { s.srv.CaptureHeads(on) }}, history)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Stats, cfg.Access, cfg.Local = ln.Addr().String(), st, s.feed, s.feed.Handler()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s.srv, err = proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// proxyClient sends requests through s.
func (s *sluice) client() *http.Client {
	u, _ := url.Parse("http://" + s.addr)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}, Timeout: patience}
}

// event is one Server-Sent Event.
type event struct{ name, data string }

// readEvents parses an event stream into ch until it ends.
func readEvents(r io.Reader, ch chan<- event) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				ch <- ev
			}
			ev = event{}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data += line[len("data: "):]
		}
	}
}

func openEvents(t *testing.T, s *sluice) <-chan event {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/ui/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan event, 1024)
	go readEvents(resp.Body, ch)
	return ch
}

// waitEvent returns the first event ok accepts.
func waitEvent(t *testing.T, ch <-chan event, what string, ok func(event) bool) event {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("the stream ended before %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, patience)
		}
	}
}

// TestEventsCarryRecordsAndSnapshots opens the stream, sends a request
// through Sluice, and finds it in a "rec" event, then its details with
// both heads, and a "snap" counting it.
func TestEventsCarryRecordsAndSnapshots(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin", "yes")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()
	s := startSluice(t, 0, proxy.Config{})
	before := origin.URL + "/before-any-page"
	if _, err := s.client().Get(before); err != nil {
		t.Fatal(err)
	}
	events := openEvents(t, s)
	waitEvent(t, events, "history", func(ev event) bool { return ev.name == "history" })
	path := fmt.Sprintf("/probe-%d", time.Now().UnixNano())
	req, _ := http.NewRequest("GET", origin.URL+path, nil)
	req.Header.Set("X-Probe", "42")
	resp, err := s.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var rec struct {
		ID     uint64
		Path   string
		Status int
		Route  string
		Out    int64
	}
	ev := waitEvent(t, events, "the request's record", func(ev event) bool {
		if ev.name != "rec" {
			return false
		}
		if err := json.Unmarshal([]byte(ev.data), &rec); err != nil {
			t.Fatalf("rec %q: %v", ev.data, err)
		}
		if rec.Path == "/before-any-page" {
			t.Error("a request made while no page watched was kept")
		}
		return rec.Path == path
	})
	if rec.Status != 200 || rec.Route != "direct" || rec.Out != 5 {
		t.Errorf("record %s", ev.data)
	}

	r, err := http.Get(fmt.Sprintf("http://%s/ui/api/records/%d", s.addr, rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	var details struct {
		Request, Response struct {
			Line   string
			Fields [][2]string
		}
	}
	json.NewDecoder(r.Body).Decode(&details)
	r.Body.Close()
	if !strings.HasPrefix(details.Request.Line, "GET "+origin.URL+path) || !hasField(details.Request.Fields, "X-Probe", "42") ||
		details.Response.Line != "HTTP/1.1 200 OK" || !hasField(details.Response.Fields, "X-Origin", "yes") {
		t.Errorf("details %+v", details)
	}

	var snap snapshot
	waitEvent(t, events, "a snapshot counting the requests", func(ev event) bool {
		if ev.name != "snap" {
			return false
		}
		json.Unmarshal([]byte(ev.data), &snap)
		return snap.Requests >= 2
	})
	if snap.Watchers != 1 || snap.History != DefaultHistory {
		t.Errorf("snapshot %+v", snap)
	}
}

func hasField(fields [][2]string, name, value string) bool {
	for _, f := range fields {
		if strings.EqualFold(f[0], name) && f[1] == value {
			return true
		}
	}
	return false
}

// blockingWriter is a page whose connection takes nothing until release
// is closed, as a browser tab that hangs.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
	blocked chan struct{}
	once    atomic.Bool
	out     bytes.Buffer
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(p []byte) (int, error) {
	if !w.once.Swap(true) {
		close(w.blocked)
		<-w.release
	}
	return w.out.Write(p)
}

// TestLaggingPageIsDropped holds a page's first write until more records
// arrived than the ring keeps: the page is told it was dropped and its
// stream ends, rather than anything queuing for it.
func TestLaggingPageIsDropped(t *testing.T) {
	st := stats.New()
	f := New(Sources{Stats: st}, 8)
	w := &blockingWriter{header: http.Header{}, release: make(chan struct{}), blocked: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.serveEvents(w, httptest.NewRequest("GET", "/ui/events", nil))
	}()
	<-w.blocked
	for i := 0; i < 20; i++ {
		f.LogAccess(&proxy.AccessRecord{Path: fmt.Sprint("/", i)})
	}
	close(w.release)
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("the lagging page's stream did not end")
	}
	if !strings.Contains(w.out.String(), "event: dropped\n") {
		t.Errorf("the page was not told it was dropped: %q", w.out.String())
	}
	if f.Watchers() != 0 {
		t.Errorf("%d watchers after the drop", f.Watchers())
	}
}

// TestHeadOfEventsDoesNotStream checks that HEAD /ui/events answers and
// ends rather than holding a stream that writes nothing.
func TestHeadOfEventsDoesNotStream(t *testing.T) {
	s := startSluice(t, 0, proxy.Config{})
	c := &http.Client{Timeout: patience}
	resp, err := c.Head("http://" + s.addr + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || s.feed.Watchers() != 0 {
		t.Errorf("HEAD: %d, %d watchers", resp.StatusCode, s.feed.Watchers())
	}
}
