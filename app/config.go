package app

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sluiceproxy/sluice/assets"
	"github.com/sluiceproxy/sluice/proxy"
)

// Config is the whole of config.toml. Every field has a default (see
// DefaultConfig and assets/config.toml), so a missing key is never an error.
type Config struct {
	Proxy    ProxyConfig    `toml:"proxy"`
	Log      LogConfig      `toml:"log"`
	Metrics  MetricsConfig  `toml:"metrics"`
	DNS      DNSConfig      `toml:"dns"`
	SysProxy SysProxyConfig `toml:"sysproxy"`
	Access   AccessConfig   `toml:"access"`

	// path is the file the config came from ("" for the embedded default).
	path string
	// sources names where each overridden key's value came from
	// ("env PROXY_LISTEN", "flag --listen"), for `config check`.
	sources map[string]string
}

// ProxyConfig is the [proxy] section.
type ProxyConfig struct {
	Listen                string   `toml:"listen"`
	ConnectPorts          []int    `toml:"connect_ports"`
	Via                   bool     `toml:"via"`
	PoolMaxIdlePerHost    int      `toml:"pool_max_idle_per_host"`
	PoolIdleTimeout       Duration `toml:"pool_idle_timeout"`
	ConnectTimeout        Duration `toml:"connect_timeout"`
	ResponseHeaderTimeout Duration `toml:"response_header_timeout"`
	MaxHeaderBytes        int      `toml:"max_header_bytes"`
	MaxConcurrent         int      `toml:"max_concurrent"`
	MaxBodyBytes          int64    `toml:"max_body_bytes"`
	ReadHeaderTimeout     Duration `toml:"read_header_timeout"`
	ClientIdleTimeout     Duration `toml:"client_idle_timeout"`
	TunnelIdleTimeout     Duration `toml:"tunnel_idle_timeout"`
	ShutdownGrace         Duration `toml:"shutdown_grace"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Dir        string `toml:"dir"`
	Level      string `toml:"level"`
	Format     string `toml:"format"`
	AccessLog  bool   `toml:"access_log"`
	LogQuery   bool   `toml:"log_query"`
	MaxSizeMB  int    `toml:"max_size_mb"`
	MaxBackups int    `toml:"max_backups"`
	MaxAgeDays int    `toml:"max_age_days"`
	Compress   bool   `toml:"compress"`
}

// MetricsConfig is the [metrics] section.
type MetricsConfig struct {
	Enabled bool `toml:"enabled"`
}

// DNSConfig is the [dns] section.
type DNSConfig struct {
	Enabled     bool     `toml:"enabled"`
	Servers     []string `toml:"servers"`
	MinTTL      Duration `toml:"min_ttl"`
	MaxTTL      Duration `toml:"max_ttl"`
	NegativeTTL Duration `toml:"negative_ttl"`
	StaleTTL    Duration `toml:"stale_ttl"`
	MaxEntries  int      `toml:"max_entries"`
	Prefetch    bool     `toml:"prefetch"`
	Timeout     Duration `toml:"timeout"`
}

// SysProxyConfig is the [sysproxy] section.
type SysProxyConfig struct {
	Bypass        []string `toml:"bypass"`
	Guard         bool     `toml:"guard"`
	EnableOnStart bool     `toml:"enable_on_start"`
}

// AccessConfig is the [access] section: who may use the proxy.
type AccessConfig struct {
	Allow []Prefix `toml:"allow"`
	// Users maps user names to bcrypt hashes ([access.users]).
	Users     map[string]string `toml:"users"`
	RateLimit float64           `toml:"rate_limit"`
}

// Prefix is an address range written as a string in TOML: a CIDR
// ("192.168.1.0/24") or a single address ("192.168.1.7").
type Prefix struct{ netip.Prefix }

// UnmarshalText parses a CIDR or a single address.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := string(b)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		p.Prefix = pfx.Masked()
		return nil
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		p.Prefix = netip.PrefixFrom(ip, ip.BitLen())
		return nil
	}
	return fmt.Errorf("%q is not an address range (write it like \"192.168.1.0/24\", \"fd00::/8\" or \"192.168.1.7\")", b)
}

// MarshalText writes the range the way UnmarshalText reads it.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Duration is a time.Duration written as a string in TOML ("90s", "1m30s").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\", \"5m\" or \"1h\")", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Path returns the file the config was loaded from.
func (c *Config) Path() string { return c.path }

// DefaultConfig returns the embedded default config.toml, decoded.
func DefaultConfig() *Config {
	c, err := parseConfig(assets.DefaultConfig, "")
	if err != nil {
		// The embedded file is tested; failing here is a build defect.
		panic(fmt.Sprintf("embedded default config: %v", err))
	}
	return c
}

// ConfigError is a problem in config.toml, located by key and line.
type ConfigError struct {
	// File is the config file; "" for the embedded default.
	File string
	// Key is the dotted key ("proxy.listen"); "" when the file does not parse.
	Key string
	// Line is the 1-based line of the key; 0 when unknown (env or flag).
	Line int
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads path, creating it with the commented defaults if it
// does not exist, then applies environment overrides and validates. The
// error, if any, is a *ConfigError (or an I/O error).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := InitConfig(path); err != nil {
			return nil, err
		}
		data = assets.DefaultConfig
	} else if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := parseConfig(data, path)
	if err != nil {
		return nil, err
	}
	if err := c.applyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	if err := c.validate(data); err != nil {
		return nil, err
	}
	return c, nil
}

// InitConfig writes the commented default config to path, creating its
// directory. It does not overwrite an existing file.
func InitConfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create config: %w", err)
	}
	if _, err := f.Write(assets.DefaultConfig); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return f.Close()
}

// parseConfig decodes data over the defaults. Unknown keys are errors, so
// a typo never silently falls back to a default.
func parseConfig(data []byte, path string) (*Config, error) {
	c := &Config{path: path}
	if path != "" {
		*c = *DefaultConfig()
		c.path = path
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, tomlError(path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		key := und[0].String()
		return nil, &ConfigError{File: path, Key: key, Line: keyLine(data, key),
			Msg: "unknown key (see the commented defaults: sluice config init --config NEW_FILE)"}
	}
	return c, nil
}

// tomlError turns a decode error into a ConfigError with key and line.
func tomlError(path string, err error) error {
	ce := &ConfigError{File: path, Msg: err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		ce.Line = pe.Position.Line
		ce.Msg = pe.Message
		ce.Key = pe.LastKey
		return ce
	}
	// Type errors read: toml: line 4 (last key "proxy.max"): message
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		n, after, _ := strings.Cut(rest, " ")
		ce.Line, _ = strconv.Atoi(n)
		if k, m, ok := strings.Cut(after, "): "); ok {
			ce.Key = strings.Trim(strings.TrimPrefix(k, "(last key "), `"`)
			ce.Msg = m
		}
	}
	return ce
}

