package proxy

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sluiceproxy/sluice/internal/parenttest"
)

// TestDesyncSquid runs the desync table through squid, as a reference.
// squid adds fields of its own (Via, X-Forwarded-For, Cache-Control), so
// what its origin got is compared request by request (method, target,
// body, trailer names), not byte by byte. Differences from Sluice's
// expectations are logged and summed up in a table, not failed: they are
// documented in docs/proxy-tests.md. A case where squid itself desyncs
// (the next client gets another's response, or the origin parses the
// smuggled request) fails, loudly: a reference that desyncs, or a harness
// that makes it look so, cannot be trusted.
func TestDesyncSquid(t *testing.T) {
	addr := parenttest.StartSquid(t, parenttest.AllowLocalhost).Addr
	squid := desyncProxy{
		// squid answers within milliseconds when it answers at all; where
		// it waits for more of a malformed body, this is how long.
		wait: 2 * time.Second,
		start: func(*desyncOrigin) (string, func(), error) {
			// squid keeps its upstream conns open: give it a moment to
			// pass on anything it still holds, then the origin closes them.
			return addr, func() { time.Sleep(100 * time.Millisecond) }, nil
		},
	}

	// The cases wait on squid, not on the CPU: run them all at once
	// rather than -parallel at a time.
	cases := desyncCases()
	results := make([]desyncResult, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cases {
		if cases[i].port80 || cases[i].cached {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = runDesyncCase(&cases[i], squid)
		}()
	}
	wg.Wait()

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tSluice (expected)\tsquid\n")
	differ := 0
	var desyncs []string
	for i := range cases {
		c, r := &cases[i], &results[i]
		t.Run(c.name, func(t *testing.T) {
			switch {
			case c.port80:
				t.Skip("needs an origin on port 80")
			case c.cached:
				t.Skip("about Sluice's cache; squid runs with its cache off here (see TestCacheSquidCrossCheck)")
			case errs[i] != nil:
				t.Fatal(errs[i])
			}
			diff := c.mismatches(r, false)
			if len(diff) == 0 {
				return
			}
			for _, d := range diff {
				t.Log(d)
			}
			differ++
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.name, c.expectSummary(), r.summary())
			if squidDesynced(r) {
				t.Errorf("SQUID DESYNC: %s", strings.Join(diff, "; "))
				desyncs = append(desyncs, c.name)
			}
		})
	}
	tw.Flush()
	t.Logf("squid differs from Sluice's expectations in %d of %d cases:\n%s", differ, len(cases), b.String())
	if len(desyncs) > 0 {
		t.Errorf("SQUID DESYNCED in %d cases: %s", len(desyncs), strings.Join(desyncs, "; "))
	}
}

// squidDesynced reports whether a run shows a proxy that lost track of
// message boundaries: the next client did not get its own response, or
// an origin parsed the smuggled request, or a client got the smuggled
// response.
func squidDesynced(r *desyncResult) bool {
	if r.nextErr != "" || r.next.body != "/next" {
		return true
	}
	for _, g := range r.got {
		if strings.Contains(g.body, "smuggled!") {
			return true
		}
	}
	return originParsedSmuggled(r.origin)
}

// expectSummary is what Sluice is expected to do in c, in the words of
// summary.
func (c *desyncCase) expectSummary() string {
	var st []string
	for _, w := range c.want {
		switch {
		case w.broken:
			st = append(st, "cut")
		default:
			st = append(st, fmt.Sprint(w.status))
		}
	}
	s := strings.Join(st, ",")
	if c.closed {
		s += " close"
	}
	return s + "; origin " + digestConns(c.origin, c.partial)
}

// summary is one line for the table: the client's statuses, whether its
// connection closed, and what the origin parsed on each connection.
func (r *desyncResult) summary() string {
	var st []string
	for _, g := range r.got {
		switch {
		case g.status == 0, g.truncated:
			st = append(st, "cut")
		default:
			st = append(st, fmt.Sprint(g.status))
		}
	}
	switch {
	case r.readErr == "":
	case strings.Contains(r.readErr, "reset"):
		st = append(st, "reset")
	case strings.Contains(r.readErr, "timeout"):
		st = append(st, "silence")
	default:
		st = append(st, "closed")
	}
	s := strings.Join(st, ",")
	if r.closed {
		s += " close"
	}
	s += "; origin " + strings.ReplaceAll(digestConns(r.origin, false), r.addr, "{o}")
	if r.nextErr != "" || r.next.body != "/next" {
		s += "; NEXT CLIENT GOT " + r.next.String()
	}
	return s
}
