package route

import (
	"encoding/base64"
	"testing"
)

func TestUpstreamURLs(t *testing.T) {
	for _, c := range []struct {
		url, scheme, addr, user, pass, bad string
	}{
		{url: "http://proxy.example:3128", scheme: "http", addr: "proxy.example:3128"},
		{url: "http://proxy.example", scheme: "http", addr: "proxy.example:80"},
		{url: "https://alice:s%40cret@proxy.example", scheme: "https", addr: "proxy.example:443", user: "alice", pass: "s@cret"},
		{url: "socks5://[::1]:1080", scheme: "socks5", addr: "[::1]:1080"},
		{url: "socks5h://u:p@127.0.0.1", scheme: "socks5h", addr: "127.0.0.1:1080", user: "u", pass: "p"},
		{url: "ftp://proxy.example:21", bad: `scheme "ftp" is not one of http, https, socks5, socks5h`},
		{url: "proxy.example:3128", bad: `"proxy.example:3128" is not a proxy URL; write it like "http://proxy.example:3128" or "socks5://user:pass@127.0.0.1:1080"`},
		{url: "http://proxy.example:3128/path", bad: `"http://proxy.example:3128/path" has a path, query or fragment; a proxy URL is scheme://[user:password@]host:port`},
		{url: "http://proxy.example:99999", bad: `port "99999" is not from 1 to 65535`},
		{url: "http://u:secret@proxy.example:3128/x", bad: `"http://u:xxxxx@proxy.example:3128/x" has a path, query or fragment; a proxy URL is scheme://[user:password@]host:port`},
	} {
		up, _, msg := parseUpstream("n", c.url)
		if msg != c.bad {
			t.Errorf("%s: problem %q, want %q", c.url, msg, c.bad)
			continue
		}
		if c.bad != "" {
			continue
		}
		if up.Scheme != c.scheme || up.Addr != c.addr || up.Username != c.user || up.Password != c.pass {
			t.Errorf("%s: %+v", c.url, up)
		}
		wantAuth := ""
		if c.user != "" && (c.scheme == "http" || c.scheme == "https") {
			wantAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
		}
		if up.ProxyAuthorization != wantAuth {
			t.Errorf("%s: Proxy-Authorization %q, want %q", c.url, up.ProxyAuthorization, wantAuth)
		}
	}
}
