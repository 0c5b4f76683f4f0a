package refproxy

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// startRelay serves a Relay on a loopback port and returns a client that
// uses it as its proxy.
func startRelay(t *testing.T) *http.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = Serve(ln) }()
	t.Cleanup(func() { ln.Close() })
	pu, _ := url.Parse("http://" + ln.Addr().String())
	return &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(pu), DisableCompression: true},
		Timeout:   30 * time.Second,
	}
}

func TestRelaysGetAndStreamsPostBody(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		_, _ = io.Copy(h, r.Body)
		_, _ = w.Write(h.Sum(nil))
	}))
	defer origin.Close()
	c := startRelay(t)

	body := bytes.Repeat([]byte("sluice"), 3<<20) // 18 MiB: beyond fasthttp's 4 MB buffered limit
	want := sha256.Sum256(body)
	resp, err := c.Post(origin.URL+"/up", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, want[:]) {
		t.Fatalf("POST through relay: status %d, digest %x, want 200 and %x", resp.StatusCode, got, want)
	}
}

func TestTunnelsConnect(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "through the tunnel")
	}))
	defer origin.Close()
	c := startRelay(t)
	c.Transport.(*http.Transport).TLSClientConfig = origin.Client().Transport.(*http.Transport).TLSClientConfig
	resp, err := c.Get(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "through the tunnel" {
		t.Fatalf("CONNECT through relay: got %q", got)
	}
}
