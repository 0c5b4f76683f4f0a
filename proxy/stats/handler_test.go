package stats_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// load puts a known mix through c.
func load(c *stats.Collector) {
	for i := range 1000 {
		s := stats.Sample{Status: 200, BytesIn: 10, BytesOut: int64(i), Duration: time.Duration(i) * time.Millisecond, TTFB: time.Millisecond}
		switch i % 50 {
		case 1:
			s.Err = stats.ErrRefused
		case 2:
			s.Err = stats.ErrDNS
		}
		c.Request(&s)
		c.UpstreamConn(i%5 != 0)
	}
	c.ConnOpened()
	c.TunnelOpened()
	c.TunnelOpened()
	c.TunnelClosed(100, 200)
	c.SetPoolIdleFunc(func() int { return 3 })
	c.SetDroppedFunc(func() int64 { return 17 })
	c.SetDNSFunc(func() stats.DNSStats {
		return stats.DNSStats{Lookups: 9, Hits: 6, Misses: 3, Entries: 4, QueryP50: 2 * time.Millisecond, QueryP99: 40 * time.Millisecond}
	})
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

func TestStatsHandlerServesSnapshotJSON(t *testing.T) {
	c := stats.New()
	load(c)
	srv := httptest.NewServer(stats.Handler(c))
	defer srv.Close()

	resp, body := get(t, srv.URL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var s stats.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if s.Requests != 1000 || s.Errors != 40 || s.ErrorsByKind["refused"] != 20 || s.ErrorsByKind["dns"] != 20 ||
		s.BytesIn != 10*1000+100 || s.BytesOut != 999*1000/2+200 || s.TunnelsActive != 1 || s.ConnsActive != 1 ||
		s.Upstream.PoolIdle != 3 || s.LogsDropped != 17 || s.DNS == nil || s.DNS.Hits != 6 || s.Latency.Count != 1000 {
		t.Fatalf("decoded snapshot does not match the load: %s", body)
	}
	for _, key := range []string{`"rate_1s"`, `"p99_ns"`, `"reuse_ratio"`, `"errors_by_kind"`, `"query_p99_ns"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: status %d, want 405", resp.StatusCode)
	}
}

func TestMetricsParseAndMatchStats(t *testing.T) {
	c := stats.New()
	load(c)
	mux := http.NewServeMux()
	mux.Handle("/stats", stats.Handler(c))
	mux.Handle("/metrics", stats.MetricsHandler(c))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	_, body := get(t, srv.URL+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	_, sbody := get(t, srv.URL+"/stats")
	var s stats.Snapshot
	if err := json.Unmarshal(sbody, &s); err != nil {
		t.Fatal(err)
	}

	// value finds the sample of family name with the given label pairs.
	value := func(name string, labels ...string) float64 {
		t.Helper()
		mf := families[name]
		if mf == nil {
			t.Fatalf("/metrics has no %s", name)
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Summary != nil:
				return float64(m.Summary.GetSampleCount())
			}
		}
		t.Fatalf("/metrics has no %s%v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels []string
		want   int64
	}{
		{"sluice_requests_total", nil, s.Requests},
		{"sluice_errors_total", []string{"kind", "refused"}, s.ErrorsByKind["refused"]},
		{"sluice_errors_total", []string{"kind", "dns"}, s.ErrorsByKind["dns"]},
		{"sluice_errors_total", []string{"kind", "loop"}, 0},
		{"sluice_bytes_in_total", nil, s.BytesIn},
		{"sluice_bytes_out_total", nil, s.BytesOut},
		{"sluice_connections_active", nil, s.ConnsActive},
		{"sluice_connections_total", nil, s.ConnsTotal},
		{"sluice_tunnels_active", nil, s.TunnelsActive},
		{"sluice_tunnels_total", nil, s.TunnelsTotal},
		{"sluice_upstream_requests_total", []string{"conn", "reused"}, s.Upstream.Reused},
		{"sluice_upstream_requests_total", []string{"conn", "new"}, s.Upstream.Dialed},
		{"sluice_upstream_pool_idle", nil, s.Upstream.PoolIdle},
		{"sluice_log_records_dropped_total", nil, s.LogsDropped},
		{"sluice_request_duration_seconds", nil, s.Requests},
		{"sluice_request_ttfb_seconds", nil, s.TTFBCount},
		{"sluice_dns_lookups_total", nil, s.DNS.Lookups},
		{"sluice_dns_cache_results_total", []string{"result", "hit"}, s.DNS.Hits},
		{"sluice_dns_cache_entries", nil, s.DNS.Entries},
	}
	for _, ch := range checks {
		if got := value(ch.name, ch.labels...); got != float64(ch.want) {
			t.Errorf("%s%v = %v, /stats says %d", ch.name, ch.labels, got, ch.want)
		}
	}
	// The latency summary's quantiles are the /stats ones, in seconds.
	for _, m := range families["sluice_request_duration_seconds"].GetMetric() {
		for _, q := range m.Summary.GetQuantile() {
			want := map[float64]time.Duration{0.5: s.Latency.P50, 0.95: s.Latency.P95, 0.99: s.Latency.P99}[q.GetQuantile()]
			if q.GetValue() != want.Seconds() {
				t.Errorf("duration quantile %v = %v, /stats says %v", q.GetQuantile(), q.GetValue(), want)
			}
		}
		if got, want := m.Summary.GetSampleSum(), s.LatencySum.Seconds(); got != want {
			t.Errorf("duration sum = %v, want %v", got, want)
		}
	}
	if families["go_goroutines"] == nil || families["process_start_time_seconds"] == nil {
		t.Errorf("Go and process collectors missing")
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// TestDashboardQueriesExistingMetrics guards packaging/grafana against
// metric renames: every metric its queries name must be served.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../packaging/grafana/sluice-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	c := stats.New()
	load(c)
	srv := httptest.NewServer(stats.MetricsHandler(c))
	defer srv.Close()
	_, body := get(t, srv.URL)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\b(?:sluice|process|go)_[a-z_]+\b`)
	var queries int
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(m, "_sum"), "_count")
				if families[m] == nil && families[base] == nil {
					t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("dashboard has %d queries; expected the full set", queries)
	}
}
