package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestExpectContinue sends a request with "Expect: 100-continue" and
// withholds the body until the interim 100 arrives, as a careful client
// does: without the 100 the test would wait forever (up to patience).
func TestExpectContinue(t *testing.T) {
	bo := startBodyOrigin(t)
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	body := strings.Repeat("0123456789", 10000)
	for i := 0; i < 2; i++ {
		rc.send(fmt.Sprintf("POST %s/up HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
			bo.URL, bo.hostPort(), len(body)))
		resp, _ := rc.response("POST")
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("first answer %d, want 100 Continue", resp.StatusCode)
		}
		rc.send(body)
		resp, got := rc.response("POST")
		sum, _, _ := hashAll(strings.NewReader(body))
		if want := fmt.Sprintf("%s %d", sum, len(body)); resp.StatusCode != 200 || got != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, got, want)
		}
	}
}
