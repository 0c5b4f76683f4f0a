package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The head deadlines (read_header_timeout for the client's request head,
// response_header_timeout for the upstream's) bound heads only: a body
// that takes longer, either way, and a kept-alive connection that idles
// past them between requests, are not cut off.

func TestSlowUploadOutlivesReadHeaderTimeout(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(strconv.Itoa(len(b))))
	}))
	p := startProxy(t, Config{ReadHeaderTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	rc.send("POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nContent-Length: 5\r\n\r\n")
	for range 5 {
		time.Sleep(120 * time.Millisecond) // 600 ms in all, 3× the head timeout
		rc.send("x")
	}
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "5" {
		t.Fatalf("slow upload: %d %q", resp.StatusCode, body)
	}
}

func TestSlowDownloadOutlivesResponseHeaderTimeout(t *testing.T) {
	origin := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := readRequestHead(br); err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
			for range 5 {
				time.Sleep(120 * time.Millisecond)
				c.Write([]byte("y"))
			}
		}
	})
	p := startProxy(t, Config{ResponseHeaderTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	for range 2 { // the second request reuses the upstream conn
		rc.send("GET http://" + origin.addr + "/ HTTP/1.1\r\nHost: " + origin.addr + "\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "yyyyy" {
			t.Fatalf("slow download: %d %q", resp.StatusCode, body)
		}
	}
}

func TestKeptAliveClientIdlesPastReadHeaderTimeout(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	p := startProxy(t, Config{ReadHeaderTimeout: 200 * time.Millisecond, ClientIdleTimeout: 10 * time.Second})
	rc := dialRaw(t, p.addr)
	for i := range 2 {
		if i > 0 {
			time.Sleep(600 * time.Millisecond) // idle 3× the head timeout
		}
		rc.send("GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok") {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
}
