package sysproxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// fakeNetworksetup plays networksetup for the macOS backend: it keeps each
// service's settings the way macOS does, prints them in networksetup's
// format, and records every command that changes something.
type fakeNetworksetup struct {
	services []string // as -listallnetworkservices prints them, "*" = disabled
	proxies  map[string]*macProxy
	bypass   map[string][]string
	auto     map[string]*macAuto
	sets     []string // each changing command, space-joined, args quoted when they hold spaces
}

type macProxy struct {
	enabled      bool
	server, port string
}

// macAuto is a service's automatic proxy configuration; url "" prints as
// "(null)", as for a service where none was ever set.
type macAuto struct {
	enabled bool
	url     string
}

func newFakeNetworksetup() *fakeNetworksetup {
	f := &fakeNetworksetup{
		services: []string{"Wi-Fi", "Thunderbolt Bridge", "*Bluetooth PAN"},
		proxies:  map[string]*macProxy{},
		auto:     map[string]*macAuto{},
		bypass: map[string][]string{
			"Wi-Fi": {"*.corp.example", "169.254/16"},
		},
	}
	for _, svc := range []string{"Wi-Fi", "Thunderbolt Bridge", "Bluetooth PAN"} {
		for _, k := range []string{"web", "secure"} {
			f.proxies[svc+"/"+k] = &macProxy{port: "0"}
		}
		f.auto[svc] = &macAuto{}
	}
	// The user's own proxy on Wi-Fi; Thunderbolt Bridge has none.
	*f.proxies["Wi-Fi/web"] = macProxy{enabled: true, server: "corp.example", port: "3128"}
	*f.proxies["Wi-Fi/secure"] = macProxy{enabled: true, server: "corp.example", port: "3128"}
	return f
}

func (f *fakeNetworksetup) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	if name != "networksetup" || len(args) == 0 {
		return nil, fmt.Errorf("unexpected command %s %q", name, args)
	}
	verb := args[0]
	kind := "web"
	if strings.Contains(verb, "secureweb") {
		kind = "secure"
	}
	p := func() (*macProxy, error) {
		if len(args) < 2 || f.proxies[args[1]+"/"+kind] == nil {
			return nil, fmt.Errorf("** Error: The parameters were not valid.")
		}
		return f.proxies[args[1]+"/"+kind], nil
	}
	switch verb {
	case "-listallnetworkservices":
		return []byte("An asterisk (*) denotes that a network service is disabled.\n" + strings.Join(f.services, "\n") + "\n"), nil
	case "-getwebproxy", "-getsecurewebproxy":
		px, err := p()
		if err != nil {
			return nil, err
		}
		en := "No"
		if px.enabled {
			en = "Yes"
		}
		return fmt.Appendf(nil, "Enabled: %s\nServer: %s\nPort: %s\nAuthenticated Proxy Enabled: 0\n", en, px.server, px.port), nil
	case "-getautoproxyurl":
		a := f.auto[args[1]]
		if a == nil {
			return nil, fmt.Errorf("** Error: The parameters were not valid.")
		}
		u, en := a.url, "No"
		if u == "" {
			u = "(null)"
		}
		if a.enabled {
			en = "Yes"
		}
		return fmt.Appendf(nil, "URL: %s\nEnabled: %s\n", u, en), nil
	case "-getproxybypassdomains":
		if d := f.bypass[args[1]]; len(d) > 0 {
			return []byte(strings.Join(d, "\n") + "\n"), nil
		}
		return []byte("There aren't any bypass domains set on " + args[1] + ".\n"), nil
	}
	f.sets = append(f.sets, quoteArgs(args))
	switch verb {
	case "-setwebproxy", "-setsecurewebproxy":
		px, err := p()
		if err != nil || len(args) != 4 {
			return nil, fmt.Errorf("bad %q", args)
		}
		// networksetup switches the proxy on when it sets the server.
		*px = macProxy{enabled: true, server: args[2], port: args[3]}
	case "-setwebproxystate", "-setsecurewebproxystate":
		px, err := p()
		if err != nil || len(args) != 3 {
			return nil, fmt.Errorf("bad %q", args)
		}
		px.enabled = args[2] == "on"
	case "-setautoproxyurl":
		if len(args) != 3 || f.auto[args[1]] == nil {
			return nil, fmt.Errorf("bad %q", args)
		}
		// Like -setwebproxy, it switches the configuration on.
		*f.auto[args[1]] = macAuto{enabled: true, url: args[2]}
	case "-setautoproxystate":
		if len(args) != 3 || f.auto[args[1]] == nil {
			return nil, fmt.Errorf("bad %q", args)
		}
		f.auto[args[1]].enabled = args[2] == "on"
	case "-setproxybypassdomains":
		if slices.Equal(args[2:], []string{"Empty"}) {
			f.bypass[args[1]] = nil
		} else {
			f.bypass[args[1]] = slices.Clone(args[2:])
		}
	default:
		return nil, fmt.Errorf("unexpected networksetup %q", args)
	}
	return nil, nil
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ") || a == "" {
			a = `"` + a + `"`
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func (f *fakeNetworksetup) takeSets() []string {
	s := f.sets
	f.sets = nil
	return s
}

