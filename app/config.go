package app

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sluiceproxy/sluice/assets"
	"github.com/sluiceproxy/sluice/proxy"
)

// Config is the whole of config.toml. Every field has a default (see
// DefaultConfig and assets/config.toml), so a missing key is never an error.
type Config struct {
	Proxy    ProxyConfig
	Log      LogConfig
	Metrics  MetricsConfig
	DNS      DNSConfig
	SysProxy SysProxyConfig
	Access   AccessConfig
	Inspect  InspectConfig
	Route    RouteConfig
	UI       UIConfig
	Alerts   AlertsConfig
	Cache    CacheConfig

	// Upstreams, Groups and Rules are the [[upstream]], [[group]] and
	// [[rule]] entries, in file order.
	Upstreams []UpstreamEntry
	Groups    []GroupEntry
	Rules     []RuleEntry

	// path is the file the config came from ("" for the embedded default).
	path string
	// sources names where each overridden key's value came from
	// ("env PROXY_LISTEN", "flag --listen"), for `config check`.
	sources map[string]string
}

// ProxyConfig is the [proxy] section.
type ProxyConfig struct {
	Listen                string
	ConnectPorts          []int
	SOCKS                 bool
	Via                   bool
	PoolMaxIdlePerHost    int
	PoolIdleTimeout       Duration
	ConnectTimeout        Duration
	ResponseHeaderTimeout Duration
	MaxHeaderBytes        int
	MaxConcurrent         int
	MaxBodyBytes          int64
	ReadHeaderTimeout     Duration
	ClientIdleTimeout     Duration
	TunnelIdleTimeout     Duration
	BodyTimeout           Duration
	ShutdownGrace         Duration
}

// LogConfig is the [log] section.
type LogConfig struct {
	Dir        string
	Level      string
	Format     string
	AccessLog  bool
	LogQuery   bool
	MaxSizeMB  int
	MaxBackups int
	MaxAgeDays int
	Compress   bool
}

// MetricsConfig is the [metrics] section.
type MetricsConfig struct {
	Enabled bool
}

// UIConfig is the [ui] section: the dashboard.
type UIConfig struct {
	Enabled bool
	History int
}

// AlertsConfig is the [alerts] section.
type AlertsConfig struct {
	ErrorRate    float64
	UpstreamDown bool
}

// DNSConfig is the [dns] section.
type DNSConfig struct {
	Enabled     bool
	Servers     []string
	MinTTL      Duration
	MaxTTL      Duration
	NegativeTTL Duration
	StaleTTL    Duration
	MaxEntries  int
	Prefetch    bool
	Timeout     Duration
}

// CacheConfig is the [cache] section: the response cache.
type CacheConfig struct {
	Enabled     bool
	MemoryMB    int
	DiskDir     string
	DiskMB      int
	MaxObjectMB int
}

// SysProxyConfig is the [sysproxy] section.
type SysProxyConfig struct {
	Mode          string
	Bypass        []string
	Guard         bool
	EnableOnStart bool
}

// AccessConfig is the [access] section: who may use the proxy.
type AccessConfig struct {
	Allow []Prefix
	// Users maps user names to bcrypt hashes ([access.users]).
	Users     map[string]string
	RateLimit float64
}

// InspectConfig is the [inspect] section: HTTPS inspection.
type InspectConfig struct {
	Enabled           bool
	Hosts             []string
	Exclude           []string
	HTTP2             bool
	VerifyUpstream    bool
	CaptureBodyMax    int64
	HTTP2ConnWindow   int
	HTTP2StreamWindow int
}

// RouteConfig is the [route] section.
type RouteConfig struct {
	Mode    string
	Global  string
	Default string
}

// UpstreamEntry is one [[upstream]].
type UpstreamEntry struct {
	Name string
	URL  string
}

// GroupEntry is one [[group]].
type GroupEntry struct {
	Name          string
	Strategy      string
	Members       []string
	CheckURL      string
	CheckInterval Duration
}

// RuleEntry is one [[rule]].
type RuleEntry struct {
	Match  []string
	Action string
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
// It keeps the text it was written as, so `config check` and reload's
// change log show "90s" rather than "1m30s".
type Duration struct {
	time.Duration
	text string
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\", \"5m\" or \"1h\")", b)
	}
	d.Duration, d.text = v, string(b)
	return nil
}

// String returns the duration as written, or in Go's form if it was not
// read from text.
func (d Duration) String() string {
	if d.text != "" {
		return d.text
	}
	return d.Duration.String()
}

// MarshalText writes the duration as it was written.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Path returns the file the config was loaded from.
func (c *Config) Path() string { return c.path }

