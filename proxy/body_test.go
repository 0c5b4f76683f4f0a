package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// bodyOrigin hashes request bodies (/up) and sends deterministic bodies
// (/down), recording the sha256 of what it actually sent, so both ends of
// a transfer are checked without either holding the body.
type bodyOrigin struct {
	*origin
	mu   sync.Mutex
	sent map[string]string // request id -> sha256 of the body sent
}

func startBodyOrigin(t *testing.T) *bodyOrigin {
	bo := &bodyOrigin{sent: map[string]string{}}
	bo.origin = startOrigin(t, http.HandlerFunc(bo.serveHTTP))
	return bo
}

func (bo *bodyOrigin) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/up":
		sum, n, err := hashAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Got-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("X-Got-CL", strconv.FormatInt(r.ContentLength, 10))
		fmt.Fprintf(w, "%s %d", sum, n)
	case "/down":
		q := r.URL.Query()
		n, _ := strconv.ParseInt(q.Get("n"), 10, 64)
		seed, _ := strconv.ParseUint(q.Get("seed"), 10, 64)
		if q.Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		hr := newHashReader(prngBody(seed, n))
		if _, err := io.Copy(w, hr); err != nil {
			return
		}
		bo.mu.Lock()
		bo.sent[q.Get("id")] = hr.sum()
		bo.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

func (bo *bodyOrigin) sentSum(t *testing.T, id string) string {
	var sum string
	waitFor(t, "the origin to finish sending "+id, func() bool {
		bo.mu.Lock()
		defer bo.mu.Unlock()
		sum = bo.sent[id]
		return sum != ""
	})
	return sum
}

var bodySizes = []int64{0, 1 << 10, 100 << 20}

// wineSlowBody is why the 100 MiB bodies skip under Wine: its loopback
// moves about 4 MB/s through the proxy, half a minute a body.
const wineSlowBody = "100 MiB through Wine's loopback takes about 25 s a body (some 4 MB/s); Linux runs them"

// TestBodiesUpload sends empty, 1 KiB and 100 MiB request bodies with
// each method, with Content-Length and chunked, and checks that the origin
// received exactly the bytes sent.
func TestBodiesUpload(t *testing.T) {
	p := startProxy(t, Config{})
	bo := startBodyOrigin(t)
	c := p.client(t)
	for _, chunked := range []bool{false, true} {
		for _, method := range []string{"GET", "POST", "PUT"} {
			for i, n := range bodySizes {
				framing := "length"
				if chunked {
					framing = "chunked"
				}
				if chunked && n == 0 || chunked && n > 1<<20 && method != "POST" {
					continue // one chunked 100 MiB upload is enough
				}
				t.Run(fmt.Sprintf("%s/%s/%s", method, framing, sizeName(n)), func(t *testing.T) {
					if n > 1<<20 {
						wintest.SkipUnderWine(t, wineSlowBody)
					}
					hr := newHashReader(prngBody(uint64(i+1), n))
					req, err := http.NewRequest(method, bo.URL+"/up", io.NopCloser(hr))
					if err != nil {
						t.Fatal(err)
					}
					req.ContentLength = n
					if chunked {
						req.ContentLength = -1
					} else if n == 0 {
						req.Body = http.NoBody
					}
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode != 200 {
						t.Fatalf("status %d: %s", resp.StatusCode, got)
					}
					if want := fmt.Sprintf("%s %d", hr.sum(), n); string(got) != want {
						t.Errorf("origin received %q, client sent %q", got, want)
					}
					wantTE := ""
					if chunked {
						wantTE = "chunked"
					}
					if te := resp.Header.Get("X-Got-TE"); te != wantTE {
						t.Errorf("origin saw Transfer-Encoding %q, want %q", te, wantTE)
					}
					if !chunked && n > 0 && resp.Header.Get("X-Got-CL") != strconv.FormatInt(n, 10) {
						t.Errorf("origin saw Content-Length %s, want %d", resp.Header.Get("X-Got-CL"), n)
					}
				})
			}
		}
	}
}

// TestBodiesDownload fetches empty, 1 KiB and 100 MiB response bodies,
// with Content-Length and chunked, and checks the client received exactly
// what the origin sent.
func TestBodiesDownload(t *testing.T) {
	p := startProxy(t, Config{})
	bo := startBodyOrigin(t)
	c := p.client(t)
	for _, chunked := range []bool{false, true} {
		for _, method := range []string{"GET", "POST", "PUT"} {
			for i, n := range bodySizes {
				framing := "length"
				if chunked {
					framing = "chunked"
				}
				if chunked && n > 1<<20 && method != "GET" {
					continue // one chunked 100 MiB download is enough
				}
				name := fmt.Sprintf("%s/%s/%s", method, framing, sizeName(n))
				t.Run(name, func(t *testing.T) {
					if n > 1<<20 {
						wintest.SkipUnderWine(t, wineSlowBody)
					}
					id := strings.ReplaceAll(name, "/", "-")
					u := fmt.Sprintf("%s/down?n=%d&seed=%d&id=%s", bo.URL, n, i+10, id)
					if chunked {
						u += "&chunked=1"
					}
					req, err := http.NewRequest(method, u, nil)
					if err != nil {
						t.Fatal(err)
					}
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("status %d", resp.StatusCode)
					}
					sum, got, err := hashAll(resp.Body)
					if err != nil {
						t.Fatalf("read body after %d bytes: %v", got, err)
					}
					if got != n {
						t.Fatalf("received %d bytes, want %d", got, n)
					}
					if want := bo.sentSum(t, id); sum != want {
						t.Errorf("received sha256 %s, origin sent %s", sum, want)
					}
					// Small chunked bodies may be given a length by the
					// origin's own buffering; large ones never are.
					if !chunked && resp.ContentLength != n {
						t.Errorf("Content-Length %d, want %d", resp.ContentLength, n)
					}
					if chunked && n > 1<<20 && (resp.ContentLength != -1 || len(resp.TransferEncoding) == 0) {
						t.Errorf("a chunked origin body arrived with Content-Length %d, TE %q", resp.ContentLength, resp.TransferEncoding)
					}
				})
			}
		}
	}
}
