package inspect

import (
	"encoding/json"
	"io"
	"net/http"
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
