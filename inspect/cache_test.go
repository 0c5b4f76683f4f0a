package inspect

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluiceproxy/sluice/cache"
)

// TestInspectedResponsesAreCached: with a response cache, a decrypted GET
// is stored and the next one for the same URL is answered from it (one
// origin hit, Cache-Status says hit), as a plain-HTTP one would be.
func TestInspectedResponsesAreCached(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	var hits atomic.Int32
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "cacheable "+r.URL.Path)
	}))
	ch, err := cache.Open(cache.Config{MemoryBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true, Cache: func() *cache.Cache { return ch }}, ca)
	c := r.client(t, true, nil)
	u := "https://inspected.test:" + portOf(t, o) + "/object"
	var status []string
	for range 2 {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, resp); b != "cacheable /object" {
			t.Fatalf("body %q", b)
		}
		status = append(status, resp.Header.Get("Cache-Status"))
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the origin saw %d requests, want 1 (the second answered from the cache); Cache-Status %q", n, status)
	}
	if !strings.Contains(status[1], "hit") {
		t.Errorf("second answer's Cache-Status %q, want a hit", status[1])
	}
}
