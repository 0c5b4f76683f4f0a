package sysproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure a Manager.
type Options struct {
	// StateDir holds the state file (StateFileName). Required.
	StateDir string
	// Backends are what On switches. Nil means Detect(Env).
	Backends []Backend
	// Env is added to the environment of the OS tools that detected or
	// restored backends run (see ExecRunner.Env). Nil adds nothing.
	Env []string
	// Owner is the pid recorded as owning the setting while it is on: when
	// that process is gone, Restore (at the next start, or in the
	// watchdog) puts the snapshot back. 0 records no owner, for a
	// setting switched on from a shell that outlives its command.
	Owner int
	// Log receives what the Manager changed and what it left alone. Nil
	// discards.
	Log *slog.Logger
	// Timeout bounds the OS tool calls of one operation. Zero means 30s.
	Timeout time.Duration
}

// Manager switches the system proxy on and off and keeps the state file.
// Its methods are safe for concurrent use; another process working on the
// same state dir sees a whole file or none, never half of one.
type Manager struct {
	opts Options
	path string
	log  *slog.Logger

	// detect runs Detect once, when a backend is first needed, so that
	// IsOn and Restore cost no tool lookups.
	detect   sync.Once
	backends []Backend

	// mu serialises this Manager's operations; the lock file (see lock)
	// serialises them with other Managers and processes.
	mu sync.Mutex
}

// NewManager returns a Manager for o.
func NewManager(o Options) (*Manager, error) {
	if o.StateDir == "" {
		return nil, errors.New("sysproxy: no state dir")
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	m := &Manager{opts: o, path: filepath.Join(o.StateDir, StateFileName), backends: o.Backends, log: o.Log}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return m, nil
}

// chosen returns the backends On switches, detecting them on first use.
func (m *Manager) chosen() []Backend {
	m.detect.Do(func() {
		if m.backends == nil {
			m.backends = Detect(m.opts.Env)
		}
	})
	return m.backends
}

// Backends returns the names of the backends On switches.
func (m *Manager) Backends() []string {
	var names []string
	for _, b := range m.chosen() {
		names = append(names, b.Name())
	}
	return names
}

// lock takes m.mu and the state dir's lock file, so that the app, its
// watchdog, the guard and `sluice sysproxy` never interleave their
// read-modify-writes of the OS settings and the state file.
func (m *Manager) lock() (func(), error) {
	m.mu.Lock()
	if err := os.MkdirAll(m.opts.StateDir, 0o700); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	release, err := lockFile(filepath.Join(m.opts.StateDir, "sysproxy.lock"))
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	return func() { release(); m.mu.Unlock() }, nil
}

// StatePath is the state file's path.
func (m *Manager) StatePath() string { return m.path }

func (m *Manager) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.opts.Timeout)
}

// resolve finds the backend a state file entry names.
func (m *Manager) resolve(name string) (Backend, error) {
	for _, b := range m.chosen() {
		if b.Name() == name {
			return b, nil
		}
	}
	return backendByName(name, m.opts.Env)
}

// write calls b.Write, logging a warning instead of failing when the
// settings were written but running programs could not be told.
func (m *Manager) write(ctx context.Context, b Backend, s Settings) error {
	err := b.Write(ctx, s)
	var w warning
	if errors.As(err, &w) {
		m.log.Warn("system proxy written, but running programs were not told", "backend", b.Name(), "err", w.err)
		return nil
	}
	return err
}

// unchanged reports whether every setting in wrote still has that value
// in cur: nobody changed what Sluice wrote.
func unchanged(cur, wrote Settings) bool {
	for k, v := range wrote {
		if c, ok := cur[k]; !ok || c != v {
			return false
		}
	}
	return true
}

// ours reports whether every setting Sluice wrote still holds either
// Sluice's value or the one from before Sluice: nobody else put a value of
// their own there, so restoring the snapshot takes nothing from anyone.
// This also covers a write cut short (a crash or an error halfway), and a
// user who switched the proxy off by hand, which restoring completes.
func ours(cur Settings, bs backendState) bool {
	for k, v := range bs.Wrote {
		c, ok := cur[k]
		if !ok {
			return false
		}
		if b, had := bs.Before[k]; c != v && (!had || c != b) {
			return false
		}
	}
	return true
}

