package app

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

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
// gets a *RunningError: print it and exit with its ExitCode), then runs
// the lifecycle Run does with the tray as its front. A listener that
// fails, such as a port in use, does not end it while the tray shows the
// error: a fixed config.toml rebinds. Without a tray host (no D-Bus
// session bus or no StatusNotifierWatcher) it logs one warning and goes
// on as Run would, ending with the listen error if there is one.
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
	recordTray := func(t TrayState) {
		if err := inst.SetTray(t); err != nil {
			a.log.Warn("update the instance lock file", "err", err)
		}
	}
	return a.run(ctx, runFront{
		keepListenErr: true,
		reloaded:      recordAddr,
		show: func(done <-chan struct{}) error {
			ctrl, err := newTrayController(a, recordAddr)
			if err != nil {
				return err
			}
			followCtx, stopFollow := context.WithCancel(ctx)
			defer stopFollow()
			ctrl.mgr.Follow(followCtx, sysProxyPoll, func() { ctrl.proxyOn.Store(ctrl.readSystemProxy()) })
			err = tray.Run(ctrl, tray.Options{
				Done: done, HostWait: trayHostWait, Logger: a.log, Dashboard: a.DashboardURL,
				Shown: func() { recordTray(TrayShown) },
			})
			if !errors.Is(err, tray.ErrNoHost) {
				if err != nil {
					a.log.Error("tray failed; stopping", "err", err)
				}
				return err
			}
			recordTray(TrayNone)
			if err := a.ListenErr(); err != nil {
				// No menu to show the error in: end as a headless run does.
				return err
			}
			a.log.Warn("no system tray here; running without one, the proxy works the same (quit with Ctrl-C or SIGTERM)", "reason", err)
			a.printListening(", without a tray")
			return nil
		},
	})
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
		Alert:          strings.Join(c.a.alerts.Active(), " · "),
	}
	for _, u := range s.Upstreams {
		if u.State == "down" {
			t.UpstreamsDown = append(t.UpstreamsDown, u.Name)
		}
	}
	if s.DNS != nil {
		// A cached "no such name" is a cache hit as much as an address.
		t.DNSHits = s.DNS.Hits + s.DNS.NegativeHits
		t.DNSMisses = s.DNS.Misses
	}
	if s.Cache != nil {
		t.CacheHits, t.CacheMisses, t.CacheSaved = s.Cache.Hits+s.Cache.Collapsed, s.Cache.Misses, s.Cache.BytesSaved
	}
	return t
}

func (c *trayController) SystemProxyPointsAtSluice() bool { return c.proxyOn.Load() }

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
	t, err := SystemProxyTargetFor(c.a.Config(), c.a.ListenAddr())
	if err != nil {
		return false
	}
	st, err := c.mgr.Status(t)
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

func (c *trayController) Routing() tray.Routing {
	mode, hasGlobal := c.a.RouteMode()
	r := tray.Routing{Configured: c.a.RoutingConfigured(), Mode: mode, HasGlobal: hasGlobal}
	for _, g := range c.a.SelectGroups() {
		r.Groups = append(r.Groups, tray.SelectGroup{Name: g.Name, Members: g.Members, Selected: g.Selected})
	}
	return r
}

func (c *trayController) SetMode(mode string) error { return c.a.SetRouteMode(mode) }

func (c *trayController) Select(group, member string) error { return c.a.Select(group, member) }
