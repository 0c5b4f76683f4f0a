package inspect

import (
	"fmt"
	"net/netip"
	"strings"
)

// matcher says which CONNECT hosts are decrypted: those matching a
// pattern in hosts and none in exclude (exclude wins).
type matcher struct {
	hosts, exclude patterns
}

// patterns is a list of host patterns: an exact name or address
// ("api.example.com", "10.0.0.7"), or "*." and a domain, which matches
// every name under that domain but not the domain itself.
type patterns struct {
	exact    map[string]struct{}
	suffixes []string // ".example.org" for "*.example.org"
}

// CheckPattern reports what is wrong with a host pattern, or nil.
func CheckPattern(p string) error {
	name := strings.TrimPrefix(p, "*.")
	switch {
	case p == "":
		return fmt.Errorf("an empty host pattern")
	case strings.ContainsAny(name, "*/: ") && !isIP(name):
		return fmt.Errorf("%q is not a host name, an address or *.domain (a * only leads the pattern, as in *.example.org)", p)
	case strings.HasPrefix(p, "*.") && name == "":
		return fmt.Errorf("%q names no domain", p)
	}
	return nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func newPatterns(list []string) (patterns, error) {
	ps := patterns{exact: make(map[string]struct{})}
	for _, p := range list {
		if err := CheckPattern(p); err != nil {
			return ps, err
		}
		p = strings.TrimSuffix(strings.ToLower(p), ".")
		if d, ok := strings.CutPrefix(p, "*"); ok {
			ps.suffixes = append(ps.suffixes, d)
			continue
		}
		if a, err := netip.ParseAddr(p); err == nil {
			p = a.Unmap().String()
		}
		ps.exact[p] = struct{}{}
	}
	return ps, nil
}

// match reports whether host (lower case, no final dot) matches.
func (ps *patterns) match(host string) bool {
	if _, ok := ps.exact[host]; ok {
		return true
	}
	for _, s := range ps.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func newMatcher(hosts, exclude []string) (*matcher, error) {
	h, err := newPatterns(hosts)
	if err != nil {
		return nil, fmt.Errorf("hosts: %w", err)
	}
	x, err := newPatterns(exclude)
	if err != nil {
		return nil, fmt.Errorf("exclude: %w", err)
	}
	return &matcher{hosts: h, exclude: x}, nil
}

// match reports whether CONNECT to host is decrypted.
func (m *matcher) match(host string) bool {
	host = normalHost(host)
	return m.hosts.match(host) && !m.exclude.match(host)
}

// normalHost lower-cases host and drops a final dot and IPv6 brackets, so
// patterns and the certificate cache see one spelling of each host.
func normalHost(host string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}
