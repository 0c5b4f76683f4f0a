//go:build unix && !linux

package sysproxy

import (
	"errors"
	"os/exec"
	"syscall"
)

// processStart has no cheap, portable answer outside Linux; zero means
// "unknown" and alive falls back to the pid alone.
func processStart(pid int) (uint64, bool) { return 0, alive(pid, 0) }

// alive reports whether pid runs (signal 0 reaches it, or it exists but
// belongs to someone else).
func alive(pid int, _ uint64) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// dieWithParent does nothing here: there is no cheap way to have a child
// die with its parent.
func dieWithParent(*exec.Cmd) {}
