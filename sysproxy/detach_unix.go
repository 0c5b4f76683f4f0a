//go:build unix

package sysproxy

import (
	"os/exec"
	"syscall"
)

// Detach makes cmd start in a session of its own, so a signal to the
// starter's process group (Ctrl-C in a terminal, a kill of the group)
// does not reach it.
func Detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
