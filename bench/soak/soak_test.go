//go:build linux

package soak

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckBodyTellsWrongBytesFromCutOnes(t *testing.T) {
	var b bytes.Buffer
	writeBody(&b, "/ok/x/1", 100)
	body := b.Bytes()
	if err := checkBody(bytes.NewReader(body), "/ok/x/1", 100); err != nil {
		t.Fatalf("the body for its own target: %v", err)
	}
	var other bytes.Buffer
	writeBody(&other, "/ok/x/2", 100)
	cases := map[string]struct {
		r    io.Reader
		want error
	}{
		"another target's body": {bytes.NewReader(other.Bytes()), errBodyDiffers},
		"one byte short":        {bytes.NewReader(body[:99]), errBodyDiffers},
		"one byte long":         {io.MultiReader(bytes.NewReader(body), strings.NewReader("/")), errBodyDiffers},
		"cut by a read error":   {io.MultiReader(bytes.NewReader(body[:50]), errReader{io.ErrUnexpectedEOF}), io.ErrUnexpectedEOF},
	}
	for name, c := range cases {
		if err := checkBody(c.r, "/ok/x/1", 100); !errors.Is(err, c.want) {
			t.Errorf("%s: checkBody = %v, want %v", name, err, c.want)
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// testProxy is a forward proxy on net/http for the soak's own tests. With
// swap set it answers each request with the response to the one before
// it: the fault the soak must catch.
//
// It dials a new upstream connection per request: net/http's Transport
// pools a connection whose response was followed by extra bytes when they
// arrived with the response, and the next request then reads them (the
// soak caught that too).
func testProxy(t *testing.T, swap bool) string {
	t.Helper()
	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: sluiceTimeout, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	type answer struct {
		code   int
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var prev *answer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			tunnelTo(w, r.Host)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		a := &answer{resp.StatusCode, resp.Header, body}
		if swap {
			mu.Lock()
			a, prev = prev, a
			mu.Unlock()
			if a == nil {
				http.Error(w, "first request", http.StatusBadGateway)
				return
			}
		}
		for k, vs := range a.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.code)
		w.Write(a.body)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// tunnelTo serves CONNECT: a byte relay to addr that passes half-closes on.
func tunnelTo(w http.ResponseWriter, addr string) {
	up, err := net.Dial("tcp", addr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, brw.Reader)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
	c.Close()
	up.Close()
}

// soakThrough runs the soak's load (no Sluice, no readings) through the
// proxy at addr for d and returns what the clients saw.
func soakThrough(t *testing.T, addr string, w Workers, d time.Duration) *tally {
	t.Helper()
	org, err := startOrigin()
	if err != nil {
		t.Fatal(err)
	}
	defer org.close()
	echo, err := startEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer echo.close()
	l := &load{proxy: addr, origin: org.addr(), echo: echo.addr(), run: "test", phase: "t", t: newTally(),
		end: time.Now().Add(d), done: t.Context().Done(), pace: time.Millisecond, maxEpisodes: 10000,
		timeout: 10 * time.Second, maxStall: time.Second, sluiceTimeout: sluiceTimeout}
	l.drive(w)
	t.Logf("outcomes:\n%s", l.t.table())
	return l.t
}

func TestSoakPassesACorrectProxy(t *testing.T) {
	tl := soakThrough(t, testProxy(t, false), Workers{Get: 3, Pipeline: 1, Upload: 1, Tunnel: 1, Bad: 2}, 3*time.Second)
	if tl.episodes() < 50 {
		t.Fatalf("only %d episodes in 3s", tl.episodes())
	}
	if n := tl.crossTalk.Load() + tl.corrupt.Load() + tl.failed.Load(); n > 0 {
		t.Fatalf("%d cross-talk, %d corrupt, %d failed through a correct proxy: %q",
			tl.crossTalk.Load(), tl.corrupt.Load(), tl.failed.Load(), tl.samples)
	}
}

func TestSoakCatchesResponsesForAnotherRequest(t *testing.T) {
	tl := soakThrough(t, testProxy(t, true), Workers{Get: 2}, time.Second)
	if tl.crossTalk.Load() == 0 {
		t.Fatalf("a proxy that answers each request with the previous one's response passed: %q", tl.samples)
	}
}

// TestOriginSendsAnUnaskedResponseAfterExtra pins down the fault the
// cross-talk check depends on: after extra/now's answer the connection
// holds a second response, naming a /poison/ target.
func TestOriginSendsAnUnaskedResponseAfterExtra(t *testing.T) {
	org, err := startOrigin()
	if err != nil {
		t.Fatal(err)
	}
	defer org.close()
	c, err := net.Dial("tcp", org.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /extra/now/1?n=5 HTTP/1.1\r\nHost: o\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []string{"/extra/now/1?n=5", "/poison/now/1"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		if got := resp.Header.Get(pathHeader); got != want {
			t.Fatalf("response %d names %q, want %q", i+1, got, want)
		}
	}
}

func TestLogLinesKeepTheProblemRequestsAndTheWarnings(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "access.log"), []byte(
		`{"path":"/ok/cl/r-m-1-1","status":200}`+"\n"+
			`{"path":"/echo/upload/r-m-2-7","status":502,"error":"upstream"}`+"\n"+
			`{"path":"/echo/upload/r-m-2-70","status":200}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.log"), []byte(
		`{"level":"INFO","msg":"listening"}`+"\n"+
			`{"level":"WARN","msg":"upstream reset"}`+"\n"), 0o644)
	got := logLines(dir, []string{"/echo/upload/r-m-2-7"})
	want := []string{
		`access.log: {"path":"/echo/upload/r-m-2-7","status":502,"error":"upstream"}`,
		`app.log: {"level":"WARN","msg":"upstream reset"}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("logLines = %q, want %q", got, want)
	}
}
