package inspect

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// vmRSS reads this process's resident set size from /proc.
func vmRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: the RSS test runs on Linux")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestGigabyteDownloadHoldsMemory: 1 GiB from an HTTP/2 origin to curl
// over an HTTP/2 client leg streams through inspection: this process
// (origin and Sluice both) grows by at most 16 MiB while it runs.
func TestGigabyteDownloadHoldsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through two TLS legs (not with -short)")
	}
	if raceEnabled {
		// The race detector's shadow memory would be most of what is
		// measured, so `make test` (-race) runs this test again in a
		// test binary built without it.
		rerunWithoutRace(t)
		return
	}
	const size = 1 << 30
	ca := newTestCA(t, "origin CA")
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/1g" {
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	base := "https://inspected.test:" + portOf(t, o)
	if _, stderr, err := r.curl(t, "--http2", "--cacert", r.caFile, "-o", os.DevNull, base+"/warm"); err != nil {
		t.Fatalf("curl: %v: %s", err, stderr)
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := vmRSS(t)
	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if v := vmRSS(t); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	start := time.Now()
	stdout, stderr, err := r.curl(t, "--http2", "--cacert", r.caFile, "-o", os.DevNull, "-w", "%{size_download} %{http_version}", base+"/1g")
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatalf("curl: %v: %s", err, stderr)
	}
	if stdout != strconv.Itoa(size)+" 2" {
		t.Fatalf("curl got %q, want %d bytes over HTTP/2", stdout, size)
	}
	growth := peak.Load() - before
	t.Logf("1 GiB in %v (%.0f MB/s); RSS %d MiB before, growth %.1f MiB", elapsed.Round(time.Millisecond),
		float64(size)/elapsed.Seconds()/1e6, before>>20, float64(growth)/(1<<20))
	if growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB while 1 GiB went through, over 16 MiB", float64(growth)/(1<<20))
	}
}

// rerunWithoutRace runs t's test in this package with `go test` and no
// race detector, and fails t when it fails or does not run.
func rerunWithoutRace(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the RSS figure needs a build without -race, and there is no go command here")
	}
	cmd := exec.Command(goCmd, "test", "-count=1", "-v", "-run", "^"+t.Name()+"$", ".")
	out, err := cmd.CombinedOutput()
	t.Logf("go test %s without -race:\n%s", t.Name(), out)
	if err != nil {
		t.Fatalf("go test without -race: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatal("the test did not run without -race (skipped?)")
	}
}
