package ui

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sluiceproxy/sluice/proxy"
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// bigRecord is a record with long heads and a long path, as the worst
// the ring has to keep.
func bigRecord(i int) *proxy.AccessRecord {
	path := "/" + strings.Repeat("p", 200) + "/" + string(rune('a'+i%26))
	head := "GET http://example.com" + path + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Repeat("Cookie: "+strings.Repeat("c", 100)+"\r\n", 40) + "\r\n"
	return &proxy.AccessRecord{
		Time: time.Now(), Client: "127.0.0.1:40000", Method: "GET", Scheme: "http",
		Host: "example.com", Port: "80", Path: strings.Clone(path), Status: 200,
		RequestHead: []byte(head), ResponseHead: []byte("HTTP/1.1 200 OK\r\n" + strings.Repeat("Set-Cookie: x\r\n", 200) + "\r\n"),
	}
}

// TestMemoryAtDefaultSize holds the ring, full of worst-case records, and
// the buffers of the most pages the feed serves at once to the issue's
// budget: 4 MiB at the default size.
func TestMemoryAtDefaultSize(t *testing.T) {
	before := heapInUse()
	r := newRing(DefaultHistory)
	for i := 0; i < 2*DefaultHistory; i++ {
		r.put(bigRecord(i)) // the ring keeps the paths of the last DefaultHistory
	}
	ringBytes := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(r)
	// A page's stream holds a write buffer and a batch of records.
	perPage := int64(flushAt+4<<10) + int64(batch)*int64(sizeofRecord())
	total := ringBytes + maxWatchers*perPage
	t.Logf("ring of %d: %d KiB; %d pages: %d KiB; total %.2f MiB", DefaultHistory, ringBytes>>10, maxWatchers, maxWatchers*perPage>>10, float64(total)/(1<<20))
	if total > 4<<20 {
		t.Errorf("the ring and feed hold %.2f MiB at the default size, budget 4 MiB", float64(total)/(1<<20))
	}
}

func sizeofRecord() uintptr { return unsafe.Sizeof(Record{}) }

// TestRingKeepsTheNewest checks IDs, the order records come out in, and
// that a reader whose records were overwritten is told.
func TestRingKeepsTheNewest(t *testing.T) {
	r := newRing(4)
	for i := 0; i < 6; i++ {
		r.put(&proxy.AccessRecord{Path: "/" + string(rune('a'+i))})
	}
	got, last, lost := r.since(r.oldest(), nil, 10)
	if lost || last != 6 || len(got) != 4 || got[0].ID != 3 || got[0].Path != "/c" || got[3].Path != "/f" {
		t.Fatalf("since(oldest) = %+v, %d, %v", got, last, lost)
	}
	if _, _, lost := r.since(1, nil, 10); !lost {
		t.Error("a reader at record 1 of 6 in a ring of 4 was not told it lost records")
	}
	if got, last, _ := r.since(4, nil, 1); len(got) != 1 || got[0].ID != 5 || last != 5 {
		t.Errorf("since(4, max 1) = %+v, %d", got, last)
	}
	if _, ok := r.get(2); ok {
		t.Error("get returned an overwritten record")
	}
	if rec, ok := r.get(6); !ok || rec.Path != "/f" {
		t.Errorf("get(6) = %+v, %v", rec, ok)
	}
}

// TestCopyHeadHidesCredentialsAndCuts checks that a captured head never
// shows the proxy password and is cut at its space, saying so.
func TestCopyHeadHidesCredentialsAndCuts(t *testing.T) {
	head := []byte("GET http://a/ HTTP/1.1\r\nHost: a\r\nproxy-authorization: Basic YWxpY2U6c2VjcmV0\r\nAccept: */*\r\n\r\n")
	got, cut := copyHead(make([]byte, 0, 256), head)
	want := "GET http://a/ HTTP/1.1\r\nHost: a\r\nproxy-authorization: (hidden)\r\nAccept: */*\r\n\r\n"
	if string(got) != want || cut {
		t.Errorf("copyHead = %q, cut %v; want %q", got, cut, want)
	}
	if !bytes.Contains(head, []byte("YWxpY2U6c2VjcmV0")) {
		t.Error("copyHead modified the head it copied")
	}
	got, cut = copyHead(make([]byte, 0, 30), head)
	if string(got) != want[:30] || !cut {
		t.Errorf("cut copy = %q, %v", got, cut)
	}
	got, cut = copyHead(make([]byte, 0, 40), head)
	if strings.Contains(string(got), "YWxp") || !cut {
		t.Errorf("a copy cut in the credentials shows them: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { copyHead(got[:0], head) }); n != 0 {
		t.Errorf("copyHead allocates %v times", n)
	}
}

// TestRecordJSON checks the record's hand-written JSON is valid and
// escaped, and allocates nothing.
func TestRecordJSON(t *testing.T) {
	r := Record{ID: 7, Time: time.UnixMilli(1700000000123), Method: "GET", Host: "h", Path: "/a\"b\\c\x01", Status: 200, Duration: 1500 * time.Microsecond, Route: "direct"}
	b := r.appendJSON(nil)
	want := `{"id":7,"time":1700000000123,"client":"","method":"GET","scheme":"","host":"h","port":"","path":"/a\"b\\c\u0001","status":200,"in":0,"out":0,"dur":1.5,"ttfb":0,"connect":0,"dns":0,"tls":0,"reused":false,"dns_cached":false,"tunnel":false,"err":"none","route":"direct","cache":""}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { r.appendJSON(buf[:0]) }); n != 0 {
		t.Errorf("appendJSON allocates %v times", n)
	}
}
