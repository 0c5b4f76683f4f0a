package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"strconv"
)

// A small SOCKS5 client (RFC 1928, with RFC 1929 user/password), rather
// than golang.org/x/net/proxy: that one hands back its own wrapper of the
// conn, which hides the *net.TCPConn the tunnel splices through, and its
// errors do not say which reply the server sent. This one writes to the
// conn its caller dialed, reads exactly the server's replies and leaves
// the conn as it was.

// The protocol constants are in socks.go, shared with the server side.

// socksReplies are the reply field's meanings (RFC 1928 §6).
var socksReplies = [...]string{
	repFailure:          "general SOCKS server failure",
	repNotAllowed:       "connection not allowed by ruleset",
	repNetUnreachable:   "network unreachable",
	repHostUnreachable:  "host unreachable",
	repRefused:          "connection refused",
	repTTLExpired:       "TTL expired",
	repCmdNotSupported:  "command not supported",
	repAtypNotSupported: "address type not supported",
}

// socksReplyError is a SOCKS5 server's refusal of a CONNECT: the server
// works, the destination could not be reached from it.
type socksReplyError struct{ code byte }

func (e *socksReplyError) Error() string {
	s := "SOCKS5 reply " + strconv.Itoa(int(e.code))
	if int(e.code) < len(socksReplies) && socksReplies[e.code] != "" {
		return socksReplies[e.code] + " (" + s + ")"
	}
	return s
}

// errSocksAuth is a server that refused the credentials; errSocksMethod
// one that accepts none of the methods offered.
var (
	errSocksAuth   = errors.New("refused the user and password (SOCKS5, RFC 1929)")
	errSocksMethod = errors.New("accepts none of the offered SOCKS5 methods (no authentication, user/password)")
)

// socksError is a reply that breaks the protocol.
type socksError string

func (e socksError) Error() string { return "SOCKS5: " + string(e) }

// appendSocksGreeting builds the greeting: the methods offered, user and
// password only with credentials, so a server that wants none can pick
// "no authentication".
func appendSocksGreeting(b []byte, user string) []byte {
	if user == "" {
		return append(b, socksVersion5, 1, socksNoAuth)
	}
	return append(b, socksVersion5, 2, socksNoAuth, socksUserPass)
}

// appendSocksAuth builds the user/password sub-negotiation (RFC 1929 §2).
func appendSocksAuth(b []byte, user, pass string) []byte {
	b = append(b, socksAuthVer, byte(len(user)))
	b = append(b, user...)
	b = append(b, byte(len(pass)))
	return append(b, pass...)
}

// appendSocksConnect builds the CONNECT request for host:port: an address
// when ip is valid, else the name, for the server to resolve.
func appendSocksConnect(b []byte, host []byte, ip netip.Addr, port uint16) []byte {
	b = append(b, socksVersion5, socksCmdConnect, 0)
	switch {
	case ip.Is4():
		a := ip.As4()
		b = append(append(b, socksAtypIPv4), a[:]...)
	case ip.Is6():
		a := ip.As16()
		b = append(append(b, socksAtypIPv6), a[:]...)
	default:
		b = append(append(b, socksAtypDomain, byte(len(host))), host...)
	}
	return append(b, byte(port>>8), byte(port))
}

// socksConnect runs the client's side of a SOCKS5 CONNECT on a conn whose
// replies br reads: greeting, authentication when the server asks for it,
// and the request for host (or ip when valid) and port. write sends the
// bytes built in scratch. The caller bounds it with deadlines. On success
// the conn carries the tunnel, and br holds any of the destination's
// bytes that came with the reply.
func socksConnect(write func([]byte) error, br *bufio.Reader, scratch []byte, user, pass string, host []byte, ip netip.Addr, port uint16) error {
	if len(user) > 255 || len(pass) > 255 {
		return socksError("user and password must be at most 255 bytes each (RFC 1929)")
	}
	if !ip.IsValid() && len(host) > 255 {
		return socksError("host name over 255 bytes")
	}
	// The request waits for the server's choice of method: sending both
	// at once would save a round trip, but servers that read the greeting
	// with one recv (microsocks) drop what came with it.
	if err := write(appendSocksGreeting(scratch[:0], user)); err != nil {
		return err
	}
	var r [2]byte
	if _, err := io.ReadFull(br, r[:]); err != nil {
		return err
	}
	switch {
	case r[0] != socksVersion5:
		return socksError("the server answered with version " + strconv.Itoa(int(r[0])) + ", not 5: is it a SOCKS5 server?")
	case r[1] == socksNoAcceptable:
		return errSocksMethod
	case r[1] == socksUserPass && user != "":
		if err := write(appendSocksAuth(scratch[:0], user, pass)); err != nil {
			return err
		}
		if _, err := io.ReadFull(br, r[:]); err != nil {
			return err
		}
		if r[1] != 0 {
			return errSocksAuth
		}
	case r[1] != socksNoAuth:
		return socksError("the server chose method " + strconv.Itoa(int(r[1])) + ", which was not offered")
	}
	if err := write(appendSocksConnect(scratch[:0], host, ip, port)); err != nil {
		return err
	}
	// The reply: VER REP RSV ATYP BND.ADDR BND.PORT.
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return err
	}
	if h[0] != socksVersion5 {
		return socksError("malformed reply")
	}
	if h[1] != 0 {
		return &socksReplyError{h[1]}
	}
	var n int
	switch h[3] {
	case socksAtypIPv4:
		n = 4
	case socksAtypIPv6:
		n = 16
	case socksAtypDomain:
		l, err := br.ReadByte()
		if err != nil {
			return err
		}
		n = int(l)
	default:
		return socksError("reply with unknown address type " + strconv.Itoa(int(h[3])))
	}
	_, err := br.Discard(n + 2) // the bound address and port, unused
	return err
}
