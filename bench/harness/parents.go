//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/proxy"
)

// The upstream-proxy stage (issue 13, "loadbench parents"): Sluice in a
// chain, in front of squid as an HTTP parent and of microsocks as a
// SOCKS5 one, against the client going to the parent directly. The
// "sluice" columns run inside the harness with a fixed Router (package
// proxy, as the app runs it): the relay through a parent alone. The
// "binary" columns run the built program on generated config files:
// rule matching (10k rules against none) and the app's wiring included.

// Chain columns: where the client goes and what is behind it.
const (
	ChainSluice           = "sluice"            // client → Sluice → origin, for reference
	ChainSquid            = "squid"             // client → squid
	ChainSluiceSquid      = "sluice→squid"      // client → Sluice → squid
	ChainMicrosocks       = "microsocks"        // client → microsocks (SOCKS5)
	ChainSluiceMicrosocks = "sluice→microsocks" // client → Sluice → microsocks

	// The Sluice binary, run on a generated config file: the chain as
	// users run it, rule matching and the app's wiring included.
	ChainBin       = "binary"            // no routing
	ChainBinRules  = "binary, 10k rules" // BinRules rules, then one that matches
	ChainBinSquid  = "binary→squid"      // [[upstream]] squid as [route] default
	ChainBinSOCKS5 = "binary, SOCKS5 in" // ChainBin's port, spoken to in SOCKS5
)

// BinRules is how many rules the ChainBinRules config has before the one
// that matches.
const BinRules = 10000

// Chain metric keys.
const (
	CRPS64  = "rps64"  // keep-alive rps at 64 conns, /64
	CP99_64 = "p99_64" // its p99, µs
	CGet    = "get"    // plain download, bytes/s
	CTunnel = "tunnel" // download through a tunnel (CONNECT or SOCKS5), bytes/s
)

// ParentOptions configure RunParents. Zero values mean the defaults of
// Options (3 rounds of 5s after 2s of warmup, 1 GiB body).
type ParentOptions struct {
	Rounds    int
	Duration  time.Duration
	Warmup    time.Duration
	BigSize   int64
	NoInstall bool
	// SluiceBin is the Sluice binary for the binary columns; empty means
	// "bin/sluice". When it is missing those columns are left out.
	SluiceBin string
	// Self is the loadbench executable, run as "Self sink".
	Self string
	Log  io.Writer
}

// ParentResults holds every sample: column → metric → one value per
// round, and the errors met.
type ParentResults struct {
	Columns []string
	Samples map[string]map[string][]float64
	Errors  []string
	Notes   []string
	Opts    Options
}

func (r *ParentResults) add(col, metric string, v float64) {
	if r.Samples[col] == nil {
		r.Samples[col] = map[string][]float64{}
	}
	r.Samples[col][metric] = append(r.Samples[col][metric], v)
}

// chain is one column: the address the client uses and how.
type chain struct {
	name string
	addr string
	// http: the client speaks HTTP proxy to addr; else SOCKS5, which
	// only the tunnel figure uses.
	http bool
}

