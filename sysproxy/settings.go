package sysproxy

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Target is where Sluice wants the system proxy to point.
type Target struct {
	// Host is the proxy host the OS should use, usually "127.0.0.1".
	Host string `json:"host"`
	// Port is the proxy port.
	Port int `json:"port"`
	// Bypass lists hosts, domains (with a leading "*."), IP addresses and
	// CIDR ranges that go direct, in the portable form of config.toml;
	// each backend translates it into its own syntax. Nil means none.
	Bypass []string `json:"bypass,omitempty"`
	// PAC, when not empty, is the URL of a proxy auto-config file
	// ("http://127.0.0.1:8877/proxy.pac"): the system is pointed at it
	// (automatic configuration) instead of at Host and Port, and Bypass
	// is left to the file. Each backend's Want then turns its manual
	// proxy off, and in manual mode turns any auto-config off, so the one
	// Sluice set is the one in effect; Off puts both back.
	PAC string `json:"pac,omitempty"`
}

// String is the target as logs show it: the PAC URL or host:port.
func (t Target) String() string {
	if t.PAC != "" {
		return t.PAC
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// Value is one setting as a backend stores it.
type Value struct {
	// V is the value in the backend's own text form: GVariant text for
	// gsettings, the raw string for KDE and macOS, the decimal number or
	// string for the Windows registry.
	V string `json:"v"`
	// Absent is true when the setting did not exist at all (a registry
	// value or config key that was never written), so restoring it means
	// deleting it rather than writing V.
	Absent bool `json:"absent,omitempty"`
	// Kind is the backend's value type where it has several (the Windows
	// registry type number); empty where every value has one type.
	Kind string `json:"kind,omitempty"`
}

// Settings maps a backend's setting name to its value. Names are the
// backend's own ("org.gnome.system.proxy.http port", "Wi-Fi\tweb.server").
type Settings map[string]Value

// Equal reports whether s and o hold the same names with the same values.
func (s Settings) Equal(o Settings) bool { return maps.Equal(s, o) }

// String lists the settings one per line, sorted by name, absent ones as
// "(absent)", for logs and `sluice sysproxy status`.
func (s Settings) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s)) {
		v := s[k]
		b.WriteString(strings.ReplaceAll(k, "\t", " "))
		b.WriteString(" = ")
		if v.Absent {
			b.WriteString("(absent)")
		} else {
			b.WriteString(v.V)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Backend reads and writes one OS mechanism's proxy settings. A Backend
// holds no state of its own between calls: the Manager keeps snapshots.
type Backend interface {
	// Name identifies the backend in the state file and in status
	// ("gnome", "kde5", "kde6", "macos", "windows").
	Name() string
	// Read returns every setting the backend would touch, as it is now.
	Read(ctx context.Context) (Settings, error)
	// Want returns the settings that point the system at t, given the
	// current settings cur (some backends, like macOS, derive the set of
	// names from cur). It has no side effects.
	Want(cur Settings, t Target) Settings
	// Write sets every name in s to its value, deleting those marked
	// Absent, and tells running programs the settings changed.
	Write(ctx context.Context, s Settings) error
	// PointsAt reports whether cur sends web traffic to t: to its host
	// and port, or, when t.PAC is set, to that auto-config URL.
	PointsAt(cur Settings, t Target) bool
}

// noter is implemented by backends that have something to say in status
// beyond the settings (a missing D-Bus session bus, say).
type noter interface {
	Note() string
}

// BackendStatus is one backend's part of Manager.Status.
type BackendStatus struct {
	// Name is the backend's name.
	Name string
	// Current is what the OS holds now; nil if Err is set.
	Current Settings
	// PointsAtSluice is true when Current sends web traffic to the
	// Target Sluice last switched on (or, with no state file, the target
	// passed to Status).
	PointsAtSluice bool
	// Owned is true when a state file holds a snapshot for this backend,
	// that is, Sluice switched it on and has not restored it.
	Owned bool
	// Note is extra information ("no D-Bus session bus: running KDE
	// programs see the change when restarted"); empty when none.
	Note string
	// Err is why the settings could not be read; nil on success.
	Err error
}

// warning is returned by Backend.Write when the settings were written but
// something after it failed (telling running programs, say): the Manager
// logs it and carries on.
type warning struct{ err error }

func (w warning) Error() string { return w.err.Error() }
func (w warning) Unwrap() error { return w.err }
