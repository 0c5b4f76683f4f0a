package sysproxy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/registry"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// These tests switch the real registry: HKCU's Internet Settings key, in
// Wine's throwaway prefix under make test-windows (see
// wintest.ScratchRegistry). They read and write it straight through the
// registry package, never through the Registry they test.

// rawValue is a registry value as stored: its type and its data.
type rawValue struct {
	typ  uint32 // registry.SZ, EXPAND_SZ, DWORD or BINARY; 0 when absent
	s    string // SZ and EXPAND_SZ
	n    uint64 // DWORD
	data []byte // BINARY
}

func (v rawValue) String() string {
	switch v.typ {
	case 0:
		return "(absent)"
	case registry.DWORD:
		return fmt.Sprintf("DWORD %d", v.n)
	case registry.SZ:
		return fmt.Sprintf("SZ %q", v.s)
	case registry.EXPAND_SZ:
		return fmt.Sprintf("EXPAND_SZ %q", v.s)
	}
	return fmt.Sprintf("type %d %x", v.typ, v.data)
}

func openInternetSettings(t *testing.T) registry.Key {
	t.Helper()
	k, _, err := registry.CreateKey(registry.CURRENT_USER, internetSettingsKey, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readRaw(t *testing.T, name string) rawValue {
	t.Helper()
	k := openInternetSettings(t)
	defer k.Close()
	_, typ, err := k.GetValue(name, nil)
	if errors.Is(err, registry.ErrNotExist) {
		return rawValue{}
	}
	if err != nil {
		t.Fatal(err)
	}
	v := rawValue{typ: typ}
	switch typ {
	case registry.DWORD:
		v.n, _, err = k.GetIntegerValue(name)
	case registry.SZ, registry.EXPAND_SZ:
		v.s, _, err = k.GetStringValue(name)
	default:
		v.data, _, err = k.GetBinaryValue(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeRaw(t *testing.T, name string, v rawValue) {
	t.Helper()
	k := openInternetSettings(t)
	defer k.Close()
	var err error
	switch v.typ {
	case 0:
		if err = k.DeleteValue(name); errors.Is(err, registry.ErrNotExist) {
			err = nil
		}
	case registry.DWORD:
		err = k.SetDWordValue(name, uint32(v.n))
	case registry.SZ:
		err = k.SetStringValue(name, v.s)
	case registry.EXPAND_SZ:
		err = k.SetExpandStringValue(name, v.s)
	default:
		err = k.SetBinaryValue(name, v.data)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// proxyValues is the values Sluice switches, as comparable text.
func proxyValues(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, name := range winValues {
		fmt.Fprintf(&b, "%s: %s\n", name, readRaw(t, name))
	}
	return b.String()
}

// keepInternetSettings puts the values Sluice switches back as they are now when t
// ends, whatever the test did.
func keepInternetSettings(t *testing.T) {
	t.Helper()
	saved := map[string]rawValue{}
	for _, name := range winValues {
		saved[name] = readRaw(t, name)
	}
	t.Cleanup(func() {
		for name, v := range saved {
			writeRaw(t, name, v)
		}
	})
}

// corporateProxy is a user's own proxy, per protocol, with a bypass list
// of the expandable string type, which must come back as that type.
func setCorporateProxy(t *testing.T) {
	t.Helper()
	writeRaw(t, winEnable, rawValue{typ: registry.DWORD, n: 1})
	writeRaw(t, winServer, rawValue{typ: registry.SZ, s: "http=corp.example:3128;https=corp.example:3128"})
	writeRaw(t, winOverride, rawValue{typ: registry.EXPAND_SZ, s: "*.corp.example;<local>"})
}

func openRegistry(t *testing.T) Registry {
	t.Helper()
	reg, err := OpenRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// The acceptance scenario of every backend, on the real registry.
func TestWindowsRegistryRoundTrip(t *testing.T) {
	wintest.ScratchRegistry(t)
	keepInternetSettings(t)
	runRoundTrip(t, osTool{
		b:        Windows{Reg: openRegistry(t)},
		setPrior: setCorporateProxy,
		snapshot: proxyValues,
		pointsAtSluice: func(t *testing.T) bool {
			server := readRaw(t, winServer)
			return readRaw(t, winEnable).String() == "DWORD 1" &&
				server.typ == registry.SZ && strings.HasPrefix(server.s, "127.0.0.1:887") &&
				readRaw(t, winOverride).String() == fmt.Sprintf("SZ %q", winOverrideWant)
		},
		meddle: func(t *testing.T) {
			writeRaw(t, winServer, rawValue{typ: registry.SZ, s: "other.example:8080"})
		},
	})
}

// Restoring puts back each value exactly: its type, its data, or its
// absence.
func TestWindowsRegistryRestoresExactly(t *testing.T) {
	wintest.ScratchRegistry(t)
	keepInternetSettings(t)
	cases := []struct {
		name  string
		prior map[string]rawValue
	}{
		{"corporate proxy", map[string]rawValue{
			winEnable:   {typ: registry.DWORD, n: 1},
			winServer:   {typ: registry.SZ, s: "corp.example:3128"},
			winOverride: {typ: registry.EXPAND_SZ, s: "%USERDNSDOMAIN%;<local>"},
		}},
		{"proxy off but remembered", map[string]rawValue{
			winEnable: {typ: registry.DWORD, n: 0},
			winServer: {typ: registry.SZ, s: "corp.example:3128"},
		}},
		{"never set", map[string]rawValue{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range winValues {
				writeRaw(t, name, c.prior[name])
			}
			prior := proxyValues(t)
			m := newTestManager(t, Windows{Reg: openRegistry(t)})
			if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
				t.Fatal(err)
			}
			want := map[string]rawValue{
				winEnable:   {typ: registry.DWORD, n: 1},
				winServer:   {typ: registry.SZ, s: "127.0.0.1:8877"},
				winOverride: {typ: registry.SZ, s: winOverrideWant},
			}
			for name, v := range want {
				if got := readRaw(t, name); got.String() != v.String() {
					t.Errorf("after On, %s = %s, want %s", name, got, v)
				}
			}
			if err := m.Off(); err != nil {
				t.Fatal(err)
			}
			if got := proxyValues(t); got != prior {
				t.Fatalf("after Off:\n%swant:\n%s", got, prior)
			}
		})
	}
}

// [sysproxy] mode "pac" on the real registry: AutoConfigURL is Sluice's
// PAC URL and the manual proxy is off; Off puts back the user's own PAC
// URL, manual proxy and bypass list, or their absence, exactly.
func TestWindowsRegistryPAC(t *testing.T) {
	wintest.ScratchRegistry(t)
	keepInternetSettings(t)
	for _, c := range []struct {
		name  string
		prior map[string]rawValue
	}{
		{"user's own PAC URL", map[string]rawValue{
			winEnable:   {typ: registry.DWORD, n: 1},
			winServer:   {typ: registry.SZ, s: "corp.example:3128"},
			winOverride: {typ: registry.EXPAND_SZ, s: "%USERDNSDOMAIN%;<local>"},
			winAuto:     {typ: registry.SZ, s: userPAC},
		}},
		{"never set", map[string]rawValue{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range winValues {
				writeRaw(t, name, c.prior[name])
			}
			prior := proxyValues(t)
			m := newTestManager(t, Windows{Reg: openRegistry(t)})
			if err := m.OnTarget(pacTarget); err != nil {
				t.Fatal(err)
			}
			if got := readRaw(t, winAuto); got.String() != (rawValue{typ: registry.SZ, s: testPAC}).String() {
				t.Errorf("after On, AutoConfigURL = %s", got)
			}
			if got := readRaw(t, winEnable); got.String() != (rawValue{typ: registry.DWORD, n: 0}).String() {
				t.Errorf("after On, ProxyEnable = %s", got)
			}
			if st, err := m.Status(Target{}); err != nil || !st[0].PointsAtSluice {
				t.Errorf("Status = %+v, %v", st, err)
			}
			if err := m.Off(); err != nil {
				t.Fatal(err)
			}
			if got := proxyValues(t); got != prior {
				t.Fatalf("after Off:\n%swant:\n%s", got, prior)
			}
		})
	}
}

// A value of a type Sluice could not write back exactly makes On refuse
// before it changes anything.
func TestWindowsRegistryRefusesAValueItCannotRestore(t *testing.T) {
	wintest.ScratchRegistry(t)
	keepInternetSettings(t)
	setCorporateProxy(t)
	writeRaw(t, winServer, rawValue{typ: registry.BINARY, data: []byte("corp.example:3128")})
	prior := proxyValues(t)
	m := newTestManager(t, Windows{Reg: openRegistry(t)})
	err := m.On("127.0.0.1", 8877, nil)
	if err == nil || !strings.Contains(err.Error(), "does not restore") {
		t.Fatalf("On = %v, want a refusal naming the value's type", err)
	}
	if got := proxyValues(t); got != prior {
		t.Fatalf("a refused On changed the registry:\n%swant:\n%s", got, prior)
	}
	if m.IsOn() {
		t.Fatal("a refused On left a state file")
	}
}

// WinINet is told to reload. Under Wine its INTERNET_OPTION_REFRESH fails
// (error 12018), which must stay a warning: the registry is written all
// the same.
func TestWindowsRegistryNotify(t *testing.T) {
	wintest.ScratchRegistry(t)
	err := openRegistry(t).Notify()
	if !wintest.UnderWine() {
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "InternetSetOption(37)") {
		t.Fatalf("Notify under Wine = %v; Wine 8 refuses INTERNET_OPTION_REFRESH (37) with 12018, and the other tests count on that being the only difference", err)
	}
}

// A change another program makes to the key reaches Follow through
// RegNotifyChangeKeyValue, with no polling.
func TestWindowsRegistryChangesAreHeard(t *testing.T) {
	wintest.ScratchRegistry(t)
	keepInternetSettings(t)
	m := newTestManager(t, Windows{Reg: openRegistry(t)})
	calls := startFollow(t, m, noPoll)
	for i, server := range []string{"a.example:1", "b.example:2"} {
		writeRaw(t, winServer, rawValue{typ: registry.SZ, s: server})
		waitCall(t, calls, fmt.Sprintf("change %d to ProxyServer", i+1))
	}
	// A value of another key is not a change of the proxy.
	k, _, err := registry.CreateKey(registry.CURRENT_USER, `Software\Sluice test`, registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	defer registry.DeleteKey(registry.CURRENT_USER, `Software\Sluice test`)
	defer k.Close()
	k.SetStringValue("x", "y")
	select {
	case <-calls:
		t.Fatal("Follow called back for a change of another key")
	case <-time.After(300 * time.Millisecond):
	}
}
