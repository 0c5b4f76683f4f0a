package sysproxy

import (
	"context"
	"fmt"
	"time"
)

// Watch is the watchdog: it polls process pid every interval and, when
// that process is gone, restores the snapshot if the state file names pid
// as its owner, and returns. The owner starts it before switching the
// system proxy on, so there is no moment when the setting is changed and
// nobody would put it back: until the state file appears Watch just
// waits. Once it has seen a state file owned by pid, it returns nil as
// soon as the file is gone or names another owner (the owner switched off
// normally, or a newer Sluice took over). Run it in a process of its own,
// so that a kill -9 of the owner does not take it along.
func (m *Manager) Watch(ctx context.Context, pid int, interval time.Duration) error {
	// The start token tells the owner from a later process that reuses
	// its pid while no state file records the token yet.
	start, running := processStart(pid)
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := false
	for {
		if !running || !alive(pid, start) {
			restored, err := m.restoreIf(func(st *state) bool { return st.Owner == pid })
			if restored {
				m.log.Warn("Sluice exited without switching the system proxy off; restored it", "pid", pid)
			}
			return err
		}
		st, err := m.readState()
		if err != nil {
			return err
		}
		switch {
		case st != nil && st.Owner == pid:
			seen = true
		case seen:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Guard re-applies Sluice's setting every interval while another program
// has switched it away ([sysproxy] guard). The snapshot to restore stays
// the one from before Sluice. It returns when ctx is done, or when the
// system proxy is no longer on for this Manager's owner (switched off, or
// taken over by another process).
func (m *Manager) Guard(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		active, err := m.reapply()
		if err != nil {
			m.log.Warn("re-apply the system proxy", "err", err)
		}
		if !active {
			return
		}
	}
}

// reapply is one Guard tick; it reports whether the system proxy is still
// on for this Manager's owner.
func (m *Manager) reapply() (bool, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	unlock, err := m.lock()
	if err != nil {
		return true, err
	}
	defer unlock()
	st, err := loadState(m.path)
	if err != nil {
		return true, err
	}
	if st == nil || st.Owner != m.opts.Owner {
		return false, nil
	}
	changed := false
	for i := range st.Backends {
		bs := &st.Backends[i]
		b, err := m.resolve(bs.Name)
		if err != nil {
			return true, err
		}
		cur, err := b.Read(ctx)
		if err != nil {
			return true, err
		}
		if unchanged(cur, bs.Wrote) {
			continue
		}
		m.log.Warn("another program switched the system proxy away from Sluice; switching it back ([sysproxy] guard)", "backend", bs.Name, "was", cur.String())
		if err := m.write(ctx, b, b.Want(cur, st.Target)); err != nil {
			return true, err
		}
		if bs.Wrote, err = b.Read(ctx); err != nil {
			return true, err
		}
		changed = true
	}
	if changed {
		if err := saveState(m.path, st); err != nil {
			return true, fmt.Errorf("guard: %w", err)
		}
	}
	return true, nil
}
