package parenttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Patience is how long a parent may take to start listening, and a line
// to reach squid's access log, on a busy machine.
const Patience = 20 * time.Second

// AllowLocalhost is the access part of a squid config that lets any
// loopback client through.
const AllowLocalhost = "http_access allow localhost\nhttp_access deny all\n"

// Squid is a squid run by a test.
type Squid struct {
	Addr string // host:port it listens on
	Dir  string // its private directory: config, access.log, cache.log

	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// StartSquid runs squid in the foreground on a free loopback port with a
// private config whose access part (http_access lines, and auth_param
// lines before them) is access, caching nothing, and kills it when the
// test ends. It skips the test when squid is not installed.
func StartSquid(t testing.TB, access string) *Squid {
	return startSquid(t, access+"cache deny all\ncache_mem 4 MB\n")
}

// StartCachingSquid is StartSquid with a memory cache (64 MB, collapsed
// forwarding on), for the response cache's cross-check.
func StartCachingSquid(t testing.TB, access string) *Squid {
	return startSquid(t, access+"cache_mem 64 MB\nmaximum_object_size_in_memory 4 MB\nmemory_cache_mode always\ncollapsed_forwarding on\n")
}

// startSquid is StartSquid with conf: the access part and the caching.
func startSquid(t testing.TB, conf string) *Squid {
	t.Helper()
	if runtime.GOOS != "linux" {
		// Under Wine, /usr/sbin/squid is there but is not a Windows program.
		t.Skip("squid runs on Linux only here (Debian package squid)")
	}
	path, err := exec.LookPath("squid")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/squid"); err2 != nil {
			t.Skip("squid is not installed (Debian package squid)")
		}
		path = "/usr/sbin/squid"
	}
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
	addr := FreeAddr(t)
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
	s := &Squid{Addr: addr, Dir: dir, exited: make(chan struct{}), out: &lockedBuffer{}}
	s.cmd = exec.Command(path, "-f", confPath, "-N", "-d", "1")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	// squid's orderly shutdown takes seconds even with shutdown_lifetime
	// 0, and this one holds nothing to save: a memory cache at most, logs
	// in a directory about to go.
	t.Cleanup(s.Kill)
	WaitListening(t, "squid", addr, s.exited, s.out)
	return s
}

// Kill stops squid at once and waits for it to exit.
func (s *Squid) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// AccessLog returns squid's access log so far.
func (s *Squid) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "access.log"))
	return string(b)
}

// Logged reports whether squid's access log has a line holding all of
// parts.
func (s *Squid) Logged(parts ...string) bool {
	for _, line := range strings.Split(s.AccessLog(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// WaitLogged waits until squid's access log has a line holding all of
// parts (squid writes a tunnel's line when the tunnel ends).
func (s *Squid) WaitLogged(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !s.Logged(parts...) {
		if time.Now().After(deadline) {
			t.Fatalf("squid's access log has no line with %q:\n%s", parts, s.AccessLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BasicAuth returns the access part of a squid config that asks loopback
// clients for Basic credentials and accepts user with pass, checked by
// squid's basic_ncsa_auth against an htpasswd file (an APR1 hash made
// by openssl). It skips the test when either is missing.
func BasicAuth(t testing.TB, user, pass string) string {
	t.Helper()
	helper := "/usr/lib/squid/basic_ncsa_auth"
	if _, err := os.Stat(helper); err != nil {
		t.Skip("no " + helper + " (Debian package squid)")
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH (Debian package openssl)")
	}
	hash, err := exec.Command(openssl, "passwd", "-apr1", pass).Output()
	if err != nil {
		t.Fatalf("openssl passwd: %v", err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // squid's helper runs as squid's user
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+strings.TrimSpace(string(hash))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return "auth_param basic program " + helper + " " + htpasswd +
		"\nauth_param basic realm sluice-test\nacl authed proxy_auth REQUIRED\nhttp_access deny !localhost\nhttp_access allow authed\nhttp_access deny all\n"
}

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitListening waits until addr accepts, failing the test with the
// program's output if it exits first or takes longer than Patience.
func WaitListening(t testing.TB, name, addr string, exited <-chan struct{}, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", name, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %v:\n%s", name, addr, Patience, out.String())
		}
	}
}

// lockedBuffer collects a program's output, written by exec's copying
// goroutine and read by the test.
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
