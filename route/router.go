package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluiceproxy/sluice/proxy"
)

// Router is a compiled routing config: rules, upstreams, groups and the
// mode. It implements proxy.Router. Route reads only what New built and
// atomics, so reloading the config means building a new Router, handing
// it to the proxy and closing the old one.
type Router struct {
	cfg Config
	log *slog.Logger

	m       *matcher
	rules   []rule
	def     target
	defHits atomic.Int64
	global  target
	// hasGlobal is false when [route] global is empty.
	hasGlobal bool

	upstreams []*upstream
	groups    []*group
	byName    map[string]target

	mode       atomic.Int32
	configMode string

	stateMu sync.Mutex // serializes SetMode and Select and their file writes

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type rule struct {
	text   string // the match entries as written, for route test and stats
	action string
	target target
	hits   atomic.Int64
}

type targetKind uint8

const (
	toDirect targetKind = iota
	toBlock
	toUpstream
	toGroup
)

// target is what a rule, the default or global mode leads to.
type target struct {
	kind  targetKind
	up    *upstream
	g     *group
	block string // the 403's reason
}

// modes are the modes by their number in Router.mode.
var modes = []string{ModeRules, ModeGlobal, ModeDirect}

const (
	modeRules int32 = iota
	modeGlobal
	modeDirect
)

// New checks and compiles cfg. It starts nothing: Start begins the
// health checks. It reports every problem it finds, not just the first:
// the error is an *Error, or several joined (errors.Join), each naming
// the table entry and key.
func New(cfg Config) (*Router, error) {
	r := &Router{cfg: cfg, log: cfg.Logger, byName: map[string]target{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	var errs []error
	bad := func(table string, i int, key, format string, args ...any) {
		errs = append(errs, &Error{Table: table, Index: i, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for i, uc := range cfg.Upstreams {
		nameOK := r.checkName(uc.Name, "upstream", i, &errs)
		p, u, msg := parseUpstream(uc.Name, uc.URL)
		switch {
		case uc.URL == "":
			bad("upstream", i, "url", `missing; write the proxy's URL, like "http://proxy.example:3128"`)
		case msg != "":
			bad("upstream", i, "url", "%s", msg)
		}
		if p == nil {
			// Still known by name, so that rules naming it are not
			// reported as naming nothing.
			p, u = &proxy.Upstream{Name: uc.Name}, &url.URL{}
		}
		up := &upstream{p: p, url: u, display: u.Redacted(), seed: hashHost([]byte(uc.Name)), recheck: make(chan struct{}, 1)}
		p.Report = up.report
		r.upstreams = append(r.upstreams, up)
		if nameOK {
			r.byName[uc.Name] = target{kind: toUpstream, up: up}
		}
	}
	for i, gc := range cfg.Groups {
		nameOK := r.checkName(gc.Name, "group", i, &errs)
		g := &group{name: gc.Name, strategy: gc.Strategy}
		if !slices.Contains(strategies, gc.Strategy) {
			bad("group", i, "strategy", "%q is not one of %s", gc.Strategy, strings.Join(strategies, ", "))
		}
		if len(gc.Members) == 0 {
			bad("group", i, "members", "the list is empty; name the [[upstream]] entries the group chooses from")
		}
		checkURL, interval := gc.CheckURL, gc.CheckInterval
		if checkURL == "" {
			checkURL = DefaultCheckURL
		}
		if interval <= 0 {
			interval = DefaultCheckInterval
		}
		if u, err := url.Parse(checkURL); err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			bad("group", i, "check_url", "%q is not an http:// or https:// URL", checkURL)
		}
		for _, name := range gc.Members {
			t, ok := r.byName[name]
			switch {
			case ok && t.kind == toGroup:
				bad("group", i, "members", "%q is a group; a group's members must be upstreams", name)
				continue
			case !ok:
				bad("group", i, "members", "no [[upstream]] is named %q%s", name, r.didYouMean(name))
				continue
			case slices.Contains(g.members, t.up):
				bad("group", i, "members", "%q is listed twice", name)
				continue
			}
			if !t.up.checked {
				t.up.checked, t.up.checkURL, t.up.checkInterval = true, checkURL, interval
			}
			g.members = append(g.members, t.up)
		}
		r.groups = append(r.groups, g)
		if nameOK {
			r.byName[gc.Name] = target{kind: toGroup, g: g}
		}
	}
	m, matchErrs := compileMatcher(cfg.Rules)
	errs = append(errs, matchErrs...)
	r.m = m
	r.rules = make([]rule, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		text := strings.Join(rc.Match, ", ")
		t, msg := r.action(rc.Action, fmt.Sprintf("blocked by rule %d (%s)", i+1, text))
		if msg != "" {
			bad("rule", i, "action", "%s", msg)
		}
		r.rules[i].text, r.rules[i].action, r.rules[i].target = text, rc.Action, t
	}
	var msg string
	if r.def, msg = r.action(cmp(cfg.Default, ActionDirect), "blocked: no rule matches and [route] default is block"); msg != "" {
		bad("route", 0, "default", "%s", msg)
	}
	if cfg.Global != "" {
		if r.global, msg = r.action(cfg.Global, "blocked: [route] global is block"); msg != "" {
			bad("route", 0, "global", "%s", msg)
		}
		r.hasGlobal = true
	}
	r.configMode = cmp(cfg.Mode, ModeRules)
	mode := slices.Index(modes, r.configMode)
	switch {
	case mode < 0:
		bad("route", 0, "mode", "%q is not one of %s", cfg.Mode, strings.Join(modes, ", "))
	case r.configMode == ModeGlobal && !r.hasGlobal:
		bad("route", 0, "global", `mode is "global" but global names no upstream or group`)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.mode.Store(int32(mode))
	return r, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkName reports what is wrong with an upstream's or group's name
// into errs, and whether the name may be registered.
func (r *Router) checkName(name, table string, i int, errs *[]error) bool {
	msg := ""
	switch _, dup := r.byName[name]; {
	case name == "":
		msg = "missing; every [[" + table + "]] needs a name"
	case name == ActionDirect || name == ActionBlock:
		msg = fmt.Sprintf("%q is an action's name; choose another", name)
	case strings.ContainsAny(name, "\r\n\x00"):
		msg = "must not hold control characters"
	case dup:
		msg = fmt.Sprintf("%q is already the name of an upstream or group", name)
	}
	if msg != "" {
		*errs = append(*errs, &Error{Table: table, Index: i, Key: "name", Msg: msg})
		return false
	}
	return true
}

// action resolves an action name; msg says what is wrong with it.
func (r *Router) action(name, block string) (target, string) {
	switch name {
	case ActionDirect:
		return target{kind: toDirect}, ""
	case ActionBlock:
		return target{kind: toBlock, block: block}, ""
	case "":
		return target{}, `missing; write "direct", "block" or an upstream or group name`
	}
	if t, ok := r.byName[name]; ok {
		return t, ""
	}
	return target{}, fmt.Sprintf("%q is not direct, block or the name of an [[upstream]] or [[group]]%s", name, r.didYouMean(name))
}

func (r *Router) didYouMean(name string) string {
	for known := range r.byName {
		if strings.EqualFold(known, name) {
			return fmt.Sprintf(" (did you mean %q?)", known)
		}
	}
	return ""
}

// Route implements proxy.Router: no lock, no I/O, no allocation.
func (r *Router) Route(host, port []byte) proxy.Route {
	switch r.mode.Load() {
	case modeDirect:
		return proxy.Route{Rule: -1}
	case modeGlobal:
		return r.global.route(host, -1)
	}
	i := r.m.match(host, port)
	if i < 0 {
		r.defHits.Add(1)
		return r.def.route(host, -1)
	}
	ru := &r.rules[i]
	ru.hits.Add(1)
	return ru.target.route(host, int(i))
}

func (t *target) route(host []byte, rule int) proxy.Route {
	switch t.kind {
	case toBlock:
		return proxy.Route{Block: t.block, Rule: rule}
	case toUpstream:
		return proxy.Route{Upstream: t.up.p, Rule: rule}
	case toGroup:
		if m := t.g.pick(host); m != nil {
			return proxy.Route{Upstream: m.p, Rule: rule}
		}
		return proxy.Route{Down: t.g.name, Rule: rule}
	}
	return proxy.Route{Rule: rule}
}

// Start begins the health checks of every upstream in a group, each in
// its own goroutine, until Close. A Router nobody starts routes the same,
// with every upstream counted as up until a real request through it
// fails.
func (r *Router) Start() {
	if r.stop != nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	for _, u := range r.upstreams {
		if !u.checked {
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.checkLoop(ctx, u)
		}()
	}
}

// Close stops the health checks and waits for them to end. A request
// still routed by this Router (one that started before a reload swapped
// it out) keeps its decision.
func (r *Router) Close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}

// Mode returns the mode in force.
func (r *Router) Mode() string { return modes[r.mode.Load()] }

// HasGlobal reports whether [route] global names a target, which
// global mode needs.
func (r *Router) HasGlobal() bool { return r.hasGlobal }

// SetMode switches the mode at once and keeps it in the state file.
func (r *Router) SetMode(mode string) error {
	i := slices.Index(modes, mode)
	if i < 0 {
		return fmt.Errorf("mode %q is not one of %s", mode, strings.Join(modes, ", "))
	}
	if mode == ModeGlobal && !r.hasGlobal {
		return fmt.Errorf("global mode needs [route] global in config.toml (an upstream or group name)")
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	r.mode.Store(int32(i))
	return r.saveLocked()
}

// Select makes member the choice of the select group named group, at
// once, and keeps it in the state file.
func (r *Router) Select(groupName, member string) error {
	g := r.group(groupName)
	if g == nil || g.strategy != StrategySelect {
		return fmt.Errorf("no select group is named %q", groupName)
	}
	i := slices.IndexFunc(g.members, func(u *upstream) bool { return u.p.Name == member })
	if i < 0 {
		return fmt.Errorf("group %q has no member %q", groupName, member)
	}
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	g.selected.Store(int32(i))
	return r.saveLocked()
}

func (r *Router) group(name string) *group {
	for _, g := range r.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// LoadState applies the mode and select choices kept in the state file.
// A choice that no longer fits the config (a member since removed, a
// mode picked before [route] mode was edited) is dropped.
func (r *Router) LoadState() error {
	st, err := readState(r.cfg.StatePath)
	if err != nil {
		return fmt.Errorf("read the routing state (the config's choices apply): %w", err)
	}
	if i := slices.Index(modes, st.Mode); i >= 0 && st.ConfigMode == r.configMode &&
		(st.Mode != ModeGlobal || r.hasGlobal) {
		r.mode.Store(int32(i))
	}
	for _, g := range r.groups {
		if g.strategy != StrategySelect {
			continue
		}
		if i := slices.IndexFunc(g.members, func(u *upstream) bool { return u.p.Name == st.Select[g.name] }); i >= 0 {
			g.selected.Store(int32(i))
		}
	}
	return nil
}

// saveLocked writes the state file; stateMu is held.
func (r *Router) saveLocked() error {
	st := state{Select: map[string]string{}}
	if mode := r.Mode(); mode != r.configMode {
		st.Mode, st.ConfigMode = mode, r.configMode
	}
	for _, g := range r.groups {
		if g.strategy == StrategySelect {
			st.Select[g.name] = g.members[g.selected.Load()].p.Name
		}
	}
	return writeState(r.cfg.StatePath, st)
}

// AlwaysDirect reports whether every destination goes direct whatever
// the mode: no upstream, no rule, and the default is direct. The caller
// then need not hand the Router to the proxy at all.
func (r *Router) AlwaysDirect() bool {
	return len(r.upstreams) == 0 && len(r.rules) == 0 && r.def.kind == toDirect
}

// Inherit carries over, from the Router this one replaces on a reload,
// each upstream's health and counters where the upstream has the same
// name and URL, so that a reload neither forgets a parent is down nor
// zeroes its figures. Call it before Start.
func (r *Router) Inherit(old *Router) {
	if old == nil {
		return
	}
	for _, u := range r.upstreams {
		for _, o := range old.upstreams {
			if o.p.Name != u.p.Name || o.url.String() != u.url.String() {
				continue
			}
			u.down.Store(o.down.Load())
			u.rtt.Store(o.rtt.Load())
			u.lastCheck.Store(o.lastCheck.Load())
			u.lastErr.Store(o.lastErr.Load())
			u.p.Requests.Store(o.p.Requests.Load())
			u.p.Errors.Store(o.p.Errors.Load())
			u.p.BytesIn.Store(o.p.BytesIn.Load())
			u.p.BytesOut.Store(o.p.BytesOut.Load())
		}
	}
}
