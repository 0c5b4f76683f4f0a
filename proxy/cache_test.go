package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cache"
)

// countingOrigin is a loopback origin whose handlers are chosen by path
// and which counts the requests each path received.
type countingOrigin struct {
	*origin
	mu    sync.Mutex
	hits  map[string]int
	last  map[string]*http.Request
	paths map[string]http.HandlerFunc
}

func startCountingOrigin(t testing.TB, paths map[string]http.HandlerFunc) *countingOrigin {
	co := &countingOrigin{hits: map[string]int{}, last: map[string]*http.Request{}, paths: paths}
	co.origin = startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		co.mu.Lock()
		co.hits[r.URL.Path]++
		co.last[r.URL.Path] = r
		co.mu.Unlock()
		h := co.paths[r.URL.Path]
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	return co
}

func (co *countingOrigin) count(path string) int {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.hits[path]
}

func (co *countingOrigin) lastRequest(path string) *http.Request {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.last[path]
}

// startCachingProxy starts a Sluice with a memory-only cache.
func startCachingProxy(t testing.TB, cfg cache.Config) (*testProxy, *cache.Cache) {
	t.Helper()
	c, err := cache.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return startProxy(t, Config{Cache: c}), c
}

// cacheStep is one request of a cache case and what it must see.
type cacheStep struct {
	method, path string
	header       map[string]string
	hits         int    // the path's origin hits after the step
	status       int    // 0 means 200
	cacheStatus  string // Cache-Status must start with this
	body         string // checked when not ""
	check        func(t *testing.T, resp *http.Response, co *countingOrigin)
}

// rfcOrigin serves the cacheability cases, one path each.
func rfcOrigin() map[string]http.HandlerFunc {
	lastMod := time.Now().Add(-10 * 24 * time.Hour).UTC().Format(http.TimeFormat)
	version := map[string]int{}
	var mu sync.Mutex
	next := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		version[p]++
		return version[p]
	}
	fixed := func(cc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			fmt.Fprintf(w, "body %s #%d", r.URL.Path, next(r.URL.Path))
		}
	}
	return map[string]http.HandlerFunc{
		"/fresh":     fixed("max-age=60"),
		"/stale":     fixed("max-age=0"),
		"/nostore":   fixed("no-store, max-age=60"),
		"/private":   fixed("private, max-age=60"),
		"/public":    fixed("public, max-age=60"),
		"/nofresh":   fixed(""),
		"/smaxage":   fixed("s-maxage=60"),
		"/mustreval": fixed("max-age=0, must-revalidate"),
		"/etag": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("ETag", `"e1"`)
			n := next(r.URL.Path)
			w.Header().Set("X-Version", fmt.Sprint(n))
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			io.WriteString(w, "etag body")
		},
		"/lastmod": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", lastMod)
			n := next(r.URL.Path)
			w.Header().Set("X-Version", fmt.Sprint(n))
			if r.Header.Get("If-Modified-Since") == lastMod {
				w.Header().Set("Cache-Control", "max-age=60") // the 304 makes it fresh
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Cache-Control", "max-age=0")
			io.WriteString(w, "lastmod body")
		},
		"/heuristic": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", lastMod)
			fmt.Fprintf(w, "heuristic #%d", next(r.URL.Path))
		},
		"/redirect": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Last-Modified", lastMod)
			w.Header().Set("Location", "/fresh")
			w.WriteHeader(http.StatusFound) // not heuristically cacheable
		},
		"/vary": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "Accept-Encoding")
			fmt.Fprintf(w, "for %q #%d", r.Header.Get("Accept-Encoding"), next(r.URL.Path))
		},
		"/expires": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			fmt.Fprintf(w, "expires #%d", next(r.URL.Path))
		},
		"/expired": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Expires", "0") // invalid: already expired (§5.3)
			fmt.Fprintf(w, "expired #%d", next(r.URL.Path))
		},
		"/range": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("ETag", `"r1"`)
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789abcdef"))
		},
		"/chunked": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			fmt.Fprintf(w, "part two #%d", next(r.URL.Path))
		},
		"/target":      fixed("max-age=60"),
		"/nostore-req": fixed("max-age=60"),
		"/poster": func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				w.Header().Set("Location", "/target")
				w.WriteHeader(http.StatusCreated)
				return
			}
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "poster #%d", next(r.URL.Path))
		},
		"/big": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Length", "65536")
			w.Write(make([]byte, 64<<10))
		},
		"/bigchunked": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write(make([]byte, 64<<10)) // no length: found too big while teed
		},
	}
}

