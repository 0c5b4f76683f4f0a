package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/app/logs"
)

// cmdLogs implements `sluice logs path` and `sluice logs tail [-f] [-n N]`.
func cmdLogs(args []string) error {
	if len(args) == 0 {
		return errors.New("logs needs one of: path, tail")
	}
	sub := args[0]
	fs := newFlags("logs " + sub)
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	var follow bool
	var n int
	if sub == "tail" {
		fs.BoolVar(&follow, "f", false, "keep printing records as they are written, across rotation, until interrupted")
		fs.IntVar(&n, "n", 10, "how many of the newest records to print first")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("logs %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if sub != "path" && sub != "tail" {
		return fmt.Errorf("unknown logs command %q (want path or tail)", sub)
	}
	cfg, err := configAt(*cfgPath)
	if err != nil {
		return err
	}
	dir, err := app.LogDirOf(cfg)
	if err != nil {
		return err
	}
	if sub == "path" {
		fmt.Println(dir)
		return nil
	}
	if !cfg.Log.AccessLog {
		fmt.Fprintf(os.Stderr, "sluice: note: [log] access_log is off in %s; showing older records, if any\n", cfg.Path())
	}
	path := filepath.Join(dir, logs.AccessFile)
	if _, err := os.Stat(path); err != nil && !follow {
		return fmt.Errorf("no access log at %s yet: start Sluice with [log] access_log = true and send a request through it", path)
	}
	pos, err := logs.Tail(os.Stdout, path, n)
	if err != nil || !follow {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return logs.Follow(ctx, os.Stdout, path, pos, 250*time.Millisecond)
}
