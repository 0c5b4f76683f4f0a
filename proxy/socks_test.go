package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/wintest"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// SOCKS5 on the proxy's port (socks.go), driven by curl, Chromium and a
// raw client that writes exact bytes, including wrong ones.

// socksClient is a raw SOCKS5 client on one connection.
type socksClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialSOCKS(t testing.TB, addr string) *socksClient {
	t.Helper()
	rc := dialRaw(t, addr)
	return &socksClient{t: t, c: rc.c, br: rc.br}
}

func (sc *socksClient) send(b ...byte) {
	sc.t.Helper()
	if _, err := sc.c.Write(b); err != nil {
		sc.t.Fatalf("write: %v", err)
	}
}

// expect reads len(want) bytes and fails unless they are want.
func (sc *socksClient) expect(what string, want ...byte) {
	sc.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(sc.br, got); err != nil {
		sc.t.Fatalf("%s: want % x, read: %v", what, want, err)
	}
	if !bytes.Equal(got, want) {
		sc.t.Fatalf("%s: got % x, want % x", what, got, want)
	}
}

// expectClosed fails unless the proxy closes the connection, with no
// more bytes, within patience.
func (sc *socksClient) expectClosed() {
	sc.t.Helper()
	(&rawClient{t: sc.t, c: sc.c, br: sc.br}).expectClosed()
}

// request sends a CONNECT (or cmd) request for the address of type atyp
// and reads the reply: its code and bound address.
func (sc *socksClient) request(cmd, atyp byte, addr []byte, port uint16) (byte, netip.AddrPort) {
	sc.t.Helper()
	b := []byte{5, cmd, 0, atyp}
	if atyp == socksAtypDomain {
		b = append(b, byte(len(addr)))
	}
	b = append(b, addr...)
	b = binary.BigEndian.AppendUint16(b, port)
	sc.send(b...)
	return sc.reply()
}

// reply reads a request's reply.
func (sc *socksClient) reply() (byte, netip.AddrPort) {
	sc.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(sc.br, h[:]); err != nil {
		sc.t.Fatalf("read reply: %v", err)
	}
	if h[0] != 5 || h[2] != 0 {
		sc.t.Fatalf("reply head % x", h)
	}
	n := map[byte]int{socksAtypIPv4: 4, socksAtypIPv6: 16}[h[3]]
	if n == 0 {
		sc.t.Fatalf("reply address type %d", h[3])
	}
	a := make([]byte, n+2)
	if _, err := io.ReadFull(sc.br, a); err != nil {
		sc.t.Fatalf("read reply address: %v", err)
	}
	ip, _ := netip.AddrFromSlice(a[:n])
	return h[1], netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[n:]))
}

// connectTo greets without authentication and asks for host:port,
// written as the address type fits.
func (sc *socksClient) connectTo(hostport string) (byte, netip.AddrPort) {
	sc.t.Helper()
	host, ps, _ := net.SplitHostPort(hostport)
	port, _ := strconv.Atoi(ps)
	sc.send(5, 1, socksNoAuth)
	sc.expect("method", 5, socksNoAuth)
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return sc.request(socksCmdConnect, socksAtypIPv4, ip.AsSlice(), uint16(port))
	} else if err == nil {
		return sc.request(socksCmdConnect, socksAtypIPv6, ip.AsSlice(), uint16(port))
	}
	return sc.request(socksCmdConnect, socksAtypDomain, []byte(host), uint16(port))
}

// get sends a GET through an open tunnel and returns the answer's body.
func (sc *socksClient) get(host string) (int, string) {
	sc.t.Helper()
	fmt.Fprintf(sc.c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	resp, err := http.ReadResponse(sc.br, nil)
	if err != nil {
		sc.t.Fatalf("response through the tunnel: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		sc.t.Fatalf("body through the tunnel: %v", err)
	}
	return resp.StatusCode, string(body)
}

// socksCurl runs curl with args (which name the SOCKS proxy) and a clean
// environment.
func socksCurl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		wintest.SkipUnderWine(t, "no curl.exe under Wine")
		t.Skip("curl is not installed (Debian package curl)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "30"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func helloOrigin(t *testing.T) *origin {
	return startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from " + r.Host))
	}))
}

