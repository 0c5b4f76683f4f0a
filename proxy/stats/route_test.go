package stats_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

func routeFigures() stats.RouteStats {
	return stats.RouteStats{
		Mode: "rules",
		Upstreams: []stats.UpstreamStats{
			{Name: "corp", URL: "http://u:xxxxx@127.0.0.1:3128", State: "up", CheckRTT: 12 * time.Millisecond,
				LastCheck: time.Unix(1700000000, 0), Requests: 7, Errors: 1, BytesIn: 100, BytesOut: 2000},
			{Name: "backup \"b\"", URL: "socks5://127.0.0.1:1080", State: "down", LastError: "connection refused"},
		},
		Rules: []stats.RuleStats{{Rule: 1, Match: "domain-suffix:corp.example", Action: "direct", Hits: 5}, {Match: "default", Action: "corp", Hits: 9}},
	}
}

// The routing figures reach /stats as JSON and /metrics as series a
// Prometheus parser reads, one per upstream and rule.
func TestRouteFiguresInStatsAndMetrics(t *testing.T) {
	c := stats.New()
	c.SetRouteFunc(routeFigures)

	var s stats.Snapshot
	if err := json.Unmarshal([]byte(strings.Join(scrape(t, stats.Handler(c), "").lines, "\n")), &s); err != nil {
		t.Fatal(err)
	}
	if s.RouteMode != "rules" || len(s.Upstreams) != 2 || s.Upstreams[0].Requests != 7 || s.Upstreams[1].State != "down" ||
		s.Upstreams[0].CheckRTT != 12*time.Millisecond || len(s.Rules) != 2 || s.Rules[1].Hits != 9 {
		t.Errorf("/stats: %+v", s)
	}

	body := strings.Join(scrape(t, stats.MetricsHandler(c), "").lines, "\n") + "\n"
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	value := func(name string, labels ...string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("no %s in /metrics", name)
		}
	metrics:
		for _, m := range f.Metric {
			for i := 0; i < len(labels); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue metrics
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		t.Fatalf("no %s%v in /metrics", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_upstream_proxy_requests_total", []string{"upstream", "corp"}, 7},
		{"sluice_upstream_proxy_errors_total", []string{"upstream", "corp"}, 1},
		{"sluice_upstream_proxy_bytes_in_total", []string{"upstream", "corp"}, 100},
		{"sluice_upstream_proxy_bytes_out_total", []string{"upstream", "corp"}, 2000},
		{"sluice_upstream_proxy_up", []string{"upstream", "corp"}, 1},
		{"sluice_upstream_proxy_up", []string{"upstream", `backup "b"`}, 0},
		{"sluice_upstream_proxy_check_seconds", []string{"upstream", "corp"}, 0.012},
		{"sluice_route_rule_hits_total", []string{"rule", "1", "action", "direct"}, 5},
		{"sluice_route_rule_hits_total", []string{"rule", "0", "action", "corp"}, 9},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
