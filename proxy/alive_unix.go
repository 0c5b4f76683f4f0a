//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// probe looks at an idle pooled connection without reading from it. It
// is built once per dial: the raw conn and the closure handed to it would
// otherwise cost allocations on every reuse.
type probe struct {
	raw syscall.RawConn // nil when the conn has no file descriptor
	fn  func(fd uintptr)
	// clean is fn's result: nothing to read and no FIN.
	clean bool
	b     [1]byte
}

func (p *probe) init(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = func(fd uintptr) {
		p.clean = peekNothing(fd, &p.b)
	}
}

// connAlive reports whether an idle upstream conn is open and clean: a
// non-blocking peek sees the origin's FIN, a reset, or stray bytes (an
// origin that sent more than its response said) without consuming
// anything. It costs one syscall. It goes through Control, not Read,
// because Read skips the peek when the conn's stale read deadline has
// passed.
func connAlive(uc *upstreamConn) bool {
	p := &uc.probe
	if p.raw == nil {
		return true // nothing to peek with; a dead conn shows as a failed request
	}
	p.clean = false
	if err := p.raw.Control(p.fn); err != nil {
		return false
	}
	return p.clean
}