// TestCacheRFC9111 runs the cacheability cases of RFC 9111 against a
// real origin that counts its hits: what is stored, what is served, what
// is revalidated and what goes upstream again.
func TestCacheRFC9111(t *testing.T) {
	for _, tc := range cacheCases() {
		t.Run(tc.name, func(t *testing.T) {
			co := startCountingOrigin(t, rfcOrigin())
			p, _ := startCachingProxy(t, cache.Config{MemoryBytes: 8 << 20, MaxObjectBytes: 32 << 10})
			client := p.client(t)
			for i, s := range tc.steps {
				runCacheStep(t, client, co, i, s)
			}
		})
	}
}

// cacheCase is one row of the cacheability table.
type cacheCase struct {
	name  string
	steps []cacheStep
	// sluiceOnly: the case is about Sluice's own limits (max_object_mb),
	// not RFC 9111; the squid cross-check skips it.
	sluiceOnly bool
}

// cacheCases is the cacheability table, shared with the squid
// cross-check (cache_squid_test.go).
func cacheCases() []cacheCase {
	auth := map[string]string{"Authorization": "Bearer x"}
	return []cacheCase{
		{name: "fresh max-age is served from the cache", steps: []cacheStep{
			{path: "/fresh", hits: 1, cacheStatus: "Sluice; fwd=miss; stored", body: "body /fresh #1"},
			{path: "/fresh", hits: 1, cacheStatus: "Sluice; hit", body: "body /fresh #1", check: hasAge},
		}},
		{name: "stale without validators is fetched again", steps: []cacheStep{
			{path: "/stale", hits: 1, cacheStatus: "Sluice; fwd=miss; stored"},
			{path: "/stale", hits: 2, cacheStatus: "Sluice; fwd=stale", body: "body /stale #2"},
		}},
		{name: "no-cache is revalidated with If-None-Match and a 304 updates the head", steps: []cacheStep{
			{path: "/etag", hits: 1, cacheStatus: "Sluice; fwd=miss; stored", body: "etag body"},
			{path: "/etag", hits: 2, cacheStatus: "Sluice; fwd=stale; stored; fwd-status=304", body: "etag body", check: func(t *testing.T, resp *http.Response, co *countingOrigin) {
				if got := co.lastRequest("/etag").Header.Get("If-None-Match"); got != `"e1"` {
					t.Errorf("revalidation sent If-None-Match %q, want \"e1\"", got)
				}
				if v := resp.Header.Get("X-Version"); v != "2" {
					t.Errorf("X-Version %q after the 304, want 2 (the 304's fields replace the stored ones)", v)
				}
			}},
		}},
		{name: "If-Modified-Since revalidation; the 304's max-age makes it fresh", steps: []cacheStep{
			{path: "/lastmod", hits: 1, cacheStatus: "Sluice; fwd=miss; stored", body: "lastmod body"},
			{path: "/lastmod", hits: 2, cacheStatus: "Sluice; fwd=stale; stored; fwd-status=304", body: "lastmod body"},
			{path: "/lastmod", hits: 2, cacheStatus: "Sluice; hit", body: "lastmod body", check: func(t *testing.T, resp *http.Response, _ *countingOrigin) {
				if v := resp.Header.Get("X-Version"); v != "2" {
					t.Errorf("X-Version %q, want 2 from the 304", v)
				}
			}},
		}},
		{name: "must-revalidate stale is not served even with max-stale", steps: []cacheStep{
			{path: "/mustreval", hits: 1},
			{path: "/mustreval", header: map[string]string{"Cache-Control": "max-stale"}, hits: 2, cacheStatus: "Sluice; fwd=stale"},
		}},
		{name: "max-stale serves a stale object", steps: []cacheStep{
			{path: "/stale", hits: 1},
			{path: "/stale", header: map[string]string{"Cache-Control": "max-stale=3600"}, hits: 1, cacheStatus: "Sluice; hit", body: "body /stale #1"},
		}},
		{name: "Vary: Accept-Encoding keys variants, normalised", steps: []cacheStep{
			{path: "/vary", header: map[string]string{"Accept-Encoding": "gzip"}, hits: 1, body: `for "gzip" #1`},
			{path: "/vary", header: map[string]string{"Accept-Encoding": "gzip"}, hits: 1, cacheStatus: "Sluice; hit", body: `for "gzip" #1`},
			{path: "/vary", hits: 2, cacheStatus: "Sluice; fwd=vary-miss; stored", body: `for "" #2`},
			{path: "/vary", header: map[string]string{"Accept-Encoding": "identity"}, hits: 2, cacheStatus: "Sluice; hit", body: `for "" #2`},
			{path: "/vary", header: map[string]string{"Accept-Encoding": "gzip, br"}, hits: 3, body: `for "gzip, br" #3`},
			{path: "/vary", header: map[string]string{"Accept-Encoding": "br;q=1.0, gzip, deflate;q=0"}, hits: 3, cacheStatus: "Sluice; hit", body: `for "gzip, br" #3`},
		}},
		{name: "no-store is never stored", steps: []cacheStep{
			{path: "/nostore", hits: 1, cacheStatus: "Sluice; fwd=miss; detail=no-store"},
			{path: "/nostore", hits: 2},
		}},
		{name: "private is stored by a private cache", steps: []cacheStep{
			{path: "/private", hits: 1},
			{path: "/private", hits: 1, cacheStatus: "Sluice; hit"},
		}},
		{name: "s-maxage alone gives no freshness to a private cache", steps: []cacheStep{
			{path: "/smaxage", hits: 1, cacheStatus: "Sluice; fwd=miss; detail=no-freshness-information"},
			{path: "/smaxage", hits: 2},
		}},
		{name: "Authorization: not stored unless the response allows it", steps: []cacheStep{
			{path: "/fresh", header: auth, hits: 1, cacheStatus: "Sluice; fwd=miss; detail=Authorization"},
			{path: "/fresh", header: auth, hits: 2},
			{path: "/public", header: auth, hits: 1, cacheStatus: "Sluice; fwd=miss; stored"},
			{path: "/public", header: auth, hits: 1, cacheStatus: "Sluice; hit"},
		}},
		{name: "Authorization: a stored answer to another request is not served", steps: []cacheStep{
			{path: "/fresh", hits: 1},
			{path: "/fresh", header: auth, hits: 2},
			{path: "/fresh", hits: 2, cacheStatus: "Sluice; hit"},
		}},
		{name: "POST invalidates the URL and its Location", steps: []cacheStep{
			{path: "/poster", hits: 1},
			{path: "/target", hits: 1},
			{path: "/poster", hits: 1, cacheStatus: "Sluice; hit"},
			{method: "POST", path: "/poster", hits: 2, status: http.StatusCreated},
			{path: "/poster", hits: 3, cacheStatus: "Sluice; fwd=miss; stored", body: "poster #2"},
			{path: "/target", hits: 2, cacheStatus: "Sluice; fwd=miss; stored", body: "body /target #2"},
		}},
		{name: "heuristic freshness from Last-Modified", steps: []cacheStep{
			{path: "/heuristic", hits: 1, cacheStatus: "Sluice; fwd=miss; stored"},
			{path: "/heuristic", hits: 1, cacheStatus: "Sluice; hit", body: "heuristic #1"},
		}},
		{name: "no heuristic for a 302", steps: []cacheStep{
			{path: "/redirect", hits: 1, status: http.StatusFound, cacheStatus: "Sluice; fwd=miss; detail=no-freshness-information"},
			{path: "/redirect", hits: 2, status: http.StatusFound},
		}},
		{name: "no freshness information at all", steps: []cacheStep{
			{path: "/nofresh", hits: 1},
			{path: "/nofresh", hits: 2},
		}},
		{name: "Expires in the future is fresh; an invalid one is stale", steps: []cacheStep{
			{path: "/expires", hits: 1},
			{path: "/expires", hits: 1, cacheStatus: "Sluice; hit"},
			{path: "/expired", hits: 1},
			{path: "/expired", hits: 2},
		}},
		{name: "Range is served from a complete stored object", steps: []cacheStep{
			{path: "/range", header: map[string]string{"Range": "bytes=0-3"}, hits: 1, status: http.StatusPartialContent, body: "0123", cacheStatus: "Sluice; fwd=miss; detail=range-request"},
			{path: "/range", hits: 2, body: "0123456789abcdef"},
			{path: "/range", header: map[string]string{"Range": "bytes=2-5"}, hits: 2, status: http.StatusPartialContent, body: "2345", cacheStatus: "Sluice; hit", check: func(t *testing.T, resp *http.Response, _ *countingOrigin) {
				if cr := resp.Header.Get("Content-Range"); cr != "bytes 2-5/16" {
					t.Errorf("Content-Range %q, want bytes 2-5/16", cr)
				}
			}},
			{path: "/range", header: map[string]string{"Range": "bytes=-3"}, hits: 2, status: http.StatusPartialContent, body: "def"},
			{path: "/range", header: map[string]string{"Range": "bytes=99-"}, hits: 2, status: http.StatusRequestedRangeNotSatisfiable},
			{path: "/range", header: map[string]string{"Range": "bytes=0-1,4-5"}, hits: 3, status: http.StatusPartialContent},
			{path: "/range", header: map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`}, hits: 3, body: "0123456789abcdef"},
			{path: "/range", hits: 3, body: "0123456789abcdef", cacheStatus: "Sluice; hit"},
		}},
		{name: "HEAD is answered from a stored GET", steps: []cacheStep{
			{method: "HEAD", path: "/fresh", hits: 1, cacheStatus: "Sluice; fwd=miss"},
			{path: "/fresh", hits: 2},
			{method: "HEAD", path: "/fresh", hits: 2, cacheStatus: "Sluice; hit", check: func(t *testing.T, resp *http.Response, _ *countingOrigin) {
				if resp.ContentLength != int64(len("body /fresh #2")) {
					t.Errorf("HEAD Content-Length %d", resp.ContentLength)
				}
			}},
		}},
		{name: "request no-cache revalidates; no-store only stops storing", steps: []cacheStep{
			{path: "/fresh", hits: 1},
			{path: "/fresh", header: map[string]string{"Cache-Control": "no-cache"}, hits: 2, cacheStatus: "Sluice; fwd=request"},
			{path: "/fresh", header: map[string]string{"Pragma": "no-cache"}, hits: 3, cacheStatus: "Sluice; fwd=request"},
			{path: "/fresh", header: map[string]string{"Cache-Control": "no-store"}, hits: 3, cacheStatus: "Sluice; hit"},
			{path: "/fresh", header: map[string]string{"Cache-Control": "max-age=0"}, hits: 4},
			{path: "/fresh", header: map[string]string{"Cache-Control": "min-fresh=3600"}, hits: 5},
			{path: "/fresh", hits: 5, cacheStatus: "Sluice; hit", body: "body /fresh #5"},
			{path: "/nostore-req", header: map[string]string{"Cache-Control": "no-store"}, hits: 1, cacheStatus: "Sluice; fwd=miss; detail=request-no-store"},
			{path: "/nostore-req", hits: 2},
		}},
		{name: "only-if-cached: 504 on a miss, the object once stored", steps: []cacheStep{
			{path: "/fresh", header: map[string]string{"Cache-Control": "only-if-cached"}, hits: 0, status: http.StatusGatewayTimeout},
			{path: "/fresh", hits: 1},
			{path: "/fresh", header: map[string]string{"Cache-Control": "only-if-cached"}, hits: 1, cacheStatus: "Sluice; hit"},
		}},
		{name: "a client's own conditional gets a 304 from the cache", steps: []cacheStep{
			{path: "/range", hits: 1},
			{path: "/range", header: map[string]string{"If-None-Match": `"r1"`}, hits: 1, status: http.StatusNotModified, cacheStatus: "Sluice; hit"},
		}},
		{name: "a chunked body is stored and served with its length", steps: []cacheStep{
			{path: "/chunked", hits: 1, body: "part one, part two #1"},
			{path: "/chunked", hits: 1, body: "part one, part two #1", cacheStatus: "Sluice; hit", check: func(t *testing.T, resp *http.Response, _ *countingOrigin) {
				if resp.ContentLength != int64(len("part one, part two #1")) {
					t.Errorf("Content-Length %d from the cache", resp.ContentLength)
				}
			}},
		}},
		{name: "a body over max_object_mb is relayed, not stored", sluiceOnly: true, steps: []cacheStep{
			{path: "/big", hits: 1, cacheStatus: "Sluice; fwd=miss; detail=over-max_object_mb"},
			{path: "/big", hits: 2},
			{path: "/bigchunked", hits: 1, cacheStatus: "Sluice; fwd=miss"},
			{path: "/bigchunked", hits: 2, cacheStatus: "Sluice; fwd=miss"},
		}},
	}
}

func runCacheStep(t *testing.T, client *http.Client, co *countingOrigin, i int, s cacheStep) {
	t.Helper()
	method := s.method
	if method == "" {
		method = http.MethodGet
	}
	req, _ := http.NewRequest(method, co.URL+s.path, nil)
	for k, v := range s.header {
		req.Header.Set(k, v)
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("step %d: %s %s: %v", i, method, s.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("step %d: read body: %v", i, err)
	}
	want := s.status
	if want == 0 {
		want = http.StatusOK
	}
	cs := resp.Header.Get("Cache-Status")
	if resp.StatusCode != want {
		t.Errorf("step %d: status %d, want %d (Cache-Status %q)", i, resp.StatusCode, want, cs)
	}
	if got := co.count(s.path); got != s.hits {
		t.Errorf("step %d: origin hits %d, want %d (Cache-Status %q)", i, got, s.hits, cs)
	}
	if !strings.HasPrefix(cs, s.cacheStatus) {
		t.Errorf("step %d: Cache-Status %q, want %q...", i, cs, s.cacheStatus)
	}
	if s.body != "" && string(body) != s.body {
		t.Errorf("step %d: body %q, want %q", i, body, s.body)
	}
	if s.check != nil {
		s.check(t, resp, co)
	}
}

func hasAge(t *testing.T, resp *http.Response, _ *countingOrigin) {
	if resp.Header.Get("Age") == "" {
		t.Error("a hit has no Age field")
	}
}

// TestCacheNextRequestOnTheConn: a request answered from the cache leaves
// nothing behind for the next one on the connection: an OPTIONS after a
// hit is not stored under the hit's URL.
func TestCacheNextRequestOnTheConn(t *testing.T) {
	co := startCountingOrigin(t, rfcOrigin())
	p, _ := startCachingProxy(t, cache.Config{MemoryBytes: 1 << 20})
	client := p.client(t)
	steps := []cacheStep{
		{path: "/fresh", hits: 1, body: "body /fresh #1"},
		{path: "/fresh", hits: 1, cacheStatus: "Sluice; hit"},
		{method: "OPTIONS", path: "/target", hits: 1, body: "body /target #1"},
		{path: "/fresh", hits: 1, cacheStatus: "Sluice; hit", body: "body /fresh #1"},
		{path: "/fresh", header: map[string]string{"Cache-Control": "only-if-cached"}, hits: 1, cacheStatus: "Sluice; hit"},
		{method: "OPTIONS", path: "/target", hits: 2, body: "body /target #2"},
		{path: "/fresh", hits: 1, cacheStatus: "Sluice; hit", body: "body /fresh #1"},
	}
	for i, s := range steps {
		runCacheStep(t, client, co, i, s)
	}
}

// TestCacheObjectLargerThanTheTiers: a body no tier would keep (over an
// eighth of a memory-only cache) is relayed as if the cache were off,
// announced or found while teed.
func TestCacheObjectLargerThanTheTiers(t *testing.T) {
	co := startCountingOrigin(t, rfcOrigin())
	p, c := startCachingProxy(t, cache.Config{MemoryBytes: 256 << 10}) // takes bodies to 32 KiB
	client := p.client(t)
	for i, s := range []cacheStep{
		{path: "/big", hits: 1, cacheStatus: "Sluice; fwd=miss; detail=larger-than-the-tiers-take"},
		{path: "/big", hits: 2},
		{path: "/bigchunked", hits: 1, cacheStatus: "Sluice; fwd=miss"},
		{path: "/bigchunked", hits: 2},
	} {
		runCacheStep(t, client, co, i, s)
	}
	if st := c.Stats(false); st.Objects != 0 {
		t.Errorf("%d objects stored, want none", st.Objects)
	}
}
