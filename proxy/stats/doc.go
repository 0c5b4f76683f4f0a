// Package stats holds the proxy's live counters: requests, connections,
// tunnels, bytes, errors by kind, upstream pool reuse, request latency and
// the figures other parts report (log records dropped, idle pooled
// connections, the resolver's cache).
//
// The proxy updates a Collector on its hot path, so every update is a few
// atomic operations and never takes a lock, waits or allocates. Rates and
// latency quantiles come from rolling windows (per-second counts for the
// last ten seconds, 10-second log-linear histograms for the last minute)
// whose counters carry their own period, so nothing has to clear them.
// Readers (the tray, the CLI, /stats and /metrics) call Snapshot, which
// does the arithmetic.
//
// Handler and MetricsHandler serve a Collector as JSON and in the
// Prometheus format; who may reach them is the caller's decision. The
// package does not log, listen, or know about the app's configuration.
package stats
