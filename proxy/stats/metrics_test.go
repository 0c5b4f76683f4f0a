package stats_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// clientGolangHandler is /metrics as Sluice served it with client_golang
// (up to c0bb79f): the reference MetricsHandler must match.
func clientGolangHandler(c *stats.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newPromCollector(c),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// volatile are the series whose values move between two scrapes of an
// idle process; every other value must be equal.
var volatile = []string{
	"go_goroutines", "go_threads", "go_memstats_", "go_gc_duration_seconds",
	"process_cpu_seconds_total", "process_open_fds", "process_resident_memory_bytes",
	"process_virtual_memory_bytes", "process_network_",
}

func isVolatile(series string) bool {
	for _, v := range volatile {
		if strings.HasPrefix(series, v) {
			return true
		}
	}
	return false
}

// TestMetricsMatchClientGolang holds the hand-written exposition to the
// client_golang output it replaced: the same families in the same order
// with the same help, types and series, and the same values except those
// that move by themselves between two scrapes.
func TestMetricsMatchClientGolang(t *testing.T) {
	c := stats.New()
	load(c)
	// Let the rate windows settle, so both scrapes see the same second.
	time.Sleep(10 * time.Millisecond)
	ours := scrape(t, stats.MetricsHandler(c), "")
	ref := scrape(t, clientGolangHandler(c), "")
	if ours.contentType != ref.contentType {
		t.Errorf("Content-Type %q, client_golang's %q", ours.contentType, ref.contentType)
	}
	if len(ours.lines) != len(ref.lines) {
		t.Errorf("%d lines, client_golang has %d", len(ours.lines), len(ref.lines))
	}
	for i := range min(len(ours.lines), len(ref.lines)) {
		got, want := ours.lines[i], ref.lines[i]
		if got == want {
			continue
		}
		gs, _, _ := strings.Cut(got, " ")
		ws, _, _ := strings.Cut(want, " ")
		if strings.HasPrefix(got, "#") || gs != ws || !isVolatile(gs) {
			t.Errorf("line %d:\n got  %s\n want %s", i+1, got, want)
		}
	}
	if t.Failed() {
		t.Logf("ours:\n%s", strings.Join(ours.lines, "\n"))
	}
}

func TestMetricsAreGzippedWhenAccepted(t *testing.T) {
	c := stats.New()
	load(c)
	plain := scrape(t, stats.MetricsHandler(c), "")
	zipped := scrape(t, stats.MetricsHandler(c), "gzip")
	if zipped.encoding != "gzip" || plain.encoding != "" {
		t.Fatalf("Content-Encoding %q with gzip accepted, %q without", zipped.encoding, plain.encoding)
	}
	if len(zipped.lines) != len(plain.lines) || zipped.lines[0] != plain.lines[0] {
		t.Fatalf("gzipped body differs: %d lines against %d", len(zipped.lines), len(plain.lines))
	}
}

type scraped struct {
	contentType, encoding string
	lines                 []string
}

// scrape GETs h's /metrics, with Accept-Encoding if set, and returns the
// body's lines, ungzipped.
func scrape(t *testing.T, h http.Handler, acceptEncoding string) scraped {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	// A transport of its own, which does not ask for gzip by itself.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	s := scraped{contentType: resp.Header.Get("Content-Type"), encoding: resp.Header.Get("Content-Encoding")}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		s.lines = append(s.lines, sc.Text())
	}
	return s
}

// promCollector turns a Snapshot into metrics at scrape time, so the hot
// path keeps its own atomics and pays nothing for Prometheus.
type promCollector struct {
	c *stats.Collector

	requests, errors, bytesIn, bytesOut       *prometheus.Desc
	connsActive, connsTotal                   *prometheus.Desc
	tunnelsActive, tunnelsTotal               *prometheus.Desc
	latency, ttfb                             *prometheus.Desc
	upstream, poolIdle, logsDropped           *prometheus.Desc
	dnsLookups, dnsResults, dnsEntries, dnsQt *prometheus.Desc
}

