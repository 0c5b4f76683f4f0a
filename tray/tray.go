package tray

import (
	"errors"
	"log/slog"
	"time"
)

// Controller is what the tray needs from the running app. Every method is
// called from the tray's own goroutine, once per refresh or click, so the
// getters must be cheap and the actions may block for as long as they take.
type Controller interface {
	// ListenAddr is the address the proxy listens on, e.g.
	// "127.0.0.1:8877".
	ListenAddr() string
	// ListenErr is why the proxy is not listening (e.g. the port is in
	// use), or nil.
	ListenErr() error
	// Stats returns the live numbers for the menu.
	Stats() Stats
	// SystemProxyPointsAtSluice reports whether the OS proxy settings point at Sluice
	// now, whoever changed them last.
	SystemProxyPointsAtSluice() bool
	// SetSystemProxy points the OS proxy at Sluice, or restores what was
	// there before.
	SetSystemProxy(on bool) error
	// Reload re-reads config.toml and applies it.
	Reload() error
	// ConfigError is the last config problem (the file as it is now does
	// not load), or nil; the running config is the last good one.
	ConfigError() error
	// ConfigPath is the config file the app reads.
	ConfigPath() string
	// LogDir is the directory holding the log files.
	LogDir() string
	// Quit shuts the app down: restores the system proxy, drains the
	// logs, stops the proxy. Run returns after it does.
	Quit()
	// Routing is what the Mode menu and the select groups' menus show.
	Routing() Routing
	// SetMode switches the routing mode: "rules", "global" or "direct".
	SetMode(mode string) error
	// Select makes member the choice of the select group named group.
	Select(group, member string) error
}

// Options tunes Run. The zero value is ready to use.
type Options struct {
	// Autostart is the "Start at login" switch. If nil, NewAutostart for
	// the running executable is used.
	Autostart Autostart
	// Open opens a file or folder with the desktop's default application.
	// If nil, OpenPath is used.
	Open func(path string) error
	// Interval is how often the menu re-reads the controller while it is
	// open. If zero, one second, as the live stats are per-second rates.
	Interval time.Duration
	// IdleInterval is how often it does so while the menu is closed, for
	// the icon, the tooltip and where the host does not say when the
	// menu opens. If zero, five seconds: an idle tray app should not
	// wake every second for a menu nobody looks at.
	IdleInterval time.Duration
	// HostWait is how long Run waits for a tray host to appear on the
	// session bus before giving up with ErrNoHost (sooner if Done is
	// closed). It covers logging in, when Sluice may start before the
	// panel does. Zero means do not wait. Only Linux and the BSDs need a
	// host.
	HostWait time.Duration
	// Done, when closed, makes Run return: the app is stopping for a
	// reason of its own (a signal). If nil, only the Quit item ends Run.
	Done <-chan struct{}
	// Dashboard returns the dashboard's URL for the "Open dashboard"
	// item (opened with Open), or "" to hide the item. Nil hides it.
	Dashboard func() string
	// Shown, if not nil, is called once the tray host is found, as the
	// icon goes up (the app records that it has a tray).
	Shown func()
	// Logger receives failed clicks. If nil, slog.Default() is used.
	Logger *slog.Logger
}

// ErrNoHost means there is nothing to show a tray icon: no D-Bus session
// bus, or no StatusNotifierWatcher on it. The caller should keep the
// proxy running without a tray.
var ErrNoHost = errors.New("no system tray host")

// Run shows the tray icon and menu and blocks until the user picks Quit
// (after ctrl.Quit returns) or opts.Done is closed. It returns an error
// wrapping ErrNoHost, without showing anything, when there is no tray
// host. On macOS it must be called from the main goroutine. Run may be
// called only once per process.
func Run(ctrl Controller, opts Options) error {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.IdleInterval <= 0 {
		opts.IdleInterval = 5 * time.Second
	}
	if opts.Open == nil {
		opts.Open = OpenPath
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Autostart == nil {
		a, err := defaultAutostart()
		if err != nil {
			return err
		}
		opts.Autostart = a
	}
	if err := checkHost(opts.HostWait, opts.Done); err != nil {
		return err
	}
	if opts.Shown != nil {
		opts.Shown()
	}
	return runSystray(ctrl, opts)
}
