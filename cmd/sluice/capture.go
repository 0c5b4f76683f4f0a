package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluiceproxy/sluice/inspect"
)

// cmdCapture implements `sluice capture --har FILE`: the running instance
// writes the exchanges into a file in its state dir as they finish
// (POST /capture/start), and this command ends the capture after
// --duration or on Ctrl-C (POST /capture/stop) and moves the file to
// FILE. Nothing is held in the instance's memory but a short queue.
func cmdCapture(args []string) error {
	fs := newFlags("capture")
	har := fs.String("har", "", "the HAR file to write (required)")
	host := fs.String("host", "", "only hosts matching this pattern (api.example.com, *.example.org)")
	dur := fs.Duration("duration", 0, "stop after this long (default: on Ctrl-C, at most 24h)")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *har == "" {
		return errors.New("capture: --har FILE is required")
	}
	if *dur < 0 || *dur > inspect.MaxCaptureDuration {
		return fmt.Errorf("capture: --duration %v is not from 0 to %v", *dur, inspect.MaxCaptureDuration)
	}
	if *host != "" {
		if err := inspect.CheckPattern(*host); err != nil {
			return fmt.Errorf("capture: --host: %w", err)
		}
	}
	out, err := filepath.Abs(*har)
	if err != nil {
		return err
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen")
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(statsURL(cfg.Proxy.Listen), "/stats")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runCapture(ctx, base, out, *host, *dur)
}

// runCapture captures through the instance at base ("http://host:port")
// into out until d passes (0: no limit) or ctx ends.
func runCapture(ctx context.Context, base, out, host string, d time.Duration) error {
	info, err := capturePost(base+"/capture/start", url.Values{"host": {host}, "duration": {d.String()}})
	if err != nil {
		return err
	}
	what := "every host"
	if host != "" {
		what = host
	}
	until := "Ctrl-C"
	if d > 0 {
		until = d.String() + " or Ctrl-C"
	}
	fmt.Fprintf(os.Stderr, "capturing exchanges with %s until %s\n", what, until)
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
	case <-timeout:
	}
	info, err = capturePost(base+"/capture/stop", url.Values{"id": {info.ID}})
	if err != nil {
		return err
	}
	if err := moveFile(info.Path, out); err != nil {
		return fmt.Errorf("the capture is in %s: %w", info.Path, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %d exchanges to %s", info.Entries, out)
	if info.Dropped > 0 {
		fmt.Fprintf(os.Stderr, " (%d dropped: the disk fell behind)", info.Dropped)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// capturePost calls a capture endpoint of the running instance.
func capturePost(u string, v url.Values) (inspect.CaptureInfo, error) {
	var info inspect.CaptureInfo
	// In the query: the proxy's local endpoints take no request body.
	req, err := http.NewRequest(http.MethodPost, u+"?"+v.Encode(), nil)
	if err != nil {
		return info, err
	}
	req.Header.Set("X-Sluice-Capture", "1")
	// Never through a proxy: the endpoint answers loopback clients only.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return info, fmt.Errorf("no Sluice answers at %s (is it running? start it with `sluice run`, or pass the --config it runs with): %w",
			strings.TrimPrefix(u, "http://"), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.HasSuffix(u, "/start"):
		return info, errors.New("the running Sluice does not capture: set [inspect] enabled = true in config.toml (it reloads by itself)")
	case resp.StatusCode != http.StatusOK:
		return info, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return info, fmt.Errorf("read the answer of %s: %w", u, err)
	}
	return info, nil
}

// moveFile moves src to dst, copying when they are on different file
// systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	in.Close()
	return os.Remove(src)
}
