package main

import (
	"context"
	"errors"
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

// cmdSysproxy implements `sluice sysproxy on|off|status|restore` and the
// hidden `sluice sysproxy guard --pid N` the app starts as its watchdog.
func cmdSysproxy(args []string) error {
	if len(args) == 0 {
		return errors.New("sysproxy needs one of: on, off, status, restore")
	}
	sub := args[0]
	fs := newFlags("sysproxy " + sub)
	path := fs.String("config", "", "config file (default: the user config dir)")
	pid := 0
	force := false
	switch sub {
	case "guard":
		fs.IntVar(&pid, "pid", 0, "the Sluice process to watch")
	case "restore":
		fs.BoolVar(&force, "force", false, "restore even settings changed since Sluice set them, even if a running Sluice owns them")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	dir, err := app.StateDir()
	if err != nil {
		return err
	}
	// Warnings only: what was done is printed below; what was left alone
	// and why comes from the log.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// A command run from a shell owns nothing: the setting outlives it.
	m, err := sysproxy.NewManager(sysproxy.Options{StateDir: dir, Log: log})
	if err != nil {
		return err
	}
	switch sub {
	case "on":
		cfg, err := configAt(*path)
		if err != nil {
			return err
		}
		host, port, err := app.SystemProxyTarget(cfg.Proxy.Listen)
		if err != nil {
			return err
		}
		if err := m.On(host, port, cfg.SysProxy.Bypass); err != nil {
			return err
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		fmt.Printf("system proxy points at %s (%s)\nput back what was there with: sluice sysproxy off\n", addr, strings.Join(m.Backends(), ", "))
		if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
			fmt.Printf("warning: nothing listens on %s yet, so web traffic fails until you start Sluice: sluice run --headless\n", addr)
		} else {
			c.Close()
		}
		return nil
	case "off":
		if !m.IsOn() {
			fmt.Println("system proxy: Sluice has not switched it on; nothing to do")
			return nil
		}
		if err := m.Off(); err != nil {
			return err
		}
		fmt.Println("system proxy: put back as it was before Sluice (see above for anything left alone)")
		return nil
	case "status":
		return printStatus(m, *path)
	case "restore":
		if force {
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
	case "guard":
		if pid <= 0 {
			return errors.New("sysproxy guard needs --pid N")
		}
		return watchdog(m, pid)
	}
	return fmt.Errorf("unknown sysproxy command %q (want on, off, status or restore)", sub)
}

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
	if cfg, err := configAt(path); err == nil {
		t.Host, t.Port, _ = app.SystemProxyTarget(cfg.Proxy.Listen)
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
