package app

import (
	"context"
	"net"
	"time"

	"github.com/sluiceproxy/sluice/alert"
	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/resolver"
	"github.com/sluiceproxy/sluice/ui"
)

// alertEvery is how often the alert rules look at the counters: the
// error rate is taken over a minute, so a few seconds' delay changes
// nothing, and an idle Sluice should not wake every second for it.
const alertEvery = 5 * time.Second

// newDashboard makes the dashboard's feed and the alert watcher; they
// live as long as the App, across reloads.
func (a *App) newDashboard(cfg *Config) {
	a.alerts = alert.New(alertConfig(cfg), alert.SystemNotifier(), a.log)
	a.feed = ui.New(ui.Sources{
		Stats:       a.stats,
		ConfigError: a.ConfigError,
		DNSNames:    a.dnsNames,
		FlushDNS:    a.flushDNS,
		PoolByHost:  a.poolByHost,
		Upstreams:   a.dashUpstreams,
		Alerts:      a.alerts.Active,
		Capture:     func(on bool) { a.setHeads(true, on) },
	}, cfg.UI.History)
	a.feed.SetEnabled(cfg.UI.Enabled)
}

// applyDashboard applies a reloaded [ui] and [alerts].
func (a *App) applyDashboard(cfg *Config) {
	a.feed.SetEnabled(cfg.UI.Enabled)
	a.feed.SetHistory(cfg.UI.History)
	a.alerts.SetConfig(alertConfig(cfg))
}

func alertConfig(cfg *Config) alert.Config {
	return alert.Config{ErrorRate: cfg.Alerts.ErrorRate, UpstreamDown: cfg.Alerts.UpstreamDown}
}

// server returns the running proxy, or nil before Start.
func (a *App) server() *proxy.Server {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.srv
}

// accessSink is where the proxy hands its access records: the access log
// and, with [ui] enabled, the dashboard's feed, which keeps nothing while
// no page is open. With access_log = false the proxy still builds a
// record per request for the feed (one allocation).
func (a *App) accessSink(cfg *Config) proxy.AccessLogger {
	log := a.logs.Access()
	switch {
	case !cfg.UI.Enabled:
		return log
	case log == nil:
		return a.feed
	}
	return &accessTee{log: log, feed: a.feed}
}

// accessTee hands each record to the access log, then to the feed.
type accessTee struct{ log, feed proxy.AccessLogger }

func (t *accessTee) LogAccess(r *proxy.AccessRecord) {
	t.log.LogAccess(r)
	t.feed.LogAccess(r)
}

// alertSample reads the counters for the alert rules, and the upstream
// proxies routing's health checks find down.
func (a *App) alertSample() alert.Sample {
	s := a.stats.Snapshot()
	sample := alert.Sample{Time: s.Time, Requests: s.Requests, Errors: s.Errors}
	if rt := a.currentRouter(); rt != nil {
		for _, u := range rt.Upstreams() {
			if u.State == "down" {
				sample.Down = append(sample.Down, u.Name)
			}
		}
	}
	return sample
}

// dashUpstreams is the dashboard's upstreams panel: nil (the page says no
// routing is configured) when there are none.
func (a *App) dashUpstreams() []ui.Upstream {
	rt := a.currentRouter()
	if rt == nil {
		return nil
	}
	var out []ui.Upstream
	for _, u := range rt.Upstreams() {
		out = append(out, ui.Upstream{Name: u.Name, Addr: u.URL, Up: u.State != "down",
			Requests: u.Requests, Errors: u.Errors, RTTMillis: float64(u.CheckRTT) / float64(time.Millisecond), LastError: u.LastError})
	}
	return out
}

// runAlerts checks the alert rules until ctx ends.
func (a *App) runAlerts(ctx context.Context) { a.alerts.Run(ctx, alertEvery, a.alertSample) }

func (a *App) dnsNames(max int) ([]ui.DNSName, bool) {
	r := a.resolver()
	if r == nil {
		return nil, false
	}
	entries := r.Entries(max)
	names := make([]ui.DNSName, len(entries))
	for i, e := range entries {
		addrs := make([]string, len(e.Addrs))
		for j, ip := range e.Addrs {
			addrs[j] = ip.String()
		}
		names[i] = ui.DNSName{Name: e.Name, Addrs: addrs, TTL: e.TTL.Seconds()}
	}
	return names, true
}

func (a *App) flushDNS() (int, bool) {
	r := a.resolver()
	if r == nil {
		return 0, false
	}
	n := r.Flush()
	a.log.Info("DNS cache flushed from the dashboard", "names", n)
	return n, true
}

// resolver returns Sluice's resolver in use, nil with the system's.
func (a *App) resolver() *resolver.Resolver {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.up == nil {
		return nil
	}
	return a.up.dns
}

func (a *App) poolByHost() map[string]int {
	if s := a.server(); s != nil {
		return s.IdleUpstreamByHost()
	}
	return nil
}

// DashboardURL returns the dashboard's address, or "" when [ui] is off
// or the proxy is not listening. A wildcard listen address is reached
// on loopback, the only clients the dashboard serves.
func (a *App) DashboardURL() string {
	if !a.Config().UI.Enabled || a.ListenErr() != nil {
		return ""
	}
	host, port, err := net.SplitHostPort(a.ListenAddr())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	} else if !ip.IsLoopback() {
		// Sluice serves its local endpoints to loopback clients only.
		if ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/ui"
}
