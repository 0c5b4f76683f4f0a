package proxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// squidProc is a squid run by a test.
type squidProc struct {
	addr, dir string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// Squid's caching, for runSquid's conf: none, or a memory cache (64 MB,
// collapsed forwarding on) for the cache's cross-check.
const (
	squidNoCache     = "cache deny all\ncache_mem 4 MB\n"
	squidMemoryCache = "cache_mem 64 MB\nmaximum_object_size_in_memory 4 MB\nmemory_cache_mode always\ncollapsed_forwarding on\n"
)

// runSquid runs squid in the foreground with a private configuration on
// a free loopback port, with conf (http_access lines, auth_param ones
// before them, and its caching), and stops it when the test ends.
func runSquid(t testing.TB, path, conf string) *squidProc {
	t.Helper()
	dir := t.TempDir()
	// squid started as root drops to its own user, which must reach the
	// directory for its logs and pid file.
	if os.Geteuid() == 0 {
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	full := fmt.Sprintf(`http_port %s
%s
pid_filename %[3]s/squid.pid
access_log stdio:%[3]s/access.log
cache_log %[3]s/cache.log
cache_store_log none
coredump_dir %[3]s
visible_hostname sluice-test
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
`, addr, conf, dir)
	confPath := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confPath, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{} // written by exec's copying goroutine
	cmd := exec.Command(path, "-f", confPath, "-N", "-d", "1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	s := &squidProc{addr: addr, dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()
	// squid's orderly shutdown takes seconds even with shutdown_lifetime
	// 0, and this one holds nothing to save: no cache, logs in a
	// directory about to go.
	t.Cleanup(s.kill)
	deadline := time.Now().Add(patience)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("squid exited at start:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("squid not listening on %s after %v:\n%s", addr, patience, out.String())
		}
	}
}

// kill stops squid at once and waits for it to exit.
func (s *squidProc) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// accessLog returns squid's access log so far.
func (s *squidProc) accessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "access.log"))
	return string(b)
}

