//go:build linux

// Command soak runs Sluice's soak test (make soak, bench/README.md): mixed
// load with faults through a built Sluice binary, failing on leaked
// goroutines, fds or memory and on responses delivered to the wrong
// client. It exits 1 when a check fails, 2 when the run could not be made.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/bench/soak"
)

func main() {
	pass, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !pass {
		os.Exit(1)
	}
}

// run runs the soak and reports whether every check passed.
func run(args []string) (bool, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o soak.Options
	fs.StringVar(&o.SluiceBin, "sluice", "bin/sluice", "the Sluice binary")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "length of the measured load")
	fs.DurationVar(&o.Warmup, "warmup", 0, "load before the start reading (default 20s, or a sixth of -duration if shorter)")
	fs.DurationVar(&o.Quiet, "quiet", 15*time.Second, "pause without load before each reading")
	fs.DurationVar(&o.Pace, "pace", 2*time.Millisecond, "mean pause between one worker's requests (negative: none)")
	fs.IntVar(&o.MaxEpisodes, "max-episodes", 1_000_000, "most episodes per worker and phase")
	fs.Int64Var(&o.MaxGoroutineGrowth, "max-goroutine-growth", 5, "goroutines the end reading may show above the start")
	fs.Int64Var(&o.MaxFDGrowth, "max-fd-growth", 4, "open fds the end reading may show above the start")
	rssMiB := fs.Float64("max-rss-growth-mib", 4, "MiB of RSS the end reading may show above the start")
	w := soak.DefaultWorkers
	fs.IntVar(&w.Get, "get", w.Get, "keep-alive GET workers (good and fault targets mixed)")
	fs.IntVar(&w.Pipeline, "pipeline", w.Pipeline, "pipelining workers")
	fs.IntVar(&w.Upload, "upload", w.Upload, "upload workers")
	fs.IntVar(&w.Tunnel, "tunnel", w.Tunnel, "CONNECT tunnel workers")
	fs.IntVar(&w.Bad, "bad", w.Bad, "misbehaving-client workers")
	fs.DurationVar(&o.Every, "every", 30*time.Second, "interval of progress lines")
	out := fs.String("out", "bench/results/soak.md", "also write the report here (empty: don't)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	o.Workers = w
	o.MaxRSSGrowth = int64(*rssMiB * (1 << 20))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, o)
	if err != nil {
		return false, err
	}
	var dst io.Writer = os.Stdout
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return false, err
		}
		f, err := os.Create(*out)
		if err != nil {
			return false, fmt.Errorf("write report: %w", err)
		}
		defer f.Close()
		dst = io.MultiWriter(os.Stdout, f)
	}
	fmt.Println()
	rep.Write(dst)
	return rep.Pass(), nil
}
