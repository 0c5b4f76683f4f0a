package app

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"reflect"

	"github.com/sluiceproxy/sluice/inspect"
	"github.com/sluiceproxy/sluice/proxy"
)

// CADir returns where the inspection CA is kept: the state dir's ca/.
func CADir() (string, error) {
	dir, err := StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ca"), nil
}

// captureDir is where a running capture's HAR file is written before
// `sluice capture` moves it where the user asked.
func captureDir() (string, error) {
	dir, err := StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "captures"), nil
}

// newInspector builds the inspector for cfg, dialing through up; nil
// when [inspect] is off, so nothing of it runs (no CA is made). The CA
// is made on the first enable.
func (a *App) newInspector(cfg *Config, up *upstream) (*inspect.Inspector, error) {
	ic := &cfg.Inspect
	if !ic.Enabled {
		return nil, nil
	}
	dir, err := CADir()
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	ca, err := inspect.LoadOrCreateCA(dir)
	if err != nil {
		return nil, fmt.Errorf("inspect: the CA in %s: %w", dir, err)
	}
	p := &cfg.Proxy
	maxIdle := p.PoolMaxIdlePerHost
	if maxIdle == 0 {
		maxIdle = -1 // [proxy] pool_max_idle_per_host = 0 turns pooling off here too
	}
	return inspect.New(inspect.Config{
		CA:               ca,
		Hosts:            ic.Hosts,
		Exclude:          ic.Exclude,
		HTTP2:            ic.HTTP2,
		InsecureUpstream: !ic.VerifyUpstream,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// As routed, through the proxy in force (a reload may have
			// swapped its dialer and router since this inspector was made).
			if srv := a.live.Load(); srv != nil {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return srv.DialRouted(ctx, host, port)
			}
			c, _, err := up.Dial(ctx, network, addr)
			return c, err
		},
		ConnWindow:            ic.HTTP2ConnWindow,
		StreamWindow:          ic.HTTP2StreamWindow,
		ConnectTimeout:        p.ConnectTimeout.Duration,
		ResponseHeaderTimeout: p.ResponseHeaderTimeout.Duration,
		IdleConnTimeout:       p.PoolIdleTimeout.Duration,
		ClientIdleTimeout:     p.ClientIdleTimeout.Duration,
		ReadHeaderTimeout:     p.ReadHeaderTimeout.Duration,
		MaxIdlePerHost:        maxIdle,
		MaxHeaderBytes:        p.MaxHeaderBytes,
		BodyTimeout:           p.BodyTimeout.Duration,
		Capture:               a.captures,
		Cache:                 a.liveCache.Load,
		Logger:                a.log,
	})
}

// inspectorChanged reports whether the inspector must be rebuilt for cfg:
// its section or the proxy settings it takes changed, or it dials
// through a new upstream.
func inspectorChanged(old, cfg *Config, upChanged bool) bool {
	return upChanged || !reflect.DeepEqual(old.Inspect, cfg.Inspect) || !reflect.DeepEqual(old.Proxy, cfg.Proxy)
}

// withInspector sets the proxy's inspector. While inspection is on, a
// running HAR capture also takes plain-HTTP access records; while it is
// off the access sink is untouched, so the relay costs what it did.
func (a *App) withInspector(pc proxy.Config, cfg *Config, insp *inspect.Inspector) proxy.Config {
	if insp == nil {
		return pc
	}
	pc.Inspect = insp
	a.captures.SetBodyMax(cfg.Inspect.CaptureBodyMax)
	if pc.Access == nil {
		pc.Access = a.captures
	} else {
		pc.Access = teeAccess{pc.Access, a.captures}
	}
	return pc
}

// teeAccess hands each access record to two sinks.
type teeAccess struct{ a, b proxy.AccessLogger }

func (t teeAccess) LogAccess(rec *proxy.AccessRecord) {
	t.a.LogAccess(rec)
	t.b.LogAccess(rec)
}
