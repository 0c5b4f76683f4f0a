package route

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// squidAuthLine is user "sluice", password "secret", as basic_ncsa_auth
// reads it (MD5-crypt, made with `openssl passwd -1 secret`).
const squidAuthLine = "sluice:$1$GolZZ7V4$qQfbpKH1r/e5zlQ6Ym8Fu/\n"

// startSquid runs squid on a loopback port with a private config that
// asks for Basic credentials, and returns its address and the directory
// holding its access log. It skips the test when squid is absent.
func startSquid(t *testing.T) (addr, dir string) {
	path, err := exec.LookPath("squid")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/squid"); err2 != nil {
			t.Skip("squid is not installed (Debian package squid)")
		}
		path = "/usr/sbin/squid"
	}
	helper := "/usr/lib/squid/basic_ncsa_auth"
	if _, err := os.Stat(helper); err != nil {
		t.Skip("squid's basic_ncsa_auth is missing (Debian package squid)")
	}
	dir = t.TempDir()
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
	addr = ln.Addr().String()
	ln.Close()
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte(squidAuthLine), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`http_port %s
auth_param basic program %s %s
auth_param basic realm sluice-test
acl users proxy_auth REQUIRED
http_access allow localhost users
http_access deny all
cache deny all
cache_mem 4 MB
pid_filename %[4]s/squid.pid
access_log stdio:%[4]s/access.log
cache_log %[4]s/cache.log
cache_store_log none
coredump_dir %[4]s
visible_hostname sluice-test
dns_nameservers 127.0.0.1
pinger_enable off
shutdown_lifetime 0 seconds
`, addr, helper, passwd, dir)
	confPath := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd := exec.Command(path, "-f", confPath, "-N", "-d", "1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, dir
		}
		select {
		case <-exited:
			t.Fatalf("squid exited at start:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("squid not listening on %s:\n%s", addr, out.String())
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Health checks reach squid with the credentials from the upstream URL
// (its access log shows the check, by user); wrong credentials make the
// upstream down with a reason saying so.
func TestHealthCheckThroughSquidWithBasicAuth(t *testing.T) {
	addr, dir := startSquid(t)
	origin := newOrigin(t)
	r := mustNew(t, Config{
		Upstreams: []UpstreamConfig{
			{Name: "good", URL: "http://sluice:secret@" + addr},
			{Name: "bad", URL: "http://sluice:wrong@" + addr},
		},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"good", "bad"},
			CheckURL: origin.URL + "/generate_204", CheckInterval: time.Hour}},
	})
	r.Start()
	defer r.Close()
	waitFor(t, 10*time.Second, "both checked", func() bool {
		st := r.Upstreams()
		return !st[0].LastCheck.IsZero() && !st[1].LastCheck.IsZero()
	})
	st := r.Upstreams()
	if st[0].State != "up" {
		t.Errorf("good credentials: %+v", st[0])
	}
	if st[1].State != "down" || !strings.Contains(st[1].LastError, "407") {
		t.Errorf("wrong credentials: %+v", st[1])
	}
	if strings.Contains(st[0].URL, "secret") || strings.Contains(st[1].URL, "wrong") {
		t.Errorf("a password shows in the status: %q, %q", st[0].URL, st[1].URL)
	}
	waitFor(t, 5*time.Second, "squid's access log", func() bool {
		log, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		return strings.Contains(string(log), "/generate_204 sluice ")
	})
}
