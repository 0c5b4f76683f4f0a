// Command tunnelexp measures what Sluice's CONNECT tunnel loop costs
// against the bare splice relay: each relay variant (relay.go) and, if
// given, a Sluice binary's CONNECT tunnel carry the same 1 GiB download
// from a Go origin (sendfile) to curl, in interleaved rounds. It prints
// MB/s, each round's ratio to the bare relay in the same round, and CPU
// seconds per GiB, medians over rounds. Loopback only; see README.md.
//
//	go build -o /tmp/tunnelexp . && /tmp/tunnelexp drive -rounds 9 -variants bare,sluice,no-deadline -sluice bin/sluice
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: tunnelexp drive|origin|relay [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	to := fs.String("to", "", "relay: where to")
	name := fs.String("variant", "bare", "relay: one of relay.go's variants")
	file := fs.String("file", "/tmp/tunnelexp/1g", "origin: the file served as /1g")
	rounds := fs.Int("rounds", 7, "drive: interleaved rounds")
	list := fs.String("variants", "bare,sluice", "drive: relay variants to run")
	sluice := fs.String("sluice", "", "drive: Sluice binaries to measure through CONNECT (and plain GET with -get): PATH or NAME=PATH,…")
	get := fs.Bool("get", false, "drive: also measure Sluice's plain GET")
	perf := fs.Bool("perf", false, "drive: count the relay's syscalls and context switches with perf stat")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "origin":
		ln := mustListen(*listen)
		log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, *file)
		})))
	case "relay":
		v, ok := variants[*name]
		if !ok {
			log.Fatalf("no variant %q", *name)
		}
		log.Fatal(serveRelay(mustListen(*listen), *to, v))
	case "drive":
		if err := drive(*file, *rounds, strings.Split(*list, ","), *sluice, *get, *perf); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func mustListen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func freePort() string {
	ln := mustListen("127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string) error {
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: not listening", addr)
}

// cpuSeconds is a process's user+system CPU time so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

type config struct {
	name string
	pid  int      // the relay's process
	curl []string // curl's arguments before the URL
	url  string
}

type sample struct {
	mbs, relayCPU, totalCPU float64
	// counts are perf stat's event counts for the relay (with -perf).
	counts map[string]float64
}

// perfEvents are what -perf counts in the relay during a transfer.
var perfEvents = []string{"syscalls:sys_enter_splice", "syscalls:sys_enter_epoll_pwait", "syscalls:sys_enter_futex",
	"syscalls:sys_enter_nanosleep", "context-switches", "task-clock"}

func drive(file string, rounds int, names []string, sluiceBins string, get, perf bool) error {
	if err := makeFile(file, 1<<30); err != nil {
		return err
	}
	self, _ := os.Executable()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			p.Wait()
		}
	}()
	start := func(addr string, env []string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
		return cmd, waitListening(addr)
	}
	origin := freePort()
	op, err := start(origin, nil, self, "origin", "-listen", origin, "-file", file)
	if err != nil {
		return err
	}
	var configs []config
	for _, n := range names {
		addr := freePort()
		p, err := start(addr, nil, self, "relay", "-listen", addr, "-to", origin, "-variant", n)
		if err != nil {
			return err
		}
		configs = append(configs, config{name: n, pid: p.Process.Pid, url: "http://" + addr + "/1g"})
	}
	for _, spec := range strings.Split(sluiceBins, ",") {
		if spec == "" {
			continue
		}
		name, bin, ok := strings.Cut(spec, "=")
		if !ok {
			name, bin = "sluice", spec
		}
		dir, err := os.MkdirTemp("", "tunnelexp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		addr := freePort()
		conf := filepath.Join(dir, "config.toml")
		os.WriteFile(conf, fmt.Appendf(nil, "[proxy]\nlisten = %q\n\n[log]\ndir = %q\naccess_log = true\n\n[metrics]\nenabled = true\n", addr, dir), 0o644)
		p, err := start(addr, []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_STATE_HOME=" + dir},
			bin, "run", "--headless", "--config", conf, "--listen", addr)
		if err != nil {
			return err
		}
		configs = append(configs, config{name: name + " CONNECT", pid: p.Process.Pid,
			curl: []string{"-x", "http://" + addr, "--proxytunnel"}, url: "http://" + origin + "/1g"})
		if get {
			configs = append(configs, config{name: name + " GET", pid: p.Process.Pid,
				curl: []string{"-x", "http://" + addr}, url: "http://" + origin + "/1g"})
		}
	}
	res := map[string][]sample{}
	ratios := map[string][]float64{}
	for r := range rounds {
		got := map[string]float64{}
		for i := range configs {
			c := configs[(i+r)%len(configs)]
			s, err := transfer(c, op.Process.Pid, perf)
			if err != nil {
				fmt.Printf("round %d %-20s error: %v\n", r+1, c.name, err)
				continue
			}
			res[c.name] = append(res[c.name], s)
			got[c.name] = s.mbs
			fmt.Printf("round %d %-20s %6.0f MB/s  relay %.2f CPU-s/GiB  all %.2f %v\n", r+1, c.name, s.mbs, s.relayCPU, s.totalCPU, s.counts)
		}
		if b, ok := got["bare"]; ok {
			for n, v := range got {
				ratios[n] = append(ratios[n], v/b)
			}
		}
	}
	fmt.Printf("\n| relay | MB/s | ÷ bare, same round | relay CPU-s/GiB | curl+origin+relay CPU-s/GiB | rounds |\n|---|---:|---:|---:|---:|---|\n")
	for _, c := range configs {
		ss := res[c.name]
		if len(ss) == 0 {
			continue
		}
		var all []string
		for _, s := range ss {
			all = append(all, fmt.Sprintf("%.0f", s.mbs))
		}
		fmt.Printf("| %s | %.0f | %.3f | %.3f | %.3f | %s |\n", c.name,
			median(ss, func(s sample) float64 { return s.mbs }), medianOf(ratios[c.name]),
			median(ss, func(s sample) float64 { return s.relayCPU }), median(ss, func(s sample) float64 { return s.totalCPU }),
			strings.Join(all, " "))
	}
	if perf {
		fmt.Printf("\nPer GiB, medians (perf stat on the relay):\n\n| relay | %s |\n|---|%s\n", strings.Join(perfEvents, " | "), strings.Repeat("---:|", len(perfEvents)))
		for _, c := range configs {
			ss := res[c.name]
			if len(ss) == 0 {
				continue
			}
			cells := make([]string, len(perfEvents))
			for i, e := range perfEvents {
				cells[i] = fmt.Sprintf("%.0f", median(ss, func(s sample) float64 { return s.counts[e] }))
			}
			fmt.Printf("| %s | %s |\n", c.name, strings.Join(cells, " | "))
		}
	}
	return nil
}

