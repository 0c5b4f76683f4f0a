package resolver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// 100 concurrent lookups of one name cause one query per address family.
func TestSingleflight(t *testing.T) {
	srv := startServer(t)
	srv.set("popular.test", 300, "192.0.2.10")
	// A slow answer keeps the first query in flight while the others arrive.
	srv.configure(func(s *testServer) { s.delay = 300 * time.Millisecond })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			addrs, _, err := r.LookupNetIP(context.Background(), "popular.test")
			if err == nil && (len(addrs) != 1 || addrs[0].String() != "192.0.2.10") {
				t.Errorf("addresses = %v", addrs)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a, aaaa := srv.count("popular.test", dns.TypeA), srv.count("popular.test", dns.TypeAAAA); a != 1 || aaaa != 1 {
		t.Fatalf("queries A=%d AAAA=%d, want 1 and 1", a, aaaa)
	}
}

// A caller that gives up does not fail the others sharing its query.
func TestSingleflightCallerCancel(t *testing.T) {
	srv := startServer(t)
	srv.set("shared.test", 300, "192.0.2.11")
	srv.configure(func(s *testServer) { s.delay = 300 * time.Millisecond })
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := r.LookupNetIP(context.Background(), "shared.test")
		done <- err
	}()
	if _, _, err := r.LookupNetIP(ctx, "shared.test"); err == nil {
		t.Fatal("lookup with a 50ms deadline succeeded against a 300ms server")
	}
	if err := <-done; err != nil {
		t.Fatalf("the patient caller failed: %v", err)
	}
}
