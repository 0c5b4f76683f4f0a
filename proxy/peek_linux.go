package proxy

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// peekNothing reports whether a non-blocking peek at socket fd finds
// nothing to read: no byte and no FIN. It calls recvfrom itself, since
// unix.Recvfrom allocates an address buffer per call, which would cost
// every reuse of a pooled conn an allocation; and raw, since with
// MSG_DONTWAIT it cannot block, so telling the scheduler would only add
// to the cost every reuse pays (BenchmarkConnAlive).
func peekNothing(fd uintptr, b *[1]byte) bool {
	_, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return errno == unix.EAGAIN || errno == unix.EWOULDBLOCK
}
