package route

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startMicrosocks runs microsocks on a loopback port, asking for user
// "sluice" and password "secret" (RFC 1929), and returns its address.
func startMicrosocks(t *testing.T) string {
	path, err := exec.LookPath("microsocks")
	if err != nil {
		t.Skip("microsocks is not installed (Debian package microsocks)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "-i", "127.0.0.1", "-p", port, "-u", "sluice", "-P", "secret")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 5*time.Second, "microsocks listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// Health checks reach a SOCKS5 parent (socks5 and socks5h) with the
// credentials from the URL; a wrong password makes it down.
func TestHealthCheckThroughSOCKS5(t *testing.T) {
	addr := startMicrosocks(t)
	origin := newOrigin(t)
	r := mustNew(t, Config{
		Upstreams: []UpstreamConfig{
			{Name: "s", URL: "socks5://sluice:secret@" + addr},
			{Name: "h", URL: "socks5h://sluice:secret@" + addr},
			{Name: "bad", URL: "socks5://sluice:wrong@" + addr},
		},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"s", "h", "bad"},
			CheckURL: origin.URL + "/generate_204", CheckInterval: time.Hour}},
	})
	if up := r.upstreams[0].p; up.Scheme != "socks5" || up.Username != "sluice" || up.Password != "secret" || up.ProxyAuthorization != "" {
		t.Errorf("socks5 upstream: %+v", up)
	}
	r.Start()
	defer r.Close()
	waitFor(t, 10*time.Second, "all checked", func() bool {
		for _, u := range r.Upstreams() {
			if u.LastCheck.IsZero() {
				return false
			}
		}
		return true
	})
	st := r.Upstreams()
	if st[0].State != "up" || st[1].State != "up" {
		t.Errorf("good credentials: %+v, %+v", st[0], st[1])
	}
	if st[2].State != "down" || !strings.Contains(st[2].LastError, "socks") {
		t.Errorf("wrong password: %+v", st[2])
	}
}
