package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// The [access] rules. The sandbox has only loopback, so a client from
// another machine is a real loopback connection whose listener reports a
// TEST-NET address (remoteListener), and an upstream on another machine
// is a real loopback connection that reports one (testNetDial).

var (
	remoteClient = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}
	testNet      = netip.MustParsePrefix("192.0.2.0/24")
)

// serveRemote runs a Sluice for cfg on loopback whose clients all look
// as if they came from addr.
func serveRemote(t *testing.T, cfg Config, addr net.Addr) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, cfg, remoteListener{ln, addr})
}

// originName is how the tests name an origin on another machine: the
// dial of testNetDial takes it to the loopback origin behind it.
const originName = "origin.test:80"

// testNetDial returns a DialFunc that takes originName to origin and
// makes every connection report a TEST-NET address as its remote end, so
// the proxy takes the upstream for one on another machine.
func testNetDial(origin string) DialFunc {
	names := mapDial(map[string]string{originName: origin})
	return func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		c, _, err := names(ctx, network, addr)
		if err != nil {
			return nil, false, err
		}
		return remoteConn{c, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 20), Port: 80}}, false, nil
	}
}

// mapDial dials names[addr] in place of addr, as a resolver answering
// with those addresses would.
func mapDial(names map[string]string) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		if to, ok := names[addr]; ok {
			addr = to
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		return c, false, err
	}
}

// checkKind waits for the last access record to carry kind and code.
func checkKind(t *testing.T, log *accessLog, code int, kind stats.ErrKind) {
	t.Helper()
	waitFor(t, fmt.Sprintf("an access record with %d %v", code, kind), func() bool {
		recs := log.records()
		return len(recs) > 0 && recs[len(recs)-1].Status == code && recs[len(recs)-1].Err == kind
	})
}

// TestAccessAllow checks [access] allow: by default a client from
// another machine gets 403 for an HTTP request and a closed connection
// for anything else; a client in an allowed range (written as IPv4 or as
// IPv4-mapped IPv6, arriving either way) is served.
func TestAccessAllow(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("relayed")) }))
	dial := testNetDial(o.hostPort())
	get := "GET http://" + originName + "/ HTTP/1.1\r\nHost: " + originName + "\r\n\r\n"

	t.Run("outside, HTTP", func(t *testing.T) {
		log := &accessLog{}
		p := serveRemote(t, Config{Access: log, Dial: dial}, remoteClient)
		for _, req := range []string{get, "CONNECT " + originName + " HTTP/1.1\r\nHost: " + originName + "\r\n\r\n"} {
			rc := dialRaw(t, p.addr)
			rc.send(req)
			resp, body := rc.response("GET")
			if reason := checkError(t, resp, body, http.StatusForbidden); !strings.Contains(reason, "192.0.2.10") || !strings.Contains(reason, "[access] allow") {
				t.Errorf("reason %q names neither the client nor [access] allow", reason)
			}
			rc.expectClosed()
			checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
		}
		if n := o.accepted.Load(); n != 0 {
			t.Errorf("the origin got %d connections for a client that is not allowed", n)
		}
	})
	t.Run("outside, not HTTP", func(t *testing.T) {
		p := serveRemote(t, Config{}, remoteClient)
		rc := dialRaw(t, p.addr)
		rc.send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n")
		rc.expectClosed() // no bytes at all: not even a 400
	})
	for _, tc := range []struct {
		name   string
		allow  string
		client net.Addr
	}{
		{"IPv4 range", "192.0.2.0/24", remoteClient},
		{"IPv4 range, mapped client", "192.0.2.0/24", &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.10"), Port: 40000}},
		{"mapped range", "::ffff:192.0.2.0/120", remoteClient},
		{"IPv6 range", "2001:db8::/32", &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40000}},
	} {
		t.Run("inside, "+tc.name, func(t *testing.T) {
			cfg := Config{Clients: ClientPolicy{Allow: []netip.Prefix{netip.MustParsePrefix(tc.allow)}}, Dial: dial}
			p := serveRemote(t, cfg, tc.client)
			rc := dialRaw(t, p.addr)
			rc.send(get)
			if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "relayed" {
				t.Fatalf("allowed client: %d %q", resp.StatusCode, body)
			}
		})
	}
	t.Run("loopback not in allow", func(t *testing.T) {
		p := startProxy(t, Config{Clients: ClientPolicy{Allow: []netip.Prefix{testNet}}})
		rc := dialRaw(t, p.addr)
		rc.send(get)
		resp, body := rc.response("GET")
		checkError(t, resp, body, http.StatusForbidden)
	})
}

