package proxy

import "golang.org/x/sys/windows"

// The errnos of a dial that found no route to the network or the host,
// as Winsock reports them (see refused_windows.go).
var errNetUnreachable, errHostUnreachable error = windows.WSAENETUNREACH, windows.WSAEHOSTUNREACH
