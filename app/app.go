package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/sluiceproxy/sluice/alert"
	"github.com/sluiceproxy/sluice/app/logs"
	"github.com/sluiceproxy/sluice/cache"
	"github.com/sluiceproxy/sluice/inspect"
	"github.com/sluiceproxy/sluice/proxy"
	"github.com/sluiceproxy/sluice/proxy/stats"
	"github.com/sluiceproxy/sluice/route"
	"github.com/sluiceproxy/sluice/ui"
)

// Version and Commit are set at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = "none"
)

// Options are the command-line choices for one run.
type Options struct {
	// ConfigPath is the config file; "" means ConfigPath().
	ConfigPath string
	// Listen overrides [proxy] listen when not empty.
	Listen string
	// Headless runs without the tray.
	Headless bool
	// SystemProxy points the system proxy at Sluice while it runs.
	SystemProxy bool
	// Stderr receives the app log too when not nil (headless runs).
	Stderr io.Writer
}

// App is one running Sluice: config, logs, proxy and their lifecycle.
type App struct {
	opts  Options
	log   *slog.Logger
	logs  *logs.Logs
	stats *stats.Collector

	mu        sync.Mutex
	cfg       *Config            // the config in force; guarded by mu
	cfgErr    error              // the last reload's error; guarded by mu
	srv       *proxy.Server      // guarded by mu
	ln        net.Listener       // guarded by mu
	listenErr error              // guarded by mu
	up        *upstream          // the dialer and resolver in use; guarded by mu
	insp      *inspect.Inspector // nil while [inspect] is off; guarded by mu
	router    *route.Router      // the routing in use; guarded by mu
	cache     *cache.Cache       // the response cache, nil when off; guarded by mu
	// captures runs `sluice capture` HAR captures (idle until one starts).
	captures *inspect.Captures
	// serveErr receives Serve's error when the current listener fails
	// (not when a reload closes a replaced one).
	serveErr chan error

	stopTrim context.CancelFunc // ends trimAfterBursts and runAlerts; set by Start

	feed   *ui.Feed       // the dashboard's records and page
	alerts *alert.Watcher // [alerts]
	// live is srv for setHeads and the inspector's dials, which cannot
	// take mu; liveCache is cache for the inspector, which asks per
	// request.
	live      atomic.Pointer[proxy.Server]
	liveCache atomic.Pointer[cache.Cache]
	// dashHeads and captureHeads say who wants the request and response
	// heads in access records: an open dashboard page, a running HAR
	// capture (see setHeads).
	dashHeads, captureHeads atomic.Bool
	headsMu                 sync.Mutex // serializes setHeads

	quit     chan struct{} // closed by Quit
	quitOnce sync.Once
}

// New loads the config and prepares an App. Nothing listens yet.
func New(opts Options) (*App, error) {
	if opts.ConfigPath == "" {
		p, err := ConfigPath()
		if err != nil {
			return nil, err
		}
		opts.ConfigPath = p
	}
	a := &App{opts: opts, stats: stats.New(), quit: make(chan struct{}), serveErr: make(chan error, 1)}
	_, statErr := os.Stat(opts.ConfigPath)
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	a.cfg = cfg
	dir, err := LogDirOf(cfg)
	if err != nil {
		return nil, err
	}
	lg, err := logs.New(logConfig(cfg, dir, opts.Stderr))
	if err != nil {
		return nil, fmt.Errorf("open logs in %s: %w (set [log] dir in config.toml)", dir, err)
	}
	a.logs, a.log = lg, lg.App()
	capDir, _ := captureDir() // "" fails the first capture, with the reason
	a.captures = inspect.NewCaptures(capDir, Version, cfg.Inspect.CaptureBodyMax)
	a.captures.OnRunning(func(on bool) { a.setHeads(false, on) })
	a.stats.SetDroppedFunc(lg.Dropped)
	a.newDashboard(cfg)
	if errors.Is(statErr, os.ErrNotExist) {
		// LoadConfig wrote it: say where, once, so the user can find it
		// (the app log reaches the terminal too).
		a.log.Info("wrote the default config", "path", opts.ConfigPath)
	}
	return a, nil
}

// LogDirOf returns [log] dir, or the OS default when it is empty.
func LogDirOf(cfg *Config) (string, error) {
	if cfg.Log.Dir != "" {
		return cfg.Log.Dir, nil
	}
	return DefaultLogDir()
}

