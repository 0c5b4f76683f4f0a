package proxy

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolSizesItselfToTheLoad pins down that the pool follows the load,
// counted by the connections the origin accepts, at the default
// pool_max_idle_per_host (64) and with more clients than 4 times that (the
// burst the pool once absorbed): a burst of n requests in flight at once
// dials n conns, not more; a second burst and a steady load from n
// clients reuse them (dials under 1% of requests: none); and once the
// load stops, the idle conns drain within the idle timeout.
func TestPoolSizesItselfToTheLoad(t *testing.T) {
	const n, rounds = 300, 20
	var gate atomic.Pointer[barrier]
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b := gate.Load(); b != nil {
			b.arrive()
		}
		io.WriteString(w, r.URL.Path)
	}))
	p := startProxy(t, Config{IdleConnTimeout: time.Minute})
	tr := &http.Transport{Proxy: http.ProxyURL(p.url), MaxIdleConnsPerHost: n, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: patience}

	// each runs n clients at once, each sending k requests in turn, and
	// returns the first failure.
	each := func(k int) error {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < k; j++ {
					path := fmt.Sprintf("/c%d/r%d", i, j)
					resp, err := c.Get(o.URL + path)
					if err != nil {
						errs <- err
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || string(body) != path {
						errs <- fmt.Errorf("%s: %d %q %v", path, resp.StatusCode, body, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	// burst holds n requests at the origin until all have arrived, so n
	// are in flight at once.
	burst := func() {
		t.Helper()
		b := &barrier{arrived: make(chan struct{}, n), release: make(chan struct{})}
		t.Cleanup(b.free) // should the test fail half-way, before the origin's Close
		gate.Store(b)
		done := make(chan error, 1)
		go func() { done <- each(1) }()
		for i := 0; i < n; i++ {
			select {
			case <-b.arrived:
			case <-time.After(patience):
				t.Fatalf("%d of %d requests reached the origin", i, n)
			}
		}
		gate.Store(nil)
		b.free()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	burst()
	if got := o.accepted.Load(); got != n {
		t.Fatalf("a burst of %d requests in flight at once: origin accepted %d conns, want %d", n, got, n)
	}
	waitFor(t, "the burst's conns back in the pool", func() bool { return p.srv.IdleUpstreamConns() == n })
	burst()
	if got := o.accepted.Load(); got != n {
		t.Errorf("a second burst: origin accepted %d conns in all, want the first burst's %d reused", got, n)
	}
	before := o.accepted.Load()
	if err := each(rounds); err != nil {
		t.Fatal(err)
	}
	if dials := o.accepted.Load() - before; dials*100 > n*rounds {
		t.Errorf("steady load of %d clients × %d requests dialed %d conns: reuse %.2f%%, want ≥ 99%%",
			n, rounds, dials, 100-100*float64(dials)/float64(n*rounds))
	}
	reused, dialed := p.srv.Stats().Reused()
	t.Logf("origin accepted %d conns for %d requests; Sluice counted %d reused, %d dialed", o.accepted.Load(), reused+dialed, reused, dialed)

	// Without load, the pool drains: every idle conn expires.
	if err := p.srv.Update(Config{IdleConnTimeout: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle conns drained", func() bool {
		return p.srv.IdleUpstreamConns() == 0 && o.closed.Load() == o.accepted.Load()
	})
}

// barrier holds requests at an origin until a test frees them.
type barrier struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *barrier) free() { b.once.Do(func() { close(b.release) }) }

func (b *barrier) arrive() {
	b.arrived <- struct{}{}
	<-b.release
}
