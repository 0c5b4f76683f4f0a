package inspect

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// protoOrigin answers with the protocol the request reached it over.
func protoOrigin(t testing.TB, ca *testCA) (string, func() []string) {
	var mu = make(chan struct{}, 1)
	var seen []string
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu <- struct{}{}
		seen = append(seen, r.Proto)
		<-mu
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "origin says hello over %s to %s%s", r.Proto, r.Host, r.URL.Path)
	}))
	return portOf(t, o), func() []string {
		mu <- struct{}{}
		defer func() { <-mu }()
		return append([]string(nil), seen...)
	}
}

// TestCurlThroughInspection: curl trusting only Sluice's CA gets the
// origin's content over HTTP/1.1 and HTTP/2 on the client leg, the
// origin sees HTTP/2 on the upstream leg, and the access records show
// each exchange with its full URL and both legs' protocols.
func TestCurlThroughInspection(t *testing.T) {
	needTool(t, "curl", "curl")
	ca := newTestCA(t, "origin CA")
	port, seen := protoOrigin(t, ca)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	u := "https://inspected.test:" + port + "/page"

	for _, tc := range []struct {
		flag, alpn, proto string
	}{
		{"--http1.1", "ALPN: server accepted http/1.1", "HTTP/1.1"},
		{"--http2", "ALPN: server accepted h2", "HTTP/2.0"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			stdout, stderr, err := r.curl(t, "-v", tc.flag, "--cacert", r.caFile, u)
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, stderr)
			}
			if want := "origin says hello over HTTP/2.0 to inspected.test:" + port + "/page"; stdout != want {
				t.Errorf("got %q, want %q", stdout, want)
			}
			if !strings.Contains(stderr, tc.alpn) {
				t.Errorf("curl -v does not show %q:\n%s", tc.alpn, stderr)
			}
			if !strings.Contains(stderr, "Sluice inspection CA") {
				t.Errorf("curl -v does not show Sluice's CA as the issuer:\n%s", stderr)
			}
			recs := r.access.inspected()
			if len(recs) == 0 {
				t.Fatal("no access record for the inspected exchange")
			}
			rec := recs[len(recs)-1]
			if rec.Method != "GET" || rec.Host != "inspected.test" || rec.Port != port || rec.Path != "/page" || rec.Status != 200 ||
				!rec.Inspected || rec.ClientProto != tc.proto || rec.UpstreamProto != "HTTP/2.0" || rec.BytesOut != int64(len(stdout)) {
				t.Errorf("access record %+v", rec)
			}
		})
	}
	for _, p := range seen() {
		if p != "HTTP/2.0" {
			t.Errorf("the origin saw %s on the upstream leg, want HTTP/2.0 (all: %v)", p, seen())
		}
	}
	snap := r.srv.Stats().Snapshot()
	if snap.Requests < 2 || snap.Inspected != 2 {
		t.Errorf("/stats counts %d requests, %d inspected, want the 2 inspected exchanges", snap.Requests, snap.Inspected)
	}
}

// TestHTTP2Off: with http2 = false neither leg offers h2.
func TestHTTP2Off(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	port, seen := protoOrigin(t, ca)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: false}, ca)
	stdout, stderr, err := r.curl(t, "-v", "--http2", "--cacert", r.caFile, "https://inspected.test:"+port+"/")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "ALPN: server accepted http/1.1") {
		t.Errorf("client leg was not HTTP/1.1:\n%s", stderr)
	}
	if !strings.Contains(stdout, "over HTTP/1.1") || len(seen()) != 1 {
		t.Errorf("upstream leg: %q", stdout)
	}
}

// TestNotMatchedStaysBlind: a host not listed, or listed and excluded,
// is a blind tunnel: the client sees the origin's own certificate and
// Sluice makes no leaf.
func TestNotMatchedStaysBlind(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	port, _ := protoOrigin(t, ca)
	r := startRig(t, Config{Hosts: []string{"inspected.test", "*.test"}, Exclude: []string{"blind.test"}, HTTP2: true}, ca)
	resp, err := r.client(t, true, ca.pool()).Get("https://blind.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := resp.TLS.PeerCertificates[0].Issuer.CommonName; got != "origin CA" {
		t.Errorf("client saw a certificate issued by %q, want the origin's own (origin CA)", got)
	}
	if n := r.in.LeavesMade(); n != 0 {
		t.Errorf("%d leaves made for a blind tunnel", n)
	}
	// The same origin under a matched name is inspected.
	resp, err = r.client(t, true, nil).Get("https://other.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := resp.TLS.PeerCertificates[0].Issuer.CommonName; !strings.HasPrefix(got, "Sluice inspection CA") {
		t.Errorf("*.test host: issuer %q, want Sluice's CA", got)
	}
}

