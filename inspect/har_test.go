package inspect

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

type harFile struct {
	Log struct {
		Version string         `json:"version"`
		Entries []harEntryJSON `json:"entries"`
	} `json:"log"`
}

func readHAR(t testing.TB, path string) harFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h harFile
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("the HAR file is not JSON: %v\n%.500s", err, b)
	}
	return h
}

// TestHARCapture: a capture writes inspected exchanges with headers and
// bodies (the long one cut at the cap and marked), only for its host
// pattern, and a valid HAR 1.2 file once stopped.
func TestHARCapture(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	big := strings.Repeat("x", 5000)
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Origin", "yes")
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "got "+string(body))
	}))
	r := startRig(t, Config{Hosts: []string{"*.test"}, HTTP2: true}, ca)
	r.capture.SetBodyMax(1000)
	info, err := r.capture.Start("inspected.test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.capture.Start("", 0); err == nil {
		t.Error("a second capture started while one runs")
	}
	port := portOf(t, o)
	c := r.client(t, true, nil)
	resp, err := c.Post("https://inspected.test:"+port+"/form?q=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	resp, err = c.Get("https://inspected.test:" + port + "/big")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	resp, err = c.Get("https://other.test:" + port + "/not-captured")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	// Records are made after the responses went out.
	waitFor(t, "the records", func() bool { return len(r.access.inspected()) == 3 })
	done, err := r.capture.Stop(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Entries != 2 || done.Dropped != 0 {
		t.Errorf("capture: %+v, want 2 entries", done)
	}
	h := readHAR(t, done.Path)
	if h.Log.Version != "1.2" || len(h.Log.Entries) != 2 {
		t.Fatalf("HAR %s with %d entries", h.Log.Version, len(h.Log.Entries))
	}
	post, get := h.Log.Entries[0], h.Log.Entries[1]
	if post.Request.Method != "POST" || post.Request.URL != "https://inspected.test:"+port+"/form?q=1" ||
		post.Request.HTTPVersion != "HTTP/2.0" || post.Request.PostData == nil || post.Request.PostData.Text != "hello" ||
		post.Response.Status != 200 || post.Response.Content.Text != "got hello" || len(post.Request.QueryString) != 1 {
		t.Errorf("POST entry %+v", post)
	}
	var sawHeader bool
	for _, hv := range post.Response.Headers {
		sawHeader = sawHeader || hv.Name == "X-Origin" && hv.Value == "yes"
	}
	if !sawHeader {
		t.Errorf("response headers %v lack X-Origin", post.Response.Headers)
	}
	if len(get.Response.Content.Text) != 1000 || get.Response.Content.Size != 5000 ||
		!strings.Contains(get.Response.Content.Comment, "truncated") {
		t.Errorf("big body: kept %d of %d, comment %q", len(get.Response.Content.Text), get.Response.Content.Size, get.Response.Content.Comment)
	}
	if r.capture.active("inspected.test") != nil {
		t.Error("the capture still takes exchanges after Stop")
	}
}

// TestHARCapturePlainHTTP: a plain-HTTP request through the proxy goes
// into a running capture with both heads (less the proxy credentials),
// from the access record, and only while the capture runs.
func TestHARCapturePlainHTTP(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Origin", "plain")
		io.WriteString(w, "hi")
	}))
	defer o.Close()
	r := startRig(t, Config{Hosts: []string{"inspected.test"}}, nil)
	get := func(path string) {
		req, _ := http.NewRequest("GET", o.URL+path, nil)
		req.Header.Set("X-Client", "test")
		req.Header.Set("Proxy-Authorization", "Basic c2VjcmV0OnNlY3JldA==")
		resp, err := r.client(t, false, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	records := func(n int) func() bool {
		return func() bool {
			r.access.mu.Lock()
			defer r.access.mu.Unlock()
			return len(r.access.recs) == n
		}
	}
	get("/before")
	// A record is made after its response went out.
	waitFor(t, "the first record", records(1))
	info, err := r.capture.Start("", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get("/during?q=1")
	waitFor(t, "the second record", records(2))
	done, err := r.capture.Stop(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	get("/after")
	h := readHAR(t, done.Path)
	if len(h.Log.Entries) != 1 {
		t.Fatalf("%d entries, want the one made during the capture", len(h.Log.Entries))
	}
	e := h.Log.Entries[0]
	has := func(l []harNV, name, value string) bool {
		for _, nv := range l {
			if strings.EqualFold(nv.Name, name) && nv.Value == value {
				return true
			}
		}
		return false
	}
	if e.Request.URL != o.URL+"/during?q=1" || e.Response.Status != 200 || e.Response.Content.MimeType != "text/plain" ||
		!has(e.Request.Headers, "X-Client", "test") || !has(e.Response.Headers, "X-Origin", "plain") {
		t.Errorf("entry %+v", e)
	}
	for _, nv := range e.Request.Headers {
		if strings.EqualFold(nv.Name, "Proxy-Authorization") {
			t.Error("the capture kept the client's proxy credentials")
		}
	}
}

// TestCaptureEndpoints: start and stop answer JSON; without the
// X-Sluice-Capture header (what a cross-site form could send) or with a
// bad duration nothing starts; an unknown id is 404.
func TestCaptureEndpoints(t *testing.T) {
	cs := NewCaptures(t.TempDir(), "test", 100)
	h := cs.Handler()
	call := func(target string, header bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", target, nil)
		if header {
			req.Header.Set("X-Sluice-Capture", "1")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := call("/capture/start", false); w.Code != http.StatusForbidden || cs.cur.Load() != nil {
		t.Errorf("without the header: %d, running %v", w.Code, cs.cur.Load() != nil)
	}
	if w := call("/capture/start?duration=soon", true); w.Code != http.StatusBadRequest {
		t.Errorf("bad duration: %d", w.Code)
	}
	if w := call("/capture/start?host=a%20b", true); w.Code != http.StatusBadRequest {
		t.Errorf("bad host: %d", w.Code)
	}
	w := call("/capture/start?host=*.example.org&duration=1m", true)
	var info CaptureInfo
	if err := json.Unmarshal(w.Body.Bytes(), &info); w.Code != 200 || err != nil || !info.Running {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	if w := call("/capture/stop?id=nope", true); w.Code != http.StatusNotFound {
		t.Errorf("unknown id: %d", w.Code)
	}
	if w := call("/capture/stop?id="+info.ID, true); w.Code != 200 || cs.cur.Load() != nil {
		t.Errorf("stop: %d %s", w.Code, w.Body)
	}
	h2 := readHAR(t, info.Path)
	if h2.Log.Version != "1.2" || len(h2.Log.Entries) != 0 {
		t.Errorf("empty capture: %+v", h2)
	}
}
