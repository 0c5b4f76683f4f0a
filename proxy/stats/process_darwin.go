package stats

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// processMetrics adds the process families client_golang's process
// collector exports on macOS without its cgo memory reader: resident and
// virtual memory need task_info, a Mach call, and are left out.
func processMetrics(e *exposition) {
	gauge := func(name, help string, v float64) { e.add(name, help, "gauge").sample("", v) }
	if procs, err := unix.SysctlKinfoProcSlice("kern.proc.pid", os.Getpid()); err == nil && len(procs) == 1 {
		gauge("process_start_time_seconds", helpStart, float64(procs[0].Proc.P_starttime.Nano()/1e9))
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		e.add("process_cpu_seconds_total", helpCPU, "counter").sample("", float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
	}
	if d, err := os.Open("/dev/fd"); err == nil {
		names, err := d.Readdirnames(0)
		d.Close()
		if err == nil {
			// Less the descriptor reading the list.
			gauge("process_open_fds", helpOpenFDs, float64(len(names)-1))
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		gauge("process_max_fds", helpMaxFDs, float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		gauge("process_virtual_memory_max_bytes", helpMaxVSize, float64(lim.Cur))
	}
}
