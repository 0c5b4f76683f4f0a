//go:build linux

package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Column names, in table order.
const (
	Direct        = "direct"
	Sluice        = "sluice"
	SluiceNoLog   = "sluice-nolog"
	SluiceSlowLog = "sluice-slowlog"
	Privoxy       = "privoxy"
	Tinyproxy     = "tinyproxy"
	Squid         = "squid"
	NginxRelay    = "nginx-relay"
	FasthttpRef   = "fasthttp-ref"
	SpliceRelay   = "splice-relay"
)

// AllTargets lists every column in table order.
func AllTargets() []string {
	return []string{Direct, Sluice, SluiceNoLog, SluiceSlowLog, Privoxy, Tinyproxy, Squid, NginxRelay, FasthttpRef, SpliceRelay}
}

// peers are the general forward proxies Sluice is compared with ("the best
// peer"); the nginx relay, the fasthttp prototype and the splice relay are
// reference points, not peers: none is a forward proxy users could pick.
func peers() []string { return []string{Privoxy, Tinyproxy, Squid} }

// Target is one column: where the loads go and which process to watch.
type Target struct {
	Name string
	// Addr is where wrk and curl connect.
	Addr string
	// Proxy is false for the direct column (origin-form, no -x).
	Proxy bool
	// Tunnel is false for targets that cannot CONNECT (the nginx relay).
	Tunnel bool
	// Proc is the process (tree) whose memory is measured; nil for direct.
	Proc *Proc
	// KeepAliveOnly limits the target to the 64-connection keep-alive
	// load (the access-log variants, which only issue 3's figure needs).
	KeepAliveOnly bool
	// DownloadOnly limits the target to the 1 GiB download (the splice
	// relay, a fixed TCP relay to the origin: its download is the
	// reference for Sluice's CONNECT figure).
	DownloadOnly bool
	// LogDir is Sluice's log directory; empty for other targets.
	LogDir string
	// piped counts the bytes the slow-writer pipe received (nil unless
	// the target writes its access log to one).
	piped *atomic.Int64
	// IdleRSS is the process tree's RSS a second after it started
	// listening, before any load, in bytes.
	IdleRSS int64
}

// env is what starting a target needs.
type env struct {
	dir        string // the run's temporary directory
	procs      *Procs
	self       string // this executable, for the sink and refproxy
	sluiceBin  string
	originPort int
	sinkPort   int
	slowLog    string // access log file name under the log dir
	log        io.Writer
}

func (e *env) subdir(name string) (string, error) {
	d := filepath.Join(e.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", d, err)
	}
	return d, nil
}

func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// startListening starts cmd, waits until it accepts on port, and lets it
// settle a second before its idle RSS is read.
func (e *env) startListening(ctx context.Context, name string, cmd *exec.Cmd, port int) (*Proc, error) {
	p, err := e.procs.Start(name, cmd)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := WaitListening(ctx, p, addr, 20*time.Second); err != nil {
		e.procs.Stop(p, time.Second)
		return nil, err
	}
	return p, nil
}

func (e *env) proxyTarget(ctx context.Context, name string, cmd *exec.Cmd, port int) (*Target, error) {
	p, err := e.startListening(ctx, name, cmd, port)
	if err != nil {
		return nil, err
	}
	return &Target{Name: name, Addr: "127.0.0.1:" + strconv.Itoa(port), Proxy: true, Tunnel: true, Proc: p}, nil
}

// startOrigin starts the nginx origin serving root.
func (e *env) startOrigin(ctx context.Context, root string) (*Proc, error) {
	dir, err := e.subdir("origin")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := writeFile(conf, nginxOriginConfig(dir, root, e.originPort)); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	return e.startListening(ctx, "origin nginx", cmd, e.originPort)
}

func (e *env) startSink(ctx context.Context) (*Proc, error) {
	cmd := exec.CommandContext(ctx, e.self, "sink", "-listen", "127.0.0.1:"+strconv.Itoa(e.sinkPort))
	return e.startListening(ctx, "upload sink", cmd, e.sinkPort)
}