// Source says where key's value came from when it was not the file
// ("env PROXY_LISTEN", "flag --listen"), or "".
func (c *Config) Source(key string) string { return c.sources[key] }

// DefaultConfig returns the defaults from the key table.
func DefaultConfig() *Config {
	c, err := parseConfig(RenderDefaultConfig(), "")
	if err != nil {
		// The table is tested; failing here is a build defect.
		panic(fmt.Sprintf("default config: %v", err))
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

// ConfigErrors is every problem found in one pass over a config, in file
// order (values from the environment or flags last). errors.As finds
// each *ConfigError in it.
type ConfigErrors struct{ Errs []*ConfigError }

// Error is one problem per line.
func (e *ConfigErrors) Error() string {
	lines := make([]string, len(e.Errs))
	for i, ce := range e.Errs {
		lines[i] = ce.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As and errors.Is.
func (e *ConfigErrors) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, ce := range e.Errs {
		errs[i] = ce
	}
	return errs
}

// joinProblems returns the problems sorted into file order as one error,
// or nil when there are none.
func joinProblems(errs []*ConfigError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *ConfigError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return a.Line - b.Line
	})
	return &ConfigErrors{Errs: errs}
}

// LoadConfig reads path, creating it with the commented defaults if it
// does not exist, then applies environment overrides and validates. The
// error, if any, is a *ConfigErrors listing every problem (or an I/O
// error).
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
	c, problems := decodeConfig(data, path)
	if c == nil {
		return nil, joinProblems(problems)
	}
	problems = append(problems, c.applyEnv(os.LookupEnv)...)
	bad := map[string]bool{}
	for _, p := range problems {
		bad[p.Key] = true
	}
	for _, p := range c.problems(data) {
		if !bad[p.Key] {
			problems = append(problems, p)
		}
	}
	if err := joinProblems(problems); err != nil {
		return nil, err
	}
	return c, nil
}

// InitConfig writes the commented default config to path, creating its
// directory. It does not overwrite an existing file: the error then says
// so and wraps fs.ErrExist.
func InitConfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w, and is left as it is; see what it sets with: sluice config check --config %s; "+
			"to start again from the defaults, move it away and run sluice config init again", path, fs.ErrExist, path)
	}
	if err != nil {
		return fmt.Errorf("create config: %w", err)
	}
	if _, err := f.Write(assets.DefaultConfig); err != nil {
		f.Close()
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return f.Close()
}

