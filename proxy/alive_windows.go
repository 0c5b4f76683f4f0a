package proxy

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wsaPoll is Winsock's poll (WSAPoll), which x/sys/windows does not wrap.
// Go's sockets on Windows are overlapped and blocking, so there is no
// non-blocking peek as on Unix: a poll with no wait is the look.
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

// peekState is the poll record, kept with the conn so a look allocates
// nothing.
type peekState struct{ pfd wsaPollFD }

func canPeek() bool { return wsaPoll.Find() == nil }

func (s *peekState) nothingToRead(fd uintptr) bool {
	s.pfd = wsaPollFD{fd: fd, events: pollRdNorm}
	n, _, _ := syscall.SyscallN(wsaPoll.Addr(), uintptr(unsafe.Pointer(&s.pfd)), 1, 0)
	return n == 0
}
