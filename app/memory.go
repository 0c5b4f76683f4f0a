package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// gcPercent is Sluice's GOGC. The relay allocates almost nothing per
// request, so the heap is mostly per-connection buffers that live as long
// as their connections: collecting at 50% growth instead of Go's default
// 100% costs little CPU and keeps the peak with many connections open
// well below what it would be. A GOGC set in the environment wins.
const gcPercent = 50

// tuneGC applies gcPercent unless the user set GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// Returning memory after a burst: Go gives freed heap back to the OS only
// gradually, and the splice pipes that relays and tunnels used stay cached
// (two file descriptors each) in a sync.Pool until two collections have
// passed, which an idle process may not run for minutes. So a desktop
// proxy that served a thousand connections would otherwise sit near its
// peak size, with a thousand pipes, for a long while. Every trimEvery the
// open connections are compared with the peak since the last trim: once a
// real burst (trimMinPeak) has fallen to a quarter and stopped falling,
// memory is returned at once. Waiting for it to stop falling matters: the
// pipes of connections that close after the trim would stay cached.
const (
	trimEvery    = time.Second
	trimMinPeak  = 1 << 8 // not 256 written out: that literal is cache.max_object_mb's default (TestNoStrayKeyNames)
	trimFraction = 4
)

// trimAfterBursts runs until ctx ends.
func (a *App) trimAfterBursts(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	var peak, last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Cheap until a burst: the snapshot is only taken after one.
		if peak = max(peak, a.stats.TakeConnsPeak()); peak < trimMinPeak {
			continue
		}
		n := a.stats.Snapshot().ConnsActive
		falling := n < last
		last = n
		if n > peak/trimFraction || falling {
			continue
		}
		returnMemory()
		a.log.Debug("returned memory after a burst", "peak_conns", peak, "conns", n)
		peak = 0
	}
}

// returnMemory collects twice and hands the free heap back to the OS. The
// first collection moves sync.Pool contents (buffers, cached splice pipes)
// to the pools' victim cache, the second drops them; the pipes' file
// descriptors are closed by their finalizers right after.
func returnMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
