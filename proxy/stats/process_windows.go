package stats

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	psapi                     = windows.NewLazySystemDLL("psapi.dll")
	kernel32                  = windows.NewLazySystemDLL("kernel32.dll")
	procGetProcessMemoryInfo  = psapi.NewProc("GetProcessMemoryInfo")
	procGetProcessHandleCount = kernel32.NewProc("GetProcessHandleCount")
)

// processMemoryCounters is PROCESS_MEMORY_COUNTERS_EX.
type processMemoryCounters struct {
	cb                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
	PrivateUsage               uintptr
}

// processMetrics adds the process families client_golang's process
// collector exports on Windows, from the same calls.
func processMetrics(e *exposition) {
	gauge := func(name, help string, v float64) { e.add(name, help, "gauge").sample("", v) }
	h := windows.CurrentProcess()
	var start, exit, kernel, user windows.Filetime
	if windows.GetProcessTimes(h, &start, &exit, &kernel, &user) != nil {
		return
	}
	gauge("process_start_time_seconds", helpStart, float64(start.Nanoseconds()/1e9))
	e.add("process_cpu_seconds_total", helpCPU, "counter").sample("", fileTimeSeconds(kernel)+fileTimeSeconds(user))

	var mem processMemoryCounters
	mem.cb = uint32(unsafe.Sizeof(mem))
	if r, _, _ := procGetProcessMemoryInfo.Call(uintptr(h), uintptr(unsafe.Pointer(&mem)), uintptr(mem.cb)); r != 1 {
		return
	}
	gauge("process_virtual_memory_bytes", helpVSize, float64(mem.PrivateUsage))
	gauge("process_resident_memory_bytes", helpRSS, float64(mem.WorkingSetSize))

	var handles uint32
	if r, _, _ := procGetProcessHandleCount.Call(uintptr(h), uintptr(unsafe.Pointer(&handles))); r != 1 {
		return
	}
	gauge("process_open_fds", helpOpenFDs, float64(handles))
	// Windows has a fixed system-wide limit, not a per-process one.
	gauge("process_max_fds", helpMaxFDs, float64(16*1024*1024))
}

func fileTimeSeconds(ft windows.Filetime) float64 {
	return float64(uint64(ft.HighDateTime)<<32+uint64(ft.LowDateTime)) / 1e7
}