// waitLogged waits until squid's access log has a line holding all of
// parts.
func (s *squidProc) waitLogged(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		for _, line := range strings.Split(s.accessLog(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("squid's access log has no line with %q:\n%s", parts, s.accessLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestParentSquid goes through squid as an HTTP parent: plain requests
// arrive there in absolute form, CONNECT tunnels through it, Basic
// credentials to it work (basic_ncsa_auth with an htpasswd file), wrong
// ones get a 502 that says so, and when it is killed the next request
// gets a 502 naming it and the upstream is reported down.
func TestParentSquid(t *testing.T) {
	path, err := exec.LookPath("squid")
	if err != nil {
		t.Skip("squid is not on PATH (Debian package squid)")
	}
	o := startHello(t)
	tlsOrigin := startTLSOrigin(t, false)

	// check sends a plain request and a CONNECT tunnel through p, and
	// finds both in squid's log, by user when there is one.
	check := func(t *testing.T, p *testProxy, sq *squidProc, user string) {
		c := p.client(t)
		resp, body := mustGet(t, c, o.URL+"/via-squid")
		if resp.StatusCode != 200 || body != "hello /via-squid" {
			t.Fatalf("through squid: %d %q", resp.StatusCode, body)
		}
		if !strings.Contains(resp.Header.Get("Via"), "sluice-test") {
			t.Errorf("Via %q does not name squid", resp.Header.Get("Via"))
		}
		c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: certPool(tlsOrigin.Certificate())}
		if resp, _ := mustGet(t, c, tlsOrigin.URL+"/secure"); resp.StatusCode != 200 {
			t.Fatalf("CONNECT through squid: %d", resp.StatusCode)
		}
		// squid logs a tunnel when it ends.
		c.Transport.(*http.Transport).CloseIdleConnections()
		sq.waitLogged(t, " GET "+o.URL+"/via-squid ", " "+user+" ")
		sq.waitLogged(t, " CONNECT "+tlsOrigin.Listener.Addr().String()+" ", " "+user+" ")
	}

	sq := runSquid(t, path, "http_access allow localhost\nhttp_access deny all\n"+squidNoCache)
	up, rep := testUpstream(t, "corp", "http://"+sq.addr)
	p := startProxy(t, Config{Router: via(up)})
	t.Run("plain and CONNECT", func(t *testing.T) {
		check(t, p, sq, "-")
		if rep.ok.Load() != 2 || rep.failed.Load() != 0 {
			t.Errorf("Report: %d ok, %d failed; want 2 ok", rep.ok.Load(), rep.failed.Load())
		}
	})

	t.Run("basic auth", func(t *testing.T) {
		helper := "/usr/lib/squid/basic_ncsa_auth"
		if _, err := os.Stat(helper); err != nil {
			t.Skip("no " + helper + " (Debian package squid)")
		}
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl is not on PATH (Debian package openssl)")
		}
		hash, err := exec.Command(openssl, "passwd", "-apr1", "s3cret:pass").Output()
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(htpasswd, []byte("alice:"+strings.TrimSpace(string(hash))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Dir(htpasswd), 0o755)
		sq := runSquid(t, path, "auth_param basic program "+helper+" "+htpasswd+
			"\nauth_param basic realm sluice-test\nacl authed proxy_auth REQUIRED\nhttp_access deny !localhost\nhttp_access allow authed\nhttp_access deny all\n"+squidNoCache)
		good, _ := testUpstream(t, "corp", "http://alice:s3cret:pass@"+sq.addr)
		check(t, startProxy(t, Config{Router: via(good)}), sq, "alice")

		bad, badRep := testUpstream(t, "corp", "http://alice:wrong@"+sq.addr)
		pb := startProxy(t, Config{Router: via(bad)})
		for _, method := range []string{"GET", "CONNECT"} {
			rc := dialRaw(t, pb.addr)
			if method == "CONNECT" {
				rc.send("CONNECT " + o.hostPort() + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			} else {
				rc.send("GET " + o.URL + "/x HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			}
			resp, body := rc.response(method)
			want := "sluice: upstream proxy corp (" + sq.addr + ") refused Sluice's credentials (407 Proxy Authentication Required): check the user and password in its url\n"
			if reason := checkError(t, resp, body, 502); reason != want {
				t.Errorf("%s with wrong credentials: %q, want %q", method, reason, want)
			}
		}
		if badRep.failed.Load() != 2 {
			t.Errorf("wrong credentials: Report(false) %d times, want 2", badRep.failed.Load())
		}
	})

	t.Run("killed", func(t *testing.T) {
		sq.kill()
		before := rep.failed.Load()
		rc := dialRaw(t, p.addr)
		rc.send("GET " + o.URL + "/after HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		resp, body := rc.response("GET")
		want := "sluice: upstream proxy corp (" + sq.addr + "): connection refused\n"
		if reason := checkError(t, resp, body, 502); reason != want {
			t.Errorf("reason %q, want %q", reason, want)
		}
		if got := proxyStatusNextHop(resp); got != "corp" {
			t.Errorf("Proxy-Status %q, want next-hop corp", resp.Header.Get("Proxy-Status"))
		}
		if rep.failed.Load() != before+1 {
			t.Errorf("Report(false) %d times after the kill, want 1", rep.failed.Load()-before)
		}
	})

	// A failover pair, as a group in package route keeps it: the killed
	// squid first until its Report(false) marks it down. The request
	// that finds it dead goes through the second at once, no error.
	t.Run("failover to a second squid", func(t *testing.T) {
		second := runSquid(t, path, "http_access allow localhost\nhttp_access deny all\n"+squidNoCache)
		backup, _ := testUpstream(t, "backup", "http://"+second.addr)
		var down atomic.Bool
		first, _ := testUpstream(t, "corp", "http://"+sq.addr)
		first.Report = func(ok bool, _ time.Duration) { down.Store(!ok) }
		router := routerFunc(func(_, _ []byte) Route {
			if down.Load() {
				return Route{Upstream: backup}
			}
			return Route{Upstream: first}
		})
		c := startProxy(t, Config{Router: router}).client(t)
		for _, path := range []string{"/failed-over", "/still-backup"} {
			if resp, body := mustGet(t, c, o.URL+path); resp.StatusCode != 200 || body != "hello "+path {
				t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
			}
			second.waitLogged(t, " GET "+o.URL+path+" ")
		}
		// Requests count when a request is finished, after its answer.
		waitFor(t, "backup's two requests counted", func() bool { return backup.Requests.Load() == 2 })
		if first.Errors.Load() != 1 || first.Requests.Load() != 1 {
			t.Errorf("corp: %d errors, %d requests; want 1 and 1", first.Errors.Load(), first.Requests.Load())
		}
	})
}