// On points the system proxy at host:port with the bypass list. It first
// snapshots every setting it will change and saves the snapshot to the
// state file, then writes, then reads back to check. Calling On while on
// keeps the first snapshot (the user's own settings) and re-points the
// system at host:port. If any backend fails, everything is put back as it
// was and the error says why.
func (m *Manager) On(host string, port int, bypass []string) error {
	return m.OnTarget(Target{Host: host, Port: port, Bypass: bypass})
}

// OnTarget is On for t, which may name a PAC URL (see Target.PAC). Going
// from one mode to the other while on keeps the first snapshot, as On
// does.
func (m *Manager) OnTarget(t Target) error {
	backends := m.chosen()
	if len(backends) == 0 {
		return fmt.Errorf("no way to set the system proxy on this desktop (XDG_CURRENT_DESKTOP=%q): install gsettings (GNOME) or kwriteconfig5 (KDE), or set the proxy by hand to %s",
			lookEnv(m.opts.Env, "XDG_CURRENT_DESKTOP"), t)
	}
	ctx, cancel := m.ctx()
	defer cancel()
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()

	st, err := loadState(m.path)
	if err != nil {
		return err
	}
	if st == nil {
		st = &state{}
	}
	st.Owner = m.opts.Owner
	st.OwnerStart = 0
	if m.opts.Owner != 0 {
		st.OwnerStart, _ = processStart(m.opts.Owner)
	}
	st.Target = t

	// Snapshot everything and save it before writing anything, so a crash
	// at any point after this leaves a record of the user's settings.
	for _, b := range backends {
		cur, err := b.Read(ctx)
		if err != nil {
			return fmt.Errorf("switch the system proxy on: %w", err)
		}
		prev := st.backend(b.Name())
		switch {
		case prev == nil:
			st.Backends = append(st.Backends, backendState{Name: b.Name(), Before: cur})
			prev = &st.Backends[len(st.Backends)-1]
		case !unchanged(cur, prev.Wrote):
			m.log.Warn("system proxy changed since Sluice set it; keeping the new settings as the ones to restore", "backend", b.Name())
			prev.Before = cur
		}
		// Until read back below, what Sluice wrote is what it asked for.
		prev.Wrote = b.Want(cur, t)
	}
	if err := saveState(m.path, st); err != nil {
		return err
	}

	var errs []error
	for _, b := range backends {
		bs := st.backend(b.Name())
		if err := m.write(ctx, b, bs.Wrote); err != nil {
			errs = append(errs, err)
			continue
		}
		got, err := b.Read(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		bs.Wrote = got
		if !b.PointsAt(got, t) {
			errs = append(errs, fmt.Errorf("%s: the setting did not take (is the settings store writable? read back:\n%s)", b.Name(), got))
		}
	}
	if err := saveState(m.path, st); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		err := fmt.Errorf("switch the system proxy on: %w", errors.Join(errs...))
		if rerr := m.off(ctx, st, false); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	m.log.Info("system proxy on", "target", t.String(), "backends", m.Backends())
	return nil
}

// withState runs fn with the lock held and the state file loaded, if there
// is one; with no state file it does nothing.
func (m *Manager) withState(fn func(ctx context.Context, st *state) error) error {
	ctx, cancel := m.ctx()
	defer cancel()
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(m.path)
	if err != nil || st == nil {
		return err
	}
	return fn(ctx, st)
}

// Off puts back the settings the snapshot holds and deletes the state
// file. A backend where the user or another program has put a value of
// its own (neither Sluice's nor the one from before) is left alone, and
// the log says so. With no state file Off does nothing, so calling it
// twice is fine.
func (m *Manager) Off() error {
	return m.withState(func(ctx context.Context, st *state) error {
		return m.off(ctx, st, false)
	})
}

// Restore puts back a snapshot left behind by a process that is gone:
// when a state file exists and its owner is not running (or it has no
// owner), it does what Off does. It reports whether it restored. Run it
// at start, before anything else; the watchdog runs it when the owner
// dies.
func (m *Manager) Restore() (bool, error) {
	return m.restoreIf(func(*state) bool { return true })
}

// restoreIf is Restore for a state file that mine accepts (checked with
// the lock held).
func (m *Manager) restoreIf(mine func(*state) bool) (bool, error) {
	restored := false
	err := m.withState(func(ctx context.Context, st *state) error {
		if !mine(st) || st.Owner != 0 && alive(st.Owner, st.OwnerStart) {
			return nil
		}
		m.log.Info("restoring the system proxy Sluice left on", "owner_pid", st.Owner)
		restored = true
		return m.off(ctx, st, false)
	})
	return restored, err
}

// RestoreAnyway writes every snapshot back even where the settings were
// changed since Sluice wrote them, whoever owns them, and deletes the
// state file. It is for `sluice sysproxy restore --force`, when the user
// knows better.
func (m *Manager) RestoreAnyway() error {
	return m.withState(func(ctx context.Context, st *state) error {
		return m.off(ctx, st, true)
	})
}

// off restores st's snapshots (only where unchanged, unless force) and
// removes the state file; the lock is held. A backend that fails stays in the
// state file so the restore can be retried.
func (m *Manager) off(ctx context.Context, st *state, force bool) error {
	var failed []backendState
	var errs []error
	for _, bs := range st.Backends {
		b, err := m.resolve(bs.Name)
		if err != nil {
			failed, errs = append(failed, bs), append(errs, err)
			continue
		}
		cur, err := b.Read(ctx)
		if err != nil {
			failed, errs = append(failed, bs), append(errs, err)
			continue
		}
		if !force && !ours(cur, bs) {
			m.log.Warn("system proxy was changed by someone else since Sluice set it; leaving it as it is (sluice sysproxy restore --force would put back the settings from before Sluice)",
				"backend", bs.Name, "now", cur.String())
			continue
		}
		if err := m.write(ctx, b, bs.Before); err != nil {
			failed, errs = append(failed, bs), append(errs, err)
			continue
		}
		m.log.Info("system proxy restored", "backend", bs.Name)
	}
	if len(failed) > 0 {
		st.Backends = failed
		err := fmt.Errorf("restore the system proxy: %w (try again with: sluice sysproxy restore)", errors.Join(errs...))
		if serr := saveState(m.path, st); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	return removeState(m.path)
}

// IsOn reports whether a state file exists: Sluice (this process or
// another) has the system proxy switched on and has not restored it.
func (m *Manager) IsOn() bool {
	_, err := os.Stat(m.path)
	return err == nil
}

// Status reads every backend On would switch, and every backend the state
// file names. PointsAtSluice compares with the state file's target, or
// with t when there is no state file.
func (m *Manager) Status(t Target) ([]BackendStatus, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := loadState(m.path)
	if err != nil {
		return nil, err
	}
	backends := append([]Backend(nil), m.chosen()...)
	if st != nil {
		t = st.Target
		for _, bs := range st.Backends {
			if b, err := m.resolve(bs.Name); err == nil && !m.uses(bs.Name) {
				backends = append(backends, b)
			}
		}
	}
	var out []BackendStatus
	for _, b := range backends {
		s := BackendStatus{Name: b.Name(), Owned: st != nil && st.backend(b.Name()) != nil}
		s.Current, s.Err = b.Read(ctx)
		if s.Err == nil {
			s.PointsAtSluice = b.PointsAt(s.Current, t)
		}
		if n, ok := b.(noter); ok {
			s.Note = n.Note()
		}
		out = append(out, s)
	}
	return out, nil
}

func (m *Manager) uses(name string) bool {
	for _, b := range m.chosen() {
		if b.Name() == name {
			return true
		}
	}
	return false
}

// Owner returns the pid the state file names as owner: 0 when the system
// proxy is off, has no owner, or the file cannot be read.
func (m *Manager) Owner() int {
	st, err := m.readState()
	if err != nil || st == nil {
		return 0
	}
	return st.Owner
}

// readState loads the state file under the lock. Every reader takes it,
// not only the writers: on Windows a file open for reading, even for the
// instant of a read, cannot be renamed over or deleted, so an unlocked
// read would make a writer's saveState or removeState fail.
func (m *Manager) readState() (*state, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return loadState(m.path)
}
