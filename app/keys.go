package app

import (
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/inspect"
	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/resolver"
	"github.com/sluiceproxy/sluice/route"
)

//go:generate go run ./internal/genconfig

// Key describes one config key. The table below is the only place a
// key's name, environment variable, default, bounds and doc are written:
// loading, environment overrides, validation, `sluice config check`,
// reload's change log, assets/config.toml and docs/configuration.md are
// all derived from it. Adding a key is one entry plus its use.
type Key struct {
	// Name is the dotted TOML path ("proxy.listen").
	Name string
	// Env is the environment variable that overrides the key, if any.
	Env string
	// Default is the value as written in TOML (`"90s"`, `64`, `["system"]`).
	Default string
	// Example is a value to show in errors and docs when Default is
	// empty or a bad example (an empty list).
	Example string
	// Doc says what the key does, for config.toml and the reference page.
	Doc string
	// Zero says what 0, "" or an empty list means, when it is special.
	Zero string
	// Min and Max bound whole numbers and durations (in nanoseconds);
	// Max 0 means no upper bound. Checked only when HasBounds.
	Min, Max  int64
	HasBounds bool
	// Check reports what is wrong with a decoded value, or "" (rules
	// beyond type and bounds).
	Check func(c *Config) string
	// Field points at the key's value in c.
	Field func(c *Config) any
	// Secret values (password hashes) are not logged on reload.
	Secret bool
	// FromString, if set, takes the key's value from a flag or the
	// environment instead of the plain conversion (PROXY_UPSTREAM, a URL,
	// sets more than route.global), and says what is wrong with it.
	FromString func(c *Config, value, source string) string
	// Elem points at the key's value in entry i of its array of tables;
	// set for the keys of an ArrayTable, whose Field is nil.
	Elem func(c *Config, i int) any
}

// ArrayTable is an array of tables ([[upstream]] entries), each with the
// keys in Keys. Its own keys' names are "table.key".
type ArrayTable struct {
	Name string
	Doc  string
	// Example is one entry as TOML lines, shown in config.toml and the
	// reference page.
	Example string
	// Field points at the slice of entries in c.
	Field func(c *Config) any
	Keys  []Key
}

// Section is a [section] of config.toml, in the order the file shows them.
type Section struct {
	Name string
	Doc  string
}

// KeyListen is proxy.listen, which --listen overrides.
const KeyListen = "proxy.listen"

// Sections lists config.toml's sections in file order.
var Sections = []Section{
	{"proxy", "How the proxy listens, dials and bounds the work it takes on."},
	{"access", "Who may use Sluice."},
	{"log", "Where logs go and how much they keep. Level, format and the rotation keys apply on reload; dir and access_log on restart."},
	{"metrics", "The Prometheus endpoint."},
	{"dns", "Sluice's own caching resolver for upstream names."},
	{"sysproxy", "The one-click system proxy."},
	{"inspect", "HTTPS inspection: decrypt the CONNECT tunnels of the hosts listed, with Sluice's own CA, so their requests show in the access log, /stats and `sluice capture --har`. Off by default; trust the CA first (sluice ca install) and list only the hosts you mean to see: apps that pin certificates fail for them. See docs/inspect.md."},
	{"route", "Where requests go: straight to their origin, through an upstream proxy, or nowhere. The rules, upstreams and groups are the [[rule]], [[upstream]] and [[group]] entries below; docs/routing.md has worked examples."},
	{"ui", "The dashboard at http://127.0.0.1:8877/ui (the proxy's port; loopback clients only)."},
	{"alerts", "Desktop notifications when something goes wrong, at most one per kind every 5 minutes; they also show in the tray menu and on the dashboard."},
	{"cache", "The private HTTP response cache (RFC 9111) for plain-HTTP GET and HEAD, with collapsed forwarding; see docs/cache.md. A change rebuilds the cache (the memory tier starts empty; the disk tier is kept)."},
}

// durationMin1 is "more than zero" for a duration's Min.
const durationMin1 = 1

