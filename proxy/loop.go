package proxy

import (
	"net"
	"net/netip"
)

// Loop detection. A request whose target is Sluice's own listen address
// would come straight back in, take another connection, and go round
// until max_concurrent runs out; it is refused with 508 instead. Names are
// checked twice: before dialing, for literals and "localhost", and after
// dialing, against the address actually reached, which catches any name
// that resolves to Sluice.

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// interfaceIPs lists this host's addresses, for listeners on an
// unspecified address (0.0.0.0 or ::), which are reachable through any.
func interfaceIPs() map[netip.Addr]struct{} {
	m := map[netip.Addr]struct{}{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil {
			m[pfx.Addr().Unmap()] = struct{}{}
		}
	}
	return m
}

// isSelf reports whether ip:port is one of the server's own listeners.
func (s *Server) isSelf(ip netip.Addr, port uint16) bool {
	ip = ip.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ap := range s.selfAddrs {
		if ap.Port() != port {
			continue
		}
		la := ap.Addr()
		switch {
		case la == ip:
			return true
		case la.IsUnspecified():
			if ip.IsLoopback() || ip.IsUnspecified() {
				return true
			}
			if _, ok := s.localIPs[ip]; ok {
				return true
			}
		case la.IsLoopback() && (ip.IsLoopback() || ip.IsUnspecified()):
			// 127.0.0.1 and 127.0.0.2 are distinct, but a port bound on
			// loopback with nothing else on it is almost surely us.
			if la == ip || ip.IsUnspecified() {
				return true
			}
		}
	}
	return false
}

// targetIsSelf is the pre-dial check on a host as written in a request.
// It runs on every request, so a port no listener uses answers at once,
// without a lock or an allocation.
func (s *Server) targetIsSelf(hostb, portb []byte) bool {
	p := parseDecimal(portb)
	if p < 1 || p > 65535 || !s.isSelfPort(uint16(p)) {
		return false
	}
	host := string(hostb)
	if host == "localhost" {
		return s.isSelf(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(p)) ||
			s.isSelf(netip.IPv6Loopback(), uint16(p))
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return s.isSelf(ip, uint16(p))
}

// isSelfPort reports whether a listener uses port.
func (s *Server) isSelfPort(port uint16) bool {
	for _, p := range *s.selfPorts.Load() {
		if p == port {
			return true
		}
	}
	return false
}

// connIsSelf is the post-dial check on the address a dial reached.
func (s *Server) connIsSelf(c net.Conn) bool {
	ap, ok := addrPortOf(c.RemoteAddr())
	return ok && s.isSelf(ap.Addr(), ap.Port())
}