// TestSOCKSCurl drives SOCKS5 with curl: an IPv4 address (--socks5), a
// name resolved by Sluice (--socks5-hostname), and user/password
// (socks5h://user:pass@). Each is a tunnel in the stats and an access
// record with Method SOCKS5.
func TestSOCKSCurl(t *testing.T) {
	o := helloOrigin(t)
	_, port, _ := net.SplitHostPort(o.hostPort())
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	for _, tc := range []struct{ name, flag, url, host string }{
		{"socks5", "--socks5", o.URL, "127.0.0.1"},
		{"socks5-hostname", "--socks5-hostname", "http://localhost:" + port + "/", "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.srv.Stats().Snapshot().TunnelsTotal
			out, stderr, err := socksCurl(t, tc.flag, p.addr, tc.url)
			if err != nil {
				t.Fatalf("curl: %v: %s", err, stderr)
			}
			if !strings.HasPrefix(out, "hello from ") {
				t.Fatalf("curl got %q", out)
			}
			waitFor(t, "the tunnel's access record", func() bool {
				recs := log.records()
				return len(recs) > 0 && recs[len(recs)-1].Host == tc.host
			})
			recs := log.records()
			r := recs[len(recs)-1]
			if r.Method != "SOCKS5" || !r.Tunnel || r.Status != 200 || r.Port != port || r.Scheme != "" || r.BytesOut == 0 {
				t.Errorf("access record %+v", r)
			}
			if got := p.srv.Stats().Snapshot().TunnelsTotal; got != before+1 {
				t.Errorf("tunnels total %d, want %d", got, before+1)
			}
		})
	}
	t.Run("user and password", func(t *testing.T) {
		p := startProxy(t, Config{Clients: ClientPolicy{Users: map[string]string{"ann": hashFor(t, "s3cret")}}})
		out, stderr, err := socksCurl(t, "--proxy", "socks5h://ann:s3cret@"+p.addr, o.URL)
		if err != nil || !strings.HasPrefix(out, "hello from ") {
			t.Fatalf("curl: %v %q: %s", err, out, stderr)
		}
		_, stderr, err = socksCurl(t, "--proxy", "socks5h://ann:wrong@"+p.addr, o.URL)
		if err == nil {
			t.Fatal("curl with a wrong password got through")
		}
		if !strings.Contains(stderr, "rejected") {
			t.Errorf("curl's error %q does not say the user was rejected", stderr)
		}
	})
}

// TestSOCKSAndHTTPOnOnePort serves an HTTP client and SOCKS5 clients on
// one port at the same time.
func TestSOCKSAndHTTPOnOnePort(t *testing.T) {
	o := helloOrigin(t)
	p := startProxy(t, Config{})
	sc := dialSOCKS(t, p.addr) // open, and left waiting while HTTP runs
	sc.send(5, 1, socksNoAuth)
	sc.expect("method", 5, socksNoAuth)
	resp, body := mustGet(t, p.client(t), o.URL)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "hello from") {
		t.Fatalf("HTTP client: %d %q", resp.StatusCode, body)
	}
	ip := netip.MustParseAddrPort(o.hostPort())
	rep, bound := sc.request(socksCmdConnect, socksAtypIPv4, ip.Addr().AsSlice(), ip.Port())
	if rep != repSucceeded {
		t.Fatalf("reply %d", rep)
	}
	if !bound.Addr().IsLoopback() || bound.Port() == 0 || bound.Port() == ip.Port() {
		t.Errorf("bound address %v is not the upstream conn's local end", bound)
	}
	if code, body := sc.get(o.hostPort()); code != 200 || !strings.HasPrefix(body, "hello from") {
		t.Fatalf("SOCKS client: %d %q", code, body)
	}
	// HTTP on a conn opened after the SOCKS one.
	resp, _ = mustGet(t, p.client(t), o.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP client after SOCKS: %d", resp.StatusCode)
	}
}