// logConfig maps [log] onto logs.Config.
func logConfig(cfg *Config, dir string, stderr io.Writer) logs.Config {
	l := &cfg.Log
	return logs.Config{
		Dir: dir, Level: parseLevel(l.Level), Format: l.Format, AccessLog: l.AccessLog,
		MaxSizeMB: l.MaxSizeMB, MaxBackups: l.MaxBackups, MaxAgeDays: l.MaxAgeDays,
		Compress: l.Compress, Stderr: stderr,
	}
}

// LogDir returns the directory the logs are written to.
func (a *App) LogDir() string { return a.logs.Dir() }

// loadConfig reads the config file and applies the flag overrides
// (flag > env > file > default).
func (a *App) loadConfig() (*Config, error) {
	cfg, err := LoadConfig(a.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if a.opts.Listen != "" {
		if err := cfg.Set(KeyListen, a.opts.Listen, "flag --listen"); err != nil {
			return nil, err
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Config returns the config in force.
func (a *App) Config() *Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Logger returns the app log.
func (a *App) Logger() *slog.Logger { return a.log }

// Stats returns a snapshot of the live counters.
func (a *App) Stats() stats.Snapshot { return a.stats.Snapshot() }

// ConfigPath returns the config file this App reads.
func (a *App) ConfigPath() string { return a.opts.ConfigPath }

// ConfigError returns the last reload's error, or nil.
func (a *App) ConfigError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfgErr
}

// ListenAddr returns the address the proxy listens on.
func (a *App) ListenAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln != nil {
		return a.ln.Addr().String()
	}
	return a.cfg.Proxy.Listen
}

// ListenErr returns why the proxy is not listening, or nil.
func (a *App) ListenErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.listenErr
}

// proxyConfig maps the [proxy] section onto the engine's Config, dialing
// through up and routing by rt (nil: everything direct).
func (a *App) proxyConfig(cfg *Config, up *upstream, rt *route.Router) proxy.Config {
	p := &cfg.Proxy
	pc := proxy.Config{
		Listen:                p.Listen,
		ConnectPorts:          p.ConnectPorts,
		NoSOCKS:               !p.SOCKS,
		NoVia:                 !p.Via,
		MaxIdlePerHost:        p.PoolMaxIdlePerHost,
		NoPool:                p.PoolMaxIdlePerHost == 0,
		IdleConnTimeout:       p.PoolIdleTimeout.Duration,
		ConnectTimeout:        p.ConnectTimeout.Duration,
		ResponseHeaderTimeout: p.ResponseHeaderTimeout.Duration,
		MaxHeaderBytes:        p.MaxHeaderBytes,
		MaxConcurrent:         p.MaxConcurrent,
		MaxBodyBytes:          p.MaxBodyBytes,
		ReadHeaderTimeout:     p.ReadHeaderTimeout.Duration,
		ClientIdleTimeout:     p.ClientIdleTimeout.Duration,
		TunnelIdleTimeout:     p.TunnelIdleTimeout.Duration,
		BodyTimeout:           p.BodyTimeout.Duration,
		LogQuery:              cfg.Log.LogQuery,
		Dial:                  up.Dial,
		Resolve:               up.Resolve,
		Stats:                 a.stats,
		Access:                a.accessSink(cfg),
		Clients:               clientPolicy(&cfg.Access),
		Cache:                 a.cache,
		Local:                 a.localHandler(cfg, rt),
		Logger:                a.log,
	}
	// A routing that sends everything direct costs the relay nothing.
	if rt != nil && !rt.AlwaysDirect() {
		pc.Router = rt
	}
	return pc
}

// clientPolicy maps the [access] section onto the engine's ClientPolicy.
func clientPolicy(a *AccessConfig) proxy.ClientPolicy {
	allow := make([]netip.Prefix, len(a.Allow))
	for i, p := range a.Allow {
		allow[i] = p.Prefix
	}
	return proxy.ClientPolicy{Allow: allow, Users: a.Users, RateLimit: a.RateLimit}
}

// localHandler serves the endpoints on the proxy port besides /healthz.
func (a *App) localHandler(cfg *Config, rt *route.Router) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /stats", stats.Handler(a.stats))
	if cfg.Inspect.Enabled {
		mux.Handle("/capture/", a.captures.Handler())
	}
	mux.HandleFunc("GET /cache", a.serveCache)
	mux.HandleFunc("DELETE /cache", a.serveCache)
	if cfg.Metrics.Enabled {
		mux.Handle("GET /metrics", stats.MetricsHandler(a.stats))
	}
	if rt != nil {
		mux.Handle("GET /proxy.pac", a.pacHandler(rt))
		mux.Handle("GET /route", routeTestHandler(rt))
	}
	if cfg.UI.Enabled {
		dash := a.feed.Handler()
		mux.Handle("/ui", dash)
		mux.Handle("/ui/", dash)
	}
	return mux
}

