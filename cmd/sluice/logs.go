package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/app/logs"
)

// logsCommands are `sluice logs path` and `sluice logs tail [-f] [-n N]`.
var logsCommands = []command{
	{name: "path", args: "[--config FILE]", help: "the log directory", run: logsPath},
	{name: "tail", args: "[-f] [-n N] [--config FILE]", help: "the newest access log records; -f keeps printing new ones", run: logsTail},
}

// logDir returns the log dir of the config at cfgPath, from the defaults
// when that config is invalid (configFor says so on stderr).
func logDir(cfgPath string) (*app.Config, string, error) {
	cfg, err := configFor(cfgPath, "[log] dir and access_log")
	if err != nil {
		return nil, "", err
	}
	dir, err := app.LogDirOf(cfg)
	return cfg, dir, err
}

func logsPath(args []string) error {
	fs := newFlags("logs path")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	_, dir, err := logDir(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Println(dir)
	return nil
}

func logsTail(args []string) error {
	fs := newFlags("logs tail")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	follow := fs.Bool("f", false, "keep printing records as they are written, across rotation, until interrupted")
	n := fs.Int("n", 10, "how many of the newest records to print first")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, dir, err := logDir(*cfgPath)
	if err != nil {
		return err
	}
	if !cfg.Log.AccessLog {
		fmt.Fprintf(os.Stderr, "sluice: note: [log] access_log is off in %s; showing older records, if any\n", cfg.Path())
	}
	path := filepath.Join(dir, logs.AccessFile)
	if _, err := os.Stat(path); err != nil && !*follow {
		return fmt.Errorf("no access log at %s yet: start Sluice with [log] access_log = true and send a request through it", path)
	}
	pos, err := logs.Tail(os.Stdout, path, *n)
	if err != nil || !*follow {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return logs.Follow(ctx, os.Stdout, path, pos, 250*time.Millisecond)
}
