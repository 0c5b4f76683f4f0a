package route

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
)

// decide routes host:port through r and names the outcome: "direct",
// "block", an upstream's name, or "down:group"; with the rule number.
func decide(r *Router, host, port string) string {
	rt := r.Route([]byte(host), []byte(port))
	out := "direct"
	switch {
	case rt.Block != "":
		out = "block"
	case rt.Down != "":
		out = "down:" + rt.Down
	case rt.Upstream != nil:
		out = rt.Upstream.Name
	}
	return out + "#" + strconv.Itoa(rt.Rule+1)
}

func mustNew(t testing.TB, cfg Config) *Router {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEachRuleKindMatches(t *testing.T) {
	r := mustNew(t, Config{
		Default:   "corp",
		Upstreams: []UpstreamConfig{{Name: "corp", URL: "http://127.0.0.1:3128"}},
		Rules: []RuleConfig{
			{Match: []string{"domain-suffix:corp.example"}, Action: "direct"},       // 1
			{Match: []string{"domain:intranet"}, Action: "direct"},                  // 2
			{Match: []string{"domain-keyword:ads"}, Action: "block"},                // 3
			{Match: []string{"cidr:10.0.0.0/8", "cidr:fd00::/8"}, Action: "direct"}, // 4
			{Match: []string{"port:25"}, Action: "block"},                           // 5
			{Match: []string{"domain:*.wild.example"}, Action: "block"},             // 6: "*." is dropped
		},
	})
	for _, c := range []struct{ host, port, want string }{
		{"corp.example", "443", "direct#1"},
		{"WWW.Corp.Example.", "443", "direct#1"}, // case and a final dot do not matter
		{"notcorp.example", "443", "corp#0"},     // a suffix is whole labels
		{"intranet", "80", "direct#2"},
		{"www.intranet", "80", "corp#0"}, // domain: is the name only
		{"cdn.ads-server.net", "443", "block#3"},
		{"ADS.example", "443", "block#3"},
		{"10.1.2.3", "443", "direct#4"},
		{"fd00::1", "443", "direct#4"},
		{"::ffff:10.9.9.9", "443", "direct#4"}, // IPv4-mapped matches the IPv4 range
		{"11.1.2.3", "443", "corp#0"},
		{"mail.example", "25", "block#5"},
		{"wild.example", "80", "block#6"},
		{"example.com", "443", "corp#0"},
	} {
		if got := decide(r, c.host, c.port); got != c.want {
			t.Errorf("%s:%s: got %s, want %s", c.host, c.port, got, c.want)
		}
	}
}

// CIDR rules never make Sluice resolve: a name matches only name rules,
// even if it would resolve into the range.
func TestCIDRMatchesOnlyAddressLiterals(t *testing.T) {
	r := mustNew(t, Config{Rules: []RuleConfig{
		{Match: []string{"cidr:127.0.0.0/8"}, Action: "block"},
		{Match: []string{"domain-keyword:127"}, Action: "block"},
	}})
	if got := decide(r, "localhost", "80"); got != "direct#0" {
		t.Errorf("localhost: %s, want direct#0 (no lookup)", got)
	}
	if got := decide(r, "127.0.0.1", "80"); got != "block#1" {
		t.Errorf("127.0.0.1: %s, want block#1", got)
	}
	// An address is not a name, so a keyword does not match its text.
	if got := decide(r, "127.0.0.2", "80"); got != "block#1" {
		t.Errorf("127.0.0.2: %s, want block#1", got)
	}
}

func TestFirstMatchingRuleWins(t *testing.T) {
	r := mustNew(t, Config{
		Upstreams: []UpstreamConfig{{Name: "a", URL: "http://127.0.0.1:1"}, {Name: "b", URL: "http://127.0.0.1:2"}},
		Rules: []RuleConfig{
			{Match: []string{"port:8443"}, Action: "a"},
			{Match: []string{"domain-keyword:shop"}, Action: "b"},
			{Match: []string{"domain-suffix:example.com"}, Action: "a"},
			{Match: []string{"domain:www.example.com", "cidr:192.168.0.0/16"}, Action: "b"},
			{Match: []string{"cidr:192.168.1.0/24"}, Action: "block"},
			{Match: []string{"cidr:10.0.0.0/8"}, Action: "b"},
			{Match: []string{"cidr:0.0.0.0/0"}, Action: "a"},
		},
	})
	for _, c := range []struct{ host, port, want string }{
		{"shop.example.com", "8443", "a#1"},
		{"shop.example.com", "443", "b#2"},
		{"www.example.com", "443", "a#3"}, // the suffix rule comes before the exact one
		{"192.168.1.9", "443", "b#4"},     // the /16 rule comes first, though the /24 is more specific
		{"10.2.3.4", "443", "b#6"},        // the /8 is more specific than /0 and first
		{"11.2.3.4", "443", "a#7"},
		{"2001:db8::1", "443", "direct#0"}, // an IPv4 /0 is not every address
	} {
		if got := decide(r, c.host, c.port); got != c.want {
			t.Errorf("%s:%s: got %s, want %s", c.host, c.port, got, c.want)
		}
	}
	// A shorter prefix in a later rule must not beat an earlier, longer one,
	// and an earlier shorter one beats a later longer one.
	r = mustNew(t, Config{Rules: []RuleConfig{
		{Match: []string{"cidr:10.0.0.0/8"}, Action: "block"},
		{Match: []string{"cidr:10.1.0.0/16"}, Action: "direct"},
	}})
	if got := decide(r, "10.1.1.1", "80"); got != "block#1" {
		t.Errorf("10.1.1.1: %s, want block#1", got)
	}
}

func TestRuleHitsAreCounted(t *testing.T) {
	r := mustNew(t, Config{Rules: []RuleConfig{{Match: []string{"domain:a.example"}, Action: "block"}}})
	for range 3 {
		r.Route([]byte("a.example"), []byte("80"))
	}
	r.Route([]byte("b.example"), []byte("80"))
	rs := r.Rules()
	if rs[0].Hits != 3 || rs[1].Hits != 1 || rs[1].Match != "default" {
		t.Errorf("hits: %+v", rs)
	}
	// Decide, for route test, counts nothing.
	r.Decide("a.example", "80")
	if n := r.Rules()[0].Hits; n != 3 {
		t.Errorf("Decide counted a hit: %d", n)
	}
}

// The keyword automaton agrees with a plain substring scan.
func TestKeywordsAgreeWithSubstringScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcde.-"[rng.IntN(7)]
		}
		return string(b)
	}
	var words []keyword
	for i := range 200 {
		words = append(words, keyword{word(1 + rng.IntN(4)), int32(i)})
	}
	k := newKeywords(words)
	for range 2000 {
		host := word(rng.IntN(20))
		want := int32(-1)
		for _, w := range words {
			if containsStr(host, w.word) && (want < 0 || w.rule < want) {
				want = w.rule
			}
		}
		if got := k.match([]byte(host)); got != want {
			t.Fatalf("%q: got rule %d, want %d", host, got, want)
		}
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// bigRules makes n rules of every kind, as a large block list would.
func bigRules(n int) []RuleConfig {
	rng := rand.New(rand.NewPCG(3, 4))
	rules := make([]RuleConfig, 0, n)
	for i := range n {
		var m string
		switch i % 4 {
		case 0:
			m = fmt.Sprintf("domain-suffix:site%d.example%d.com", i, rng.IntN(100))
		case 1:
			m = fmt.Sprintf("domain:host%d.example.net", i)
		case 2:
			m = fmt.Sprintf("domain-keyword:kw%dx", i)
		case 3:
			a := netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
			m = "cidr:" + netip.PrefixFrom(a, 16+rng.IntN(9)).Masked().String()
		}
		rules = append(rules, RuleConfig{Match: []string{m}, Action: "block"})
	}
	return rules
}

func TestLookupAllocatesNothing(t *testing.T) {
	r := mustNew(t, Config{Rules: bigRules(10000)})
	for _, h := range []string{"www.site4.example7.com", "a.b.c.d.example.org", "10.20.30.40", "2001:db8::1"} {
		host, port := []byte(h), []byte("443")
		if n := testing.AllocsPerRun(200, func() { r.Route(host, port) }); n != 0 {
			t.Errorf("Route(%s): %v allocations", h, n)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{0, 100, 10000} {
		r := mustNew(b, Config{Rules: bigRules(n)})
		for _, h := range []struct{ name, host string }{
			{"name", "www.example.com"},
			{"longname", "static.cdn.images.some-long-site-name.example.org"},
			{"ip", "93.184.216.34"},
		} {
			b.Run(fmt.Sprintf("rules=%d/%s", n, h.name), func(b *testing.B) {
				host, port := []byte(h.host), []byte("443")
				b.ReportAllocs()
				reportCPU(b, func() { r.Route(host, port) })
			})
		}
	}
}
