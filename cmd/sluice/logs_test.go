package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/app/logs"
	"github.com/sluiceproxy/sluice/proxy"
)

func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func numbered(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("line %d\n", i))
	}
	return s
}

func TestTailReachesIntoBackupsAndSkipsPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writeFile(t, filepath.Join(dir, "access-2026-01-01T00-00-00.000.log"), numbered(0, 5)...)
	writeFile(t, filepath.Join(dir, "access-2026-01-02T00-00-00.000.log"), numbered(5, 8)...)
	writeFile(t, filepath.Join(dir, "app.log"), "not access\n")
	writeFile(t, path, append(numbered(8, 10), "line 10 still being writ")...)
	for _, tc := range []struct{ n, from int }{{1, 9}, {2, 8}, {4, 6}, {9, 1}, {100, 0}} {
		var out strings.Builder
		if err := tailLines(&out, path, tc.n); err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(numbered(tc.from, 10), ""); out.String() != want {
			t.Errorf("-n %d:\n got %q\nwant %q", tc.n, out.String(), want)
		}
	}
}

func TestLastLinesOfALargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	lines := numbered(0, 50000) // about 500 KB: many 64 KiB blocks
	writeFile(t, path, lines...)
	for _, n := range []int{0, 1, 7000, 50000, 60000} {
		got, err := lastLines(path, n)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join(lines[max(0, len(lines)-n):], "")
		if string(got) != want {
			t.Errorf("last %d lines: got %d bytes, want %d", n, len(got), len(want))
		}
	}
}

// lineCollector gathers followFile's output safely.
type lineCollector struct {
	mu sync.Mutex
	b  strings.Builder
}

func (c *lineCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

func (c *lineCollector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Split(strings.TrimSuffix(c.b.String(), "\n"), "\n")
}

func TestFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, logs.AccessFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lineCollector
	followed := make(chan error, 1)
	go func() { followed <- followFile(ctx, &out, path, 5*time.Millisecond) }()

	// Write about 3.5 MB in rounds with pauses, so the follower reads
	// while lumberjack rotates at 1 MB.
	const n = 8000
	l, err := logs.New(logs.Config{Dir: dir, AccessLog: true, MaxSizeMB: 1, QueueSize: n})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 200)
	for i := range n {
		rec := proxy.AccessRecord{Time: time.Now(), Method: "GET", Host: "h", Path: fmt.Sprintf("/%d/%s", i, pad)}
		l.Access().LogAccess(&rec)
		if i%500 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := filepath.Glob(filepath.Join(dir, "access-*.log")); len(b) < 2 {
		t.Fatalf("only %d rotations; the test needs some", len(b))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(out.lines()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	lines := out.lines()
	if len(lines) != n {
		t.Fatalf("followed %d lines, want %d", len(lines), n)
	}
	for i, line := range lines {
		var rec struct{ Path string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || !strings.HasPrefix(rec.Path, fmt.Sprintf("/%d/", i)) {
			t.Fatalf("line %d is %.40q (%v), want record %d: lines lost, repeated or out of order", i, line, err, i)
		}
	}
}
