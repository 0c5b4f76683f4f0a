package stats

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler serves c in the Prometheus exposition format (the
// /metrics endpoint), with the Go runtime and process metrics beside it.
// Each call makes its own registry, so handlers for two Collectors (as in
// tests) do not clash.
func MetricsHandler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newPromCollector(c),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// promCollector turns a Snapshot into metrics at scrape time, so the hot
// path keeps its own atomics and pays nothing for Prometheus.
type promCollector struct {
	c *Collector

	requests, errors, bytesIn, bytesOut       *prometheus.Desc
	connsActive, connsTotal                   *prometheus.Desc
	tunnelsActive, tunnelsTotal               *prometheus.Desc
	latency, ttfb                             *prometheus.Desc
	upstream, poolIdle, logsDropped           *prometheus.Desc
	dnsLookups, dnsResults, dnsEntries, dnsQt *prometheus.Desc
}

func newPromCollector(c *Collector) *promCollector {
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
	for k := ErrNone + 1; k < NumErrKinds; k++ {
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
func quantileMap(l Latency) map[float64]float64 {
	if l.Count == 0 {
		return nil
	}
	return map[float64]float64{
		0.5:  l.P50.Seconds(),
		0.95: l.P95.Seconds(),
		0.99: l.P99.Seconds(),
	}
}
