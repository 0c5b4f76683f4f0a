// Package cache is Sluice's private HTTP response cache (RFC 9111) with
// collapsed forwarding: one upstream fetch for concurrent misses of one
// URL, the waiting requests reading its body as it arrives.
//
// It owns: the cacheability and freshness rules (policy.go), the stored
// objects and their variants (object.go, vary.go), the memory tier
// (lru.go) and the crash-safe disk tier (disk.go), the fetches in flight
// that other requests follow (fill.go), the lookup and store decisions
// that tie them together (cache.go), the Cache-Status field (status.go),
// its figures (stats.go), and an http.Handler wrapper (handler.go) for
// callers that speak net/http, such as inspected HTTPS exchanges.
//
// It must not touch: sockets, the proxy's framing or pools, configuration
// files, or package app. It works on URLs, http.Header values and bodies
// handed to it; the proxy's glue (proxy/cache.go) converts its own parsed
// messages into those.
//
// The life of one request, as a caller drives it:
//
//	l := c.Lookup(&Request{Method, Key, Header})
//	switch l.Action {
//	case Serve:      // answer from l.Object (l.Status, l.Range), no upstream
//	case Follow:     // answer from l.Follower: another request's fetch
//	case Unsatisfied: // 504, only-if-cached and nothing usable
//	default:         // Forward or Revalidate: go upstream (with
//	                 // l.Conditionals() when revalidating), then
//	                 // l.Refresh on a 304, or l.Store for a response,
//	                 // whose Writer tees the body; l.Done always.
//	}
package cache
