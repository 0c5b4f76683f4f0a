package snihost

import "syscall"

// sysProcAttr has the daemon killed when the process that started it
// dies, so a test binary or harness killed with SIGKILL leaves no bus
// behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
