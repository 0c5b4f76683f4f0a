//go:build unix && !linux

package proxy

import "golang.org/x/sys/unix"

// peekNothing reports whether a non-blocking peek at socket fd finds
// nothing to read: no byte and no FIN.
func peekNothing(fd uintptr, b *[1]byte) bool {
	_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN || err == unix.EWOULDBLOCK
}
