package app

import (
	"errors"

	"golang.org/x/sys/windows"
)

// addrInUse reports whether a listen failed because the address is
// taken. Winsock says WSAEADDRINUSE, which syscall's EADDRINUSE does not
// match on Windows.
func addrInUse(err error) bool { return errors.Is(err, windows.WSAEADDRINUSE) }
