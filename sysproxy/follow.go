package sysproxy

import (
	"context"
	"time"
)

// ChangeWatcher is a Backend that can be told when its settings change,
// so that following them costs nothing while nobody changes them. GNOME
// (dconf's D-Bus signal, or an inotify watch on the keyfile), KDE (an
// inotify watch on kioslaverc) and Windows (RegNotifyChangeKeyValue) are
// ChangeWatchers. MacOS is not: SCDynamicStore notifications need cgo,
// which Sluice's builds do without, so Follow polls it.
type ChangeWatcher interface {
	// Changes starts watching the settings Read reads, as any program
	// changes them. The channel receives a value after they may have
	// changed (a burst of changes may come as one) and is closed when ctx
	// ends or the watch breaks. An error means nothing is watched: this
	// system offers no way to be told (no D-Bus session bus, say).
	Changes(ctx context.Context) (<-chan struct{}, error)
}

// followSettle is how long Follow waits after a change before calling
// back: writing the proxy setting takes one gsettings or kwriteconfig run
// per key, a change each, and one re-read after the burst is enough.
const followSettle = 250 * time.Millisecond

// Follow calls changed, from a goroutine of its own, after the OS proxy
// settings of any of m's backends may have changed, whoever changed them,
// until ctx ends. Backends that are ChangeWatchers are watched, which
// costs nothing while the settings stay as they are; the others, and any
// watch that cannot start or breaks, are covered by calling changed every
// poll (none if poll <= 0). Every watch is in place when Follow returns.
func (m *Manager) Follow(ctx context.Context, poll time.Duration, changed func()) {
	kick := make(chan struct{}, 1)
	lost := make(chan struct{}, 1)
	polling := false
	for _, b := range m.chosen() {
		w, ok := b.(ChangeWatcher)
		if !ok {
			m.log.Info("system proxy: this backend cannot be watched; re-reading it periodically", "backend", b.Name(), "every", poll)
			polling = true
			continue
		}
		ch, err := w.Changes(ctx)
		if err != nil {
			m.log.Info("system proxy: cannot watch for changes; re-reading it periodically", "backend", b.Name(), "every", poll, "err", err)
			polling = true
			continue
		}
		m.log.Debug("system proxy: watching for changes", "backend", b.Name())
		go func() {
			for range ch {
				notify(kick)
			}
			if ctx.Err() == nil {
				m.log.Warn("system proxy: the watch for changes stopped; re-reading it periodically", "backend", b.Name(), "every", poll)
				notify(lost)
			}
		}()
	}
	go follow(ctx, kick, lost, polling, poll, changed)
}

// follow is Follow's loop: it calls changed once per burst of kicks, and
// every poll while polling (or once a watch is lost).
func follow(ctx context.Context, kick, lost <-chan struct{}, polling bool, poll time.Duration, changed func()) {
	var ticker *time.Ticker
	var tick <-chan time.Time
	startPolling := func() {
		if ticker == nil && poll > 0 {
			ticker = time.NewTicker(poll)
			tick = ticker.C
		}
	}
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	if polling {
		startPolling()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-lost:
			// What changed while the watch was failing is read now.
			startPolling()
		case <-tick:
		case <-kick:
			settle := time.NewTimer(followSettle)
			select {
			case <-ctx.Done():
				settle.Stop()
				return
			case <-settle.C:
			}
			// Kicks during the wait were part of this burst.
			select {
			case <-kick:
			default:
			}
		}
		changed()
	}
}

// notify wakes whoever waits on ch without ever blocking: ch has room for
// one value, and a value already waiting says the same thing.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
