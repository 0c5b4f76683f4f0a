package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/sysproxy"
)

// The system proxy switch keeps no state in the App: the state file in
// StateDir is the one record of whether Sluice has the system proxy on,
// shared with the watchdog process and `sluice sysproxy`, and its lock
// serialises them all.

// guardInterval is how often [sysproxy] guard checks the setting. Two
// seconds puts Sluice back before most users notice, for the price of a
// few gsettings reads a minute.
const guardInterval = 2 * time.Second

// sysManager returns a Manager that records this process as the owner.
func (a *App) sysManager() (*sysproxy.Manager, error) {
	dir, err := StateDir()
	if err != nil {
		return nil, fmt.Errorf("system proxy: %w", err)
	}
	return sysproxy.NewManager(sysproxy.Options{StateDir: dir, Owner: os.Getpid(), Log: a.log})
}

// restoreLeftoverSystemProxy puts back the system proxy a previous run
// left on (it crashed, and so did its watchdog, or the machine went down).
// Call it first thing at start; it only logs, since a start must not fail
// over it.
func (a *App) restoreLeftoverSystemProxy() {
	m, err := a.sysManager()
	if err != nil {
		a.log.Error("check for a system proxy left on", "err", err)
		return
	}
	restored, err := m.Restore()
	switch {
	case err != nil:
		a.log.Error("restore the system proxy a previous run left on (run: sluice sysproxy restore)", "err", err)
	case restored:
		a.log.Warn("restored the system proxy a previous Sluice run left on")
	}
}

// SetSystemProxy points the system proxy at Sluice's listen address (on)
// or puts back what was there before (off). Switching on first starts the
// watchdog process that restores the setting if this process dies, so no
// kill can leave the setting pointing at a dead port, and, with [sysproxy]
// guard, then a loop that re-applies it if another program switches it
// away. Both end by themselves when the proxy is switched off.
func (a *App) SetSystemProxy(on bool) error {
	m, err := a.sysManager()
	if err != nil {
		return err
	}
	if !on {
		return m.Off()
	}
	cfg := a.Config()
	t, err := SystemProxyTargetFor(cfg, a.ListenAddr())
	if err != nil {
		return err
	}
	if m.IsOn() && m.Owner() == os.Getpid() {
		// Re-point; the watchdog and guard already run.
		return m.OnTarget(t)
	}
	dog, err := a.startWatchdog()
	if err != nil {
		// Without a watchdog a crash would leave every program pointing
		// at a dead port: refuse rather than run unguarded.
		return fmt.Errorf("start the system proxy watchdog: %w", err)
	}
	if err := m.OnTarget(t); err != nil {
		if !m.IsOn() {
			// Nothing to guard: On put everything back.
			dog.Kill()
		}
		return err
	}
	if cfg.SysProxy.Guard {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer cancel()
			m.Guard(ctx, guardInterval)
		}()
		go func() {
			select {
			case <-a.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return nil
}

// SystemProxySwitchedOn reports whether Sluice (this process or another)
// has switched the system proxy on and not yet put it back: its state file
// exists. Whether the OS settings point at Sluice now is another question,
// which sysproxy.Manager.Status answers.
func (a *App) SystemProxySwitchedOn() bool {
	m, err := a.sysManager()
	return err == nil && m.IsOn()
}

// startWatchdog runs `sluice sysproxy guard --pid <this pid>` in a session
// of its own, so a kill of this process or its group leaves it running.
// It waits for this process to end and restores the system proxy if this
// process left it on (see sysproxy.Manager.Watch).
func (a *App) startWatchdog() (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "sysproxy", "guard", "--pid", strconv.Itoa(os.Getpid()), "--config", a.ConfigPath())
	// Only a real file: a pipe held open by the watchdog would keep a
	// caller reading this process's output waiting after it exits.
	if f, ok := a.opts.Stderr.(*os.File); ok {
		cmd.Stderr = f
	}
	sysproxy.Detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait() // reap it when it exits before this process
	return cmd.Process, nil
}

// SystemProxyTargetFor is where the system proxy points for cfg's
// [sysproxy] section and the listen address: its host and port with the
// bypass list, and in pac mode the PAC URL Sluice serves there.
func SystemProxyTargetFor(cfg *Config, listen string) (sysproxy.Target, error) {
	host, port, err := SystemProxyTarget(listen)
	if err != nil {
		return sysproxy.Target{}, err
	}
	t := sysproxy.Target{Host: host, Port: port, Bypass: cfg.SysProxy.Bypass}
	if cfg.SysProxy.Mode == "pac" {
		t.PAC = PACURL(host, port)
	}
	return t, nil
}

// PACURL is the URL of the proxy auto-config file Sluice serves on
// host:port (package route makes it; the OS fetches it in [sysproxy] mode
// "pac").
func PACURL(host string, port int) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/proxy.pac"
}

// SystemProxyTarget turns a listen address into the host and port the
// system proxy should point at: a wildcard address becomes loopback of its
// family.
func SystemProxyTarget(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 {
		return "", 0, fmt.Errorf("listen address %q has no fixed port the system proxy can point at: set one in [proxy] listen", listen)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() {
			host = "::1"
		}
	} else if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}
