package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// systemRecheck is how often "system" servers are read again: a laptop
// that joins another network gets other servers, and lookups should follow
// within seconds without a restart.
const systemRecheck = 5 * time.Second

// attempts is how many rounds over the servers a query gets when the first
// round saw a timeout (a lost UDP packet); Go's resolver also tries twice.
const attempts = 2

// serverList is the configured servers in order, with "system" expanded.
type serverList struct {
	resolvConf string
	timeout    time.Duration
	now        func() time.Time

	// slots holds one list per configured entry; nil for "system", whose
	// servers live in sys.
	slots  [][]upstream
	system bool
	https  []*httpsUpstream

	mu        sync.Mutex
	sys       []string  // the system servers last read
	sysAt     time.Time // when they were read
	expanded  []upstream
	preferred atomic.Int32 // index into expanded of the last server that answered
}

func newServerList(cfg Config) (*serverList, error) {
	s := &serverList{resolvConf: cfg.ResolvConf, timeout: cfg.Timeout, now: cfg.Now}
	for _, entry := range cfg.Servers {
		spec, err := parseServer(entry)
		if err != nil {
			return nil, err
		}
		switch spec.kind {
		case kindSystem:
			s.system = true
			s.slots = append(s.slots, nil)
		case kindPlain:
			s.slots = append(s.slots, []upstream{&plainUpstream{addr: spec.addr, timeout: cfg.Timeout}})
		case kindTLS:
			s.slots = append(s.slots, []upstream{&tlsUpstream{addr: spec.addr, tls: tlsFor(cfg.TLSConfig, spec.host), timeout: cfg.Timeout}})
		case kindHTTPS:
			u := newHTTPSUpstream(spec.url, tlsFor(cfg.TLSConfig, spec.host), cfg.Timeout)
			s.https = append(s.https, u)
			s.slots = append(s.slots, []upstream{u})
		}
	}
	s.list()
	return s, nil
}

// tlsFor returns a copy of base (or an empty config) checking host.
func tlsFor(base *tls.Config, host string) *tls.Config {
	c := &tls.Config{}
	if base != nil {
		c = base.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return c
}

// list returns the servers in order, rereading the system's list when it is
// due.
func (s *serverList) list() []upstream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expanded != nil && (!s.system || s.now().Sub(s.sysAt) < systemRecheck) {
		return s.expanded
	}
	if s.system {
		s.sysAt = s.now()
		sys, err := systemServers(s.resolvConf)
		if err != nil || len(sys) == 0 {
			sys = fallbackServers[:]
		}
		if s.expanded != nil && slices.Equal(sys, s.sys) {
			return s.expanded
		}
		s.sys = sys
	}
	var ups []upstream
	for _, slot := range s.slots {
		if slot != nil {
			ups = append(ups, slot...)
			continue
		}
		for _, addr := range s.sys {
			ups = append(ups, &plainUpstream{addr: addr, timeout: s.timeout})
		}
	}
	s.expanded = ups
	s.preferred.Store(0)
	return ups
}

// queryError is the failure of every server for one query.
type queryError struct {
	server  string // the last server tried
	err     error  // its error
	timeout bool   // whether any server timed out
}

func (e *queryError) Error() string {
	return fmt.Sprintf("no DNS server answered (last, %s: %v)", e.server, e.err)
}

func (e *queryError) Unwrap() error { return e.err }

// exchange sends q to the servers in turn, starting with the one that last
// answered so a dead first server costs one timeout, not one per query. A
// reply with a server-side failure (SERVFAIL, REFUSED...) moves on too.
func (s *serverList) exchange(ctx context.Context, q *dns.Msg, st *stats) (*dns.Msg, error) {
	ups := s.list()
	n := len(ups)
	start := int(s.preferred.Load()) % n
	var qe queryError
	for range attempts {
		for i := range n {
			idx := (start + i) % n
			u := ups[idx]
			t0 := time.Now()
			m, err := u.exchange(ctx, q)
			if err == nil && m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
				err = fmt.Errorf("server answered %s", rcodeName(m.Rcode))
			}
			st.recordQuery(time.Since(t0), err)
			if err == nil {
				s.preferred.Store(int32(idx))
				return m, nil
			}
			qe.server, qe.err = u.String(), err
			qe.timeout = qe.timeout || isTimeout(err) || errors.Is(err, context.DeadlineExceeded)
			if ctx.Err() != nil {
				return nil, &qe
			}
		}
		if !qe.timeout {
			break
		}
	}
	return nil, &qe
}

func (s *serverList) close() {
	for _, u := range s.https {
		u.close()
	}
}
