package resolver

import (
	"strings"
	"testing"
)

func TestValidateServer(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		wantErr string // part of the message when !ok
	}{
		{"system", true, ""},
		{"9.9.9.9:53", true, ""},
		{"9.9.9.9", true, ""},
		{"[2620:fe::fe]:53", true, ""},
		{"2620:fe::fe", true, ""},
		{"tls://dns.quad9.net", true, ""},
		{"tls://1.1.1.1:853", true, ""},
		{"https://dns.quad9.net/dns-query", true, ""},
		{"https://127.0.0.1:8443/resolve", true, ""},
		{"https://dns.example", true, ""},
		{"", false, "empty"},
		{"dns.google:53", false, "must be an IP address"},
		{"9.9.9.9:0", false, "port"},
		{"9.9.9.9:99999", false, "port"},
		{"9.9.9.9:dns", false, "port"},
		{"udp://9.9.9.9", false, "unknown scheme"},
		{"tls://", false, "host"},
		{"tls://host/path", false, "only a host"},
		{"https://user@dns.example/dns-query", false, "nothing else"},
		{"https://dns.example/dns-query?x=1", false, "nothing else"},
		{"https:///dns-query", false, "no host"},
	} {
		err := ValidateServer(tc.in)
		if tc.ok {
			if err != nil {
				t.Errorf("ValidateServer(%q) = %v, want ok", tc.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateServer(%q) = nil, want an error about %q", tc.in, tc.wantErr)
			continue
		}
		// Every message names the entry, the problem and the allowed forms.
		msg := err.Error()
		if !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, `"system"`) || !strings.Contains(msg, "tls://") {
			t.Errorf("ValidateServer(%q) = %q, want it to mention %q and the allowed forms", tc.in, msg, tc.wantErr)
		}
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	if _, err := New(Config{Servers: []string{"8.8.8.8", "bogus://x"}}); err == nil {
		t.Fatal("New accepted a bad server entry")
	}
}

func TestParseServerForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want serverSpec
	}{
		{"9.9.9.9", serverSpec{kind: kindPlain, addr: "9.9.9.9:53"}},
		{"2620:fe::fe", serverSpec{kind: kindPlain, addr: "[2620:fe::fe]:53"}},
		{"tls://dns.quad9.net", serverSpec{kind: kindTLS, addr: "dns.quad9.net:853", host: "dns.quad9.net"}},
		{"https://dns.example", serverSpec{kind: kindHTTPS, url: "https://dns.example/dns-query", host: "dns.example"}},
	} {
		got, err := parseServer(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseServer(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
