package route

import (
	"time"
)

// Decision is how a destination would be routed now, for `sluice route
// test` and /route: the rule that matched and where it leads.
type Decision struct {
	// Mode is the mode in force.
	Mode string `json:"mode"`
	// Rule is the matched rule's number, from 1; 0 when none matched
	// (the default action) or the mode is global or direct.
	Rule int `json:"rule"`
	// Match is the matched rule's entries, or what decided instead:
	// "default", "global mode", "direct mode".
	Match string `json:"match"`
	// Action is the action as written: direct, block, or an upstream or
	// group name.
	Action string `json:"action"`
	// Group is the action's group when it names one: Upstream is then
	// the member its strategy picks now.
	Group string `json:"group,omitempty"`
	// Upstream is the parent the request would go through now; "" for
	// direct, block and a group with every member down.
	Upstream string `json:"upstream,omitempty"`
	// Block is the 403's reason when blocked; Down the group all of
	// whose members are down.
	Block string `json:"block,omitempty"`
	Down  string `json:"down,omitempty"`
}

// Decide says how host:port would be routed now, as Route would, without
// counting a hit or moving round-robin on.
func (r *Router) Decide(host, port string) Decision {
	d := Decision{Mode: r.Mode()}
	var t *target
	switch d.Mode {
	case ModeDirect:
		d.Match, d.Action = "direct mode", ActionDirect
		return d
	case ModeGlobal:
		d.Match, d.Action, t = "global mode", r.cfg.Global, &r.global
	default:
		i := r.m.match([]byte(host), []byte(port))
		if i < 0 {
			d.Match, d.Action, t = "default", cmp(r.cfg.Default, ActionDirect), &r.def
		} else {
			d.Rule, d.Match, d.Action, t = int(i)+1, r.rules[i].text, r.rules[i].action, &r.rules[i].target
		}
	}
	rt := t.route([]byte(host), d.Rule-1)
	if t.kind == toGroup && t.g.strategy == StrategyRoundRobin {
		// Route moved the counter; Decide must not.
		t.g.rr.Add(^uint32(0))
	}
	if t.kind == toGroup {
		d.Group = t.g.name
	}
	d.Block, d.Down = rt.Block, rt.Down
	if rt.Upstream != nil {
		d.Upstream = rt.Upstream.Name
	}
	return d
}

// UpstreamStatus is one upstream's health and counters.
type UpstreamStatus struct {
	Name string
	// URL is the upstream's URL without its password.
	URL string
	// State is "up", "down", or "unchecked" (in no group, so never
	// checked; it counts as up).
	State string
	// CheckRTT is the last good check's round trip; 0 before one.
	CheckRTT time.Duration
	// LastCheck is when it was last checked; zero before.
	LastCheck time.Time
	// LastError is why the last check failed; "" if it did not.
	LastError string
	// Counters the relay keeps.
	Requests, Errors, BytesIn, BytesOut int64
}

// Upstreams reports every upstream, in config order.
func (r *Router) Upstreams() []UpstreamStatus {
	out := make([]UpstreamStatus, len(r.upstreams))
	for i, u := range r.upstreams {
		s := UpstreamStatus{
			Name: u.p.Name, URL: u.display, State: "up",
			CheckRTT: time.Duration(u.rtt.Load()),
			Requests: u.p.Requests.Load(), Errors: u.p.Errors.Load(),
			BytesIn: u.p.BytesIn.Load(), BytesOut: u.p.BytesOut.Load(),
		}
		switch {
		case u.down.Load():
			s.State = "down"
		case !u.checked:
			s.State = "unchecked"
		}
		if t := u.lastCheck.Load(); t != 0 {
			s.LastCheck = time.Unix(0, t)
		}
		if e := u.lastErr.Load(); e != nil {
			s.LastError = *e
		}
		out[i] = s
	}
	return out
}

// GroupStatus is one group, for the tray and /stats.
type GroupStatus struct {
	Name, Strategy string
	Members        []string
	// Selected is a select group's choice; "" for other strategies.
	Selected string
	// Current is the member a request to an unnamed host would use now
	// (for consistent-hash it depends on the host); "" when all are down.
	Current string
}

// Groups reports every group, in config order.
func (r *Router) Groups() []GroupStatus {
	out := make([]GroupStatus, len(r.groups))
	for i, g := range r.groups {
		s := GroupStatus{Name: g.name, Strategy: g.strategy}
		for _, m := range g.members {
			s.Members = append(s.Members, m.p.Name)
		}
		if g.strategy == StrategySelect {
			s.Selected = g.members[g.selected.Load()].p.Name
		}
		t := target{kind: toGroup, g: g}
		if rt := t.route(nil, -1); rt.Upstream != nil {
			s.Current = rt.Upstream.Name
		}
		if g.strategy == StrategyRoundRobin {
			g.rr.Add(^uint32(0))
		}
		out[i] = s
	}
	return out
}

// RuleStatus is one rule and how often it decided.
type RuleStatus struct {
	// Rule is the rule's number, from 1; 0 for the default action.
	Rule   int
	Match  string
	Action string
	Hits   int64
}

// Rules reports every rule's hits, then the default action's.
func (r *Router) Rules() []RuleStatus {
	out := make([]RuleStatus, 0, len(r.rules)+1)
	for i := range r.rules {
		ru := &r.rules[i]
		out = append(out, RuleStatus{Rule: i + 1, Match: ru.text, Action: ru.action, Hits: ru.hits.Load()})
	}
	return append(out, RuleStatus{Match: "default", Action: cmp(r.cfg.Default, ActionDirect), Hits: r.defHits.Load()})
}
