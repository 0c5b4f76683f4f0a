//go:build linux

// Command loadbench is Sluice's load-test harness: one run measures direct,
// Sluice and the peer proxies under the same loads and prints one table
// (see bench/README.md). "loadbench sink", "loadbench refproxy" and
// "loadbench relay" are the helper servers the harness starts as its own
// children.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/bench/harness"
	"github.com/sluiceproxy/sluice/bench/refproxy"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sink", "refproxy", "relay":
			if err := serveHelper(os.Args[1], os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "loadbench:", err)
				os.Exit(1)
			}
			return
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "parents" {
		if err := runParents(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench parents:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

func serveHelper(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	to := fs.String("to", "", "relay: the address to relay to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	switch name {
	case "sink":
		return harness.ServeSink(ln)
	case "relay":
		if *to == "" {
			return fmt.Errorf("relay: -to is required")
		}
		return harness.ServeRelay(ln, *to)
	}
	return refproxy.Serve(ln)
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	var o harness.Options
	quick := fs.Bool("quick", false, "one round of 2s runs with 1s warmups (about 3 minutes)")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds; figures are medians over them")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measured wrk run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "length of the unmeasured wrk run before each measured one")
	targets := fs.String("targets", "", "comma-separated columns to measure (default all: "+strings.Join(harness.AllTargets(), ",")+")")
	fs.StringVar(&o.SluiceBin, "sluice", "bin/sluice", "the Sluice binary")
	fs.StringVar(&o.SlowLogFile, "slowlog-file", "access.log", "access log file name inside Sluice's log dir (made a slow pipe for sluice-slowlog)")
	fs.BoolVar(&o.NoInstall, "no-install", false, "do not apt-get install missing tools")
	fs.StringVar(&o.ProfileDir, "profile", "", "record perf CPU profiles of Sluice under the 64- and 1000-connection loads into this dir")
	bigMB := fs.Int64("big-mb", 1024, "size of the large body in MiB")
	out := fs.String("out", "bench/results/latest.md", "also write the report here (empty: don't)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		o.Rounds, o.Duration, o.Warmup = 1, 2*time.Second, time.Second
	}
	o.BigSize = *bigMB << 20
	if *targets != "" {
		o.Targets = strings.Split(*targets, ",")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the harness installs packages and runs nginx and squid with their own configs (sudo make bench)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := harness.Run(ctx, o)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(*out), err)
		}
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	fmt.Fprintln(os.Stdout)
	res.Report(w)
	return nil
}

// runParents runs the upstream-proxy stage alone (harness.RunParents):
// Sluice in front of squid and microsocks against each of them directly.
func runParents(args []string) error {
	fs := flag.NewFlagSet("loadbench parents", flag.ContinueOnError)
	var o harness.ParentOptions
	quick := fs.Bool("quick", false, "one round of 2s runs with 1s warmups and a 256 MiB body")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds; figures are medians over them")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measured wrk run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "length of the unmeasured wrk run before each measured one")
	fs.BoolVar(&o.NoInstall, "no-install", false, "do not apt-get install missing tools")
	fs.StringVar(&o.SluiceBin, "sluice", "bin/sluice", "the Sluice binary, for the binary columns (left out when missing)")
	bigMB := fs.Int64("big-mb", 1024, "size of the large body in MiB")
	out := fs.String("out", "bench/results/parents.md", "also write the report here (empty: don't)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.BigSize = *bigMB << 20
	if *quick {
		o.Rounds, o.Duration, o.Warmup, o.BigSize = 1, 2*time.Second, time.Second, 256<<20
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the harness runs nginx and squid with their own configs")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := harness.RunParents(ctx, o)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(*out), err)
		}
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	fmt.Fprintln(os.Stdout)
	res.Report(w)
	return nil
}
