package app

import (
	"fmt"
	"reflect"
)

// Reload re-reads the config file and applies it without dropping
// established connections: a new listen address is bound before the old
// listener closes (connections it accepted keep running), and pool,
// limits, DNS and log settings apply to work that starts afterwards. An
// invalid file changes nothing: the running config stays, and the error is
// kept for ConfigError (the tray shows it) and logged.
func (a *App) Reload() error {
	cfg, err := a.loadConfig()
	prevAddr := a.ListenAddr()
	if err == nil {
		err = a.apply(cfg)
	}
	if err == nil && a.ListenAddr() != prevAddr && a.SystemProxyOn() {
		// The system proxy follows the new port.
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
	a.log.Info("config reloaded", "config", a.opts.ConfigPath)
	return nil
}

// apply switches the running app to cfg.
func (a *App) apply(cfg *Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv == nil {
		a.cfg = cfg
		return nil
	}
	old := a.cfg
	if !reflect.DeepEqual(old.DNS, cfg.DNS) || old.Proxy.ConnectTimeout != cfg.Proxy.ConnectTimeout {
		dial, dns, err := newDialer(cfg)
		if err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		if a.dns != nil {
			// In-flight dials hold their own reference; the old cache
			// only stops refreshing.
			a.dns.Close()
		}
		a.dial, a.dns = dial, dns
	}
	if cfg.Proxy.Listen != old.Proxy.Listen || a.ln == nil {
		ln, err := listen(cfg.Proxy.Listen, cfg.sources["proxy.listen"])
		if err != nil {
			return err
		}
		prev := a.ln
		a.ln, a.listenErr = ln, nil
		a.serve(ln)
		if prev != nil {
			prev.Close()
		}
		a.log.Info("listening", "addr", ln.Addr().String())
	}
	dir, err := LogDirOf(cfg)
	if err != nil {
		return err
	}
	if err := a.logs.Reconfigure(logConfig(cfg, dir, a.opts.Stderr)); err != nil {
		a.log.Warn("some [log] changes take effect on restart", "err", err)
	}
	if err := a.srv.Update(a.proxyConfig(cfg)); err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}
