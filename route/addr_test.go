package route

import (
	"errors"
	"net/netip"
	"testing"
)

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "255.255.255.255", "01.2.3.4", "1.2.3", "::", "::1", "1::", "2001:db8::1",
		"::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4",
		"1::2::3", ":1", "1:", "12345::", "fe80::1%eth0", "example.com", "", "1.2.3.4.5", "256.1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIP([]byte(s))
		want, err := netip.ParseAddr(s)
		if err == nil && want.Zone() != "" {
			err = errZone
		}
		if ok != (err == nil) {
			t.Fatalf("parseIP(%q) ok=%v, netip: %v", s, ok, err)
		}
		if ok && got != want {
			t.Fatalf("parseIP(%q) = %v, netip: %v", s, got, want)
		}
	})
}

var errZone = errors.New("zones are not parsed")

func TestParseIPAllocatesNothing(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "2001:db8::1", "::ffff:10.0.0.1"} {
		b := []byte(s)
		if n := testing.AllocsPerRun(100, func() { parseIP(b) }); n != 0 {
			t.Errorf("parseIP(%q): %v allocations", s, n)
		}
	}
}