// Keys is the key table, in file order.
var Keys = []Key{
	{Name: KeyListen, Env: "PROXY_LISTEN", Default: `"127.0.0.1:8877"`,
		Doc:   "Address the proxy listens on. Keep it on loopback unless you mean to serve other machines (then [access] must name the networks and users).",
		Check: func(c *Config) string { return checkListen(c.Proxy.Listen) },
		Field: func(c *Config) any { return &c.Proxy.Listen }},
	{Name: "proxy.connect_ports", Default: `[]`, Example: `[443, 8443]`,
		Doc:   "Ports a CONNECT tunnel may reach.",
		Zero:  "An empty list allows every port.",
		Check: func(c *Config) string { return checkPorts(c.Proxy.ConnectPorts) },
		Field: func(c *Config) any { return &c.Proxy.ConnectPorts }},
	{Name: "proxy.socks", Default: `true`,
		Doc:   "Serve SOCKS5 (CONNECT, no-auth or user/password from [access] users) on the same port as HTTP; see docs/socks.md.",
		Field: func(c *Config) any { return &c.Proxy.SOCKS }},
	{Name: "proxy.via", Default: `true`,
		Doc:   "Add a Via header to forwarded requests and responses (RFC 9110 §7.6.3).",
		Field: func(c *Config) any { return &c.Proxy.Via }},
	{Name: "proxy.pool_max_idle_per_host", Env: "PROXY_POOL_SIZE", Default: `64`,
		Doc:       "Idle upstream connections each host:port may keep for reuse, however light its load. Under more concurrent requests the pool keeps more: as many as the host had in use at once within the last pool_idle_timeout, so a burst of 1000 requests dials 1000 connections once, not again at every swing. Idle connections close after pool_idle_timeout.",
		Zero:      "0 disables pooling.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.Proxy.PoolMaxIdlePerHost }},
	{Name: "proxy.pool_idle_timeout", Env: "PROXY_IDLE_TIMEOUT", Default: `"90s"`,
		Doc:       "Close pooled upstream connections idle this long.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.PoolIdleTimeout }},
	{Name: "proxy.connect_timeout", Env: "PROXY_CONNECT_TIMEOUT", Default: `"10s"`,
		Doc:       "Give up dialing an upstream after this long (504).",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.ConnectTimeout }},
	{Name: "proxy.response_header_timeout", Default: `"60s"`,
		Doc:       "Give up waiting for an upstream's response headers after this long (504).",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.ResponseHeaderTimeout }},
	{Name: "proxy.max_header_bytes", Default: `65536`,
		Doc:       "Largest request head (request line and headers) in bytes; larger gets 431.",
		HasBounds: true, Min: 1024, Max: 1 << 20,
		Field: func(c *Config) any { return &c.Proxy.MaxHeaderBytes }},
	{Name: "proxy.max_concurrent", Env: "PROXY_MAX_CONCURRENT", Default: `2048`,
		Doc:       "Most client connections served at once; past it, new ones wait 100 ms for a slot, then get 503.",
		HasBounds: true, Min: 1,
		Field: func(c *Config) any { return &c.Proxy.MaxConcurrent }},
	{Name: "proxy.max_body_bytes", Default: `0`,
		Doc:       "Largest request body in bytes; larger gets 413.",
		Zero:      "0 means no limit.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.Proxy.MaxBodyBytes }},
	{Name: "proxy.read_header_timeout", Default: `"10s"`,
		Doc:       "A client must send its whole request head within this time (408); a new connection's first head, within this time of connecting.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.ReadHeaderTimeout }},
	{Name: "proxy.client_idle_timeout", Default: `"120s"`,
		Doc:       "Close a kept-alive client connection that sends nothing for this long between requests.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.ClientIdleTimeout }},
	{Name: "proxy.tunnel_idle_timeout", Default: `"10m"`,
		Doc:       "Close a CONNECT or WebSocket tunnel when neither side sent a byte for this long (it closes within 1.5x this); a side that stops reading while the other sends counts as idle.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.TunnelIdleTimeout }},
	{Name: "proxy.body_timeout", Env: "PROXY_BODY_TIMEOUT", Default: `"30s"`,
		Doc:       "Longest silence while a body moves: a client that stops sending its request body or stops reading, or an upstream that stops sending its response body or stops taking the request, is cut off after this long (within 1.5x this) and both connections close; before an answer was sent the client gets 408 (it stalled) or 504 (the upstream did), and the access record's error says which side.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.BodyTimeout }},
	{Name: "proxy.shutdown_grace", Default: `"10s"`,
		Doc:       "On quit, let in-flight requests finish for up to this long.",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.Proxy.ShutdownGrace }},

	{Name: "access.allow", Default: `["127.0.0.0/8", "::1/128"]`,
		Doc:   "Client address ranges served, as CIDRs or single addresses; others get 403 (or a closed connection if they do not speak HTTP). To share Sluice on a LAN, listen on a LAN address and name the LAN here, for example [\"127.0.0.0/8\", \"::1/128\", \"192.168.1.0/24\"]; a listen address that is not loopback also needs [access.users].",
		Check: func(c *Config) string { return checkAllow(c.Access.Allow) },
		Field: func(c *Config) any { return &c.Access.Allow }},
	{Name: "access.rate_limit", Default: `0`,
		Doc:   "Requests per second each client address may make (bursts up to the same number); past it, 429.",
		Zero:  "0 means no limit.",
		Check: func(c *Config) string { return checkRate(c.Access.RateLimit) },
		Field: func(c *Config) any { return &c.Access.RateLimit }},
	{Name: "access.users", Example: `alice = "$2a$10$..."`, Secret: true,
		Doc:   "Users who may use Sluice, with bcrypt hashes of their passwords (make one with: sluice access hash-password). When any is set, every request through Sluice needs Proxy-Authorization Basic (http://USER:PASSWORD@HOST:PORT as the proxy URL), or gets 407; with none, no password is asked.",
		Field: func(c *Config) any { return &c.Access.Users }},

	{Name: "log.dir", Default: `""`,
		Doc:   "Log directory.",
		Zero:  `Empty means the OS default (Linux: ~/.local/state/sluice/logs, macOS: ~/Library/Logs/sluice, Windows: %LocalAppData%\sluice\logs).`,
		Field: func(c *Config) any { return &c.Log.Dir }},
	{Name: "log.level", Default: `"info"`,
		Doc: "App log level: debug, info, warn, error.",
		Check: func(c *Config) string {
			return oneOf(strings.ToLower(c.Log.Level), c.Log.Level, "debug", "info", "warn", "error")
		},
		Field: func(c *Config) any { return &c.Log.Level }},
	{Name: "log.format", Default: `"json"`,
		Doc:   "Record format: json (one JSON object per line) or text (key=value pairs, as Go's slog writes them).",
		Check: func(c *Config) string { return oneOf(c.Log.Format, c.Log.Format, "json", "text") },
		Field: func(c *Config) any { return &c.Log.Format }},
	{Name: "log.access_log", Default: `true`,
		Doc:   "Write one access record per request or tunnel.",
		Field: func(c *Config) any { return &c.Log.AccessLog }},
	{Name: "log.log_query", Default: `false`,
		Doc:   "Keep the query string in access records (it may hold secrets).",
		Field: func(c *Config) any { return &c.Log.LogQuery }},
	{Name: "log.max_size_mb", Default: `50`,
		Doc:       "Rotate a log file when it reaches this size.",
		HasBounds: true, Min: 1,
		Field: func(c *Config) any { return &c.Log.MaxSizeMB }},
	{Name: "log.max_backups", Default: `5`,
		Doc:       "Rotated files kept.",
		Zero:      "0 keeps all (subject to max_age_days).",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.Log.MaxBackups }},
	{Name: "log.max_age_days", Default: `14`,
		Doc:       "Delete rotated files older than this.",
		Zero:      "0 keeps them regardless of age.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.Log.MaxAgeDays }},
	{Name: "log.compress", Default: `false`,
		Doc:   "Gzip rotated files.",
		Field: func(c *Config) any { return &c.Log.Compress }},

	{Name: "metrics.enabled", Default: `true`,
		Doc:   "Serve Prometheus metrics at /metrics on the proxy port (loopback clients only).",
		Field: func(c *Config) any { return &c.Metrics.Enabled }},

	{Name: "dns.enabled", Default: `true`,
		Doc:   "Resolve upstream names with Sluice's own caching resolver; false uses the system resolver.",
		Field: func(c *Config) any { return &c.DNS.Enabled }},
	{Name: "dns.servers", Default: `["system"]`,
		Doc:   `Servers to ask, in order: "system" (the OS's servers), "host:port" (plain DNS), "tls://host:853" (DNS over TLS), "https://host/dns-query" (DNS over HTTPS).`,
		Check: func(c *Config) string { return checkDNSServers(c.DNS.Servers) },
		Field: func(c *Config) any { return &c.DNS.Servers }},
	{Name: "dns.min_ttl", Default: `"0s"`,
		Doc:       "Cached answers live for their TTL, raised to at least this.",
		Zero:      "0s keeps answers exactly as long as their TTL says; a TTL of 0 is not cached.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.DNS.MinTTL }},
	{Name: "dns.max_ttl", Default: `"24h"`,
		Doc:       "Cached answers live for their TTL, lowered to at most this; not less than min_ttl.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.DNS.MaxTTL }},
	{Name: "dns.negative_ttl", Default: `"30s"`,
		Doc:       `Upper bound on caching "no such name" and "no address" answers (RFC 2308).`,
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.DNS.NegativeTTL }},
	{Name: "dns.stale_ttl", Default: `"24h"`,
		Doc:       "When every server fails, answer from an expired entry for up to this long after it expired (RFC 8767); Sluice then waits 30s before asking again, and refreshes in the background while it keeps serving the old answer.",
		Zero:      "0s turns serving stale answers off.",
		HasBounds: true, Min: 0,
		Field: func(c *Config) any { return &c.DNS.StaleTTL }},
	{Name: "dns.max_entries", Default: `10000`,
		Doc:       "Most names held in the cache; the least recently used go first.",
		HasBounds: true, Min: 1,
		Field: func(c *Config) any { return &c.DNS.MaxEntries }},
	{Name: "dns.prefetch", Default: `true`,
		Doc:   "Refresh names looked up at least twice when they are in the last tenth of their TTL, so popular names never wait for DNS.",
		Field: func(c *Config) any { return &c.DNS.Prefetch }},
	{Name: "dns.timeout", Default: `"2s"`,
		Doc:       "Timeout for each query to a server; a query that times out on every server is tried once more (a UDP packet may have been lost).",
		HasBounds: true, Min: durationMin1,
		Field: func(c *Config) any { return &c.DNS.Timeout }},

	{Name: "sysproxy.mode", Default: `"manual"`,
		Doc:   "How the system proxy points at Sluice: manual (host and port, with sysproxy.bypass) or pac (the PAC URL http://127.0.0.1:PORT/proxy.pac, so destinations the rules send direct skip Sluice); see docs/system-proxy.md.",
		Check: func(c *Config) string { return oneOf(c.SysProxy.Mode, c.SysProxy.Mode, "manual", "pac") },
		Field: func(c *Config) any { return &c.SysProxy.Mode }},
	{Name: "sysproxy.bypass", Default: `["localhost", "127.0.0.0/8", "::1", "*.local", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]`,
		Doc:   "Hosts that bypass the proxy when Sluice is the system proxy.",
		Field: func(c *Config) any { return &c.SysProxy.Bypass }},
	{Name: "sysproxy.guard", Default: `false`,
		Doc:   "Re-apply Sluice's setting if another program switches it away while on.",
		Field: func(c *Config) any { return &c.SysProxy.Guard }},
	{Name: "sysproxy.enable_on_start", Default: `false`,
		Doc:   "Switch the system proxy on when Sluice starts.",
		Field: func(c *Config) any { return &c.SysProxy.EnableOnStart }},

	{Name: "inspect.enabled", Default: `false`,
		Doc:   "Decrypt the tunnels of the hosts below. The CA is made in the state dir the first time this is true; nothing of inspection runs while it is false.",
		Field: func(c *Config) any { return &c.Inspect.Enabled }},
	{Name: "inspect.hosts", Default: `[]`, Example: `["api.example.com", "*.example.org"]`,
		Doc:   "CONNECT hosts to decrypt: a name or address, or *.domain for every name under domain (not the domain itself). Other hosts stay blind tunnels; clients on other machines always get blind tunnels.",
		Zero:  "An empty list decrypts nothing.",
		Check: func(c *Config) string { return checkPatterns(c.Inspect.Hosts) },
		Field: func(c *Config) any { return &c.Inspect.Hosts }},
	{Name: "inspect.exclude", Default: `[]`, Example: `["pinned.example.org"]`,
		Doc:   "Hosts never decrypted, even when hosts matches them (same patterns).",
		Check: func(c *Config) string { return checkPatterns(c.Inspect.Exclude) },
		Field: func(c *Config) any { return &c.Inspect.Exclude }},
	{Name: "inspect.http2", Env: "PROXY_ENABLE_HTTP2", Default: `true`,
		Doc:   "Offer HTTP/2 on both legs of an inspected exchange: to the client (ALPN h2) and to the origin; false speaks HTTP/1.1 on both.",
		Field: func(c *Config) any { return &c.Inspect.HTTP2 }},
	{Name: "inspect.verify_upstream", Default: `true`,
		Doc:   "Verify origin certificates against the system's roots; one that fails gets the client a 502 saying why. false accepts any origin certificate: only for test servers you control.",
		Field: func(c *Config) any { return &c.Inspect.VerifyUpstream }},
	{Name: "inspect.capture_body_max", Default: `1048576`,
		Doc:       "Bytes of each request and response body a HAR capture keeps; longer bodies are cut there and marked in the entry's comment.",
		Zero:      "0 keeps no bodies.",
		HasBounds: true, Min: 0, Max: 64 << 20,
		Field: func(c *Config) any { return &c.Inspect.CaptureBodyMax }},
	{Name: "inspect.http2_conn_window", Default: `8388608`,
		Doc:       "HTTP/2 receive window per connection in bytes, on both legs: how much a peer may send before Sluice reads it.",
		HasBounds: true, Min: 65535, Max: 1 << 30,
		Field: func(c *Config) any { return &c.Inspect.HTTP2ConnWindow }},
	{Name: "inspect.http2_stream_window", Default: `4194304`,
		Doc:       "HTTP/2 receive window per stream (request) in bytes, on both legs; with the connection window it bounds the memory a slow reader pins.",
		HasBounds: true, Min: 16384, Max: 1 << 30,
		Field: func(c *Config) any { return &c.Inspect.HTTP2StreamWindow }},
	{Name: "route.mode", Default: `"rules"`,
		Doc:   "rules: the first [[rule]] that matches decides, else default; global: every request goes through global; direct: every request goes straight to its origin. The tray's Mode menu switches it while Sluice runs, and the choice is kept (in the state dir) until this key is edited.",
		Field: func(c *Config) any { return &c.Route.Mode }},
	{Name: "route.global", Env: "PROXY_UPSTREAM", Default: `""`, Example: `"work"`,
		Doc:        "The [[upstream]] or [[group]] every request goes through in global mode. PROXY_UPSTREAM, a proxy URL, adds that URL as an upstream named PROXY_UPSTREAM and sets global mode through it.",
		Zero:       "Empty: no global mode.",
		FromString: upstreamFromEnv,
		Field:      func(c *Config) any { return &c.Route.Global }},
	{Name: "route.default", Default: `"direct"`,
		Doc:   "What happens to a request no rule matches: direct, block (403), or an upstream or group name.",
		Field: func(c *Config) any { return &c.Route.Default }},

	{Name: "ui.enabled", Default: `true`,
		Doc:   "Serve the dashboard at /ui on the proxy port (loopback clients only): live charts, the recent requests and their headers, the DNS cache and the upstream pool. Off, /ui answers 404.",
		Field: func(c *Config) any { return &c.UI.Enabled }},
	{Name: "ui.history", Default: `1_000`,
		Doc:       "Requests the dashboard's traffic table keeps (about 2.5 KiB each, their headers included). Requests are kept only while a dashboard page is open.",
		HasBounds: true, Min: 10, Max: 100000,
		Field: func(c *Config) any { return &c.UI.History }},

	{Name: "alerts.error_rate", Default: `0.05`,
		Doc:   "Notify when more than this share of requests failed over the last minute (0.05 is 5%; a minute with fewer than 20 requests never alerts).",
		Zero:  "0 turns this alert off.",
		Check: func(c *Config) string { return checkShare(c.Alerts.ErrorRate) },
		Field: func(c *Config) any { return &c.Alerts.ErrorRate }},
	{Name: "alerts.upstream_down", Default: `true`,
		Doc:   "Notify when an upstream proxy that [route] uses goes down.",
		Field: func(c *Config) any { return &c.Alerts.UpstreamDown }},

	{Name: "cache.enabled", Default: `false`,
		Doc:   "Keep cacheable responses and answer repeated requests from them; concurrent misses for one URL share one upstream fetch.",
		Field: func(c *Config) any { return &c.Cache.Enabled }},
	{Name: "cache.memory_mb", Default: `64`,
		Doc:       "Memory for the hottest objects' bodies; an object over an eighth of it lives on disk only.",
		Zero:      "0 keeps no body in memory: every hit is read from disk.",
		HasBounds: true, Min: 0, Max: 1 << 20,
		Field: func(c *Config) any { return &c.Cache.MemoryMB }},
	{Name: "cache.disk_dir", Default: `""`, Example: `"/var/cache/sluice"`,
		Doc:   "Directory of the disk tier.",
		Zero:  `"" means the OS cache dir: $XDG_CACHE_HOME/sluice/http (~/.cache/sluice/http) on Linux, ~/Library/Caches/sluice/http on macOS, %LocalAppData%\sluice\http on Windows.`,
		Field: func(c *Config) any { return &c.Cache.DiskDir }},
	{Name: "cache.disk_mb", Default: `1024`,
		Doc:       "Disk for stored objects; the least recently used go first. A full disk stops storing for a minute, never a request.",
		Zero:      "0 keeps no disk tier (memory only).",
		HasBounds: true, Min: 0, Max: 1 << 30,
		Field: func(c *Config) any { return &c.Cache.DiskMB }},
	{Name: "cache.max_object_mb", Default: `256`,
		Doc:       "Largest body stored; a larger one is relayed and not stored.",
		HasBounds: true, Min: 1, Max: 1 << 20,
		Field: func(c *Config) any { return &c.Cache.MaxObjectMB }},
}

// ArrayTables are the [[name]] entries, in file order after the sections.
var ArrayTables = []ArrayTable{
	{Name: "upstream", Doc: "An upstream proxy Sluice can send requests through. Rules, groups and route.global name it.",
		Example: "name = \"corp\"\nurl = \"http://user:pass@proxy.corp.example:3128\"",
		Field:   func(c *Config) any { return &c.Upstreams },
		Keys: []Key{
			{Name: "upstream.name", Example: `"corp"`,
				Doc:  "Its name, unique among upstreams and groups; not direct or block.",
				Elem: func(c *Config, i int) any { return &c.Upstreams[i].Name }},
			{Name: "upstream.url", Example: `"http://user:pass@proxy.corp.example:3128"`, Secret: true,
				Doc:  "scheme://[user:password@]host:port; the scheme is http, https (TLS to the proxy), socks5 (Sluice resolves names) or socks5h (the proxy does). Credentials go to the proxy as Basic Proxy-Authorization (http, https) or RFC 1929 (SOCKS5).",
				Elem: func(c *Config, i int) any { return &c.Upstreams[i].URL }},
		}},
	{Name: "group", Doc: "A set of upstreams used as one: rules and route.global name the group, and its strategy picks a member per request among those its health checks find up.",
		Example: "name = \"work\"\nstrategy = \"failover\"\nmembers = [\"corp\", \"backup\"]",
		Field:   func(c *Config) any { return &c.Groups },
		Keys: []Key{
			{Name: "group.name", Example: `"work"`,
				Doc:  "Its name, unique among upstreams and groups; not direct or block.",
				Elem: func(c *Config, i int) any { return &c.Groups[i].Name }},
			{Name: "group.strategy", Example: `"failover"`,
				Doc:  "failover: the first member that is up; round-robin: each member in turn; least-latency: the member whose last check was fastest; select: the member picked in the tray's menu (kept in the state dir; used even while its checks fail); consistent-hash: one member per destination host, so a site keeps one exit, and only the hosts of a member that goes down move.",
				Elem: func(c *Config, i int) any { return &c.Groups[i].Strategy }},
			{Name: "group.members", Example: `["corp", "backup"]`,
				Doc:  "Upstream names, in order. When every member is down, requests get 502 naming the group.",
				Elem: func(c *Config, i int) any { return &c.Groups[i].Members }},
			{Name: "group.check_url", Default: `"http://www.gstatic.com/generate_204"`,
				Doc:  "Fetched through each member to check it: an answer under 500 other than 407 means up. An upstream in several groups is checked with its first group's check_url and check_interval. A request through a member that fails marks it down at once and has it checked again a second later.",
				Elem: func(c *Config, i int) any { return &c.Groups[i].CheckURL }},
			{Name: "group.check_interval", Default: `"30s"`,
				Doc:       "Time between two checks of a member.",
				HasBounds: true, Min: durationMin1,
				Elem: func(c *Config, i int) any { return &c.Groups[i].CheckInterval }},
		}},
	{Name: "rule", Doc: "A routing rule. In rules mode the first rule that matches a request decides where it goes. A name rule never makes Sluice look the name up: cidr rules match only destinations written as addresses.",
		Example: "match = [\"domain-suffix:corp.example\", \"cidr:10.0.0.0/8\"]\naction = \"direct\"",
		Field:   func(c *Config) any { return &c.Rules },
		Keys: []Key{
			{Name: "rule.match", Example: `["domain-suffix:corp.example", "domain:intranet", "domain-keyword:ads", "cidr:10.0.0.0/8", "port:25"]`,
				Doc:  "The rule matches when any entry does. domain-suffix:NAME matches NAME and every name under it; domain:NAME only NAME; domain-keyword:TEXT any name holding TEXT; cidr:RANGE a destination address in RANGE (IPv4 or IPv6); port:N the destination port. Names match without regard to case. process: is not supported (the proxy does not see which program connects).",
				Elem: func(c *Config, i int) any { return &c.Rules[i].Match }},
			{Name: "rule.action", Example: `"direct"`,
				Doc:  "direct, block (HTTP 403 and a refused CONNECT, naming the rule), or an upstream or group name.",
				Elem: func(c *Config, i int) any { return &c.Rules[i].Action }},
		}},
}

// upstreamFromEnv is route.global's FromString: PROXY_UPSTREAM is a proxy
// URL, made an upstream of its own and the target of global mode.
func upstreamFromEnv(c *Config, url, source string) string {
	const name = "PROXY_UPSTREAM"
	if msg := route.CheckUpstreamURL(url); msg != "" {
		return msg
	}
	c.Upstreams = append(c.Upstreams, UpstreamEntry{Name: name, URL: url})
	c.Route.Global, c.Route.Mode = name, "global"
	c.setSource("route.mode", source)
	return ""
}

// crossRules are checks that involve more than one key. Each names the
// key its error is reported at.
var crossRules = []struct {
	key   string
	check func(c *Config) string
}{
	{"dns.max_ttl", func(c *Config) string {
		if c.DNS.MaxTTL.Duration < c.DNS.MinTTL.Duration {
			return c.DNS.MaxTTL.String() + " is less than dns.min_ttl (" + c.DNS.MinTTL.String() + ")"
		}
		return ""
	}},
	{KeyListen, checkOpenProxy},
	{"cache.memory_mb", func(c *Config) string {
		if c.Cache.Enabled && c.Cache.MemoryMB == 0 && c.Cache.DiskMB == 0 {
			return "0 with cache.disk_mb 0 leaves the enabled cache nowhere to store; give either some room, or set cache.enabled = false"
		}
		return ""
	}},
}

// lookupKey returns the table entry for a dotted name.
func lookupKey(name string) (*Key, bool) {
	for i := range Keys {
		if Keys[i].Name == name {
			return &Keys[i], true
		}
	}
	return nil, false
}

func checkListen(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return strconv.Quote(listen) + ` is not host:port (for example "127.0.0.1:8877")`
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port " + strconv.Quote(port) + " is not a number from 0 to 65535"
	}
	return ""
}

func checkPorts(ports []int) string {
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return "port " + strconv.Itoa(p) + " is not from 1 to 65535 (an empty list allows every port)"
		}
	}
	return ""
}

func checkAllow(allow []Prefix) string {
	if len(allow) == 0 {
		return `the list is empty, so no client could use Sluice (the default is loopback only: ["127.0.0.0/8", "::1/128"])`
	}
	return ""
}

func checkRate(r float64) string {
	if math.IsNaN(r) || r < 0 || r > proxy.MaxRateLimit {
		return strconv.FormatFloat(r, 'g', -1, 64) + " is not from 0 (no limit) to " +
			strconv.FormatFloat(proxy.MaxRateLimit, 'g', -1, 64) + " requests a second"
	}
	return ""
}

func checkDNSServers(servers []string) string {
	if len(servers) == 0 {
		return `the list is empty (use ["system"] for the system's servers)`
	}
	for _, s := range servers {
		if err := resolver.ValidateServer(s); err != nil {
			return err.Error()
		}
	}
	return ""
}

func checkPatterns(ps []string) string {
	for _, p := range ps {
		if err := inspect.CheckPattern(p); err != nil {
			return err.Error()
		}
	}
	return ""
}

func checkShare(r float64) string {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return strconv.FormatFloat(r, 'g', -1, 64) + " is not a share from 0 (off) to 1 (0.05 is 5%)"
	}
	return ""
}

// oneOf checks v against the allowed words; shown is the value as written.
func oneOf(v, shown string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return strconv.Quote(shown) + " is not one of " + strings.Join(allowed, ", ")
}

// checkOpenProxy refuses a listen address other machines can reach
// unless [access] both allows a non-loopback range and sets users, or
// anyone on the network could relay through Sluice (this is how such
// tools end up abused).
func checkOpenProxy(c *Config) string {
	if checkListen(c.Proxy.Listen) != "" || listenIsLoopback(c.Proxy.Listen) {
		return ""
	}
	var missing []string
	if !c.allowsNonLoopback() {
		missing = append(missing, `name the networks that may use it in [access] allow (for example ["192.168.1.0/24"])`)
	}
	if len(c.Access.Users) == 0 {
		missing = append(missing, "add users with password hashes under [access.users] (make a hash with: sluice access hash-password)")
	}
	if len(missing) == 0 {
		return ""
	}
	return strconv.Quote(c.Proxy.Listen) + " is not a loopback address, so other machines can reach Sluice, and it would be an open proxy: " +
		strings.Join(missing, ", and ") + "; or listen on 127.0.0.1"
}
