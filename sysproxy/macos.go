package sysproxy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// macOS keeps a proxy configuration per network service (Wi-Fi, Ethernet,
// a VPN...); the one of the active service applies. Sluice sets the web
// (HTTP) and secure web (HTTPS) proxy and the bypass list on every enabled
// service, through networksetup, so it keeps working when the active
// service changes. Setting names are "<service>\t<field>", the fields
// being "web.enabled" ("Yes" or "No", as networksetup prints it),
// "web.server", "web.port", the same three with "secure.", "bypass"
// (one domain a line; "" for none), and the automatic proxy configuration:
// "auto.enabled" and "auto.url" (the PAC URL, "(null)" when none was ever
// set, as networksetup prints it).
const (
	macBypass      = "bypass"
	macAutoEnabled = "auto.enabled"
	macAutoURL     = "auto.url"
)

// macKinds maps each proxy kind to its networksetup verbs.
var macKinds = []struct{ prefix, get, set, state string }{
	{"web.", "-getwebproxy", "-setwebproxy", "-setwebproxystate"},
	{"secure.", "-getsecurewebproxy", "-setsecurewebproxy", "-setsecurewebproxystate"},
}

// MacOS is the networksetup backend.
type MacOS struct {
	// Run runs networksetup (ExecRunner in production; tests record the
	// commands).
	Run Runner
}

// Name is "macos".
func (MacOS) Name() string { return "macos" }

func (m MacOS) ns(ctx context.Context, args ...string) (string, error) {
	out, err := m.Run.Run(ctx, "networksetup", args...)
	if err != nil {
		return "", fmt.Errorf("macOS proxy setting: %w", err)
	}
	return string(out), nil
}

// services lists the enabled network services. The first line of
// -listallnetworkservices is a legend, and disabled services start with
// "*".
func (m MacOS) services(ctx context.Context) ([]string, error) {
	out, err := m.ns(ctx, "-listallnetworkservices")
	if err != nil {
		return nil, err
	}
	var svcs []string
	for i, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if (i == 0 && strings.HasPrefix(line, "An asterisk")) || strings.TrimSpace(line) == "" || strings.HasPrefix(line, "*") {
			continue
		}
		svcs = append(svcs, line)
	}
	return svcs, nil
}

// Read gets the web and secure web proxy and the bypass domains of every
// enabled service.
func (m MacOS) Read(ctx context.Context) (Settings, error) {
	svcs, err := m.services(ctx)
	if err != nil {
		return nil, err
	}
	s := Settings{}
	for _, svc := range svcs {
		for _, k := range macKinds {
			out, err := m.ns(ctx, k.get, svc)
			if err != nil {
				return nil, err
			}
			f := macFields(out)
			s[svc+"\t"+k.prefix+"enabled"] = Value{V: f["Enabled"]}
			s[svc+"\t"+k.prefix+"server"] = Value{V: f["Server"]}
			s[svc+"\t"+k.prefix+"port"] = Value{V: f["Port"]}
		}
		out, err := m.ns(ctx, "-getproxybypassdomains", svc)
		if err != nil {
			return nil, err
		}
		s[svc+"\t"+macBypass] = Value{V: strings.Join(macDomains(out), "\n")}
		if out, err = m.ns(ctx, "-getautoproxyurl", svc); err != nil {
			return nil, err
		}
		f := macFields(out)
		s[svc+"\t"+macAutoEnabled] = Value{V: f["Enabled"]}
		s[svc+"\t"+macAutoURL] = Value{V: f["URL"]}
	}
	return s, nil
}

// macFields parses "Key: value" lines.
func macFields(out string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

// macDomains parses -getproxybypassdomains: one domain a line, or a
// sentence ("There aren't any bypass domains set on Wi-Fi.") when none.
func macDomains(out string) []string {
	var d []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "There aren't any") {
			continue
		}
		d = append(d, line)
	}
	return d
}

