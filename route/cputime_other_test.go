//go:build !linux

package route

import "testing"

// reportCPU runs f b.N times; CPU time per thread is read on Linux only.
func reportCPU(b *testing.B, f func()) {
	for b.Loop() {
		f()
	}
}
