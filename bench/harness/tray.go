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
	"time"

	"github.com/sluiceproxy/sluice/internal/snihost"
)

// startTray starts the tray app (sluice run, without --headless) on a
// private session bus where the harness is the tray host, as a panel is
// (internal/snihost), and waits for its item to register: with a host, Sluice
// builds its real tray item and menu, so the figures are the tray app's
// and not the headless fallback's. stop stops the app and the bus. It
// returns an error when the app shows no tray item, so a headless fallback
// is never reported as the tray's figure.
func (e *env) startTray(ctx context.Context) (p *Proc, stop func(), err error) {
	if _, err := os.Stat(e.sluiceBin); err != nil {
		return nil, nil, fmt.Errorf("%s not built (make build): %w", e.sluiceBin, err)
	}
	dir, err := os.MkdirTemp(e.dir, "tray-")
	if err != nil {
		return nil, nil, fmt.Errorf("create the tray's dir: %w", err)
	}
	bus, err := snihost.Start(dir)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			bus.Close()
		}
	}()
	host, err := bus.Host()
	if err != nil {
		return nil, nil, fmt.Errorf("play the tray host on the private bus: %w", err)
	}
	defer func() {
		if err != nil {
			host.Close()
		}
	}()

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
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus.Addr, "HOME="+dir, "XDG_CONFIG_HOME="+dir,
		"XDG_STATE_HOME="+dir, "XDG_CACHE_HOME="+dir, "XDG_CURRENT_DESKTOP=XFCE")
	if p, err = e.startListening(ctx, "sluice tray", cmd, port); err != nil {
		return nil, nil, err
	}
	stop = func() {
		e.procs.Stop(p, 5*time.Second)
		host.Close()
		bus.Close()
	}
	if _, err = host.WaitItem(20 * time.Second); err != nil {
		e.procs.Stop(p, 5*time.Second)
		return nil, nil, fmt.Errorf("%w (is the tray wired into `sluice run`?); its output:\n%s", err, tail(p.Output(), 1000))
	}
	return p, stop, nil
}

// measureTrayIdle starts the tray app (startTray), lets it idle for
// settle, and returns the RSS of its process tree and that RSS split into
// anonymous and file-backed pages. The tray follows the desktop's proxy
// setting through change notifications (docs/tray.md, "At rest") and runs
// a helper (gsettings, ~6 MiB; kreadconfig5, ~12 MiB) only when the
// setting changed or where it cannot be watched; such a helper may be in
// one reading of the tree and not the next, so the figure is the median
// of trayIdleSamples readings trayIdleGap apart, what a task manager shows
// most of the time. note says how often helpers were seen and the range
// of the readings.
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
