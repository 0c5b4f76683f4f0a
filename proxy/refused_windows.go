package proxy

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isRefused reports whether a dial failed because nothing listens at the
// address. Winsock says so with WSAECONNREFUSED, which syscall's
// ECONNREFUSED does not match on Windows.
func isRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }

// isNetUnreachable and isHostUnreachable report a dial that found no
// route to the network or to the host.
func isNetUnreachable(err error) bool  { return errors.Is(err, windows.WSAENETUNREACH) }
func isHostUnreachable(err error) bool { return errors.Is(err, windows.WSAEHOSTUNREACH) }
