package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// startTLSOrigin starts an HTTPS origin on loopback, speaking HTTP/2 when
// h2 is set, that answers with the protocol it served.
func startTLSOrigin(t *testing.T, h2 bool) *httptest.Server {
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}))
	o.EnableHTTP2 = h2
	o.Config.ErrorLog = discardLog()
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

// TestConnectTLS reaches an HTTPS origin through a CONNECT tunnel, with
// HTTP/1.1 and with HTTP/2 negotiated by ALPN inside the tunnel.
func TestConnectTLS(t *testing.T) {
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			o := startTLSOrigin(t, h2)
			roots := x509.NewCertPool()
			roots.AddCert(o.Certificate())
			tr := &http.Transport{
				Proxy:             http.ProxyURL(p.url),
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: h2,
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			for i := 0; i < 3; i++ {
				resp, body := mustGet(t, c, o.URL+"/tls")
				wantMajor := 1
				if h2 {
					wantMajor = 2
				}
				if resp.ProtoMajor != wantMajor || body != resp.Proto+" /tls" {
					t.Fatalf("got %s %q, want HTTP/%d", resp.Proto, body, wantMajor)
				}
			}
		})
	}
	// Each client kept its tunnel for all three requests; the records
	// come when the tunnels close.
	waitFor(t, "two CONNECT tunnels in the access log", func() bool {
		var tunnels int
		for _, r := range log.records() {
			if r.Method == "CONNECT" && r.Tunnel && r.Status == 200 {
				tunnels++
			}
		}
		return tunnels == 2
	})
	if n := len(log.records()); n != 2 {
		t.Errorf("%d access records, want 2", n)
	}
}

// TestConnectHalfClose checks that a client that finishes sending (a
// half-close) still gets the answer the upstream sends after reading to
// the end.
func TestConnectHalfClose(t *testing.T) {
	o := startRawOrigin(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	p := startProxy(t, Config{})
	rc := dialRaw(t, p.addr)
	rc.send("CONNECT " + o.addr + " HTTP/1.1\r\nHost: " + o.addr + "\r\n\r\nhello") // "hello" pipelined with the head
	if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	rc.send(", world")
	if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "got 12 bytes" {
		t.Errorf("upstream answered %q, want %q", got, "got 12 bytes")
	}
}

// BenchmarkTunnel moves 64 MiB one way through a CONNECT tunnel per
// iteration (the splice path, with the idle watch's per-round deadline).
func BenchmarkTunnel(b *testing.B) {
	benchTunnel(b, func(c net.Conn, target string) error {
		io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		head := make([]byte, len("HTTP/1.1 200 Connection established\r\n\r\n"))
		_, err := io.ReadFull(c, head)
		return err
	})
}

// benchTunnel moves 64 MiB one way per iteration through a tunnel that
// open sets up on a connection to the proxy.
func benchTunnel(b *testing.B, open func(c net.Conn, target string) error) {
	const size = 64 << 20
	o := startRawOrigin(b, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte{'!'}) // everything arrived
	})
	p := startProxy(b, Config{})
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := open(c, o.addr); err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		var done [1]byte
		if _, err := io.ReadFull(c, done[:]); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
