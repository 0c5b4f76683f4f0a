//go:build unix || windows

package proxy

import (
	"net"
	"syscall"
)

// probe looks at an idle pooled connection without reading from it. It
// is built once per dial: the raw conn, the closure handed to it and the
// platform's peek state would otherwise cost allocations on every reuse.
type probe struct {
	raw syscall.RawConn // nil when the conn has no socket to look at
	fn  func(fd uintptr)
	// clean is fn's result: nothing to read and no FIN.
	clean bool
	peek  peekState // the platform's look (peek_*.go, alive_windows.go)
}

func (p *probe) init(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok || !canPeek() {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = func(fd uintptr) {
		p.clean = p.peek.nothingToRead(fd)
	}
}

// connAlive reports whether an idle upstream conn is open and clean: the
// origin's FIN, a reset, or stray bytes (an origin that sent more than
// its response said) all show to a look that waits for nothing and
// consumes nothing. It costs one syscall. It goes through Control, not
// Read, because Read skips the look when the conn's stale read deadline
// has passed.
func connAlive(uc *upstreamConn) bool {
	p := &uc.probe
	if p.raw == nil {
		return true // nothing to look with; a dead conn shows as a failed request
	}
	p.clean = false
	if err := p.raw.Control(p.fn); err != nil {
		return false
	}
	return p.clean
}
