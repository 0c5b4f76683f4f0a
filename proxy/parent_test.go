package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the upstream-proxy path (parent.go) against a parent written
// here in Go: a forward proxy on loopback, plain or over TLS, that
// records what it was asked. squid and the SOCKS5 servers are in
// parent_squid_test.go and parent_socks_test.go.

// routerFunc is a Router with fixed decisions.
type routerFunc func(host, port []byte) Route

func (f routerFunc) Route(host, port []byte) Route { return f(host, port) }

// via routes everything through up.
func via(up *Upstream) Router {
	return routerFunc(func(_, _ []byte) Route { return Route{Upstream: up, Rule: -1} })
}

// testUpstream makes the Upstream for a proxy URL, as package route
// would, and records what its Report hears.
func testUpstream(t testing.TB, name, raw string) (*Upstream, *reports) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	up := &Upstream{Name: name, Scheme: u.Scheme, Addr: u.Host}
	if u.User != nil {
		up.Username = u.User.Username()
		up.Password, _ = u.User.Password()
		up.ProxyAuthorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(up.Username+":"+up.Password))
	}
	r := &reports{}
	up.Report = r.report
	return up, r
}

// reports counts an upstream's Report calls.
type reports struct {
	ok, failed atomic.Int64
	lastRTT    atomic.Int64
}

func (r *reports) report(ok bool, rtt time.Duration) {
	if ok {
		r.ok.Add(1)
		r.lastRTT.Store(int64(rtt))
	} else {
		r.failed.Add(1)
	}
}

// goParent is a forward proxy on loopback: absolute-form requests are
// relayed with net/http, CONNECT is spliced. It records each request's
// line and Proxy-Authorization, and refuses with 407 when auth is set and
// not sent.
type goParent struct {
	*httptest.Server
	auth string
	tr   *http.Transport
	mu   sync.Mutex
	seen []string // "METHOD target|Proxy-Authorization values"
}

func startGoParent(t *testing.T, tlsToo bool, auth string) *goParent {
	t.Helper()
	gp := &goParent{auth: auth, tr: &http.Transport{Proxy: nil}}
	gp.Server = httptest.NewUnstartedServer(gp)
	gp.Config.ErrorLog = discardLog()
	if tlsToo {
		gp.StartTLS()
	} else {
		gp.Start()
	}
	t.Cleanup(func() {
		gp.Close()
		gp.tr.CloseIdleConnections()
	})
	return gp
}

func (gp *goParent) requests() []string {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	return append([]string(nil), gp.seen...)
}

func (gp *goParent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gp.mu.Lock()
	// Every value: the client's own Proxy-Authorization must not be
	// among them.
	gp.seen = append(gp.seen, r.Method+" "+r.RequestURI+"|"+strings.Join(r.Header.Values("Proxy-Authorization"), ","))
	gp.mu.Unlock()
	if gp.auth != "" && r.Header.Get("Proxy-Authorization") != gp.auth {
		w.Header().Set("Proxy-Authenticate", `Basic realm="goParent"`)
		w.WriteHeader(http.StatusProxyAuthRequired)
		return
	}
	if r.Method == "CONNECT" {
		dst, err := net.DialTimeout("tcp", r.Host, patience)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			dst.Close()
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() {
			io.Copy(dst, brw)
			dst.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, dst)
		c.Close()
		dst.Close()
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request: "+r.RequestURI, http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	resp, err := gp.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// hello is an origin answering "hello <path>".
func startHello(t *testing.T) *origin {
	return startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}))
}

// proxyStatusNextHop returns the next-hop parameter of Proxy-Status.
func proxyStatusNextHop(resp *http.Response) string {
	ps := resp.Header.Get("Proxy-Status")
	i := strings.Index(ps, "next-hop=")
	if i < 0 {
		return ""
	}
	v, err := strconv.QuotedPrefix(ps[i+len("next-hop="):])
	if err != nil {
		return ""
	}
	s, _ := strconv.Unquote(v)
	return s
}

