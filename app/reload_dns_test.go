package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// zoneSuffix is the zone the test DNS servers answer for; every name in it
// is 127.0.0.1, so requests to it reach the test's origin.
const zoneSuffix = ".reload.test."

// dnsServer is a real miekg/dns server on 127.0.0.1 (UDP) that answers
// every A question in zoneSuffix with 127.0.0.1, records who asked what,
// and can hold a name's answer back until the test releases it.
type dnsServer struct {
	addr string

	mu    sync.Mutex
	asked map[string]int           // A questions per lower-case fqdn
	hold  map[string]chan struct{} // names whose answer waits for a close
	// seen gets each held name once its question has arrived.
	seen chan string
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), asked: map[string]int{}, hold: map[string]chan struct{}{}, seen: make(chan string, 16)}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(s.answer)}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() {
		s.mu.Lock()
		for name, ch := range s.hold {
			close(ch)
			delete(s.hold, name)
		}
		s.mu.Unlock()
		srv.Shutdown()
	})
	return s
}

func (s *dnsServer) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if !strings.HasSuffix(name, zoneSuffix) {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	}
	if q.Qtype == dns.TypeA {
		s.mu.Lock()
		s.asked[name]++
		release := s.hold[name]
		s.mu.Unlock()
		if release != nil {
			s.seen <- name
			<-release
		}
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(127, 0, 0, 1),
		})
	}
	// AAAA: no address of that family (NOERROR, empty answer).
	w.WriteMsg(m)
}

// askedFor returns how many A questions about host the server received.
func (s *dnsServer) askedFor(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[dns.Fqdn(strings.ToLower(host))]
}

// holdAnswer makes the server wait with host's answer until release is
// called.
func (s *dnsServer) holdAnswer(host string) (release func()) {
	name := dns.Fqdn(strings.ToLower(host))
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold[name] = ch
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.hold[name] == ch {
			delete(s.hold, name)
			close(ch)
		}
	}
}

// dnsConfig is a config file listening on listen and resolving through
// the DNS server at server.
func dnsConfig(listen, server, dir string) string {
	return configWithListen(listen, dir) + fmt.Sprintf("\n[dns]\nservers = [%q]\ntimeout = \"10s\"\n", server)
}

// startAppWithConfig starts an App on the config body, without a config
// watcher (the test reloads by calling Reload), and stops it when the test
// ends.
func startAppWithConfig(t *testing.T, body string) (*App, string) {
	t.Helper()
	for _, k := range []string{"PROXY_LISTEN", "PROXY_POOL_SIZE", "PROXY_IDLE_TIMEOUT", "PROXY_MAX_CONCURRENT", "PROXY_CONNECT_TIMEOUT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	path := filepath.Join(dir, "config.toml")
	writeConfig(t, path, body)
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stopAll() })
	return a, path
}

// getThrough fetches url through the proxy at proxyAddr and returns the
// status and body.
func getThrough(t *testing.T, proxyAddr, url string) (int, string) {
	t.Helper()
	resp, err := proxyClient(proxyAddr).Get(url)
	if err != nil {
		t.Fatalf("GET %s through %s: %v", url, proxyAddr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func helloOrigin(t *testing.T) (port string) {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Host)
	}))
	t.Cleanup(origin.Close)
	_, port, _ = net.SplitHostPort(origin.Listener.Addr().String())
	return port
}

// TestFailedReloadKeepsDNS saves a config with a new [dns] server and a
// listen address that is in use. The reload fails, and the proxy goes on
// exactly as before: same address, and a name it has never looked up is
// resolved through the old DNS server, not the new one, and fetched.
func TestFailedReloadKeepsDNS(t *testing.T) {
	oldDNS, newDNS := startDNSServer(t), startDNSServer(t)
	port := helloOrigin(t)
	addr := freePort(t)
	a, path := startAppWithConfig(t, dnsConfig(addr, oldDNS.addr, t.TempDir()))

	first := "first.reload.test:" + port
	if code, body := getThrough(t, addr, "http://"+first+"/"); code != 200 || body != "hello "+first {
		t.Fatalf("before the reload: %d %q", code, body)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	writeConfig(t, path, dnsConfig(busy.Addr().String(), newDNS.addr, filepath.Dir(path)))
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("reload onto a busy address: %v, want an \"in use\" error", err)
	}
	if cerr := a.ConfigError(); cerr == nil || cerr.Error() != err.Error() {
		t.Errorf("ConfigError = %v, want the reload's error", cerr)
	}
	if got := a.ListenAddr(); got != addr {
		t.Errorf("after the failed reload: listening on %s, want %s", got, addr)
	}

	second := "second.reload.test:" + port
	if code, body := getThrough(t, addr, "http://"+second+"/"); code != 200 || body != "hello "+second {
		t.Fatalf("uncached name after the failed reload: %d %q", code, body)
	}
	if n := oldDNS.askedFor("second.reload.test"); n != 1 {
		t.Errorf("the old DNS server was asked %d times for the new name, want 1", n)
	}
	if n := newDNS.askedFor("second.reload.test"); n != 0 {
		t.Errorf("the DNS server of the failed reload was asked %d times, want 0", n)
	}
}

// TestReloadLetsLookupInFlightFinish changes [dns] while a lookup through
// the old server is waiting for its answer: the request it belongs to
// still gets its page, and names looked up afterwards go to the new
// server.
func TestReloadLetsLookupInFlightFinish(t *testing.T) {
	oldDNS, newDNS := startDNSServer(t), startDNSServer(t)
	port := helloOrigin(t)
	addr := freePort(t)
	a, path := startAppWithConfig(t, dnsConfig(addr, oldDNS.addr, t.TempDir()))

	slow := "slow.reload.test:" + port
	release := oldDNS.holdAnswer("slow.reload.test")
	defer release()
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := proxyClient(addr).Get("http://" + slow + "/")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-oldDNS.seen // the lookup is in flight at the old server

	writeConfig(t, path, dnsConfig(addr, newDNS.addr, filepath.Dir(path)))
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	release()
	if r := <-done; r.err != nil || r.code != 200 || r.body != "hello "+slow {
		t.Fatalf("request whose lookup spanned the reload: %d %q %v", r.code, r.body, r.err)
	}

	after := "after.reload.test:" + port
	if code, body := getThrough(t, addr, "http://"+after+"/"); code != 200 || body != "hello "+after {
		t.Fatalf("after the reload: %d %q", code, body)
	}
	if o, n := oldDNS.askedFor("after.reload.test"), newDNS.askedFor("after.reload.test"); o != 0 || n != 1 {
		t.Errorf("a name looked up after the reload: old server asked %d times, new %d; want 0 and 1", o, n)
	}
}