// Start listens and serves. A listen failure is returned and also kept
// for ListenErr (the tray shows it).
func (a *App) Start() error {
	// Before anything else: a crashed run may have left every program
	// pointing at a dead port.
	a.restoreLeftoverSystemProxy()
	if err := a.start(); err != nil {
		return err
	}
	if cfg := a.Config(); a.opts.SystemProxy || cfg.SysProxy.EnableOnStart {
		if err := a.SetSystemProxy(true); err != nil {
			return fmt.Errorf("switch the system proxy on: %w", err)
		}
		a.log.Info("system proxy points at Sluice", "addr", a.ListenAddr())
	}
	return nil
}

func (a *App) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	up, err := newUpstream(a.cfg)
	if err != nil {
		return err
	}
	a.up = up
	a.stats.SetDNSFunc(a.dnsFigures)
	if a.cache, err = a.openCache(a.cfg); err != nil {
		return err
	}
	a.liveCache.Store(a.cache)
	a.stats.SetCacheFunc(a.cacheFigures)
	rt, err := a.newRouter(a.cfg, up)
	if err != nil {
		return err
	}
	insp, err := a.newInspector(a.cfg, up)
	if err != nil {
		return err
	}
	srv, err := proxy.New(a.withInspector(a.proxyConfig(a.cfg, up, rt), a.cfg, insp))
	if err != nil {
		if insp != nil {
			insp.Close()
		}
		return err
	}
	a.srv, a.insp, a.router = srv, insp, rt
	rt.Start()
	a.stats.SetRouteFunc(a.routeFigures)
	srv.CaptureHeads(a.wantHeads())
	a.live.Store(srv)
	a.stats.SetPoolIdleFunc(srv.IdleUpstreamConns)
	ln, err := listen(a.cfg.Proxy.Listen, a.cfg.Source(KeyListen))
	if err != nil {
		a.listenErr = err
		return err
	}
	a.ln, a.listenErr = ln, nil
	a.serve(ln)
	tuneGC()
	trimCtx, stopTrim := context.WithCancel(context.Background())
	a.stopTrim = stopTrim
	go a.trimAfterBursts(trimCtx)
	go a.runAlerts(trimCtx)
	a.log.Info("listening", "addr", ln.Addr().String(), "config", a.opts.ConfigPath, "version", Version)
	return nil
}

// serve runs the proxy on ln in the background; mu is held. A listener
// that a reload replaced ends quietly; the current one failing ends Run.
func (a *App) serve(ln net.Listener) {
	srv := a.srv
	go func() {
		err := srv.Serve(ln)
		a.mu.Lock()
		current := a.ln == ln
		a.mu.Unlock()
		if current {
			select {
			case a.serveErr <- err:
			default:
			}
		}
	}()
}

// dnsFigures reports the current resolver's figures to the snapshot.
func (a *App) dnsFigures() stats.DNSStats {
	a.mu.Lock()
	r := a.up.dns
	a.mu.Unlock()
	if r == nil {
		return stats.DNSStats{}
	}
	return dnsStats(r)
}

// listen opens addr, turning "address in use" into advice that names the
// setting to change.
func listen(addr, source string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	where := "set [proxy] listen in config.toml or pass --listen"
	if source != "" {
		where = "it came from " + source + "; choose another"
	}
	if addrInUse(err) {
		return nil, fmt.Errorf("%s is in use (is Sluice already running?): %s", addr, where)
	}
	return nil, fmt.Errorf("listen on %s: %w (%s)", addr, err, where)
}

