package inspect

import "testing"

// TestMatch: exact names and addresses, *.domain for names under it,
// any case and a final dot, and exclude winning over hosts.
func TestMatch(t *testing.T) {
	m, err := newMatcher([]string{"api.example.com", "*.example.org", "10.0.0.7", "::1"}, []string{"pinned.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"api.example.com":    true,
		"API.Example.COM.":   true,
		"www.example.com":    false,
		"example.org":        false,
		"a.example.org":      true,
		"a.b.example.org":    true,
		"badexample.org":     false,
		"pinned.example.org": false,
		"10.0.0.7":           true,
		"10.0.0.8":           false,
		"[::1]":              true,
		"::1":                true,
	} {
		if got := m.match(host); got != want {
			t.Errorf("match(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"", "*", "*.", "a*.example.org", "example.org/path", "host:443"} {
		if _, err := newMatcher([]string{bad}, nil); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