func assertCommands(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s ran:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

var (
	macOnCommands = []string{
		`-setproxybypassdomains "Thunderbolt Bridge" localhost 127.0.0.0/8 ::1 *.local 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16`,
		`-setautoproxystate "Thunderbolt Bridge" off`,
		`-setwebproxy "Thunderbolt Bridge" 127.0.0.1 8877`,
		`-setwebproxystate "Thunderbolt Bridge" on`,
		`-setsecurewebproxy "Thunderbolt Bridge" 127.0.0.1 8877`,
		`-setsecurewebproxystate "Thunderbolt Bridge" on`,
		`-setproxybypassdomains Wi-Fi localhost 127.0.0.0/8 ::1 *.local 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16`,
		`-setautoproxystate Wi-Fi off`,
		`-setwebproxy Wi-Fi 127.0.0.1 8877`,
		`-setwebproxystate Wi-Fi on`,
		`-setsecurewebproxy Wi-Fi 127.0.0.1 8877`,
		`-setsecurewebproxystate Wi-Fi on`,
	}
	// Restoring: Thunderbolt Bridge had no proxy, so it is only switched
	// off (networksetup takes no empty server); Wi-Fi gets the corporate
	// proxy and its bypass list back.
	macOffCommands = []string{
		`-setproxybypassdomains "Thunderbolt Bridge" Empty`,
		`-setautoproxystate "Thunderbolt Bridge" off`,
		`-setwebproxystate "Thunderbolt Bridge" off`,
		`-setsecurewebproxystate "Thunderbolt Bridge" off`,
		`-setproxybypassdomains Wi-Fi *.corp.example 169.254/16`,
		`-setautoproxystate Wi-Fi off`,
		`-setwebproxy Wi-Fi corp.example 3128`,
		`-setwebproxystate Wi-Fi on`,
		`-setsecurewebproxy Wi-Fi corp.example 3128`,
		`-setsecurewebproxystate Wi-Fi on`,
	}
)

func TestMacOSOnOffCommands(t *testing.T) {
	f := newFakeNetworksetup()
	m := newTestManager(t, MacOS{Run: f})
	if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", f.takeSets(), macOnCommands)
	if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
		t.Fatal(err)
	}
	f.takeSets()
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "Off", f.takeSets(), macOffCommands)
	if *f.proxies["Wi-Fi/web"] != (macProxy{enabled: true, server: "corp.example", port: "3128"}) ||
		!slices.Equal(f.bypass["Wi-Fi"], []string{"*.corp.example", "169.254/16"}) {
		t.Fatalf("Wi-Fi after Off: %+v %q", *f.proxies["Wi-Fi/web"], f.bypass["Wi-Fi"])
	}
	if p := f.proxies["Thunderbolt Bridge/web"]; p.enabled {
		t.Fatalf("Thunderbolt Bridge web proxy left on: %+v", *p)
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "second Off", f.takeSets(), nil)
}

