package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/cache"
)

// cacheCommands are `sluice cache stats` and `sluice cache purge`. They
// ask the running instance through its loopback /cache endpoint. When no
// Sluice answers, they open the disk tier themselves: a purge must work
// before a start (a bad object would otherwise be served first), and
// only one process then uses the directory. The figures of a running
// cache (hits, misses) exist only in that process.
var cacheCommands = []command{
	{name: "stats", args: "[--json] [--config FILE]", help: "the response cache's objects, bytes, hit ratio and top hosts", run: cacheStats},
	{name: "purge", args: "URL | --host HOST | --all [--config FILE]", help: "drop cached objects: one URL's, a host's, or all", run: cachePurge},
}

// cacheURL is the /cache endpoint of a proxy listening on listen.
func cacheURL(listen string) string {
	return strings.TrimSuffix(statsURL(listen), "/stats") + "/cache"
}

// localClient reaches the loopback endpoints, never through a proxy.
var localClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// notRunning reports whether err means no Sluice listens there.
func notRunning(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func cacheStats(args []string) error {
	fs := newFlags("cache stats")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	asJSON := fs.Bool("json", false, "print the figures as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen and [cache]")
	if err != nil {
		return err
	}
	var s cache.Stats
	resp, err := localClient.Get(cacheURL(cfg.Proxy.Listen))
	switch {
	case notRunning(err):
		c, dir, err := openDiskTier(cfg)
		if err != nil {
			return err
		}
		s = c.Stats(true)
		c.Close()
		fmt.Fprintf(os.Stderr, "sluice: no Sluice is running at %s; these are the disk tier's objects in %s (hits are counted by a running Sluice)\n", cfg.Proxy.Listen, dir)
	case err != nil:
		return fmt.Errorf("ask %s: %w", cacheURL(cfg.Proxy.Listen), err)
	default:
		if err := readAnswer(resp, &s); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(s)
	}
	return writeCacheTable(os.Stdout, &s)
}

// readAnswer decodes a /cache answer, or returns its error text.
func readAnswer(resp *http.Response, v any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// openDiskTier opens the configured disk tier directly (no Sluice runs).
func openDiskTier(cfg *app.Config) (*cache.Cache, string, error) {
	if cfg.Cache.DiskMB == 0 {
		return nil, "", errors.New("no Sluice is running and [cache] disk_mb is 0: there is no stored cache to read")
	}
	dir, err := app.CacheDirOf(cfg)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, "", fmt.Errorf("no Sluice is running and the disk tier %s cannot be read: %w", dir, err)
	}
	c, err := cache.Open(cache.Config{Dir: dir, DiskBytes: int64(cfg.Cache.DiskMB) << 20})
	return c, dir, err
}

func writeCacheTable(w io.Writer, s *cache.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	row("objects\t%d\t%s", s.Objects, byteSize(float64(s.Bytes)))
	row("tiers\tmemory %s\tdisk %s", byteSize(float64(s.MemoryBytes)), byteSize(float64(s.DiskBytes)))
	row("hit ratio\t%.1f%%\t%d hits, %d collapsed, %d misses", 100*s.HitRatio, s.Hits, s.Collapsed, s.Misses)
	row("saved\t%s", byteSize(float64(s.BytesSaved)))
	row("revalidated\t%d\tinvalidated %d", s.Revalidated, s.Invalidations)
	for i, h := range s.TopHosts {
		name := ""
		if i == 0 {
			name = "top hosts"
		}
		row("%s\t%s\t%d objects, %s", name, h.Host, h.Objects, byteSize(float64(h.Bytes)))
	}
	return tw.Flush()
}

func cachePurge(args []string) error {
	fs := newFlags("cache purge")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	host := fs.String("host", "", "drop every object of this host (host or host:port)")
	all := fs.Bool("all", false, "drop every object")
	// The URL may come before the flags as well as after them.
	var urls []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		urls, rest = append(urls, fs.Arg(0)), fs.Args()[1:]
	}
	var target string
	switch {
	case len(urls) > 1:
		return fmt.Errorf("cache purge: one URL at a time (got %q)", urls)
	case len(urls) == 1:
		target = urls[0]
	}
	if n := btoi(target != "") + btoi(*host != "") + btoi(*all); n != 1 {
		return errors.New("cache purge: give exactly one of URL, --host HOST or --all")
	}
	q := url.Values{}
	var key string
	switch {
	case *all:
		q.Set("all", "1")
	case *host != "":
		q.Set("host", *host)
	default:
		u, err := url.Parse(target)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("cache purge: %q is not an absolute URL (http://host/path)", target)
		}
		q.Set("url", target)
		key = cache.Key(u.Scheme, u.Hostname(), u.Port(), u.RequestURI())
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen and [cache]")
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodDelete, cacheURL(cfg.Proxy.Listen)+"?"+q.Encode(), nil)
	resp, err := localClient.Do(req)
	var out struct {
		Purged int `json:"purged"`
	}
	switch {
	case notRunning(err):
		c, dir, err := openDiskTier(cfg)
		if err != nil {
			return err
		}
		out.Purged = c.Purge(*all, strings.ToLower(*host), key)
		c.Close()
		fmt.Fprintf(os.Stderr, "sluice: no Sluice is running at %s; purged the disk tier in %s\n", cfg.Proxy.Listen, dir)
	case err != nil:
		return fmt.Errorf("ask %s: %w", cacheURL(cfg.Proxy.Listen), err)
	default:
		if err := readAnswer(resp, &out); err != nil {
			return err
		}
	}
	fmt.Printf("purged %d objects\n", out.Purged)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
