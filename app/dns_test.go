package app

import (
	"context"
	"testing"
)

// TestUpstreamResolve: the proxy's Resolve (socks5 upstreams) answers
// through the caching resolver when [dns] is on and the system resolver
// when it is off; both know localhost without a DNS server.
func TestUpstreamResolve(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		cfg := DefaultConfig()
		cfg.DNS.Enabled = enabled
		up, err := newUpstream(cfg)
		if err != nil {
			t.Fatal(err)
		}
		addrs, _, err := up.Resolve(context.Background(), "localhost")
		up.close()
		if err != nil || len(addrs) == 0 || !addrs[0].IsLoopback() {
			t.Errorf("dns enabled %v: Resolve(localhost) = %v, %v", enabled, addrs, err)
		}
		if up.dialing != 0 {
			t.Errorf("dns enabled %v: %d lookups still counted as running", enabled, up.dialing)
		}
	}
}
