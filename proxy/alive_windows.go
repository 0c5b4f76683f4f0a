package proxy

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wsaPoll is Winsock's poll (WSAPoll), which x/sys/windows does not wrap.
var wsaPoll = windows.NewLazySystemDLL("ws2_32.dll").NewProc("WSAPoll")

// wsaPollFD is winsock2.h's WSAPOLLFD.
type wsaPollFD struct {
	fd      uintptr
	events  int16
	revents int16
}

// pollRdNorm asks whether normal data can be read without blocking; a
// FIN or a reset makes the socket readable too (winsock2.h POLLRDNORM).
const pollRdNorm = 0x0100

// probe looks at an idle pooled connection without reading from it. It
// is built once per dial: the raw conn, the closure handed to it and the
// poll record would otherwise cost allocations on every reuse.
type probe struct {
	raw syscall.RawConn // nil when the conn has no socket, or no WSAPoll
	fn  func(fd uintptr)
	// clean is fn's result: nothing to read and no FIN.
	clean bool
	pfd   wsaPollFD
}

func (p *probe) init(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok || wsaPoll.Find() != nil {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = func(fd uintptr) {
		p.pfd = wsaPollFD{fd: fd, events: pollRdNorm}
		n, _, _ := syscall.SyscallN(wsaPoll.Addr(), uintptr(unsafe.Pointer(&p.pfd)), 1, 0)
		p.clean = n == 0
	}
}

// connAlive reports whether an idle upstream conn is open and clean: the
// origin's FIN, a reset, or stray bytes (an origin that sent more than
// its response said) all make the socket readable, which WSAPoll with no
// wait sees without consuming anything. Go's sockets on Windows are
// overlapped and blocking, so there is no non-blocking peek as on Unix.
// It goes through Control, not Read, as on Unix (alive_unix.go).
func connAlive(uc *upstreamConn) bool {
	p := &uc.probe
	if p.raw == nil {
		return true // nothing to poll with; a dead conn shows as a failed request
	}
	p.clean = false
	if err := p.raw.Control(p.fn); err != nil {
		return false
	}
	return p.clean
}
