package cache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// TestHandlerInFrontOfReverseProxy uses the cache as an http.Handler in
// front of a ReverseProxy to a real origin, as inspected HTTPS exchanges
// do: a hit, a revalidation answered 304, and an invalidating POST.
func TestHandlerInFrontOfReverseProxy(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		switch r.URL.Path {
		case "/etag":
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", `"v"`)
			if r.Header.Get("If-None-Match") == `"v"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		default:
			w.Header().Set("Cache-Control", "max-age=60")
		}
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	c, _ := Open(Config{MemoryBytes: 1 << 20})
	front := httptest.NewServer(c.Handler("https", "Sluice", httputil.NewSingleHostReverseProxy(u)))
	defer front.Close()
	get := func(method, path string) (string, string) {
		req, _ := http.NewRequest(method, front.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), resp.Header.Get("Cache-Status")
	}
	steps := []struct {
		method, path, body, status string
		hits                       int64
	}{
		{"GET", "/a", "/a #1", "Sluice; fwd=miss; stored", 1},
		{"GET", "/a", "/a #1", "Sluice; hit", 1},
		{"GET", "/etag", "/etag #2", "Sluice; fwd=miss; stored", 2},
		{"GET", "/etag", "/etag #2", "Sluice; fwd=stale; stored; fwd-status=304", 3},
		{"POST", "/a", "", "", 4},
		{"GET", "/a", "/a #5", "Sluice; fwd=miss; stored", 5},
	}
	for i, s := range steps {
		body, status := get(s.method, s.path)
		if body != s.body || status != s.status || hits.Load() != s.hits {
			t.Errorf("step %d %s %s: body %q Cache-Status %q, %d origin hits; want %q %q %d", i, s.method, s.path, body, status, hits.Load(), s.body, s.status, s.hits)
		}
	}
}
