package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/sysproxy"
)

// watchdogInterval is how often `sysproxy guard` checks that the app is
// alive: well inside the two seconds the restore is promised in.
const watchdogInterval = 250 * time.Millisecond

// sysproxyCommands are `sluice sysproxy on|off|status|restore` and the
// hidden `sluice sysproxy guard --pid N` the app starts as its watchdog.
var sysproxyCommands = []command{
	{name: "on", args: "[--config FILE]", help: "point the system proxy at Sluice until `sysproxy off`", run: sysproxyOn},
	{name: "off", help: "put back the system proxy settings from before Sluice", run: sysproxyOff},
	{name: "status", args: "[--config FILE]", help: "what each backend's settings are and whether they point at Sluice", run: sysproxyStatus},
	{name: "restore", args: "[--force]", help: "put back settings a crashed Sluice left on", run: sysproxyRestore},
	{name: "guard", args: "--pid N", run: sysproxyGuard, hidden: true},
}

// sysproxyFlags parses the flags common to the sysproxy commands plus
// any the caller added to fs.
func sysproxyFlags(fs *flag.FlagSet, args []string) (cfgPath string, err error) {
	path := fs.String("config", "", "config file (default: the user config dir)")
	err = parseNoArgs(fs, args)
	return *path, err
}

// newSysManager returns a Manager for a command run from a shell, which
// owns nothing: the setting outlives it. Its warnings go to stderr, or,
// when notes is not nil, into notes for the command's summary line.
func newSysManager(notes *warnings) (*sysproxy.Manager, error) {
	dir, err := app.StateDir()
	if err != nil {
		return nil, err
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	if notes != nil {
		h = &warningCollector{n: notes}
	}
	return sysproxy.NewManager(sysproxy.Options{StateDir: dir, Log: slog.New(h)})
}

func sysproxyOn(args []string) error {
	path, err := sysproxyFlags(newFlags("sysproxy on"), args)
	if err != nil {
		return err
	}
	m, err := newSysManager(nil)
	if err != nil {
		return err
	}
	cfg, err := configFor(path, "[proxy] listen")
	if err != nil {
		return err
	}
	t, err := app.SystemProxyTargetFor(cfg, cfg.Proxy.Listen)
	if err != nil {
		return err
	}
	if err := m.OnTarget(t); err != nil {
		return err
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	fmt.Printf("system proxy points at %s (%s)\nput back what was there with: sluice sysproxy off\n", t, strings.Join(m.Backends(), ", "))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		fmt.Printf("warning: nothing listens on %s yet, so web traffic fails until you start Sluice: sluice run --headless\n", addr)
	} else {
		c.Close()
	}
	return nil
}

func sysproxyOff(args []string) error {
	if _, err := sysproxyFlags(newFlags("sysproxy off"), args); err != nil {
		return err
	}
	var left warnings
	m, err := newSysManager(&left)
	if err != nil {
		return err
	}
	if !m.IsOn() {
		fmt.Println("system proxy: Sluice has not switched it on; nothing to do")
		return nil
	}
	if err := m.Off(); err != nil {
		return err
	}
	fmt.Println(offSummary(left))
	return nil
}

// offSummary is the line `sysproxy off` ends with: what was put back,
// and what was left alone and why.
func offSummary(left warnings) string {
	if len(left) == 0 {
		return "system proxy: put back as it was before Sluice"
	}
	return fmt.Sprintf("system proxy: put back as it was before Sluice, except: %s", strings.Join(left, "; "))
}

func sysproxyStatus(args []string) error {
	path, err := sysproxyFlags(newFlags("sysproxy status"), args)
	if err != nil {
		return err
	}
	m, err := newSysManager(nil)
	if err != nil {
		return err
	}
	return printStatus(m, path)
}

func sysproxyRestore(args []string) error {
	fs := newFlags("sysproxy restore")
	force := fs.Bool("force", false, "restore even settings changed since Sluice set them, even if a running Sluice owns them")
	if _, err := sysproxyFlags(fs, args); err != nil {
		return err
	}
	m, err := newSysManager(nil)
	if err != nil {
		return err
	}
	if *force {
		if err := m.RestoreAnyway(); err != nil {
			return err
		}
		fmt.Println("system proxy: put back as it was before Sluice")
		return nil
	}
	restored, err := m.Restore()
	switch {
	case err != nil:
		return err
	case restored:
		fmt.Println("system proxy: put back as it was before Sluice")
	case m.IsOn():
		return fmt.Errorf("a running Sluice (pid %d) has the system proxy on: switch it off there, or run: sluice sysproxy off", m.Owner())
	default:
		fmt.Println("system proxy: nothing to restore (Sluice has not left it on)")
	}
	return nil
}

func sysproxyGuard(args []string) error {
	fs := newFlags("sysproxy guard")
	pid := fs.Int("pid", 0, "the Sluice process to watch")
	// --config is accepted (the app passes it) and not needed.
	if _, err := sysproxyFlags(fs, args); err != nil {
		return err
	}
	if *pid <= 0 {
		return errors.New("sysproxy guard needs --pid N")
	}
	m, err := newSysManager(nil)
	if err != nil {
		return err
	}
	return watchdog(m, *pid)
}

// warnings are the warnings a Manager logged, as one-line reasons.
type warnings []string

// warningCollector is a slog.Handler that keeps each warning as
// "<first attribute>: <message>" (the Manager's first attribute names
// the backend).
type warningCollector struct{ n *warnings }

func (h *warningCollector) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warningCollector) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s: ", a.Value)
		return false
	})
	b.WriteString(r.Message)
	*h.n = append(*h.n, b.String())
	return nil
}

func (h *warningCollector) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warningCollector) WithGroup(string) slog.Handler      { return h }

// watchdog waits for process pid to die and restores the system proxy if
// it left it on. Asked to stop (a logout ends every process), it makes one
// last check before exiting, in case the app went first.
func watchdog(m *sysproxy.Manager, pid int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := m.Watch(ctx, pid, watchdogInterval)
	if ctx.Err() != nil {
		_, err = m.Restore()
	}
	return err
}

// printStatus prints, per backend, the current settings and whether they
// point at Sluice.
func printStatus(m *sysproxy.Manager, path string) error {
	var t sysproxy.Target
	if cfg, err := configFor(path, "[proxy] listen"); err == nil {
		t, _ = app.SystemProxyTargetFor(cfg, cfg.Proxy.Listen)
	}
	st, err := m.Status(t)
	if err != nil {
		return err
	}
	switch owner := m.Owner(); {
	case !m.IsOn():
		fmt.Println("system proxy: Sluice has not switched it on")
	case owner == 0:
		fmt.Println("system proxy: switched on by `sluice sysproxy on`")
	default:
		fmt.Printf("system proxy: switched on by Sluice pid %d\n", owner)
	}
	fmt.Printf("state file: %s\n", m.StatePath())
	if len(st) == 0 {
		fmt.Println("no backend for this desktop: install gsettings (GNOME) or kwriteconfig5 (KDE)")
	}
	for _, s := range st {
		fmt.Println()
		if s.Err != nil {
			fmt.Printf("%s: cannot read: %v\n", s.Name, s.Err)
			continue
		}
		points := "does not point at Sluice"
		if s.PointsAtSluice {
			points = "points at Sluice"
		}
		fmt.Printf("%s: %s\n", s.Name, points)
		for _, line := range strings.Split(strings.TrimSuffix(s.Current.String(), "\n"), "\n") {
			fmt.Println("  " + line)
		}
		if s.Note != "" {
			fmt.Println("  note: " + s.Note)
		}
	}
	return nil
}