// RunParents runs the upstream-proxy stage: interleaved rounds over the
// columns, each round a keep-alive load (wrk) and downloads of the large
// body (curl), plain and through a tunnel. A SOCKS5 column that cannot
// start (microsocks missing) is left out with a note.
func RunParents(ctx context.Context, po ParentOptions) (*ParentResults, error) {
	o := Options{Rounds: po.Rounds, Duration: po.Duration, Warmup: po.Warmup, BigSize: po.BigSize,
		NoInstall: po.NoInstall, Self: po.Self, SluiceBin: po.SluiceBin, Log: po.Log, Targets: []string{Direct}}
	if err := o.fill(); err != nil {
		return nil, err
	}
	if err := ensureTools(ctx, o.Log, !o.NoInstall); err != nil {
		return nil, err
	}
	if err := raiseNoFile(); err != nil {
		return nil, err
	}
	e, cleanup, err := newEnv(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res := &ParentResults{Samples: map[string]map[string][]float64{}, Opts: o}

	sq, err := e.startSquid(ctx)
	if err != nil {
		return nil, fmt.Errorf("squid: %w", err)
	}
	alone, err := startChainSluice(nil)
	if err != nil {
		return nil, err
	}
	defer alone.Close()
	chains := []chain{{ChainSluice, alone.addr, true}, {ChainSquid, sq.Addr, true}}
	sl, err := startChainSluice(&proxy.Upstream{Name: "squid", Scheme: "http", Addr: sq.Addr})
	if err != nil {
		return nil, err
	}
	defer sl.Close()
	chains = append(chains, chain{ChainSluiceSquid, sl.addr, true})
	var sm *chainSluice
	if ms, err := e.startMicrosocks(ctx); err != nil {
		res.Errors = append(res.Errors, "microsocks: "+err.Error()+" (Debian package microsocks)")
	} else {
		if sm, err = startChainSluice(&proxy.Upstream{Name: "microsocks", Scheme: "socks5h", Addr: ms}); err != nil {
			return nil, err
		}
		defer sm.Close()
		chains = append(chains, chain{ChainMicrosocks, ms, false}, chain{ChainSluiceMicrosocks, sm.addr, true})
	}
	bin, err := e.startBinaryChains(ctx, sq.Addr)
	if err != nil {
		res.Errors = append(res.Errors, "binary columns: "+err.Error())
	}
	chains = append(chains, bin...)
	for _, c := range chains {
		res.Columns = append(res.Columns, c.name)
	}

	origin := "127.0.0.1:" + strconv.Itoa(e.originPort)
	maxTime := time.Duration(o.BigSize/(10<<20)+30) * time.Second
	for round := range o.Rounds {
		order := make([]chain, len(chains))
		for i := range chains {
			order[i] = chains[(i+round)%len(chains)]
		}
		for _, c := range order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fail := func(what string, err error) {
				fmt.Fprintf(o.Log, "error: %v\n", err)
				res.Errors = append(res.Errors, fmt.Sprintf("round %d %s %s: %v", round+1, c.name, what, err))
			}
			if c.http {
				fmt.Fprintf(o.Log, "round %d/%d ka64 %-18s ", round+1, o.Rounds, c.name)
				l := WrkLoad{Addr: c.addr, Origin: origin, Path: "/64", Absolute: true, Conns: 64}
				if r, err := warmWrk(ctx, e.dir, l, o); err != nil {
					fail("ka64", err)
				} else {
					fmt.Fprintf(o.Log, "%8.0f rps  p99 %7.2f ms  errors %d\n", r.RPS, r.P99Us/1e3, r.Errors())
					res.add(c.name, CRPS64, r.RPS)
					res.add(c.name, CP99_64, r.P99Us)
				}
			}
			type job struct {
				metric string
				t      Transfer
			}
			jobs := []job{{CTunnel, Transfer{SOCKS5h: c.addr}}}
			if c.http {
				jobs = []job{{CGet, Transfer{Proxy: c.addr}}, {CTunnel, Transfer{Proxy: c.addr, Tunnel: true}}}
			}
			for _, j := range jobs {
				t := j.t
				t.URL, t.Size, t.MaxTime = "http://"+origin+"/1g", o.BigSize, maxTime
				fmt.Fprintf(o.Log, "round %d/%d %-6s %-18s ", round+1, o.Rounds, j.metric, c.name)
				speed, err := RunTransfer(ctx, t)
				if err != nil {
					fail(j.metric, err)
					continue
				}
				fmt.Fprintf(o.Log, "%8.1f MB/s\n", speed/1e6)
				res.add(c.name, j.metric, speed)
			}
		}
	}
	for _, s := range []struct {
		col string
		sl  *chainSluice
	}{{ChainSluiceSquid, sl}, {ChainSluiceMicrosocks, sm}} {
		if s.sl != nil {
			u := s.sl.srv.Stats().Snapshot().Upstream
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d requests over a pooled parent conn, %d over a new one", s.col, u.Reused, u.Dialed))
		}
	}
	return res, nil
}

