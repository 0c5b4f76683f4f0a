package route

import "net/netip"

// parseIP reads an IPv4 or IPv6 literal from b without allocating
// (netip.ParseAddr takes a string, and converting the host to one on
// every request would allocate). It accepts what netip.ParseAddr accepts
// except zones ("fe80::1%eth0"), which no CIDR rule can name; a fuzz test
// holds it to netip.ParseAddr.
func parseIP(b []byte) (netip.Addr, bool) {
	for _, c := range b {
		if c == ':' {
			return parseIPv6(b)
		}
	}
	v4, ok := parseIPv4(b)
	if !ok {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(v4), true
}

// parseIPv4 reads dotted decimal: four fields of 0 to 255 without leading
// zeros (which some parsers read as octal, so netip refuses them).
func parseIPv4(b []byte) (ip [4]byte, ok bool) {
	field, n, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || field > 3 {
				return ip, false
			}
			ip[field] = byte(n)
			field, n, digits = field+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || digits > 0 && n == 0 {
			return ip, false
		}
		n = n*10 + int(c-'0')
		digits++
		if n > 255 {
			return ip, false
		}
	}
	return ip, field == 4
}

// parseIPv6 reads RFC 4291 §2.2 text: eight groups of up to four hex
// digits, one "::" standing for one or more zero groups, and optionally
// dotted IPv4 in the last 32 bits.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // byte index in ip where "::" stood
	i, n := 0, 0   // position in b, bytes of ip filled
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis, i = 0, 2
		if len(b) == 2 {
			return netip.AddrFrom16(ip), true
		}
	}
	for i < len(b) && n < 16 {
		// One group: hex digits, or the dotted IPv4 tail.
		v, digits := 0, 0
		for ; i+digits < len(b) && digits < 5; digits++ {
			c := b[i+digits]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | int(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | int(c-'a'+10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | int(c-'A'+10)
			default:
				goto end
			}
		}
	end:
		if i+digits < len(b) && b[i+digits] == '.' {
			// IPv4 tail: must be last and fit.
			if ellipsis < 0 && n != 12 || n > 12 {
				return netip.Addr{}, false
			}
			v4, ok := parseIPv4(b[i:])
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[n:], v4[:])
			n += 4
			i = len(b)
			break
		}
		if digits == 0 || digits > 4 {
			return netip.Addr{}, false
		}
		ip[n], ip[n+1] = byte(v>>8), byte(v)
		n += 2
		i += digits
		if i == len(b) {
			break
		}
		if b[i] != ':' || i+1 == len(b) {
			return netip.Addr{}, false
		}
		i++
		if b[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = n
			i++
			if i == len(b) {
				break
			}
		}
	}
	if i < len(b) {
		return netip.Addr{}, false
	}
	if n < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		// Move what followed "::" to the end; zeros fill the gap.
		gap := 16 - n
		for j := n - 1; j >= ellipsis; j-- {
			ip[j+gap] = ip[j]
			ip[j] = 0
		}
	} else if ellipsis >= 0 {
		// "::" must stand for at least one group.
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}
