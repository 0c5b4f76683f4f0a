package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cache"
)

// TestCacheCollapsedForwarding: 100 concurrent misses for one URL make
// one upstream fetch; every client gets the same bytes; and each gets its
// first byte while the origin is still sending (the origin holds the rest
// of the body until all 100 have read some).
func TestCacheCollapsedForwarding(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := "Content-Length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) { testCollapsed(t, chunked) })
	}
}

func testCollapsed(t *testing.T, chunked bool) {
	const clients = 100
	const size = 256 << 10
	var fetches atomic.Int64
	allStarted := make(chan struct{})
	body, _ := io.ReadAll(prngBody(7, size))
	co := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		if !chunked {
			w.Header().Set("Content-Length", "262144")
		}
		w.Write(body[:1000])
		w.(http.Flusher).Flush()
		select {
		case <-allStarted:
		case <-time.After(patience):
		}
		for off := 1000; off < size; off += 50 << 10 {
			w.Write(body[off:min(off+50<<10, size)])
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	p, c := startCachingProxy(t, cache.Config{MemoryBytes: 64 << 20})
	client := p.client(t)
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	want := sha256.Sum256(body)
	var firstByte sync.WaitGroup
	firstByte.Add(clients)
	var wg sync.WaitGroup
	sums := make([]string, clients)
	statuses := make([]string, clients)
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started := false
			defer func() {
				if !started {
					firstByte.Done()
				}
			}()
			resp, err := client.Get(co.URL + "/big")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.Header.Get("Cache-Status")
			one := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, one); err != nil {
				errs <- err
				return
			}
			started = true
			firstByte.Done()
			h := sha256.New()
			h.Write(one)
			if _, err := io.Copy(h, resp.Body); err != nil {
				errs <- err
				return
			}
			sums[i] = hex.EncodeToString(h.Sum(nil))
		}()
	}
	gotFirst := make(chan struct{})
	go func() { firstByte.Wait(); close(gotFirst) }()
	select {
	case <-gotFirst:
	case <-time.After(patience):
		t.Fatal("not every client had its first byte while the origin held the rest: followers do not stream")
	}
	close(allStarted)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d upstream fetches for %d concurrent clients, want 1", n, clients)
	}
	collapsed := 0
	for i, s := range sums {
		if s != hex.EncodeToString(want[:]) {
			t.Fatalf("client %d got different bytes (sha256 %s)", i, s)
		}
		if strings.Contains(statuses[i], "collapsed") {
			collapsed++
		}
	}
	if collapsed != clients-1 {
		t.Errorf("%d answers say collapsed, want %d (the others: %q)", collapsed, clients-1, statuses[0])
	}
	if st := c.Stats(false); st.Objects != 1 || st.Collapsed != clients-1 {
		t.Errorf("cache stats %+v: want 1 object, %d collapsed", st, clients-1)
	}
	// And the next one is a plain hit.
	resp, got := mustGet(t, client, co.URL+"/big")
	if resp.Header.Get("Cache-Status") != "Sluice; hit" || len(got) != size {
		t.Errorf("after the fill: Cache-Status %q, %d bytes", resp.Header.Get("Cache-Status"), len(got))
	}
}

// TestCacheCollapseReleasedByUncacheable: requests waiting on a fetch
// whose answer cannot be stored go upstream at once, not after the
// collapse timeout.
func TestCacheCollapseReleasedByUncacheable(t *testing.T) {
	const clients = 10
	var fetches atomic.Int64
	co := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond) // the others queue behind this one
		}
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "private answer")
	}))
	p, _ := startCachingProxy(t, cache.Config{MemoryBytes: 1 << 20, CollapseWait: time.Hour})
	client := p.client(t)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(co.URL + "/x")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(patience):
		t.Fatal("requests collapsed on an uncacheable fetch were not released")
	}
	if n := fetches.Load(); n != clients {
		t.Errorf("%d upstream fetches, want %d (each waiter goes upstream itself)", n, clients)
	}
}

// TestCacheCollapseTimeout: a request waiting on a fetch whose head does
// not come goes upstream itself after the collapse wait.
func TestCacheCollapseTimeout(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int64
	co := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "answer")
	}))
	defer close(release)
	p, _ := startCachingProxy(t, cache.Config{MemoryBytes: 1 << 20, CollapseWait: 100 * time.Millisecond})
	client := p.client(t)
	go client.Get(co.URL + "/slow")
	waitFor(t, "the first fetch", func() bool { return fetches.Load() == 1 })
	resp, body := mustGet(t, client, co.URL+"/slow")
	if body != "answer" || fetches.Load() != 2 {
		t.Errorf("after the collapse wait: body %q, %d fetches, want the second request's own fetch", body, fetches.Load())
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.HasPrefix(cs, "Sluice; fwd=miss") {
		t.Errorf("Cache-Status %q", cs)
	}
}

