package sysproxy

import (
	"os/exec"

	"golang.org/x/sys/windows"
)

// stillActive is GetExitCodeProcess's answer for a running process.
const stillActive = 259

// processStart returns pid's creation time, which changes when the pid is
// reused, and whether it runs.
func processStart(pid int) (uint64, bool) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return 0, false
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil || code != stillActive {
		return 0, false
	}
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return 0, true
	}
	return uint64(created.Nanoseconds()), true
}

// alive reports whether pid runs and, when start is not zero, is the same
// process that had that start token.
func alive(pid int, start uint64) bool {
	s, ok := processStart(pid)
	return ok && (start == 0 || s == 0 || s == start)
}

// dieWithParent does nothing here: there is no cheap way to have a child
// die with its parent.
func dieWithParent(*exec.Cmd) {}
