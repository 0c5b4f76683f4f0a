package inspect

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sluiceproxy/sluice/proxy"
)

// connectParent is an upstream HTTP proxy that only tunnels: it answers
// each CONNECT with 200 and splices to 127.0.0.1 at the asked port, and
// keeps the targets it was asked for.
type connectParent struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func startConnectParent(t *testing.T) *connectParent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &connectParent{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *connectParent) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, req.Host)
	p.mu.Unlock()
	_, port, _ := net.SplitHostPort(req.Host)
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, up)
}

func (p *connectParent) targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

type routeFunc func(host, port []byte) proxy.Route

func (f routeFunc) Route(host, port []byte) proxy.Route { return f(host, port) }

// TestInspectionFollowsRoutes: a decrypted exchange with a host the
// router sends through an upstream proxy goes through that proxy (a
// CONNECT to it carries the TLS to the origin), and a blocked host is
// refused before anything is decrypted.
func TestInspectionFollowsRoutes(t *testing.T) {
	ca := newTestCA(t, "origin CA")
	o := startOrigin(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "origin "+r.URL.Path)
	}))
	parent := startConnectParent(t)
	up := &proxy.Upstream{Name: "corp", Scheme: "http", Addr: parent.addr}
	router := routeFunc(func(host, port []byte) proxy.Route {
		if string(host) == "other.test" {
			return proxy.Route{Block: "blocked by rule 1", Rule: 0}
		}
		return proxy.Route{Upstream: up, Rule: -1}
	})
	r := startRoutedRig(t, Config{Hosts: []string{"inspected.test", "other.test"}, HTTP2: true}, ca, router)
	c := r.client(t, true, nil)
	resp, err := c.Get("https://inspected.test:" + portOf(t, o) + "/via-corp")
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, resp); b != "origin /via-corp" {
		t.Fatalf("through inspection and the parent: %q", b)
	}
	if seen := parent.targets(); len(seen) != 1 || seen[0] != "inspected.test:"+portOf(t, o) {
		t.Errorf("the parent was asked for %q, want one CONNECT inspected.test:%s", seen, portOf(t, o))
	}
	if up.Requests.Load() == 0 {
		t.Error("the upstream counted no request")
	}
	_, err = c.Get("https://other.test:" + portOf(t, o) + "/blocked")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("a blocked host through inspection: %v, want the CONNECT refused with 403", err)
	}
}