// TestSOCKSIPv6 reaches an origin on [::1] by its IPv6 address, with the
// raw client and with curl.
func TestSOCKSIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	o := &origin{Server: newUnstartedOn(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("v6 " + r.Host))
	}))}
	o.Start()
	t.Cleanup(o.Close)
	p := startProxy(t, Config{})
	sc := dialSOCKS(t, p.addr)
	rep, bound := sc.connectTo(ln.Addr().String())
	if rep != repSucceeded || bound.Addr() != netip.IPv6Loopback() {
		t.Fatalf("reply %d, bound %v", rep, bound)
	}
	if code, body := sc.get(ln.Addr().String()); code != 200 || !strings.HasPrefix(body, "v6 ") {
		t.Fatalf("through the tunnel: %d %q", code, body)
	}
	out, stderr, err := socksCurl(t, "--socks5", p.addr, "http://"+ln.Addr().String()+"/")
	if err != nil || !strings.HasPrefix(out, "v6 ") {
		t.Fatalf("curl: %v %q: %s", err, out, stderr)
	}
}

// TestSOCKSHandshakeErrors sends malformed, truncated and unsupported
// handshakes: each gets its reply code, or the connection closes within
// read_header_timeout, and the proxy keeps serving.
func TestSOCKSHandshakeErrors(t *testing.T) {
	o := helloOrigin(t)
	ip := netip.MustParseAddrPort(o.hostPort())
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close() // nothing listens there now: the dial is refused
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := netip.MustParseAddrPort(ln.Addr().String())
	log := &accessLog{}
	const rht = 300 * time.Millisecond
	var debug lockedBuffer
	logger := slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := serveProxy(t, Config{Access: log, Logger: logger, ReadHeaderTimeout: rht, ConnectPorts: []int{int(ip.Port()), int(closedPort), int(self.Port())}}, ln)
	lo := []byte{127, 0, 0, 1}
	greet := func(sc *socksClient) {
		sc.send(5, 1, socksNoAuth)
		sc.expect("method", 5, socksNoAuth)
	}
	for _, tc := range []struct {
		name string
		run  func(sc *socksClient)
		code int // the access record's status; 0 for none
		kind stats.ErrKind
	}{
		{"SOCKS4 is closed", func(sc *socksClient) {
			sc.send(4, 1, 0, 80, 127, 0, 0, 1, 0)
			sc.expectClosed()
			if !strings.Contains(debug.String(), "SOCKS4 refused") {
				t.Errorf("no debug line for SOCKS4 in %q", debug.String())
			}
		}, 0, 0},
		{"no method offered", func(sc *socksClient) {
			sc.send(5, 0)
			sc.expect("method", 5, socksNoAcceptable)
			sc.expectClosed()
		}, http.StatusProxyAuthRequired, stats.ErrAuth},
		{"only user/password offered, no users", func(sc *socksClient) {
			sc.send(5, 1, socksUserPass)
			sc.expect("method", 5, socksNoAcceptable)
			sc.expectClosed()
		}, http.StatusProxyAuthRequired, stats.ErrAuth},
		{"greeting truncated", func(sc *socksClient) {
			sc.send(5, 3, 0)
			sc.expectClosed()
		}, http.StatusRequestTimeout, stats.ErrClientTimeout},
		{"greeting cut by the client", func(sc *socksClient) {
			sc.send(5, 3, 0)
			sc.c.(*net.TCPConn).CloseWrite()
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"request truncated", func(sc *socksClient) {
			greet(sc)
			sc.send(5, 1, 0, socksAtypIPv4, 127, 0)
			sc.expectClosed()
		}, http.StatusRequestTimeout, stats.ErrClientTimeout},
		{"domain truncated", func(sc *socksClient) {
			greet(sc)
			sc.send(5, 1, 0, socksAtypDomain, 20, 'a', 'b')
			sc.expectClosed()
		}, http.StatusRequestTimeout, stats.ErrClientTimeout},
		{"request version 4", func(sc *socksClient) {
			greet(sc)
			sc.send(4, 1, 0, socksAtypIPv4, 127, 0, 0, 1, 0, 80)
			if rep, _ := sc.reply(); rep != repFailure {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"BIND", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(2, socksAtypIPv4, lo, ip.Port()); rep != repCmdNotSupported {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"UDP ASSOCIATE", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(3, socksAtypIPv4, []byte{0, 0, 0, 0}, 0); rep != repCmdNotSupported {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"unknown address type", func(sc *socksClient) {
			greet(sc)
			sc.send(5, 1, 0, 9, 127, 0, 0, 1, 0, 80)
			if rep, _ := sc.reply(); rep != repAtypNotSupported {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"unknown address type, with more bytes behind", func(sc *socksClient) {
			greet(sc)
			sc.send(append([]byte{5, 1, 0, 9}, make([]byte, 64<<10)...)...)
			if rep, _ := sc.reply(); rep != repAtypNotSupported {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"refused, with data sent behind the request", func(sc *socksClient) {
			greet(sc)
			req := append([]byte{5, socksCmdConnect, 0, socksAtypIPv4}, lo...)
			req = binary.BigEndian.AppendUint16(req, closedPort)
			sc.send(append(req, make([]byte, 64<<10)...)...)
			if rep, _ := sc.reply(); rep != repRefused {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadGateway, stats.ErrRefused},
		{"domain with a colon", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypDomain, []byte("a:b"), ip.Port()); rep != repFailure {
				t.Errorf("reply %d", rep)
			}
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"empty domain", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypDomain, nil, ip.Port()); rep != repFailure {
				t.Errorf("reply %d", rep)
			}
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"port 0", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypIPv4, lo, 0); rep != repFailure {
				t.Errorf("reply %d", rep)
			}
		}, http.StatusBadRequest, stats.ErrBadRequest},
		{"connection refused", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypIPv4, lo, closedPort); rep != repRefused {
				t.Errorf("reply %d", rep)
			}
			sc.expectClosed()
		}, http.StatusBadGateway, stats.ErrRefused},
		{"port not in connect_ports", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypIPv4, lo, 1); rep != repNotAllowed {
				t.Errorf("reply %d", rep)
			}
		}, http.StatusForbidden, stats.ErrForbidden},
		{"Sluice itself", func(sc *socksClient) {
			greet(sc)
			if rep, _ := sc.request(socksCmdConnect, socksAtypIPv4, lo, self.Port()); rep != repNotAllowed {
				t.Errorf("reply %d", rep)
			}
		}, http.StatusLoopDetected, stats.ErrLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(log.records())
			sc := dialSOCKS(t, p.addr)
			start := time.Now()
			tc.run(sc)
			if d := time.Since(start); d > rht+5*time.Second {
				t.Errorf("took %v, read_header_timeout is %v", d, rht)
			}
			if tc.code == 0 {
				time.Sleep(50 * time.Millisecond)
				if len(log.records()) != n {
					t.Errorf("an access record for a SOCKS4 connection: %+v", log.records()[n:])
				}
				return
			}
			checkKind(t, log, tc.code, tc.kind)
			if r := log.records(); r[len(r)-1].Method != "SOCKS5" || r[len(r)-1].Tunnel {
				t.Errorf("access record %+v", r[len(r)-1])
			}
		})
	}
	// Still serving, with SOCKS and HTTP.
	sc := dialSOCKS(t, p.addr)
	if rep, _ := sc.connectTo(o.hostPort()); rep != repSucceeded {
		t.Fatalf("reply %d after the bad handshakes", rep)
	}
	if resp, _ := mustGet(t, p.client(t), o.URL); resp.StatusCode != 200 {
		t.Fatalf("HTTP after the bad handshakes: %d", resp.StatusCode)
	}
}

// TestSOCKSDialErrors maps dial failures the loopback cannot produce (a
// network or host without a route, a name that does not resolve, a
// connect that times out) to their reply codes, through Config.Dial.
func TestSOCKSDialErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		rep  byte
		kind stats.ErrKind
	}{
		{"network unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errNetUnreachable)}, repNetUnreachable, stats.ErrRefused},
		{"host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errHostUnreachable)}, repHostUnreachable, stats.ErrRefused},
		{"unknown name", &net.DNSError{Err: "no such host", Name: "nowhere.test", IsNotFound: true}, repHostUnreachable, stats.ErrDNS},
		{"connect timeout", nil, repTTLExpired, stats.ErrConnectTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
				if tc.err != nil {
					return nil, false, tc.err
				}
				<-ctx.Done() // a SYN nobody answers
				return nil, false, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
			}
			log := &accessLog{}
			p := startProxy(t, Config{Access: log, Dial: dial, ConnectTimeout: 200 * time.Millisecond})
			sc := dialSOCKS(t, p.addr)
			if rep, _ := sc.connectTo("nowhere.test:80"); rep != tc.rep {
				t.Errorf("reply %d, want %d", rep, tc.rep)
			}
			sc.expectClosed()
			waitFor(t, "an access record", func() bool { return len(log.records()) == 1 })
			if r := log.records()[0]; r.Err != tc.kind || r.Host != "nowhere.test" || r.Method != "SOCKS5" {
				t.Errorf("access record %+v", r)
			}
		})
	}
}

