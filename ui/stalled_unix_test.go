//go:build unix

package ui

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// TestStalledPageIsCut opens the stream from a raw TCP client with a
// small receive buffer that never reads, and sends traffic: once the
// socket is full the proxy's write timeout cuts the page and the feed
// stops watching, holding nothing for it meanwhile.
func TestStalledPageIsCut(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer origin.Close()
	s := startSluice(t, 0, proxy.Config{BodyTimeout: 500 * time.Millisecond})
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ui/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
	deadline := time.Now().Add(patience)
	for s.feed.Watchers() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.feed.Watchers() != 1 {
		t.Fatal("the page did not start watching")
	}
	client := s.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		long := origin.URL + "/" + strings.Repeat("x", 1000)
		for ctx.Err() == nil {
			if r, err := client.Get(long); err == nil {
				r.Body.Close()
			}
		}
	}()
	for s.feed.Watchers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a page that never reads was not cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
