package main

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

func TestStatsURLUsesLoopbackForWildcards(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8877": "http://127.0.0.1:8877/stats",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/stats",
		":9000":          "http://127.0.0.1:9000/stats",
		"[::]:9000":      "http://[::1]:9000/stats",
		"[::1]:9000":     "http://[::1]:9000/stats",
	} {
		if got := statsURL(listen); got != want {
			t.Errorf("statsURL(%q) = %q, want %q", listen, got, want)
		}
	}
}

func TestPrintStatsTableAndJSON(t *testing.T) {
	c := stats.New()
	for i := range 40 {
		s := stats.Sample{Status: 200, BytesIn: 1000, BytesOut: 2_500_000, Duration: 12 * time.Millisecond, TTFB: 3 * time.Millisecond}
		if i%10 == 0 {
			s.Err = stats.ErrRefused
		}
		c.Request(&s)
		c.UpstreamConn(i%4 != 0)
	}
	c.SetDNSFunc(func() stats.DNSStats { return stats.DNSStats{Lookups: 10, Hits: 9, Misses: 1, Entries: 3} })
	c.SetCacheFunc(func() (stats.CacheStats, bool) {
		return stats.CacheStats{Objects: 2, Bytes: 5_000_000, Hits: 3, Misses: 1, HitRatio: 0.75, BytesSaved: 7_000_000}, true
	})
	srv := httptest.NewServer(stats.Handler(c))
	defer srv.Close()

	var table strings.Builder
	if err := printStats(&table, srv.URL+"/stats", false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"requests     40 total", "errors       4 total", "refused 4", "bytes out    100.0 MB total",
		"latency      p50 12.0ms", "first byte   p50 3.0ms", "75% reused", "dns          90% from cache", "log drops    0",
		"http cache   75% hits", "2 objects, 5.0 MB", "7.0 MB saved",
	} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var raw strings.Builder
	if err := printStats(&raw, srv.URL+"/stats", true); err != nil {
		t.Fatal(err)
	}
	var s stats.Snapshot
	if err := json.Unmarshal([]byte(raw.String()), &s); err != nil || s.Requests != 40 || s.Errors != 4 {
		t.Fatalf("--json printed %q (%v)", raw.String(), err)
	}
}

func TestPrintStatsSaysWhatToDoWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = printStats(new(strings.Builder), statsURL(addr), false)
	if err == nil || !strings.Contains(err.Error(), "is it running?") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v, want one naming %s and saying to start Sluice", err, addr)
	}
}
