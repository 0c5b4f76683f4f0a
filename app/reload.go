package app

import (
	"fmt"
	"net"
	"reflect"
)

// Reload re-reads the config file and applies it without dropping
// established connections: a new listen address is bound before the old
// listener closes (connections it accepted keep running), and pool,
// limits, DNS and log settings apply to work that starts afterwards. An
// invalid file, or one that cannot be put into effect (its listen address
// is in use, say), changes nothing: the running config, listener and
// resolver stay, and the error is kept for ConfigError (the tray shows
// it) and logged.
func (a *App) Reload() error {
	cfg, err := a.loadConfig()
	prevAddr := a.ListenAddr()
	prev := a.Config()
	if err == nil {
		err = a.apply(cfg)
	}
	if err == nil && (a.ListenAddr() != prevAddr || prev.SysProxy.Mode != cfg.SysProxy.Mode) && a.SystemProxySwitchedOn() {
		// The system proxy follows the new port, or mode.
		if perr := a.SetSystemProxy(true); perr != nil {
			a.log.Error("point the system proxy at the new address", "err", perr)
		}
	}
	a.mu.Lock()
	a.cfgErr = err
	a.mu.Unlock()
	if err != nil {
		a.log.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	// Each changed key is an attribute: proxy.connect_timeout="10s → 3s".
	a.log.Info("config reloaded", append([]any{"config", a.opts.ConfigPath}, changedKeys(prev, cfg)...)...)
	return nil
}

// apply switches the running app to cfg, all or nothing: the new
// resolver, listener and proxy settings are made first, and only when all
// of them exist do they replace the running ones, which are closed after.
// On an error the running proxy is exactly as it was.
func (a *App) apply(cfg *Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv == nil {
		a.cfg = cfg
		return nil
	}
	old := a.cfg
	up := a.up
	var undo []func()
	fail := func(err error) error {
		for _, f := range undo {
			f()
		}
		return err
	}
	if !reflect.DeepEqual(old.DNS, cfg.DNS) || old.Proxy.ConnectTimeout != cfg.Proxy.ConnectTimeout {
		u, err := newUpstream(cfg)
		if err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		up = u
		undo = append(undo, u.close)
	}
	rt := a.router
	if up != a.up || routingChanged(old, cfg) {
		// Built, not started: nothing to undo until it is swapped in.
		r, err := a.newRouter(cfg, up)
		if err != nil {
			return fail(err)
		}
		rt = r
	}
	insp := a.insp
	if inspectorChanged(old, cfg, up != a.up) {
		n, err := a.newInspector(cfg, up)
		if err != nil {
			return fail(err)
		}
		insp = n
		if n != nil {
			undo = append(undo, func() { n.Close() })
		}
	}
	var ln net.Listener
	if cfg.Proxy.Listen != old.Proxy.Listen || a.ln == nil {
		l, err := listen(cfg.Proxy.Listen, cfg.Source(KeyListen))
		if err != nil {
			return fail(err)
		}
		ln = l
		undo = append(undo, func() { l.Close() })
	}
	dir, err := LogDirOf(cfg)
	if err != nil {
		return fail(err)
	}
	ch := a.cache
	if !reflect.DeepEqual(old.Cache, cfg.Cache) {
		c, err := a.openCache(cfg)
		if err != nil {
			return fail(err)
		}
		ch = c
		if c != nil {
			undo = append(undo, func() { c.Close() })
		}
	}
	// Update checks the whole config before it changes anything, so it is
	// the last step that may fail and the first that takes effect.
	pc := a.withInspector(a.proxyConfig(cfg, up, rt), cfg, insp)
	pc.Cache = ch
	if err := a.srv.Update(pc); err != nil {
		return fail(err)
	}

	a.cfg = cfg
	if insp != a.insp {
		if a.insp != nil {
			a.insp.Close() // its exchanges in flight finish
		}
		a.insp = insp
	}
	a.applyDashboard(cfg)
	if ch != a.cache {
		// Requests that picked up the old config finish with the old
		// cache; it only waits for its disk writes.
		if prev := a.cache; prev != nil {
			go prev.Close()
		}
		a.cache = ch
		a.liveCache.Store(ch)
	}
	if up != a.up {
		a.up.retire()
		a.up = up
	}
	if rt != a.router {
		// Requests already routed by the old one keep their decision;
		// its health checks stop, and the new one starts from its
		// upstreams' last known health.
		rt.Inherit(a.router)
		a.router.Close()
		a.router = rt
		rt.Start()
	}
	if ln != nil {
		prev := a.ln
		a.ln, a.listenErr = ln, nil
		a.serve(ln)
		if prev != nil {
			prev.Close()
		}
		a.log.Info("listening", "addr", ln.Addr().String())
	}
	if err := a.logs.Reconfigure(logConfig(cfg, dir, a.opts.Stderr)); err != nil {
		a.log.Warn("some [log] changes take effect on restart", "err", err)
	}
	return nil
}
