package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/proxy/stats"
)

// cmdStats implements `sluice stats [--json]`: it asks the running
// instance for its /stats snapshot.
func cmdStats(args []string) error {
	fs := newFlags("stats")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	asJSON := fs.Bool("json", false, "print the snapshot as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen")
	if err != nil {
		return err
	}
	return printStats(os.Stdout, statsURL(cfg.Proxy.Listen), *asJSON)
}

// statsURL is the /stats endpoint of a proxy listening on listen. A
// wildcard listen address is reached over loopback, the only clients the
// endpoint serves.
func statsURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = listen, ""
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/stats"
}

// printStats fetches url and prints the snapshot as JSON or as a table.
func printStats(w io.Writer, url string, asJSON bool) error {
	// Never through a proxy: the endpoint answers loopback clients only.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("no Sluice answers at %s (is it running? start it with `sluice run`, or pass the --config it runs with): %w",
			strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/stats"), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if asJSON {
		_, err := w.Write(body)
		return err
	}
	var s stats.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return fmt.Errorf("%s did not answer with Sluice stats: %w", url, err)
	}
	return writeStatsTable(w, &s)
}

// writeStatsTable prints a snapshot as a small aligned table.
func writeStatsTable(w io.Writer, s *stats.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	row("uptime\t%s", s.Time.Sub(s.Started).Round(time.Second))
	row("requests\t%d total\t%.1f/s now\t%.1f/s over 10s", s.Requests, s.Rate1s.Requests, s.Rate10s.Requests)
	row("errors\t%d total\t%.1f/s now\t%.2f%% of requests over 10s", s.Errors, s.Rate1s.Errors, 100*s.ErrorRate)
	if kinds := errorKinds(s); kinds != "" {
		row("  by kind\t%s", kinds)
	}
	row("connections\t%d open\t%d total", s.ConnsActive, s.ConnsTotal)
	row("tunnels\t%d open\t%d total", s.TunnelsActive, s.TunnelsTotal)
	row("bytes in\t%s total\t%s/s now\t%s/s over 10s", byteSize(float64(s.BytesIn)), byteSize(s.Rate1s.BytesIn), byteSize(s.Rate10s.BytesIn))
	row("bytes out\t%s total\t%s/s now\t%s/s over 10s", byteSize(float64(s.BytesOut)), byteSize(s.Rate1s.BytesOut), byteSize(s.Rate10s.BytesOut))
	latency := func(name string, l stats.Latency) {
		if l.Count == 0 {
			row("%s\t-\t-\t- (no requests in the last minute)", name)
			return
		}
		row("%s\tp50 %s\tp95 %s\tp99 %s (%d in the last minute)", name, ms(l.P50), ms(l.P95), ms(l.P99), l.Count)
	}
	latency("latency", s.Latency)
	latency("first byte", s.TTFB)
	u := s.Upstream
	row("upstream\t%.0f%% reused\t%d reused, %d new\t%d idle in the pool", 100*u.ReuseRatio, u.Reused, u.Dialed, u.PoolIdle)
	if d := s.DNS; d != nil {
		hit := 0.0
		if d.Lookups > 0 {
			hit = 100 * float64(d.Hits+d.NegativeHits+d.Stale) / float64(d.Lookups)
		}
		row("dns\t%.0f%% from cache\t%d lookups, %d entries\tquery p50 %s, p99 %s", hit, d.Lookups, d.Entries, ms(d.QueryP50), ms(d.QueryP99))
	}
	if c := s.Cache; c != nil {
		row("http cache\t%.0f%% hits\t%d objects, %s\t%s saved", 100*c.HitRatio, c.Objects, byteSize(float64(c.Bytes)), byteSize(float64(c.BytesSaved)))
	}
	row("log drops\t%d", s.LogsDropped)
	return tw.Flush()
}

// errorKinds lists the error kinds seen, as "refused 3, dns 1".
func errorKinds(s *stats.Snapshot) string {
	var parts []string
	for k := stats.ErrNone + 1; k < stats.NumErrKinds; k++ {
		if n := s.ErrorsByKind[k.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// byteSize writes n bytes in decimal units, as network rates usually are.
func byteSize(n float64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	i := 0
	for n >= unit*unit && i < 4 {
		n /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", n/unit, "kMGTP"[i])
}
