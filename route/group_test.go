package route

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// parent is a small HTTP proxy on loopback: it relays absolute-form GETs
// and counts them, so a check that went through it is seen arriving.
type parent struct {
	*httptest.Server
	seen atomic.Int64
}

func newParent(t *testing.T) *parent {
	p := &parent{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		p.seen.Add(1)
		resp, err := http.DefaultTransport.RoundTrip(&http.Request{Method: r.Method, URL: r.URL, Header: http.Header{}, Host: r.Host})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

// origin serves the check URL.
func newOrigin(t *testing.T) *httptest.Server {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(o.Close)
	return o
}

func groupConfig(strategy string, members ...string) Config {
	cfg := Config{Default: "g", Groups: []GroupConfig{{Name: "g", Strategy: strategy, Members: members}}}
	for i, m := range members {
		cfg.Upstreams = append(cfg.Upstreams, UpstreamConfig{Name: m, URL: fmt.Sprintf("http://127.0.0.1:%d", 1000+i)})
	}
	return cfg
}

// down marks an upstream as a failed request through it would.
func down(r *Router, name string) {
	for _, u := range r.upstreams {
		if u.p.Name == name {
			u.p.Report(false, 0)
		}
	}
}

func TestFailoverTakesTheFirstHealthyMember(t *testing.T) {
	r := mustNew(t, groupConfig(StrategyFailover, "a", "b", "c"))
	want := func(w string) {
		t.Helper()
		if got := decide(r, "example.com", "443"); got != w {
			t.Fatalf("got %s, want %s", got, w)
		}
	}
	want("a#0")
	down(r, "a")
	want("b#0")
	down(r, "c")
	want("b#0")
	down(r, "b")
	want("down:g#0")
	r.upstreams[0].p.Report(true, time.Millisecond) // a request through a went well
	want("a#0")
}

func TestRoundRobinSkipsDownMembers(t *testing.T) {
	r := mustNew(t, groupConfig(StrategyRoundRobin, "a", "b", "c"))
	var got []string
	for range 6 {
		got = append(got, decide(r, "example.com", "443"))
	}
	if s := strings.Join(got, " "); s != "a#0 b#0 c#0 a#0 b#0 c#0" {
		t.Errorf("rotation: %s", s)
	}
	down(r, "b")
	got = got[:0]
	for range 4 {
		got = append(got, decide(r, "example.com", "443"))
	}
	for _, g := range got {
		if g == "b#0" {
			t.Errorf("a down member was used: %v", got)
		}
	}
}

func TestLeastLatencyPrefersTheFastestCheck(t *testing.T) {
	r := mustNew(t, groupConfig(StrategyLeastLatency, "a", "b", "c"))
	if got := decide(r, "x", "80"); got != "a#0" {
		t.Errorf("before any check: %s, want the first", got)
	}
	r.upstreams[0].rtt.Store(int64(30 * time.Millisecond))
	r.upstreams[1].rtt.Store(int64(10 * time.Millisecond))
	r.upstreams[2].rtt.Store(int64(20 * time.Millisecond))
	if got := decide(r, "x", "80"); got != "b#0" {
		t.Errorf("got %s, want the fastest, b", got)
	}
	down(r, "b")
	if got := decide(r, "x", "80"); got != "c#0" {
		t.Errorf("got %s, want the fastest healthy, c", got)
	}
}

func TestSelectUsesTheChoiceAndKeepsIt(t *testing.T) {
	state := filepath.Join(t.TempDir(), "route.json")
	cfg := groupConfig(StrategySelect, "a", "b")
	cfg.StatePath = state
	r := mustNew(t, cfg)
	if got := decide(r, "x", "80"); got != "a#0" {
		t.Errorf("before a choice: %s, want the first member", got)
	}
	if err := r.Select("g", "b"); err != nil {
		t.Fatal(err)
	}
	if got := decide(r, "x", "80"); got != "b#0" {
		t.Errorf("after Select: %s", got)
	}
	if err := r.Select("g", "zzz"); err == nil {
		t.Error("selecting a member that does not exist succeeded")
	}
	// A new Router (a reload or a restart) picks the choice up.
	r2 := mustNew(t, cfg)
	if err := r2.LoadState(); err != nil {
		t.Fatal(err)
	}
	if got := decide(r2, "x", "80"); got != "b#0" {
		t.Errorf("after reload: %s, want the kept choice b", got)
	}
	// A choice whose member left the config is dropped.
	cfg = groupConfig(StrategySelect, "a", "c")
	cfg.StatePath = state
	r3 := mustNew(t, cfg)
	if err := r3.LoadState(); err != nil {
		t.Fatal(err)
	}
	if got := decide(r3, "x", "80"); got != "a#0" {
		t.Errorf("member gone: %s, want the first", got)
	}
}

// A host keeps its member, and a member going down moves only the hosts
// it had.
func TestConsistentHashMovesOnlyTheDownMembersHosts(t *testing.T) {
	r := mustNew(t, groupConfig(StrategyConsistentHash, "a", "b", "c", "d"))
	hosts := make([]string, 2000)
	before := map[string]string{}
	count := map[string]int{}
	for i := range hosts {
		hosts[i] = fmt.Sprintf("site%d.example", i)
		before[hosts[i]] = decide(r, hosts[i], "443")
		count[before[hosts[i]]]++
		if again := decide(r, strings.ToUpper(hosts[i]), "443"); again != before[hosts[i]] {
			t.Fatalf("%s moved from %s to %s between two requests", hosts[i], before[hosts[i]], again)
		}
	}
	for m, n := range count {
		if n < 350 || n > 650 {
			t.Errorf("member %s got %d of 2000 hosts; the spread is uneven: %v", m, n, count)
		}
	}
	down(r, "c")
	for _, h := range hosts {
		after := decide(r, h, "443")
		if before[h] != "c#0" && after != before[h] {
			t.Errorf("%s moved from %s to %s though its member is up", h, before[h], after)
		}
		if after == "c#0" {
			t.Errorf("%s still goes to the down member", h)
		}
	}
}

func TestModeSwitchIsKeptUntilTheConfigChangesIt(t *testing.T) {
	state := filepath.Join(t.TempDir(), "route.json")
	cfg := Config{
		Upstreams: []UpstreamConfig{{Name: "corp", URL: "http://127.0.0.1:3128"}},
		Global:    "corp", StatePath: state,
		Rules: []RuleConfig{{Match: []string{"domain:blocked.example"}, Action: "block"}},
	}
	r := mustNew(t, cfg)
	if got := decide(r, "blocked.example", "80"); got != "block#1" {
		t.Fatalf("rules mode: %s", got)
	}
	for _, c := range []struct{ mode, want string }{{ModeGlobal, "corp#0"}, {ModeDirect, "direct#0"}} {
		if err := r.SetMode(c.mode); err != nil {
			t.Fatal(err)
		}
		if got := decide(r, "blocked.example", "80"); got != c.want {
			t.Errorf("%s mode: %s, want %s", c.mode, got, c.want)
		}
	}
	r2 := mustNew(t, cfg)
	r2.LoadState()
	if r2.Mode() != ModeDirect {
		t.Errorf("after restart the mode is %s, want the tray's direct", r2.Mode())
	}
	cfg.Mode = ModeGlobal // the user edited [route] mode since
	r3 := mustNew(t, cfg)
	r3.LoadState()
	if r3.Mode() != ModeGlobal {
		t.Errorf("after editing the config the mode is %s, want its global", r3.Mode())
	}
	noGlobal := mustNew(t, Config{})
	if err := noGlobal.SetMode(ModeGlobal); err == nil {
		t.Error("global mode without [route] global was accepted")
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state file: %v", err)
	}
}

// Health checks go through each parent to the check URL; a parent that
// stops answering is marked down by the next check, and the group fails
// over within one check interval, before any request fails through it.
func TestHealthChecksThroughParentsFailOver(t *testing.T) {
	origin := newOrigin(t)
	a, b := newParent(t), newParent(t)
	const interval = 500 * time.Millisecond
	r := mustNew(t, Config{
		Default: "g",
		Upstreams: []UpstreamConfig{
			{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL},
		},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"a", "b"},
			CheckURL: origin.URL + "/generate_204", CheckInterval: interval}},
	})
	r.Start()
	defer r.Close()
	waitFor(t, 5*time.Second, "both parents checked", func() bool {
		st := r.Upstreams()
		return a.seen.Load() > 0 && b.seen.Load() > 0 && !st[0].LastCheck.IsZero() && !st[1].LastCheck.IsZero()
	})
	st := r.Upstreams()
	if st[0].State != "up" || st[0].CheckRTT <= 0 || st[0].LastCheck.IsZero() {
		t.Fatalf("after a good check: %+v", st[0])
	}
	if got := decide(r, "example.com", "443"); got != "a#0" {
		t.Fatalf("got %s, want a", got)
	}
	a.Close() // the first parent dies
	killed := time.Now()
	// The next check, due within one interval, fails at once (nothing
	// listens); the slack covers a slow, shared machine.
	waitFor(t, interval+700*time.Millisecond, "failover to b", func() bool { return decide(r, "example.com", "443") == "b#0" })
	t.Logf("failed over %v after the parent died", time.Since(killed).Round(time.Millisecond))
	if st := r.Upstreams()[0]; st.State != "down" || st.LastError == "" {
		t.Errorf("dead parent: %+v", st)
	}
}

