package sysproxy

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// processStart returns a token that changes when pid is reused (its start
// time in clock ticks since boot, from /proc/PID/stat) and whether the
// process is running. A zombie, killed but not yet reaped by its parent,
// is not running.
func processStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces,
	// so count fields from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22, starttime
	if err != nil {
		return 0, false
	}
	return start, true
}

// alive reports whether pid runs and, when start is not zero, is the same
// process that had that start token.
func alive(pid int, start uint64) bool {
	s, ok := processStart(pid)
	return ok && (start == 0 || s == start)
}

// dieWithParent has the kernel kill cmd's process when this one dies. A
// settings tool left running by a killed Sluice could otherwise write
// after the watchdog has restored the user's settings (gsettings' keyfile
// backend rewrites the whole file), leaving them pointing at a dead port.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
