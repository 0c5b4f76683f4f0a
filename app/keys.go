package app

import (
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/resolver"
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
	{Name: "proxy.via", Default: `true`,
		Doc:   "Add a Via header to forwarded requests and responses (RFC 9110 §7.6.3).",
		Field: func(c *Config) any { return &c.Proxy.Via }},
	{Name: "proxy.pool_max_idle_per_host", Env: "PROXY_POOL_SIZE", Default: `64`,
		Doc:       "Idle upstream connections kept per host:port for reuse. A burst may park up to 4x as many for under a second.",
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

	{Name: "sysproxy.bypass", Default: `["localhost", "127.0.0.0/8", "::1", "*.local", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]`,
		Doc:   "Hosts that bypass the proxy when Sluice is the system proxy.",
		Field: func(c *Config) any { return &c.SysProxy.Bypass }},
	{Name: "sysproxy.guard", Default: `false`,
		Doc:   "Re-apply Sluice's setting if another program switches it away while on.",
		Field: func(c *Config) any { return &c.SysProxy.Guard }},
	{Name: "sysproxy.enable_on_start", Default: `false`,
		Doc:   "Switch the system proxy on when Sluice starts.",
		Field: func(c *Config) any { return &c.SysProxy.EnableOnStart }},

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
