package resolver

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/sluiceproxy/sluice/internal/wintest"
)

// "system" on Windows: the DNS servers of the network adapters, read for
// real through GetAdaptersAddresses. Under Wine the adapters report the
// Linux host's resolv.conf servers (drive Z: is the host's root), so
// there the test knows which servers to expect.
func TestSystemServersFromTheAdapters(t *testing.T) {
	got, err := systemServers("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no DNS server on any adapter that is up and has a gateway")
	}
	for _, s := range got {
		if ap, err := netip.ParseAddrPort(s); err != nil || ap.Port() != 53 {
			t.Errorf("server %q is not an address with port 53", s)
		}
	}
	if !wintest.UnderWine() {
		return
	}
	conf, err := os.ReadFile(`Z:\etc\resolv.conf`)
	if err != nil {
		t.Fatal(err)
	}
	host := parseResolvConf(conf)
	for _, s := range got {
		if !slices.Contains(host, s) {
			t.Errorf("server %s is not in the host's resolv.conf %v", s, host)
		}
	}
}
