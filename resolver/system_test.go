package resolver

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestParseResolvConf(t *testing.T) {
	got := parseResolvConf([]byte(`# generated
search corp.example
nameserver 10.0.0.53
nameserver   fd00::53 # comment
nameserver 10.0.0.53
nameserver not-an-ip
options ndots:2 timeout:1
;nameserver 10.9.9.9
`))
	want := []string{"10.0.0.53:53", "[fd00::53]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The Windows adapter rule, tested here with values as GetAdaptersAddresses
// would report them.
func TestServersFromAdapters(t *testing.T) {
	ip := netip.MustParseAddr
	got := serversFromAdapters([]adapter{
		{up: true, hasGateway: true, dns: []netip.Addr{ip("192.168.1.1"), ip("fec0:0:0:ffff::1"), ip("2001:db8::53")}},
		{up: false, hasGateway: true, dns: []netip.Addr{ip("10.1.1.1")}},   // down
		{up: true, hasGateway: false, dns: []netip.Addr{ip("10.2.2.2")}},   // no gateway (e.g. a host-only adapter)
		{up: true, hasGateway: true, dns: []netip.Addr{ip("192.168.1.1")}}, // duplicate
	})
	want := []string{"192.168.1.1:53", "[2001:db8::53]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// "system" follows resolv.conf: a changed file is read again within the
// recheck interval, and an empty one falls back to the local resolver.
func TestSystemServersFollowResolvConf(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no resolv.conf: its servers come from the network adapters (see TestSystemServersFromTheAdapters)")
	}
	conf := writeFile(t, "resolv.conf", "nameserver 10.0.0.1\n")
	clock := newClock()
	s, err := newServerList(Config{Servers: []string{"system", "9.9.9.9"}, ResolvConf: conf, Timeout: time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		for _, u := range s.list() {
			out = append(out, u.String())
		}
		return out
	}
	if got, want := names(), []string{"10.0.0.1:53", "9.9.9.9:53"}; !slices.Equal(got, want) {
		t.Fatalf("servers = %v, want %v", got, want)
	}
	if err := os.WriteFile(conf, []byte("nameserver 10.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := names(); got[0] != "10.0.0.1:53" {
		t.Fatalf("reread before the recheck interval: %v", got)
	}
	clock.Advance(systemRecheck)
	if got, want := names(), []string{"10.0.0.2:53", "9.9.9.9:53"}; !slices.Equal(got, want) {
		t.Fatalf("after change: %v, want %v", got, want)
	}
	if err := os.WriteFile(conf, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock.Advance(systemRecheck)
	if got, want := names(), []string{"127.0.0.1:53", "[::1]:53", "9.9.9.9:53"}; !slices.Equal(got, want) {
		t.Fatalf("empty resolv.conf: %v, want %v", got, want)
	}
}
