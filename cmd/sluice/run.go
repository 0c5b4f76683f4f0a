package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluiceproxy/sluice/app"
)

// cmdRun starts the proxy, with the tray unless --headless.
func cmdRun(args []string) error {
	fs := newFlags("run")
	var opts app.Options
	fs.BoolVar(&opts.Headless, "headless", false, "run without the tray")
	fs.StringVar(&opts.ConfigPath, "config", "", "config file (default: the user config dir)")
	fs.StringVar(&opts.Listen, "listen", "", "listen address HOST:PORT, overriding [proxy] listen")
	fs.BoolVar(&opts.SystemProxy, "system-proxy", false, "point the system proxy at Sluice while it runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts.Stderr = os.Stderr
	a, err := app.New(opts)
	if err != nil {
		return err
	}
	// SIGHUP too: a closed terminal or a logout must restore the system
	// proxy like any other stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if opts.Headless {
		return a.Run(ctx)
	}
	err = a.RunTray(ctx)
	var running *app.RunningError
	if errors.As(err, &running) {
		fmt.Fprintln(os.Stderr, "sluice:", running)
		return exitCode(running.ExitCode())
	}
	return err
}
