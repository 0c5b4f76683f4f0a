package route

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
)

// Rule kinds, as written before the colon in a [[rule]] match entry.
const (
	kindDomainSuffix  = "domain-suffix"
	kindDomain        = "domain"
	kindDomainKeyword = "domain-keyword"
	kindCIDR          = "cidr"
	kindPort          = "port"
	kindProcess       = "process"
)

// matcher is every [[rule]]'s match entries compiled into one structure
// per kind. A lookup asks each kind for the lowest rule index it matches
// and takes the lowest of those: the first matching rule wins, and the
// cost does not grow with the number of rules (a map walk per label, one
// automaton pass, one prefix-table lookup, one map probe).
//
// CIDR rules match only a host written as an IP literal: a rule never
// makes Sluice resolve a name to decide (mihomo calls this "no-resolve"),
// so a request never waits for DNS before it is routed, and the address
// a name resolves to later does not change the route.
type matcher struct {
	names    domains
	keywords *keywords
	cidrs    *bart.Table[int32]
	ports    map[uint16]int32
}

// maxHost bounds the host names matched; longer ones (no real name is
// over 253 bytes) match only rules that need no name.
const maxHost = 255

// match returns the index of the first rule matching host:port, or -1.
// host is as the client sent it; one with capitals is lower-cased into a
// buffer on the stack.
func (m *matcher) match(host, port []byte) int32 {
	best := int32(-1)
	take := func(r int32) {
		if r >= 0 && (best < 0 || r < best) {
			best = r
		}
	}
	if len(m.ports) > 0 {
		if p, ok := parsePort(port); ok {
			if r, ok := m.ports[p]; ok {
				take(r)
			}
		}
	}
	upper, colon := scanHost(host)
	if colon || len(host) > 0 && '0' <= host[len(host)-1] && host[len(host)-1] <= '9' {
		// Only IPv6 has colons, and an IPv4 literal ends in a digit (no
		// top-level domain is all digits).
		if ip, ok := parseIP(host); ok {
			if m.cidrs != nil {
				if r, ok := m.cidrs.Lookup(ip.Unmap()); ok {
					take(r)
				}
			}
			// An address is not a name: domain rules do not apply.
			return best
		}
	}
	if len(host) > maxHost {
		return best
	}
	name := host
	if upper {
		var buf [maxHost]byte
		name = lower(buf[:0], host)
	}
	if n := len(name); n > 0 && name[n-1] == '.' {
		name = name[:n-1]
	}
	take(m.names.match(name))
	take(m.keywords.match(name))
	return best
}

// scanHost reports whether host has capitals and colons, in one pass.
func scanHost(host []byte) (upper, colon bool) {
	for _, c := range host {
		upper = upper || 'A' <= c && c <= 'Z'
		colon = colon || c == ':'
	}
	return upper, colon
}

func lower(dst, s []byte) []byte {
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 65535
}

// compileMatcher builds the matcher from each rule's match entries. Each
// entry it cannot use is an error naming the rule (by index) and entry.
func compileMatcher(rules []RuleConfig) (*matcher, []error) {
	var errs []error
	m := &matcher{}
	var words []keyword
	type cidr struct {
		pfx  netip.Prefix
		rule int32
	}
	var cidrs []cidr
	for i, r := range rules {
		if len(r.Match) == 0 {
			errs = append(errs, &Error{Table: "rule", Index: i, Key: "match", Msg: `the list is empty; write entries like ["domain-suffix:example.com"]`})
		}
		for _, entry := range r.Match {
			bad := func(format string, args ...any) {
				errs = append(errs, &Error{Table: "rule", Index: i, Key: "match", Msg: fmt.Sprintf("%q: ", entry) + fmt.Sprintf(format, args...)})
			}
			kind, value, ok := strings.Cut(entry, ":")
			value = strings.TrimSpace(value)
			if !ok || value == "" {
				bad("write kind:value, the kinds being domain-suffix, domain, domain-keyword, cidr, port")
				continue
			}
			switch kind {
			case kindDomainSuffix, kindDomain:
				name := strings.TrimSuffix(strings.ToLower(value), ".")
				name = strings.TrimPrefix(name, "*.")
				if name == "" || len(name) > maxHost || strings.ContainsAny(name, " /:*") {
					bad("not a domain name")
					continue
				}
				m.names.add(name, kind == kindDomainSuffix, int32(i))
			case kindDomainKeyword:
				words = append(words, keyword{strings.ToLower(value), int32(i)})
			case kindCIDR:
				pfx, err := netip.ParsePrefix(value)
				if err != nil {
					if ip, err2 := netip.ParseAddr(value); err2 == nil && ip.Zone() == "" {
						pfx, err = netip.PrefixFrom(ip, ip.BitLen()), nil
					}
				}
				if err != nil {
					bad(`not an address range (write it like "10.0.0.0/8" or "fd00::/8")`)
					continue
				}
				if pfx.Addr().Is4In6() {
					pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(0, pfx.Bits()-96))
				}
				cidrs = append(cidrs, cidr{pfx.Masked(), int32(i)})
			case kindPort:
				n, err := strconv.Atoi(value)
				if err != nil || n < 1 || n > 65535 {
					bad("not a port from 1 to 65535")
					continue
				}
				if m.ports == nil {
					m.ports = map[uint16]int32{}
				}
				if old, ok := m.ports[uint16(n)]; !ok || int32(i) < old {
					m.ports[uint16(n)] = int32(i)
				}
			case kindProcess:
				bad("process rules are not supported on this OS: the proxy sees a connection's address, not the program that opened it")
				continue
			default:
				bad("unknown kind %q (the kinds are domain-suffix, domain, domain-keyword, cidr, port)", kind)
				continue
			}
		}
	}
	m.keywords = newKeywords(words)
	if len(cidrs) > 0 {
		// The table answers with the most specific prefix holding an
		// address, but the first rule must win: each prefix stores the
		// lowest rule among itself and every prefix containing it, which
		// are inserted before it (shorter first) and found by
		// LookupPrefix.
		slices.SortStableFunc(cidrs, func(a, b cidr) int { return a.pfx.Bits() - b.pfx.Bits() })
		m.cidrs = &bart.Table[int32]{}
		for _, c := range cidrs {
			v := c.rule
			if old, ok := m.cidrs.LookupPrefix(c.pfx); ok && old < v {
				v = old
			}
			m.cidrs.Insert(c.pfx, v)
		}
	}
	return m, errs
}
