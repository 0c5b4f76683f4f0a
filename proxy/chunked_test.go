package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// trailerBody is a request body that sets the request's trailer once it
// has been read to the end, as net/http expects trailers to be filled.
type trailerBody struct {
	hr  *hashReader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.hr.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Body-Sha256", b.hr.sum())
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

// TestChunkedBothWaysKeepsTrailers sends a chunked upload with a trailer
// and gets a chunked response with a trailer: each side checks the body's
// hash against the hash the other side put in its trailer.
func TestChunkedBothWaysKeepsTrailers(t *testing.T) {
	const n = 3<<20 + 123
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
			http.Error(w, "upload not chunked", http.StatusBadRequest)
			return
		}
		sum, _, err := hashAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if got := r.Trailer.Get("X-Body-Sha256"); got != sum {
			http.Error(w, "request trailer "+got+" does not match body "+sum, http.StatusBadRequest)
			return
		}
		w.Header().Set("Trailer", "X-Body-Sha256")
		hr := newHashReader(prngBody(7, n))
		io.Copy(w, hr)
		w.(http.Flusher).Flush()
		w.Header().Set("X-Body-Sha256", hr.sum())
	}))
	p := startProxy(t, Config{})
	req, err := http.NewRequest("POST", o.URL+"/chunked", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = &trailerBody{hr: newHashReader(prngBody(3, n)), req: req}
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Body-Sha256": nil}
	resp, err := p.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("response Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	sum, got, err := hashAll(resp.Body)
	if err != nil || got != n {
		t.Fatalf("read %d of %d bytes: %v", got, n, err)
	}
	if tr := resp.Trailer.Get("X-Body-Sha256"); tr != sum {
		t.Errorf("response trailer %q, body sha256 %s", tr, sum)
	}
}

// TestChunkedFramingToEachClientVersion sends a chunked response with a
// chunk extension and a trailer from a raw origin: an HTTP/1.1 client gets
// the chunks and the trailer on a kept connection, an HTTP/1.0 client the
// bare data on a connection closed at its end.
func TestChunkedFramingToEachClientVersion(t *testing.T) {
	o := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := readRequestHead(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"+
				"5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: tv\r\n\r\n")
		}
	})
	p := startProxy(t, Config{})

	rc := dialRaw(t, p.addr)
	for i := 0; i < 2; i++ {
		rc.send("GET http://" + o.addr + "/ HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\n")
		resp, body := rc.response("GET")
		if body != "hello, world" || resp.Trailer.Get("X-T") != "tv" || resp.Close {
			t.Fatalf("HTTP/1.1 request %d: body %q, trailer %q, close %v", i, body, resp.Trailer, resp.Close)
		}
	}

	rc = dialRaw(t, p.addr)
	rc.send("GET http://" + o.addr + "/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, body := rc.response("GET")
	if body != "hello, world" || len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Fatalf("HTTP/1.0: body %q, Transfer-Encoding %q, close %v", body, resp.TransferEncoding, resp.Close)
	}
	rc.expectClosed()
}
