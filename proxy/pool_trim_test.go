package proxy

import (
	"net"
	"testing"
	"time"
)

// pipeConn returns an upstream conn over one end of a pipe; closed reports
// whether the pool closed it.
func pipeConn(t *testing.T, key string) (uc *upstreamConn, closed func() bool) {
	c, peer := net.Pipe()
	t.Cleanup(func() { peer.Close() })
	uc = &upstreamConn{conn: c, br: newReader(c), bw: newWriter(c), key: key}
	return uc, func() bool {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
}

// dialFor counts uc in use as the relay's dial does: reserved before the
// dial, then dialed.
func dialFor(p *pool, uc *upstreamConn, now time.Time) {
	p.reserve([]byte(uc.key), now)
	p.dialed(uc)
}

// TestPoolKeepsWhatWasInUseAtOnce pins down how the idle pool sizes
// itself: a host keeps as many idle conns as it had in use at once (here
// 10, over maxPerHost 3), the sweep trims it back to maxPerHost, oldest
// first, once that peak is an idle timeout old, and get hands out the
// most recently used.
func TestPoolKeepsWhatWasInUseAtOnce(t *testing.T) {
	const max, peak = 3, 10
	p := newPool(max, time.Hour)
	defer p.close()
	now := time.Now()
	var conns []*upstreamConn
	var closed []func() bool
	for i := 0; i < peak; i++ {
		uc, c := pipeConn(t, "h:80")
		dialFor(p, uc, now)
		conns, closed = append(conns, uc), append(closed, c)
	}
	for i, uc := range conns {
		p.put(uc, now.Add(time.Duration(i)))
	}
	if got := p.idleCount(); got != peak {
		t.Fatalf("idle after %d conns in use at once came back = %d, want all %d", peak, got, peak)
	}
	p.trim(now.Add(time.Minute))
	if got := p.idleCount(); got != peak {
		t.Fatalf("idle after a trim within the idle timeout = %d, want %d", got, peak)
	}
	p.trim(now.Add(time.Hour))
	if got := p.idleCount(); got != max {
		t.Fatalf("idle after a trim an idle timeout later = %d, want %d", got, max)
	}
	for i, c := range closed {
		if oldest := i < peak-max; c() != oldest {
			t.Errorf("conn %d: closed = %v, want %v (oldest first)", i, c(), oldest)
		}
	}
	if uc := p.get([]byte("h:80"), now.Add(time.Hour)); uc != conns[peak-1] {
		t.Error("get did not return the most recently used conn")
	}
}

// TestPoolCountsDialsFromBeforeTheyEnd pins down the ramp of a burst: 10
// requests find the pool empty at once, and the first 5 conns come back
// before the last 5 dials end. All 10 were wanted at once, so all 10 are
// kept (counted from after their dials, the peak was 5, and the last 5
// were closed as they came back).
func TestPoolCountsDialsFromBeforeTheyEnd(t *testing.T) {
	const max, n = 3, 10
	p := newPool(max, time.Hour)
	defer p.close()
	now := time.Now()
	var conns []*upstreamConn
	for i := 0; i < n; i++ {
		uc, _ := pipeConn(t, "h:80")
		p.reserve([]byte(uc.key), now)
		conns = append(conns, uc)
	}
	for _, uc := range conns[:n/2] {
		p.dialed(uc)
		p.put(uc, now)
	}
	for _, uc := range conns[n/2:] {
		p.dialed(uc)
		p.put(uc, now)
	}
	if got := p.idleCount(); got != n {
		t.Fatalf("idle after a ramp of %d = %d, want all %d", n, got, n)
	}
}

// TestPoolHoldsMaxPerHostWithoutAPeak pins down the floor: conns that were
// never counted in use at once (a host's load of one at a time) are kept
// up to maxPerHost, and one more is closed when it comes back.
func TestPoolHoldsMaxPerHostWithoutAPeak(t *testing.T) {
	const max = 3
	p := newPool(max, time.Hour)
	defer p.close()
	now := time.Now()
	var closed []func() bool
	for i := 0; i <= max; i++ {
		uc, c := pipeConn(t, "h:80")
		p.put(uc, now)
		closed = append(closed, c)
	}
	if got := p.idleCount(); got != max {
		t.Fatalf("idle = %d, want %d", got, max)
	}
	if !closed[max]() {
		t.Error("the conn over maxPerHost was kept")
	}
}

// TestPoolForgetsHostsWithoutConns pins down that the per-host state
// (idle list, in-use count, peak) goes with a host's last conn, so a
// proxy that visits many hosts does not grow.
func TestPoolForgetsHostsWithoutConns(t *testing.T) {
	p := newPool(2, 50*time.Millisecond)
	defer p.close()
	hosts := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.hosts)
	}
	now := time.Now()
	a, _ := pipeConn(t, "a:80")
	b, _ := pipeConn(t, "b:80")
	dialFor(p, a, now)
	dialFor(p, b, now)
	// c's dial fails; a fails mid-request.
	p.reserve([]byte("c:80"), now)
	p.unreserve([]byte("c:80"))
	a.close()
	p.put(b, now)
	if got := hosts(); got != 1 {
		t.Fatalf("hosts after one closed and one pooled = %d, want 1", got)
	}
	if uc := p.get([]byte("b:80"), now); uc != b {
		t.Fatal("the pooled conn was not handed out")
	}
	p.put(b, now)
	waitFor(t, "the expired conn closed and its host forgotten", func() bool { return hosts() == 0 && p.idleCount() == 0 })
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

// TestPoolIdleConnsGiveTheirBuffersBack pins down that a conn idle past a
// sweep holds no buffers, and gets them back when it is taken, while one
// reused sooner keeps its own (a steady load moves no buffer through the
// sync.Pools).
func TestPoolIdleConnsGiveTheirBuffersBack(t *testing.T) {
	p := newPool(4, time.Hour)
	defer p.close()
	now := time.Now()
	uc, _ := pipeConn(t, "h:80")
	br := uc.br
	p.put(uc, now)
	p.rest(now.Add(sweepEvery / 2))
	if uc.br != br {
		t.Fatal("a conn idle for less than a sweep lost its buffers")
	}
	p.rest(now.Add(sweepEvery))
	if uc.br != nil || uc.bw != nil {
		t.Fatal("a conn idle for a sweep kept its buffers")
	}
	if got := p.get([]byte("h:80"), now.Add(sweepEvery)); got != uc || uc.br == nil || uc.bw == nil {
		t.Fatal("a conn taken from the pool has no buffers")
	}
}