// A real request that fails marks the parent down at once and gets it
// rechecked within about recheckDelay, not a whole interval later.
func TestFailedRequestMarksDownAndRechecksSoon(t *testing.T) {
	origin := newOrigin(t)
	a := newParent(t)
	r := mustNew(t, Config{
		Default:   "g",
		Upstreams: []UpstreamConfig{{Name: "a", URL: a.URL}},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"a"},
			CheckURL: origin.URL, CheckInterval: time.Hour}},
	})
	r.Start()
	defer r.Close()
	waitFor(t, 5*time.Second, "first check", func() bool { return a.seen.Load() == 1 && !r.Upstreams()[0].LastCheck.IsZero() })
	r.upstreams[0].p.Report(false, 0)
	if got := decide(r, "example.com", "443"); got != "down:g#0" {
		t.Fatalf("right after a failed request: %s, want down:g", got)
	}
	waitFor(t, recheckDelay+2*time.Second, "recheck", func() bool { return a.seen.Load() == 2 })
	waitFor(t, time.Second, "back up", func() bool { return decide(r, "example.com", "443") == "a#0" })
}

// A parent that answers the check with its own error (it cannot reach the
// check URL) or refuses Sluice's credentials is down.
func TestCheckCountsParentErrorsAsDown(t *testing.T) {
	for _, code := range []int{http.StatusProxyAuthRequired, http.StatusBadGateway} {
		p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		defer p.Close()
		r := mustNew(t, Config{
			Upstreams: []UpstreamConfig{{Name: "p", URL: p.URL}},
			Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"p"},
				CheckURL: "http://127.0.0.1:9/", CheckInterval: time.Hour}},
		})
		r.Start()
		waitFor(t, 2*time.Second, "check", func() bool { return r.Upstreams()[0].State == "down" })
		r.Close()
		if e := r.Upstreams()[0].LastError; !strings.Contains(e, fmt.Sprint(code)) {
			t.Errorf("%d: last error %q does not name the status", code, e)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupPicksAllocateNothing(t *testing.T) {
	for _, s := range strategies {
		r := mustNew(t, groupConfig(s, "a", "b", "c"))
		down(r, "a")
		host, port := []byte("Www.Example.com"), []byte("443")
		if n := testing.AllocsPerRun(200, func() { r.Route(host, port) }); n != 0 {
			t.Errorf("%s: %v allocations per Route", s, n)
		}
	}
}
