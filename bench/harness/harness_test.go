//go:build linux

package harness

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install -y %s)", name, name)
	}
}

func TestParseWrkReadsTheSummaryLine(t *testing.T) {
	out := "Running 1s test @ http://127.0.0.1:1/\n" +
		"LOADBENCH 1200 2000000 1 2 3 4 5 810.5 700.0 2500.0 9000.0\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{Requests: 1200, Duration: 2 * time.Second, RPS: 600, MeanUs: 810.5, P50Us: 700, P99Us: 2500,
		MaxUs: 9000, ConnErrs: 1, ReadErrs: 2, WriteErrs: 3, StatusErrs: 4, Timeouts: 5}
	if r != want {
		t.Fatalf("parseWrk = %+v, want %+v", r, want)
	}
	if r.Errors() != 15 {
		t.Fatalf("Errors() = %d, want 15", r.Errors())
	}
	if _, err := parseWrk("wrk: connection refused\n"); err == nil {
		t.Fatal("parseWrk accepted output without a summary line")
	}
}

// TestRunWrkSendsAbsoluteFormThroughTheTarget drives a real server with
// wrk and checks that it received absolute-form requests with the origin
// as Host, and that the counts add up.
func TestRunWrkSendsAbsoluteFormThroughTheTarget(t *testing.T) {
	needTool(t, "wrk")
	var seen, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.RequestURI != "http://127.0.0.1:9/64" || r.Host != "127.0.0.1:9" {
			bad.Add(1)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	r, err := RunWrk(context.Background(), t.TempDir(), WrkLoad{
		Addr: addr, Origin: "127.0.0.1:9", Path: "/64", Absolute: true, Conns: 2, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.RPS <= 0 || r.Errors() != 0 {
		t.Fatalf("wrk result %+v: want requests and no errors", r)
	}
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests were not absolute-form for the origin", bad.Load(), seen.Load())
	}
	// wrk stops counting at the deadline but the server may see a few
	// requests that were in flight.
	if seen.Load() < r.Requests {
		t.Fatalf("server saw %d requests, wrk reported %d", seen.Load(), r.Requests)
	}
}

func TestRunWrkCloseOpensAConnectionPerRequest(t *testing.T) {
	needTool(t, "wrk")
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	r, err := RunWrk(context.Background(), t.TempDir(), WrkLoad{
		Addr: strings.TrimPrefix(srv.URL, "http://"), Origin: "x", Path: "/", Close: true, Conns: 2, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 10 || conns.Load() < r.Requests {
		t.Fatalf("%d requests over %d connections: want one connection per request", r.Requests, conns.Load())
	}
}

func TestRunTransferChecksSizeAndStatus(t *testing.T) {
	needTool(t, "curl")
	const size = 4 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(make([]byte, size))
	}))
	defer srv.Close()
	ctx := context.Background()
	speed, err := RunTransfer(ctx, Transfer{URL: srv.URL + "/big", Size: size, MaxTime: 30 * time.Second})
	if err != nil || speed <= 0 {
		t.Fatalf("download: speed %v, err %v", speed, err)
	}
	if _, err := RunTransfer(ctx, Transfer{URL: srv.URL + "/big", Size: size + 1, MaxTime: 30 * time.Second}); err == nil {
		t.Fatal("a transfer of the wrong size passed")
	}
	if _, err := RunTransfer(ctx, Transfer{URL: srv.URL + "/missing", Size: 0, MaxTime: 30 * time.Second}); err == nil {
		t.Fatal("a 404 passed")
	}
}

func TestSinkReadsTheWholeUpload(t *testing.T) {
	needTool(t, "curl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = ServeSink(ln) }()
	const size = 8 << 20
	file := filepath.Join(t.TempDir(), "body")
	if err := makeBigFile(file, size); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() != size {
		t.Fatalf("makeBigFile: %v, %v", st, err)
	}
	speed, err := RunTransfer(context.Background(), Transfer{
		URL: "http://" + ln.Addr().String() + "/upload", Upload: file, Size: size, MaxTime: 30 * time.Second,
	})
	if err != nil || speed <= 0 {
		t.Fatalf("upload: speed %v, err %v", speed, err)
	}
	resp, err := http.Post("http://"+ln.Addr().String()+"/upload", "application/octet-stream", strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "5\n" {
		t.Fatalf("sink answered %q for a 5-byte body, want \"5\\n\"", body)
	}
}

// TestWatchRSSSeesAPeakBetweenSamples touches 64 MiB and frees it again
// within the watch: the peak must include it even though RSS fell back.
func TestWatchRSSSeesAPeakBetweenSamples(t *testing.T) {
	before := treeRSS([]int{os.Getpid()})
	if before <= 0 {
		t.Fatal("no VmRSS for this process")
	}
	w := WatchRSS(os.Getpid(), time.Hour) // no samples: only VmHWM can see it
	mem, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	peak := w.Stop()
	if peak < before+60<<20 {
		t.Fatalf("peak %d MiB, want at least %d MiB (before) + 60 MiB", peak>>20, before>>20)
	}
}

// TestRSSPartsSplitAnonymousFromFileBacked touches 32 MiB of anonymous
// memory: the anonymous part must grow by it and the file-backed part
// (this test binary's pages) must not.
func TestRSSPartsSplitAnonymousFromFileBacked(t *testing.T) {
	pids := []int{os.Getpid()}
	before := treeRSSParts(pids)
	if before.Anon <= 0 || before.File <= 0 {
		t.Fatalf("parts %+v: want both anonymous and file-backed pages for a running Go binary", before)
	}
	mem, err := syscall.Mmap(-1, 0, 32<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	after := treeRSSParts(pids)
	if grew := after.Anon - before.Anon; grew < 30<<20 {
		t.Errorf("anonymous part grew %d KiB after touching 32 MiB, want at least 30 MiB", grew>>10)
	}
	if grew := after.File - before.File; grew > 8<<20 {
		t.Errorf("file-backed part grew %d KiB from anonymous memory, want it unchanged", grew>>10)
	}
	total := treeRSS(pids)
	if sum := after.Anon + after.File + after.Shmem; sum < total*9/10 || sum > total*11/10 {
		t.Errorf("parts sum to %d KiB, VmRSS is %d KiB: they should match", sum>>10, total>>10)
	}
}

func TestStopAllKillsTheWholeProcessGroup(t *testing.T) {
	ps := &Procs{}
	p, err := ps.Start("sh", exec.Command("sh", "-c", "sleep 300 & sleep 300"))
	if err != nil {
		t.Fatal(err)
	}
	var tree []int
	for deadline := time.Now().Add(10 * time.Second); len(tree) < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		tree = processTree(p.Pid())
	}
	if len(tree) < 3 {
		t.Fatalf("process tree of sh: %v, want sh and two sleeps", tree)
	}
	ps.StopAll()
	if exited, _ := p.Exited(); !exited {
		t.Fatal("sh still running after StopAll")
	}
	for _, pid := range tree[1:] {
		// A killed child of sh is reaped by init; until then it is a
		// zombie, which kill(pid, 0) still finds. Wait for it to go.
		deadline := time.Now().Add(10 * time.Second)
		for isLive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if isLive(pid) {
			t.Fatalf("pid %d of the group survived StopAll", pid)
		}
	}
}

// isLive reports whether pid runs and is not a zombie.
func isLive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(data[i+1:])), "Z")
}

