package route

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// PACContentType is the media type browsers expect for a PAC file.
const PACContentType = "application/x-ns-proxy-autoconfig"

// PAC writes a proxy auto-config file (FindProxyForURL) from the rules,
// so that destinations the rules send direct skip Sluice entirely and
// everything else goes to Sluice at proxyAddr ("127.0.0.1:8877"), which
// then decides as Route does.
//
// The file only has to be right about DIRECT: sending a destination to
// Sluice is always safe, since Sluice applies the same rules. So a direct
// rule's condition in JavaScript matches at most what the rule matches,
// and any other rule's matches at least what it matches; where
// JavaScript cannot say exactly (an IPv6 range: isInNet is IPv4 only),
// the destination goes to Sluice. Outside rules mode everything goes to
// Sluice, so that switching the mode in the tray takes effect at once
// rather than when the browser next fetches the file.
func (r *Router) PAC(proxyAddr string) []byte {
	var b bytes.Buffer
	proxy := "PROXY " + proxyAddr
	fmt.Fprintf(&b, "// Made by Sluice from its routing rules (mode %s).\n", r.Mode())
	fmt.Fprintf(&b, "function FindProxyForURL(url, host) {\n")
	fmt.Fprintf(&b, "  var sluice = %s;\n", jsString(proxy))
	if r.Mode() != ModeRules {
		b.WriteString("  return sluice;\n}\n")
		return b.Bytes()
	}
	b.WriteString(`  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  if (host.charAt(host.length - 1) == ".") host = host.substring(0, host.length - 1);
  var v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(host);
  var v6 = host.indexOf(":") >= 0;
  var name = !v4 && !v6;
  var m = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^\/:?#]*)(:(\d+))?/i.exec(url);
  var port = 0;
  if (m && m[4]) port = parseInt(m[4], 10);
  else if (m) port = {"http": 80, "ws": 80, "https": 443, "wss": 443, "ftp": 21}[m[1].toLowerCase()] || 0;
`)
	for i := range r.rules {
		ru := &r.rules[i]
		direct := ru.target.kind == toDirect
		var conds []string
		for _, entry := range r.cfg.Rules[i].Match {
			if c := pacCondition(entry, direct); c != "" {
				conds = append(conds, c)
			}
		}
		if len(conds) == 0 {
			continue
		}
		result := "sluice"
		if direct {
			result = `"DIRECT"`
		}
		fmt.Fprintf(&b, "  if (%s) return %s; // rule %d: %s\n", strings.Join(conds, " || "), result, i+1, jsComment(ru.text))
	}
	if r.def.kind == toDirect {
		b.WriteString("  return \"DIRECT\";\n}\n")
	} else {
		b.WriteString("  return sluice;\n}\n")
	}
	return b.Bytes()
}

// pacCondition is one match entry in JavaScript, or "" for none. For a
// direct rule it may match less than the entry, for any other more.
func pacCondition(entry string, direct bool) string {
	kind, value, _ := strings.Cut(entry, ":")
	value = strings.TrimSpace(value)
	switch kind {
	case kindDomain, kindDomainSuffix:
		name := strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(value), "."), "*.")
		if kind == kindDomain {
			return fmt.Sprintf("name && host == %s", jsString(name))
		}
		return fmt.Sprintf("name && (host == %s || dnsDomainIs(host, %s))", jsString(name), jsString("."+name))
	case kindDomainKeyword:
		return fmt.Sprintf("name && host.indexOf(%s) >= 0", jsString(strings.ToLower(value)))
	case kindPort:
		return "port == " + value
	case kindCIDR:
		pfx, err := netip.ParsePrefix(value)
		if err != nil {
			ip, err := netip.ParseAddr(value)
			if err != nil {
				return ""
			}
			pfx = netip.PrefixFrom(ip, ip.BitLen())
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(0, pfx.Bits()-96))
		}
		pfx = pfx.Masked()
		if !pfx.Addr().Is4() {
			// isInNet is IPv4 only: never direct, always to Sluice.
			if direct {
				return ""
			}
			return "v6"
		}
		c := fmt.Sprintf("v4 && isInNet(host, %s, %s)", jsString(pfx.Addr().String()), jsString(v4Mask(pfx.Bits())))
		if !direct {
			// "::ffff:10.1.2.3" is in an IPv4 range to Sluice.
			c = "(" + c + " || v6)"
		}
		return c
	}
	return ""
}

// v4Mask writes a prefix length as a dotted mask, as isInNet takes it.
func v4Mask(bits int) string {
	var m [4]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(m).String()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsComment keeps a rule's text from ending its comment line.
func jsComment(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ").Replace(s)
}
