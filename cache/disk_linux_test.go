package cache

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestDiskFullStopsStoring: on a disk that fills up (a 3 MiB tmpfs), the
// disk tier stops storing and nothing fails: every object is still
// stored in memory and served whole.
func TestDiskFullStopsStoring(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	c, err := Open(Config{MemoryBytes: 64 << 20, Dir: dir, DiskBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		put(t, c, fmt.Sprintf("http://example.test/f%d", i), bodyFor(i, 1<<20))
	}
	c.Close() // waits for the disk writes
	c.mu.Lock()
	off := c.diskOff
	c.mu.Unlock()
	if !time.Now().Before(off) {
		t.Error("the disk filled up but the disk tier did not stop storing")
	}
	for i := range 8 {
		url := fmt.Sprintf("http://example.test/f%d", i)
		if got := get(t, c, url); !bytes.Equal(got, bodyFor(i, 1<<20)) {
			t.Errorf("%s: %d bytes served, want the stored 1 MiB", url, len(got))
		}
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if len(e.Name()) > 4 && e.Name()[:4] == tmpPrefix {
			t.Errorf("a failed write left %s", e.Name())
		}
	}
}