// keyLine finds the line of a dotted key ("proxy.listen") in a TOML file,
// tracking [section] headers. It returns 0 if the key is not written.
func keyLine(data []byte, key string) int {
	section, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		section, name = key[:i], key[i+1:]
	}
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			cur = strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t")
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if ok && cur == section && strings.Trim(strings.TrimSpace(k), `"'`) == name {
			return i + 1
		}
	}
	return 0
}

// envOverrides maps environment variables to the keys they override.
var envOverrides = []struct{ env, key string }{
	{"PROXY_LISTEN", "proxy.listen"},
	{"PROXY_POOL_SIZE", "proxy.pool_max_idle_per_host"},
	{"PROXY_IDLE_TIMEOUT", "proxy.pool_idle_timeout"},
	{"PROXY_MAX_CONCURRENT", "proxy.max_concurrent"},
	{"PROXY_CONNECT_TIMEOUT", "proxy.connect_timeout"},
}

// applyEnv applies the PROXY_* environment overrides (env beats file).
func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	for _, o := range envOverrides {
		v, ok := lookup(o.env)
		if !ok || v == "" {
			continue
		}
		if err := c.Set(o.key, v, "env "+o.env); err != nil {
			return err
		}
	}
	return nil
}

// Set overrides one key from a string (a flag or an environment
// variable), recording source for `config check`.
func (c *Config) Set(key, value, source string) error {
	bad := func(msg string) error {
		return &ConfigError{Key: key, Msg: fmt.Sprintf("%s=%q: %s", source, value, msg)}
	}
	atoi := func(dst *int) error {
		n, err := strconv.Atoi(value)
		if err != nil {
			return bad("not a whole number")
		}
		*dst = n
		return nil
	}
	dur := func(dst *Duration) error {
		if err := dst.UnmarshalText([]byte(value)); err != nil {
			return bad(err.Error())
		}
		return nil
	}
	var err error
	switch key {
	case "proxy.listen":
		c.Proxy.Listen = value
	case "proxy.pool_max_idle_per_host":
		err = atoi(&c.Proxy.PoolMaxIdlePerHost)
	case "proxy.pool_idle_timeout":
		err = dur(&c.Proxy.PoolIdleTimeout)
	case "proxy.max_concurrent":
		err = atoi(&c.Proxy.MaxConcurrent)
	case "proxy.connect_timeout":
		err = dur(&c.Proxy.ConnectTimeout)
	default:
		return fmt.Errorf("config key %s cannot be overridden", key)
	}
	if err != nil {
		return err
	}
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[key] = source
	return nil
}

