package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/app"
	"github.com/sluiceproxy/sluice/proxy/stats"
)

// routeCommands are `sluice route test` and `sluice route upstreams`.
var routeCommands = []command{
	{name: "test", args: "URL|HOST:PORT [--config FILE]", help: "the rule a destination matches, its action and the upstream it would use now (asks the running Sluice, else reads the config)", run: routeTestCmd},
	{name: "upstreams", args: "[--config FILE]", help: "each upstream proxy's health, last check latency and counters, from the running Sluice", run: routeUpstreams},
}

func routeTestCmd(args []string) error {
	fs := newFlags("route test")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	// The destination may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("route test needs a destination: a URL (https://example.com/) or HOST:PORT")
	}
	target := fs.Arg(0)
	if err := parseNoArgs(fs, fs.Args()[1:]); err != nil {
		return err
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen and routing")
	if err != nil {
		return err
	}
	base := "http://" + app.LoopbackAddr(cfg.Proxy.Listen)
	d, askErr := askRoute(base, target)
	source := "the running Sluice at " + strings.TrimPrefix(base, "http://")
	if askErr != nil {
		if d, err = app.DecideFromConfig(cfg, target); err != nil {
			return err
		}
		source = cfg.Path() + " (" + askErr.Error() + "; upstream health is not known, so every upstream counts as up)"
	}
	return writeRouteTest(os.Stdout, &d, source)
}

// askRoute asks the Sluice at base how it would route target now.
func askRoute(base, target string) (app.RouteTest, error) {
	var d app.RouteTest
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(base + "/route?target=" + url.QueryEscape(target))
	if err != nil {
		return d, errors.New("no Sluice answers at " + strings.TrimPrefix(base, "http://"))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		// The destination itself is wrong: say so, do not fall back.
		return d, fmt.Errorf("%s", strings.TrimSpace(string(body)))
	case resp.StatusCode != http.StatusOK:
		return d, fmt.Errorf("the Sluice at %s answered /route with %s", strings.TrimPrefix(base, "http://"), resp.Status)
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return d, fmt.Errorf("the Sluice at %s did not answer /route with a route: %w", strings.TrimPrefix(base, "http://"), err)
	}
	return d, nil
}

// writeRouteTest prints a decision as a small table.
func writeRouteTest(w io.Writer, d *app.RouteTest, source string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	row("destination\t%s:%s", d.Host, d.Port)
	row("mode\t%s", d.Mode)
	if d.Rule > 0 {
		row("rule\t%d: %s", d.Rule, d.Match)
	} else {
		row("rule\tnone (%s)", d.Match)
	}
	row("action\t%s", d.Action)
	switch {
	case d.Block != "":
		row("result\tblocked: %s", d.Block)
	case d.Down != "":
		row("result\tevery member of group %s is down: the request would get 502", d.Down)
	case d.Group != "":
		row("result\tthrough upstream %s (group %s's pick now)", d.Upstream, d.Group)
	case d.Upstream != "":
		row("result\tthrough upstream %s", d.Upstream)
	default:
		row("result\tdirect")
	}
	row("from\t%s", source)
	return tw.Flush()
}

func routeUpstreams(args []string) error {
	fs := newFlags("route upstreams")
	cfgPath := fs.String("config", "", "config file (default: the user config dir)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := configFor(*cfgPath, "[proxy] listen")
	if err != nil {
		return err
	}
	var buf strings.Builder
	if err := printStats(&buf, statsURL(cfg.Proxy.Listen), true); err != nil {
		return err
	}
	var s stats.Snapshot
	if err := json.Unmarshal([]byte(buf.String()), &s); err != nil {
		return fmt.Errorf("%s did not answer with Sluice stats: %w", statsURL(cfg.Proxy.Listen), err)
	}
	return writeUpstreams(os.Stdout, &s)
}

// writeUpstreams prints each upstream's health and counters.
func writeUpstreams(w io.Writer, s *stats.Snapshot) error {
	if len(s.Upstreams) == 0 {
		_, err := fmt.Fprintln(w, "no upstream proxies: the running Sluice's config has no [[upstream]]")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tCHECK\tCHECKED\tREQUESTS\tERRORS\tIN\tOUT\tURL")
	for _, u := range s.Upstreams {
		check, checked := "-", "never"
		if u.CheckRTT > 0 {
			check = ms(u.CheckRTT)
		}
		if !u.LastCheck.IsZero() {
			checked = s.Time.Sub(u.LastCheck).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", u.Name, u.State, check, checked,
			u.Requests, u.Errors, byteSize(float64(u.BytesIn)), byteSize(float64(u.BytesOut)), u.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, u := range s.Upstreams {
		if u.LastError != "" {
			fmt.Fprintf(w, "%s: last check failed: %s\n", u.Name, u.LastError)
		}
	}
	return nil
}
