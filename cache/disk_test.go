package cache

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bodyFor is the deterministic body of object n.
func bodyFor(n, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// store stores body under url through the public API, as a caller does.
func store(c *Cache, url string, body []byte) error {
	l := c.Lookup(&Request{Method: http.MethodGet, Key: url, Header: http.Header{}})
	defer l.Done()
	now := time.Now()
	w, reason := l.Store(http.StatusOK, http.Header{"Cache-Control": {"max-age=3600"}, "Etag": {`"x"`}}, int64(len(body)), now, now)
	if w == nil {
		return fmt.Errorf("store %s: %s", url, reason)
	}
	w.Write(body)
	w.Close(nil)
	return nil
}

func put(t testing.TB, c *Cache, url string, body []byte) {
	t.Helper()
	if err := store(c, url, body); err != nil {
		t.Fatal(err)
	}
}

// get returns the body the cache serves for url, or nil on a miss.
func get(t testing.TB, c *Cache, url string) []byte {
	t.Helper()
	l := c.Lookup(&Request{Method: http.MethodGet, Key: url, Header: http.Header{}})
	defer l.Done()
	if l.Action != Serve {
		return nil
	}
	var buf bytes.Buffer
	if _, err := l.WriteBody(&buf); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return buf.Bytes()
}

// TestDiskTierSurvivesRestart: objects written to the disk tier are hits
// with the same bytes after the cache is closed and opened again.
func TestDiskTierSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{MemoryBytes: 1 << 20, Dir: dir, DiskBytes: 64 << 20}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		put(t, c, fmt.Sprintf("http://example.test/o%d", i), bodyFor(i, 300<<10))
	}
	c.Close()
	c, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5 {
		url := fmt.Sprintf("http://example.test/o%d", i)
		if got := get(t, c, url); !bytes.Equal(got, bodyFor(i, 300<<10)) {
			t.Errorf("%s after a restart: %d bytes, not the stored ones", url, len(got))
		}
	}
	if st := c.Stats(false); st.Objects != 5 {
		t.Errorf("%d objects after a restart, want 5", st.Objects)
	}
}

// TestDiskTierDropsTornFiles: a truncated file, a flipped byte and a
// leftover temporary file are all dropped when the cache opens.
func TestDiskTierDropsTornFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, DiskBytes: 64 << 20}
	c, _ := Open(cfg)
	for i := range 3 {
		put(t, c, fmt.Sprintf("http://example.test/t%d", i), bodyFor(i, 100<<10))
	}
	c.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+fileExt))
	if len(files) != 3 {
		t.Fatalf("%d files, want 3", len(files))
	}
	info, _ := os.Stat(files[0])
	os.Truncate(files[0], info.Size()/2)
	b, _ := os.ReadFile(files[1])
	b[len(b)/2] ^= 0xff
	os.WriteFile(files[1], b, 0o600)
	os.WriteFile(filepath.Join(dir, tmpPrefix+"123"), []byte("half a write"), 0o600)
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.Stats(false); st.Objects != 1 {
		t.Errorf("%d objects, want 1: the torn and the damaged file must go", st.Objects)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("%d files left, want the 1 good one", len(left))
	}
}

// TestDiskTierKill9: a process killed with SIGKILL while it writes
// objects leaves no file that loads as a wrong hit.
func TestDiskTierKill9(t *testing.T) {
	if dir := os.Getenv("SLUICE_CACHE_CHILD_DIR"); dir != "" {
		childWriter(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskTierKill9$")
	cmd.Env = append(os.Environ(), "SLUICE_CACHE_CHILD_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once several objects are in and a write is under way.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		objs, _ := filepath.Glob(filepath.Join(dir, "*"+fileExt))
		tmps, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*"))
		if len(objs) >= 3 && len(tmps) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	c, err := Open(Config{Dir: dir, DiskBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.Stats(false)
	if st.Objects < 3 {
		t.Fatalf("%d objects survived, want at least the 3 written before the kill", st.Objects)
	}
	c.mu.Lock()
	var keys []string
	for k := range c.index {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		n, _ := strconv.Atoi(strings.TrimPrefix(k, "http://example.test/k"))
		if got := get(t, c, k); !bytes.Equal(got, bodyFor(n, 1<<20)) {
			t.Errorf("%s: a hit with the wrong bytes after kill -9", k)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*")); len(tmps) > 0 {
		t.Errorf("temporary files left after Open: %v", tmps)
	}
}

// childWriter stores 1 MiB objects until it is killed.
func childWriter(dir string) {
	c, err := Open(Config{Dir: dir, DiskBytes: 1 << 30})
	if err != nil {
		os.Exit(2)
	}
	for n := 0; ; n++ {
		if store(c, fmt.Sprintf("http://example.test/k%d", n), bodyFor(n, 1<<20)) != nil {
			time.Sleep(time.Millisecond) // the disk writes are behind
		}
	}
}