// TestSOCKSAuth checks RFC 1929 user/password against [access] users:
// required when users are set, a wrong password refused, the right one
// served, and a greeting without the method refused.
func TestSOCKSAuth(t *testing.T) {
	o := helloOrigin(t)
	log := &accessLog{}
	p := startProxy(t, Config{Access: log, ReadHeaderTimeout: time.Second, Clients: ClientPolicy{Users: map[string]string{"ann": hashFor(t, "s3cret")}}})
	auth := func(sc *socksClient, user, pass string) {
		sc.send(5, 2, socksNoAuth, socksUserPass)
		sc.expect("method", 5, socksUserPass)
		b := append([]byte{1, byte(len(user))}, user...)
		b = append(append(b, byte(len(pass))), pass...)
		sc.send(b...)
	}
	t.Run("no-auth only", func(t *testing.T) {
		sc := dialSOCKS(t, p.addr)
		sc.send(5, 1, socksNoAuth)
		sc.expect("method", 5, socksNoAcceptable)
		sc.expectClosed()
		checkKind(t, log, http.StatusProxyAuthRequired, stats.ErrAuth)
	})
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "ann", "guess"},
		{"unknown user", "bob", "s3cret"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := dialSOCKS(t, p.addr)
			auth(sc, tc.user, tc.pass)
			sc.expect("auth status", 1, socksAuthFailed)
			sc.expectClosed()
			checkKind(t, log, http.StatusProxyAuthRequired, stats.ErrAuth)
		})
	}
	t.Run("wrong subnegotiation version", func(t *testing.T) {
		sc := dialSOCKS(t, p.addr)
		sc.send(5, 1, socksUserPass)
		sc.expect("method", 5, socksUserPass)
		sc.send(5, 3, 'a', 'n', 'n', 1, 'x')
		sc.expectClosed()
		checkKind(t, log, http.StatusBadRequest, stats.ErrBadRequest)
	})
	t.Run("right password", func(t *testing.T) {
		for range 2 { // the second from the credential cache
			sc := dialSOCKS(t, p.addr)
			auth(sc, "ann", "s3cret")
			sc.expect("auth status", 1, socksAuthSucceeded)
			ip := netip.MustParseAddrPort(o.hostPort())
			if rep, _ := sc.request(socksCmdConnect, socksAtypIPv4, ip.Addr().AsSlice(), ip.Port()); rep != repSucceeded {
				t.Fatalf("reply %d", rep)
			}
			if code, body := sc.get(o.hostPort()); code != 200 || !strings.HasPrefix(body, "hello") {
				t.Fatalf("through the tunnel: %d %q", code, body)
			}
		}
	})
}

