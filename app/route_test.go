package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/route"
)

// Each routing mistake is a config error naming the file, the line and
// the entry's key, in words that say what to write instead.
func TestRoutingConfigErrors(t *testing.T) {
	clearProxyEnv(t)
	cases := []struct{ name, body, want string }{
		{"unknown upstream in a rule", `
[[upstream]]
name = "corp"
url = "http://127.0.0.1:3128"

[[rule]]
match = ["domain:a.example"]
action = "crop"
`, `:8: rule[1].action: "crop" is not direct, block or the name of an [[upstream]] or [[group]]`},
		{"duplicate name", `
[[upstream]]
name = "corp"
url = "http://127.0.0.1:3128"

[[group]]
name = "corp"
strategy = "failover"
members = ["corp"]
`, `:7: group[1].name: "corp" is already the name of an upstream or group`},
		{"bad scheme", `
[[upstream]]
name = "a"
url = "http://127.0.0.1:1"
[[upstream]]
name = "b"
url = "ftp://127.0.0.1:21"
`, `:7: upstream[2].url: scheme "ftp" is not one of http, https, socks5, socks5h`},
		{"bad cidr", `
[[rule]]
match = ["domain:x.example", "cidr:10.0.0.0/33"]
action = "direct"
`, `:3: rule[1].match: "cidr:10.0.0.0/33": not an address range`},
		{"unknown strategy", `
[[upstream]]
name = "a"
url = "socks5://127.0.0.1:1080"

[[group]]
name = "g"
strategy = "random"
members = ["a"]
`, `:8: group[1].strategy: "random" is not one of failover, round-robin, least-latency, select, consistent-hash`},
		{"unknown member", `
[[group]]
name = "g"
strategy = "failover"
members = ["nope"]
`, `:5: group[1].members: no [[upstream]] is named "nope"`},
		{"process rule", `
[[rule]]
match = ["process:firefox"]
action = "direct"
`, `:3: rule[1].match: "process:firefox": process rules are not supported on this OS`},
		{"unknown key in an entry", `
[[upstream]]
name = "a"
adress = "http://127.0.0.1:1"
`, `:4: upstream[1].adress: unknown key (a [[upstream]] has name, url)`},
		{"single table", `
[upstream]
name = "a"
`, `:2: upstream: write each entry as a table under its own [[upstream]] line`},
		{"check interval", `
[[upstream]]
name = "a"
url = "http://127.0.0.1:1"
[[group]]
name = "g"
strategy = "failover"
members = ["a"]
check_interval = "0s"
`, `:9: group[1].check_interval: 0s must be more than zero`},
		{"missing name", `
[[upstream]]
url = "http://127.0.0.1:1"
`, `:2: upstream[1].name: missing; every [[upstream]] needs a name`},
		{"unknown default", `
[route]
default = "corp"
`, `:3: route.default: "corp" is not direct, block or the name`},
		{"global mode without global", `
[route]
mode = "global"
`, `:0: route.global: mode is "global" but global names no upstream or group`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTestConfig(t, c.body)
			_, err := LoadConfig(path)
			want := path + c.want
			if strings.HasPrefix(c.want, ":0: ") {
				want = path + ": " + strings.TrimPrefix(c.want, ":0: ")
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant a line starting with:\n%s", err, want)
			}
		})
	}
}

