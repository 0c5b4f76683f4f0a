package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// TestBodilessStatuses checks HEAD, 204 and 304: the head is relayed (a
// HEAD keeps its Content-Length), no body follows, and the next request
// on the same client connection works, over the same upstream connection.
func TestBodilessStatuses(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
			if r.Method != "HEAD" {
				w.Write(make([]byte, 1234))
			}
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/next":
			io.WriteString(w, "next")
		}
	}))
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	cases := []struct {
		method, path string
		code         int
		length       string
	}{
		{"HEAD", "/head", 200, "1234"},
		{"GET", "/204", 204, ""},
		{"GET", "/304", 304, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			rc.send(tc.method + " " + o.URL + tc.path + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nIf-None-Match: \"v1\"\r\n\r\n")
			resp, body := rc.response(tc.method)
			if resp.StatusCode != tc.code || body != "" {
				t.Fatalf("got %d with body %q, want %d without a body", resp.StatusCode, body, tc.code)
			}
			if got := resp.Header.Get("Content-Length"); got != tc.length {
				t.Errorf("Content-Length %q, want %q", got, tc.length)
			}
			if resp.Close {
				t.Error("the proxy closed the client connection")
			}
			// Had the proxy sent (or waited for) a body, this response
			// would be garbled or never come.
			rc.send("GET " + o.URL + "/next HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "next" {
				t.Fatalf("next request: %d %q", resp.StatusCode, body)
			}
		})
	}
	if n := o.accepted.Load(); n != 1 {
		t.Errorf("origin accepted %d connections, want 1 (bodiless responses keep the upstream conn)", n)
	}
}

// TestEarlyHintsForwarded checks that a 103 Early Hints reaches an
// HTTP/1.1 client before the final response, and that an HTTP/1.0 client,
// which cannot take 1xx, gets only the final one.
func TestEarlyHintsForwarded(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "final")
	}))
	p := startProxy(t, Config{})

	var mu sync.Mutex
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		if code == http.StatusEarlyHints {
			hints = append(hints, h.Get("Link"))
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", o.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "final" {
		t.Fatalf("final response %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	if len(hints) != 1 || !strings.Contains(hints[0], "style.css") {
		t.Errorf("103 hints seen by the client: %q, want one with the Link", hints)
	}
	mu.Unlock()

	rc := dialRaw(t, p.addr)
	rc.send("GET " + o.URL + "/ HTTP/1.0\r\n\r\n")
	resp, got := rc.response("GET")
	if resp.StatusCode != 200 || got != "final" {
		t.Errorf("HTTP/1.0 client got %d %q, want the final 200 only", resp.StatusCode, got)
	}
}
