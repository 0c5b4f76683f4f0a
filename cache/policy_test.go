package cache

import (
	"net/http"
	"testing"
	"time"
)

// TestSharedRules: a cache open to other machines' users applies the
// shared-cache rules: private is not stored, s-maxage and
// proxy-revalidate count; a private cache does the opposite.
func TestSharedRules(t *testing.T) {
	now := time.Now()
	req := &Request{Method: http.MethodGet, Key: "http://h/x", Header: http.Header{}}
	cases := []struct {
		cc             string
		shared         bool
		reason         string
		lifetime       time.Duration
		mustRevalidate bool
	}{
		{"private, max-age=60", false, "", time.Minute, false},
		{"private, max-age=60", true, "private", 0, false},
		{"max-age=60, s-maxage=5", false, "", time.Minute, false},
		{"max-age=60, s-maxage=5", true, "", 5 * time.Second, true},
		{"s-maxage=5", false, "no freshness information", 0, false},
		{"max-age=60, proxy-revalidate", true, "", time.Minute, true},
		{"max-age=60, proxy-revalidate", false, "", time.Minute, false},
	}
	for _, c := range cases {
		h := http.Header{"Cache-Control": {c.cc}}
		r, reason := storable(req, &noDirectives, http.StatusOK, h, now, now, c.shared)
		if reason != c.reason || reason == "" && (r.lifetime != c.lifetime || r.mustRevalidate != c.mustRevalidate) {
			t.Errorf("%q shared=%v: reason %q lifetime %v must-revalidate %v; want %q %v %v",
				c.cc, c.shared, reason, r.lifetime, r.mustRevalidate, c.reason, c.lifetime, c.mustRevalidate)
		}
	}
}
