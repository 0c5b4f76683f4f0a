package route

import (
	"encoding/base64"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/proxy"
)

// Upstream schemes.
var schemes = []string{"http", "https", "socks5", "socks5h"}

// defaultPorts are the ports an upstream URL without one gets: squid's
// 3128 is no standard, so only the schemes' own.
var defaultPorts = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}

// parseUpstream checks an [[upstream]] URL and makes the proxy.Upstream
// the relay uses, with its credentials decoded and the Basic
// Proxy-Authorization value computed once.
func parseUpstream(name, raw string) (*proxy.Upstream, *url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, nil, strconv.Quote(redact(raw)) + ` is not a proxy URL; write it like "http://proxy.example:3128" or "socks5://user:pass@127.0.0.1:1080"`
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return nil, nil, "scheme " + strconv.Quote(u.Scheme) + " is not one of http, https, socks5, socks5h"
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, strconv.Quote(redact(raw)) + " has a path, query or fragment; a proxy URL is scheme://[user:password@]host:port"
	}
	port := u.Port()
	if port == "" {
		port = defaultPorts[u.Scheme]
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, nil, "port " + strconv.Quote(port) + " is not from 1 to 65535"
	}
	up := &proxy.Upstream{Name: name, Scheme: u.Scheme, Addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		up.Username = u.User.Username()
		up.Password, _ = u.User.Password()
		if u.Scheme == "http" || u.Scheme == "https" {
			up.ProxyAuthorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(up.Username+":"+up.Password))
		}
	}
	return up, u, ""
}

// redact hides a URL's password, for messages and /stats; a URL that
// does not parse loses everything before its last '@'.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	return u.Redacted()
}

// CheckUpstreamURL says what is wrong with an upstream proxy URL, or "".
func CheckUpstreamURL(raw string) string {
	_, _, msg := parseUpstream("", raw)
	return msg
}
