// Package stats holds the proxy's live counters: requests, connections,
// tunnels, bytes, errors by kind, upstream pool reuse and request latency.
//
// The proxy updates a Collector on its hot path, so every update is a few
// atomic operations and never takes a lock or allocates. Readers (the tray,
// the CLI, /stats and /metrics) call Snapshot, which does the arithmetic.
//
// The package owns no I/O: it neither logs nor serves; app and proxy wire
// it to endpoints and the UI.
package stats