// TestSOCKSAccess checks [access] allow and the destination guard for a
// SOCKS5 client on another machine, as TestAccessAllow and
// TestAccessDestinations do for HTTP.
func TestSOCKSAccess(t *testing.T) {
	o := helloOrigin(t)
	t.Run("outside allow", func(t *testing.T) {
		log := &accessLog{}
		p := serveRemote(t, Config{Access: log, Dial: testNetDial(o.hostPort())}, remoteClient)
		sc := dialSOCKS(t, p.addr)
		if rep, _ := sc.connectTo(originName); rep != repNotAllowed {
			t.Fatalf("reply %d", rep)
		}
		sc.expectClosed()
		checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
		// Offered user/password only, it is not asked for any.
		sc = dialSOCKS(t, p.addr)
		sc.send(5, 1, socksUserPass)
		sc.expect("method", 5, socksNoAcceptable)
		sc.expectClosed()
		checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
		if n := o.accepted.Load(); n != 0 {
			t.Errorf("the origin got %d connections from a client not allowed", n)
		}
	})
	t.Run("loopback not in allow", func(t *testing.T) {
		p := startProxy(t, Config{Clients: ClientPolicy{Allow: []netip.Prefix{testNet}}})
		sc := dialSOCKS(t, p.addr)
		if rep, _ := sc.connectTo(o.hostPort()); rep != repNotAllowed {
			t.Fatalf("reply %d", rep)
		}
	})
	t.Run("inside allow", func(t *testing.T) {
		var dials int
		names := mapDial(map[string]string{"rebound.test:80": o.hostPort()})
		dial := func(ctx context.Context, network, addr string) (net.Conn, bool, error) {
			dials++
			if addr == originName {
				return testNetDial(o.hostPort())(ctx, network, addr)
			}
			return names(ctx, network, addr)
		}
		log := &accessLog{}
		p := serveRemote(t, Config{Access: log, Dial: dial, Clients: ClientPolicy{Allow: []netip.Prefix{testNet}}}, remoteClient)
		sc := dialSOCKS(t, p.addr)
		if rep, _ := sc.connectTo(originName); rep != repSucceeded {
			t.Fatalf("reply %d", rep)
		}
		if code, _ := sc.get(originName); code != 200 {
			t.Fatalf("through the tunnel: %d", code)
		}
		// The tunnel's record comes when it ends: let it come before the
		// refusals, whose records are checked as the latest.
		sc.c.Close()
		checkKind(t, log, http.StatusOK, stats.ErrNone)
		dials = 0
		for _, target := range []string{o.hostPort(), "localhost:80", "[::1]:80", "169.254.169.254:80"} {
			sc := dialSOCKS(t, p.addr)
			if rep, _ := sc.connectTo(target); rep != repNotAllowed {
				t.Errorf("%s: reply %d", target, rep)
			}
			checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
		}
		if dials != 0 {
			t.Errorf("%d dials for loopback and link-local targets", dials)
		}
		// A name that leads to loopback is refused once the dial shows it.
		sc = dialSOCKS(t, p.addr)
		if rep, _ := sc.connectTo("rebound.test:80"); rep != repNotAllowed {
			t.Errorf("rebound name: reply %d", rep)
		}
		checkKind(t, log, http.StatusForbidden, stats.ErrForbidden)
	})
	t.Run("rate limit", func(t *testing.T) {
		p := startProxy(t, Config{Clients: ClientPolicy{RateLimit: 0.01}})
		if rep, _ := dialSOCKS(t, p.addr).connectTo(o.hostPort()); rep != repSucceeded {
			t.Fatalf("first: reply %d", rep)
		}
		if rep, _ := dialSOCKS(t, p.addr).connectTo(o.hostPort()); rep != repNotAllowed {
			t.Fatalf("over the rate limit: reply %d", rep)
		}
	})
}

