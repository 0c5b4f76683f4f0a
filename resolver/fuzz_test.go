package resolver

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// fuzzQuery is the question every fuzzed reply claims to answer.
func fuzzQuery() *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.Id = 0x1234
	return q
}

func packSeed(f *testing.F, edit func(m *dns.Msg)) {
	m := new(dns.Msg)
	m.SetReply(fuzzQuery())
	edit(m)
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

// FuzzHandleResponse feeds arbitrary bytes to the response path as the reply
// to www.example.test/A. It must not panic, and whatever it accepts must be
// an answer to that question: right ID and question, and only addresses
// owned by the question or a name its CNAME chain leads to.
func FuzzHandleResponse(f *testing.F) {
	packSeed(f, func(m *dns.Msg) { m.Answer = []dns.RR{rr("www.example.test. 300 IN A 192.0.2.1")} })
	packSeed(f, func(m *dns.Msg) {
		m.Answer = []dns.RR{
			rr("www.example.test. 300 IN CNAME edge.cdn.test."),
			rr("edge.cdn.test. 60 IN CNAME e1.cdn.test."),
			rr("e1.cdn.test. 20 IN A 192.0.2.2"),
		}
	})
	// Poisoning attempts: answers for other names, a CNAME from elsewhere.
	packSeed(f, func(m *dns.Msg) {
		m.Answer = []dns.RR{rr("bank.test. 300 IN A 203.0.113.66"), rr("www.example.test. 300 IN A 192.0.2.3")}
	})
	packSeed(f, func(m *dns.Msg) {
		m.Answer = []dns.RR{rr("other.test. 300 IN CNAME www.example.test."), rr("other.test. 300 IN A 203.0.113.66")}
	})
	packSeed(f, func(m *dns.Msg) {
		m.Answer = []dns.RR{rr("www.example.test. 300 IN CNAME a.test."), rr("a.test. 300 IN CNAME www.example.test.")}
	})
	packSeed(f, func(m *dns.Msg) { m.Id = 0x4321; m.Answer = []dns.RR{rr("www.example.test. 300 IN A 192.0.2.4")} })
	packSeed(f, func(m *dns.Msg) {
		m.Question[0].Name = "evil.test."
		m.Answer = []dns.RR{rr("evil.test. 300 IN A 203.0.113.66")}
	})
	packSeed(f, func(m *dns.Msg) {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{rr("example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 60")}
	})
	packSeed(f, func(m *dns.Msg) {
		m.Ns = []dns.RR{rr("unrelated.test. 3600 IN SOA ns.unrelated.test. admin.unrelated.test. 1 3600 600 86400 99999")}
	})
	packSeed(f, func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure })
	packSeed(f, func(m *dns.Msg) { m.Truncated = true })
	packSeed(f, func(m *dns.Msg) { m.Answer = []dns.RR{rr("www.example.test. 300 IN A 0.0.0.0")} })
	f.Add([]byte{0x12, 0x34})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		q := fuzzQuery()
		a, err := handleResponse(q, raw)
		if err != nil {
			if a.addrs != nil || a.negative {
				t.Fatalf("error %v came with an answer %+v", err, a)
			}
			return
		}
		m := new(dns.Msg)
		if uerr := m.Unpack(raw); uerr != nil {
			t.Fatalf("accepted bytes that do not unpack: %v", uerr)
		}
		if m.Id != q.Id || !m.Response || len(m.Question) != 1 ||
			!strings.EqualFold(m.Question[0].Name, q.Question[0].Name) || m.Question[0].Qtype != dns.TypeA {
			t.Fatalf("accepted a reply to another query: id %#x question %v", m.Id, m.Question)
		}
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
			t.Fatalf("accepted rcode %d", m.Rcode)
		}
		if len(a.addrs) > 0 && a.negative {
			t.Fatalf("answer is both positive and negative: %+v", a)
		}
		if a.negative && a.ttl >= 0 && !hasSOA(m) {
			t.Fatalf("negative TTL %v without an SOA", a.ttl)
		}
		// The names the question reaches: itself and, transitively, CNAME
		// targets of reached names. Every address must be owned by one.
		reached := map[string]bool{strings.ToLower(q.Question[0].Name): true}
		for changed := true; changed; {
			changed = false
			for _, r := range m.Answer {
				if c, ok := r.(*dns.CNAME); ok && reached[strings.ToLower(c.Hdr.Name)] && !reached[strings.ToLower(c.Target)] {
					reached[strings.ToLower(c.Target)] = true
					changed = true
				}
			}
		}
		for _, ip := range a.addrs {
			if !ownedByReached(m, ip, reached) {
				t.Fatalf("address %v is not owned by a name the question leads to (%v)", ip, reached)
			}
			if ip.IsUnspecified() {
				t.Fatalf("unspecified address %v accepted", ip)
			}
		}
	})
}

func hasSOA(m *dns.Msg) bool {
	for _, r := range m.Ns {
		if _, ok := r.(*dns.SOA); ok {
			return true
		}
	}
	return false
}

func ownedByReached(m *dns.Msg, ip netip.Addr, reached map[string]bool) bool {
	for _, r := range m.Answer {
		if a, ok := r.(*dns.A); ok && reached[strings.ToLower(a.Hdr.Name)] {
			if got, ok := netip.AddrFromSlice(a.A.To4()); ok && got == ip {
				return true
			}
		}
	}
	return false
}
