package resolver

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults used when a Config field is zero. Sluice's own defaults for users
// are in its key table (app/keys.go, docs/configuration.md).
const (
	// DefaultMaxTTL caps how long an answer is trusted, the common resolver
	// default (Unbound's cache-max-ttl), matching assets/config.toml.
	DefaultMaxTTL = 24 * time.Hour
	// DefaultNegativeTTL bounds how long "no such host" is remembered, so a
	// name that was just created starts working soon.
	DefaultNegativeTTL = 30 * time.Second
	// DefaultStaleTTL is how long past expiry an answer may still be served
	// when every server fails; RFC 8767 section 5 suggests one to three days.
	DefaultStaleTTL = 24 * time.Hour
	// DefaultMaxEntries bounds the cache; an entry is a few hundred bytes.
	DefaultMaxEntries = 10000
	// DefaultTimeout is the wait for one answer from one server, the same as
	// Go's own resolver uses per try.
	DefaultTimeout = 2 * time.Second
)

// Config is what the caller decides about the resolver. The zero value is
// usable: the system's servers, the system's hosts file and the defaults above.
type Config struct {
	// Servers are tried in order, moving on when one fails or times out.
	// Each entry is "system" (the operating system's servers), "IP:port"
	// (plain DNS over UDP, TCP when the answer is truncated; the port may be
	// left out for 53), "tls://host[:port]" (DNS over TLS, port 853 by
	// default) or "https://host[:port]/path" (DNS over HTTPS, RFC 8484).
	// Empty means ["system"].
	Servers []string

	// MinTTL raises shorter record TTLs. Zero means answers are kept exactly
	// as long as their TTL says.
	MinTTL time.Duration
	// MaxTTL lowers longer record TTLs. Zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// NegativeTTL bounds how long a "no such host" or "no address" answer is
	// cached (its own length comes from the zone's SOA, RFC 2308). Zero means
	// DefaultNegativeTTL.
	NegativeTTL time.Duration
	// StaleTTL is how long after expiry an answer may be served when every
	// server fails (RFC 8767). Zero (or negative) means DefaultStaleTTL.
	StaleTTL time.Duration
	// NoServeStale turns serving expired answers off: when every server
	// fails, the lookup fails.
	NoServeStale bool
	// MaxEntries bounds the number of cached names; the least recently used
	// goes first. Zero means DefaultMaxEntries.
	MaxEntries int
	// Prefetch refreshes names that were looked up at least twice when they
	// are within the last tenth of their TTL, so popular names never miss.
	Prefetch bool
	// Timeout is how long to wait for one server's answer to one query. Zero
	// means DefaultTimeout.
	Timeout time.Duration

	// HostsFile is read before any server is asked. "" means the operating
	// system's file (/etc/hosts, or drivers\etc\hosts under the Windows
	// system directory).
	HostsFile string
	// ResolvConf is where "system" servers are read from on Linux and macOS.
	// "" means /etc/resolv.conf. Ignored on Windows, which asks the network
	// adapters instead.
	ResolvConf string
	// Now is the clock for TTLs. Nil means time.Now; tests inject their own.
	Now func() time.Time
	// TLSConfig verifies DNS over TLS and DNS over HTTPS servers. Nil means
	// the system's roots. ServerName is filled from the server entry.
	TLSConfig *tls.Config
}

// withDefaults returns cfg with every zero field replaced by its default.
func (cfg Config) withDefaults() Config {
	if len(cfg.Servers) == 0 {
		cfg.Servers = []string{"system"}
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MinTTL > cfg.MaxTTL {
		cfg.MinTTL = cfg.MaxTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	switch {
	case cfg.NoServeStale:
		cfg.StaleTTL = 0 // the cache serves stale only while this is positive
	case cfg.StaleTTL <= 0:
		cfg.StaleTTL = DefaultStaleTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// serverKind is the transport a server entry asks for.
type serverKind int

const (
	kindSystem serverKind = iota
	kindPlain             // UDP, then TCP on truncation
	kindTLS               // RFC 7858
	kindHTTPS             // RFC 8484
)

// serverSpec is one parsed server entry.
type serverSpec struct {
	kind serverKind
	// addr is host:port for plain and TLS servers.
	addr string
	// host is the name TLS certificates are checked against.
	host string
	// url is the full DNS over HTTPS endpoint.
	url string
}

const serverForms = `use "system", "IP:port" (e.g. "9.9.9.9:53"), "tls://host:853" or "https://host/dns-query"`

// ValidateServer reports whether s is a server entry New accepts. The error
// says what is wrong and which forms are allowed; `sluice config check`
// shows it as is.
func ValidateServer(s string) error {
	_, err := parseServer(s)
	return err
}

func parseServer(s string) (serverSpec, error) {
	bad := func(why string) (serverSpec, error) {
		return serverSpec{}, fmt.Errorf("dns server %q: %s; %s", s, why, serverForms)
	}
	switch {
	case s == "system":
		return serverSpec{kind: kindSystem}, nil
	case s == "":
		return bad("empty entry")
	case strings.HasPrefix(s, "tls://"):
		rest := strings.TrimPrefix(s, "tls://")
		if rest == "" || strings.ContainsAny(rest, "/?#@") {
			return bad("DNS over TLS takes only a host and an optional port")
		}
		host, port, err := splitHostDefaultPort(rest, "853")
		if err != nil {
			return bad(err.Error())
		}
		return serverSpec{kind: kindTLS, addr: net.JoinHostPort(host, port), host: host}, nil
	case strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil {
			return bad(err.Error())
		}
		if u.Host == "" || u.Hostname() == "" {
			return bad("no host")
		}
		if u.User != nil || u.Fragment != "" || u.RawQuery != "" {
			return bad("DNS over HTTPS takes a host, an optional port and a path, nothing else")
		}
		if _, _, err := splitHostDefaultPort(u.Host, "443"); err != nil {
			return bad(err.Error())
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/dns-query"
		}
		return serverSpec{kind: kindHTTPS, url: u.String(), host: u.Hostname()}, nil
	case strings.Contains(s, "://"):
		return bad("unknown scheme")
	}
	host, port, err := splitHostDefaultPort(s, "53")
	if err != nil {
		return bad(err.Error())
	}
	// A plain server must be an address: finding it by name would need DNS.
	if _, err := netip.ParseAddr(host); err != nil {
		return bad("a plain DNS server must be an IP address (names work with tls:// and https://)")
	}
	return serverSpec{kind: kindPlain, addr: net.JoinHostPort(host, port)}, nil
}

// splitHostDefaultPort splits "host", "host:port", "IPv6" or "[IPv6]:port",
// filling in port when it is missing, and checks the port is a number.
func splitHostDefaultPort(s, port string) (string, string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.String(), port, nil
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") {
			return "", "", fmt.Errorf("cannot split host and port: %v", err)
		}
		host, p = s, port
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", "", fmt.Errorf("no host")
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return "", "", fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return host, p, nil
}
