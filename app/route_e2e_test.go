package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/pactest"
	"github.com/sluiceproxy/sluice/internal/parenttest"
	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/route"
)

// End to end through the merged tree: a config file's [route],
// [[upstream]], [[group]] and [[rule]] decide (package route), the relay
// carries the decision out (package proxy) through real parents, squid
// and microsocks, on loopback. Names in zoneSuffix resolve to 127.0.0.1
// through the test's DNS server, so a rule can match a name the origin
// answers for; squid itself cannot resolve them, so requests meant for
// squid use the origin's address or localhost.

// viaOrigin is an HTTP origin that answers "PATH via=VIA", VIA being the
// Via field it got: "1.1 sluice" straight from Sluice, with squid's
// "sluice-test" after it through squid, so the body tells how the
// request came.
func viaOrigin(t *testing.T) (port string) {
	t.Helper()
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/generate_204" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprintf(w, "%s via=%s", r.URL.Path, r.Header.Get("Via"))
	}))
	t.Cleanup(o.Close)
	_, port, _ = net.SplitHostPort(o.Listener.Addr().String())
	return port
}

// keptAliveClient is a client through the proxy at addr that keeps one
// connection to it, and reports whether each request reused it.
type keptAliveClient struct {
	c *http.Client
}

func newKeptAliveClient(t *testing.T, addr string) *keptAliveClient {
	tr := &http.Transport{Proxy: http.ProxyURL(mustURL(t, "http://"+addr)), MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &keptAliveClient{&http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// get fetches url and returns the status, body and whether the request
// went on a connection opened before it.
func (k *keptAliveClient) get(t *testing.T, url string) (int, string, bool) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := k.c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b), reused
}

// e2eConfig is a config listening on addr, resolving zoneSuffix names
// through dnsAddr, with the routing tables in routing.
func e2eConfig(addr, dir, dnsAddr, routing string) string {
	return dnsConfig(addr, dnsAddr, dir) + routing
}

// rawRequest sends head on a new connection to addr and returns the
// response's status line and header.
func rawRequest(t *testing.T, addr, head string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	method := strings.Fields(head)[0]
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	if method != "CONNECT" || resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	return resp
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func snapshot(t *testing.T, addr string) stats.Snapshot {
	t.Helper()
	_, b := getLocal(t, addr, "/stats")
	var s stats.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("/stats: %v\n%s", err, b)
	}
	return s
}

func upstreamStats(t *testing.T, s stats.Snapshot, name string) stats.UpstreamStats {
	t.Helper()
	for _, u := range s.Upstreams {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("/stats has no upstream %q: %+v", name, s.Upstreams)
	return stats.UpstreamStats{}
}

// (a), (d): the intranet goes direct by a domain-suffix rule, everything
// else through squid, which asks for Basic credentials (from the
// upstream's URL); squid's log shows the routed request and tunnel, by
// user, and not the direct one; /stats and /metrics count them per upstream and
// per rule.
func TestRulesSendIntranetDirectAndTheRestThroughSquid(t *testing.T) {
	sq := parenttest.StartSquid(t, parenttest.BasicAuth(t, "alice", "s3cret"))
	dns := startDNSServer(t)
	port := viaOrigin(t)
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "secure %s", r.URL.Path)
	}))
	t.Cleanup(tlsOrigin.Close)
	addr := freePort(t)
	startAppWithConfig(t, e2eConfig(addr, t.TempDir(), dns.addr, fmt.Sprintf(`
[route]
default = "corp"

[[upstream]]
name = "corp"
url = "http://alice:s3cret@%s"

[[rule]]
match = ["domain-suffix:intranet.reload.test"]
action = "direct"
`, sq.Addr)))

	k := newKeptAliveClient(t, addr)
	code, body, _ := k.get(t, "http://127.0.0.1:"+port+"/e2e-a-routed")
	if code != 200 || !strings.HasPrefix(body, "/e2e-a-routed via=") || !strings.Contains(body, "sluice-test") {
		t.Errorf("routed request: %d %q, want it via squid (sluice-test)", code, body)
	}
	code, body, _ = k.get(t, "http://wiki.intranet.reload.test:"+port+"/e2e-a-direct")
	if code != 200 || body != "/e2e-a-direct via=1.1 sluice" {
		t.Errorf("direct request: %d %q, want Sluice's Via only", code, body)
	}
	if dns.askedFor("wiki.intranet.reload.test") == 0 {
		t.Error("Sluice did not resolve the direct name itself")
	}

	// CONNECT through squid.
	tr := &http.Transport{Proxy: http.ProxyURL(mustURL(t, "http://"+addr)), TLSClientConfig: &tls.Config{RootCAs: poolOf(tlsOrigin.Certificate())}}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get(tlsOrigin.URL + "/e2e-a-tunnel")
	if err != nil {
		t.Fatal(err)
	}
	if b := bodyOf(resp); b != "secure /e2e-a-tunnel" {
		t.Errorf("through the tunnel: %q", b)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	// A direct tunnel: Sluice answers 200 itself, squid never sees it.
	direct := rawRequest(t, addr, "CONNECT tunnel.intranet.reload.test:"+port+" HTTP/1.1\r\nHost: tunnel.intranet.reload.test:"+port+"\r\n\r\n")
	if direct.StatusCode != 200 {
		t.Errorf("direct CONNECT: %s", direct.Status)
	}

	sq.WaitLogged(t, " GET http://127.0.0.1:"+port+"/e2e-a-routed ", " alice ")
	sq.WaitLogged(t, " CONNECT "+tlsOrigin.Listener.Addr().String()+" ", " alice ")
	if log := sq.AccessLog(); strings.Contains(log, "e2e-a-direct") || strings.Contains(log, "intranet") {
		t.Errorf("squid saw a direct request:\n%s", log)
	}

	// (d) The counters: two through corp (the GET and the tunnel), one
	// hit each for the rule and the default.
	waitFor(t, "corp's counters", func() error {
		u := upstreamStats(t, snapshot(t, addr), "corp")
		if u.Requests != 2 || u.BytesIn == 0 || u.BytesOut == 0 || u.Errors != 0 {
			return fmt.Errorf("corp: %+v", u)
		}
		return nil
	})
	s := snapshot(t, addr)
	hits := map[int]int64{}
	for _, r := range s.Rules {
		hits[r.Rule] = r.Hits
	}
	if hits[1] != 2 || hits[0] != 2 {
		t.Errorf("rule hits %+v, want rule 1 (the intranet) 2 and the default 2", s.Rules)
	}
	u := upstreamStats(t, s, "corp")
	_, m := getLocal(t, addr, "/metrics")
	for _, w := range []string{
		`sluice_upstream_proxy_requests_total{upstream="corp"} 2`,
		fmt.Sprintf(`sluice_upstream_proxy_bytes_in_total{upstream="corp"} %d`, u.BytesIn),
		fmt.Sprintf(`sluice_upstream_proxy_bytes_out_total{upstream="corp"} %d`, u.BytesOut),
		`sluice_upstream_proxy_errors_total{upstream="corp"} 0`,
	} {
		if !strings.Contains(string(m), w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

func poolOf(cert *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(cert)
	return p
}

// (b) A failover pair of squids checked every 500ms: the first killed,
// idempotent requests keep succeeding with no client error, the first
// one after the kill already through the second.
func TestFailoverGroupOfTwoSquids(t *testing.T) {
	first := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	second := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	port := viaOrigin(t)
	addr := freePort(t)
	a, _ := startAppWithConfig(t, configWithListen(addr, t.TempDir())+fmt.Sprintf(`
[route]
default = "work"

[[upstream]]
name = "first"
url = "http://%s"

[[upstream]]
name = "second"
url = "http://%s"

[[group]]
name = "work"
strategy = "failover"
members = ["first", "second"]
check_url = "http://127.0.0.1:%s/generate_204"
check_interval = "500ms"
`, first.Addr, second.Addr, port))
	waitFor(t, "both checked up", func() error {
		for _, u := range a.currentRouter().Upstreams() {
			if u.State != "up" {
				return fmt.Errorf("%s is %s", u.Name, u.State)
			}
		}
		return nil
	})
	k := newKeptAliveClient(t, addr)
	get := func(path string) {
		t.Helper()
		code, body, _ := k.get(t, "http://127.0.0.1:"+port+path)
		if code != 200 || !strings.HasPrefix(body, path+" via=") {
			t.Fatalf("%s: %d %q", path, code, body)
		}
	}
	get("/e2e-b-before")
	first.WaitLogged(t, "/e2e-b-before ")

	// The request that finds the first dead is rerouted at once (no
	// wait for the next check): it is already in the second's log.
	first.Kill()
	get("/e2e-b-after-0")
	second.WaitLogged(t, "/e2e-b-after-0 ")
	for i := 1; i <= 5; i++ {
		get(fmt.Sprintf("/e2e-b-after-%d", i))
		time.Sleep(100 * time.Millisecond)
	}
	second.WaitLogged(t, "/e2e-b-after-5 ")
	if st := a.currentRouter().Upstreams(); st[0].State != "down" {
		t.Errorf("first after its kill: %+v", st[0])
	}
	if log := second.AccessLog(); strings.Contains(log, "/e2e-b-before ") {
		t.Errorf("the second squid saw the request meant for the first:\n%s", log)
	}
}

// (c) A block rule refuses HTTP and CONNECT with 403; a group whose
// every member is down answers 502 with a Proxy-Status that names it.
func TestBlockRuleAndAllDownGroup(t *testing.T) {
	port := viaOrigin(t)
	dead := freePort(t) // nothing listens there
	addr := freePort(t)
	a, _ := startAppWithConfig(t, configWithListen(addr, t.TempDir())+fmt.Sprintf(`
[[upstream]]
name = "gone"
url = "http://%s"

[[group]]
name = "deadpool"
strategy = "failover"
members = ["gone"]
check_url = "http://127.0.0.1:%s/generate_204"
check_interval = "500ms"

[[rule]]
match = ["domain-keyword:adserver"]
action = "block"

[[rule]]
match = ["domain:dead.example"]
action = "deadpool"
`, dead, port))

	for _, head := range []string{
		"GET http://x.adserver.example/e2e-c HTTP/1.1\r\nHost: x.adserver.example\r\n\r\n",
		"CONNECT x.adserver.example:443 HTTP/1.1\r\nHost: x.adserver.example:443\r\n\r\n",
	} {
		resp := rawRequest(t, addr, head)
		want := "sluice: blocked by rule 1 (domain-keyword:adserver)\n"
		if b := bodyOf(resp); resp.StatusCode != 403 || b != want {
			t.Errorf("%s: %s %q, want 403 %q", strings.Fields(head)[0], resp.Status, b, want)
		}
	}

	waitFor(t, "gone checked down", func() error {
		if st := a.currentRouter().Upstreams(); st[0].State != "down" {
			return fmt.Errorf("gone is %s", st[0].State)
		}
		return nil
	})
	for _, head := range []string{
		"GET http://dead.example/e2e-c HTTP/1.1\r\nHost: dead.example\r\n\r\n",
		"CONNECT dead.example:443 HTTP/1.1\r\nHost: dead.example:443\r\n\r\n",
	} {
		resp := rawRequest(t, addr, head)
		want := "sluice: every upstream of group deadpool is down\n"
		if b := bodyOf(resp); resp.StatusCode != 502 || b != want {
			t.Errorf("%s: %s %q, want 502 %q", strings.Fields(head)[0], resp.Status, b, want)
		}
		if ps := resp.Header.Get("Proxy-Status"); !strings.Contains(ps, `next-hop="deadpool"`) {
			t.Errorf("%s: Proxy-Status %q does not name the group as next-hop", strings.Fields(head)[0], ps)
		}
	}
}

// (e) A rule written into the config file while a client keeps its
// connection open applies to that client's next request, on the same
// connection: through squid before, direct after.
func TestRuleChangeByFileReloadKeepsTheClientConnection(t *testing.T) {
	sq := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	port := viaOrigin(t)
	listen := freePort(t)
	a, path := startWatchedApp(t, listen)
	dir := t.TempDir()
	routing := fmt.Sprintf(`
[route]
default = "corp"

[[upstream]]
name = "corp"
url = "http://%s"
`, sq.Addr)
	// reloaded tells when the running router has the upstream and n
	// rules (the default counts as one).
	reloaded := func(n int) func() error {
		return func() error {
			rt := a.currentRouter()
			if u, r := len(rt.Upstreams()), len(rt.Rules()); u != 1 || r != n {
				return fmt.Errorf("%d upstreams and %d rules, want 1 and %d", u, r, n)
			}
			return nil
		}
	}
	writeConfig(t, path, configWithListen(listen, dir)+routing)
	waitFor(t, "the reload with the upstream", reloaded(1)) // the default
	k := newKeptAliveClient(t, listen)
	code, body, _ := k.get(t, "http://127.0.0.1:"+port+"/e2e-e-before")
	if code != 200 || !strings.Contains(body, "sluice-test") {
		t.Fatalf("before: %d %q, want it through squid", code, body)
	}
	writeConfig(t, path, configWithListen(listen, dir)+routing+`
[[rule]]
match = ["cidr:127.0.0.0/8"]
action = "direct"
`)
	waitFor(t, "the reload with the rule", reloaded(2))
	code, body, reused := k.get(t, "http://127.0.0.1:"+port+"/e2e-e-after")
	if code != 200 || body != "/e2e-e-after via=1.1 sluice" {
		t.Errorf("after: %d %q, want it direct", code, body)
	}
	if !reused {
		t.Error("the client's kept-alive connection was dropped by the reload")
	}
	sq.WaitLogged(t, "/e2e-e-before ")
	if strings.Contains(sq.AccessLog(), "/e2e-e-after") {
		t.Error("squid saw the request made after the rule")
	}
}

// (f) The tray's Mode → Direct sends the next request straight to its
// origin.
func TestDirectModeSwitchSkipsTheUpstream(t *testing.T) {
	sq := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	port := viaOrigin(t)
	addr := freePort(t)
	a, _ := startAppWithConfig(t, configWithListen(addr, t.TempDir())+fmt.Sprintf(`
[route]
default = "corp"

[[upstream]]
name = "corp"
url = "http://%s"
`, sq.Addr))
	k := newKeptAliveClient(t, addr)
	if _, body, _ := k.get(t, "http://127.0.0.1:"+port+"/e2e-f-rules"); !strings.Contains(body, "sluice-test") {
		t.Fatalf("in rules mode: %q, want it through squid", body)
	}
	if err := a.SetRouteMode(route.ModeDirect); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := k.get(t, "http://127.0.0.1:"+port+"/e2e-f-direct"); code != 200 || body != "/e2e-f-direct via=1.1 sluice" {
		t.Errorf("in direct mode: %d %q, want Sluice's Via only", code, body)
	}
	sq.WaitLogged(t, "/e2e-f-rules ")
	if strings.Contains(sq.AccessLog(), "/e2e-f-direct") {
		t.Error("squid saw the request made in direct mode")
	}
}

// (g) PROXY_UPSTREAM alone, with no routing in the file, sends every
// request through that proxy.
func TestProxyUpstreamEnvGoesThroughSquid(t *testing.T) {
	sq := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	port := viaOrigin(t)
	addr := freePort(t)
	t.Setenv("PROXY_UPSTREAM", "http://"+sq.Addr)
	startAppWithConfig(t, configWithListen(addr, t.TempDir()))
	if d := routeTest(t, addr, "127.0.0.1:"+port); d.Mode != "global" || d.Upstream != "PROXY_UPSTREAM" {
		t.Errorf("/route: %+v", d)
	}
	code, body := getThrough(t, addr, "http://127.0.0.1:"+port+"/e2e-g")
	if code != 200 || !strings.Contains(body, "sluice-test") {
		t.Errorf("%d %q, want it through squid", code, body)
	}
	sq.WaitLogged(t, " GET http://127.0.0.1:"+port+"/e2e-g ")
}

// (h) microsocks as a socks5h upstream with a user and password: the
// name goes to it unresolved, and the request comes back.
func TestMicrosocksAsSOCKS5hUpstream(t *testing.T) {
	ms := parenttest.StartMicrosocks(t, "sluice", "secret")
	dns := startDNSServer(t)
	port := viaOrigin(t)
	addr := freePort(t)
	startAppWithConfig(t, e2eConfig(addr, t.TempDir(), dns.addr, fmt.Sprintf(`
[route]
default = "socks"

[[upstream]]
name = "socks"
url = "socks5h://sluice:secret@%s"
`, ms)))
	code, body := getThrough(t, addr, "http://localhost:"+port+"/e2e-h")
	if code != 200 || body != "/e2e-h via=1.1 sluice" {
		t.Errorf("through microsocks: %d %q", code, body)
	}
	// Requests count when a request is finished, after its answer.
	waitFor(t, "the socks upstream's counters", func() error {
		if u := upstreamStats(t, snapshot(t, addr), "socks"); u.Requests != 1 || u.BytesOut == 0 {
			return fmt.Errorf("%+v", u)
		}
		return nil
	})
	if n := dns.askedFor("localhost"); n != 0 {
		t.Errorf("Sluice resolved a socks5h destination itself (%d lookups)", n)
	}
}

// (i) A SOCKS5 client of Sluice (curl --socks5-hostname) is routed by a
// config rule like an HTTP one: localhost through squid, which logs the
// tunnel; other destinations direct.
func TestSOCKS5InboundRoutedThroughSquid(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (Debian package curl)")
	}
	sq := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	dns := startDNSServer(t)
	port := viaOrigin(t)
	addr := freePort(t)
	startAppWithConfig(t, e2eConfig(addr, t.TempDir(), dns.addr, fmt.Sprintf(`
[[upstream]]
name = "corp"
url = "http://%s"

[[rule]]
match = ["domain:localhost"]
action = "corp"
`, sq.Addr)))
	for _, c := range []struct{ host, path string }{{"localhost", "/e2e-i-routed"}, {"direct.reload.test", "/e2e-i-direct"}} {
		out, err := exec.Command(curl, "-sS", "--max-time", "30", "--socks5-hostname", addr, "http://"+c.host+":"+port+c.path).CombinedOutput()
		if err != nil || string(out) != c.path+" via=" {
			t.Errorf("curl --socks5-hostname %s: %v %q", c.host, err, out)
		}
	}
	sq.WaitLogged(t, " CONNECT localhost:"+port+" ")
	if strings.Contains(sq.AccessLog(), "direct.reload.test") {
		t.Error("squid saw the direct destination")
	}
	waitFor(t, "corp's counters", func() error {
		if u := upstreamStats(t, snapshot(t, addr), "corp"); u.Requests != 1 {
			return fmt.Errorf("%+v", u)
		}
		return nil
	})
}

// The PAC file a running app serves, evaluated by pacparser, sends each
// rule kind's direct destinations DIRECT and the rest to Sluice's own
// address, and never says DIRECT where the app's /route would not go
// direct.
func TestPACFromTheAppAgreesWithItsRoutes(t *testing.T) {
	addr := freePort(t)
	startAppWithConfig(t, configWithListen(addr, t.TempDir())+`
[route]
default = "corp"

[[upstream]]
name = "corp"
url = "http://127.0.0.1:9"

[[rule]]
match = ["domain:ads.corp.example"]
action = "block"

[[rule]]
match = ["domain-suffix:corp.example", "domain:intranet"]
action = "direct"

[[rule]]
match = ["domain-keyword:local"]
action = "direct"

[[rule]]
match = ["cidr:10.1.0.0/16"]
action = "corp"

[[rule]]
match = ["cidr:10.0.0.0/8"]
action = "direct"

[[rule]]
match = ["port:8443"]
action = "direct"
`)
	_, pac := getLocal(t, addr, "/proxy.pac")
	sluice := "PROXY " + addr
	cases := []struct{ url, want string }{
		{"https://ads.corp.example/", sluice}, // blocked: Sluice answers 403
		{"https://wiki.corp.example/", "DIRECT"},
		{"http://intranet/", "DIRECT"},
		{"http://www.intranet/", sluice},
		{"http://printer.local.example/", "DIRECT"},
		{"http://10.1.2.3/", sluice},
		{"http://10.9.8.7/", "DIRECT"},
		{"https://example.com:8443/", "DIRECT"},
		{"https://example.com/", sluice},
	}
	urls := make([]string, len(cases))
	for i, c := range cases {
		urls[i] = c.url
	}
	got := pactest.Eval(t, pac, urls)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: PAC says %q, want %q", c.url, got[i], c.want)
		}
		u := mustURL(t, c.url)
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		d := routeTest(t, addr, net.JoinHostPort(u.Hostname(), port))
		if direct := d.Action == "direct" && d.Upstream == ""; direct != (got[i] == "DIRECT") {
			t.Errorf("%s: PAC says %q, the app's /route says %+v", c.url, got[i], d)
		}
	}
}
