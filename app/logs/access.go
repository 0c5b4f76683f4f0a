package logs

import (
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// accessLog is the access stream; it implements proxy.AccessLogger.
type accessLog struct {
	s *stream[proxy.AccessRecord]
}

// LogAccess queues a copy of rec and returns at once; the record's strings
// are kept until written, so they must not be changed afterwards (the
// proxy makes them fresh for each record). It never blocks: when the
// queue is full the record is dropped and counted.
func (a *accessLog) LogAccess(rec *proxy.AccessRecord) { a.s.put(rec) }

// formatAccess appends one access record. The field names are part of
// Sluice's interface (docs/logs-and-stats.md, `sluice logs tail`):
//
//	time        when the request head started to arrive
//	client      the client's ip:port
//	method      request method; CONNECT for tunnels
//	scheme      "http" for relayed requests, "" for tunnels
//	host, port  the upstream
//	path        request path, without the query unless log_query
//	status      status sent to the client; 0 if none
//	bytes_in    body bytes from the client (tunnels: all bytes up)
//	bytes_out   body bytes to the client (tunnels: all bytes down)
//	duration_ms whole request or tunnel lifetime, in milliseconds
//	ttfb_ms     time to the first response byte, in milliseconds
//	reused      the upstream connection came from the pool
//	dns_cached  the upstream name was answered from the DNS cache
//	tunnel      the record is for a CONNECT or Upgrade tunnel
//	upstream    the upstream proxy it went through ([[upstream]] name), "" if direct
//	error       why it failed (a stats.ErrKind name), "none" if it did not
//	inspected   only when true: a decrypted CONNECT or an exchange in one
//	client_proto, upstream_proto
//	            only for inspected exchanges: HTTP/1.1 or HTTP/2.0 per leg
//	cache       the Cache-Status (RFC 9211) when the response cache had a
//	            part in the answer ("Sluice; hit"); absent otherwise
//
// tc caches the formatted time between records; nil formats it in full.
func formatAccess(buf []byte, rec *proxy.AccessRecord, json bool, tc *timeCache) []byte {
	var w recordWriter
	w.begin(buf, json)
	w.time("time", rec.Time, tc)
	w.str("client", rec.Client)
	w.str("method", rec.Method)
	w.str("scheme", rec.Scheme)
	w.str("host", rec.Host)
	w.str("port", rec.Port)
	w.str("path", rec.Path)
	w.int("status", int64(rec.Status))
	w.int("bytes_in", rec.BytesIn)
	w.int("bytes_out", rec.BytesOut)
	w.millis("duration_ms", rec.Duration)
	w.millis("ttfb_ms", rec.TTFB)
	w.bool("reused", rec.Reused)
	w.bool("dns_cached", rec.DNSCached)
	w.bool("tunnel", rec.Tunnel)
	w.str("upstream", rec.Upstream)
	w.str("error", rec.Err.String())
	if rec.Inspected {
		w.bool("inspected", true)
		if rec.ClientProto != "" {
			w.str("client_proto", rec.ClientProto)
			w.str("upstream_proto", rec.UpstreamProto)
		}
	}
	if rec.CacheStatus != "" {
		w.str("cache", rec.CacheStatus)
	}
	return w.end()
}

// formatDropLine appends the line reporting n records dropped from a
// stream, shaped like an slog warning so both streams can carry it.
func formatDropLine(buf []byte, now time.Time, n int64, json bool) []byte {
	var w recordWriter
	w.begin(buf, json)
	w.time("time", now, nil)
	w.str("level", "WARN")
	w.str("msg", "log records dropped: the log writer fell behind")
	w.int("dropped", n)
	return w.end()
}
