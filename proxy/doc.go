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
// A request's files, in the order it reaches them (docs/architecture.md
// walks through them): server.go and slots.go (accept, max_concurrent),
// conn.go (the connection's life, keepAlive), message.go and request.go
// (the request head), access.go (who may), relay.go (the request, its
// upload and retry), upstream.go and pool.go (the way to the origin),
// parent.go and socks5client.go (the way through an upstream proxy, when
// Config.Router names one),
// body.go (bodies), parse_response.go and response.go (the response),
// record.go (counters and the access log). tunnel.go serves CONNECT and
// upgrades, socks.go SOCKS5 clients on the same port, local.go the local
// endpoints, errors.go Sluice's own answers, cache.go the glue to the
// response cache (package cache).
//
// The package does not read configuration files, write logs to disk,
// resolve names itself or touch the OS proxy settings: its caller passes a
// Config with a dial function, a logger and an access-log sink.
package proxy
