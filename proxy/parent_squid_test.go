package proxy

import (
	"crypto/tls"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// TestParentSquid goes through squid as an HTTP parent: plain requests
// arrive there in absolute form, CONNECT tunnels through it, Basic
// credentials to it work (basic_ncsa_auth with an htpasswd file), wrong
// ones get a 502 that says so, and when it is killed the next request
// gets a 502 naming it and the upstream is reported down.
func TestParentSquid(t *testing.T) {
	o := startHello(t)
	tlsOrigin := startTLSOrigin(t, false)

	// check sends a plain request and a CONNECT tunnel through p, and
	// finds both in squid's log, by user when there is one.
	check := func(t *testing.T, p *testProxy, sq *parenttest.Squid, user string) {
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
		sq.WaitLogged(t, " GET "+o.URL+"/via-squid ", " "+user+" ")
		sq.WaitLogged(t, " CONNECT "+tlsOrigin.Listener.Addr().String()+" ", " "+user+" ")
	}

	sq := parenttest.StartSquid(t, parenttest.AllowLocalhost)
	up, rep := testUpstream(t, "corp", "http://"+sq.Addr)
	p := startProxy(t, Config{Router: via(up)})
	t.Run("plain and CONNECT", func(t *testing.T) {
		check(t, p, sq, "-")
		if rep.ok.Load() != 2 || rep.failed.Load() != 0 {
			t.Errorf("Report: %d ok, %d failed; want 2 ok", rep.ok.Load(), rep.failed.Load())
		}
	})

	t.Run("basic auth", func(t *testing.T) {
		sq := parenttest.StartSquid(t, parenttest.BasicAuth(t, "alice", "s3cret:pass"))
		good, _ := testUpstream(t, "corp", "http://alice:s3cret:pass@"+sq.Addr)
		check(t, startProxy(t, Config{Router: via(good)}), sq, "alice")

		bad, badRep := testUpstream(t, "corp", "http://alice:wrong@"+sq.Addr)
		pb := startProxy(t, Config{Router: via(bad)})
		for _, method := range []string{"GET", "CONNECT"} {
			rc := dialRaw(t, pb.addr)
			if method == "CONNECT" {
				rc.send("CONNECT " + o.hostPort() + " HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			} else {
				rc.send("GET " + o.URL + "/x HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
			}
			resp, body := rc.response(method)
			want := "sluice: upstream proxy corp (" + sq.Addr + ") refused Sluice's credentials (407 Proxy Authentication Required): check the user and password in its url\n"
			if reason := checkError(t, resp, body, 502); reason != want {
				t.Errorf("%s with wrong credentials: %q, want %q", method, reason, want)
			}
		}
		if badRep.failed.Load() != 2 {
			t.Errorf("wrong credentials: Report(false) %d times, want 2", badRep.failed.Load())
		}
	})

	t.Run("killed", func(t *testing.T) {
		sq.Kill()
		before := rep.failed.Load()
		rc := dialRaw(t, p.addr)
		rc.send("GET " + o.URL + "/after HTTP/1.1\r\nHost: " + o.hostPort() + "\r\n\r\n")
		resp, body := rc.response("GET")
		want := "sluice: upstream proxy corp (" + sq.Addr + "): connection refused\n"
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
		second := parenttest.StartSquid(t, parenttest.AllowLocalhost)
		backup, _ := testUpstream(t, "backup", "http://"+second.Addr)
		var down atomic.Bool
		first, _ := testUpstream(t, "corp", "http://"+sq.Addr)
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
			second.WaitLogged(t, " GET "+o.URL+path+" ")
		}
		// Requests count when a request is finished, after its answer.
		waitFor(t, "backup's two requests counted", func() bool { return backup.Requests.Load() == 2 })
		if first.Errors.Load() != 1 || first.Requests.Load() != 1 {
			t.Errorf("corp: %d errors, %d requests; want 1 and 1", first.Errors.Load(), first.Requests.Load())
		}
	})
}
