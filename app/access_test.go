package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// clearProxyEnv unsets the PROXY_* overrides for the test.
func clearProxyEnv(t *testing.T) {
	for _, k := range Keys {
		if k.Env != "" {
			t.Setenv(k.Env, "")
			os.Unsetenv(k.Env)
		}
	}
}

// writeTestConfig writes body as config.toml in a temp dir and returns
// its path.
func writeTestConfig(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testHash(t *testing.T, password string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestNonLoopbackListenNeedsAccess checks that a listen address other
// machines can reach is refused unless [access] both allows a
// non-loopback range and sets users, with an error at the listen line
// that says what to set. Nothing is bound: LoadConfig only validates.
func TestNonLoopbackListenNeedsAccess(t *testing.T) {
	clearProxyEnv(t)
	users := fmt.Sprintf("[access.users]\nalice = %q\n", testHash(t, "secret"))
	lan := "[access]\nallow = [\"127.0.0.0/8\", \"192.168.1.0/24\"]\n"
	cases := []struct {
		name, body string
		want       []string // substrings of the error; none means valid
		notWant    string
	}{
		{"all interfaces", "[proxy]\nlisten = \"0.0.0.0:8877\"\n", []string{":2: proxy.listen:", "open proxy", "[access] allow", "[access.users]", "hash-password"}, ""},
		{"empty host", "[proxy]\nlisten = \":8877\"\n", []string{"open proxy", "[access] allow", "[access.users]"}, ""},
		{"IPv6 any", "[proxy]\nlisten = \"[::]:8877\"\n", []string{"open proxy"}, ""},
		{"a name", "[proxy]\nlisten = \"myhost.lan:8877\"\n", []string{"open proxy"}, ""},
		{"LAN address, allow only", "[proxy]\nlisten = \"192.168.1.5:8877\"\n" + lan, []string{"open proxy", "[access.users]"}, "[access] allow"},
		{"LAN address, users only", "[proxy]\nlisten = \"192.168.1.5:8877\"\n" + users, []string{"open proxy", "[access] allow"}, "[access.users]"},
		{"mapped loopback range is not a LAN", "[proxy]\nlisten = \"192.168.1.5:8877\"\n[access]\nallow = [\"::ffff:127.0.0.1/104\"]\n" + users, []string{"[access] allow"}, ""},
		{"LAN address, allow and users", "[proxy]\nlisten = \"192.168.1.5:8877\"\n" + lan + users, nil, ""},
		{"single LAN address allowed", "[proxy]\nlisten = \"0.0.0.0:8877\"\n[access]\nallow = [\"192.168.1.7\"]\n" + users, nil, ""},
		{"loopback", "[proxy]\nlisten = \"127.0.0.1:8877\"\n", nil, ""},
		{"localhost", "[proxy]\nlisten = \"localhost:8877\"\n", nil, ""},
		{"IPv6 loopback", "[proxy]\nlisten = \"[::1]:8877\"\n", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTestConfig(t, tc.body)
			_, err := LoadConfig(path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("an open proxy was accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with the file", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if tc.notWant != "" && strings.Contains(msg, tc.notWant) {
				t.Errorf("error %q asks for %q, which is set", msg, tc.notWant)
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("PROXY_LISTEN", "0.0.0.0:8877")
		_, err := LoadConfig(writeTestConfig(t, ""))
		if err == nil || !strings.Contains(err.Error(), "open proxy") || !strings.Contains(err.Error(), "env PROXY_LISTEN") {
			t.Fatalf("error %v, want the open proxy refused, naming env PROXY_LISTEN", err)
		}
	})
}

// TestNonLoopbackListenRefusedAtStartAndReload checks the rule where it
// matters: New refuses it (from the file or --listen), and a reload to it
// fails and leaves the proxy listening where it was. The address is a
// TEST-NET one, and validation refuses it before anything is bound.
func TestNonLoopbackListenRefusedAtStartAndReload(t *testing.T) {
	clearProxyEnv(t)
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	_, err := New(Options{ConfigPath: writeTestConfig(t, configWithListen("203.0.113.77:8877", dir))})
	if err == nil || !strings.Contains(err.Error(), "open proxy") {
		t.Fatalf("New with listen on 203.0.113.77: %v, want the open proxy refused", err)
	}
	_, err = New(Options{ConfigPath: writeTestConfig(t, configWithListen(freePort(t), dir)), Listen: "203.0.113.77:8877"})
	if err == nil || !strings.Contains(err.Error(), "open proxy") || !strings.Contains(err.Error(), "flag --listen") {
		t.Fatalf("New with --listen 203.0.113.77:8877: %v, want the open proxy refused, naming the flag", err)
	}

	addr := freePort(t)
	a, path := startWatchedApp(t, addr)
	writeConfig(t, path, configWithListen("203.0.113.77:8877", dir))
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), "open proxy") {
		t.Fatalf("Reload to 203.0.113.77: %v, want the open proxy refused", err)
	}
	if got := a.ListenAddr(); got != addr {
		t.Fatalf("after the refused reload: listening on %s, want %s", got, addr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("the proxy stopped answering: %v", err)
	}
	resp.Body.Close()
}

// TestAccessConfigErrors checks that each bad [access] value is refused
// with its file, line and key.
func TestAccessConfigErrors(t *testing.T) {
	clearProxyEnv(t)
	cases := []struct {
		name, body, want string
	}{
		{"empty allow", "[access]\nallow = []\n", ":2: access.allow: the list is empty"},
		{"not a range", "[access]\nallow = [\"192.168.1.0/33\"]\n", "not an address range"},
		{"zoned address", "[access]\nallow = [\"fe80::1%eth0\"]\n", "not an address range"},
		{"not bcrypt", "[access.users]\nalice = \"secret\"\n", ":2: access.users.alice: not a bcrypt hash"},
		{"colon in a name", fmt.Sprintf("[access.users]\n\"a:b\" = %q\n", testHash(t, "x")), "access.users.a:b: a user name must not"},
		{"negative rate", "[access]\nrate_limit = -1\n", ":2: access.rate_limit: -1 is not from 0"},
		{"NaN rate", "[access]\nrate_limit = nan\n", "access.rate_limit: NaN is not from 0"},
		{"unknown key", "[access]\nallowed = []\n", "access.allowed: unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeTestConfig(t, tc.body))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a ConfigError with %q", err, tc.want)
			}
		})
	}
}

// TestAccessReachesTheProxy checks that [access] in config.toml is what
// the running proxy applies: users ask for credentials and the rate
// limit answers 429, and a reload that removes both lifts them.
func TestAccessReachesTheProxy(t *testing.T) {
	clearProxyEnv(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer origin.Close()
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	addr := freePort(t)
	base := configWithListen(addr, dir)
	withAccess := base + fmt.Sprintf("\n[access]\nrate_limit = 0.01\n\n[access.users]\nalice = %q\n", testHash(t, "secret"))
	path := writeTestConfig(t, withAccess)
	a, err := New(Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stopAll() })

	get := func(user *url.Userinfo) int {
		t.Helper()
		u := &url.URL{Scheme: "http", Host: addr, User: user}
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u), DisableKeepAlives: true}}
		resp, err := c.Get(origin.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(nil); code != http.StatusProxyAuthRequired {
		t.Fatalf("without credentials: %d, want 407", code)
	}
	// The 407 spent the burst of one: the rate limit comes first.
	if code := get(url.UserPassword("alice", "secret")); code != http.StatusTooManyRequests {
		t.Fatalf("past the rate limit: %d, want 429", code)
	}
	writeConfig(t, path, base)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := get(nil); code != http.StatusOK {
		t.Fatalf("after a reload without [access]: %d, want 200", code)
	}
}
