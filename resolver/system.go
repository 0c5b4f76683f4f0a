package resolver

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"
)

// fallbackServers are asked when the system lists none, as Go's own
// resolver does.
var fallbackServers = [...]string{"127.0.0.1:53", "[::1]:53"}

// parseResolvConf returns the "nameserver" entries of a resolv.conf as
// host:port (port 53; the file has no way to say another).
func parseResolvConf(data []byte) []string {
	var servers []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		servers = appendServer(servers, ip)
	}
	return servers
}

// adapter is the part of a Windows network adapter that decides whether its
// DNS servers are used; system_windows.go fills it from the system call so
// the rule below can be tested anywhere.
type adapter struct {
	up         bool
	hasGateway bool
	dns        []netip.Addr
}

// serversFromAdapters applies the rule Go's own Windows resolver uses: only
// adapters that are up and have a gateway count, and the deprecated fec0::/10
// site-local anycast addresses Windows fills in by default are skipped
// (RFC 3879).
func serversFromAdapters(adapters []adapter) []string {
	siteLocal := netip.MustParsePrefix("fec0::/10")
	var servers []string
	for _, a := range adapters {
		if !a.up || !a.hasGateway {
			continue
		}
		for _, ip := range a.dns {
			if !ip.IsValid() || siteLocal.Contains(ip) {
				continue
			}
			servers = appendServer(servers, ip)
		}
	}
	return servers
}

func appendServer(servers []string, ip netip.Addr) []string {
	s := net.JoinHostPort(ip.String(), "53")
	for _, x := range servers {
		if x == s {
			return servers
		}
	}
	return append(servers, s)
}
