package sysproxy

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/sluiceproxy/sluice/internal/snihost"
)

// sleeper starts a child process that lives until killed: this test
// binary running TestHelperSleep, so it works on every OS.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSleep$")
	cmd.Env = append(os.Environ(), "SLUICE_TEST_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestHelperSleep is not a test: sleeper runs it in a child process,
// which sleeps until killed.
func TestHelperSleep(t *testing.T) {
	if os.Getenv("SLUICE_TEST_SLEEP") != "1" {
		t.Skip("helper process only")
	}
	time.Sleep(5 * time.Minute)
	os.Exit(0)
}

// winRig is an app and a watchdog sharing one state dir and one fake
// registry, as the real ones share the state dir and the OS's settings.
type winRig struct {
	reg *fakeRegistry
	dir string
}

func newWinRig(t *testing.T, values map[string]Value) *winRig {
	return &winRig{reg: &fakeRegistry{values: values}, dir: t.TempDir()}
}

// manager is the app's Manager when owner is set, a watchdog's (or a
// shell's, owner 0) otherwise.
func (r *winRig) manager(t *testing.T, owner int) *Manager {
	t.Helper()
	m, err := NewManager(Options{StateDir: r.dir, Backends: []Backend{Windows{Reg: r.reg}}, Owner: owner, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *winRig) on(t *testing.T, m *Manager, port int) {
	t.Helper()
	if err := m.On("127.0.0.1", port, nil); err != nil {
		t.Fatal(err)
	}
}

// watch runs dog.Watch for pid in the background; its result arrives on
// the channel.
func watch(ctx context.Context, dog *Manager, pid int, every time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- dog.Watch(ctx, pid, every) }()
	return done
}

// stillWatching fails if Watch returns within d.
func stillWatching(t *testing.T, done <-chan error, d time.Duration, why string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Watch returned %s: %v", why, err)
	case <-time.After(d):
	}
}

// watchEnded waits for Watch to return, which it must do without error.
func watchEnded(t *testing.T, done <-chan error, after string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Watch did not return after %s", after)
	}
}

// expectRestored fails unless the registry holds want again and the
// watchdog removed the state file.
func (r *winRig) expectRestored(t *testing.T, dog *Manager, want map[string]Value) {
	t.Helper()
	if !maps.Equal(r.reg.values, want) {
		t.Fatalf("after the owner died: %v, want %v", r.reg.values, want)
	}
	if dog.IsOn() {
		t.Fatal("state file left after the watchdog restored")
	}
}