// transfer downloads /1g through c with curl and measures it; with perf,
// under perf stat counting the relay's events.
func transfer(c config, originPid int, perf bool) (sample, error) {
	args := append([]string{"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}"}, c.curl...)
	args = append(args, c.url)
	var statFile string
	if perf {
		f, err := os.CreateTemp("", "tunnelexp-perf-")
		if err != nil {
			return sample{}, err
		}
		f.Close()
		statFile = f.Name()
		defer os.Remove(statFile)
		args = append([]string{"perf", "stat", "-x,", "-o", statFile, "-e", strings.Join(perfEvents, ","),
			"-p", strconv.Itoa(c.pid), "--"}, args...)
	}
	r0, o0 := cpuSeconds(c.pid), cpuSeconds(originPid)
	cmd := exec.CommandContext(context.Background(), args[0], args[1:]...)
	out, err := cmd.Output()
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", args[0], err)
	}
	r1, o1 := cpuSeconds(c.pid), cpuSeconds(originPid)
	f := strings.Fields(string(out))
	if len(f) != 3 || f[0] != "200" || f[1] != strconv.Itoa(1<<30) {
		return sample{}, fmt.Errorf("curl said %q", out)
	}
	speed, _ := strconv.ParseFloat(f[2], 64)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	curlCPU := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	s := sample{mbs: speed / 1e6, relayCPU: r1 - r0, totalCPU: curlCPU + (o1 - o0) + (r1 - r0)}
	if perf {
		b, err := os.ReadFile(statFile)
		if err != nil {
			return s, err
		}
		s.counts = map[string]float64{}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ",")
			if len(f) > 2 {
				v, _ := strconv.ParseFloat(f[0], 64)
				s.counts[f[2]] = v
			}
		}
	}
	return s, nil
}

func makeFile(path string, size int64) error {
	if st, err := os.Stat(path); err == nil && st.Size() == size {
		return warm(path)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		return err
	}
	return warm(path)
}

// warm reads the file once so the page cache holds it.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func median(ss []sample, get func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = get(s)
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