// startBinaryChains starts the Sluice binary three times, on generated
// config files: with no routing, with BinRules rules, and with squid at
// squidAddr as its default upstream. The first also serves the SOCKS5
// column. The rules config is checked to be in force (/stats counts its
// rules) so the figure cannot be the no-rules one by mistake.
func (e *env) startBinaryChains(ctx context.Context, squidAddr string) ([]chain, error) {
	plain, err := e.startSluiceWith(ctx, ChainBin, SluiceConfig{}, false)
	if err != nil {
		return nil, err
	}
	rules, err := e.startSluiceWith(ctx, "binary-rules", SluiceConfig{Routing: manyRules(BinRules)}, false)
	if err != nil {
		return nil, err
	}
	if n, err := ruleCount(rules.Addr); err != nil || n != BinRules+2 {
		return nil, fmt.Errorf("the 10k-rules Sluice reports %d rules (want %d, the matching one and the default): %v", n, BinRules, err)
	}
	squid, err := e.startSluiceWith(ctx, "binary-squid", SluiceConfig{Routing: fmt.Sprintf(
		"\n[route]\ndefault = \"squid\"\n\n[[upstream]]\nname = \"squid\"\nurl = \"http://%s\"\n", squidAddr)}, false)
	if err != nil {
		return nil, err
	}
	return []chain{{ChainBin, plain.Addr, true}, {ChainBinRules, rules.Addr, true},
		{ChainBinSquid, squid.Addr, true}, {ChainBinSOCKS5, plain.Addr, false}}, nil
}

// manyRules is n [[rule]] tables that block what no benchmark request
// asks for (domain-suffix, domain, domain-keyword and cidr rules in
// equal parts), then one that sends 127.0.0.0/8 direct: every request
// to the origin goes through the whole rule set to match the last.
func manyRules(n int) string {
	var b strings.Builder
	kinds := []string{"domain-suffix:s%d.bench.example", "domain:d%d.bench.example", "domain-keyword:kw%dzq", "cidr:10.%d.%d.0/24"}
	for i := range n {
		m := kinds[i%len(kinds)]
		var match string
		if strings.HasPrefix(m, "cidr:") {
			match = fmt.Sprintf(m, i/256%256, i%256)
		} else {
			match = fmt.Sprintf(m, i)
		}
		fmt.Fprintf(&b, "\n[[rule]]\nmatch = [%q]\naction = \"block\"\n", match)
	}
	b.WriteString("\n[[rule]]\nmatch = [\"cidr:127.0.0.0/8\"]\naction = \"direct\"\n")
	return b.String()
}

// ruleCount asks the Sluice at addr how many rules it has, the default
// included.
func ruleCount(addr string) (int, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var s struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, fmt.Errorf("/stats: %w", err)
	}
	return len(s.Rules), nil
}

// warmWrk runs l for o.Warmup unmeasured, then for o.Duration.
func warmWrk(ctx context.Context, dir string, l WrkLoad, o Options) (WrkResult, error) {
	if o.Warmup > 0 {
		w := l
		w.Duration = o.Warmup
		if _, err := RunWrk(ctx, dir, w); err != nil {
			return WrkResult{}, fmt.Errorf("warmup: %w", err)
		}
	}
	l.Duration = o.Duration
	return RunWrk(ctx, dir, l)
}

// chainSluice is a Sluice in the harness's process that sends everything
// through one upstream.
type chainSluice struct {
	srv  *proxy.Server
	addr string
}

func (s *chainSluice) Close() { s.srv.Close() }

type fixedRoute struct{ r proxy.Route }