func TestAlive(t *testing.T) {
	self, ok := processStart(os.Getpid())
	if !ok || !alive(os.Getpid(), self) {
		t.Fatal("this process is not alive")
	}
	if alive(os.Getpid(), self+1) {
		t.Fatal("a different start token matched: pid reuse would go unseen")
	}
	if alive(deadPID(t), 0) {
		t.Fatal("a reaped process is alive")
	}
	if runtime.GOOS != "linux" {
		return // only Linux tells a zombie from a live process cheaply
	}
	// Killed but not yet reaped: a zombie is gone for Sluice's purposes.
	z := sleeper(t)
	z.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for alive(z.Process.Pid, 0) {
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped child still counts as alive")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatchRestoresWhenOwnerIsKilled(t *testing.T) {
	corp := map[string]Value{winEnable: {V: "1", Kind: KindDWORD}, winServer: {V: "corp.example:3128", Kind: KindString}}
	r := newWinRig(t, maps.Clone(corp))
	owner := sleeper(t)
	r.on(t, r.manager(t, owner.Process.Pid), 8877)
	dog := r.manager(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := watch(ctx, dog, owner.Process.Pid, 50*time.Millisecond)
	stillWatching(t, done, 300*time.Millisecond, "while the owner runs")
	owner.Process.Kill() // not reaped: the watchdog must see through the zombie
	watchEnded(t, done, "the owner died")
	r.expectRestored(t, dog, corp)
}

// TestWatchStartedBeforeOn is the order the app uses: the watchdog runs
// before the owner switches anything, waits while there is no state file,
// and still restores when the owner dies after switching on.
func TestWatchStartedBeforeOn(t *testing.T) {
	corp := map[string]Value{winEnable: {V: "1", Kind: KindDWORD}, winServer: {V: "corp.example:3128", Kind: KindString}}
	r := newWinRig(t, maps.Clone(corp))
	owner := sleeper(t)
	dog := r.manager(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := watch(ctx, dog, owner.Process.Pid, 20*time.Millisecond)
	stillWatching(t, done, 200*time.Millisecond, "before the owner switched on")
	r.on(t, r.manager(t, owner.Process.Pid), 8877)
	owner.Process.Kill()
	watchEnded(t, done, "the owner died")
	r.expectRestored(t, dog, corp)
}

// TestWatchLeavesOthersStateAlone: a watchdog whose owner dies without
// having switched on leaves a state file of another owner (here `sluice
// sysproxy on` from a shell, owner 0) as it is.
func TestWatchLeavesOthersStateAlone(t *testing.T) {
	r := newWinRig(t, map[string]Value{})
	r.on(t, r.manager(t, 0), 8877)
	owner := sleeper(t)
	dog := r.manager(t, 0)
	done := watch(context.Background(), dog, owner.Process.Pid, 20*time.Millisecond)
	owner.Process.Kill()
	watchEnded(t, done, "its owner died")
	if !dog.IsOn() || !(Windows{}).PointsAt(r.reg.values, Target{Host: "127.0.0.1", Port: 8877}) {
		t.Fatalf("the watchdog restored a setting its owner never made: %v", r.reg.values)
	}
}

func TestWatchExitsQuietlyWhenSwitchedOff(t *testing.T) {
	r := newWinRig(t, map[string]Value{})
	app := r.manager(t, os.Getpid())
	r.on(t, app, 8877)
	done := watch(context.Background(), r.manager(t, 0), os.Getpid(), 50*time.Millisecond)
	// A watchdog leaves once it has seen its owner's state file go away;
	// one that never saw the file waits for its owner to exit instead
	// (it may have been started before the switch). So Off comes after
	// the watchdog had many polls to see the file, even on a busy machine.
	time.Sleep(time.Second)
	if err := app.Off(); err != nil {
		t.Fatal(err)
	}
	watchEnded(t, done, "Off")
	r.reg.takeOps()
	if len(r.reg.values) != 0 {
		t.Fatalf("values after Off: %v", r.reg.values)
	}
}

// The watchdog polls the state file while the app rewrites it (by
// rename) and deletes it. On Windows neither can happen to a file that
// another process has open, even for the instant of a read, so every
// poll must read under the lock the app writes under.
func TestWatchPollsNeverBreakTheOwnersWrites(t *testing.T) {
	r := newWinRig(t, map[string]Value{})
	app := r.manager(t, os.Getpid())
	for round := range 5 {
		r.on(t, app, 8877)
		ctx, cancel := context.WithCancel(context.Background())
		done := watch(ctx, r.manager(t, 0), os.Getpid(), time.Millisecond)
		// Re-pointing rewrites the state file twice.
		for port := range 10 {
			if err := app.On("127.0.0.1", 9000+port, nil); err != nil {
				t.Fatalf("round %d: On while the watchdog polls: %v", round, err)
			}
		}
		if err := app.Off(); err != nil {
			t.Fatalf("round %d: Off while the watchdog polls: %v", round, err)
		}
		// Whether it has left by itself depends on its having seen the
		// file (see TestWatchExitsQuietlyWhenSwitchedOff); it must not
		// have failed.
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
}

func TestRestoreLeavesALiveOwnerAlone(t *testing.T) {
	r := newWinRig(t, map[string]Value{})
	r.on(t, r.manager(t, os.Getpid()), 8877)
	if restored, err := r.manager(t, 0).Restore(); restored || err != nil {
		t.Fatalf("Restore = %v, %v while the owner runs", restored, err)
	}
	if !(Windows{}).PointsAt(r.reg.values, Target{Host: "127.0.0.1", Port: 8877}) {
		t.Fatal("Restore changed a live owner's setting")
	}
}

func TestGuardPutsSluiceBack(t *testing.T) {
	before := map[string]Value{winEnable: {V: "0", Kind: KindDWORD}}
	reg := &fakeRegistry{values: maps.Clone(before)}
	m := newTestManager(t, Windows{Reg: reg})
	if err := m.On("127.0.0.1", 8877, nil); err != nil {
		t.Fatal(err)
	}
	reg.values[winServer] = Value{V: "evil.example:80", Kind: KindString}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Guard(ctx, 20*time.Millisecond); close(done) }()
	tg := Target{Host: "127.0.0.1", Port: 8877}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m.mu.Lock()
		ok := (Windows{}).PointsAt(reg.values, tg)
		m.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Guard did not put Sluice back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Guard kept running after Off")
	}
	cancel()
	if !maps.Equal(reg.values, before) {
		t.Fatalf("after Off: %v, want the settings from before Sluice %v", reg.values, before)
	}
}

func TestStateFileIsWrittenWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFileName)
	if err := saveState(path, &state{Owner: 7, Backends: []backendState{{Name: "gnome", Before: Settings{"k": {V: "v"}}}}}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("state dir holds %d files, want only the state file", len(ents))
	}
	st, err := loadState(path)
	if err != nil || st.Owner != 7 || st.Backends[0].Before["k"].V != "v" {
		t.Fatalf("loadState = %+v, %v", st, err)
	}
	os.WriteFile(path, []byte(`{"version":1,"owner":`), 0o600)
	if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("a damaged state file gave %v; want an error saying what to do", err)
	}
}