// Every routing mistake in a file is reported in one pass, in file order.
func TestRoutingConfigErrorsAllAtOnce(t *testing.T) {
	clearProxyEnv(t)
	path := writeTestConfig(t, `[[rule]]
match = ["domain:x", "cidr:300.0.0.0/8"]
action = "nowhere"

[[upstream]]
name = "a"
url = "http://127.0.0.1:1"

[[upstream]]
name = "a"
url = "http://127.0.0.1:2"
`)
	_, err := LoadConfig(path)
	want := []string{
		path + `:2: rule[1].match: "cidr:300.0.0.0/8": not an address range (write it like "10.0.0.0/8" or "fd00::/8")`,
		path + `:3: rule[1].action: "nowhere" is not direct, block or the name of an [[upstream]] or [[group]]`,
		path + `:10: upstream[2].name: "a" is already the name of an upstream or group`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// PROXY_UPSTREAM, a proxy URL, makes a one-upstream global mode; a bad
// URL is an error naming the variable.
func TestProxyUpstreamEnvSetsGlobalMode(t *testing.T) {
	clearProxyEnv(t)
	t.Setenv("PROXY_UPSTREAM", "http://user:pw@127.0.0.1:3128")
	cfg, err := LoadConfig(writeTestConfig(t, "[proxy]\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecideFromConfig(cfg, "https://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if d.Mode != route.ModeGlobal || d.Upstream != "PROXY_UPSTREAM" {
		t.Errorf("with PROXY_UPSTREAM: %+v", d)
	}
	t.Setenv("PROXY_UPSTREAM", "gopher://127.0.0.1:70")
	_, err = LoadConfig(writeTestConfig(t, "[proxy]\n"))
	want := `route.global: env PROXY_UPSTREAM="gopher://127.0.0.1:70": scheme "gopher" is not one of http, https, socks5, socks5h`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func routedConfig(listen, dir, rules string) string {
	return configWithListen(listen, dir) + `
[route]
default = "corp"

[[upstream]]
name = "corp"
url = "http://user:secret@127.0.0.1:3128"
` + rules
}

// getLocal fetches a local endpoint of the proxy at addr.
func getLocal(t *testing.T, addr, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func routeTest(t *testing.T, addr, target string) RouteTest {
	t.Helper()
	resp, b := getLocal(t, addr, "/route?target="+target)
	if resp.StatusCode != 200 {
		t.Fatalf("/route: %s %s", resp.Status, b)
	}
	var rt RouteTest
	if err := json.Unmarshal(b, &rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// A rule added to config.toml takes effect on the hot reload, while a
// kept-alive client connection opened before it goes on working.
func TestRuleChangeAppliedByReloadWithoutDroppingConnections(t *testing.T) {
	addr := freePort(t)
	dir := t.TempDir()
	a, path := startAppWithConfig(t, routedConfig(addr, dir, ""))
	originPort := helloOrigin(t)
	if d := routeTest(t, addr, "intranet.example:443"); d.Rule != 0 || d.Upstream != "corp" {
		t.Fatalf("before: %+v", d)
	}
	// A kept-alive connection through the proxy, opened before the reload.
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, "http://"+addr)), MaxIdleConnsPerHost: 1}}
	get := func() {
		t.Helper()
		resp, err := client.Get("http://127.0.0.1:" + originPort + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get()
	before := a.Stats().ConnsTotal

	writeConfig(t, path, routedConfig(addr, dir, `
[[rule]]
match = ["domain-suffix:intranet.example", "cidr:127.0.0.0/8"]
action = "direct"
`))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := routeTest(t, addr, "https://www.intranet.example/"); d.Rule != 1 || d.Action != "direct" || d.Upstream != "" {
		t.Errorf("after the reload: %+v", d)
	}
	get()
	// /route opened a connection of its own; the proxied request above
	// must have reused the one from before the reload.
	if s := a.Stats(); s.ConnsTotal-before != 1 {
		t.Errorf("%d client connections opened across the reload, want 1 (the /route call)", s.ConnsTotal-before)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// /proxy.pac is served from the rules, pointing at Sluice's address.
func TestPACEndpoint(t *testing.T) {
	addr := freePort(t)
	startAppWithConfig(t, routedConfig(addr, t.TempDir(), `
[[rule]]
match = ["domain-suffix:intranet.example"]
action = "direct"
`))
	resp, body := getLocal(t, addr, "/proxy.pac")
	if ct := resp.Header.Get("Content-Type"); ct != route.PACContentType {
		t.Errorf("Content-Type %q", ct)
	}
	for _, w := range []string{"function FindProxyForURL(url, host)", `"PROXY ` + addr + `"`, `"intranet.example"`} {
		if !strings.Contains(string(body), w) {
			t.Errorf("the PAC file lacks %s:\n%s", w, body)
		}
	}
}

// /stats and /metrics show each upstream's counters, health and the
// rules' hits; the mode and select choices made in the tray survive a
// restart.
func TestUpstreamStatsAndKeptChoices(t *testing.T) {
	addr := freePort(t)
	dir := t.TempDir()
	body := routedConfig(addr, dir, `
[[upstream]]
name = "backup"
url = "socks5h://127.0.0.1:1080"

[[group]]
name = "pick"
strategy = "select"
members = ["corp", "backup"]
check_url = "http://127.0.0.1:9/"
check_interval = "1h"

[[rule]]
match = ["domain:picked.example"]
action = "pick"

[route]
global = "corp"
`)
	body = strings.Replace(body, "[route]\ndefault = \"corp\"\n", "", 1)
	body = strings.Replace(body, "[route]\nglobal", "[route]\ndefault = \"corp\"\nglobal", 1)
	a, _ := startAppWithConfig(t, body)
	// The relay fills these counters; here the test does.
	rt := a.currentRouter()
	up := rt.Route([]byte("example.com"), []byte("443")).Upstream
	up.Requests.Add(3)
	up.BytesOut.Add(1234)
	rt.Route([]byte("picked.example"), []byte("443"))

	resp, b := getLocal(t, addr, "/stats")
	var s stats.Snapshot
	if err := json.Unmarshal(b, &s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/stats: %v %s", err, b)
	}
	if len(s.Upstreams) != 2 || s.Upstreams[0].Name != "corp" || s.Upstreams[0].Requests != 3 || s.Upstreams[0].BytesOut != 1234 {
		t.Errorf("/stats upstreams: %+v", s.Upstreams)
	}
	if strings.Contains(string(b), "secret") {
		t.Error("/stats shows an upstream's password")
	}
	if len(s.Rules) != 2 || s.Rules[0].Hits != 1 || s.Rules[1].Hits != 1 {
		t.Errorf("/stats rules: %+v", s.Rules)
	}
	_, m := getLocal(t, addr, "/metrics")
	if !strings.Contains(string(m), `sluice_upstream_proxy_requests_total{upstream="corp"} 3`) {
		t.Errorf("/metrics lacks the upstream's requests")
	}

	if err := a.Select("pick", "backup"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRouteMode(route.ModeGlobal); err != nil {
		t.Fatal(err)
	}
	if d := routeTest(t, addr, "picked.example:443"); d.Mode != "global" || d.Upstream != "corp" {
		t.Errorf("global mode: %+v", d)
	}
	a.stopAll()

	// A new run on the same config and state dir.
	a2, err := New(Options{ConfigPath: a.ConfigPath()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Start(); err != nil {
		t.Fatal(err)
	}
	defer a2.stopAll()
	if mode, _ := a2.RouteMode(); mode != route.ModeGlobal {
		t.Errorf("after a restart the mode is %s, want global", mode)
	}
	if g := a2.SelectGroups(); len(g) != 1 || g[0].Selected != "backup" {
		t.Errorf("after a restart: %+v", g)
	}
	state, err := StateDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, routeStateName)); err != nil {
		t.Errorf("state file: %v", err)
	}
}

// A reload that changes the routing stops the old health checks: a parent
// checked before it is not asked again after, while the new config's
// parent is.
func TestReloadStopsOldHealthChecks(t *testing.T) {
	var oldSeen, newSeen atomic.Int64
	parent := func(n *atomic.Int64) string {
		p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(p.Close)
		return p.URL
	}
	oldURL, newURL := parent(&oldSeen), parent(&newSeen)
	addr := freePort(t)
	dir := t.TempDir()
	config := func(url string) string {
		return configWithListen(addr, dir) + fmt.Sprintf(`
[route]
default = "g"

[[upstream]]
name = "p"
url = %q

[[group]]
name = "g"
strategy = "failover"
members = ["p"]
check_url = "http://127.0.0.1:9/"
check_interval = "50ms"
`, url)
	}
	a, path := startAppWithConfig(t, config(oldURL))
	deadline := time.Now().Add(10 * time.Second)
	for oldSeen.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the first parent was not checked twice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeConfig(t, path, config(newURL))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	after := oldSeen.Load()
	for newSeen.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the new parent was not checked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := oldSeen.Load(); n != after {
		t.Errorf("the old parent was checked %d more times after the reload", n-after)
	}
}

// What `config check` prints for the arrays of tables loads back to the
// same entries, and a reload logs a changed table by its entry count,
// never with an upstream's password.
func TestArrayTablesRoundTrip(t *testing.T) {
	clearProxyEnv(t)
	body := `[[upstream]]
name = "corp"
url = "http://alice:s3cret@127.0.0.1:3128"

[[group]]
name = "g"
strategy = "round-robin"
members = ["corp"]

[[rule]]
match = ["domain-suffix:corp.example", "port:25"]
action = "g"
`
	cfg, err := LoadConfig(writeTestConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Groups[0]; g.CheckInterval.String() != "30s" || g.CheckURL == "" {
		t.Errorf("the group's defaults were not applied: %+v", g)
	}
	var b strings.Builder
	if err := cfg.WriteEffective(&b); err != nil {
		t.Fatal(err)
	}
	again, err := parseConfig([]byte(b.String()), "effective")
	if err != nil {
		t.Fatalf("config check output does not load: %v\n%s", err, b.String())
	}
	if d := changedKeys(cfg, again); len(d) != 0 {
		t.Errorf("config check output loads back with changes: %v", d)
	}
	again.Rules = append(again.Rules, RuleEntry{Match: []string{"domain:x"}, Action: "direct"})
	again.Upstreams[0].URL = "http://alice:other@127.0.0.1:3128"
	got := fmt.Sprint(changedKeys(cfg, again))
	if got != "[upstream 1 → 1 entries, changed rule 1 → 2 entries, changed]" || strings.Contains(got, "other") {
		t.Errorf("changed keys: %s", got)
	}
}
