package resolver

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// The hosts file answers before any server, and so do IP literals and
// localhost names; none of them causes a query.
func TestHostsFirst(t *testing.T) {
	srv := startServer(t)
	srv.set("pinned.test", 300, "192.0.2.50") // the hosts file must win
	hosts := writeFile(t, "hosts", `# comment
10.1.2.3   pinned.test  alias.test # trailing comment
fd00::3    pinned.test
not-an-ip  broken.test
`)
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, HostsFile: hosts}, newClock())

	for _, tc := range []struct {
		host string
		want []string
	}{
		{"pinned.test", []string{"10.1.2.3", "fd00::3"}},
		{"PINNED.test.", []string{"10.1.2.3", "fd00::3"}},
		{"alias.test", []string{"10.1.2.3"}},
		{"localhost", []string{"::1", "127.0.0.1"}},
		{"app.localhost", []string{"::1", "127.0.0.1"}},
		{"192.0.2.99", []string{"192.0.2.99"}},
		{"2001:db8::99", []string{"2001:db8::99"}},
		{"[2001:db8::98]", []string{"2001:db8::98"}},
	} {
		got, cached := lookup(t, r, tc.host)
		if !slices.Equal(got, tc.want) || !cached {
			t.Errorf("%s = %v cached=%v, want %v from memory", tc.host, got, cached, tc.want)
		}
	}
	if n := srv.total(); n != 0 {
		t.Fatalf("server got %d queries, want 0", n)
	}
	if st := r.Stats(); st.HostsAnswers != 5 {
		t.Fatalf("HostsAnswers = %d, want 5", st.HostsAnswers)
	}
}

// An edited hosts file takes effect within the recheck interval.
func TestHostsReload(t *testing.T) {
	hosts := writeFile(t, "hosts", "10.0.0.1 edit.test\n")
	clock := newClock()
	srv := startServer(t)
	r := newTestResolver(t, Config{Servers: []string{srv.addr}, HostsFile: hosts}, clock)
	if got, _ := lookup(t, r, "edit.test"); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("before edit: %v", got)
	}
	if err := os.WriteFile(hosts, []byte("10.0.0.2 edit.test\n10.0.0.3 new.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make sure the change is visible even on file systems with coarse
	// modification times.
	future := time.Now().Add(time.Minute)
	os.Chtimes(hosts, future, future)
	clock.Advance(hostsRecheck)
	if got, _ := lookup(t, r, "edit.test"); !slices.Equal(got, []string{"10.0.0.2"}) {
		t.Fatalf("after edit: %v", got)
	}
	if got, _ := lookup(t, r, "new.test"); !slices.Equal(got, []string{"10.0.0.3"}) {
		t.Fatalf("new name after edit: %v", got)
	}
	if n := srv.total(); n != 0 {
		t.Fatalf("server got %d queries, want 0", n)
	}
}

// A name that is not a valid domain name is "not found" without a query.
func TestInvalidName(t *testing.T) {
	srv := startServer(t)
	r := newTestResolver(t, Config{Servers: []string{srv.addr}}, newClock())
	for _, host := range []string{"", "a..b", "bad name.test", string(make([]byte, 300))} {
		_, _, err := r.LookupNetIP(context.Background(), host)
		if err == nil {
			t.Errorf("LookupNetIP(%q) succeeded", host)
		}
	}
	if n := srv.total(); n != 0 {
		t.Fatalf("server got %d queries for invalid names", n)
	}
}
