package sysproxy

import (
	"errors"
	"fmt"
	"maps"
	"testing"
)

// fakeRegistry plays the Internet Settings key and WinINet, recording
// every change.
type fakeRegistry struct {
	values    map[string]Value
	ops       []string
	notifyErr error
	failSet   string // a value name whose Set fails
}

func (r *fakeRegistry) Get(name string) (Value, error) {
	if v, ok := r.values[name]; ok {
		return v, nil
	}
	return Value{Absent: true}, nil
}

func (r *fakeRegistry) Set(name string, v Value) error {
	if name == r.failSet {
		return errors.New("Access is denied.")
	}
	r.ops = append(r.ops, fmt.Sprintf("set %s %s %q", name, v.Kind, v.V))
	v.Absent = false
	r.values[name] = v
	return nil
}

func (r *fakeRegistry) Delete(name string) error {
	r.ops = append(r.ops, "delete "+name)
	delete(r.values, name)
	return nil
}

func (r *fakeRegistry) Notify() error {
	r.ops = append(r.ops, "notify")
	return r.notifyErr
}

func (r *fakeRegistry) takeOps() []string {
	o := r.ops
	r.ops = nil
	return o
}

const winOverrideWant = "localhost;127.*;[::1];*.local;10.*;" +
	"172.16.*;172.17.*;172.18.*;172.19.*;172.20.*;172.21.*;172.22.*;172.23.*;" +
	"172.24.*;172.25.*;172.26.*;172.27.*;172.28.*;172.29.*;172.30.*;172.31.*;" +
	"192.168.*;<local>"

var winOnOps = []string{
	`set ProxyOverride sz "` + winOverrideWant + `"`,
	`set ProxyServer sz "127.0.0.1:8877"`,
	"delete AutoConfigURL", // WinINet would use it before ProxyServer
	`set ProxyEnable dword "1"`,
	"notify",
}

func TestWindowsOnOffFromNoProxy(t *testing.T) {
	// A fresh profile: ProxyEnable is 0 and the other two values do not
	// exist, so restoring deletes them.
	reg := &fakeRegistry{values: map[string]Value{winEnable: {V: "0", Kind: KindDWORD}}}
	before := maps.Clone(reg.values)
	m := newTestManager(t, Windows{Reg: reg})
	if err := m.On("127.0.0.1", 8877, testBypass); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", reg.takeOps(), winOnOps)
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "Off", reg.takeOps(), []string{
		`set ProxyEnable dword "0"`,
		"delete ProxyOverride",
		"delete ProxyServer",
		"delete AutoConfigURL",
		"notify",
	})
	if !maps.Equal(reg.values, before) {
		t.Fatalf("after Off: %v, want %v", reg.values, before)
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "second Off", reg.takeOps(), nil)
}

