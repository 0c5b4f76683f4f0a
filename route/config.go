package route

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config is what a Router is built from: the [route], [[upstream]],
// [[group]] and [[rule]] tables of config.toml, and what the caller
// lends it.
type Config struct {
	// Mode is "rules", "global" or "direct". Empty means "rules". A mode
	// set with SetMode (the tray) and kept in StatePath wins while this
	// stays as it was then (see LoadState).
	Mode string
	// Global names the upstream or group every request goes through in
	// global mode. Empty is allowed unless Mode is "global"; the tray
	// then offers no global mode.
	Global string
	// Default is the action when no rule matches: "direct", "block" or
	// an upstream or group name. Empty means "direct".
	Default string

	Upstreams []UpstreamConfig
	Groups    []GroupConfig
	Rules     []RuleConfig

	// Dial opens the TCP connections health checks make to the upstream
	// proxies (Sluice's resolver and dialer). Nil means a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)

	// StatePath is the file holding the mode and select choices made at
	// run time (from the tray), so they survive a restart and a reload.
	// Empty means they are not kept.
	StatePath string

	// Logger receives health changes. Nil means slog.Default().
	Logger *slog.Logger
}

// UpstreamConfig is one [[upstream]].
type UpstreamConfig struct {
	// Name is how rules, groups and errors name it.
	Name string
	// URL is scheme://[user:password@]host:port, the scheme one of http,
	// https, socks5, socks5h.
	URL string
}

// GroupConfig is one [[group]].
type GroupConfig struct {
	Name string
	// Strategy is failover, round-robin, least-latency, select or
	// consistent-hash.
	Strategy string
	// Members are upstream names, in order (failover tries them in it;
	// select starts with the first).
	Members []string
	// CheckURL is fetched through each member to check it. Empty means
	// DefaultCheckURL.
	CheckURL string
	// CheckInterval is the time between checks of a member. Zero means
	// DefaultCheckInterval.
	CheckInterval time.Duration
}

// RuleConfig is one [[rule]].
type RuleConfig struct {
	// Match lists "kind:value" entries; the rule matches when any does.
	Match []string
	// Action is "direct", "block" or an upstream or group name.
	Action string
}

// Defaults for a group's health checks.
const (
	DefaultCheckURL      = "http://www.gstatic.com/generate_204"
	DefaultCheckInterval = 30 * time.Second
)

// Modes.
const (
	ModeRules  = "rules"
	ModeGlobal = "global"
	ModeDirect = "direct"
)

// Actions besides an upstream or group name.
const (
	ActionDirect = "direct"
	ActionBlock  = "block"
)

// Error is a problem in the routing config, located by table and entry
// so that the caller can name the file line: Table is "route",
// "upstream", "group" or "rule", Index the entry's position among the
// [[Table]] entries (0 for [route]), Key the key within it.
type Error struct {
	Table string
	Index int
	Key   string
	Msg   string
}

func (e *Error) Error() string {
	if e.Table == "route" {
		return fmt.Sprintf("route.%s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("[[%s]] #%d %s: %s", e.Table, e.Index+1, e.Key, e.Msg)
}
