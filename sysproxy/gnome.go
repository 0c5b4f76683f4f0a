package sysproxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// GNOME and its relatives (Unity, Cinnamon, MATE, Budgie, Pantheon) keep
// the proxy in the GSettings schema org.gnome.system.proxy, which libproxy,
// GLib's GProxyResolver, Firefox and Chromium read. Sluice touches only
// the keys below; ftp and socks are left as they are.
const (
	gnomeSchema = "org.gnome.system.proxy"
	gnomeMode   = gnomeSchema + " mode"
	gnomeAuto   = gnomeSchema + " autoconfig-url" // used in mode 'auto'
	gnomeIgnore = gnomeSchema + " ignore-hosts"
	gnomeHTTPH  = gnomeSchema + ".http host"
	gnomeHTTPP  = gnomeSchema + ".http port"
	gnomeHTTPSH = gnomeSchema + ".https host"
	gnomeHTTPSP = gnomeSchema + ".https port"
)

// gnomeKeys are written in this order, with mode moved first or last by
// Write.
var gnomeKeys = []string{gnomeIgnore, gnomeAuto, gnomeHTTPH, gnomeHTTPP, gnomeHTTPSH, gnomeHTTPSP, gnomeMode}

// GNOME is the gsettings backend. Values are kept as gsettings prints them
// (GVariant text), so a snapshot is written back exactly as read.
type GNOME struct {
	// Run runs gsettings; its environment decides which settings backend
	// (dconf, or keyfile with GSETTINGS_BACKEND=keyfile) is used.
	Run Runner
	// Env is the environment GSETTINGS_BACKEND, XDG_CONFIG_HOME and the
	// D-Bus session bus are looked up in after the process's own, to
	// watch for changes (see Changes); it should match Run's. Nil uses
	// the process's.
	Env []string
}

// Name is "gnome".
func (GNOME) Name() string { return "gnome" }

// Read gets every key Sluice touches.
//
// It runs one `gsettings list-recursively` for the whole schema rather
// than a `gsettings get` per key: one process instead of six each time
// the tray re-reads the setting after a change (or, where changes cannot
// be watched, at every poll).
func (g GNOME) Read(ctx context.Context) (Settings, error) {
	out, err := g.Run.Run(ctx, "gsettings", "list-recursively", gnomeSchema)
	if err != nil {
		return nil, fmt.Errorf("read GNOME proxy settings: %w", err)
	}
	all := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		// "org.gnome.system.proxy.http host 'corp.example'"
		schema, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
		key, val, ok2 := strings.Cut(rest, " ")
		if ok && ok2 {
			all[schema+" "+key] = val
		}
	}
	s := Settings{}
	for _, k := range gnomeKeys {
		v, ok := all[k]
		if !ok {
			return nil, fmt.Errorf("read GNOME proxy settings: gsettings printed no %s (is gsettings-desktop-schemas installed?)", k)
		}
		s[k] = Value{V: v}
	}
	return s, nil
}

// Want is manual mode with Sluice as the HTTP and HTTPS proxy, or, for a
// PAC target, mode 'auto' with its URL. The mode alone decides which
// keys apply, so the others are left as they are.
func (GNOME) Want(_ Settings, t Target) Settings {
	if t.PAC != "" {
		return Settings{
			gnomeMode: {V: "'auto'"},
			gnomeAuto: {V: gvQuote(t.PAC)},
		}
	}
	host, port := gvQuote(t.Host), strconv.Itoa(t.Port)
	return Settings{
		gnomeMode:   {V: "'manual'"},
		gnomeHTTPH:  {V: host},
		gnomeHTTPP:  {V: port},
		gnomeHTTPSH: {V: host},
		gnomeHTTPSP: {V: port},
		gnomeIgnore: {V: gvQuoteStrings(t.Bypass)},
	}
}

// Write sets each key with `gsettings set`. When the new mode is manual
// or auto it is set last, so programs watching the schema never see it
// with half-written hosts or an old URL; otherwise it is set first, so
// they stop using the old proxy before its host changes. A key that
// already holds its value is not written: `gsettings set` stores even an
// unchanged value as the user's own, so a restore would otherwise leave
// keys the user never set (autoconfig-url, in manual mode) set.
func (g GNOME) Write(ctx context.Context, s Settings) error {
	cur, err := g.Read(ctx)
	if err != nil {
		return err
	}
	order := gnomeKeys // mode is last in gnomeKeys
	if v, ok := s[gnomeMode]; ok {
		if m, _ := gvString(v.V); m != "manual" && m != "auto" {
			order = append([]string{gnomeMode}, gnomeKeys[:len(gnomeKeys)-1]...)
		}
	}
	for _, k := range order {
		v, ok := s[k]
		if !ok || cur[k] == v {
			continue
		}
		schema, key, _ := strings.Cut(k, " ")
		if _, err := g.Run.Run(ctx, "gsettings", "set", schema, key, v.V); err != nil {
			return fmt.Errorf("write GNOME proxy setting: %w", err)
		}
	}
	return nil
}

// PointsAt is true in manual mode with both HTTP and HTTPS at t, or for a
// PAC target in auto mode with its URL.
func (GNOME) PointsAt(cur Settings, t Target) bool {
	m, err := gvString(cur[gnomeMode].V)
	if t.PAC != "" {
		u, uerr := gvString(cur[gnomeAuto].V)
		return err == nil && uerr == nil && m == "auto" && u == t.PAC
	}
	if err != nil || m != "manual" {
		return false
	}
	for _, hp := range [][2]string{{gnomeHTTPH, gnomeHTTPP}, {gnomeHTTPSH, gnomeHTTPSP}} {
		h, err := gvString(cur[hp[0]].V)
		p, perr := gvInt(cur[hp[1]].V)
		if err != nil || perr != nil || h != t.Host || p != int64(t.Port) {
			return false
		}
	}
	return true
}