// parseConfig decodes data over the defaults, without environment
// overrides or validation.
func parseConfig(data []byte, path string) (*Config, error) {
	c, problems := decodeConfig(data, path)
	if err := joinProblems(problems); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeConfig decodes data over the defaults (none when path is "",
// which is how the defaults themselves are read), reporting every
// unknown key and wrongly typed value. A key with a problem keeps its
// default. c is nil when the file is not TOML at all.
func decodeConfig(data []byte, path string) (c *Config, problems []*ConfigError) {
	c = &Config{}
	if path != "" {
		c = DefaultConfig()
	}
	c.path = path
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, []*ConfigError{tomlError(path, err)}
	}
	add := func(key string, line int, msg string) {
		problems = append(problems, &ConfigError{File: path, Key: key, Line: line, Msg: msg})
	}
	sections := make([]string, len(Sections))
	for i, s := range Sections {
		sections[i] = s.Name
	}
	for sect, v := range raw {
		if at := lookupArrayTable(sect); at != nil {
			problems = append(problems, decodeArrayTable(at, c, data, v)...)
			continue
		}
		table, isTable := v.(map[string]any)
		if !isTable && !slices.Contains(sections, sect) {
			msg := "a key outside any section"
			for _, k := range Keys {
				if _, leaf, _ := strings.Cut(k.Name, "."); leaf == sect {
					msg += fmt.Sprintf("; did you mean %s (put it under [%s])?", k.Name, k.Section())
					break
				}
			}
			add(sect, keyLine(data, sect), msg)
			continue
		}
		if !slices.Contains(sections, sect) {
			msg := fmt.Sprintf("unknown section [%s]", sect)
			if s := nearest(sect, sections); s != "" {
				msg += fmt.Sprintf("; did you mean [%s]?", s)
			} else {
				msg += " (the sections are [" + strings.Join(sections, "], [") + "])"
			}
			add("", sectionLine(data, sect), msg)
			continue
		}
		if !isTable {
			add(sect, keyLine(data, sect), fmt.Sprintf("%s is a section; write [%s] and its keys under it", sect, sect))
			continue
		}
		for name, val := range table {
			full := sect + "." + name
			k, ok := lookupKey(full)
			if !ok {
				add(full, keyLine(data, full), unknownKey(full))
				continue
			}
			if msg := decodeValue(k, c, val); msg != "" {
				add(full, keyLine(data, full), msg)
			}
		}
	}
	return c, problems
}

// unknownKey says a key does not exist, and which one was meant when a
// key is a near miss or sits in the wrong section.
func unknownKey(full string) string {
	sect, leaf, _ := strings.Cut(full, ".")
	var same []string
	for _, k := range Keys {
		s, l, _ := strings.Cut(k.Name, ".")
		if l == leaf {
			return fmt.Sprintf("unknown key; did you mean %s (in [%s])?", k.Name, s)
		}
		if s == sect {
			same = append(same, l)
		}
	}
	if l := nearest(leaf, same); l != "" {
		return fmt.Sprintf("unknown key; did you mean %s?", l)
	}
	return "unknown key (docs/configuration.md lists every key; see the commented defaults: sluice config init --config NEW_FILE)"
}

// nearest returns the candidate closest to s by edit distance if it is
// close enough to be a typo, else "".
func nearest(s string, candidates []string) string {
	best, bestD := "", max(2, len(s)/4)+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tomlError turns a syntax error into a ConfigError with its line.
func tomlError(path string, err error) *ConfigError {
	ce := &ConfigError{File: path, Msg: err.Error()}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		ce.Line = pe.Position.Line
		ce.Msg = pe.Message + " (the file is not valid TOML)"
		ce.Key = pe.LastKey
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

// sectionLine finds the line of a [section] header (or of the first
// [section.sub] header), or 0.
func sectionLine(data []byte, section string) int {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "[") {
			continue
		}
		name := strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t")
		if name == section || strings.HasPrefix(name, section+".") {
			return i + 1
		}
	}
	return 0
}

// applyEnv applies the environment overrides named in the key table
// (env beats file).
func (c *Config) applyEnv(lookup func(string) (string, bool)) []*ConfigError {
	var problems []*ConfigError
	for _, k := range Keys {
		if k.Env == "" {
			continue
		}
		v, ok := lookup(k.Env)
		if !ok || v == "" {
			continue
		}
		if err := c.Set(k.Name, v, "env "+k.Env); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				ce = &ConfigError{Key: k.Name, Msg: err.Error()}
			}
			problems = append(problems, ce)
		}
	}
	return problems
}

// Set overrides one key from a string (a flag or an environment
// variable), recording source for `config check`.
func (c *Config) Set(key, value, source string) error {
	k, ok := lookupKey(key)
	if !ok {
		return fmt.Errorf("config key %s does not exist", key)
	}
	set := func() string { return setFromString(k, c, value) }
	if k.FromString != nil {
		set = func() string { return k.FromString(c, value, source) }
	}
	if msg := set(); msg != "" {
		return &ConfigError{Key: key, Msg: fmt.Sprintf("%s=%q: %s", source, value, msg)}
	}
	c.setSource(key, source)
	return nil
}

// setSource records where key's value came from, for `config check`.
func (c *Config) setSource(key, source string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[key] = source
}

// Validate checks every value against its allowed range. Errors name the
// key and, when the value came from the file, its line; all of them are
// returned, as a *ConfigErrors.
func (c *Config) Validate() error {
	var data []byte
	if c.path != "" {
		data, _ = os.ReadFile(c.path)
	}
	return joinProblems(c.problems(data))
}

// problems checks every key in the table, then the rules across keys.
func (c *Config) problems(data []byte) []*ConfigError {
	var out []*ConfigError
	fail := func(key, msg string) {
		e := &ConfigError{File: c.path, Key: key, Msg: msg}
		if src, ok := c.sources[key]; ok {
			e.File, e.Msg = "", e.Msg+" (from "+src+")"
		} else {
			e.Line = keyLine(data, key)
		}
		out = append(out, e)
	}
	for i := range Keys {
		k := &Keys[i]
		if msg := checkBounds(k, c); msg != "" {
			fail(k.Name, msg)
		} else if k.Check != nil {
			if msg := k.Check(c); msg != "" {
				fail(k.Name, msg)
			}
		}
	}
	for name, hash := range c.Access.Users {
		key := "access.users." + name
		if name == "" || strings.ContainsAny(name, ":\x00\r\n") {
			fail(key, "a user name must not be empty or hold a colon or control characters")
		} else if err := proxy.CheckPasswordHash(hash); err != nil {
			fail(key, err.Error())
		}
	}
	for _, r := range crossRules {
		if msg := r.check(c); msg != "" {
			fail(r.key, msg)
		}
	}
	out = append(out, c.arrayProblems(data)...)
	return out
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