func newPromCollector(c *stats.Collector) *promCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sluice_"+name, help, labels, nil)
	}
	return &promCollector{
		c:             c,
		requests:      d("requests_total", "Finished proxied requests (tunnels not included)."),
		errors:        d("errors_total", "Failed requests by kind.", "kind"),
		bytesIn:       d("bytes_in_total", "Body bytes from clients, and tunnel bytes upstream, counted as they move."),
		bytesOut:      d("bytes_out_total", "Body bytes to clients, and tunnel bytes downstream, counted as they move."),
		connsActive:   d("connections_active", "Open client connections."),
		connsTotal:    d("connections_total", "Client connections accepted."),
		tunnelsActive: d("tunnels_active", "Open CONNECT and Upgrade tunnels."),
		tunnelsTotal:  d("tunnels_total", "CONNECT and Upgrade tunnels opened."),
		latency:       d("request_duration_seconds", "Request duration; quantiles over the last 60 to 70 seconds."),
		ttfb:          d("request_ttfb_seconds", "Time to the first response byte; quantiles over the last 60 to 70 seconds."),
		upstream:      d("upstream_requests_total", "Requests sent upstream, by whether the connection was reused from the pool or newly dialed.", "conn"),
		poolIdle:      d("upstream_pool_idle", "Idle pooled upstream connections."),
		logsDropped:   d("log_records_dropped_total", "Log records dropped because the log writer fell behind."),
		dnsLookups:    d("dns_lookups_total", "Names asked of the caching resolver."),
		dnsResults:    d("dns_cache_results_total", "Resolver lookups by how they were answered.", "result"),
		dnsEntries:    d("dns_cache_entries", "Names in the DNS cache."),
		dnsQt:         d("dns_query_seconds", "Quantiles of the time a query to a DNS server took.", "quantile"),
	}
}

// Describe sends every metric description.
func (p *promCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		p.requests, p.errors, p.bytesIn, p.bytesOut, p.connsActive, p.connsTotal,
		p.tunnelsActive, p.tunnelsTotal, p.latency, p.ttfb, p.upstream, p.poolIdle,
		p.logsDropped, p.dnsLookups, p.dnsResults, p.dnsEntries, p.dnsQt,
	} {
		ch <- d
	}
}

// Collect reads one Snapshot and sends it as metrics.
func (p *promCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.c.Snapshot()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(p.requests, s.Requests)
	for k := stats.ErrNone + 1; k < stats.NumErrKinds; k++ {
		counter(p.errors, s.ErrorsByKind[k.String()], k.String())
	}
	counter(p.bytesIn, s.BytesIn)
	counter(p.bytesOut, s.BytesOut)
	gauge(p.connsActive, float64(s.ConnsActive))
	counter(p.connsTotal, s.ConnsTotal)
	gauge(p.tunnelsActive, float64(s.TunnelsActive))
	counter(p.tunnelsTotal, s.TunnelsTotal)
	ch <- prometheus.MustNewConstSummary(p.latency, uint64(s.Requests), s.LatencySum.Seconds(),
		quantileMap(s.Latency))
	ch <- prometheus.MustNewConstSummary(p.ttfb, uint64(s.TTFBCount), s.TTFBSum.Seconds(),
		quantileMap(s.TTFB))
	counter(p.upstream, s.Upstream.Reused, "reused")
	counter(p.upstream, s.Upstream.Dialed, "new")
	gauge(p.poolIdle, float64(s.Upstream.PoolIdle))
	counter(p.logsDropped, s.LogsDropped)
	if d := s.DNS; d != nil {
		counter(p.dnsLookups, d.Lookups)
		counter(p.dnsResults, d.Hits, "hit")
		counter(p.dnsResults, d.Misses, "miss")
		counter(p.dnsResults, d.Stale, "stale")
		counter(p.dnsResults, d.NegativeHits, "negative_hit")
		gauge(p.dnsEntries, float64(d.Entries))
		gauge(p.dnsQt, d.QueryP50.Seconds(), "0.5")
		gauge(p.dnsQt, d.QueryP99.Seconds(), "0.99")
	}
}

// quantileMap gives a Latency's quantiles in seconds; an empty window
// gives none, which Prometheus shows as NaN rather than a false zero.
func quantileMap(l stats.Latency) map[float64]float64 {
	if l.Count == 0 {
		return nil
	}
	return map[float64]float64{
		0.5:  l.P50.Seconds(),
		0.95: l.P95.Seconds(),
		0.99: l.P99.Seconds(),
	}
}