func TestDetectDesktop(t *testing.T) {
	look := func(present ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			for _, p := range present {
				if p == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", exec.ErrNotFound
		}
	}
	schema := &fakeRunner{}
	cases := []struct {
		desktop string
		tools   []string
		want    string
	}{
		{"ubuntu:GNOME", []string{"gsettings", "kwriteconfig5", "kreadconfig5"}, "gnome"},
		{"X-Cinnamon", []string{"gsettings"}, "gnome"},
		{"KDE", []string{"gsettings", "kwriteconfig5", "kreadconfig5"}, "kde5"},
		{"KDE", []string{"kwriteconfig5", "kreadconfig5", "kwriteconfig6", "kreadconfig6"}, "kde6"},
		{"XFCE", []string{"gsettings", "kwriteconfig5", "kreadconfig5"}, "gnome kde5"},
		{"", []string{"kwriteconfig6", "kreadconfig6"}, "kde6"},
		{"GNOME", []string{"kwriteconfig5", "kreadconfig5"}, "kde5"},
		{"XFCE", nil, ""},
	}
	for _, c := range cases {
		var names []string
		for _, b := range detectDesktop(c.desktop, nil, schema, look(c.tools...)) {
			names = append(names, b.Name())
		}
		if got := strings.Join(names, " "); got != c.want {
			t.Errorf("desktop %q with %v: %q, want %q", c.desktop, c.tools, got, c.want)
		}
	}
}

type fakeRunner struct{}

func (fakeRunner) Run(context.Context, string, ...string) ([]byte, error) { return nil, nil }

func TestKDETellsKIOOverDBus(t *testing.T) {
	needTool(t, "kwriteconfig5", "kreadconfig5")
	addr := snihost.StartBus(t).Addr

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.kde.KIO.Scheduler")); err != nil {
		t.Fatal(err)
	}
	sig := make(chan *dbus.Signal, 4)
	conn.Signal(sig)

	env := append(toolEnv(t), "DBUS_SESSION_BUS_ADDRESS="+addr)
	b := KDE{Version: 5, Run: ExecRunner{Env: env}, Env: env}
	if n := b.Note(); n != "" {
		t.Fatalf("Note = %q with a bus", n)
	}
	m := newTestManager(t, b)
	if err := m.On("127.0.0.1", 8877, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sig:
		if s.Path != "/KIO/Scheduler" || s.Name != "org.kde.KIO.Scheduler.reparseSlaveConfiguration" || len(s.Body) != 1 || s.Body[0] != "" {
			t.Fatalf("signal %+v", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no reparseSlaveConfiguration signal")
	}
	if err := m.Off(); err != nil {
		t.Fatal(err)
	}

	nobus := KDE{Version: 5, Run: ExecRunner{Env: toolEnv(t)}, Env: toolEnv(t)}
	if n := nobus.Note(); !strings.Contains(n, "no D-Bus session bus") {
		t.Fatalf("Note without a bus = %q", n)
	}
}