// TestBadOriginCertificate: an origin whose certificate does not verify
// gets the client a 502 saying why, never the origin's answer.
func TestBadOriginCertificate(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	rogue := newTestCA(t, "rogue CA")
	o := startOrigin(t, rogue, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret the client must not get")
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	stdout, stderr, err := r.curl(t, "-v", "--cacert", r.caFile, "https://inspected.test:"+portOf(t, o)+"/")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, stderr)
	}
	if !contains(stderr, "< HTTP/2 502", "proxy-status: sluice; error=tls_certificate_error") {
		t.Errorf("curl -v:\n%s", stderr)
	}
	if !contains(stdout, "failed verification", "certificate signed by unknown authority") || strings.Contains(stdout, "secret") {
		t.Errorf("body %q", stdout)
	}
	recs := r.access.inspected()
	if len(recs) != 1 || recs[0].Status != 502 || recs[0].Err.String() != "upstream" {
		t.Errorf("records %+v", recs)
	}
}

// TestWebSocketThroughInspection: an Upgrade over HTTP/1.1 to an
// inspected host becomes a two-way tunnel.
func TestWebSocketThroughInspection(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	up := websocket.Upgrader{}
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte("echo "), msg...))
		}
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	d := websocket.Dialer{Proxy: r.client(t, false, nil).Transport.(*http.Transport).Proxy, TLSClientConfig: r.client(t, false, nil).Transport.(*http.Transport).TLSClientConfig}
	c, _, err := d.Dial("wss://inspected.test:"+portOf(t, o)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != "echo "+msg {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	c.Close()
	waitFor(t, "the upgrade's record", func() bool {
		recs := r.access.inspected()
		return len(recs) == 1 && recs[0].Status == 101 && recs[0].Tunnel
	})
}

// TestSSEThroughInspection: each event reaches the client as the origin
// flushes it, over both client-leg protocols. The origin sends the
// second event only after the client has read the first, so a proxy that
// buffers would never deliver it.
func TestSSEThroughInspection(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	got1 := make(chan struct{}, 2)
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-got1:
		case <-time.After(10 * time.Second):
			return
		}
		io.WriteString(w, "data: two\n\n")
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			resp, err := r.client(t, h2, nil).Get("https://inspected.test:" + portOf(t, o) + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			if err != nil || line != "data: one\n" {
				t.Fatalf("first event: %q, %v", line, err)
			}
			got1 <- struct{}{}
			rest, _ := io.ReadAll(br)
			if string(rest) != "\ndata: two\n\n" {
				t.Errorf("rest %q", rest)
			}
		})
	}
}

// TestClientWithoutTheCA: a client that does not trust Sluice's CA
// fails its handshake; nothing reaches the origin.
func TestClientWithoutTheCA(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	port, seen := protoOrigin(t, ca)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	_, err := r.client(t, true, ca.pool()).Get("https://inspected.test:" + port + "/")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v, want a certificate error", err)
	}
	if len(seen()) != 0 {
		t.Errorf("the origin got %d requests", len(seen()))
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStalledClientIsCut: a client that stops reading a download is cut
// off after body_timeout, and the record says the client stalled.
func TestStalledClientIsCut(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	chunk := make([]byte, 64<<10)
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 4096 { // 256 MiB, far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, BodyTimeout: 300 * time.Millisecond}, ca)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := portOf(t, o)
	fmt.Fprintf(c, "CONNECT inspected.test:%s HTTP/1.1\r\nHost: inspected.test:%s\r\n\r\n", port, port)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "inspected.test", RootCAs: r.caPool, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(tc, "GET /big HTTP/1.1\r\nHost: inspected.test\r\n\r\n")
	// Read nothing more.
	waitFor(t, "the stalled exchange's record", func() bool {
		recs := r.access.inspected()
		return len(recs) == 1
	})
	if rec := r.access.inspected()[0]; rec.Err.String() != "client_timeout" || rec.Status != 200 {
		t.Errorf("record %+v, want status 200 and error client_timeout", rec)
	}

	// Over HTTP/2 the stall is on flow control, not the connection.
	r2 := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true, BodyTimeout: 300 * time.Millisecond}, ca)
	resp, err = r2.client(t, true, nil).Get("https://inspected.test:" + port + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("client leg %s, want HTTP/2", resp.Proto)
	}
	waitFor(t, "the stalled h2 exchange's record", func() bool { return len(r2.access.inspected()) == 1 })
	if rec := r2.access.inspected()[0]; rec.Err.String() != "client_timeout" && rec.Err.String() != "client_abort" {
		t.Errorf("h2 record %+v, want a client error", rec)
	}
}

// TestDialAfter200: an inspected CONNECT is answered before the origin
// is dialled (the inspector dials it per request), so an origin that is
// down shows as a 502 to the decrypted request, saying why.
func TestDialAfter200(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, newTestCA(t, "origin CA"))
	resp, err := r.client(t, true, nil).Get("https://inspected.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 502 || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=connection_refused") ||
		!strings.Contains(body, "cannot connect to inspected.test:"+port) {
		t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Proxy-Status"), body)
	}
}