func (f fixedRoute) Route(_, _ []byte) proxy.Route { return f.r }

// startChainSluice starts one; up nil means no Router (direct).
func startChainSluice(up *proxy.Upstream) (*chainSluice, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg := proxy.Config{Listen: ln.Addr().String(), Logger: slog.New(slog.DiscardHandler)}
	if up != nil {
		cfg.Router = fixedRoute{proxy.Route{Upstream: up, Rule: -1}}
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go srv.Serve(ln)
	return &chainSluice{srv: srv, addr: ln.Addr().String()}, nil
}

// startMicrosocks starts microsocks on a free port and returns its
// address.
func (e *env) startMicrosocks(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("microsocks"); err != nil {
		return "", err
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "microsocks", "-i", "127.0.0.1", "-p", strconv.Itoa(port))
	if _, err := e.startListening(ctx, "microsocks", cmd, port); err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// Report prints the stage's table: medians over rounds, and Sluice's
// column against the parent alone.
func (r *ParentResults) Report(w io.Writer) {
	med := func(col, metric string) (float64, bool) {
		v := slices.Clone(r.Samples[col][metric])
		if len(v) == 0 {
			return 0, false
		}
		slices.Sort(v)
		return v[len(v)/2], true
	}
	fmt.Fprintf(w, "## Upstream proxies (loadbench parents)\n\n%s; %d round(s) of %v, body %d MiB; medians.\n\n",
		machine(), r.Opts.Rounds, r.Opts.Duration, r.Opts.BigSize>>20)
	fmt.Fprintln(w, "| column | keep-alive rps (64 conns) | p99 ms | download MB/s | tunnel MB/s |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	cell := func(col, metric string, scale float64, format string) string {
		if v, ok := med(col, metric); ok {
			return fmt.Sprintf(format, v/scale)
		}
		return ""
	}
	for _, c := range r.Columns {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", c, cell(c, CRPS64, 1, "%.0f"), cell(c, CP99_64, 1e3, "%.2f"),
			cell(c, CGet, 1e6, "%.0f"), cell(c, CTunnel, 1e6, "%.0f"))
	}
	fmt.Fprintln(w)
	ratio := func(what, a, b, metric string) {
		va, oka := med(a, metric)
		vb, okb := med(b, metric)
		if oka && okb && vb > 0 {
			fmt.Fprintf(w, "- %s: %s / %s = %.2f\n", what, a, b, va/vb)
		}
	}
	ratio("keep-alive rps with Sluice in the chain (issue 13: ≥ 0.90)", ChainSluiceSquid, ChainSquid, CRPS64)
	ratio("download with Sluice in the chain", ChainSluiceSquid, ChainSquid, CGet)
	ratio("CONNECT tunnel with Sluice in the chain", ChainSluiceSquid, ChainSquid, CTunnel)
	ratio("SOCKS5 tunnel with Sluice in the chain", ChainSluiceMicrosocks, ChainMicrosocks, CTunnel)
	ratio("Sluice's tunnel through SOCKS5 against through CONNECT", ChainSluiceMicrosocks, ChainSluiceSquid, CTunnel)
	ratio("binary: keep-alive rps with 10k rules against none (issue 13: ≥ 0.95)", ChainBinRules, ChainBin, CRPS64)
	ratio("binary: keep-alive rps with Sluice in the chain (issue 13: ≥ 0.90)", ChainBinSquid, ChainSquid, CRPS64)
	ratio("binary: download with Sluice in the chain", ChainBinSquid, ChainSquid, CGet)
	ratio("binary: CONNECT tunnel with Sluice in the chain", ChainBinSquid, ChainSquid, CTunnel)
	ratio("binary: tunnel opened by a SOCKS5 client against by CONNECT (both direct)", ChainBinSOCKS5, ChainBin, CTunnel)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "- error: %s\n", oneLine(e))
	}
	fmt.Fprintln(w)
}