// TestCacheLeaderClientLeaves: the client whose request fetches goes
// away mid-body; the fetch goes on for the request following it, which
// gets the whole body, and the object is stored.
func TestCacheLeaderClientLeaves(t *testing.T) {
	const size = 512 << 10
	body, _ := io.ReadAll(prngBody(3, size))
	release := make(chan struct{})
	var fetches atomic.Int64
	co := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "524288")
		w.Write(body[:1000])
		w.(http.Flusher).Flush()
		<-release
		w.Write(body[1000:])
	}))
	p, c := startCachingProxy(t, cache.Config{MemoryBytes: 64 << 20})
	leader := dialRaw(t, p.addr)
	leader.send("GET " + co.URL + "/obj HTTP/1.1\r\nHost: " + co.hostPort() + "\r\n\r\n")
	if _, err := leader.br.Peek(1); err != nil {
		t.Fatal(err)
	}
	follower := make(chan string, 1)
	client := p.client(t)
	go func() {
		resp, err := client.Get(co.URL + "/obj")
		if err != nil {
			follower <- err.Error()
			return
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		follower <- resp.Header.Get("Cache-Status") + " " + fmt.Sprint(err == nil && string(got) == string(body))
	}()
	waitFor(t, "the follower to join the fetch", func() bool { return c.Stats(false).Collapsed == 1 })
	leader.c.Close()
	close(release)
	select {
	case got := <-follower:
		if got != "Sluice; fwd=miss; collapsed true" {
			t.Errorf("follower: %q, want the whole body, collapsed", got)
		}
	case <-time.After(patience):
		t.Fatal("the follower got no answer")
	}
	resp, got := mustGet(t, p.client(t), co.URL+"/obj")
	if resp.Header.Get("Cache-Status") != "Sluice; hit" || got != string(body) || fetches.Load() != 1 {
		t.Errorf("after the leader left: Cache-Status %q, %d bytes, %d fetches; want a stored whole object and 1 fetch",
			resp.Header.Get("Cache-Status"), len(got), fetches.Load())
	}
}

// TestCacheCollapsedRevalidation: concurrent requests for a stored object
// that must be revalidated send one conditional request; the others are
// answered from the refreshed object ("fwd=stale; collapsed").
func TestCacheCollapsedRevalidation(t *testing.T) {
	const clients = 10
	var full, conditional atomic.Int64
	co := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			conditional.Add(1)
			time.Sleep(300 * time.Millisecond) // the others queue behind it
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		io.WriteString(w, "the stored body")
	}))
	p, _ := startCachingProxy(t, cache.Config{MemoryBytes: 1 << 20})
	client := p.client(t)
	mustGet(t, client, co.URL+"/r")
	var wg sync.WaitGroup
	statuses := make([]string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(co.URL + "/r")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[i] = resp.Header.Get("Cache-Status") + " " + string(b)
		}()
	}
	wg.Wait()
	if full.Load() != 1 || conditional.Load() != 1 {
		t.Errorf("origin: %d full, %d conditional requests; want 1 and 1", full.Load(), conditional.Load())
	}
	// A request that came after the 304 (a slow machine) is a plain hit;
	// none may revalidate again.
	collapsed := 0
	for _, s := range statuses {
		switch {
		case !strings.HasSuffix(s, " the stored body"):
			t.Errorf("answer %q", s)
		case strings.HasPrefix(s, "Sluice; fwd=stale; collapsed"):
			collapsed++
		case strings.HasPrefix(s, "Sluice; fwd=stale; stored; fwd-status=304"), strings.HasPrefix(s, "Sluice; hit"):
		default:
			t.Errorf("answer %q", s)
		}
	}
	if collapsed == 0 {
		t.Errorf("no answer collapsed on the revalidation: %q", statuses)
	}
}

// TestCacheAccessRecord: the access log gets each answer's Cache-Status.
func TestCacheAccessRecord(t *testing.T) {
	co := startCountingOrigin(t, rfcOrigin())
	c, _ := cache.Open(cache.Config{MemoryBytes: 1 << 20})
	var log accessLog
	p := startProxy(t, Config{Cache: c, Access: &log})
	client := p.client(t)
	for range 2 {
		mustGet(t, client, co.URL+"/fresh")
	}
	req, _ := http.NewRequest(http.MethodPost, co.URL+"/poster", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "three access records", func() bool { return len(log.records()) == 3 })
	var got []string
	for _, r := range log.records() {
		got = append(got, r.CacheStatus)
	}
	want := []string{"Sluice; fwd=miss; stored", "Sluice; hit", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("access records' CacheStatus %q, want %q", got, want)
	}
}
