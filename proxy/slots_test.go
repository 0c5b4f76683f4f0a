package proxy

import (
	"net/http"
	"testing"
	"time"
)

// TestSlotsFirstComeFirstServed checks that freed slots go to waiters in
// the order they came, and that a wait that runs out gives up its place.
func TestSlotsFirstComeFirstServed(t *testing.T) {
	var s slots
	s.setLimit(1)
	if !s.tryAcquire() || s.tryAcquire() {
		t.Fatal("want exactly one slot")
	}
	if s.acquire(10 * time.Millisecond) {
		t.Fatal("acquire got a slot none freed")
	}
	order := make(chan int, 2)
	for i := range 2 {
		go func() {
			if s.acquire(patience) {
				order <- i
			}
		}()
		waitFor(t, "the waiter to queue", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.waiters) == i+1
		})
	}
	s.release()
	if first := <-order; first != 0 {
		t.Fatalf("waiter %d served first, want the oldest", first)
	}
	s.release()
	if second := <-order; second != 1 {
		t.Fatalf("waiter %d served second", second)
	}
}

// TestSlotsLimitChange checks that a lowered limit admits no one until
// enough holders leave and that a raised one serves waiters at once.
func TestSlotsLimitChange(t *testing.T) {
	var s slots
	s.setLimit(2)
	s.tryAcquire()
	s.tryAcquire()
	s.setLimit(1)
	s.release()
	if s.tryAcquire() {
		t.Fatal("a slot was given over the lowered limit")
	}
	got := make(chan bool)
	go func() { got <- s.acquire(patience) }()
	waitFor(t, "the waiter to queue", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.waiters) == 1
	})
	s.setLimit(2)
	if !<-got {
		t.Fatal("the raised limit did not serve the waiter")
	}
}

// TestRaisedMaxConcurrentServesWaitingConn checks that a reload raising
// max_concurrent serves a connection already waiting for a slot, rather
// than holding it to the limit it was accepted under.
func TestRaisedMaxConcurrentServesWaitingConn(t *testing.T) {
	cfg := Config{MaxConcurrent: 1, OverloadWait: patience}
	p := startProxy(t, cfg)
	holder := dialRaw(t, p.addr)
	holder.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := holder.response("GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first connection: %d", resp.StatusCode)
	}

	rc := dialRaw(t, p.addr)
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	waitFor(t, "the second connection to wait for a slot", func() bool {
		p.srv.slots.mu.Lock()
		defer p.srv.slots.mu.Unlock()
		return len(p.srv.slots.waiters) == 1
	})
	cfg.MaxConcurrent = 2
	cfg.Listen = p.addr
	if err := p.srv.Update(cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp, _ := rc.response("GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting connection after the reload: %d", resp.StatusCode)
	}
	if d := time.Since(start); d > patience/2 {
		t.Errorf("served %v after the reload, want at once", d)
	}
}
