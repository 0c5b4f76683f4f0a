package ui

import (
	"bytes"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// Record is one finished request or tunnel as the traffic table shows it.
// Its strings are the access record's own (immutable, so shared, not
// copied); its heads live in the ring's arena.
type Record struct {
	// ID numbers records from 1 in the order they finished; the page
	// asks for a record's details by it.
	ID uint64
	// Time is when the request head started to arrive.
	Time time.Time
	// Client, Method, Scheme, Host, Port, Path are as in
	// proxy.AccessRecord. For a request seen inside an inspected HTTPS
	// tunnel, Scheme is "https" and Path the path of the full URL.
	Client, Method, Scheme, Host, Port, Path string
	// Status is the status sent to the client; 0 if none was.
	Status int
	// BytesIn and BytesOut are body bytes from and to the client.
	BytesIn, BytesOut int64
	// Duration is the whole exchange; TTFB the time to the first
	// response byte; Connect the upstream dial, DNS lookup included
	// (0 for a pooled connection); DNS the lookup alone, when the dialer
	// timed it (see proxy.AccessRecord.DNS).
	Duration, TTFB, Connect, DNS time.Duration
	// TLS is the TLS handshake with the origin, for requests Sluice
	// inspects (package inspect); 0 for everything else, as plain HTTP
	// has none and a tunnel's TLS is the client's own.
	TLS time.Duration
	// Reused, DNSCached and Tunnel are as in proxy.AccessRecord.
	Reused, DNSCached, Tunnel bool
	// Err is why it failed; stats.ErrNone if it did not.
	Err stats.ErrKind
	// Route is how it left Sluice: "direct", "blocked", or the name of
	// the upstream proxy it went through. Without routing every request
	// is direct unless a policy refused it (403: blocked); with routing
	// the access record names the upstream (set in fromAccess).
	Route string
	// Cache is the answer's Cache-Status ("Sluice; hit", ...)
	// when a cache answered or stored the response; "" when no cache is
	// configured or it had no say.
	Cache string

	// req and resp are the heads' places in the ring's arena, cut to
	// headSpace each; truncated says one was cut.
	req, resp []byte
	truncated bool
}

// fromAccess fills r from an access record, except ID and the heads.
func (r *Record) fromAccess(a *proxy.AccessRecord) {
	*r = Record{
		Time: a.Time, Client: a.Client, Method: a.Method, Scheme: a.Scheme,
		Host: a.Host, Port: a.Port, Path: a.Path, Status: a.Status,
		BytesIn: a.BytesIn, BytesOut: a.BytesOut,
		Duration: a.Duration, TTFB: a.TTFB, Connect: a.Connect, DNS: a.DNS,
		Reused: a.Reused, DNSCached: a.DNSCached, Tunnel: a.Tunnel, Err: a.Err,
		Route: "direct", Cache: a.CacheStatus,
	}
	switch {
	case a.Upstream != "":
		r.Route = a.Upstream // a string the record shares: no allocation
	case a.Err == stats.ErrForbidden:
		r.Route = "blocked"
	}
	r.req, r.resp = r.req[:0], r.resp[:0]
}

// hiddenCredentials replaces the value of a Proxy-Authorization field in
// a captured head: the dashboard shows what went through, not the
// password a client proves itself with.
const hiddenCredentials = "(hidden)"

// copyHead copies head into dst (whose capacity bounds it) line by line,
// hiding Proxy-Authorization's value. It reports whether head was cut.
// It allocates nothing.
func copyHead(dst, head []byte) ([]byte, bool) {
	dst = dst[:0]
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line = head[:i+1]
		}
		head = head[len(line):]
		name, _, ok := bytes.Cut(line, []byte(":"))
		hide := ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("proxy-authorization"))
		n := len(line)
		if hide {
			n = len(name) + len(": "+hiddenCredentials+"\r\n")
		}
		if len(dst)+n > cap(dst) {
			if hide {
				line = name
			}
			return append(dst, line[:min(len(line), cap(dst)-len(dst))]...), true
		}
		if hide {
			dst = append(append(dst, name...), ": "+hiddenCredentials+"\r\n"...)
		} else {
			dst = append(dst, line...)
		}
	}
	return dst, false
}

// appendJSON appends r as the compact JSON object the page reads: times
// in Unix milliseconds, durations in milliseconds. It allocates nothing,
// so watching pages cost the relay no allocation (see the budget test).
func (r *Record) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, r.ID, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	b = appendStringField(b, "client", r.Client)
	b = appendStringField(b, "method", r.Method)
	b = appendStringField(b, "scheme", r.Scheme)
	b = appendStringField(b, "host", r.Host)
	b = appendStringField(b, "port", r.Port)
	b = appendStringField(b, "path", r.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"in":`...)
	b = strconv.AppendInt(b, r.BytesIn, 10)
	b = append(b, `,"out":`...)
	b = strconv.AppendInt(b, r.BytesOut, 10)
	b = appendMillis(b, "dur", r.Duration)
	b = appendMillis(b, "ttfb", r.TTFB)
	b = appendMillis(b, "connect", r.Connect)
	b = appendMillis(b, "dns", r.DNS)
	b = appendMillis(b, "tls", r.TLS)
	b = appendBoolField(b, "reused", r.Reused)
	b = appendBoolField(b, "dns_cached", r.DNSCached)
	b = appendBoolField(b, "tunnel", r.Tunnel)
	b = appendStringField(b, "err", r.Err.String())
	b = appendStringField(b, "route", r.Route)
	b = appendStringField(b, "cache", r.Cache)
	return append(b, '}')
}

func appendStringField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendBoolField(b []byte, name string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

// appendMillis appends d in milliseconds with microsecond precision.
func appendMillis(b []byte, name string, d time.Duration) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control bytes and the two
// JSON metacharacters are escaped; other bytes pass through (the page
// decodes the stream as UTF-8, replacing what is not).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
