package proxy

import (
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// finish reports the request to the counters and the access log.
func (cc *clientConn) finish(cfg *Config) {
	r := &cc.res
	d := time.Since(cc.started)
	// The meters reported part of the bytes of long transfers already.
	in, out := r.bytesIn-cc.meterIn.reported, r.bytesOut-cc.meterOut.reported
	if r.tunnel {
		cc.s.stats.TunnelClosed(in, out)
	} else {
		cc.s.stats.Request(&stats.Sample{Status: r.status, BytesIn: in, BytesOut: out, Duration: d, TTFB: r.ttfb, Err: r.err})
	}
	if up := r.up; up != nil {
		// As in the access record: in from the client, out to it.
		up.Requests.Add(1)
		up.BytesIn.Add(r.bytesIn)
		up.BytesOut.Add(r.bytesOut)
	}
	if cfg.Access == nil || cfg.accessIdle != nil && cfg.accessIdle.Idle() {
		return
	}
	if cc.remote == "" {
		cc.remote = cc.conn.RemoteAddr().String()
	}
	req := &cc.req
	var path []byte
	if !r.tunnel {
		path = req.path
		if !cfg.LogQuery {
			if i := indexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
		}
	}
	// Host, port and path share one string: one allocation, not three.
	b := append(append(append(cc.key[:0], req.host...), req.port...), path...)
	cc.key = b
	all := string(b)
	h, p := len(req.host), len(req.host)+len(req.port)
	// The record lives in cc: handing a stack value to an interface
	// method would move it to the heap on every request.
	cc.rec = AccessRecord{
		Time: cc.started, Client: cc.remote, Method: methodString(req.method),
		Host: all[:h], Port: all[h:p], Path: all[p:],
		Status: r.status, BytesIn: r.bytesIn, BytesOut: r.bytesOut,
		Duration: d, TTFB: r.ttfb, Reused: r.reused, DNSCached: r.dnsCached,
		Tunnel: r.tunnel, Inspected: r.inspected, Err: r.err, Connect: r.connect, DNS: r.lookup,
		CacheStatus: r.cache,
	}
	if r.up != nil {
		cc.rec.Upstream = r.up.Name
	}
	if req.form == formAbsolute {
		cc.rec.Scheme = "http"
	}
	// One atomic load when no dashboard watches; the heads are handed over
	// by reference, never copied here.
	if cc.s.capture.Load() && req.form == formAbsolute {
		cc.rec.RequestHead = cc.head
		if r.headOut {
			cc.rec.ResponseHead = cc.out
		}
	}
	cfg.Access.LogAccess(&cc.rec)
}