// hashFor returns a bcrypt hash of password at the lowest cost, so the
// tests stay fast.
func hashFor(t testing.TB, password string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestAccessUsers checks [access.users]: a proxied request or tunnel
// without the right Basic credentials gets 407 with a Basic challenge,
// and the connection stays for the retry; with them it is served, by a
// raw client, curl and Go's Transport, and the origin never sees them.
func TestAccessUsers(t *testing.T) {
	var sawAuth atomic.Int64
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			sawAuth.Add(1)
		}
		w.Write([]byte("relayed"))
	}))
	log := &accessLog{}
	users := map[string]string{"alice": hashFor(t, "wonder land"), "bob": hashFor(t, "builder")}
	p := startProxy(t, Config{Access: log, Clients: ClientPolicy{Users: users}})
	get := func(auth string) string {
		return "GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n" + auth + "\r\n"
	}

	rc := dialRaw(t, p.addr)
	for _, tc := range []struct{ name, field, reason string }{
		{"no credentials", "", "Proxy-Authorization"},
		{"wrong password", "Proxy-Authorization: " + basic("alice", "wonderland") + "\r\n", "wrong user name or password"},
		{"another user's password", "Proxy-Authorization: " + basic("bob", "wonder land") + "\r\n", "wrong user name or password"},
		{"unknown user", "Proxy-Authorization: " + basic("mallory", "wonder land") + "\r\n", "wrong user name or password"},
		{"not base64", "Proxy-Authorization: Basic !!!\r\n", "wrong user name or password"},
		{"other scheme", "Proxy-Authorization: Bearer abc\r\n", "Basic scheme"},
	} {
		rc.send(get(tc.field))
		resp, body := rc.response("GET")
		if reason := checkError(t, resp, body, http.StatusProxyAuthRequired); !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: reason %q does not mention %q", tc.name, reason, tc.reason)
		}
		if got := resp.Header.Get("Proxy-Authenticate"); !strings.HasPrefix(got, `Basic realm="Sluice"`) {
			t.Errorf("%s: Proxy-Authenticate %q", tc.name, got)
		}
		if ps := resp.Header.Get("Proxy-Status"); !strings.Contains(ps, "http_request_denied") {
			t.Errorf("%s: Proxy-Status %q", tc.name, ps)
		}
		if resp.Close {
			t.Fatalf("%s: the connection closed after a 407 to a bodiless request", tc.name)
		}
		checkKind(t, log, http.StatusProxyAuthRequired, stats.ErrAuth)
	}
	// The retry on the same connection, as browsers do after a 407.
	rc.send(get("Proxy-Authorization: " + basic("alice", "wonder land") + "\r\n"))
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "relayed" {
		t.Fatalf("right credentials: %d %q", resp.StatusCode, body)
	}
	rc.send(get("Proxy-Authorization: basic  " + base64.StdEncoding.EncodeToString([]byte("bob:builder")) + "\r\n"))
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "relayed" {
		t.Fatalf("scheme in lower case: %d %q", resp.StatusCode, body)
	}

	t.Run("with a body", func(t *testing.T) {
		rc := dialRaw(t, p.addr)
		rc.send("POST " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nContent-Length: 5\r\n\r\nhello")
		resp, body := rc.response("POST")
		checkError(t, resp, body, http.StatusProxyAuthRequired)
		if !resp.Close {
			t.Error("no Connection: close after a 407 to a request whose body was not read")
		}
		rc.expectClosed()
	})
	t.Run("twice", func(t *testing.T) {
		rc := dialRaw(t, p.addr)
		rc.send(get("Proxy-Authorization: " + basic("alice", "wonder land") + "\r\nProxy-Authorization: " + basic("bob", "x") + "\r\n"))
		resp, body := rc.response("GET")
		checkError(t, resp, body, http.StatusBadRequest)
	})
	t.Run("curl", func(t *testing.T) {
		out, stderr, err := curl(t, p, "-x", "http://alice:wonder%20land@"+p.addr, o.URL+"/")
		if err != nil || out != "relayed" {
			t.Fatalf("curl with credentials: %v %q %s", err, out, stderr)
		}
		out, _, _ = curl(t, p, "-o", "/dev/null", "-w", "%{http_code}", o.URL+"/")
		if out != "407" {
			t.Fatalf("curl without credentials: status %q, want 407", out)
		}
	})
	t.Run("net/http", func(t *testing.T) {
		for _, tc := range []struct {
			user *url.Userinfo
			code int
		}{{url.UserPassword("alice", "wonder land"), 200}, {url.UserPassword("alice", "nope"), 407}, {nil, 407}} {
			u := *p.url
			u.User = tc.user
			tr := &http.Transport{Proxy: http.ProxyURL(&u)}
			resp, body := mustGet(t, &http.Client{Transport: tr}, o.URL+"/")
			tr.CloseIdleConnections()
			if resp.StatusCode != tc.code || tc.code == 200 && body != "relayed" {
				t.Errorf("user %v: %d %q, want %d", tc.user, resp.StatusCode, body, tc.code)
			}
		}
	})
	t.Run("CONNECT", func(t *testing.T) {
		to := startTLSOrigin(t, false)
		roots := x509.NewCertPool()
		roots.AddCert(to.Certificate())
		for _, tc := range []struct {
			user *url.Userinfo
			ok   bool
		}{{url.UserPassword("bob", "builder"), true}, {url.UserPassword("bob", "nope"), false}, {nil, false}} {
			u := *p.url
			u.User = tc.user
			tr := &http.Transport{Proxy: http.ProxyURL(&u), TLSClientConfig: &tls.Config{RootCAs: roots}}
			resp, err := (&http.Client{Transport: tr}).Get(to.URL + "/tls")
			tr.CloseIdleConnections()
			switch {
			case tc.ok && err != nil:
				t.Errorf("CONNECT as %v: %v", tc.user, err)
			case tc.ok:
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "HTTP/1.1 /tls" {
					t.Errorf("CONNECT as %v: %q", tc.user, body)
				}
			case err == nil:
				resp.Body.Close()
				t.Errorf("CONNECT as %v: %d, want a 407", tc.user, resp.StatusCode)
			case !strings.Contains(err.Error(), "Proxy Authentication Required"):
				t.Errorf("CONNECT as %v: %v, want a 407", tc.user, err)
			}
		}
		rc := dialRaw(t, p.addr)
		host := strings.TrimPrefix(to.URL, "https://")
		rc.send("CONNECT " + host + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		resp, body := rc.response("CONNECT")
		checkError(t, resp, body, http.StatusProxyAuthRequired)
		rc.send("CONNECT " + host + " HTTP/1.1\r\nHost: " + host + "\r\nProxy-Authorization: " + basic("bob", "builder") + "\r\n\r\n")
		if resp, _ := rc.response("CONNECT"); resp.StatusCode != 200 {
			t.Fatalf("CONNECT retried with credentials on the same connection: %d", resp.StatusCode)
		}
		out, stderr, err := curl(t, p, "-x", "http://bob:builder@"+p.addr, "--cacert", writeCert(t, to), to.URL+"/tls")
		if err != nil || out != "HTTP/1.1 /tls" {
			t.Fatalf("curl through CONNECT with credentials: %v %q %s", err, out, stderr)
		}
	})
	t.Run("local endpoints do not ask", func(t *testing.T) {
		rc := dialRaw(t, p.addr)
		rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "ok\n" {
			t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
		}
	})
	if n := sawAuth.Load(); n != 0 {
		t.Errorf("the origin saw Proxy-Authorization %d times", n)
	}
}

// writeCert writes a TLS origin's certificate as PEM for curl --cacert.
func writeCert(t *testing.T, o interface{ Certificate() *x509.Certificate }) string {
	t.Helper()
	b := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(o.Certificate().Raw) + "\n-----END CERTIFICATE-----\n"
	return writeTempFile(t, "origin.pem", strings.NewReader(b))
}

// TestAccessCredentialCache checks that verified credentials are kept, so
// a client does not pay bcrypt per request; that the bcrypt checks
// running at once are bounded (with every slot taken, an uncached check
// gets 503 while cached credentials still pass); and that a config
// change forgets them.
func TestAccessCredentialCache(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("relayed")) }))
	cfg := Config{Clients: ClientPolicy{Users: map[string]string{"alice": hashFor(t, "secret")}}}
	p := startProxy(t, cfg)
	get := func(rc *rawClient, pass string) (*http.Response, string) {
		rc.send("GET " + o.URL + "/ HTTP/1.1\r\nHost: " + o.hostPort() + "\r\nProxy-Authorization: " + basic("alice", pass) + "\r\n\r\n")
		return rc.response("GET")
	}
	rc := dialRaw(t, p.addr)
	if resp, _ := get(rc, "secret"); resp.StatusCode != 200 {
		t.Fatalf("right credentials: %d", resp.StatusCode)
	}
	auth := p.srv.cfg.Load().gate.auth
	for range cap(auth.slots) {
		auth.slots <- struct{}{} // every bcrypt slot busy
	}
	for range 3 {
		if resp, body := get(rc, "secret"); resp.StatusCode != 200 {
			t.Fatalf("verified credentials with no bcrypt slot free: %d %q", resp.StatusCode, body)
		}
	}
	resp, body := get(dialRaw(t, p.addr), "guess")
	checkError(t, resp, body, http.StatusServiceUnavailable)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	for range cap(auth.slots) {
		<-auth.slots
	}
	cfg.Clients.Users = map[string]string{"alice": hashFor(t, "changed")}
	if err := p.srv.Update(cfg); err != nil {
		t.Fatal(err)
	}
	resp, body = get(rc, "secret")
	checkError(t, resp, body, http.StatusProxyAuthRequired)
	if resp, _ := get(rc, "changed"); resp.StatusCode != 200 {
		t.Fatalf("the new password: %d", resp.StatusCode)
	}
}

