package resolver

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// localhost and its subdomains reach a server on either loopback address,
// whatever the hosts file says (RFC 6761 section 6.3): a hosts file that
// lists localhost for one family only must not hide a server listening
// only on the other. Each case dials through the Happy Eyeballs dialer,
// with Sluice's resolver and with the system one ([dns] enabled = false).
func TestLocalhostReachesEitherLoopback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string // the server's only address
		hosts  string // the hosts file, listing localhost for the other family only
	}{
		{"server on ::1, hosts file has 127.0.0.1", "[::1]:0", "127.0.0.1 localhost app.localhost\n"},
		{"server on 127.0.0.1, hosts file has ::1", "127.0.0.1:0", "::1 localhost app.localhost\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if probe, err := net.Listen("tcp", tc.listen); err != nil {
				t.Skipf("no loopback address %s here: %v", tc.listen, err)
			} else {
				probe.Close()
			}
			l := listenTCP(t, tc.listen)
			port := l.Addr().(*net.TCPAddr).Port
			r := newTestResolver(t, Config{Servers: []string{closedPort(t)}, HostsFile: writeFile(t, "hosts", tc.hosts)}, nil)
			// The system resolver gets plain "localhost" only: where the
			// fix is missing it would send other names to a DNS server.
			dialers := []struct {
				name  string
				d     *Dialer
				hosts []string
			}{
				{"sluice resolver", &Dialer{Resolver: r}, []string{"localhost", "LocalHost.", "app.localhost"}},
				{"system resolver", &Dialer{}, []string{"localhost"}},
			}
			for _, dl := range dialers {
				dname, d := dl.name, dl.d
				for _, host := range dl.hosts {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					c, cached, err := d.Dial(ctx, "tcp", fmt.Sprintf("%s:%d", host, port))
					cancel()
					if err != nil {
						t.Errorf("%s: dial %s:%d: %v", dname, host, port, err)
						continue
					}
					if got := c.RemoteAddr().String(); got != l.Addr().String() {
						t.Errorf("%s: %s connected to %s, want %s", dname, host, got, l.Addr())
					}
					c.Close()
					if !cached {
						t.Errorf("%s: %s was not answered from memory", dname, host)
					}
				}
			}
		})
	}
}