// Validate checks every value against its allowed range. Errors name the
// key and, when the value came from the file, its line.
func (c *Config) Validate() error {
	var data []byte
	if c.path != "" {
		data, _ = os.ReadFile(c.path)
	}
	return c.validate(data)
}

func (c *Config) validate(data []byte) error {
	fail := func(key, format string, args ...any) error {
		e := &ConfigError{File: c.path, Key: key, Msg: fmt.Sprintf(format, args...)}
		if src, ok := c.sources[key]; ok {
			e.File, e.Msg = "", e.Msg+" (from "+src+")"
		} else {
			e.Line = keyLine(data, key)
		}
		return e
	}
	p := &c.Proxy
	if _, port, err := net.SplitHostPort(p.Listen); err != nil {
		return fail("proxy.listen", "%q is not host:port (for example \"127.0.0.1:8877\")", p.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fail("proxy.listen", "port %q is not a number from 0 to 65535", port)
	}
	for _, port := range p.ConnectPorts {
		if port < 1 || port > 65535 {
			return fail("proxy.connect_ports", "port %d is not from 1 to 65535 (an empty list allows every port)", port)
		}
	}
	positive := []struct {
		key string
		n   int64
		min int64
	}{
		{"proxy.pool_max_idle_per_host", int64(p.PoolMaxIdlePerHost), 0},
		{"proxy.max_header_bytes", int64(p.MaxHeaderBytes), 1024},
		{"proxy.max_concurrent", int64(p.MaxConcurrent), 1},
		{"proxy.max_body_bytes", p.MaxBodyBytes, 0},
		{"log.max_size_mb", int64(c.Log.MaxSizeMB), 1},
		{"log.max_backups", int64(c.Log.MaxBackups), 0},
		{"log.max_age_days", int64(c.Log.MaxAgeDays), 0},
		{"dns.max_entries", int64(c.DNS.MaxEntries), 1},
	}
	for _, v := range positive {
		if v.n < v.min {
			return fail(v.key, "%d is too small (the least allowed is %d)", v.n, v.min)
		}
	}
	if p.MaxHeaderBytes > 1<<20 {
		return fail("proxy.max_header_bytes", "%d is over the largest allowed, 1048576", p.MaxHeaderBytes)
	}
	durations := []struct {
		key string
		d   Duration
	}{
		{"proxy.pool_idle_timeout", p.PoolIdleTimeout},
		{"proxy.connect_timeout", p.ConnectTimeout},
		{"proxy.response_header_timeout", p.ResponseHeaderTimeout},
		{"proxy.read_header_timeout", p.ReadHeaderTimeout},
		{"proxy.client_idle_timeout", p.ClientIdleTimeout},
		{"proxy.tunnel_idle_timeout", p.TunnelIdleTimeout},
		{"proxy.shutdown_grace", p.ShutdownGrace},
		{"dns.timeout", c.DNS.Timeout},
	}
	for _, v := range durations {
		if v.d.Duration <= 0 {
			return fail(v.key, "%s must be more than zero", v.d)
		}
	}
	for _, v := range []struct {
		key string
		d   Duration
	}{{"dns.min_ttl", c.DNS.MinTTL}, {"dns.max_ttl", c.DNS.MaxTTL}, {"dns.negative_ttl", c.DNS.NegativeTTL}, {"dns.stale_ttl", c.DNS.StaleTTL}} {
		if v.d.Duration < 0 {
			return fail(v.key, "%s must not be negative", v.d)
		}
	}
	if c.DNS.MaxTTL.Duration < c.DNS.MinTTL.Duration {
		return fail("dns.max_ttl", "%s is less than dns.min_ttl (%s)", c.DNS.MaxTTL, c.DNS.MinTTL)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fail("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fail("log.format", "%q is not one of json, text", c.Log.Format)
	}
	if len(c.DNS.Servers) == 0 {
		return fail("dns.servers", "the list is empty (use [\"system\"] for the system's servers)")
	}
	for _, s := range c.DNS.Servers {
		if err := validateDNSServer(s); err != nil {
			return fail("dns.servers", "%v", err)
		}
	}
	return c.validateAccess(fail)
}

// validateAccess checks [access], and that a listen address other
// machines can reach is not an open proxy: it needs both a non-loopback
// allow range and users, or anyone on the network could relay through
// Sluice (this is how such tools end up abused).
func (c *Config) validateAccess(fail func(key, format string, args ...any) error) error {
	a := &c.Access
	if len(a.Allow) == 0 {
		return fail("access.allow", "the list is empty, so no client could use Sluice (the default is loopback only: [\"127.0.0.0/8\", \"::1/128\"])")
	}
	for name, hash := range a.Users {
		key := "access.users." + name
		if name == "" || strings.ContainsAny(name, ":\x00\r\n") {
			return fail(key, "a user name must not be empty or hold a colon or control characters")
		}
		if err := proxy.CheckPasswordHash(hash); err != nil {
			return fail(key, "%v", err)
		}
	}
	if r := a.RateLimit; math.IsNaN(r) || r < 0 || r > proxy.MaxRateLimit {
		return fail("access.rate_limit", "%v is not from 0 (no limit) to %v requests a second", r, float64(proxy.MaxRateLimit))
	}
	if listenIsLoopback(c.Proxy.Listen) {
		return nil
	}
	var missing []string
	if !c.allowsNonLoopback() {
		missing = append(missing, "name the networks that may use it in [access] allow (for example [\"192.168.1.0/24\"])")
	}
	if len(a.Users) == 0 {
		missing = append(missing, "add users with password hashes under [access.users] (make a hash with: sluice access hash-password)")
	}
	if len(missing) > 0 {
		return fail("proxy.listen", "%q is not a loopback address, so other machines can reach Sluice, and it would be an open proxy: %s; or listen on 127.0.0.1",
			c.Proxy.Listen, strings.Join(missing, ", and "))
	}
	return nil
}

// listenIsLoopback reports whether a listen address ("host:port") is
// reachable from this machine only. An empty host is every interface;
// names other than localhost may resolve to anything.
func listenIsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// allowsNonLoopback reports whether [access] allow names any client
// outside loopback.
func (c *Config) allowsNonLoopback() bool {
	for _, p := range c.Access.Allow {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			a, bits = a.Unmap(), bits-96
		}
		// Ranges are masked, so an IPv6 one is loopback only as ::1/128.
		if !a.IsLoopback() || a.Is4() && bits < 8 {
			return true
		}
	}
	return false
}
