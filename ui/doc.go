// Package ui is Sluice's dashboard: one page at /ui on the proxy port
// with live charts, the traffic table and a request's details, the DNS
// cache, the upstream pool and the last config error; the Server-Sent
// Events feed behind it (/ui/events); and small JSON endpoints for what
// the page asks on demand (/ui/api/...). The proxy serves it as a local
// endpoint: to loopback clients, for a Host naming this machine.
//
// It owns: the ring of recent request records and its memory bound, the
// event stream and its rule for slow pages (dropped, never queued), and
// the page's assets (embedded from assets/ui, uPlot among them).
//
// It must not touch: the relay (it only receives access records, as a
// proxy.AccessLogger, and turns head capture on through a callback),
// configuration files, or package app. The app passes a Sources of small
// funcs for the figures owned elsewhere (resolver, pool, routing, alerts).
//
// While no page is open the feed costs the relay one atomic load per
// request and keeps nothing.
//
// Files:
//
//	feed.go     Feed, Sources, the once-a-second snapshot and chart points
//	record.go   one request's record, its heads, its allocation-free JSON
//	ring.go     the ring of records and the arena for their heads
//	events.go   the event stream to one page
//	handler.go  the page, its assets and the JSON endpoints
package ui
