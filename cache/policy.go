package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/cachecontrol/cacheobject"
)

// The rules of RFC 9111 for a private cache, in one place: may a response
// be stored (§3), how long is it fresh (§4.2), how old is it (§4.2.3).
// Directives are parsed by cacheobject (github.com/pquerna/cachecontrol),
// dates by net/http.ParseTime.

// heuristicCap bounds a heuristic freshness lifetime. RFC 9111 §4.2.2
// suggests 10% of the time since Last-Modified; past a day a user agent
// is asked to warn (RFC 7234's Warning 113), so a day is where Sluice
// stops, as Firefox and squid's default refresh_pattern bound it too.
const heuristicCap = 24 * time.Hour

// heuristicFraction is §4.2.2's "10% of the time since Last-Modified".
const heuristicFraction = 10

// heuristicStatus lists the codes RFC 9110 §15.1 calls heuristically
// cacheable. 206 is among them, but a partial response is never stored
// as if complete here.
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// rules is what a stored response's own fields say about reusing it,
// worked out once when it is stored or refreshed.
type rules struct {
	// lifetime is the freshness lifetime (§4.2.1); heuristic when it
	// came from Last-Modified.
	lifetime  time.Duration
	heuristic bool
	// initialAge is corrected_initial_age (§4.2.3) at respTime.
	initialAge time.Duration
	// noCache: every reuse is revalidated first (§5.2.2.4).
	noCache bool
	// mustRevalidate: never served stale (§5.2.2.2).
	mustRevalidate bool
	// authOK: may answer a request with Authorization (§3.5).
	authOK bool
}

// headerValue joins every field line of name (RFC 9110 §5.3).
func headerValue(h http.Header, name string) string {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ", ")
}

// responseDirectives parses a response's Cache-Control. A malformed one
// is an error: the caller does not store what it cannot read.
func responseDirectives(h http.Header) (*cacheobject.ResponseCacheDirectives, error) {
	return cacheobject.ParseResponseCacheControl(headerValue(h, "Cache-Control"))
}

// requestDirectives parses a request's Cache-Control; Pragma: no-cache
// counts as no-cache when there is no Cache-Control (§5.4). A malformed
// field is read as no-cache: the client asked for something, and going
// to the origin is the safe reading.
func requestDirectives(h http.Header) *cacheobject.RequestCacheDirectives {
	cc := headerValue(h, "Cache-Control")
	d, err := cacheobject.ParseRequestCacheControl(cc)
	if err != nil {
		return &cacheobject.RequestCacheDirectives{MaxAge: -1, MaxStale: -1, MinFresh: -1, NoCache: true}
	}
	if cc == "" && strings.Contains(strings.ToLower(headerValue(h, "Pragma")), "no-cache") {
		d.NoCache = true
	}
	return d
}

// storable decides whether a response to req may be stored (RFC 9111
// §3) and, when it may, what its fields say about reuse. reason says why
// not ("" when it may), for Cache-Status's detail and the debug log.
// shared applies the rules of a shared cache (Config.Shared).
func storable(req *Request, rq *cacheobject.RequestCacheDirectives, status int, h http.Header, reqTime, respTime time.Time, shared bool) (r rules, reason string) {
	if req.Method != http.MethodGet {
		return r, "method"
	}
	if req.Header.Get("Range") != "" {
		return r, "range request" // the answer may be partial
	}
	if status == http.StatusPartialContent || status == http.StatusNotModified || status < 200 {
		return r, "status"
	}
	if rq.NoStore {
		return r, "request no-store"
	}
	d, err := responseDirectives(h)
	if err != nil {
		return r, "malformed Cache-Control"
	}
	if d.NoStore {
		return r, "no-store"
	}
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "*") {
			return r, "Vary: *" // §4.1: matches no request
		}
	}
	// private is allowed in a private cache (§5.2.2.7).
	if shared && d.PrivatePresent {
		return r, "private"
	}
	r.authOK = d.Public || d.MustRevalidate || d.SMaxAge >= 0
	if req.Header.Get("Authorization") != "" && !r.authOK {
		return r, "Authorization" // §3.5
	}
	_, hasExpires := h["Expires"]
	explicit := d.MaxAge >= 0 || hasExpires || shared && d.SMaxAge >= 0
	if !explicit && !d.NoCachePresent && !d.Public && !heuristicStatus(status) {
		return r, "no freshness information"
	}
	r.noCache = d.NoCachePresent
	r.mustRevalidate = d.MustRevalidate || shared && (d.ProxyRevalidate || d.SMaxAge >= 0)
	r.lifetime, r.heuristic = lifetime(d, status, h, respTime, shared)
	if !explicit && !r.heuristic && !r.noCache && r.lifetime == 0 && h.Get("ETag") == "" && h.Get("Last-Modified") == "" {
		// Stale at once and with no validator: every reuse would be a
		// full fetch anyway.
		return r, "no freshness information"
	}
	r.initialAge = initialAge(h, reqTime, respTime)
	return r, ""
}

// lifetime is the freshness lifetime (§4.2.1): s-maxage in a shared
// cache (a private one ignores it), else max-age, else Expires minus
// Date, else the heuristic of §4.2.2 where it is allowed.
func lifetime(d *cacheobject.ResponseCacheDirectives, status int, h http.Header, respTime time.Time, shared bool) (time.Duration, bool) {
	if shared && d.SMaxAge >= 0 {
		return time.Duration(d.SMaxAge) * time.Second, false
	}
	if d.MaxAge >= 0 {
		return time.Duration(d.MaxAge) * time.Second, false
	}
	date := dateOf(h, respTime)
	if _, ok := h["Expires"]; ok {
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil || !exp.After(date) {
			return 0, false // an invalid Expires means already expired (§5.3)
		}
		return exp.Sub(date), false
	}
	if !heuristicStatus(status) && !d.Public {
		return 0, false
	}
	lm, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil || !lm.Before(date) {
		return 0, false
	}
	return min(date.Sub(lm)/heuristicFraction, heuristicCap), true
}

// dateOf is the response's Date, or respTime when it has none or an
// invalid one (§4.2.3's date_value; a recipient adds Date when missing).
func dateOf(h http.Header, respTime time.Time) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return respTime
}

// initialAge is corrected_initial_age (§4.2.3).
func initialAge(h http.Header, reqTime, respTime time.Time) time.Duration {
	apparent := max(0, respTime.Sub(dateOf(h, respTime)))
	var ageValue time.Duration
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil && n > 0 {
		ageValue = time.Duration(min(n, 1<<31)) * time.Second
	}
	corrected := ageValue + respTime.Sub(reqTime)
	return max(apparent, corrected)
}

// unsafeMethod reports whether a method may change state at the origin,
// so a successful answer invalidates what is stored (§4.4).
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}
