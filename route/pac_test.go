package route

import (
	"net/url"
	"testing"

	"github.com/sluiceproxy/sluice/internal/pactest"
)

// The PAC file, run by a real PAC engine, sends each rule kind's direct
// destinations DIRECT and everything else to Sluice, and never sends
// DIRECT what Sluice would route elsewhere.
func TestPACAgreesWithTheRules(t *testing.T) {
	r := mustNew(t, Config{
		Default:   "corp",
		Upstreams: []UpstreamConfig{{Name: "corp", URL: "http://127.0.0.1:3128"}},
		Rules: []RuleConfig{
			{Match: []string{"domain:ads.corp.example"}, Action: "block"},           // 1, before the suffix
			{Match: []string{"domain-suffix:corp.example"}, Action: "direct"},       // 2
			{Match: []string{"domain:intranet"}, Action: "direct"},                  // 3
			{Match: []string{"domain-keyword:tracker"}, Action: "block"},            // 4
			{Match: []string{"domain-keyword:local"}, Action: "direct"},             // 5
			{Match: []string{"cidr:10.1.0.0/16"}, Action: "corp"},                   // 6, before the wider direct range
			{Match: []string{"cidr:10.0.0.0/8", "cidr:fd00::/8"}, Action: "direct"}, // 7
			{Match: []string{"port:8080"}, Action: "direct"},                        // 8
		},
	})
	const sluice = "PROXY 127.0.0.1:8877"
	cases := []struct{ url, want string }{
		{"https://ads.corp.example/", sluice},
		{"https://corp.example/", "DIRECT"},
		{"http://WWW.Corp.Example./x", "DIRECT"},
		{"http://notcorp.example/", sluice},
		{"http://intranet/", "DIRECT"},
		{"http://www.intranet/", sluice},
		{"https://my.tracker.example/", sluice},
		{"https://localhost.example/", "DIRECT"},
		{"http://10.2.3.4/", "DIRECT"},
		{"http://10.1.2.3/", sluice},
		{"http://11.2.3.4/", sluice},
		{"http://[fd00::1]/", sluice}, // IPv6 ranges are Sluice's to decide
		{"http://example.com:8080/", "DIRECT"},
		{"http://example.com/", sluice},
		{"http://127.0.0.1/", sluice}, // an address is no name: "local" does not match
	}
	urls := make([]string, len(cases))
	for i, c := range cases {
		urls[i] = c.url
	}
	got := pactest.Eval(t, r.PAC("127.0.0.1:8877"), urls)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: PAC says %q, want %q", c.url, got[i], c.want)
		}
		// DIRECT only where Sluice would go direct too.
		host, port := hostPortOf(t, c.url)
		if d := r.Decide(host, port); got[i] == "DIRECT" && (d.Action != "direct" || d.Upstream != "") {
			t.Errorf("%s: PAC says DIRECT, Sluice says %+v", c.url, d)
		}
	}
}

func TestPACOutsideRulesModeSendsEverythingToSluice(t *testing.T) {
	r := mustNew(t, Config{Rules: []RuleConfig{{Match: []string{"domain:intranet"}, Action: "direct"}}})
	if err := r.SetMode(ModeDirect); err != nil {
		t.Fatal(err)
	}
	got := pactest.Eval(t, r.PAC("[::1]:8877"), []string{"http://intranet/", "https://example.com/"})
	for _, g := range got {
		if g != "PROXY [::1]:8877" {
			t.Errorf("direct mode: PAC says %q", g)
		}
	}
}

func hostPortOf(t *testing.T, raw string) (string, string) {
	u, err := parseURLForTest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u[0], u[1]
}

func parseURLForTest(raw string) ([2]string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return [2]string{}, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return [2]string{u.Hostname(), port}, nil
}
