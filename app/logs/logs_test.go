package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

func record(i int) proxy.AccessRecord {
	return proxy.AccessRecord{
		Time:   time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Client: "127.0.0.1:50000", Method: "GET", Scheme: "http",
		Host: "example.test", Port: "80", Path: fmt.Sprintf("/item/%d", i),
		Status: 200, BytesIn: int64(i), BytesOut: int64(2 * i),
		Duration: 1500 * time.Microsecond, TTFB: 500 * time.Microsecond,
		Reused: i%2 == 0, DNSCached: true, Upstream: upstreamOf(i),
	}
}

// upstreamOf is the upstream proxy record i went through: every third one
// goes direct.
func upstreamOf(i int) string {
	if i%3 == 0 {
		return ""
	}
	return "corp"
}

// accessLine is an access record as it reads back from JSON.
type accessLine struct {
	Time       string  `json:"time"`
	Client     string  `json:"client"`
	Method     string  `json:"method"`
	Scheme     string  `json:"scheme"`
	Host       string  `json:"host"`
	Port       string  `json:"port"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	DurationMS float64 `json:"duration_ms"`
	TTFBMS     float64 `json:"ttfb_ms"`
	Reused     bool    `json:"reused"`
	DNSCached  bool    `json:"dns_cached"`
	Tunnel     bool    `json:"tunnel"`
	Upstream   string  `json:"upstream"`
	Error      string  `json:"error"`
	Dropped    int64   `json:"dropped"`
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newLogs(t *testing.T, cfg Config) *Logs {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCloseWritesEveryRecord(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			const n = 5000
			l := newLogs(t, Config{Format: format, AccessLog: true, QueueSize: n})
			for i := range n {
				rec := record(i)
				l.Access().LogAccess(&rec)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, filepath.Join(l.Dir(), AccessFile))
			if len(lines) != n || l.Dropped() != 0 {
				t.Fatalf("%d lines, %d dropped; want %d and 0", len(lines), l.Dropped(), n)
			}
			for i, line := range lines {
				want := record(i)
				if format == "json" {
					var got accessLine
					if err := json.Unmarshal([]byte(line), &got); err != nil {
						t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
					}
					if got.Path != want.Path || got.BytesIn != want.BytesIn || got.BytesOut != want.BytesOut ||
						got.DurationMS != 1.5 || got.TTFBMS != 0.5 || got.Reused != want.Reused || got.Error != "none" ||
						got.Time != want.Time.Format(timeLayout) || got.Scheme != "http" || got.Port != "80" || got.Upstream != want.Upstream {
						t.Fatalf("line %d = %+v, want the fields of %+v", i, got, want)
					}
					continue
				}
				up := want.Upstream
				if up == "" {
					up = `""` // the text format quotes an empty value
				}
				wantText := fmt.Sprintf("time=%s client=127.0.0.1:50000 method=GET scheme=http host=example.test port=80 path=/item/%d status=200 bytes_in=%d bytes_out=%d duration_ms=1.500 ttfb_ms=0.500 reused=%t dns_cached=true tunnel=false upstream=%s error=none",
					want.Time.Format(timeLayout), i, i, 2*i, i%2 == 0, up)
				if line != wantText {
					t.Fatalf("line %d:\n got %s\nwant %s", i, line, wantText)
				}
			}
		})
	}
}

func TestRotatesAtMaxSizeWithLumberjackNames(t *testing.T) {
	const n = 12000
	l := newLogs(t, Config{AccessLog: true, MaxSizeMB: 1, QueueSize: n})
	pad := strings.Repeat("p", 300)
	for i := range n {
		rec := record(i)
		rec.Path += "/" + pad
		l.Access().LogAccess(&rec)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	backupName := regexp.MustCompile(`^access-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log$`)
	var backups, lines int
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == AccessFile:
		case backupName.MatchString(name):
			backups++
		default:
			continue
		}
		info, _ := e.Info()
		if info.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over max_size_mb = 1", name, info.Size())
		}
		for _, line := range readLines(t, filepath.Join(l.Dir(), name)) {
			var got accessLine
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("%s: bad line %q: %v", name, line, err)
			}
			seen[got.Path] = true
			lines++
		}
	}
	// 12000 records of about 470 bytes make about 5.4 MB: five or more
	// rotations at 1 MB.
	if backups < 4 {
		t.Errorf("%d backups in %v, want at least 4", backups, entries)
	}
	if lines != n || len(seen) != n {
		t.Errorf("%d lines (%d distinct) across the files, want %d", lines, len(seen), n)
	}
}

// gate blocks every Write until opened.
type gate struct {
	w    io.Writer
	open chan struct{}
	// entered, if not nil, hears of a Write that starts waiting (when it
	// has room).
	entered chan struct{}
}

func (g *gate) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}: // nil: never ready
	default:
	}
	<-g.open
	return g.w.Write(p)
}

func TestBlockedSinkDropsAndNeverBlocksTheCaller(t *testing.T) {
	const calls, queue = 100_000, 1000
	g := &gate{open: make(chan struct{})}
	l := newLogs(t, Config{AccessLog: true, QueueSize: queue, Sink: func(name string, f io.Writer) io.Writer {
		if name == AccessFile {
			g.w = f
			return g
		}
		return f
	}})
	st := stats.New()
	st.SetDroppedFunc(l.Dropped)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range calls {
			rec := record(i)
			l.Access().LogAccess(&rec)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("100k LogAccess calls did not finish in 30s while the sink was blocked: the caller waits on the sink")
	}
	// Everything beyond the queue and the writer's one blocked batch
	// (at most maxBatchBytes of records, each well over 100 bytes) was
	// dropped.
	dropped := l.Dropped()
	if dropped < calls-queue-maxBatchBytes/100 || dropped > calls {
		t.Fatalf("dropped %d of %d with a queue of %d", dropped, calls, queue)
	}
	if got := st.Snapshot().LogsDropped; got != dropped {
		t.Fatalf("stats LogsDropped = %d, want %d", got, dropped)
	}

	close(g.open)
	path := filepath.Join(l.Dir(), AccessFile)
	deadline := time.Now().Add(30 * time.Second)
	for !bytes.Contains(mustRead(path), []byte(`"dropped":`)) {
		if time.Now().After(deadline) {
			t.Fatal("no drop report line 30s after the sink recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var written, reports, reported int64
	for _, line := range readLines(t, path) {
		var got accessLine
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		if got.Dropped > 0 {
			reports++
			reported += got.Dropped
			continue
		}
		written++
	}
	if reports != 1 || reported != dropped || written+dropped != calls {
		t.Fatalf("%d records written, %d drop lines reporting %d; want one line reporting %d and %d written",
			written, reports, reported, dropped, calls-dropped)
	}
}

func mustRead(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func TestFlushesWithinFlushEveryWithoutClose(t *testing.T) {
	l := newLogs(t, Config{AccessLog: true, FlushEvery: 50 * time.Millisecond})
	defer l.Close()
	rec := record(1)
	l.Access().LogAccess(&rec)
	path := filepath.Join(l.Dir(), AccessFile)
	deadline := time.Now().Add(20 * time.Second)
	for len(readLinesQuiet(path)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a lone record was not written within 20s: the timed flush does not work")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLinesQuiet(path string) []string {
	var lines []string
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAppLogLevelStderrAndReconfigure(t *testing.T) {
	var stderr syncBuffer
	l := newLogs(t, Config{Level: slog.LevelWarn, Format: "json", Stderr: &stderr})
	if l.Access() != nil {
		t.Fatal("access_log off: Access() is not nil")
	}
	log := l.App().With("component", "test")
	log.Info("hidden at warn")
	log.Warn("first", "n", 1)
	// Reconfigure to text at debug: loggers already made follow.
	if err := l.Reconfigure(Config{Dir: l.Dir(), Level: slog.LevelDebug, Format: "text", MaxSizeMB: 5}); err != nil {
		t.Fatal(err)
	}
	log.Debug("second", "n", 2)
	err := l.Reconfigure(Config{Dir: t.TempDir(), Format: "text"})
	if !errors.Is(err, ErrNeedsRestart) {
		t.Fatalf("changing the dir: %v, want ErrNeedsRestart", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(l.Dir(), AppFile))
	if len(lines) != 2 {
		t.Fatalf("app.log has %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["msg"] != "first" || first["component"] != "test" || first["level"] != "WARN" {
		t.Errorf("first line %s (%v), want a JSON warning with the logger's attrs", lines[0], err)
	}
	if !strings.Contains(lines[1], "level=DEBUG msg=second component=test n=2") {
		t.Errorf("second line %q, want a text debug record", lines[1])
	}
	// The terminal copy holds the same records, always as text.
	got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(got) != 2 || !strings.Contains(got[0], "level=WARN msg=first component=test n=1") ||
		!strings.Contains(got[1], "level=DEBUG msg=second component=test n=2") {
		t.Errorf("stderr got %q, want the two records as text", stderr.String())
	}
}

func TestJSONValuesAreEscaped(t *testing.T) {
	l := newLogs(t, Config{AccessLog: true})
	rec := record(0)
	rec.Path = "/a\"b\\c\n\x01\xff\u2028é"
	rec.Host = strings.Repeat("h", maxValueBytes+10)
	rec.Err = stats.ErrUpstreamTimeout
	rec.Tunnel = true
	l.Access().LogAccess(&rec)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(l.Dir(), AccessFile))
	var got accessLine
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil {
		t.Fatalf("not one JSON line: %q", lines)
	}
	if want := "/a\"b\\c\n\x01\ufffd\u2028é"; got.Path != want {
		t.Errorf("path %q, want %q", got.Path, want)
	}
	if want := strings.Repeat("h", maxValueBytes) + "..."; got.Host != want {
		t.Errorf("long host kept %d bytes, want %d", len(got.Host), len(want))
	}
	if got.Error != "upstream_timeout" || !got.Tunnel {
		t.Errorf("error %q tunnel %v", got.Error, got.Tunnel)
	}
}

func TestTextValuesAreQuotedWhenNeeded(t *testing.T) {
	var w recordWriter
	w.begin(nil, false)
	w.str("a", "plain")
	w.str("b", "")
	w.str("c", "has space")
	w.str("d", "k=v")
	w.str("e", "é")
	if got, want := string(w.end()), "a=plain b=\"\" c=\"has space\" d=\"k=v\" e=\"é\"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLogAccessDoesNotAllocate(t *testing.T) {
	l := newLogs(t, Config{AccessLog: true, QueueSize: 100})
	defer l.Close()
	rec := record(1)
	a := l.Access()
	// More calls than the queue holds, so both the queued and the
	// dropped path are measured.
	if n := testing.AllocsPerRun(1000, func() { a.LogAccess(&rec) }); n != 0 {
		t.Fatalf("LogAccess allocates %v times per call, want 0", n)
	}
}

// TestIdleLogsHoldNoQueueMemory guards idle RSS (issue 11): queues that
// were allocated whole at start (4096 records each, and the collector scans
// every page of a buffer that holds pointers) kept about 1 MiB of an idle
// Sluice's heap resident.
func TestIdleLogsHoldNoQueueMemory(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	l := newLogs(t, Config{AccessLog: true, Stderr: io.Discard})
	defer l.Close()
	l.App().Info("listening")
	time.Sleep(50 * time.Millisecond)
	if grew := int64(heap()) - int64(before); grew > 128<<10 {
		t.Fatalf("idle logs hold %d KiB of heap, want under 128 KiB", grew>>10)
	}
}

// TestQueueLetsGoOfABurst: a queue grown by a burst shrinks back once
// batches are small again, so the burst's memory is not kept for good.
func TestQueueLetsGoOfABurst(t *testing.T) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{}, 1)}
	l := newLogs(t, Config{AccessLog: true, Sink: func(name string, f io.Writer) io.Writer {
		if name == AccessFile {
			g.w = f
			return g
		}
		return f
	}})
	defer l.Close()
	var opened sync.Once
	openGate := func() { opened.Do(func() { close(g.open) }) }
	defer openGate() // before Close, which waits for the writer
	// With the writer blocked on the sink, a burst fills the queue. The
	// writer is made to block on one record first: otherwise a writer
	// that wakes late (a busy machine) takes most of the burst as its
	// own batch, and the queue never fills.
	first := record(0)
	l.Access().LogAccess(&first)
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not reach the sink")
	}
	for i := range DefaultQueueSize + 100 {
		rec := record(i)
		l.Access().LogAccess(&rec)
	}
	s := l.access
	s.mu.Lock()
	burst := cap(s.queue)
	s.mu.Unlock()
	if burst < DefaultQueueSize/2 {
		t.Fatalf("queue capacity %d after a burst of %d", burst, DefaultQueueSize)
	}
	openGate()
	for i := range 5 {
		rec := record(i)
		l.Access().LogAccess(&rec)
		time.Sleep(3 * DefaultFlushEvery / 2)
	}
	s.mu.Lock()
	after := max(cap(s.queue), cap(s.spare))
	s.mu.Unlock()
	if after > 4*DefaultFlushRecords {
		t.Fatalf("queue capacity %d after small batches followed a burst, want ≤ %d", after, 4*DefaultFlushRecords)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("empty dir accepted")
	}
	if _, err := New(Config{Dir: t.TempDir(), Format: "xml"}); err == nil {
		t.Error("format xml accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := New(Config{Dir: filepath.Join(file, "logs")}); err == nil {
		t.Error("a dir under a file accepted")
	}
}

func BenchmarkLogAccess(b *testing.B) {
	l, err := New(Config{Dir: b.TempDir(), AccessLog: true, Sink: func(string, io.Writer) io.Writer { return io.Discard }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	a := l.Access()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rec := record(1)
		for pb.Next() {
			a.LogAccess(&rec)
		}
	})
	b.ReportMetric(float64(l.Dropped()), "dropped")
}

func BenchmarkFormatAccess(b *testing.B) {
	rec := record(12345)
	buf := make([]byte, 0, 4096)
	var tc timeCache
	b.ReportAllocs()
	for b.Loop() {
		buf = formatAccess(buf[:0], &rec, true, &tc)
	}
}

func TestReconfigureRotationWhileWriting(t *testing.T) {
	const n = 10000
	dir := t.TempDir()
	cfg := Config{Dir: dir, AccessLog: true, QueueSize: n, MaxSizeMB: 100}
	l := newLogs(t, cfg)
	pad := strings.Repeat("p", 300)
	for i := range n {
		rec := record(i)
		rec.Path += "/" + pad
		l.Access().LogAccess(&rec)
		if i == n/4 {
			// Shrink the rotation size while the writer is busy.
			cfg.MaxSizeMB = 1
			if err := l.Reconfigure(cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "access-*.log"))
	total := len(readLines(t, filepath.Join(dir, AccessFile)))
	for _, b := range backups {
		total += len(readLines(t, b))
	}
	if len(backups) < 2 || total != n {
		t.Fatalf("%d backups and %d lines after shrinking max_size_mb to 1 with %d records of ~470 bytes; want 2 or more and %d",
			len(backups), total, n, n)
	}
}

// TestCachedTimeAndMillisMatchFullFormatting pins the fast formatting of
// the two hottest fields to what the slow, obvious code writes: times
// within a second, across seconds and across a zone change, and
// durations of every magnitude.
func TestCachedTimeAndMillisMatchFullFormatting(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	// 2026-03-29 01:59:59 UTC is the last second of CET before CEST.
	base := time.Date(2026, 3, 29, 0, 59, 58, 0, time.UTC)
	var tc timeCache
	for i := range 5000 {
		at := base.Add(time.Duration(i) * 997 * time.Microsecond * 3)
		for _, loc := range []*time.Location{time.UTC, berlin, time.Local} {
			want := at.In(loc).Format(timeLayout)
			if got := string(tc.append(nil, at.In(loc))); got != want {
				t.Fatalf("cached time %q, want %q", got, want)
			}
		}
	}
	for _, d := range []time.Duration{0, time.Microsecond, 999 * time.Microsecond, time.Millisecond,
		31402 * time.Microsecond, 1500 * time.Nanosecond, 90 * time.Minute, -2500 * time.Microsecond} {
		var w recordWriter
		w.begin(nil, false)
		w.millis("d", d)
		want := "d=" + strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64) + "\n"
		if got := string(w.end()); got != want {
			t.Errorf("millis(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestCacheStatusField: the access record's Cache-Status is the cache
// field, absent when the response cache had no part in the answer.
func TestCacheStatusField(t *testing.T) {
	rec := record(0)
	if line := string(formatAccess(nil, &rec, true, nil)); strings.Contains(line, `"cache"`) {
		t.Errorf("a record without CacheStatus has a cache field: %s", line)
	}
	rec.CacheStatus = "Sluice; hit"
	if line := string(formatAccess(nil, &rec, true, nil)); !strings.Contains(line, `"cache":"Sluice; hit"`) {
		t.Errorf("JSON record lacks the cache field: %s", line)
	}
	if line := string(formatAccess(nil, &rec, false, nil)); !strings.Contains(line, `cache="Sluice; hit"`) {
		t.Errorf("text record lacks the cache field: %s", line)
	}
}
