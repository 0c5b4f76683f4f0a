// Package proxy is Sluice's forward-proxy engine: the listener, the
// HTTP/1.x relay, CONNECT and Upgrade tunnels, the shared upstream
// connection pool, the limits, who may use the proxy (access.go), and the
// hooks that feed live counters and the access log.
//
// The relay is a lean HTTP/1.1 implementation of its own rather than
// net/http: it parses each request head once into a reused buffer, keeps
// header names and order as the client sent them, and streams bodies
// through pooled fixed-size buffers (or the kernel's splice path when both
// ends are TCP), so no body is ever held whole in memory and a kept-alive
// request costs a handful of allocations.
//
// The package does not read configuration files, write logs to disk,
// resolve names itself or touch the OS proxy settings: its caller passes a
// Config with a dial function, a logger and an access-log sink.
package proxy