func TestMacOSRestoreAfterOwnerDied(t *testing.T) {
	f := newFakeNetworksetup()
	dir := t.TempDir()
	crashed, err := NewManager(Options{StateDir: dir, Backends: []Backend{MacOS{Run: f}}, Owner: deadPID(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.On("127.0.0.1", 8877, testBypass); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", f.takeSets(), macOnCommands)

	next, err := NewManager(Options{StateDir: dir, Backends: []Backend{MacOS{Run: f}}, Owner: os.Getpid(), Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	restored, err := next.Restore()
	if err != nil || !restored {
		t.Fatalf("Restore = %v, %v; want true", restored, err)
	}
	assertCommands(t, "Restore", f.takeSets(), macOffCommands)
}

// TestMacOSPACCommands switches to a PAC URL and back: the automatic
// configuration is pointed at Sluice's PAC and the web proxies are
// switched off; Off puts back the user's own PAC URL on Thunderbolt
// Bridge and the manual proxy on Wi-Fi, exactly.
func TestMacOSPACCommands(t *testing.T) {
	const pac = "http://127.0.0.1:8877/proxy.pac"
	f := newFakeNetworksetup()
	*f.auto["Thunderbolt Bridge"] = macAuto{enabled: true, url: "http://wpad.corp.example/wpad.dat"}
	before, err := MacOS{Run: f}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, MacOS{Run: f})
	if err := m.OnTarget(Target{Host: "127.0.0.1", Port: 8877, PAC: pac}); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", f.takeSets(), []string{
		`-setwebproxystate "Thunderbolt Bridge" off`,
		`-setsecurewebproxystate "Thunderbolt Bridge" off`,
		`-setautoproxyurl "Thunderbolt Bridge" ` + pac,
		`-setautoproxystate "Thunderbolt Bridge" on`,
		`-setwebproxystate Wi-Fi off`,
		`-setsecurewebproxystate Wi-Fi off`,
		`-setautoproxyurl Wi-Fi ` + pac,
		`-setautoproxystate Wi-Fi on`,
	})
	st, err := m.Status(Target{})
	if err != nil || !st[0].PointsAtSluice {
		t.Fatalf("Status after On with a PAC URL = %+v, %v", st, err)
	}
	if (MacOS{}).PointsAt(st[0].Current, Target{Host: "127.0.0.1", Port: 8877}) {
		t.Error("PAC settings taken for the manual proxy")
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "Off", f.takeSets(), []string{
		`-setproxybypassdomains "Thunderbolt Bridge" Empty`,
		`-setwebproxystate "Thunderbolt Bridge" off`,
		`-setsecurewebproxystate "Thunderbolt Bridge" off`,
		`-setautoproxyurl "Thunderbolt Bridge" http://wpad.corp.example/wpad.dat`,
		`-setautoproxystate "Thunderbolt Bridge" on`,
		`-setproxybypassdomains Wi-Fi *.corp.example 169.254/16`,
		`-setautoproxystate Wi-Fi off`,
		`-setwebproxy Wi-Fi corp.example 3128`,
		`-setwebproxystate Wi-Fi on`,
		`-setsecurewebproxy Wi-Fi corp.example 3128`,
		`-setsecurewebproxystate Wi-Fi on`,
	})
	// networksetup cannot unset a URL: Wi-Fi's, never set before, keeps
	// Sluice's, switched off, as a web proxy keeps its server.
	after, err := MacOS{Run: f}.Read(context.Background())
	if err != nil || after["Wi-Fi\tauto.url"].V != pac {
		t.Fatalf("Wi-Fi's auto-config URL after Off: %v, %v", after["Wi-Fi\tauto.url"], err)
	}
	after["Wi-Fi\tauto.url"] = before["Wi-Fi\tauto.url"]
	if !after.Equal(before) {
		t.Fatalf("after Off:\n%s\nwant:\n%s", after, before)
	}
}

func TestMacOSListsOnlyEnabledServices(t *testing.T) {
	f := newFakeNetworksetup()
	got, err := MacOS{Run: f}.services(context.Background())
	if err != nil || !slices.Equal(got, []string{"Wi-Fi", "Thunderbolt Bridge"}) {
		t.Fatalf("services = %q, %v", got, err)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
