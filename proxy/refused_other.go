//go:build !windows

package proxy

import (
	"errors"
	"syscall"
)

// isRefused reports whether a dial failed because nothing listens at the
// address.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