// TestSOCKSOff checks that with NoSOCKS a SOCKS5 greeting is not
// answered as one: it reads as a malformed HTTP request.
func TestSOCKSOff(t *testing.T) {
	p := startProxy(t, Config{NoSOCKS: true, ReadHeaderTimeout: 300 * time.Millisecond})
	rc := dialRaw(t, p.addr)
	rc.send("\x05\x01\x00")
	resp, body := rc.response("GET")
	checkError(t, resp, body, http.StatusRequestTimeout)
}

// TestSOCKSChromium loads a page from a loopback origin in headless
// Chromium with Sluice as its SOCKS5 proxy.
func TestSOCKSChromium(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	o := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body><p id=x>served through " + r.Host + "</p></body></html>"))
	}))
	log := &accessLog{}
	p := startProxy(t, Config{Access: log})
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, path, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--user-data-dir="+home+"/profile",
		"--proxy-server=socks5://"+p.addr,
		// Chromium goes direct to loopback unless told not to.
		"--proxy-bypass-list=<-loopback>",
		"--dump-dom", o.URL+"/page")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(errb.String(), 2000))
	}
	if !strings.Contains(out.String(), "served through "+o.hostPort()) {
		t.Fatalf("chromium's DOM: %q\n%s", out.String(), tail(errb.String(), 2000))
	}
	var socks bool
	for _, r := range log.records() {
		socks = socks || r.Method == "SOCKS5" && r.Status == 200
	}
	if !socks {
		t.Fatalf("no SOCKS5 tunnel in the access log: %+v", log.records())
	}
}

