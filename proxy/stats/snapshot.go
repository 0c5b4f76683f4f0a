package stats

import "time"

// Snapshot is every live figure at one moment, as the tray, `sluice
// stats`, /stats and /metrics show it. Totals count from the start of the
// Collector; rates and quantiles cover recent windows. Durations are
// nanoseconds in JSON (the _ns keys).
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Started is when the Collector was made (the proxy started).
	Started time.Time `json:"started"`

	// Requests counts finished requests (tunnels are counted apart).
	Requests int64 `json:"requests"`
	// Inspected counts the Requests that were decrypted HTTPS exchanges.
	Inspected int64 `json:"inspected"`
	// Errors counts failed requests; ErrorsByKind splits them by
	// ErrKind name, listing every kind, zero or not.
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	// ErrorRate is the share of requests that failed over the last 10
	// seconds, from 0 to 1; 0 when there were none.
	ErrorRate float64 `json:"error_rate"`

	// Rate1s covers the last complete second; Rate10s the last ten (or
	// fewer, just after the start).
	Rate1s  Rates `json:"rate_1s"`
	Rate10s Rates `json:"rate_10s"`

	// ConnsActive is the number of open client connections; ConnsTotal
	// counts every one accepted.
	ConnsActive int64 `json:"conns_active"`
	ConnsTotal  int64 `json:"conns_total"`
	// TunnelsActive is the number of open CONNECT and Upgrade tunnels;
	// TunnelsTotal counts every one opened.
	TunnelsActive int64 `json:"tunnels_active"`
	TunnelsTotal  int64 `json:"tunnels_total"`

	// BytesIn and BytesOut count body bytes from and to clients, and
	// tunnel bytes each way; long transfers count as they run.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`

	// Latency is the total request duration over the last 60 to 70
	// seconds; TTFB the time to the first response byte.
	Latency Latency `json:"latency"`
	TTFB    Latency `json:"ttfb"`
	// LatencySum and TTFBSum add up every request's duration and TTFB
	// since the start; TTFBCount counts the requests with a TTFB. They
	// make the Prometheus summaries' _sum and _count.
	LatencySum time.Duration `json:"latency_sum_ns"`
	TTFBSum    time.Duration `json:"ttfb_sum_ns"`
	TTFBCount  int64         `json:"ttfb_count"`

	// Upstream describes the upstream connection pool.
	Upstream Upstream `json:"upstream"`

	// LogsDropped counts log records dropped because the log writer fell
	// behind; 0 when no log writer is attached.
	LogsDropped int64 `json:"logs_dropped"`

	// DNS holds the caching resolver's figures; nil when it is not used.
	DNS *DNSStats `json:"dns,omitempty"`

	// RouteMode is the routing mode in force: rules, global or direct;
	// "" when the app reports no routing.
	RouteMode string `json:"route_mode,omitempty"`
	// Upstreams describes each upstream proxy ([[upstream]]), in config
	// order; Rules counts each routing rule's decisions, the default
	// action last.
	Upstreams []UpstreamStats `json:"upstreams,omitempty"`
	Rules     []RuleStats     `json:"rules,omitempty"`
	// Cache holds the response cache's figures; nil when it is off.
	Cache *CacheStats `json:"cache,omitempty"`
}

// RouteStats are the routing figures, as the app adapts them from
// package route (stats does not import it).
type RouteStats struct {
	Mode      string
	Upstreams []UpstreamStats
	Rules     []RuleStats
}

// UpstreamStats describes one upstream proxy.
type UpstreamStats struct {
	Name string `json:"name"`
	// URL is the proxy's URL without its password.
	URL string `json:"url"`
	// State is "up", "down", or "unchecked" (in no group, so never
	// checked; used as up).
	State string `json:"state"`
	// CheckRTT is the last good health check's round trip; 0 before one.
	CheckRTT time.Duration `json:"check_rtt_ns"`
	// LastCheck is when it was last checked; zero before.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastError is why the last check failed; "" if it did not.
	LastError string `json:"last_error,omitempty"`
	// Requests, Errors and bytes each way through it, as the relay
	// counts them.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

// RuleStats counts one rule's decisions.
type RuleStats struct {
	// Rule is the rule's number in the config, from 1; 0 for the default
	// action.
	Rule int `json:"rule"`
	// Match is the rule's match entries, "default" for the default.
	Match  string `json:"match"`
	Action string `json:"action"`
	Hits   int64  `json:"hits"`
}

// Rates are per-second averages over a window.
type Rates struct {
	Requests float64 `json:"requests_per_sec"`
	Errors   float64 `json:"errors_per_sec"`
	BytesIn  float64 `json:"bytes_in_per_sec"`
	BytesOut float64 `json:"bytes_out_per_sec"`
}

// Latency holds quantiles of a duration over the latency window. Each is
// the middle of its histogram bucket, so within 1/32 of the true value.
// All are zero when Count is.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	// Count is the number of samples in the window.
	Count int64 `json:"count"`
}

