package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/route"
)

// routeConfig maps [route], [[upstream]], [[group]] and [[rule]] onto
// route.Config; health checks dial through up (nil: the route package's
// own dialer, for checking a config) and select and mode choices persist
// in statePath.
func routeConfig(c *Config, up *upstream, statePath string) route.Config {
	rc := route.Config{
		Mode: c.Route.Mode, Global: c.Route.Global, Default: c.Route.Default,
		StatePath: statePath,
	}
	for _, u := range c.Upstreams {
		rc.Upstreams = append(rc.Upstreams, route.UpstreamConfig{Name: u.Name, URL: u.URL})
	}
	for _, g := range c.Groups {
		rc.Groups = append(rc.Groups, route.GroupConfig{
			Name: g.Name, Strategy: g.Strategy, Members: g.Members,
			CheckURL: g.CheckURL, CheckInterval: g.CheckInterval.Duration,
		})
	}
	for _, r := range c.Rules {
		rc.Rules = append(rc.Rules, route.RuleConfig{Match: r.Match, Action: r.Action})
	}
	if up != nil {
		rc.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, _, err := up.Dial(ctx, network, address)
			return conn, err
		}
	}
	return rc
}

var errNotStarted = errors.New("the proxy has not started")

// routeStateName is the file, in the state dir, that keeps the mode and
// select choices made in the tray.
const routeStateName = "route.json"

// newRouter builds the routing for cfg: health checks dial through up,
// choices persist in the state dir. It is not started.
func (a *App) newRouter(cfg *Config, up *upstream) (*route.Router, error) {
	statePath := ""
	if dir, err := StateDir(); err == nil {
		statePath = filepath.Join(dir, routeStateName)
	}
	rc := routeConfig(cfg, up, statePath)
	rc.Logger = a.log
	rt, err := route.New(rc)
	if err != nil {
		// LoadConfig checked the same config; this is a defect.
		return nil, fmt.Errorf("routing: %w", err)
	}
	if err := rt.LoadState(); err != nil {
		a.log.Warn("routing choices from the tray are lost", "err", err)
	}
	return rt, nil
}

// routingChanged reports whether the routing part of the config differs.
func routingChanged(old, cfg *Config) bool {
	return !reflect.DeepEqual(old.Route, cfg.Route) || !reflect.DeepEqual(old.Upstreams, cfg.Upstreams) ||
		!reflect.DeepEqual(old.Groups, cfg.Groups) || !reflect.DeepEqual(old.Rules, cfg.Rules)
}

// currentRouter returns the routing in use.
func (a *App) currentRouter() *route.Router {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.router
}

// routeFigures reports the current routing to the stats snapshot.
func (a *App) routeFigures() stats.RouteStats {
	rt := a.currentRouter()
	if rt == nil {
		return stats.RouteStats{}
	}
	rs := stats.RouteStats{Mode: rt.Mode()}
	for _, u := range rt.Upstreams() {
		rs.Upstreams = append(rs.Upstreams, stats.UpstreamStats{
			Name: u.Name, URL: u.URL, State: u.State, CheckRTT: u.CheckRTT, LastCheck: u.LastCheck, LastError: u.LastError,
			Requests: u.Requests, Errors: u.Errors, BytesIn: u.BytesIn, BytesOut: u.BytesOut,
		})
	}
	for _, r := range rt.Rules() {
		rs.Rules = append(rs.Rules, stats.RuleStats{Rule: r.Rule, Match: r.Match, Action: r.Action, Hits: r.Hits})
	}
	return rs
}

// pacHandler serves /proxy.pac: the rules as a PAC file pointing at
// Sluice's loopback address.
func (a *App) pacHandler(rt *route.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", route.PACContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Write(rt.PAC(LoopbackAddr(a.ListenAddr())))
	})
}

