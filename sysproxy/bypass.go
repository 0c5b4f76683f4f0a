package sysproxy

import (
	"fmt"
	"net/netip"
	"strings"
)

// The bypass list comes from config.toml in one portable form: host names
// ("localhost"), domain wildcards ("*.local"), IP addresses ("::1") and
// CIDR ranges ("10.0.0.0/8"). GNOME, KDE and macOS read that form as is;
// Windows does not know CIDR and wants ";"-separated wildcards.

// kdeBypass is KIO's NoProxyFor: a comma-separated list.
func kdeBypass(bypass []string) string { return strings.Join(bypass, ",") }

// winBypass is WinINet's ProxyOverride: ";"-separated patterns where "*"
// matches any text, IPv6 addresses are bracketed, and "<local>" bypasses
// every host name without a dot. IPv4 ranges become octet wildcards
// ("10.0.0.0/8" is "10.*"); a range that does not end on an octet is
// widened to the octet wildcards that cover it exactly ("172.16.0.0/12" is
// "172.16.*" to "172.31.*"). IPv6 ranges have no WinINet form and are
// left out.
func winBypass(bypass []string) string {
	var out []string
	for _, b := range bypass {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if p, err := netip.ParsePrefix(b); err == nil {
			out = append(out, winPrefix(p.Masked())...)
			continue
		}
		if a, err := netip.ParseAddr(b); err == nil && a.Is6() {
			out = append(out, "["+a.String()+"]")
			continue
		}
		out = append(out, b)
	}
	out = append(out, "<local>")
	return strings.Join(out, ";")
}

// winPrefix writes an IPv4 prefix as WinINet wildcards; nil for IPv6.
func winPrefix(p netip.Prefix) []string {
	if !p.Addr().Is4() {
		if p.IsSingleIP() {
			return []string{"[" + p.Addr().String() + "]"}
		}
		return nil
	}
	if p.Bits() == 32 {
		return []string{p.Addr().String()}
	}
	a := p.Addr().As4()
	full := p.Bits() / 8
	fixed := make([]string, full)
	for i := range full {
		fixed[i] = fmt.Sprint(a[i])
	}
	span := 1 << (8 - p.Bits()%8) // values the partial octet takes
	if p.Bits()%8 == 0 {
		return []string{strings.Join(append(fixed, "*"), ".")}
	}
	out := make([]string, 0, span)
	for v := int(a[full]); v < int(a[full])+span; v++ {
		out = append(out, strings.Join(append(fixed, fmt.Sprint(v), "*"), "."))
	}
	return out
}