// Upstream describes upstream connection use.
type Upstream struct {
	// Reused counts requests sent on a pooled connection; Dialed those
	// that needed a new one.
	Reused int64 `json:"reused"`
	Dialed int64 `json:"dialed"`
	// ReuseRatio is Reused / (Reused + Dialed); 0 before any request.
	ReuseRatio float64 `json:"reuse_ratio"`
	// PoolIdle is the number of idle pooled connections now; 0 when the
	// proxy does not report it.
	PoolIdle int64 `json:"pool_idle"`
}

var quantileLevels = []float64{0.50, 0.95, 0.99}

// Snapshot reads every figure. It allocates and sums the windows, so it
// is meant for readers polling every second or so, not for the hot path.
func (c *Collector) Snapshot() Snapshot {
	now := c.now()
	s := Snapshot{
		Time:          now,
		Started:       c.started,
		Requests:      c.requests.Load(),
		Inspected:     c.inspected.Load(),
		ErrorsByKind:  make(map[string]int64, NumErrKinds-1),
		ConnsActive:   c.conns.Load(),
		ConnsTotal:    c.connsTotal.Load(),
		TunnelsActive: c.tunnels.Load(),
		TunnelsTotal:  c.tunnelTotal.Load(),
		BytesIn:       c.bytesIn.Load(),
		BytesOut:      c.bytesOut.Load(),
		LatencySum:    time.Duration(c.durationSum.Load()),
		TTFBSum:       time.Duration(c.ttfbSum.Load()),
		TTFBCount:     c.ttfbCount.Load(),
	}
	for k := ErrNone + 1; k < NumErrKinds; k++ {
		n := c.errors[k].Load()
		s.ErrorsByKind[k.String()] = n
		s.Errors += n
	}

	s.Rate1s = c.rates.read(now, 1).perSecond(1)
	// Just after the start fewer than ten complete seconds exist; divide
	// by those so the rate is not understated.
	past := now.Unix() - c.started.Unix()
	past = max(1, min(past, ratePast))
	slow := c.rates.read(now, past)
	s.Rate10s = slow.perSecond(past)
	if slow.requests > 0 {
		s.ErrorRate = float64(slow.errors) / float64(slow.requests)
	}

	var total, ttfb [numBuckets]int64
	c.latency.read(now, &total, &ttfb)
	s.Latency = latencyOf(&total)
	s.TTFB = latencyOf(&ttfb)

	s.Upstream.Reused, s.Upstream.Dialed = c.Reused()
	if n := s.Upstream.Reused + s.Upstream.Dialed; n > 0 {
		s.Upstream.ReuseRatio = float64(s.Upstream.Reused) / float64(n)
	}
	if f := c.poolIdle.Load(); f != nil {
		s.Upstream.PoolIdle = int64((*f)())
	}
	if f := c.dropped.Load(); f != nil {
		s.LogsDropped = (*f)()
	}
	if f := c.dns.Load(); f != nil {
		d := (*f)()
		s.DNS = &d
	}
	if f := c.route.Load(); f != nil {
		r := (*f)()
		s.RouteMode, s.Upstreams, s.Rules = r.Mode, r.Upstreams, r.Rules
	}
	if f := c.cache.Load(); f != nil {
		if cs, on := (*f)(); on {
			s.Cache = &cs
		}
	}
	return s
}

func (r rateCounts) perSecond(seconds int64) Rates {
	d := float64(seconds)
	return Rates{
		Requests: float64(r.requests) / d,
		Errors:   float64(r.errors) / d,
		BytesIn:  float64(r.bytesIn) / d,
		BytesOut: float64(r.bytesOut) / d,
	}
}

func latencyOf(counts *[numBuckets]int64) Latency {
	var q [3]time.Duration
	n := quantiles(counts, quantileLevels, q[:])
	return Latency{P50: q[0], P95: q[1], P99: q[2], Count: n}
}