func TestWindowsRestoreCorporateProxy(t *testing.T) {
	corp := map[string]Value{
		winEnable:   {V: "1", Kind: KindDWORD},
		winServer:   {V: "http=corp.example:3128;https=corp.example:3128", Kind: KindString},
		winOverride: {V: "*.corp.example;<local>", Kind: KindExpandSZ},
	}
	reg := &fakeRegistry{values: maps.Clone(corp)}
	dir := t.TempDir()
	crashed, err := NewManager(Options{StateDir: dir, Backends: []Backend{Windows{Reg: reg}}, Owner: deadPID(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := crashed.On("127.0.0.1", 8877, testBypass); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", reg.takeOps(), winOnOps)
	next, err := NewManager(Options{StateDir: dir, Backends: []Backend{Windows{Reg: reg}}, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if restored, err := next.Restore(); err != nil || !restored {
		t.Fatalf("Restore = %v, %v", restored, err)
	}
	assertCommands(t, "Restore", reg.takeOps(), []string{
		`set ProxyOverride expand_sz "*.corp.example;<local>"`,
		`set ProxyServer sz "http=corp.example:3128;https=corp.example:3128"`,
		"delete AutoConfigURL",
		`set ProxyEnable dword "1"`,
		"notify",
	})
	if !maps.Equal(reg.values, corp) {
		t.Fatalf("after Restore: %v, want %v", reg.values, corp)
	}
}

func TestWindowsNotifyFailureIsOnlyAWarning(t *testing.T) {
	reg := &fakeRegistry{values: map[string]Value{}, notifyErr: errors.New("wininet.dll not found")}
	m := newTestManager(t, Windows{Reg: reg})
	if err := m.On("127.0.0.1", 8877, nil); err != nil {
		t.Fatalf("On failed on a notify error: %v", err)
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	if len(reg.values) != 0 {
		t.Fatalf("after Off: %v, want no values", reg.values)
	}
}

// TestWindowsPAC points WinINet at Sluice's PAC URL over a user's own PAC
// URL and manual proxy, and puts both back exactly.
func TestWindowsPAC(t *testing.T) {
	const pac = "http://127.0.0.1:8877/proxy.pac"
	user := map[string]Value{
		winEnable:   {V: "1", Kind: KindDWORD},
		winServer:   {V: "corp.example:3128", Kind: KindString},
		winOverride: {V: "*.corp.example;<local>", Kind: KindExpandSZ},
		winAuto:     {V: "http://wpad.corp.example/wpad.dat", Kind: KindString},
	}
	reg := &fakeRegistry{values: maps.Clone(user)}
	m := newTestManager(t, Windows{Reg: reg})
	tg := Target{Host: "127.0.0.1", Port: 8877, PAC: pac}
	if err := m.OnTarget(tg); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "On", reg.takeOps(), []string{
		`set ProxyEnable dword "0"`,
		`set AutoConfigURL sz "` + pac + `"`,
		"notify",
	})
	st, err := m.Status(Target{})
	if err != nil || !st[0].PointsAtSluice {
		t.Fatalf("Status after On with a PAC URL = %+v, %v", st, err)
	}
	if (Windows{}).PointsAt(st[0].Current, Target{Host: "127.0.0.1", Port: 8877}) {
		t.Error("PAC settings taken for the manual proxy")
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "Off", reg.takeOps(), []string{
		`set ProxyOverride expand_sz "*.corp.example;<local>"`,
		`set ProxyServer sz "corp.example:3128"`,
		`set AutoConfigURL sz "http://wpad.corp.example/wpad.dat"`,
		`set ProxyEnable dword "1"`,
		"notify",
	})
	if !maps.Equal(reg.values, user) {
		t.Fatalf("after Off: %v, want %v", reg.values, user)
	}

	// From no proxy at all: Off deletes what Sluice added.
	reg = &fakeRegistry{values: map[string]Value{}}
	m = newTestManager(t, Windows{Reg: reg})
	if err := m.OnTarget(tg); err != nil {
		t.Fatal(err)
	}
	reg.takeOps()
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	assertCommands(t, "Off", reg.takeOps(), []string{
		"delete ProxyEnable",
		"delete ProxyOverride",
		"delete ProxyServer",
		"delete AutoConfigURL",
		"notify",
	})
	if len(reg.values) != 0 {
		t.Fatalf("after Off: %v, want none", reg.values)
	}
}

func TestOnFailurePutsEverythingBack(t *testing.T) {
	reg := &fakeRegistry{values: map[string]Value{winEnable: {V: "0", Kind: KindDWORD}}, failSet: winServer}
	m := newTestManager(t, Windows{Reg: reg})
	if err := m.On("127.0.0.1", 8877, nil); err == nil {
		t.Fatal("On succeeded though the registry refused a write")
	}
	want := map[string]Value{winEnable: {V: "0", Kind: KindDWORD}}
	if !maps.Equal(reg.values, want) {
		t.Fatalf("after a failed On: %v, want %v", reg.values, want)
	}
	if m.IsOn() {
		t.Fatal("a failed On left a state file")
	}
}

func TestWindowsPointsAt(t *testing.T) {
	tg := Target{Host: "127.0.0.1", Port: 8877}
	cases := []struct {
		enable, server string
		want           bool
	}{
		{"1", "127.0.0.1:8877", true},
		{"1", "http=127.0.0.1:8877;https=127.0.0.1:8877", true},
		{"1", "http=127.0.0.1:8877;https=corp:3128", false},
		{"0", "127.0.0.1:8877", false},
		{"1", "127.0.0.1:8878", false},
	}
	for _, c := range cases {
		s := Settings{winEnable: {V: c.enable}, winServer: {V: c.server}}
		if got := (Windows{}).PointsAt(s, tg); got != c.want {
			t.Errorf("PointsAt(%s, %s) = %v, want %v", c.enable, c.server, got, c.want)
		}
	}
}

func TestBypassTranslation(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{nil, "<local>"},
		{[]string{"10.1.2.0/24"}, "10.1.2.*;<local>"},
		{[]string{"192.0.2.7/32", "0.0.0.0/0"}, "192.0.2.7;*;<local>"},
		{[]string{"100.64.0.0/10"}, "100.64.*;100.65.*;" + "100.66.*;100.67.*;100.68.*;100.69.*;100.70.*;100.71.*;100.72.*;100.73.*;100.74.*;100.75.*;100.76.*;100.77.*;100.78.*;100.79.*;100.80.*;100.81.*;100.82.*;100.83.*;100.84.*;100.85.*;100.86.*;100.87.*;100.88.*;100.89.*;100.90.*;100.91.*;100.92.*;100.93.*;100.94.*;100.95.*;100.96.*;100.97.*;100.98.*;100.99.*;100.100.*;100.101.*;100.102.*;100.103.*;100.104.*;100.105.*;100.106.*;100.107.*;100.108.*;100.109.*;100.110.*;100.111.*;100.112.*;100.113.*;100.114.*;100.115.*;100.116.*;100.117.*;100.118.*;100.119.*;100.120.*;100.121.*;100.122.*;100.123.*;100.124.*;100.125.*;100.126.*;100.127.*;<local>"},
		{[]string{"fc00::/7", "fe80::1", "::1/128", "example.com", " "}, "[fe80::1];[::1];example.com;<local>"},
	}
	for _, c := range cases {
		if got := winBypass(c.in); got != c.want {
			t.Errorf("winBypass(%q) =\n%s\nwant\n%s", c.in, got, c.want)
		}
	}
	if got := kdeBypass([]string{"localhost", "*.local"}); got != "localhost,*.local" {
		t.Errorf("kdeBypass = %q", got)
	}
}