// macServices returns the services named in s, sorted.
func macServices(s Settings) []string {
	set := map[string]bool{}
	for k := range s {
		if svc, _, ok := strings.Cut(k, "\t"); ok {
			set[svc] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Want points the web and secure web proxy of every service in cur at t
// and switches its automatic configuration off; or, for a PAC target,
// points the automatic configuration at t.PAC and switches the web
// proxies off, keeping their server and port.
func (MacOS) Want(cur Settings, t Target) Settings {
	s := Settings{}
	port := strconv.Itoa(t.Port)
	for _, svc := range macServices(cur) {
		if t.PAC != "" {
			for _, k := range macKinds {
				s[svc+"\t"+k.prefix+"enabled"] = Value{V: "No"}
			}
			s[svc+"\t"+macAutoEnabled] = Value{V: "Yes"}
			s[svc+"\t"+macAutoURL] = Value{V: t.PAC}
			continue
		}
		s[svc+"\t"+macAutoEnabled] = Value{V: "No"}
		for _, k := range macKinds {
			s[svc+"\t"+k.prefix+"enabled"] = Value{V: "Yes"}
			s[svc+"\t"+k.prefix+"server"] = Value{V: t.Host}
			s[svc+"\t"+k.prefix+"port"] = Value{V: port}
		}
		s[svc+"\t"+macBypass] = Value{V: strings.Join(t.Bypass, "\n")}
	}
	return s
}

// Write sets each service's bypass domains first (so the proxy is never on
// without them), then each proxy's server and port and its state.
// -setwebproxy also switches the proxy on, so the state always follows.
// An empty server is not written (networksetup wants a host): the proxy
// is switched off and keeps the server field Sluice wrote, which nothing
// uses while it is off. The automatic configuration goes the same way
// (no URL is written for "(null)"), after the web proxies when it is
// switched on and before them otherwise, so the two are never both on
// as Sluice's.
func (m MacOS) Write(ctx context.Context, s Settings) error {
	for _, svc := range macServices(s) {
		if v, ok := s[svc+"\t"+macBypass]; ok {
			args := []string{"-setproxybypassdomains", svc}
			if d := macDomains(v.V); len(d) > 0 {
				args = append(args, d...)
			} else {
				args = append(args, "Empty")
			}
			if _, err := m.ns(ctx, args...); err != nil {
				return err
			}
		}
		autoOn := s[svc+"\t"+macAutoEnabled].V == "Yes"
		if !autoOn {
			if err := m.writeAuto(ctx, s, svc); err != nil {
				return err
			}
		}
		for _, k := range macKinds {
			en, ok := s[svc+"\t"+k.prefix+"enabled"]
			if !ok {
				continue
			}
			server, port := s[svc+"\t"+k.prefix+"server"].V, s[svc+"\t"+k.prefix+"port"].V
			if server != "" {
				if port == "" {
					port = "0"
				}
				if _, err := m.ns(ctx, k.set, svc, server, port); err != nil {
					return err
				}
			}
			if _, err := m.ns(ctx, k.state, svc, macState(en.V)); err != nil {
				return err
			}
		}
		if autoOn {
			if err := m.writeAuto(ctx, s, svc); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAuto sets svc's automatic configuration URL, when s has one, and
// its state, when s has it.
func (m MacOS) writeAuto(ctx context.Context, s Settings, svc string) error {
	en, ok := s[svc+"\t"+macAutoEnabled]
	if !ok {
		return nil
	}
	if u := s[svc+"\t"+macAutoURL].V; u != "" && u != "(null)" {
		if _, err := m.ns(ctx, "-setautoproxyurl", svc, u); err != nil {
			return err
		}
	}
	_, err := m.ns(ctx, "-setautoproxystate", svc, macState(en.V))
	return err
}

// macState turns an "Enabled" field into the state argument networksetup
// takes.
func macState(enabled string) string {
	if enabled == "Yes" {
		return "on"
	}
	return "off"
}

// PointsAt is true when every service has its web and secure web proxy on
// and at t, or for a PAC target its automatic configuration on and at
// t.PAC.
func (MacOS) PointsAt(cur Settings, t Target) bool {
	svcs := macServices(cur)
	if len(svcs) == 0 {
		return false
	}
	if t.PAC != "" {
		for _, svc := range svcs {
			if cur[svc+"\t"+macAutoEnabled].V != "Yes" || cur[svc+"\t"+macAutoURL].V != t.PAC {
				return false
			}
		}
		return true
	}
	port := strconv.Itoa(t.Port)
	for _, svc := range svcs {
		for _, k := range macKinds {
			if cur[svc+"\t"+k.prefix+"enabled"].V != "Yes" ||
				cur[svc+"\t"+k.prefix+"server"].V != t.Host ||
				cur[svc+"\t"+k.prefix+"port"].V != port {
				return false
			}
		}
	}
	return true
}