// LoopbackAddr is how a program on this machine reaches a proxy
// listening on listen: a wildcard address becomes loopback.
func LoopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// RouteTest is /route's answer: how a destination would be routed now.
type RouteTest struct {
	Host string `json:"host"`
	Port string `json:"port"`
	route.Decision
}

// routeTestHandler serves /route?target=URL|HOST:PORT for `sluice route
// test`.
func routeTestHandler(rt *route.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port, err := SplitTarget(r.URL.Query().Get("target"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, _ := json.MarshalIndent(RouteTest{Host: host, Port: port, Decision: rt.Decide(host, port)}, "", "  ")
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(body, '\n'))
	})
}

// SplitTarget reads a destination as `route test` takes it: a URL
// (http, https, ws, wss, whose default port applies) or host:port.
func SplitTarget(target string) (host, port string, err error) {
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil || u.Hostname() == "" {
			return "", "", fmt.Errorf("%q is not a URL", target)
		}
		port = u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "ws": "80", "https": "443", "wss": "443"}[u.Scheme]
		}
		if port == "" {
			return "", "", fmt.Errorf("%q: scheme %q has no default port; add one", target, u.Scheme)
		}
		return u.Hostname(), port, nil
	}
	host, port, err = net.SplitHostPort(target)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("%q is neither a URL nor host:port (like example.com:443)", target)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not from 1 to 65535", target, port)
	}
	return host, port, nil
}

// DecideFromConfig says how target would be routed by cfg, as `route test`
// does when no Sluice is running: with every upstream counted as up
// (nothing has been checked) and the tray's choices from the state dir.
func DecideFromConfig(cfg *Config, target string) (RouteTest, error) {
	host, port, err := SplitTarget(target)
	if err != nil {
		return RouteTest{}, err
	}
	statePath := ""
	if dir, err := StateDir(); err == nil {
		statePath = filepath.Join(dir, routeStateName)
	}
	rt, err := route.New(routeConfig(cfg, nil, statePath))
	if err != nil {
		return RouteTest{}, err
	}
	rt.LoadState()
	return RouteTest{Host: host, Port: port, Decision: rt.Decide(host, port)}, nil
}

// RouteMode is the routing mode in force, and whether global mode is
// available (route.global is set).
func (a *App) RouteMode() (mode string, hasGlobal bool) {
	rt := a.currentRouter()
	if rt == nil {
		return route.ModeRules, false
	}
	return rt.Mode(), rt.HasGlobal()
}

// RoutingConfigured reports whether the config routes anything: an
// upstream or a rule exists (else every mode goes direct).
func (a *App) RoutingConfigured() bool {
	rt := a.currentRouter()
	return rt != nil && !rt.AlwaysDirect()
}

// SetRouteMode switches the routing mode (the tray's Mode menu); the
// choice is kept in the state dir.
func (a *App) SetRouteMode(mode string) error {
	// Under mu, so that a reload building the next routing reads the
	// state file either before this or after it, never in between.
	a.mu.Lock()
	defer a.mu.Unlock()
	rt := a.router
	if rt == nil {
		return errNotStarted
	}
	err := rt.SetMode(mode)
	if err == nil {
		a.log.Info("routing mode switched", "mode", mode)
	}
	return err
}

// SelectGroups are the select groups, with their members and choice.
func (a *App) SelectGroups() []route.GroupStatus {
	rt := a.currentRouter()
	if rt == nil {
		return nil
	}
	var out []route.GroupStatus
	for _, g := range rt.Groups() {
		if g.Strategy == route.StrategySelect {
			out = append(out, g)
		}
	}
	return out
}

// Select makes member the choice of a select group (the tray's menu);
// the choice is kept in the state dir.
func (a *App) Select(group, member string) error {
	a.mu.Lock() // as in SetRouteMode
	defer a.mu.Unlock()
	rt := a.router
	if rt == nil {
		return errNotStarted
	}
	err := rt.Select(group, member)
	if err == nil {
		a.log.Info("group member selected", "group", group, "member", member)
	}
	return err
}
