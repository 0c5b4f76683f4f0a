//go:build !windows

package proxy

import "syscall"

// The errnos of a dial that found no route to the network or the host,
// as this OS reports them (see refused_other.go).
var errNetUnreachable, errHostUnreachable error = syscall.ENETUNREACH, syscall.EHOSTUNREACH
