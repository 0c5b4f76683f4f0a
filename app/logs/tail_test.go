package logs

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
		if _, err := Tail(&out, path, tc.n); err != nil {
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
		got, _, err := lastLines(path, n)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join(lines[max(0, len(lines)-n):], "")
		if string(got) != want {
			t.Errorf("last %d lines: got %d bytes, want %d", n, len(got), len(want))
		}
	}
}

// lineCollector gathers follow's output safely.
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
	path := filepath.Join(dir, AccessFile)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lineCollector
	followed := make(chan error, 1)
	go func() { followed <- Follow(ctx, &out, path, Pos{}, 5*time.Millisecond) }()

	// Write about 3.5 MB in rounds with pauses, so the follower reads
	// while lumberjack rotates at 1 MB.
	const n = 8000
	l, err := New(Config{Dir: dir, AccessLog: true, MaxSizeMB: 1, QueueSize: n})
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

func TestFollowGoesOnWhereTailStoppedAcrossARename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writeFile(t, path, append(numbered(0, 5), "line ")...)
	var out lineCollector
	pos, err := Tail(&out, path, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.lines(), "|"); got != "line 3|line 4" {
		t.Fatalf("tail -n 2 printed %q", got)
	}
	// The partial line completes, then the file is rotated as
	// lumberjack does it: renamed, and a new one started.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("5\n")
	f.Close()
	if err := os.Rename(path, filepath.Join(dir, "access-2026-01-03T00-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, numbered(6, 8)...)

	var followed lineCollector
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, &followed, path, pos, 5*time.Millisecond) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(followed.lines()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong extra line
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(followed.lines(), "|"); got != "line 5|line 6|line 7" {
		t.Fatalf("follow printed %q, want line 5 to 7 once each", got)
	}
}

// Under a burst the log can rotate more than once between two polls; the
// files rotated in between are printed whole, in order, not skipped.
func TestFollowPrintsEveryFileRotatedBetweenTwoPolls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	writeFile(t, path, numbered(0, 3)...)
	var out lineCollector
	fl := &follower{w: &out, path: path, buf: make([]byte, 64<<10)}
	defer fl.close()
	if err := fl.poll(); err != nil {
		t.Fatal(err)
	}
	// Two rotations, as lumberjack makes them, before the next poll.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Join(numbered(3, 5), ""))
	f.Close()
	if err := os.Rename(path, filepath.Join(dir, "access-2026-01-01T00-00-00.000.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, numbered(5, 9)...)
	if err := os.Rename(path, filepath.Join(dir, "access-2026-01-01T00-00-01.000.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, numbered(9, 11)...)
	if err := fl.poll(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(out.lines(), "|"), strings.TrimSuffix(strings.ReplaceAll(strings.Join(numbered(0, 11), ""), "\n", "|"), "|"); got != want {
		t.Fatalf("followed %q,\nwant %q", got, want)
	}
}
