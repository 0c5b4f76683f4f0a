package resolver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/resolver"
)

// countingDNS answers some-name.test with 127.0.0.1 (TTL 60s) on a real
// miekg/dns server and counts the A queries it gets.
func countingDNS(t *testing.T, aQueries *atomic.Int32) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			q := req.Question[0]
			switch {
			case !strings.EqualFold(q.Name, "some-name.test."):
				m.Rcode = dns.RcodeNameError
			case q.Qtype == dns.TypeA:
				aQueries.Add(1)
				m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)}}
			default: // NODATA, negative TTL 60s
				m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
					Ns: "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}}
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type accessLog struct {
	mu     sync.Mutex
	cached []bool
}

func (l *accessLog) LogAccess(rec *proxy.AccessRecord) {
	l.mu.Lock()
	l.cached = append(l.cached, rec.DNSCached)
	l.mu.Unlock()
}

func (l *accessLog) snapshot() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.cached...)
}

// A request for http://some-name.test:PORT/ through the proxy resolves
// through the configured DNS server; 50 more cause no further query until
// the TTL passes, and the access log says which lookups hit the cache.
func TestProxyResolvesThroughResolver(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host)
	}))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())

	var aQueries atomic.Int32
	dnsAddr := countingDNS(t, &aQueries)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := resolver.New(resolver.Config{Servers: []string{dnsAddr}, HostsFile: hosts, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &resolver.Dialer{Resolver: r}

	log := &accessLog{}
	// No upstream pooling: every request dials, so every request looks up.
	client := proxyClient(t, proxy.Config{Dial: d.Dial, NoPool: true, Access: log})
	target := "http://some-name.test:" + port + "/"
	get := func() {
		t.Helper()
		resp, err := client.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "hello from some-name.test:"+port {
			t.Fatalf("GET %s = %d %q", target, resp.StatusCode, body)
		}
	}

	get()
	if n := aQueries.Load(); n != 1 {
		t.Fatalf("A queries after the first request = %d, want 1", n)
	}
	for range 50 {
		get()
	}
	if n := aQueries.Load(); n != 1 {
		t.Fatalf("A queries after 51 requests = %d, want 1", n)
	}
	if st := r.Stats(); st.Hits < 50 {
		t.Fatalf("resolver hits = %d, want at least 50 (one per dial)", st.Hits)
	}
	clk.Advance(61 * time.Second)
	get()
	if n := aQueries.Load(); n != 2 {
		t.Fatalf("A queries after the TTL passed = %d, want 2", n)
	}

	deadline := time.Now().Add(10 * time.Second)
	for len(log.snapshot()) < 52 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cached := log.snapshot()
	if len(cached) != 52 || cached[0] || !cached[1] || !cached[50] || cached[51] {
		t.Fatalf("access log DNSCached = %v, want false, 50 x true, false", cached)
	}
}

// An unknown name is a *net.DNSError with IsNotFound through the dialer,
// which the proxy answers with 502.
func TestProxyUnknownHost(t *testing.T) {
	var aQueries atomic.Int32
	dnsAddr := countingDNS(t, &aQueries)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{dnsAddr}, HostsFile: hosts})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &resolver.Dialer{Resolver: r}
	client := proxyClient(t, proxy.Config{Dial: d.Dial})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://no-such-name.test/", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", resp.StatusCode)
	}
}

// proxyClient starts a Sluice proxy for cfg on loopback and returns a
// client that sends everything through it; both end with the test.
func proxyClient(t *testing.T, cfg proxy.Config) *http.Client {
	t.Helper()
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() { p.Close() })
	client := &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})},
		Timeout:   10 * time.Second,
	}
	t.Cleanup(client.CloseIdleConnections)
	return client
}

// http://localhost:PORT/ through the proxy reaches an origin listening
// only on ::1 when the hosts file lists localhost as 127.0.0.1 alone, as
// curl without the proxy does.
func TestProxyReachesLocalhostOnIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from ::1")
	}))
	origin.Listener.Close()
	origin.Listener = ln
	origin.Start()
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := resolver.New(resolver.Config{Servers: []string{"127.0.0.1:9"}, HostsFile: hosts})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := &resolver.Dialer{Resolver: r}
	client := proxyClient(t, proxy.Config{Dial: d.Dial})
	resp, err := client.Get("http://localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello from ::1" {
		t.Fatalf("GET http://localhost:%s/ = %d %q (Proxy-Status %q)", port, resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
	}
}
