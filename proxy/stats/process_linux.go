package stats

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of /proc's CPU times; procfs (behind client_golang)
// takes it as 100, as the kernel fixes it for user space.
const userHZ = 100

// processMetrics adds the process families client_golang's process
// collector reads from /proc on Linux. Like it, a figure that cannot be
// read is left out.
func processMetrics(e *exposition) {
	gauge := func(name, help string, v float64) { e.add(name, help, "gauge").sample("", v) }
	counter := func(name, help string, v float64) { e.add(name, help, "counter").sample("", v) }

	if st, err := os.ReadFile("/proc/self/stat"); err == nil {
		// The fields after the command, which is in parentheses and may
		// hold anything: state is field 3, utime 14, stime 15,
		// starttime 22, vsize 23, rss 24.
		if i := bytes.LastIndexByte(st, ')'); i >= 0 {
			f := bytes.Fields(st[i+1:])
			field := func(n int) uint64 {
				if n-3 >= len(f) {
					return 0
				}
				v, _ := strconv.ParseUint(string(f[n-3]), 10, 64)
				return v
			}
			counter("process_cpu_seconds_total", helpCPU, float64(field(14)+field(15))/userHZ)
			gauge("process_virtual_memory_bytes", helpVSize, float64(field(23)))
			gauge("process_resident_memory_bytes", helpRSS, float64(field(24)*uint64(os.Getpagesize())))
			if boot, ok := bootTime(); ok {
				gauge("process_start_time_seconds", helpStart, float64(boot)+float64(field(22))/userHZ)
			}
		}
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		// The count includes the descriptor reading the list, as
		// procfs's does.
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			gauge("process_open_fds", helpOpenFDs, float64(len(names)))
		}
	}
	var fds, as syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &fds) == nil && syscall.Getrlimit(syscall.RLIMIT_AS, &as) == nil {
		gauge("process_max_fds", helpMaxFDs, float64(fds.Cur))
		gauge("process_virtual_memory_max_bytes", helpMaxVSize, float64(as.Cur))
	}
	if in, out, ok := netOctets(); ok {
		counter("process_network_receive_bytes_total", helpNetIn, in)
		counter("process_network_transmit_bytes_total", helpNetOut, out)
	}
}

// bootTime reads btime, the boot time in Unix seconds, from /proc/stat.
func bootTime() (uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// netOctets reads InOctets and OutOctets of the IpExt lines of
// /proc/self/net/netstat (the network namespace's totals, which is what
// client_golang reports as the process's), 0 where absent.
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var names [][]byte
	for line := range bytes.Lines(b) {
		rest, found := bytes.CutPrefix(line, []byte("IpExt:"))
		if !found {
			continue
		}
		if names == nil {
			names = bytes.Fields(rest)
			continue
		}
		for i, v := range bytes.Fields(rest) {
			if i >= len(names) {
				break
			}
			n, _ := strconv.ParseFloat(string(v), 64)
			switch string(names[i]) {
			case "InOctets":
				in = n
			case "OutOctets":
				out = n
			}
		}
		return in, out, true
	}
	return 0, 0, true
}
