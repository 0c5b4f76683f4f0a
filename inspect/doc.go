// Package inspect is Sluice's opt-in HTTPS inspection: it decrypts the
// CONNECT tunnels of the hosts the user lists, so their requests show in
// the access log, the counters and a HAR capture, and relays them to the
// origin over a verified TLS connection.
//
// It owns the local certificate authority (ca.go: made once in the state
// dir, key 0600, never logged), the leaf certificates it signs per host
// (leaf.go) and their cache (certcache.go: bounded LRU, one leaf per host
// however many clients ask at once), which CONNECT hosts are decrypted
// (match.go), the client leg (inspector.go: TLS with ALPN h2 and
// http/1.1, served by one net/http Server for all inspected
// connections; passthrough.go relays a tunnel that turns out not to be
// TLS blind), the upstream leg and the exchange (handler.go: one shared
// pooled net/http Transport with HTTP/2, verified against the system
// roots; bodies stream both ways, upgrades and server-sent events pass),
// and HAR capture (har.go: exchanges written to a file as they finish).
//
// The proxy hands it a client connection after answering a CONNECT with
// 200 (proxy.Inspector); it never sees other traffic. It does not read
// the config, resolve names (the caller passes a dial function) or touch
// the OS or browser trust stores (cmd/sluice's `ca install` does, with
// the user's own certutil).
package inspect
