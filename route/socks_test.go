package route

import (
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// Health checks reach a SOCKS5 parent (socks5 and socks5h) with the
// credentials from the URL; a wrong password makes it down.
func TestHealthCheckThroughSOCKS5(t *testing.T) {
	addr := parenttest.StartMicrosocks(t, "sluice", "secret")
	origin := newOrigin(t)
	r := mustNew(t, Config{
		Upstreams: []UpstreamConfig{
			{Name: "s", URL: "socks5://sluice:secret@" + addr},
			{Name: "h", URL: "socks5h://sluice:secret@" + addr},
			{Name: "bad", URL: "socks5://sluice:wrong@" + addr},
		},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"s", "h", "bad"},
			CheckURL: origin.URL + "/generate_204", CheckInterval: time.Hour}},
	})
	if up := r.upstreams[0].p; up.Scheme != "socks5" || up.Username != "sluice" || up.Password != "secret" || up.ProxyAuthorization != "" {
		t.Errorf("socks5 upstream: %+v", up)
	}
	r.Start()
	defer r.Close()
	waitFor(t, 10*time.Second, "all checked", func() bool {
		for _, u := range r.Upstreams() {
			if u.LastCheck.IsZero() {
				return false
			}
		}
		return true
	})
	st := r.Upstreams()
	if st[0].State != "up" || st[1].State != "up" {
		t.Errorf("good credentials: %+v, %+v", st[0], st[1])
	}
	if st[2].State != "down" || !strings.Contains(st[2].LastError, "socks") {
		t.Errorf("wrong password: %+v", st[2])
	}
}