// TestTrickleMakesWritesBlock: the slow-writer pipe must really be slow,
// or the slow-log column would measure nothing.
func TestTrickleMakesWritesBlock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "access.log")
	drained, err := startTrickle(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// 4 MiB at ~20 KB/s takes minutes; a second is far from enough.
	_ = f.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := f.Write(make([]byte, 4<<20))
	if err == nil {
		t.Fatalf("wrote all %d bytes to the trickle pipe within a second", n)
	}
	if n == 0 {
		t.Fatal("nothing written: the pipe should take up to its buffer size")
	}
	for deadline := time.Now().Add(10 * time.Second); drained.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if got := drained.Load(); got == 0 || got > int64(n) {
		t.Fatalf("trickle drained %d bytes of the %d written", got, n)
	}
}

func TestChecksJudgeAgainstTheBestPeer(t *testing.T) {
	r := &Results{Samples: map[string]map[string][]float64{}, Errors: map[string][]string{}}
	// Sluice's median 30000 (rounds 10000, 30000, 31000); best peer
	// privoxy with 20000: 1.5× passes 1.2×.
	for _, v := range []float64{10000, 30000, 31000} {
		r.add(Sluice, MRPS64, v)
	}
	r.add(Privoxy, MRPS64, 20000)
	r.add(Squid, MRPS64, 5000)
	r.add(NginxRelay, MRPS64, 50000) // 0.6× of it fails 0.75×
	// One bad round of errors must count (max, not median).
	for _, v := range []float64{0, 0, 3} {
		r.add(Sluice, MErr1000, v)
	}
	r.add(Sluice, MGet, 600e6)
	r.add(Direct, MGet, 1000e6) // 0.6×: passes ≥ 0.6×
	// The tunnel against the splice relay's download, 0.94×: fails
	// 0.95×; against squid's tunnel, 1.4×: passes 1.3×.
	r.add(Sluice, MTunnel, 940e6)
	r.add(SpliceRelay, MGet, 1000e6)
	r.add(Squid, MTunnel, 670e6)
	verdict := map[string]string{}
	for _, c := range r.Checks() {
		verdict[c.Target] = c.Verdict
	}
	for target, want := range map[string]string{
		"keep-alive rps at 64 conns ≥ 1.2× the best peer":    "PASS",
		"keep-alive rps at 64 conns ≥ 0.75× the nginx relay": "FAIL",
		"1000 conns: 0 errors":                               "FAIL",
		"1 GiB forwarded ≥ 0.6× direct":                      "PASS",
		"CONNECT tunnel ≥ 0.95× the bare splice relay":       "FAIL",
		"CONNECT tunnel ≥ 1.3× the best peer":                "PASS",
		"keep-alive rps ≥ 1.2× privoxy's":                    "PASS",
	} {
		if verdict[target] != want {
			t.Errorf("%q: %s, want %s", target, verdict[target], want)
		}
	}
	var b strings.Builder
	r.Targets = []string{Direct, Sluice, Privoxy, Squid, NginxRelay}
	r.Table(&b)
	if !strings.Contains(b.String(), "| keep-alive rps, 64 conns | – | 30000 | 20000 | 5000 | 50000 | 1.50× (privoxy) | – |") {
		t.Fatalf("table row for keep-alive rps wrong:\n%s", b.String())
	}
}

// TestRelayPassesBytesBothWaysAndTheHalfClose drives ServeRelay with an
// echo server behind it: what the client sends comes back whole, and the
// client's half-close reaches the server, whose own half-close comes back.
func TestRelayPassesBytesBothWaysAndTheHalfClose(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go ServeRelay(ln, echo.Addr().String())

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sent := bytes.Repeat([]byte("relay me "), 100000)
	go func() {
		c.Write(sent)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through the relay: %v", err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("got %d bytes back, sent %d", len(got), len(sent))
	}
}
