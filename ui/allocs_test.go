package ui

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// The relay's allocation budget (proxy/allocs_test.go) with the dashboard
// as its access logger: pages watching must not change it. As there,
// the origin and client are raw loops that allocate nothing, and
// testing.AllocsPerRun counts the whole process: the watching pages'
// streams included.

const originBody = "hello, dashboard budget"

// startRawOrigin answers every bodiless request on a kept-alive
// connection with a fixed response, allocating nothing per request.
func startRawOrigin(t testing.TB) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(originBody)) + "\r\n\r\n" + originBody)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 8<<10)
				n := 0
				for {
					k, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += k
					if n >= 4 && bytes.Equal(buf[n-4:n], []byte("\r\n\r\n")) {
						n = 0
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// keepAlive sends one fixed request at a time on one connection.
type keepAlive struct {
	c   net.Conn
	req []byte
	buf []byte
}

func (k *keepAlive) roundTrip() bool {
	if _, err := k.c.Write(k.req); err != nil {
		return false
	}
	n := 0
	for {
		m, err := k.c.Read(k.buf[n:])
		if err != nil {
			return false
		}
		n += m
		if end := bytes.Index(k.buf[:n], []byte("\r\n\r\n")); end >= 0 && n >= end+4+len(originBody) {
			return n == end+4+len(originBody)
		}
	}
}

func measure(t *testing.T, k *keepAlive) float64 {
	t.Helper()
	for i := 0; i < 50; i++ {
		if !k.roundTrip() {
			t.Fatal("round trip failed")
		}
	}
	ok := true
	allocs := testing.AllocsPerRun(500, func() { ok = k.roundTrip() && ok })
	if !ok {
		t.Fatal("round trip failed")
	}
	return allocs
}

// maxAllocsPerLoggedRequest is proxy's budget with an access logger: the
// one string holding the record's Host, Port and Path.
const maxAllocsPerLoggedRequest = 1

// TestWatchingPagesKeepTheAllocationBudget measures a kept-alive proxied
// request with the dashboard as the access logger, with no page open and
// with ten pages watching (records copied into the ring, heads captured,
// ten streams encoding and writing every record): with none, no record is
// built at all (0 allocations); with ten, the budget of a logged request.
func TestWatchingPagesKeepTheAllocationBudget(t *testing.T) {
	origin := startRawOrigin(t)
	s := startSluice(t, 0, proxy.Config{})
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := &keepAlive{c: c, buf: make([]byte, 8<<10),
		req: []byte("GET http://" + origin + "/budget HTTP/1.1\r\nHost: " + origin + "\r\nAccept: */*\r\n\r\n")}

	none := measure(t, k)
	t.Logf("no page: %v allocations per request", none)

	var pages []*http.Response
	for i := 0; i < 10; i++ {
		resp, err := http.Get("http://" + s.addr + "/ui/events")
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, resp)
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, p := range pages {
			p.Body.Close()
		}
	}()
	for s.feed.Watchers() != 10 {
		time.Sleep(5 * time.Millisecond)
	}
	// Let the pages' first snapshot and the readers' buffers settle.
	time.Sleep(300 * time.Millisecond)
	watched := measure(t, k)
	t.Logf("10 pages: %v allocations per request", watched)
	if none != 0 {
		t.Errorf("%v allocations per request with no page open, want 0: no record is built for an idle feed", none)
	}
	if watched > maxAllocsPerLoggedRequest {
		t.Errorf("%v allocations per request with 10 pages watching; budget %v", watched, maxAllocsPerLoggedRequest)
	}
	rg := s.feed.ring.Load()
	if _, last, _ := rg.since(rg.oldest(), nil, DefaultHistory); last < 500 {
		t.Errorf("the ring holds records up to %d, want the 550 measured", last)
	}
}

// BenchmarkKeepAliveWatched compares a kept-alive proxied request with
// the dashboard as access logger and no page open against one page
// watching (the issue asks for ≥ 0.97× the rate).
func BenchmarkKeepAliveWatched(b *testing.B) {
	for _, pages := range []int{0, 1} {
		b.Run(strconv.Itoa(pages)+"-pages", func(b *testing.B) {
			origin := startRawOrigin(b)
			s := startSluice(b, 0, proxy.Config{})
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			k := &keepAlive{c: c, buf: make([]byte, 8<<10),
				req: []byte("GET http://" + origin + "/bench HTTP/1.1\r\nHost: " + origin + "\r\n\r\n")}
			for i := 0; i < pages; i++ {
				resp, err := http.Get("http://" + s.addr + "/ui/events")
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				go func() {
					buf := make([]byte, 64<<10)
					for {
						if _, err := resp.Body.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			for s.feed.Watchers() != pages {
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !k.roundTrip() {
					b.Fatal("round trip failed")
				}
			}
		})
	}
}