// TestAccessRateLimit checks [access] rate_limit: past a client's burst
// it gets 429 with Retry-After, kept alive; another client address has
// its own bucket. The rate is so low that no token comes back during the
// test.
func TestAccessRateLimit(t *testing.T) {
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("relayed")) }))
	log := &accessLog{}
	cfg := Config{Access: log, Dial: testNetDial(o.hostPort()), Clients: ClientPolicy{RateLimit: 0.01, Allow: []netip.Prefix{testNet, netip.MustParsePrefix("127.0.0.0/8")}}}
	p := startProxy(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.srv.Serve(remoteListener{ln, remoteClient}) // a second client address
	get := "GET http://" + originName + "/ HTTP/1.1\r\nHost: " + originName + "\r\n\r\n"

	rc := dialRaw(t, p.addr)
	rc.send(get)
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	for _, req := range []string{get, "CONNECT " + originName + " HTTP/1.1\r\nHost: " + originName + "\r\n\r\n"} {
		rc.send(req)
		resp, body := rc.response("GET")
		if reason := checkError(t, resp, body, http.StatusTooManyRequests); !strings.Contains(reason, "rate_limit") {
			t.Errorf("reason %q does not name rate_limit", reason)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 100 {
			t.Errorf("Retry-After %q, want 1 to 100 seconds", resp.Header.Get("Retry-After"))
		}
		if resp.Close {
			t.Fatal("the connection closed after a 429 to a bodiless request")
		}
		checkKind(t, log, http.StatusTooManyRequests, stats.ErrRateLimited)
	}
	other := dialRaw(t, ln.Addr().String())
	other.send(get)
	if resp, _ := other.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("another client's first request: %d", resp.StatusCode)
	}
	// Local endpoints are not proxy traffic: a monitor is not limited.
	rc.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("/healthz past the rate limit: %d", resp.StatusCode)
	}
}

