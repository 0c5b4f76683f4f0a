// Package resolver is Sluice's own caching DNS resolver and the dialer built
// on it. Every upstream dial and every CONNECT the proxy makes resolves names
// here instead of through the operating system's resolver.
//
// It owns: talking to DNS servers (plain UDP with TCP fallback on truncation,
// DNS over TLS, DNS over HTTPS), reading the system's server list and hosts
// file, the answer cache (TTL clamping, negative caching, LRU bound,
// serve-stale, prefetch), its figures, and the Happy Eyeballs dialer that
// returns raw *net.TCPConn values so the proxy can splice.
//
// It must not touch: configuration files, logging, the proxy's connection
// pools, or anything in package app. Callers pass a Config and read Stats.
//
// Files, one concern each:
//
//	config.go     Config, defaults, server entry parsing and validation
//	resolver.go   the lookup path: hosts, cache, singleflight, serve-stale
//	cache.go      the LRU map of entries and the lookup decision
//	item.go       one cached name and its TTL arithmetic
//	response.go   checking a server's reply and extracting what may be cached
//	exchange.go   one query to one server: udp/tcp, tls, https
//	servers.go    the server list, failover, and "system" expansion
//	hosts.go      the hosts file
//	system_*.go   where the operating system keeps its DNS servers
//	stats.go      counters and upstream latency quantiles
//	entries.go    listing and flushing the cache, for the dashboard
//	dialer.go     Happy Eyeballs (RFC 8305) on top of the resolver
package resolver
