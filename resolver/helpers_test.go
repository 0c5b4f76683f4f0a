package resolver

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testServer is a real miekg/dns server on 127.0.0.1, UDP and TCP on one
// port, answering from a small zone and counting every query it receives.
type testServer struct {
	t    testing.TB
	addr string

	mu        sync.Mutex
	udp, tcp  *dns.Server
	records   map[string][]dns.RR // key: lower-case fqdn + "/" + type
	names     map[string]bool     // names that exist (others are NXDOMAIN)
	truncate  map[string]bool     // names whose UDP answers are truncated
	rcode     map[string]int      // names answered with this rcode instead
	extra     map[string][]dns.RR // added to the answer section verbatim
	negTTL    uint32              // SOA minimum; 0 means no SOA at all
	delay     time.Duration
	wildcard  netip.Addr // if valid, every name has this A record
	wildTTL   uint32
	counts    map[string]int // key: lower-case fqdn + "/" + type
	netCounts map[string]int // key: transport + ":" + count key
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{
		t:         t,
		records:   map[string][]dns.RR{},
		names:     map[string]bool{},
		truncate:  map[string]bool{},
		rcode:     map[string]int{},
		extra:     map[string][]dns.RR{},
		negTTL:    60,
		counts:    map[string]int{},
		netCounts: map[string]int{},
	}
	s.listen("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

// listen starts UDP and TCP on addr; with port 0 it retries until both get
// the same free port.
func (s *testServer) listen(addr string) {
	s.t.Helper()
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.addr = pc.LocalAddr().String()
		s.udp = s.serve(&dns.Server{PacketConn: pc})
		s.tcp = s.serve(&dns.Server{Listener: l})
		s.mu.Unlock()
		return
	}
	s.t.Fatalf("test DNS server cannot listen on %s: %v", addr, lastErr)
}

func (s *testServer) serve(srv *dns.Server) *dns.Server {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	srv.Handler = dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		w.WriteMsg(s.reply(req, w.LocalAddr().Network()))
	})
	go srv.ActivateAndServe()
	<-started
	return srv
}

// stop shuts the server down; queries to its port are then refused.
func (s *testServer) stop() {
	s.mu.Lock()
	udp, tcp := s.udp, s.tcp
	s.udp, s.tcp = nil, nil
	s.mu.Unlock()
	for _, srv := range []*dns.Server{udp, tcp} {
		if srv != nil {
			srv.Shutdown()
		}
	}
}

// restart listens again on the same port after stop.
func (s *testServer) restart() { s.listen(s.addr) }

func key(name string, qtype uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + dns.TypeToString[qtype]
}

// set gives name addresses of one family with ttl; ips decide A or AAAA.
func (s *testServer) set(name string, ttl uint32, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fqdn := dns.Fqdn(name)
	s.names[strings.ToLower(fqdn)] = true
	delete(s.records, key(name, dns.TypeA))
	delete(s.records, key(name, dns.TypeAAAA))
	for _, ip := range ips {
		a := netip.MustParseAddr(ip)
		hdr := dns.RR_Header{Name: fqdn, Class: dns.ClassINET, Ttl: ttl}
		if a.Is4() {
			hdr.Rrtype = dns.TypeA
			s.records[key(name, dns.TypeA)] = append(s.records[key(name, dns.TypeA)], &dns.A{Hdr: hdr, A: a.AsSlice()})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			s.records[key(name, dns.TypeAAAA)] = append(s.records[key(name, dns.TypeAAAA)], &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
}

// setRR answers name/qtype with rrs exactly.
func (s *testServer) setRR(name string, qtype uint16, rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[strings.ToLower(dns.Fqdn(name))] = true
	s.records[key(name, qtype)] = rrs
}

func (s *testServer) configure(f func(s *testServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// count is how many queries for name/qtype arrived, over any transport.
func (s *testServer) count(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key(name, qtype)]
}

func (s *testServer) countNet(network, name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.netCounts[network+":"+key(name, qtype)]
}

func (s *testServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

func (s *testServer) reply(req *dns.Msg, network string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	k := key(q.Name, q.Qtype)
	name := strings.ToLower(q.Name)

	s.mu.Lock()
	s.counts[k]++
	s.netCounts[network+":"+k]++
	delay := s.delay
	records := slices.Clone(s.records[k])
	exists := s.names[name]
	truncate := s.truncate[name] && network == "udp"
	rcode, hasRcode := s.rcode[name]
	extra := s.extra[name]
	negTTL := s.negTTL
	if s.wildcard.IsValid() {
		exists = true
		if q.Qtype == dns.TypeA && len(records) == 0 {
			records = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: s.wildTTL}, A: s.wildcard.AsSlice()}}
		}
	}
	s.mu.Unlock()

	time.Sleep(delay)
	switch {
	case hasRcode:
		m.Rcode = rcode
	case truncate:
		m.Truncated = true
	case len(records) > 0:
		m.Answer = append(records, extra...)
	default:
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		if negTTL > 0 {
			m.Ns = []dns.RR{&dns.SOA{
				Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
				Ns:  "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400,
				Minttl: negTTL,
			}}
		}
	}
	return m
}

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestResolver returns a resolver with an empty hosts file, a 1s
// timeout and the given clock, closed when the test ends.
func newTestResolver(t testing.TB, cfg Config, clock *fakeClock) *Resolver {
	t.Helper()
	if cfg.HostsFile == "" {
		cfg.HostsFile = writeFile(t, "hosts", "")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lookup fails the test on error and returns the addresses as strings.
func lookup(t testing.TB, r *Resolver, host string) ([]string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, cached, err := r.LookupNetIP(ctx, host)
	if err != nil {
		t.Fatalf("LookupNetIP(%q): %v", host, err)
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, cached
}

// closedPort returns a loopback address where nothing listens on UDP or TCP.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// waitFor polls cond for up to 10s; the machine may be slow, so no test
// relies on a tight time bound.
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
