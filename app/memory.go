package app

import (
	"context"
	"os"
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
// gradually, so a desktop proxy that served a thousand connections for a
// minute would otherwise sit at its peak size for a long while. Every
// trimEvery, if the connections open fell to a quarter of the peak seen
// since the last trim, and that peak was a real burst, the heap is
// collected and returned at once.
const (
	trimEvery    = 10 * time.Second
	trimMinPeak  = 256
	trimFraction = 4
)

// trimAfterBursts runs until ctx ends.
func (a *App) trimAfterBursts(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	var peak int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		peak = max(peak, a.stats.TakeConnsPeak())
		n := a.stats.Snapshot().ConnsActive
		if peak >= trimMinPeak && n <= peak/trimFraction {
			debug.FreeOSMemory()
			a.log.Debug("returned memory after a burst", "peak_conns", peak, "conns", n)
			peak = 0
		}
	}
}