func (e *env) startTarget(ctx context.Context, name string) (*Target, error) {
	switch name {
	case Direct:
		return &Target{Name: Direct, Addr: "127.0.0.1:" + strconv.Itoa(e.originPort)}, nil
	case Sluice:
		return e.startSluice(ctx, name, true, false)
	case SluiceNoLog:
		return e.startSluice(ctx, name, false, false)
	case SluiceSlowLog:
		return e.startSluice(ctx, name, true, true)
	case Privoxy:
		return e.startPrivoxy(ctx)
	case Tinyproxy:
		return e.startTinyproxy(ctx)
	case Squid:
		return e.startSquid(ctx)
	case NginxRelay:
		return e.startNginxRelay(ctx)
	case FasthttpRef:
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, e.self, "refproxy", "-listen", "127.0.0.1:"+strconv.Itoa(port))
		return e.proxyTarget(ctx, name, cmd, port)
	case SpliceRelay:
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, e.self, "relay", "-listen", "127.0.0.1:"+strconv.Itoa(port),
			"-to", "127.0.0.1:"+strconv.Itoa(e.originPort))
		t, err := e.proxyTarget(ctx, name, cmd, port)
		if err != nil {
			return nil, err
		}
		// Clients talk to it as to the origin, in origin-form.
		t.Proxy, t.Tunnel, t.DownloadOnly = false, false, true
		return t, nil
	}
	return nil, fmt.Errorf("unknown target %q (known: %v)", name, AllTargets())
}

func (e *env) startSluice(ctx context.Context, name string, accessLog, slow bool) (*Target, error) {
	return e.startSluiceWith(ctx, name, SluiceConfig{AccessLog: accessLog}, slow)
}

// startSluiceWith starts the Sluice binary on c (its Port and LogDir are
// filled in here).
func (e *env) startSluiceWith(ctx context.Context, name string, c SluiceConfig, slow bool) (*Target, error) {
	if _, err := os.Stat(e.sluiceBin); err != nil {
		return nil, fmt.Errorf("%w: %s not built (make build): %v", errSkipped, e.sluiceBin, err)
	}
	dir, err := e.subdir(name)
	if err != nil {
		return nil, err
	}
	logDir, err := e.subdir(name + "/logs")
	if err != nil {
		return nil, err
	}
	var piped *atomic.Int64
	if slow {
		if piped, err = startTrickle(ctx, filepath.Join(logDir, e.slowLog)); err != nil {
			return nil, err
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.toml")
	c.Port, c.LogDir = port, logDir
	if err := writeFile(conf, sluiceConfig(c)); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, e.sluiceBin, "run", "--headless", "--config", conf, "--listen", addr)
	// Keep Sluice's other state (lock files, state dir) inside the run.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir, "XDG_CACHE_HOME="+dir)
	t, err := e.proxyTarget(ctx, name, cmd, port)
	if err != nil {
		return nil, err
	}
	t.KeepAliveOnly = name != Sluice
	t.LogDir, t.piped = logDir, piped
	return t, nil
}

// startTrickle makes path a named pipe drained at about 20 KB/s, so a log
// writer that opens it finds the pipe full after a few seconds and every
// further write blocks: a deliberately slow disk without FUSE or device
// mapper. The pipe is opened read-write by the harness, so reads block
// (instead of returning EOF) while no writer has it open yet, and the
// writer's open never blocks waiting for a reader.
//
// It returns the count of bytes drained so far, to show the writer used it.
func startTrickle(ctx context.Context, path string) (*atomic.Int64, error) {
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open fifo %s: %w", path, err)
	}
	var drained atomic.Int64
	go func() {
		defer f.Close()
		buf := make([]byte, 2048)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			n, err := f.Read(buf)
			drained.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return &drained, nil
}

func (e *env) startPrivoxy(ctx context.Context) (*Target, error) {
	dir, err := e.subdir(Privoxy)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config")
	if err := writeFile(conf, privoxyConfig(dir, port)); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "bench.action"), privoxyActions); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "privoxy", "--no-daemon", conf)
	return e.proxyTarget(ctx, Privoxy, cmd, port)
}

func (e *env) startTinyproxy(ctx context.Context) (*Target, error) {
	dir, err := e.subdir(Tinyproxy)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "tinyproxy.conf")
	if err := writeFile(conf, tinyproxyConfig(dir, port)); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "tinyproxy", "-d", "-c", conf)
	return e.proxyTarget(ctx, Tinyproxy, cmd, port)
}

func (e *env) startSquid(ctx context.Context) (*Target, error) {
	dir, err := e.subdir(Squid)
	if err != nil {
		return nil, err
	}
	// squid drops root for its cache_effective_user (Debian: "proxy"),
	// which must be able to write its pid file and cache.log here.
	if u, err := user.Lookup("proxy"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("chown %s to proxy: %w", dir, err)
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "squid.conf")
	if err := writeFile(conf, squidConfig(dir, port)); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "squid", "-N", "-f", conf)
	return e.proxyTarget(ctx, Squid, cmd, port)
}

func (e *env) startNginxRelay(ctx context.Context) (*Target, error) {
	dir, err := e.subdir(NginxRelay)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := writeFile(conf, nginxRelayConfig(dir, port, e.originPort, e.sinkPort)); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	t, err := e.proxyTarget(ctx, NginxRelay, cmd, port)
	if err != nil {
		return nil, err
	}
	t.Tunnel = false
	return t, nil
}
