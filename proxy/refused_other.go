//go:build !windows

package proxy

import (
	"errors"
	"syscall"
)

// isRefused reports whether a dial failed because nothing listens at the
// address.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// isNetUnreachable and isHostUnreachable report a dial that found no
// route to the network or to the host.
func isNetUnreachable(err error) bool  { return errors.Is(err, syscall.ENETUNREACH) }
func isHostUnreachable(err error) bool { return errors.Is(err, syscall.EHOSTUNREACH) }
