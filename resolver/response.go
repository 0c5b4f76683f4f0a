package resolver

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// errMismatch marks a reply that is not for our query: another ID, no QR
// bit, or another question. Over UDP it may be a spoof or a late answer to an
// earlier query, so the caller keeps waiting instead of failing.
var errMismatch = errors.New("reply does not match the query")

// maxCNAMEChain bounds how many CNAMEs are followed inside one reply, so a
// loop in a hostile reply ends.
const maxCNAMEChain = 16

// answer is what one reply says about one name and one type, reduced to what
// may be cached.
type answer struct {
	// addrs are the addresses owned by the end of the CNAME chain that starts
	// at the question. Empty for negative answers.
	addrs []netip.Addr
	// ttl is the smallest TTL along the chain for positive answers; for
	// negative answers the SOA's (RFC 2308 section 5), or -1 when there is
	// no SOA for the name and the answer must not be cached.
	ttl time.Duration
	// negative is set for NXDOMAIN and NODATA.
	negative bool
	// nxdomain is set when the name does not exist at all.
	nxdomain bool
}

// handleResponse is the whole path from a server's bytes to what may be
// cached: decodeResponse (in exchange.go, for every transport) and then
// extractAnswer (in the resolver). The fuzz test drives it.
func handleResponse(q *dns.Msg, raw []byte) (answer, error) {
	m, err := decodeResponse(q, raw)
	if err != nil {
		return answer{}, err
	}
	return extractAnswer(q, m)
}

// decodeResponse unpacks raw and checks it answers q. On error the returned
// message, if not nil, holds whatever could be unpacked (at least the header).
func decodeResponse(q *dns.Msg, raw []byte) (*dns.Msg, error) {
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		return m, fmt.Errorf("malformed reply: %w", err)
	}
	if err := matchResponse(q, m); err != nil {
		return m, err
	}
	return m, nil
}

// matchResponse checks that m answers q: same ID, the QR bit, and the same
// single question (names compare case-insensitively, RFC 4343).
func matchResponse(q, m *dns.Msg) error {
	if m.Id != q.Id || !m.Response || m.Opcode != dns.OpcodeQuery {
		return errMismatch
	}
	if len(m.Question) != 1 || len(q.Question) != 1 {
		return errMismatch
	}
	mq, qq := m.Question[0], q.Question[0]
	if mq.Qtype != qq.Qtype || mq.Qclass != qq.Qclass || !strings.EqualFold(mq.Name, qq.Name) {
		return errMismatch
	}
	return nil
}

// extractAnswer reads the addresses for q's name out of m, which matchResponse
// accepted. Only records the question leads to count: an A record for
// another name, or a CNAME that does not start from the question's chain, is
// ignored so a reply cannot plant entries for names nobody asked about.
func extractAnswer(q, m *dns.Msg) (answer, error) {
	qtype := q.Question[0].Qtype
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return answer{}, fmt.Errorf("server answered %s", rcodeName(m.Rcode))
	}

	name := q.Question[0].Name
	minTTL := uint32(math.MaxUint32)
	for range maxCNAMEChain {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Class == dns.ClassINET && strings.EqualFold(c.Hdr.Name, name) {
				next = c.Target
				minTTL = min(minTTL, c.Hdr.Ttl)
				break
			}
		}
		if next == "" {
			break
		}
		name = next
	}

	var a answer
	if m.Rcode == dns.RcodeSuccess {
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Rrtype != qtype || h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			var ip netip.Addr
			switch r := rr.(type) {
			case *dns.A:
				ip, _ = netip.AddrFromSlice(r.A.To4())
			case *dns.AAAA:
				if len(r.AAAA) == 16 {
					ip = netip.AddrFrom16([16]byte(r.AAAA))
				}
			}
			// 0.0.0.0 and :: are what blocking resolvers answer for names
			// they refuse; dialing them would reach this machine instead.
			if !ip.IsValid() || ip.IsUnspecified() || containsAddr(a.addrs, ip) {
				continue
			}
			a.addrs = append(a.addrs, ip)
			minTTL = min(minTTL, h.Ttl)
		}
		if len(a.addrs) > 0 {
			a.ttl = time.Duration(minTTL) * time.Second
			return a, nil
		}
	}

	a.negative = true
	a.nxdomain = m.Rcode == dns.RcodeNameError
	a.ttl = -1
	for _, rr := range m.Ns {
		soa, ok := rr.(*dns.SOA)
		if !ok || soa.Hdr.Class != dns.ClassINET || !dns.IsSubDomain(soa.Hdr.Name, name) {
			continue
		}
		a.ttl = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		break
	}
	return a, nil
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, x := range list {
		if x == ip {
			return true
		}
	}
	return false
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode %d", rc)
}