// pipelinedConn sends a CONNECT head in the same write as the first
// bytes of the TLS handshake, and reads past the proxy's answer: the
// handshake's first bytes are then already in the proxy's buffer when
// it hands the connection over.
type pipelinedConn struct {
	net.Conn
	head   string
	br     *bufio.Reader
	status int
}

func (c *pipelinedConn) Write(p []byte) (int, error) {
	if c.head != "" {
		b := append([]byte(c.head), p...)
		c.head = ""
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *pipelinedConn) Read(p []byte) (int, error) {
	if c.br == nil {
		c.br = bufio.NewReader(c.Conn)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return 0, err
		}
		c.status = resp.StatusCode
	}
	return c.br.Read(p)
}

// TestHandshakeSentWithConnect: a client that sends its TLS ClientHello
// right behind the CONNECT head, without waiting for the 200, is
// served: the inspector reads the bytes the proxy had buffered first.
func TestHandshakeSentWithConnect(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	port, _ := protoOrigin(t, ca)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	raw, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	pc := &pipelinedConn{Conn: raw, head: "CONNECT inspected.test:" + port + " HTTP/1.1\r\nHost: inspected.test:" + port + "\r\n\r\n"}
	tc := tls.Client(pc, &tls.Config{ServerName: "inspected.test", RootCAs: r.caPool, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if pc.status != 200 {
		t.Fatalf("CONNECT answered %d", pc.status)
	}
	fmt.Fprintf(tc, "GET /early HTTP/1.1\r\nHost: inspected.test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); !strings.Contains(body, "/early") {
		t.Errorf("got %q", body)
	}
}

// TestNotTLSPassesThrough: a tunnel to a listed host that does not start
// with a TLS handshake is relayed blind, whether the client speaks first
// (plain HTTP, an echo) or the server does (a banner).
func TestNotTLSPassesThrough(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "banner\n")
				io.Copy(c, c)
			}()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}}, newTestCA(t, "origin CA"))
	for _, clientFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("client first %v", clientFirst), func(t *testing.T) {
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "CONNECT inspected.test:%s HTTP/1.1\r\nHost: inspected.test:%s\r\n\r\n", port, port)
			br := bufio.NewReader(c)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %v", err)
			}
			if clientFirst {
				io.WriteString(c, "hello\n")
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if line, err := br.ReadString('\n'); line != "banner\n" {
				t.Fatalf("got %q, %v", line, err)
			}
			if !clientFirst {
				io.WriteString(c, "hello\n")
			}
			if line, err := br.ReadString('\n'); line != "hello\n" {
				t.Fatalf("echo %q, %v", line, err)
			}
		})
	}
	if n := r.in.LeavesMade(); n != 0 {
		t.Errorf("%d leaves made for tunnels that were not TLS", n)
	}
}

// TestRequestPassesAsSent: the origin gets the client's forwarding
// fields as sent and none added.
func TestRequestPassesAsSent(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%q fwd=%q", r.Header.Values("X-Forwarded-For"), r.Header.Values("Forwarded"))
	}))
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true}, ca)
	u := "https://inspected.test:" + portOf(t, o) + "/"
	for _, tc := range []struct{ xff, want string }{
		{"", `xff=[] fwd=[]`},
		{"10.1.2.3", `xff=["10.1.2.3"] fwd=[]`},
	} {
		req, _ := http.NewRequest("GET", u, nil)
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		resp, err := r.client(t, true, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != tc.want {
			t.Errorf("sent X-Forwarded-For %q: origin saw %s, want %s", tc.xff, got, tc.want)
		}
	}
}

// TestStalledOriginIsCut: an origin that stops sending mid-body is cut
// after body_timeout; the client's response ends short and the record
// says the upstream stalled. A client that reads slowly is not.
func TestStalledOriginIsCut(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	release := make(chan struct{})
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "12345")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/stall" {
			<-release
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		io.WriteString(w, "67890")
	}))
	defer close(release)
	r := startRig(t, Config{Hosts: []string{"inspected.test"}, HTTP2: true, BodyTimeout: 300 * time.Millisecond}, ca)
	c := r.client(t, true, nil)
	resp, err := c.Get("https://inspected.test:" + portOf(t, o) + "/stall")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || string(b) != "12345" {
		t.Errorf("client got %q, %v; want the first half and an error", b, err)
	}
	waitFor(t, "the record", func() bool { return len(r.access.inspected()) == 1 })
	if rec := r.access.inspected()[0]; rec.Err.String() != "upstream_timeout" {
		t.Errorf("record %+v, want upstream_timeout", rec)
	}
	// Slow but moving, and a client that takes its time: both fine.
	resp, err = c.Get("https://inspected.test:" + portOf(t, o) + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if b := readAll(t, resp); b != "1234567890" {
		t.Errorf("slow: %q", b)
	}
}
