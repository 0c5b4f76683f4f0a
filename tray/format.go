package tray

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stats is the part of the proxy's live numbers that the menu shows. The
// app fills it from its stats snapshot once a second. The zero value is a
// proxy that has seen no traffic.
type Stats struct {
	// Requests counts requests since the proxy started.
	Requests int64
	// RequestsPerSec is the request rate over the last second.
	RequestsPerSec float64
	// ActiveConns is the number of open client connections.
	ActiveConns int64
	// ActiveTunnels is the number of open CONNECT and Upgrade tunnels.
	ActiveTunnels int64
	// DownPerSec is the rate, in bytes per second, of data sent to clients
	// (response bodies and the downstream half of tunnels).
	DownPerSec float64
	// UpPerSec is the rate, in bytes per second, of data received from
	// clients (request bodies and the upstream half of tunnels).
	UpPerSec float64
	// P50, P95 and P99 are request latency quantiles over the last minute.
	// Zero means no request finished in that window and shows as "—".
	P50, P95, P99 time.Duration
	// DNSHits and DNSMisses count lookups answered from the resolver's
	// cache and lookups that went to a server. Both zero shows as "—".
	DNSHits, DNSMisses int64
	// CacheHits and CacheMisses count response cache lookups answered
	// from the cache (collapsed misses included) and those that went
	// upstream; CacheSaved the body bytes the cache answered. Both
	// counts zero (the cache off, or unused) shows as "—".
	CacheHits, CacheMisses, CacheSaved int64
	// UpstreamReused and UpstreamDialed count requests sent on a pooled
	// upstream connection and on a newly dialed one. Both zero shows as
	// "—".
	UpstreamReused, UpstreamDialed int64
	// ErrorsPerSec is the rate of failed requests over the last second.
	ErrorsPerSec float64
	// UpstreamsDown names the upstream proxies that are down now; none
	// hides their line.
	UpstreamsDown []string
	// Alert is the alerts raised and not over ([alerts]), one line; ""
	// when there are none. It shows under the title unless a config
	// error or a failed click does.
	Alert string
}

// Routing is what the Mode menu and the select groups' menus show.
type Routing struct {
	// Configured is false when there is nothing to route (no upstream and
	// no rule): the Mode menu is hidden, as every mode would go direct.
	Configured bool
	// Mode is "rules", "global" or "direct".
	Mode string
	// HasGlobal is false when the config names no global target: the
	// Global item is then disabled.
	HasGlobal bool
	// Groups are the select groups, in config order; the menu shows up
	// to maxSelectGroups of them.
	Groups []SelectGroup
}

// SelectGroup is a group whose member the user picks.
type SelectGroup struct {
	Name     string
	Members  []string
	Selected string
}

// modes are the Mode menu's items, top to bottom.
var modes = [...]struct{ label, tip, mode string }{
	{"Rules", "The first matching rule decides where a request goes", "rules"},
	{"Global", "Every request goes through the global upstream or group", "global"},
	{"Direct", "Every request goes straight to its origin", "direct"},
}

// maxSelectGroups bounds the select groups the menu shows: items cannot
// be inserted mid-menu later, so their places are made at start.
const maxSelectGroups = 8

// groupLine is a select group's submenu title: its name and choice.
func groupLine(g SelectGroup) string {
	return oneLine("Group " + g.Name + ": " + g.Selected)
}

// upstreamsDownLine is the stats line naming the upstream proxies that
// are down; "" (hidden) when none is.
func upstreamsDownLine(down []string) string {
	if len(down) == 0 {
		return ""
	}
	what := "Upstream down: "
	if len(down) > 1 {
		what = "Upstreams down: "
	}
	return oneLine("⚠ " + what + strings.Join(down, ", "))
}

// statsLines returns the live-stats menu lines, top to bottom. The number
// of lines never changes, so the menu can keep one item per line.
func statsLines(s Stats) []string {
	return []string{
		"Requests: " + perSec(s.RequestsPerSec) + " · " + count(s.Requests) + " total",
		"Connections: " + count(s.ActiveConns) + " · tunnels: " + count(s.ActiveTunnels),
		"↓ " + byteRate(s.DownPerSec) + " · ↑ " + byteRate(s.UpPerSec),
		"Latency p50 " + latency(s.P50) + " · p95 " + latency(s.P95) + " · p99 " + latency(s.P99),
		"DNS cache hits: " + ratio(s.DNSHits, s.DNSMisses),
		"HTTP cache hits: " + cacheLine(s),
		"Upstream reuse: " + ratio(s.UpstreamReused, s.UpstreamDialed),
		"Errors: " + perSec(s.ErrorsPerSec),
	}
}

