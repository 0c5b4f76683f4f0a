package app

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/sysproxy"
	"github.com/sluiceproxy/sluice/tray"
)

// trayHostWait is how long RunTray waits for a panel's tray to appear on
// the session bus. At login Sluice may start before the panel; the proxy
// is already serving meanwhile.
const trayHostWait = 10 * time.Second

// sysProxyPoll is how often the tray re-reads the OS proxy settings where
// it cannot be told of changes (macOS, or a desktop without a session
// bus), so that the check mark follows changes made outside Sluice. Each
// read runs the OS tools, so an idle tray app should not do it often; a
// click in the menu updates the mark at once anyway.
const sysProxyPoll = 10 * time.Second

// RunTray runs Sluice as the tray app until the user picks Quit or ctx
// ends (a signal). It claims the per-user instance lock (a second launch
// gets a *RunningError: print it and exit with its ExitCode), starts the
// proxy, watches config.toml and shows the tray icon. A listener that
// fails, such as a port in use, does not end it: the menu shows the error
// and a fixed config.toml rebinds. Without a tray host (no D-Bus session
// bus or no StatusNotifierWatcher) it logs one warning and runs headless.
// On the way out Stop restores the system proxy and drains the proxy,
// then the logs are flushed.
func (a *App) RunTray(ctx context.Context) error {
	dir, err := StateDir()
	if err != nil {
		return err
	}
	inst, err := ClaimInstance(dir)
	if err != nil {
		return err
	}
	defer inst.Release()

	if err := a.Start(); err != nil && a.ListenErr() == nil {
		return errors.Join(err, a.stopAll())
	}
	// The instance file says where /healthz answers, for a second launch
	// to ping; a reload may move the listener.
	recordAddr := func() {
		if a.ListenErr() != nil {
			return
		}
		if err := inst.SetAddr(a.ListenAddr()); err != nil {
			a.log.Warn("update the instance lock file", "err", err)
		}
	}
	recordAddr()
	if err := a.watchConfig(ctx, recordAddr); err != nil {
		a.log.Warn("config hot reload is off; use Reload config in the menu", "err", err)
	}

	// done ends the tray: a signal, Quit, or the listener failing under
	// us (as in Run, that ends the app rather than leave a dead proxy
	// behind a normal-looking icon).
	done := make(chan struct{})
	var serveErr error
	go func() {
		select {
		case <-ctx.Done():
		case <-a.quit:
		case serveErr = <-a.serveErr:
			a.log.Error("proxy stopped", "err", serveErr)
		}
		close(done)
	}()
	ctrl, err := newTrayController(a, recordAddr)
	if err != nil {
		return errors.Join(err, a.stopAll())
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	ctrl.mgr.Follow(followCtx, sysProxyPoll, func() { ctrl.proxyOn.Store(ctrl.readSystemProxy()) })

	err = tray.Run(ctrl, tray.Options{Done: done, HostWait: trayHostWait, Logger: a.log})
	stopFollow()
	switch {
	case errors.Is(err, tray.ErrNoHost):
		a.log.Warn("no system tray here; running without one, the proxy works the same (quit with Ctrl-C or SIGTERM)", "reason", err)
		fmt.Fprintf(a.stderr(), "Sluice listening on %s, without a tray\nTry: curl -x http://%s http://example.com/\n", a.ListenAddr(), a.ListenAddr())
		<-done
	case err != nil:
		a.log.Error("tray failed; stopping", "err", err)
		a.Quit()
	}
	<-done // Quit from the menu closes it too, through a.Quit
	a.log.Info("stopping")
	stopErr := a.stopAll()
	if serveErr != nil && !errors.Is(serveErr, proxy.ErrServerClosed) {
		return serveErr
	}
	return stopErr
}

// stopAll stops the proxy (restoring the system proxy first, see Stop)
// and then closes the logs, so the records of requests that finished
// during the grace period are written.
func (a *App) stopAll() error {
	return errors.Join(a.Stop(context.Background()), a.logs.Close())
}

// trayController adapts an App to tray.Controller: the tray asks in its
// own terms, the App answers in its own.
type trayController struct {
	a        *App
	reloaded func() // run after a reload from the menu
	mgr      *sysproxy.Manager
	// proxyOn is the last reading of the OS settings, taken again when
	// they change (sysproxy.Manager.Follow), as reading runs the OS tools
	// (gsettings, kreadconfig) and takes too long for the menu's refresh.
	proxyOn atomic.Bool
}

func newTrayController(a *App, reloaded func()) (*trayController, error) {
	mgr, err := a.sysManager()
	if err != nil {
		return nil, err
	}
	c := &trayController{a: a, reloaded: reloaded, mgr: mgr}
	c.proxyOn.Store(c.readSystemProxy())
	return c, nil
}

func (c *trayController) ListenAddr() string { return c.a.ListenAddr() }

func (c *trayController) ListenErr() error   { return c.a.ListenErr() }
func (c *trayController) ConfigError() error { return c.a.ConfigError() }
func (c *trayController) ConfigPath() string { return c.a.ConfigPath() }
func (c *trayController) Reload() error {
	err := c.a.Reload()
	c.reloaded()
	return err
}
func (c *trayController) Quit() { c.a.Quit() }

func (c *trayController) LogDir() string { return c.a.LogDir() }

func (c *trayController) Stats() tray.Stats {
	s := c.a.Stats()
	t := tray.Stats{
		Requests:       s.Requests,
		RequestsPerSec: s.Rate1s.Requests,
		ActiveConns:    s.ConnsActive,
		ActiveTunnels:  s.TunnelsActive,
		DownPerSec:     s.Rate1s.BytesOut,
		UpPerSec:       s.Rate1s.BytesIn,
		P50:            s.Latency.P50,
		P95:            s.Latency.P95,
		P99:            s.Latency.P99,
		UpstreamReused: s.Upstream.Reused,
		UpstreamDialed: s.Upstream.Dialed,
		ErrorsPerSec:   s.Rate1s.Errors,
	}
	if s.DNS != nil {
		// A cached "no such name" is a cache hit as much as an address.
		t.DNSHits = s.DNS.Hits + s.DNS.NegativeHits
		t.DNSMisses = s.DNS.Misses
	}
	return t
}

func (c *trayController) SystemProxyOn() bool { return c.proxyOn.Load() }

func (c *trayController) SetSystemProxy(on bool) error {
	err := c.a.SetSystemProxy(on)
	// Show the outcome at once rather than after the change notification.
	c.proxyOn.Store(c.readSystemProxy())
	return err
}

// readSystemProxy reports whether the OS settings send web traffic to
// Sluice now, in any backend Sluice switches: that is what the check mark
// shows, whoever made the change.
func (c *trayController) readSystemProxy() bool {
	host, port, err := SystemProxyTarget(c.a.ListenAddr())
	if err != nil {
		return false
	}
	st, err := c.mgr.Status(sysproxy.Target{Host: host, Port: port})
	if err != nil {
		return false
	}
	for _, b := range st {
		if b.Err == nil && b.PointsAtSluice {
			return true
		}
	}
	return false
}
