package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/sluiceproxy/sluice/cache"
)

// BenchmarkCacheHitKeepAlive measures one cache hit (a 4 KiB object) on
// a kept-alive client connection, with allocations: the cost the
// response cache adds to the relay when it answers.
func BenchmarkCacheHitKeepAlive(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4<<10)
	o := startOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	c, err := cache.Open(cache.Config{MemoryBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	p := startProxy(b, Config{Cache: c})
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET " + o.URL + "/obj HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(conn)
	roundTrip := func() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		n := int64(-1)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			}
		}
		if _, err := br.Discard(int(n)); err != nil || n != int64(len(body)) {
			b.Fatalf("body of %d: %v", n, err)
		}
	}
	roundTrip() // stores it
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
	if st := c.Stats(false); st.Hits < int64(b.N) {
		b.Fatalf("%d hits for %d requests", st.Hits, b.N)
	}
}
