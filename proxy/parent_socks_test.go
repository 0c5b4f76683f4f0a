//go:build linux

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// SOCKS5 parents for real: microsocks and dante-server's danted, each
// run by the test on a free loopback port, as socks5 (Sluice resolves)
// and socks5h (the parent resolves), with and without a user and
// password (microsocks; danted's user/password checks system accounts,
// which a test should not create).

// runServer starts a server in its own process group, waits until addr
// accepts, and kills the group when the test ends.
func runServer(t testing.TB, addr, path string, args ...string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	parenttest.WaitListening(t, path, addr, exited, out)
}

// startMicrosocks runs microsocks, with a user and password unless user
// is "", and returns its address.
func startMicrosocks(t testing.TB, user, pass string) string {
	t.Helper()
	path, err := exec.LookPath("microsocks")
	if err != nil {
		t.Skip("microsocks is not on PATH (Debian package microsocks)")
	}
	addr := freeLoopbackAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-i", host, "-p", port}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	runServer(t, addr, path, args...)
	return addr
}

// startDante runs danted without authentication and returns its address.
func startDante(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("danted")
	if err != nil {
		t.Skip("danted is not on PATH (Debian package dante-server)")
	}
	if os.Geteuid() != 0 {
		t.Skip("danted wants to start as root (it drops to nobody)")
	}
	addr := freeLoopbackAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`logoutput: stderr
internal: %s port = %s
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }
`, host, port)
	confPath := filepath.Join(t.TempDir(), "danted.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runServer(t, addr, path, "-f", confPath, "-N", "1")
	return addr
}

// resolveOnly is a Config.Resolve that answers 127.0.0.1 for localhost,
// counting its lookups, and fails every other name.
type resolveOnly struct{ lookups atomic.Int64 }

func (r *resolveOnly) resolve(_ context.Context, host string) ([]netip.Addr, bool, error) {
	r.lookups.Add(1)
	if host != "localhost" {
		return nil, false, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, false, nil
}

func TestParentSOCKS5(t *testing.T) {
	o := startHello(t)
	_, port, _ := net.SplitHostPort(o.hostPort())
	target := "localhost:" + port // named, so who resolves it shows

	servers := []struct {
		name, user, pass string
		start            func(t *testing.T) string
	}{
		{"microsocks", "", "", func(t *testing.T) string { return startMicrosocks(t, "", "") }},
		{"microsocks with user and password", "alice", "s3cret", func(t *testing.T) string { return startMicrosocks(t, "alice", "s3cret") }},
		{"danted", "", "", func(t *testing.T) string { return startDante(t) }},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			addr := srv.start(t)
			for _, scheme := range []string{"socks5", "socks5h"} {
				t.Run(scheme, func(t *testing.T) {
					cred := ""
					if srv.user != "" {
						cred = srv.user + ":" + srv.pass + "@"
					}
					up, rep := testUpstream(t, "s", scheme+"://"+cred+addr)
					res := &resolveOnly{}
					log := &accessLog{}
					p := startProxy(t, Config{Router: via(up), Resolve: res.resolve, Access: log})

					// Plain HTTP, in origin form over a tunnel pooled per
					// parent and destination.
					rc := dialRaw(t, p.addr)
					for i := range 2 {
						path := fmt.Sprintf("/plain%d", i)
						rc.send("GET http://" + target + path + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
						if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "hello "+path {
							t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
						}
					}
					if s := p.srv.Stats().Snapshot(); s.Upstream.Reused != 1 || s.Upstream.Dialed != 1 {
						t.Errorf("conns through the parent: %d reused, %d dialed; want 1 and 1", s.Upstream.Reused, s.Upstream.Dialed)
					}

					// A CONNECT tunnel.
					tc := dialRaw(t, p.addr)
					tc.send("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
					if resp, _ := tc.response("CONNECT"); resp.StatusCode != 200 {
						t.Fatalf("CONNECT: %d", resp.StatusCode)
					}
					tc.send("GET /tunnelled HTTP/1.1\r\nHost: " + target + "\r\n\r\n")
					if resp, body := tc.response("GET"); resp.StatusCode != 200 || body != "hello /tunnelled" {
						t.Fatalf("through the tunnel: %d %q", resp.StatusCode, body)
					}

					wantLookups := int64(0)
					if scheme == "socks5" {
						wantLookups = 2 // one per new tunnel: the plain requests' and the CONNECT's
					}
					if got := res.lookups.Load(); got != wantLookups {
						t.Errorf("Sluice resolved the name %d times, want %d for %s", got, wantLookups, scheme)
					}
					if rep.ok.Load() != 2 || rep.failed.Load() != 0 {
						t.Errorf("Report: %d ok, %d failed; want 2 ok", rep.ok.Load(), rep.failed.Load())
					}
					waitFor(t, "the plain requests' records", func() bool { return len(log.records()) >= 2 })
					if r := log.records()[0]; r.Upstream != "s" {
						t.Errorf("record Upstream %q, want s", r.Upstream)
					}
				})
			}
		})
	}
}

func TestParentSOCKS5Errors(t *testing.T) {
	addr := startMicrosocks(t, "alice", "s3cret")
	o := startHello(t)
	dead := freeLoopbackAddr(t)
	cases := []struct {
		name, url, target string
		code              int
		reason            string
		ok, failed        int64
	}{
		{"wrong password", "socks5h://alice:wrong@" + addr, o.hostPort(), 502,
			"upstream proxy s (" + addr + ") refused Sluice's user and password (SOCKS5, RFC 1929): check the user and password in its url", 0, 1},
		{"no credentials", "socks5h://" + addr, o.hostPort(), 502,
			"upstream proxy s (" + addr + "): SOCKS5: " + errSocksMethod.Error(), 0, 1},
		{"destination refused", "socks5h://alice:s3cret@" + addr, dead, 502,
			"upstream proxy s (" + addr + "): " + dead + ": connection refused (SOCKS5 reply 5)", 1, 0},
		{"name Sluice cannot resolve", "socks5://alice:s3cret@" + addr, "nowhere.invalid:80", 502,
			"unknown host nowhere.invalid", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up, rep := testUpstream(t, "s", c.url)
			p := startProxy(t, Config{Router: via(up), Resolve: (&resolveOnly{}).resolve})
			rc := dialRaw(t, p.addr)
			rc.send("CONNECT " + c.target + " HTTP/1.1\r\nHost: " + c.target + "\r\n\r\n")
			resp, body := rc.response("CONNECT")
			if reason := checkError(t, resp, body, c.code); reason != "sluice: "+c.reason+"\n" {
				t.Errorf("reason %q, want %q", reason, c.reason)
			}
			if rep.ok.Load() != c.ok || rep.failed.Load() != c.failed {
				t.Errorf("Report: %d ok, %d failed; want %d and %d", rep.ok.Load(), rep.failed.Load(), c.ok, c.failed)
			}
		})
	}
	// A server that is not SOCKS5 at all: an HTTP server refusing the
	// greeting.
	notSocks := startRawOrigin(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
	})
	up, _ := testUpstream(t, "s", "socks5h://"+notSocks.addr)
	p := startProxy(t, Config{Router: via(up)})
	rc := dialRaw(t, p.addr)
	rc.send("CONNECT " + o.hostPort() + " HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.response("CONNECT")
	if reason := checkError(t, resp, body, 502); !strings.Contains(reason, "answered with version 72, not 5: is it a SOCKS5 server?") {
		t.Errorf("an HTTP server as a SOCKS5 parent: %q", reason)
	}
}
