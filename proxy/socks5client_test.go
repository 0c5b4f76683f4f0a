package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// TestSocksConnectBytes pins the SOCKS5 client's bytes (RFC 1928, RFC
// 1929) against scripted server replies: the greeting offers user/password
// only with credentials, the request carries an IPv4, IPv6 or domain
// address, and every bound-address type in the reply is read to its end
// and no further, so the tunnel's first byte is the destination's.
func TestSocksConnectBytes(t *testing.T) {
	const after = "destination's first bytes"
	cases := []struct {
		name       string
		user, pass string
		host       string
		ip         string
		port       uint16
		replies    string
		wantSent   string
		wantErr    error
		wantErrStr string
	}{
		{name: "IPv4, no auth", host: "10.1.2.3", ip: "10.1.2.3", port: 80,
			replies:  "\x05\x00" + "\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90",
			wantSent: "\x05\x01\x00" + "\x05\x01\x00\x01\x0a\x01\x02\x03\x00\x50"},
		{name: "IPv6, bound IPv6", host: "2001:db8::1", ip: "2001:db8::1", port: 443,
			replies:  "\x05\x00" + "\x05\x00\x00\x04" + string(make([]byte, 16)) + "\x01\xbb",
			wantSent: "\x05\x01\x00" + "\x05\x01\x00\x04\x20\x01\x0d\xb8" + string(make([]byte, 11)) + "\x01\x01\xbb"},
		{name: "domain with user and password, bound domain", user: "alice", pass: "pw", host: "example.com", port: 8080,
			replies:  "\x05\x02" + "\x01\x00" + "\x05\x00\x00\x03\x04host\x00\x01",
			wantSent: "\x05\x02\x00\x02" + "\x01\x05alice\x02pw" + "\x05\x01\x00\x03\x0bexample.com\x1f\x90"},
		{name: "credentials offered, none wanted", user: "alice", pass: "pw", host: "example.com", port: 80,
			replies:  "\x05\x00" + "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00",
			wantSent: "\x05\x02\x00\x02" + "\x05\x01\x00\x03\x0bexample.com\x00\x50"},
		{name: "password refused", user: "alice", pass: "pw", host: "example.com", port: 80,
			replies: "\x05\x02" + "\x01\x01", wantErr: errSocksAuth},
		{name: "no acceptable method", host: "example.com", port: 80,
			replies: "\x05\xff", wantErr: errSocksMethod},
		{name: "method not offered", host: "example.com", port: 80,
			replies: "\x05\x02", wantErrStr: "SOCKS5: the server chose method 2, which was not offered"},
		{name: "host unreachable", host: "example.com", port: 80,
			replies: "\x05\x00" + "\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00", wantErrStr: "host unreachable (SOCKS5 reply 4)"},
		{name: "unknown reply code", host: "example.com", port: 80,
			replies: "\x05\x00" + "\x05\x2a\x00\x01\x00\x00\x00\x00\x00\x00", wantErrStr: "SOCKS5 reply 42"},
		{name: "unknown address type", host: "example.com", port: 80,
			replies: "\x05\x00" + "\x05\x00\x00\x07", wantErrStr: "SOCKS5: reply with unknown address type 7"},
		{name: "name over 255 bytes", host: string(bytes.Repeat([]byte("a"), 256)), port: 80,
			wantErrStr: "SOCKS5: host name over 255 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sent bytes.Buffer
			write := func(b []byte) error { sent.Write(b); return nil }
			br := bufio.NewReader(bytes.NewReader([]byte(c.replies + after)))
			var ip netip.Addr
			if c.ip != "" {
				ip = netip.MustParseAddr(c.ip)
			}
			err := socksConnect(write, br, nil, c.user, c.pass, []byte(c.host), ip, c.port)
			switch {
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				return
			case c.wantErrStr != "":
				if err == nil || err.Error() != c.wantErrStr {
					t.Fatalf("err %v, want %q", err, c.wantErrStr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if sent.String() != c.wantSent {
				t.Errorf("sent %q, want %q", sent.String(), c.wantSent)
			}
			if rest, _ := br.Peek(br.Buffered()); string(rest) != after {
				t.Errorf("left %q for the tunnel, want %q", rest, after)
			}
		})
	}
}
