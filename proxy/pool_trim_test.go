package proxy

import (
	"net"
	"testing"
	"time"
)

// TestPoolBurstIsTrimmedOldestFirst pins down the idle pool's bound: a
// burst may park up to burstFactor×maxPerHost conns, one more is closed at
// once, and the sweep trims the list back to maxPerHost, closing the
// least recently used.
func TestPoolBurstIsTrimmedOldestFirst(t *testing.T) {
	const max = 3
	p := newPool(max, time.Hour)
	defer p.close()
	now := time.Now()
	var conns []net.Conn
	for i := 0; i < burstFactor*max+1; i++ {
		c, peer := net.Pipe()
		defer peer.Close()
		conns = append(conns, c)
		p.put(&upstreamConn{conn: c, br: newReader(c), bw: newWriter(c), key: "h:80"}, now.Add(time.Duration(i)))
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	if got := p.idleCount(); got != burstFactor*max {
		t.Fatalf("idle after the burst = %d, want %d", got, burstFactor*max)
	}
	if !closed(conns[len(conns)-1]) {
		t.Error("the conn over burstFactor×maxPerHost was kept")
	}
	p.trim()
	if got := p.idleCount(); got != max {
		t.Fatalf("idle after trim = %d, want %d", got, max)
	}
	for i, c := range conns[:burstFactor*max] {
		oldest := i < burstFactor*max-max
		if closed(c) != oldest {
			t.Errorf("conn %d: closed = %v, want %v (oldest first)", i, closed(c), oldest)
		}
	}
	if uc := p.get([]byte("h:80"), now); uc == nil || uc.conn != conns[burstFactor*max-1] {
		t.Error("get did not return the most recently used conn")
	}
}

// TestPoolSweepsOnlyWhileItHoldsConns pins down that an empty pool arms no
// timer (an idle proxy must not wake every second), that a parked conn
// arms the sweep, and that the sweep disarms once it expired the last one.
func TestPoolSweepsOnlyWhileItHoldsConns(t *testing.T) {
	p := newPool(4, 50*time.Millisecond)
	defer p.close()
	sweeping := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.sweeping
	}
	if sweeping() {
		t.Fatal("a new, empty pool armed its sweep")
	}
	c, peer := net.Pipe()
	defer peer.Close()
	p.put(&upstreamConn{conn: c, br: newReader(c), bw: newWriter(c), key: "h:80"}, time.Now())
	if !sweeping() {
		t.Fatal("a parked conn did not arm the sweep")
	}
	deadline := time.Now().Add(10 * sweepEvery)
	for sweeping() || p.idleCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: sweeping=%v idle=%d; want the expired conn closed and the sweep disarmed", 10*sweepEvery, sweeping(), p.idleCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
