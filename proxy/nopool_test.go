package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestNoPoolDialsEveryRequest checks that NoPool turns pooling off even
// with MaxIdlePerHost set: each request dials, nothing stays idle.
func TestNoPoolDialsEveryRequest(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, Config{NoPool: true, MaxIdlePerHost: 8})
	c := p.client(t)
	for i := 0; i < 3; i++ {
		if resp, body := mustGet(t, c, o.URL+"/"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := o.accepted.Load(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3 (one per request)", n)
	}
	if n := p.srv.IdleUpstreamConns(); n != 0 {
		t.Errorf("IdleUpstreamConns() = %d, want 0", n)
	}
}

// TestNegativeMaxIdlePerHostRefused checks that the old "negative
// disables pooling" sentinel is refused with a pointer to NoPool rather
// than silently meaning something.
func TestNegativeMaxIdlePerHostRefused(t *testing.T) {
	_, err := New(Config{MaxIdlePerHost: -1})
	if err == nil || !strings.Contains(err.Error(), "NoPool") {
		t.Fatalf("New with MaxIdlePerHost -1: %v, want an error naming NoPool", err)
	}
}