// TestRateLimitsBounded checks that the per-client buckets stay bounded
// however many addresses come, and that idle ones are forgotten.
func TestRateLimitsBounded(t *testing.T) {
	r := newRateLimits(2)
	now := time.Now()
	base := netip.MustParseAddr("2001:db8::").As16()
	for i := range 3 * maxRateClients {
		a := base
		a[14], a[15] = byte(i>>8), byte(i)
		a[13] = byte(i >> 16)
		r.take(netip.AddrFrom16(a), now)
		if len(r.clients) > maxRateClients || len(r.used) != len(r.clients) {
			t.Fatalf("%d buckets (%d last uses) after %d addresses, bound %d", len(r.clients), len(r.used), i+1, maxRateClients)
		}
	}
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 2 {
		if _, ok := r.take(a, now); !ok {
			t.Fatalf("request %d within the burst of 2 refused", i+1)
		}
	}
	if wait, ok := r.take(a, now); ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request: ok %v, wait %v; want refused, under a second", ok, wait)
	}
	r.take(a, now.Add(r.idle)) // sweeps everything else
	if len(r.clients) != 1 {
		t.Fatalf("%d buckets after every other client idled, want 1", len(r.clients))
	}
}

// TestAccessDestinations checks that a client on another machine may not
// reach this machine's own services through Sluice: addresses written in
// the request are refused before any dial, names that lead there after
// the dial (a fresh or a pooled connection, relay or CONNECT), while a
// loopback client of the same proxy reaches the same origin.
func TestAccessDestinations(t *testing.T) {
	var served atomic.Int64
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte("local service"))
	}))
	_, port, _ := net.SplitHostPort(o.hostPort())
	var dials atomic.Int64
	names := mapDial(map[string]string{"rebound.test:80": o.hostPort(), "rebound.test:443": o.hostPort(), "pooled.test:80": o.hostPort()})
	dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
		dials.Add(1)
		return names(ctx, network, addr)
	}
	log := &accessLog{}
	local := startProxy(t, Config{Access: log, Dial: dial, Clients: ClientPolicy{Allow: []netip.Prefix{testNet, netip.MustParsePrefix("127.0.0.0/8")}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go local.srv.Serve(remoteListener{ln, remoteClient})
	remote := ln.Addr().String()

	// The Dial refuses nothing, so a target not refused before the dial
	// would be reached: only loopback ones are written here.
	for _, target := range []string{
		"127.0.0.1:" + port, "127.1.2.3:" + port, "localhost:" + port, "LocalHost.:" + port, "app.localhost:" + port,
		"[::1]:" + port, "[::ffff:127.0.0.1]:" + port, "0.0.0.0:" + port, "0.1.2.3:" + port, "[::]:" + port,
		"169.254.169.254:80", "[fe80::1]:" + port,
	} {
		for _, req := range []string{
			"GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n\r\n",
			"CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n",
		} {
			rc := dialRaw(t, remote)
			rc.send(req)
			resp, body := rc.response("GET")
			if reason := checkError(t, resp, body, http.StatusForbidden); !strings.Contains(reason, "other machines") {
				t.Errorf("%s: reason %q", target, reason)
			}
			checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("%d dials for targets written as loopback or link-local addresses", n)
	}

	// A name that resolves to loopback is refused once the dial shows it.
	for _, req := range []string{
		"GET http://rebound.test/ HTTP/1.1\r\nHost: rebound.test\r\n\r\n",
		"CONNECT rebound.test:443 HTTP/1.1\r\nHost: rebound.test:443\r\n\r\n",
	} {
		rc := dialRaw(t, remote)
		rc.send(req)
		resp, body := rc.response("GET")
		if reason := checkError(t, resp, body, http.StatusForbidden); !strings.Contains(reason, "(127.0.0.1)") || !strings.Contains(reason, "loopback") {
			t.Errorf("reason %q does not name the loopback address reached", reason)
		}
	}

	// A loopback client reaches it, and leaves the conn in the pool...
	rc := dialRaw(t, local.addr)
	rc.send("GET http://127.0.0.1:" + port + "/ HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "local service" {
		t.Fatalf("loopback client, address literal: %d %q", resp.StatusCode, body)
	}
	rc.send("GET http://pooled.test/ HTTP/1.1\r\nHost: pooled.test\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "local service" {
		t.Fatalf("loopback client: %d %q", resp.StatusCode, body)
	}
	waitFor(t, "the upstream conn in the pool", func() bool { return local.srv.IdleUpstreamConns() == 2 })
	// ...which the remote client must not get either.
	before := dials.Load()
	rc = dialRaw(t, remote)
	rc.send("GET http://pooled.test/ HTTP/1.1\r\nHost: pooled.test\r\n\r\n")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusForbidden)
	if dials.Load() != before {
		t.Error("a new dial, not the pooled connection, was checked")
	}
	if n := served.Load(); n != 2 {
		t.Errorf("the local service answered %d requests, want the loopback client's 2", n)
	}
}

// TestForbiddenDest checks which destinations a client on another
// machine is refused, without dialing any of them.
func TestForbiddenDest(t *testing.T) {
	g, err := newGate(ClientPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip        string
		forbidden bool
	}{
		{"127.0.0.1", true}, {"127.255.0.9", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fe80::1%eth0", true}, {"ff02::1", true},
		{"0.0.0.0", true}, {"0.9.9.9", true}, {"::", true},
		{"192.0.2.1", false}, {"198.51.100.7", false}, {"2001:db8::1", false},
	} {
		if _, own := interfaceIPs()[netip.MustParseAddr(tc.ip)]; own && !tc.forbidden {
			continue // a test machine may use a documentation address
		}
		if got := g.forbiddenDest(netip.MustParseAddr(tc.ip)) != ""; got != tc.forbidden {
			t.Errorf("%s: forbidden %v, want %v", tc.ip, got, tc.forbidden)
		}
	}
	// This host's own addresses, whatever its interfaces are.
	for ip := range interfaceIPs() {
		if g.forbiddenDest(ip) == "" {
			t.Errorf("%v, an address of this host, is not refused", ip)
		}
	}
}

// TestLocalEndpointsHost checks the Host rule of the local endpoints: a
// page that points its own name at 127.0.0.1 (DNS rebinding) gets 421
// and never the endpoint's answer; localhost, loopback addresses and
// Sluice's listen address are served.
func TestLocalEndpointsHost(t *testing.T) {
	secret := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("counters")) })
	log := &accessLog{}
	p := startProxy(t, Config{Local: secret, Access: log})
	_, port, _ := net.SplitHostPort(p.addr)
	for _, tc := range []struct {
		head string
		code int
	}{
		{"GET /stats HTTP/1.1\r\nHost: evil.example\r\n", 421},
		{"GET /stats HTTP/1.1\r\nHost: evil.example:" + port + "\r\n", 421},
		{"GET /stats HTTP/1.1\r\nHost: localhost.evil.example\r\n", 421},
		{"GET /stats HTTP/1.1\r\nHost: 192.0.2.1:" + port + "\r\n", 421},
		{"GET /stats HTTP/1.1\r\nHost: \r\n", 421},
		{"GET /healthz HTTP/1.0\r\nHost: evil.example\r\n", 421},
		{"GET /stats HTTP/1.1\r\n", 400},
		{"GET /stats HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n", 400},
		{"GET /stats HTTP/1.1\r\nHost: localhost\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: LOCALHOST:" + port + "\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: localhost.\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: sluice.localhost\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: " + p.addr + "\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: 127.0.0.2\r\n", 200},
		{"GET /stats HTTP/1.1\r\nHost: [::1]:" + port + "\r\n", 200},
		{"GET /stats HTTP/1.0\r\n", 200},
	} {
		rc := dialRaw(t, p.addr)
		rc.send(tc.head + "\r\n")
		resp, body := rc.response("GET")
		if tc.code == 200 {
			if resp.StatusCode != 200 || body != "counters" {
				t.Errorf("%q: %d %q", tc.head, resp.StatusCode, body)
			}
			continue
		}
		checkError(t, resp, body, tc.code)
		if tc.code == 421 {
			checkKind(t, log, 421, stats.ErrForbidden)
		}
	}

	// A browser whose page made evil.example resolve to 127.0.0.1.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, p.addr)
	}}
	defer tr.CloseIdleConnections()
	resp, body := mustGet(t, &http.Client{Transport: tr}, "http://evil.example:"+port+"/stats")
	if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(body, "counters") {
		t.Fatalf("rebound name: %d %q", resp.StatusCode, body)
	}
}

