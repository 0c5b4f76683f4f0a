package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/app"
)

// routeConfig writes a config with a failover group whose first member
// listens nowhere and whose second is a loopback parent that answers
// every check, and returns its path and the proxy's address.
func routeConfig(t *testing.T, dir string) (path, listen string) {
	t.Helper()
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(parent.Close)
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	listen = free()
	path = filepath.Join(dir, "config.toml")
	body := fmt.Sprintf(`[proxy]
listen = %q
[log]
dir = %q
[route]
default = "work"

[[upstream]]
name = "dead"
url = "http://%s"

[[upstream]]
name = "alive"
url = "%s"

[[group]]
name = "work"
strategy = "failover"
members = ["dead", "alive"]
check_url = "http://127.0.0.1:9/generate_204"
check_interval = "1h"

[[rule]]
match = ["domain-suffix:intranet.example"]
action = "direct"
`, listen, filepath.Join(dir, "logs"), free(), parent.URL)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, listen
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := capture(t, func() error { return dispatch(commands, "", args[0], args[1:]) })
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	return stdout
}

// `route test` says which rule decides and, for a group, the member it
// would use: from the config when no Sluice runs (every upstream counts
// as up), from the running Sluice's health checks when one does.
// `route upstreams` shows each upstream's health from the running one.
func TestRouteTestAndUpstreams(t *testing.T) {
	dir := isolate(t)
	cfg, _ := routeConfig(t, dir)

	out := run(t, "route", "test", "https://www.intranet.example/", "--config", cfg)
	for _, w := range []string{"rule         1: domain-suffix:intranet.example", "result       direct", "from         " + cfg + " (no Sluice answers"} {
		if !strings.Contains(out, w) {
			t.Errorf("route test from the config lacks %q:\n%s", w, out)
		}
	}
	out = run(t, "route", "test", "--config", cfg, "example.com:443")
	if !strings.Contains(out, "rule         none (default)") || !strings.Contains(out, "through upstream dead (group work's pick now)") {
		t.Errorf("route test from the config, default:\n%s", out)
	}

	a, err := app.New(app.Options{ConfigPath: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The dead member's first check fails at once (nothing listens).
	deadline := time.Now().Add(5 * time.Second)
	for {
		out = run(t, "route", "test", "example.com:443", "--config", cfg)
		if strings.Contains(out, "through upstream alive (group work's pick now)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("route test against the running Sluice never picked the live member:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out, "from         the running Sluice at "+a.ListenAddr()) {
		t.Errorf("route test does not say it asked the running Sluice:\n%s", out)
	}

	out = run(t, "route", "upstreams", "--config", cfg)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.HasPrefix(lines[1], "dead ") || !strings.Contains(lines[1], " down ") ||
		!strings.HasPrefix(lines[2], "alive ") || !strings.Contains(lines[2], " up ") ||
		!strings.Contains(out, "dead: last check failed: ") {
		t.Errorf("route upstreams:\n%s", out)
	}
}