func TestParentHTTPAbsoluteFormAndPool(t *testing.T) {
	o := startHello(t)
	gp := startGoParent(t, false, "Basic dXNlcjpwYXNz")
	up, rep := testUpstream(t, "corp", "http://user:pass@"+gp.Listener.Addr().String())
	log := &accessLog{}
	p := startProxy(t, Config{Router: via(up), Access: log})
	rc := dialRaw(t, p.addr)
	for i := range 3 {
		path := "/r" + strconv.Itoa(i)
		// The client's own Proxy-Authorization is for Sluice: it must not
		// reach the parent, which gets Sluice's.
		rc.send("GET http://" + o.hostPort() + path + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nProxy-Authorization: Basic Y2xpZW50OnNlY3JldA==\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "hello "+path {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	want := "GET http://" + o.hostPort() + "/r1|Basic dXNlcjpwYXNz"
	if got := gp.requests(); len(got) != 3 || got[1] != want {
		t.Fatalf("the parent saw %q, want 3 requests like %q", got, want)
	}
	// Three requests over one conn to the parent: two reused.
	if s := p.srv.Stats().Snapshot(); s.Upstream.Reused != 2 || s.Upstream.Dialed != 1 {
		t.Errorf("upstream conns: %d reused, %d dialed; want 2 and 1", s.Upstream.Reused, s.Upstream.Dialed)
	}
	if rep.ok.Load() != 3 || rep.failed.Load() != 0 || rep.lastRTT.Load() <= 0 {
		t.Errorf("Report: %d ok, %d failed, last rtt %v; want 3 ok with a round trip", rep.ok.Load(), rep.failed.Load(), time.Duration(rep.lastRTT.Load()))
	}
	waitFor(t, "the access records", func() bool { return len(log.records()) == 3 })
	if r := log.records()[0]; r.Upstream != "corp" {
		t.Errorf("access record Upstream %q, want corp", r.Upstream)
	}
	if up.Requests.Load() != 3 || up.Errors.Load() != 0 || up.BytesOut.Load() != int64(3*len("hello /r0")) {
		t.Errorf("counters: %d requests, %d errors, %d bytes out", up.Requests.Load(), up.Errors.Load(), up.BytesOut.Load())
	}
}

func TestParentHTTPConnectAndUpgrade(t *testing.T) {
	tlsOrigin := startTLSOrigin(t, false)
	ws := startEchoWS(t)
	gp := startGoParent(t, false, "")
	up, rep := testUpstream(t, "corp", "http://"+gp.Listener.Addr().String())
	p := startProxy(t, Config{Router: via(up)})

	// CONNECT: the client's TLS goes through Sluice and the parent.
	c := p.client(t)
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: certPool(tlsOrigin.Certificate())}
	resp, body := mustGet(t, c, tlsOrigin.URL+"/secure")
	if resp.StatusCode != 200 || body == "" {
		t.Fatalf("through CONNECT: %d %q", resp.StatusCode, body)
	}

	// An Upgrade goes through CONNECT too, then in origin form.
	rc := dialRaw(t, p.addr)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	rc.send("GET ws://" + ws.hostPort() + "/echo HTTP/1.1\r\nHost: " + ws.hostPort() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, _ = rc.response("GET")
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		t.Fatalf("upgrade through the parent: %d %v", resp.StatusCode, resp.Header)
	}
	writeWSFrame(t, rc, 0x1, []byte("through the parent"))
	if op, got := readWSFrame(t, rc); op != 1 || string(got) != "through the parent" {
		t.Fatalf("echo: %d %q", op, got)
	}
	seen := gp.requests()
	if len(seen) != 2 || seen[0] != "CONNECT "+tlsOrigin.Listener.Addr().String()+"|" || seen[1] != "CONNECT "+ws.hostPort()+"|" {
		t.Errorf("the parent saw %q, want two CONNECTs", seen)
	}
	if rep.ok.Load() != 2 {
		t.Errorf("Report ok %d, want 2", rep.ok.Load())
	}
}

func certPool(cert *x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestParentHTTPS(t *testing.T) {
	o := startHello(t)
	tlsOrigin := startTLSOrigin(t, false)
	gp := startGoParent(t, true, "Basic dXNlcjpwYXNz")
	// httptest's certificate is for 127.0.0.1 and example.com.
	up, rep := testUpstream(t, "secure", "https://user:pass@"+gp.Listener.Addr().String())

	t.Run("unknown certificate", func(t *testing.T) {
		p := startProxy(t, Config{Router: via(up)})
		rc := dialRaw(t, p.addr)
		rc.send("GET http://" + o.hostPort() + "/a HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		resp, body := rc.response("GET")
		reason := checkError(t, resp, body, 502)
		if !strings.Contains(reason, "upstream proxy secure ("+up.Addr+"): TLS handshake: ") || !strings.Contains(reason, "certificate") {
			t.Errorf("reason %q", reason)
		}
		if got := proxyStatusNextHop(resp); got != "secure" {
			t.Errorf("Proxy-Status next-hop %q, want secure (%s)", got, resp.Header.Get("Proxy-Status"))
		}
		if rep.failed.Load() != 1 {
			t.Errorf("Report(false) %d times, want 1", rep.failed.Load())
		}
	})
	t.Run("trusted", func(t *testing.T) {
		p := startProxy(t, Config{Router: via(up), UpstreamRootCAs: certPool(gp.Certificate())})
		c := p.client(t)
		resp, body := mustGet(t, c, o.URL+"/plain")
		if resp.StatusCode != 200 || body != "hello /plain" {
			t.Fatalf("through the https parent: %d %q", resp.StatusCode, body)
		}
		c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: certPool(tlsOrigin.Certificate())}
		resp, _ = mustGet(t, c, tlsOrigin.URL+"/tunnel")
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT through the https parent: %d", resp.StatusCode)
		}
		seen := gp.requests()
		want := []string{"GET " + o.URL + "/plain|Basic dXNlcjpwYXNz", "CONNECT " + tlsOrigin.Listener.Addr().String() + "|Basic dXNlcjpwYXNz"}
		if len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
			t.Errorf("the parent saw %q, want %q", seen, want)
		}
	})
}

func TestParentErrors(t *testing.T) {
	o := startHello(t)
	dead := freeLoopbackAddr(t)

	// A parent that refuses every CONNECT with 403, and answers 407.
	refusing := startRawOrigin(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Header.Get("Proxy-Authorization") == "" {
				io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			} else {
				io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
			}
		}
	})

	cases := []struct {
		name, url, method string
		code              int
		reason            string
		failed            int64 // Report(false) calls
	}{
		{"unreachable", "http://" + dead, "GET", 502, "upstream proxy p (" + dead + "): connection refused", 1},
		{"unreachable CONNECT", "http://" + dead, "CONNECT", 502, "upstream proxy p (" + dead + "): connection refused", 1},
		{"unreachable SOCKS5", "socks5h://" + dead, "GET", 502, "upstream proxy p (" + dead + "): connection refused", 1},
		{"unknown scheme", "ftp://" + dead, "CONNECT", 502, "upstream proxy p (" + dead + "): scheme \"ftp\" is not http, https, socks5 or socks5h", 1},
		{"CONNECT refused", "http://" + refusing.addr, "CONNECT", 502, "upstream proxy p (" + refusing.addr + ") answered CONNECT " + o.hostPort() + " with 403 Forbidden", 0},
		{"credentials refused on CONNECT", "http://u:wrong@" + refusing.addr, "CONNECT", 502, "upstream proxy p (" + refusing.addr + ") refused Sluice's credentials (407 Proxy Authentication Required): check the user and password in its url", 1},
		{"credentials refused", "http://u:wrong@" + refusing.addr, "GET", 502, "upstream proxy p (" + refusing.addr + ") refused Sluice's credentials (407 Proxy Authentication Required): check the user and password in its url", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, rep := testUpstream(t, "p", c.url)
			p := startProxy(t, Config{Router: via(up)})
			rc := dialRaw(t, p.addr)
			if c.method == "CONNECT" {
				rc.send("CONNECT " + o.hostPort() + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			} else {
				rc.send("GET http://" + o.hostPort() + "/a HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			}
			resp, body := rc.response(c.method)
			if reason := checkError(t, resp, body, c.code); reason != "sluice: "+c.reason+"\n" {
				t.Errorf("reason %q, want %q", reason, c.reason)
			}
			if got := proxyStatusNextHop(resp); got != "p" {
				t.Errorf("Proxy-Status %q does not name next-hop p", resp.Header.Get("Proxy-Status"))
			}
			if rep.failed.Load() != c.failed || up.Errors.Load() != c.failed {
				t.Errorf("Report(false) %d times, Errors %d; want %d", rep.failed.Load(), up.Errors.Load(), c.failed)
			}
			if c.failed == 0 && rep.ok.Load() != 1 {
				t.Errorf("a parent that answered: Report(true) %d times, want 1", rep.ok.Load())
			}
			waitFor(t, "the request counted", func() bool { return up.Requests.Load() == 1 })
		})
	}
}

func TestRouteBlockAndDown(t *testing.T) {
	o := startHello(t)
	router := routerFunc(func(host, port []byte) Route {
		switch string(host) {
		case "ads.example":
			return Route{Block: "blocked by rule 3 (domain-keyword:ads)", Rule: 3}
		case "work.example":
			return Route{Down: "work", Rule: 4}
		}
		return Route{Rule: -1}
	})
	log := &accessLog{}
	p := startProxy(t, Config{Router: router, Access: log})
	rc := dialRaw(t, p.addr)
	rc.send("GET http://ads.example/x HTTP/1.1\r\nHost: ads.example\r\n\r\n")
	resp, body := rc.response("GET")
	if reason := checkError(t, resp, body, 403); reason != "sluice: blocked by rule 3 (domain-keyword:ads)\n" {
		t.Errorf("block reason %q", reason)
	}
	// The connection stays for the next request, which goes direct.
	rc.send("GET http://" + o.hostPort() + "/direct HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hello /direct" {
		t.Fatalf("direct after a block: %d %q", resp.StatusCode, body)
	}
	rc.send("POST http://work.example/x HTTP/1.1\r\nHost: work.example\r\nContent-Length: 5\r\n\r\nhello")
	resp, body = rc.response("POST")
	if reason := checkError(t, resp, body, 502); reason != "sluice: every upstream of group work is down\n" {
		t.Errorf("down reason %q", reason)
	}
	if got := proxyStatusNextHop(resp); got != "work" {
		t.Errorf("Proxy-Status %q, want next-hop work (the group)", resp.Header.Get("Proxy-Status"))
	}

	for host, code := range map[string]int{"ads.example": 403, "work.example": 502} {
		rc := dialRaw(t, p.addr)
		rc.send("CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\n\r\n")
		resp, body := rc.response("CONNECT")
		checkError(t, resp, body, code)
		rc.expectClosed()
	}
	waitFor(t, "access records", func() bool { return len(log.records()) == 5 })
	for _, r := range log.records() {
		if r.Upstream != "" {
			t.Errorf("record %s %s: Upstream %q, want direct", r.Method, r.Host, r.Upstream)
		}
	}
}

// TestParentFailover: a parent that cannot be reached is reported down,
// and the request takes the router's next choice at once, with no error
// for the client; a parent that fails after the request was sent is not
// replaced within the request.
func TestParentFailover(t *testing.T) {
	o := startHello(t)
	dead := freeLoopbackAddr(t)
	gp := startGoParent(t, false, "")
	first, firstRep := testUpstream(t, "first", "http://"+dead)
	second, _ := testUpstream(t, "second", "http://"+gp.Listener.Addr().String())
	// A failover group as package route keeps it: the first member until
	// a Report(false) marks it down.
	var down atomic.Bool
	first.Report = func(ok bool, rtt time.Duration) {
		firstRep.report(ok, rtt)
		down.Store(!ok)
	}
	router := routerFunc(func(_, _ []byte) Route {
		if down.Load() {
			return Route{Upstream: second}
		}
		return Route{Upstream: first}
	})
	log := &accessLog{}
	p := startProxy(t, Config{Router: router, Access: log})
	for _, method := range []string{"GET", "POST", "CONNECT"} {
		down.Store(false)
		rc := dialRaw(t, p.addr)
		switch method {
		case "CONNECT":
			rc.send("CONNECT " + o.hostPort() + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			rc.send("GET /tunnelled HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		case "POST":
			rc.send("POST http://" + o.hostPort() + "/posted HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nContent-Length: 3\r\n\r\nabc")
		default:
			rc.send("GET http://" + o.hostPort() + "/got HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		}
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "hello /") {
			t.Fatalf("%s: %d %q", method, resp.StatusCode, body)
		}
	}
	if firstRep.failed.Load() != 3 || first.Errors.Load() != 3 || first.Requests.Load() != 3 {
		t.Errorf("first: %d Report(false), %d errors, %d requests; want 3 each", firstRep.failed.Load(), first.Errors.Load(), first.Requests.Load())
	}
	waitFor(t, "records", func() bool { return len(log.records()) >= 2 })
	for _, r := range log.records() {
		if r.Upstream != "second" {
			t.Errorf("%s went through %q, want second", r.Method, r.Upstream)
		}
	}
}

// TestParentRetry: a pooled conn to the parent that the parent closed is
// retried once, fresh, for an idempotent request, as for an origin.
func TestParentRetry(t *testing.T) {
	var conns atomic.Int64
	parent := startRawOrigin(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(req.RequestURI))+"\r\n\r\n"+req.RequestURI)
		if n == 1 {
			// Keep the conn open a moment, then close it as the next
			// request may be on its way: the stale-pool race.
			br.Peek(1)
		}
	})
	up, rep := testUpstream(t, "p", "http://"+parent.addr)
	p := startProxy(t, Config{Router: via(up)})
	for i, want := range []int{200, 200} {
		rc := dialRaw(t, p.addr)
		rc.send("GET http://example.test/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: example.test\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != want || body != "http://example.test/"+strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if conns.Load() != 2 {
		t.Errorf("the parent had %d conns, want 2: the pooled one, then the retry's", conns.Load())
	}
	if rep.failed.Load() != 0 {
		t.Errorf("a retried stale conn reported the parent down %d times", rep.failed.Load())
	}
}

// BenchmarkProxyKeepAliveParent is BenchmarkProxyKeepAlive through an
// http parent: the same raw server answers the absolute-form requests.
func BenchmarkProxyKeepAliveParent(b *testing.B) {
	o := startFastOrigin(b)
	up := &Upstream{Name: "p", Scheme: "http", Addr: o.addr, ProxyAuthorization: "Basic dTpw"}
	p := startProxy(b, Config{Router: via(up)})
	k := newKeepAliveClient(b, p.addr, "http://example.test/bench", "example.test")
	if err := k.roundTrip(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParentSOCKS5RemoteDestination: for a socks5 parent Sluice resolves
// the name, so a client on another machine is refused a name that
// resolves to this machine, as for a direct dial, before the parent is
// asked (here it could not even be reached).
func TestParentSOCKS5RemoteDestination(t *testing.T) {
	up, rep := testUpstream(t, "s", "socks5://"+freeLoopbackAddr(t))
	resolve := func(_ context.Context, host string) ([]netip.Addr, bool, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, false, nil
	}
	p := serveRemote(t, Config{Router: via(up), Resolve: resolve, Clients: ClientPolicy{Allow: []netip.Prefix{testNet}}}, remoteClient)
	rc := dialRaw(t, p.addr)
	rc.send("CONNECT rebound.test:443 HTTP/1.1\r\nHost: rebound.test:443\r\n\r\n")
	resp, body := rc.response("CONNECT")
	if reason := checkError(t, resp, body, 403); !strings.Contains(reason, "rebound.test:443 (127.0.0.1) is a loopback address") {
		t.Errorf("reason %q", reason)
	}
	if rep.ok.Load()+rep.failed.Load() != 0 {
		t.Error("the parent was asked")
	}
}

// freeLoopbackAddr is a loopback address nothing listens on.
func freeLoopbackAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestParentSilent: a parent that takes a request and never answers gets
// a 504 naming it, and is reported down; one that takes a CONNECT and
// never answers, the same within the handshake's bound.
func TestParentSilent(t *testing.T) {
	silent := startRawOrigin(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	up, rep := testUpstream(t, "mute", "http://"+silent.addr)
	p := startProxy(t, Config{Router: via(up), ResponseHeaderTimeout: 200 * time.Millisecond, ConnectTimeout: 200 * time.Millisecond})
	for _, method := range []string{"GET", "CONNECT"} {
		rc := dialRaw(t, p.addr)
		if method == "CONNECT" {
			rc.send("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
		} else {
			rc.send("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
		}
		resp, body := rc.response(method)
		want := map[string]string{
			"GET":     "sluice: no response from upstream proxy mute (" + silent.addr + ") within response_header_timeout\n",
			"CONNECT": "sluice: upstream proxy mute (" + silent.addr + "): CONNECT: no answer within connect_timeout + response_header_timeout\n",
		}[method]
		if reason := checkError(t, resp, body, 504); reason != want {
			t.Errorf("%s: %q, want %q", method, reason, want)
		}
		if proxyStatusNextHop(resp) != "mute" {
			t.Errorf("%s: Proxy-Status %q", method, resp.Header.Get("Proxy-Status"))
		}
	}
	if rep.failed.Load() != 2 || up.Errors.Load() != 2 {
		t.Errorf("Report(false) %d times, Errors %d; want 2", rep.failed.Load(), up.Errors.Load())
	}
}

// TestParentBytesWithTheAnswer: a destination that speaks first (SSH,
// SMTP) may have its first bytes arrive with the parent's 200 to
// CONNECT: a tunnel gets them first. Before an HTTP request over such a
// tunnel (an Upgrade) they cannot be an answer, and are refused.
func TestParentBytesWithTheAnswer(t *testing.T) {
	const greeting = "SSH-2.0-OpenSSH_9.2\r\n"
	parent := startRawOrigin(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"+greeting)
		io.Copy(io.Discard, c)
	})
	up, _ := testUpstream(t, "p", "http://"+parent.addr)
	p := startProxy(t, Config{Router: via(up)})

	rc := dialRaw(t, p.addr)
	rc.send("CONNECT ssh.example:22 HTTP/1.1\r\nHost: ssh.example:22\r\n\r\n")
	if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	got := make([]byte, len(greeting))
	if _, err := io.ReadFull(rc.br, got); err != nil || string(got) != greeting {
		t.Fatalf("the tunnel's first bytes: %q, %v; want %q", got, err, greeting)
	}

	rc = dialRaw(t, p.addr)
	rc.send("GET http://ws.example/ HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, body := rc.response("GET")
	if reason := checkError(t, resp, body, 502); reason != "sluice: upstream proxy p ("+parent.addr+"): the destination ws.example:80 sent bytes before the request\n" {
		t.Errorf("reason %q", reason)
	}
}

// TestParentIsSluice: an upstream whose address is Sluice's own is a
// loop, refused with 508 rather than relayed to itself.
func TestParentIsSluice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, _ := testUpstream(t, "self", "http://"+ln.Addr().String())
	p := serveProxy(t, Config{Router: via(up)}, ln)
	rc := dialRaw(t, p.addr)
	rc.send("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
	resp, body := rc.response("GET")
	if reason := checkError(t, resp, body, 508); reason != "sluice: upstream proxy self ("+p.addr+"): its address is Sluice itself\n" {
		t.Errorf("reason %q", reason)
	}
}

// TestParent407BeforeTheBody: a parent that refuses Sluice's credentials
// right after a POST's head, without reading its body, gets the client a
// 502 that says so while the body is still arriving, not a stall.
func TestParent407BeforeTheBody(t *testing.T) {
	done := make(chan struct{})
	parent := startRawOrigin(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
		<-done // and read nothing more
	})
	t.Cleanup(func() { close(done) })
	up, rep := testUpstream(t, "corp", "http://u:wrong@"+parent.addr)
	p := startProxy(t, Config{Router: via(up)})
	rc := dialRaw(t, p.addr)
	const size = 32 << 20 // far more than the sockets buffer
	rc.send("POST http://example.test/upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n")
	go io.Copy(rc.c, io.LimitReader(prngBody(1, size), size))
	resp, body := rc.response("POST")
	want := "sluice: upstream proxy corp (" + parent.addr + ") refused Sluice's credentials (407 Proxy Authentication Required): check the user and password in its url\n"
	if reason := checkError(t, resp, body, 502); reason != want {
		t.Errorf("reason %q, want %q", reason, want)
	}
	if !resp.Close {
		t.Error("the connection with the body still arriving is kept")
	}
	if rep.failed.Load() != 1 {
		t.Errorf("Report(false) %d times, want 1", rep.failed.Load())
	}
}