// BenchmarkAuthorizeCached measures the check of credentials verified
// before: what each request of a kept-alive client with users set costs.
func BenchmarkAuthorizeCached(b *testing.B) {
	g, err := newGate(ClientPolicy{Users: map[string]string{"alice": hashFor(b, "secret")}})
	if err != nil {
		b.Fatal(err)
	}
	fields := []field{{[]byte("Accept"), []byte("*/*")}, {[]byte("Proxy-Authorization"), []byte(basic("alice", "secret"))}}
	if r := g.authorize(fields); r != nil {
		b.Fatal(r.reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if g.authorize(fields) != nil {
			b.Fatal("refused")
		}
	}
}

// TestAccessPolicyErrors checks that New refuses a policy it cannot use.
func TestAccessPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    ClientPolicy
		want string
	}{
		{"not bcrypt", ClientPolicy{Users: map[string]string{"alice": "secret"}}, "hash-password"},
		{"truncated hash", ClientPolicy{Users: map[string]string{"alice": hashFor(t, "x")[:50]}}, "hash-password"},
		{"negative rate", ClientPolicy{RateLimit: -1}, "rate limit"},
		{"huge rate", ClientPolicy{RateLimit: 1e9}, "rate limit"},
		{"invalid range", ClientPolicy{Allow: []netip.Prefix{{}}}, "allow"},
	} {
		if _, err := New(Config{Clients: tc.p}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