// State is what the icon shows.
type State int

// The icon states.
const (
	// StateOff: the proxy runs, the system proxy does not point at it.
	StateOff State = iota
	// StateOn: the system proxy points at Sluice.
	StateOn
	// StateError: the listener failed or config.toml has an error.
	StateError
)

// String returns the state as the tooltip words it.
func (s State) String() string {
	switch s {
	case StateOn:
		return "system proxy on"
	case StateError:
		return "error"
	default:
		return "system proxy off"
	}
}

// stateOf picks the icon state: an error outranks the system proxy.
func stateOf(listenErr, configErr error, proxyOn bool) State {
	switch {
	case listenErr != nil || configErr != nil:
		return StateError
	case proxyOn:
		return StateOn
	default:
		return StateOff
	}
}

// maxLabel bounds a menu label built from an error message: a panel
// draws the menu as wide as its widest item.
const maxLabel = 90

// titleLine is the first menu item: where Sluice listens, or why it does
// not.
func titleLine(addr string, listenErr error) string {
	if listenErr != nil {
		return oneLine("Sluice — " + listenErr.Error())
	}
	return "Sluice — " + addr
}

// problemLine is the warning item under the title: the config error if
// there is one, else the last failed click, else the alerts. Empty means
// nothing to show.
func problemLine(configErr, actionErr error, alert string) string {
	switch {
	case configErr != nil:
		return oneLine("⚠ " + configErr.Error())
	case actionErr != nil:
		return oneLine("⚠ " + actionErr.Error())
	case alert != "":
		return oneLine("⚠ " + alert)
	default:
		return ""
	}
}

// tooltip sums up state, address and request rate for hovering the icon.
func tooltip(st State, addr string, listenErr error, rps float64) string {
	if listenErr != nil {
		return oneLine("Sluice: " + listenErr.Error())
	}
	return "Sluice: " + st.String() + "\n" + addr + " · " + perSec(rps)
}

// oneLine folds a possibly multi-line message into one line of at most
// maxLabel runes, ending in "…" when cut.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxLabel {
		s = string(r[:maxLabel-1]) + "…"
	}
	return s
}

// count writes n with thousands separators: 1234567 → "1,234,567".
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// perSec writes a rate: one decimal below 10/s, where the decimal is
// informative, whole numbers with separators above.
func perSec(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
	}
	return count(int64(math.Round(r))) + "/s"
}

// byteRate writes bytes per second in decimal units (1 KB = 1000 B), as
// network speeds are usually quoted.
func byteRate(r float64) string {
	units := []string{"B/s", "KB/s", "MB/s", "GB/s", "TB/s"}
	if r < 1000 {
		return strconv.FormatFloat(math.Round(r), 'f', 0, 64) + " B/s"
	}
	i := 0
	for r >= 999.5 && i < len(units)-1 {
		r /= 1000
		i++
	}
	if r < 9.95 {
		return strconv.FormatFloat(r, 'f', 1, 64) + " " + units[i]
	}
	return strconv.FormatFloat(r, 'f', 0, 64) + " " + units[i]
}

// latency writes a latency quantile; zero means no data.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatInt(int64(math.Round(float64(d)/float64(time.Millisecond))), 10) + " ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
}

// ratio writes hits/(hits+misses) as a whole percentage, rounded down so
// that 100% means every single one.
func ratio(hits, misses int64) string {
	total := hits + misses
	if total <= 0 {
		return "—"
	}
	return fmt.Sprintf("%d%%", hits*100/total)
}

// cacheLine is the response cache's hit ratio and the bytes it saved.
func cacheLine(s Stats) string {
	r := ratio(s.CacheHits, s.CacheMisses)
	if r == "—" {
		return r
	}
	return r + " · " + strings.TrimSuffix(byteRate(float64(s.CacheSaved)), "/s") + " saved"
}
