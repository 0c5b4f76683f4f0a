package route

import (
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// Health checks reach squid with the credentials from the upstream URL
// (its access log shows the check, by user); wrong credentials make the
// upstream down with a reason saying so.
func TestHealthCheckThroughSquidWithBasicAuth(t *testing.T) {
	sq := parenttest.StartSquid(t, parenttest.BasicAuth(t, "sluice", "secret"))
	addr := sq.Addr
	origin := newOrigin(t)
	r := mustNew(t, Config{
		Upstreams: []UpstreamConfig{
			{Name: "good", URL: "http://sluice:secret@" + addr},
			{Name: "bad", URL: "http://sluice:wrong@" + addr},
		},
		Groups: []GroupConfig{{Name: "g", Strategy: StrategyFailover, Members: []string{"good", "bad"},
			CheckURL: origin.URL + "/generate_204", CheckInterval: time.Hour}},
	})
	r.Start()
	defer r.Close()
	waitFor(t, 10*time.Second, "both checked", func() bool {
		st := r.Upstreams()
		return !st[0].LastCheck.IsZero() && !st[1].LastCheck.IsZero()
	})
	st := r.Upstreams()
	if st[0].State != "up" {
		t.Errorf("good credentials: %+v", st[0])
	}
	if st[1].State != "down" || !strings.Contains(st[1].LastError, "407") {
		t.Errorf("wrong credentials: %+v", st[1])
	}
	if strings.Contains(st[0].URL, "secret") || strings.Contains(st[1].URL, "wrong") {
		t.Errorf("a password shows in the status: %q, %q", st[0].URL, st[1].URL)
	}
	sq.WaitLogged(t, "/generate_204 ", " sluice ")
}
