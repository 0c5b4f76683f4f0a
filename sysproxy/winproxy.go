package sysproxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Windows keeps the per-user proxy in the registry key
// HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings, which
// WinINet, WinHTTP's IE-proxy import, Edge, Chrome and .NET read. Sluice
// touches four values there and then tells WinINet to reload them.
const (
	winEnable   = "ProxyEnable"   // DWORD, 1 uses ProxyServer
	winServer   = "ProxyServer"   // "host:port", or "http=host:port;https=..."
	winOverride = "ProxyOverride" // ";"-separated bypass patterns
	winAuto     = "AutoConfigURL" // a PAC URL; when set, WinINet uses it before ProxyServer
)

var winValues = []string{winOverride, winServer, winAuto, winEnable}

// Registry value kinds as Value.Kind names them.
const (
	KindDWORD    = "dword"
	KindString   = "sz"
	KindExpandSZ = "expand_sz"
)

// Registry is the Internet Settings key and WinINet's reload, behind an
// interface so the Windows backend's logic is tested on every OS.
type Registry interface {
	// Get reads a value; a missing one is Value{Absent: true}. Kind is
	// KindDWORD (V in decimal), KindString or KindExpandSZ.
	Get(name string) (Value, error)
	// Set writes v with its Kind.
	Set(name string, v Value) error
	// Delete removes a value; deleting a missing one is not an error.
	Delete(name string) error
	// Notify calls InternetSetOption with INTERNET_OPTION_SETTINGS_CHANGED
	// and INTERNET_OPTION_REFRESH so running programs reload the values.
	Notify() error
}

// Windows is the registry backend.
type Windows struct {
	// Reg is the registry (OpenRegistry on Windows; a fake in tests).
	Reg Registry
}

// Name is "windows".
func (Windows) Name() string { return "windows" }

// Read gets the three values, noting which are absent.
func (w Windows) Read(context.Context) (Settings, error) {
	s := Settings{}
	for _, name := range winValues {
		v, err := w.Reg.Get(name)
		if err != nil {
			return nil, fmt.Errorf("read Windows proxy setting %s: %w", name, err)
		}
		s[name] = v
	}
	return s, nil
}

// Want enables one proxy for every protocol at t, with the bypass list in
// WinINet's syntax, and removes any AutoConfigURL, which WinINet would use
// first; or, for a PAC target, sets AutoConfigURL and disables the manual
// proxy.
func (Windows) Want(_ Settings, t Target) Settings {
	if t.PAC != "" {
		return Settings{
			winEnable: {V: "0", Kind: KindDWORD},
			winAuto:   {V: t.PAC, Kind: KindString},
		}
	}
	return Settings{
		winEnable:   {V: "1", Kind: KindDWORD},
		winServer:   {V: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Kind: KindString},
		winOverride: {V: winBypass(t.Bypass), Kind: KindString},
		winAuto:     {Absent: true},
	}
}

// Write sets or deletes each value, ProxyEnable last when it switches the
// proxy on and first when it switches it off, then notifies WinINet.
func (w Windows) Write(_ context.Context, s Settings) error {
	order := winValues // ProxyEnable is last in winValues
	if v, ok := s[winEnable]; ok && (v.Absent || v.V != "1") {
		order = append([]string{winEnable}, winValues[:len(winValues)-1]...)
	}
	for _, name := range order {
		v, ok := s[name]
		if !ok {
			continue
		}
		var err error
		if v.Absent {
			err = w.Reg.Delete(name)
		} else {
			err = w.Reg.Set(name, v)
		}
		if err != nil {
			return fmt.Errorf("write Windows proxy setting %s: %w", name, err)
		}
	}
	if err := w.Reg.Notify(); err != nil {
		return warning{fmt.Errorf("tell WinINet the proxy changed (programs see it when restarted): %w", err)}
	}
	return nil
}

// PointsAt is true when the proxy is enabled and HTTP and HTTPS go to t,
// or for a PAC target when AutoConfigURL is t.PAC.
func (Windows) PointsAt(cur Settings, t Target) bool {
	if t.PAC != "" {
		return !cur[winAuto].Absent && cur[winAuto].V == t.PAC
	}
	if cur[winEnable].V != "1" {
		return false
	}
	want := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	server := cur[winServer].V
	if !strings.Contains(server, "=") {
		return server == want
	}
	// Per-protocol form: "http=h:p;https=h:p;ftp=...".
	got := map[string]string{}
	for _, part := range strings.Split(server, ";") {
		if proto, addr, ok := strings.Cut(part, "="); ok {
			got[strings.ToLower(strings.TrimSpace(proto))] = strings.TrimSpace(addr)
		}
	}
	return got["http"] == want && got["https"] == want
}