// BenchmarkSOCKSTunnel is BenchmarkTunnel through a SOCKS5 tunnel: the
// same tunnel after a different handshake, so the two should match.
func BenchmarkSOCKSTunnel(b *testing.B) {
	benchTunnel(b, func(c net.Conn, target string) error {
		ap := netip.MustParseAddrPort(target)
		req := append([]byte{5, 1, socksNoAuth, 5, socksCmdConnect, 0, socksAtypIPv4}, ap.Addr().AsSlice()...)
		c.Write(binary.BigEndian.AppendUint16(req, ap.Port()))
		var reply [2 + 10]byte
		if _, err := io.ReadFull(c, reply[:]); err != nil {
			return err
		}
		if reply[1] != socksNoAuth || reply[3] != repSucceeded {
			return fmt.Errorf("SOCKS5 answer % x", reply)
		}
		return nil
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// newUnstartedOn is an httptest server for h on ln.
func newUnstartedOn(ln net.Listener, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	return s
}

// TestSOCKSRouted: SOCKS5 tunnels go as the router says, as CONNECT
// does: a blocked destination is "not allowed by ruleset", a group with
// every member down a general failure, and a routed one goes through the
// upstream proxy (here a Go HTTP parent, by CONNECT), which sees it.
func TestSOCKSRouted(t *testing.T) {
	o := helloOrigin(t)
	gp := startGoParent(t, false, "")
	up, reps := testUpstream(t, "corp", gp.URL)
	router := routerFunc(func(host, port []byte) Route {
		switch string(host) {
		case "ads.example":
			return Route{Block: "blocked by rule 0", Rule: 0}
		case "work.example":
			return Route{Down: "work", Rule: 1}
		}
		return Route{Upstream: up, Rule: 2}
	})
	log := &accessLog{}
	p := startProxy(t, Config{Router: router, Access: log})
	for host, want := range map[string]byte{"ads.example:443": repNotAllowed, "work.example:443": repFailure} {
		if rep, _ := dialSOCKS(t, p.addr).connectTo(host); rep != want {
			t.Errorf("SOCKS CONNECT %s: reply %d, want %d", host, rep, want)
		}
	}
	sc := dialSOCKS(t, p.addr)
	if rep, _ := sc.connectTo(o.hostPort()); rep != repSucceeded {
		t.Fatalf("SOCKS CONNECT through the parent: reply %d", rep)
	}
	if code, body := sc.get(o.hostPort()); code != 200 || !strings.HasPrefix(body, "hello from") {
		t.Fatalf("through the parent: %d %q", code, body)
	}
	if seen := gp.requests(); len(seen) != 1 || !strings.HasPrefix(seen[0], "CONNECT "+o.hostPort()) {
		t.Errorf("the parent saw %q, want one CONNECT %s", seen, o.hostPort())
	}
	if reps.ok.Load() != 1 {
		t.Errorf("the upstream heard %d successes, want 1", reps.ok.Load())
	}
	sc.c.Close() // the record comes when the tunnel ends
	waitFor(t, "the tunnel's access record", func() bool {
		for _, r := range log.records() {
			if r.Method == "SOCKS5" && r.Upstream == "corp" {
				return true
			}
		}
		return false
	})
}
