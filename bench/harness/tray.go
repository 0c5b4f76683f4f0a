//go:build linux

package harness

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

const (
	sniWatcherName = "org.kde.StatusNotifierWatcher"
	sniWatcherPath = dbus.ObjectPath("/StatusNotifierWatcher")
)

// sniWatcher is the least a tray host must be for a StatusNotifierItem to
// show itself: it owns the watcher name, says a host is registered, and
// counts items that register. With it, Sluice builds its real tray item
// and menu, so the idle RSS is the tray app's and not the headless
// fallback's.
type sniWatcher struct {
	items atomic.Int64
}

// RegisterStatusNotifierItem is the D-Bus method items call.
func (w *sniWatcher) RegisterStatusNotifierItem(string) *dbus.Error {
	w.items.Add(1)
	return nil
}

// RegisterStatusNotifierHost is part of the watcher interface.
func (w *sniWatcher) RegisterStatusNotifierHost(string) *dbus.Error { return nil }

// startBus starts a private dbus-daemon session bus listening on a socket
// in dir and returns its address.
func (e *env) startBus(ctx context.Context, dir string) (string, error) {
	sock := filepath.Join(dir, "bus")
	cmd := exec.CommandContext(ctx, "dbus-daemon", "--session", "--nofork", "--address=unix:path="+sock)
	p, err := e.procs.Start("dbus-daemon", cmd)
	if err != nil {
		return "", err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			return "unix:path=" + sock, nil
		}
		if exited, werr := p.Exited(); exited {
			return "", fmt.Errorf("dbus-daemon exited (%v): %s", werr, p.Output())
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("dbus-daemon made no socket at %s within 10s", sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startTray starts the tray app (sluice run, without --headless) on a
// private session bus with a StatusNotifier watcher and waits for its item
// to register. stop stops the app and closes the watcher. It returns an
// error when the app shows no tray item, so a headless fallback is never
// reported as the tray's figure.
func (e *env) startTray(ctx context.Context) (p *Proc, stop func(), err error) {
	if _, err := os.Stat(e.sluiceBin); err != nil {
		return nil, nil, fmt.Errorf("%s not built (make build): %w", e.sluiceBin, err)
	}
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		return nil, nil, fmt.Errorf("dbus-daemon not installed (apt-get install -y dbus): %w", err)
	}
	dir, err := os.MkdirTemp(e.dir, "tray-")
	if err != nil {
		return nil, nil, fmt.Errorf("create the tray's dir: %w", err)
	}
	addr, err := e.startBus(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the private bus %s: %w", addr, err)
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	w := &sniWatcher{}
	if err := conn.Export(w, sniWatcherPath, sniWatcherName); err != nil {
		return nil, nil, fmt.Errorf("export the watcher: %w", err)
	}
	if _, err := prop.Export(conn, sniWatcherPath, prop.Map{sniWatcherName: {
		"RegisteredStatusNotifierItems":  {Value: []string{}},
		"IsStatusNotifierHostRegistered": {Value: true},
		"ProtocolVersion":                {Value: int32(0)},
	}}); err != nil {
		return nil, nil, fmt.Errorf("export the watcher's properties: %w", err)
	}
	if reply, err := conn.RequestName(sniWatcherName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return nil, nil, fmt.Errorf("own %s on the private bus: reply %v, %v", sniWatcherName, reply, err)
	}

	port, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	conf := filepath.Join(dir, "config.toml")
	if err := writeFile(conf, sluiceConfig(SluiceConfig{Port: port, LogDir: filepath.Join(dir, "logs"), AccessLog: true})); err != nil {
		return nil, nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, e.sluiceBin, "run", "--config", conf, "--listen", listen)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+addr, "HOME="+dir, "XDG_CONFIG_HOME="+dir,
		"XDG_STATE_HOME="+dir, "XDG_CACHE_HOME="+dir, "XDG_CURRENT_DESKTOP=XFCE")
	if p, err = e.startListening(ctx, "sluice tray", cmd, port); err != nil {
		return nil, nil, err
	}
	stop = func() {
		e.procs.Stop(p, 5*time.Second)
		conn.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); w.items.Load() == 0; {
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("no tray item registered within 20s (is the tray wired into `sluice run`?); its output:\n%s", tail(p.Output(), 1000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p, stop, nil
}

// measureTrayIdle starts the tray app (startTray), lets it idle for
// settle, and returns the RSS of its process tree and that RSS split into
// anonymous and file-backed pages. A helper the app runs (gsettings,
// ~6 MiB; kreadconfig5, ~12 MiB) may be in one reading of the tree and not
// the next, so the figure is the median of trayIdleSamples readings
// trayIdleGap apart, what a task manager shows most of the time. note says
// how often helpers were seen and the largest reading.
func (e *env) measureTrayIdle(ctx context.Context, settle time.Duration) (rss int64, parts rssParts, note string, err error) {
	p, stop, err := e.startTray(ctx)
	if err != nil {
		return 0, rssParts{}, "", err
	}
	defer stop()
	select {
	case <-ctx.Done():
		return 0, rssParts{}, "", ctx.Err()
	case <-time.After(settle):
	}
	type reading struct {
		rss   int64
		parts rssParts
	}
	var rs []reading
	withHelpers := 0
	for i := 0; i < trayIdleSamples; i++ {
		pids := processTree(p.Pid())
		if len(pids) > 1 {
			withHelpers++
		}
		rs = append(rs, reading{treeRSS(pids), treeRSSParts(pids)})
		select {
		case <-ctx.Done():
			return 0, rssParts{}, "", ctx.Err()
		case <-time.After(trayIdleGap):
		}
	}
	slices.SortFunc(rs, func(a, b reading) int { return cmp.Compare(a.rss, b.rss) })
	med := rs[len(rs)/2]
	note = fmt.Sprintf("tray app idle RSS: median of %d readings %v apart; a helper child (gsettings, kreadconfig5) was running in %d of them; readings ranged %.1f–%.1f MiB.",
		len(rs), trayIdleGap, withHelpers, mb(rs[0].rss), mb(rs[len(rs)-1].rss))
	return med.rss, med.parts, note, nil
}

// The tray idle figure is the median of trayIdleSamples readings of the
// process tree, trayIdleGap apart: 2 s in all.
const (
	trayIdleSamples = 21
	trayIdleGap     = 100 * time.Millisecond
)