// Stop stops accepting, lets in-flight requests finish for up to the
// configured grace period (or until ctx ends), and releases everything.
func (a *App) Stop(ctx context.Context) error {
	// The system proxy goes back first, so programs stop sending new
	// requests to a proxy that is about to close.
	if m, err := a.sysManager(); err == nil && m.IsOn() && m.Owner() == os.Getpid() {
		if err := m.Off(); err != nil {
			a.log.Error("restore the system proxy (run: sluice sysproxy restore)", "err", err)
		}
	}
	a.mu.Lock()
	srv, grace, insp := a.srv, a.cfg.Proxy.ShutdownGrace.Duration, a.insp
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	a.captures.Close()
	if insp != nil {
		insp.Close() // idle inspected connections end now, not at the grace's end
	}
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if a.stopTrim != nil {
		a.stopTrim()
	}
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown grace period over; closed the remaining connections", "grace", grace)
		err = nil
	}
	a.mu.Lock()
	a.up.close()
	a.router.Close()
	ch := a.cache
	a.mu.Unlock()
	if ch != nil {
		ch.Close() // the disk writes under way finish
	}
	return err
}

// Quit asks Run to stop, as a signal would.
func (a *App) Quit() { a.quitOnce.Do(func() { close(a.quit) }) }

// Run starts the app and serves until ctx ends (a signal) or Quit, then
// stops gracefully. A listen failure, such as a port in use, ends it at
// once with that error.
func (a *App) Run(ctx context.Context) error {
	return a.run(ctx, runFront{})
}

// runFront is what a run shows besides the proxy: nothing (headless) or
// the tray.
type runFront struct {
	// keepListenErr keeps the app up when the listener cannot open, for a
	// front that shows the error and rebinds on a fixed config.
	keepListenErr bool
	// reloaded runs after each reload the config watcher makes; nil means
	// nothing to do.
	reloaded func()
	// show runs the front until done is closed or it fails; nil means
	// print the listen address and wait.
	show func(done <-chan struct{}) error
}

// run is the one lifecycle of headless and tray runs: start, watch the
// config, serve until ctx ends, Quit or the listener fails under us (that
// ends the app rather than leave a dead proxy behind a normal-looking
// icon), then stop: the system proxy goes back and the proxy drains (see
// Stop), and the logs close last, so the records of the requests that
// finished during the grace period are written.
func (a *App) run(ctx context.Context, front runFront) error {
	if err := a.Start(); err != nil && !(front.keepListenErr && a.ListenErr() != nil) {
		return errors.Join(err, a.stopAll())
	}
	if front.reloaded != nil {
		front.reloaded()
	}
	if err := a.watchConfig(ctx, front.reloaded); err != nil {
		a.log.Warn("config hot reload is off; restart (or Reload config in the tray menu) to apply config changes", "err", err)
	}
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
	var frontErr error
	if front.show == nil {
		a.printListening("")
	} else if frontErr = front.show(done); frontErr != nil {
		a.Quit()
	}
	<-done
	a.log.Info("stopping")
	stopErr := a.stopAll()
	if serveErr != nil && !errors.Is(serveErr, proxy.ErrServerClosed) {
		return serveErr
	}
	return errors.Join(frontErr, stopErr)
}

// stopAll stops the proxy (restoring the system proxy first, see Stop)
// and then closes the logs.
func (a *App) stopAll() error {
	return errors.Join(a.Stop(context.Background()), a.logs.Close())
}

// Close is Stop, then the logs closed, for a caller that started the app
// with Start rather than Run (Run does both); on Windows, files still
// open cannot be removed.
func (a *App) Close() error { return a.stopAll() }

// printListening tells the user where the proxy listens and how to try it.
func (a *App) printListening(how string) {
	addr := a.ListenAddr()
	fmt.Fprintf(a.stderr(), "Sluice listening on %s%s\nTry: curl -x http://%s http://example.com/\n", addr, how, addr)
}

func (a *App) stderr() io.Writer {
	if a.opts.Stderr != nil {
		return a.opts.Stderr
	}
	return os.Stdout
}

// wantHeads reports whether anyone wants heads in access records.
func (a *App) wantHeads() bool { return a.dashHeads.Load() || a.captureHeads.Load() }

// setHeads records that the dashboard (dash) or a HAR capture wants heads
// in access records, or no longer does, and tells the live server. It
// takes no a.mu: the feed calls it under its own lock, which a reload
// takes under a.mu.
func (a *App) setHeads(dash, on bool) {
	a.headsMu.Lock()
	defer a.headsMu.Unlock()
	if dash {
		a.dashHeads.Store(on)
	} else {
		a.captureHeads.Store(on)
	}
	if s := a.live.Load(); s != nil {
		s.CaptureHeads(a.wantHeads())
	}
}
