package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// TestCacheSquidCrossCheck runs the cacheability table (cacheCases)
// through squid with its memory cache on, as a cross-check of what
// Sluice stores and serves. squid is a shared cache, so some answers
// differ by design (private, s-maxage, Authorization); the differences
// are logged in a table and documented in docs/cache.md, not failed.
// Only a squid that caches nothing at all fails it: then the harness,
// not the table, is wrong.
func TestCacheSquidCrossCheck(t *testing.T) {
	addr := parenttest.StartCachingSquid(t, parenttest.AllowLocalhost).Addr
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr}), DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: patience,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tstep\trequest\tSluice: origin hits\tsquid: origin hits\tsquid's X-Cache\n")
	differ, steps := 0, 0
	freshAgrees := false
	for _, tc := range cacheCases() {
		if tc.sluiceOnly {
			continue
		}
		co := startCountingOrigin(t, rfcOrigin())
		same := true
		for i, s := range tc.steps {
			steps++
			method := s.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, co.URL+s.path, nil)
			for k, v := range s.header {
				req.Header.Set(k, v)
			}
			xcache := ""
			resp, err := client.Do(req)
			if err != nil {
				xcache = "error: " + err.Error()
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				xcache = resp.Header.Get("X-Cache")
			}
			// squid may still be storing what it relayed: a moment keeps
			// the next step from racing it.
			time.Sleep(20 * time.Millisecond)
			if got := co.count(s.path); got != s.hits {
				same = false
				differ++
				fmt.Fprintf(tw, "%s\t%d\t%s %s %s\t%d\t%d\t%s\n", tc.name, i, method, s.path, headerWords(s.header), s.hits, got, xcache)
			}
		}
		if tc.name == "fresh max-age is served from the cache" {
			freshAgrees = same
		}
		co.Close()
	}
	tw.Flush()
	t.Logf("squid (its memory cache on) differs from Sluice in %d of %d steps:\n%s", differ, steps, b.String())
	if !freshAgrees {
		t.Error("squid did not serve a plain max-age=60 answer from its cache: the cross-check's squid is not caching")
	}
}

// headerWords prints a step's request fields compactly.
func headerWords(h map[string]string) string {
	var parts []string
	for k, v := range h {
		parts = append(parts, k+": "+v)
	}
	return strings.Join(parts, "; ")
}
