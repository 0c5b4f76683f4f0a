package proxy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cache"
)

// TestDesyncParent runs the desync table (desync_test.go) through an
// HTTP parent: Sluice routes every request to the case's raw origin as
// its upstream proxy, so the origin sees exactly what a parent would:
// each request in absolute form with Sluice's Proxy-Authorization, over
// conns pooled per parent. The same three checks hold: what the client
// got, the exact bytes the parent saw, and that the next client, on a
// pooled parent conn where the case left one, gets its own response;
// the response-side cases show that a parent's extra bytes poison
// nothing.
func TestDesyncParent(t *testing.T) {
	ipv6 := ipv6Loopback()
	for _, c := range desyncCases() {
		if c.port80 {
			continue // the dial is the parent's: port 80 means nothing here
		}
		c.origin = append([]string(nil), c.origin...)
		for i, s := range c.origin {
			c.origin[i] = toParentForm(s)
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.ipv6 && !ipv6 {
				t.Skip("no IPv6 loopback (::1) on this machine")
			}
			r, err := runDesyncCase(&c, sluiceWithParent(t, &c))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.mismatches(&r, true) {
				t.Error(m)
			}
		})
	}
}

// parentAuth is the Proxy-Authorization of the parent in TestDesyncParent
// ("u:p").
const parentAuth = "Basic dTpw"

// sluiceWithParent runs each case through a Sluice of its own that sends
// everything to the case's origin as an http parent; a cached case's
// Sluice has a response cache in front of the parent.
func sluiceWithParent(t *testing.T, c *desyncCase) desyncProxy {
	return desyncProxy{wait: desyncWait, grace: desyncOriginEnd, start: func(o *desyncOrigin) (string, func(), error) {
		up := &Upstream{Name: "parent", Scheme: "http", Addr: o.addr, Username: "u", Password: "p", ProxyAuthorization: parentAuth}
		cfg := Config{NoVia: true, ResponseHeaderTimeout: desyncWait, Router: via(up)}
		if c.cached {
			ch, err := cache.Open(cache.Config{MemoryBytes: 1 << 20})
			if err != nil {
				return "", nil, err
			}
			cfg.Cache = ch
		}
		p := startProxy(t, cfg)
		return p.addr, func() { p.srv.Close() }, nil
	}}
}

// originFormHead is a request line in origin form and the Host field
// after it, as Sluice sends them direct.
// A request may start mid-line, right after the body before it.
var originFormHead = regexp.MustCompile(`(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE) (/[^ \r\n]*) HTTP/1\.1\r\nHost: ([^\r\n]*)\r\n`)

// toParentForm turns what an origin gets from Sluice into what a parent
// gets: each request line in absolute form, Sluice's credentials after
// Host. A body that only looks like a request (smuggledReq) is left as
// it is.
func toParentForm(s string) string {
	const hold = "\x00smuggled\x00"
	s = strings.ReplaceAll(s, smuggledReq, hold)
	s = originFormHead.ReplaceAllString(s, "$1 http://$3$2 HTTP/1.1\r\nHost: $3\r\nProxy-Authorization: "+parentAuth+"\r\n")
	return strings.ReplaceAll(s, hold, smuggledReq)
}
