// Package snihost is a test tray host: it runs a private D-Bus session bus
// (a real dbus-daemon), owns org.kde.StatusNotifierWatcher on it as a
// panel does, and reads and clicks an item's menu through
// com.canonical.dbusmenu, so tests see the tray exactly as a desktop
// would. The tray and sysproxy tests use it through the helpers that take a
// testing.TB; the load harness (bench/harness), which is no test, through
// Start and Bus.Host. It needs Debian's dbus package.
package snihost

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// Bus is a private session bus. Addr goes into DBUS_SESSION_BUS_ADDRESS.
type Bus struct {
	// Addr is the bus address, e.g. "unix:path=/tmp/x/bus,guid=…".
	Addr string

	cmd *exec.Cmd
}

// startTimeout bounds dbus-daemon's start-up: generous, as the machine
// may be busy.
const startTimeout = 30 * time.Second

// Start starts dbus-daemon with its socket in dir and returns once it
// listens. env is added to the daemon's environment, which the services
// it activates (dconf-service) inherit. Close stops it.
func Start(dir string, env ...string) (*Bus, error) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("dbus-daemon not installed (Debian package dbus): %w", err)
	}
	cmd := exec.Command(daemon, "--session", "--nofork", "--print-address=1", "--address=unix:path="+filepath.Join(dir, "bus"))
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dbus-daemon: %w", err)
	}
	b := &Bus{cmd: cmd}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case b.Addr = <-line:
	case <-time.After(startTimeout):
	}
	if b.Addr == "" {
		b.Close() // waits for the daemon, so stderr is complete
		return nil, fmt.Errorf("dbus-daemon printed no address within %v; stderr: %s", startTimeout, stderr.String())
	}
	return b, nil
}

// Close stops the daemon.
func (b *Bus) Close() {
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

// StartBus starts a bus as Start does, in a temp dir, and stops it when
// the test ends. It skips the test when dbus-daemon is not installed.
func StartBus(t testing.TB, env ...string) *Bus {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		t.Skip("dbus-daemon not installed (Debian package dbus)")
	}
	b, err := Start(t.TempDir(), env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

const (
	watcherName  = "org.kde.StatusNotifierWatcher"
	watcherPath  = "/StatusNotifierWatcher"
	itemIface    = "org.kde.StatusNotifierItem"
	menuIface    = "com.canonical.dbusmenu"
	defaultItem  = "/StatusNotifierItem"
	propsGetCall = "org.freedesktop.DBus.Properties.Get"
)

// Item is a registered StatusNotifierItem: the bus name that registered
// it and the object path it lives at.
type Item struct {
	// Service is the unique bus name of the item's connection.
	Service string
	// Path is the item's object path.
	Path dbus.ObjectPath
}

// Watcher plays the tray host's part: it owns
// org.kde.StatusNotifierWatcher and records the items that register.
type Watcher struct {
	conn  *dbus.Conn
	mu    sync.Mutex
	items []Item
	added chan struct{} // closed and replaced on each registration
}

// Host connects to the bus, owns the watcher name there and serves its
// interface, as a panel's tray host does. Close lets go of it.
func (b *Bus) Host() (*Watcher, error) {
	conn, err := dbus.Connect(b.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", b.Addr, err)
	}
	w := &Watcher{conn: conn, added: make(chan struct{})}
	if err := w.serve(); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

func (w *Watcher) serve() error {
	if err := w.conn.Export(w, watcherPath, watcherName); err != nil {
		return fmt.Errorf("export %s: %w", watcherName, err)
	}
	_, err := prop.Export(w.conn, watcherPath, prop.Map{
		watcherName: {
			"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitTrue},
			"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitTrue},
			"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitTrue},
		},
	})
	if err != nil {
		return fmt.Errorf("export the properties of %s: %w", watcherName, err)
	}
	reply, err := w.conn.RequestName(watcherName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("own %s: reply %v, %v", watcherName, reply, err)
	}
	return nil
}

// Close closes the watcher's connection, which gives up the name.
func (w *Watcher) Close() { w.conn.Close() }

// NewWatcher is bus.Host for a test: it fails the test on error and lets
// go of the name when the test ends.
func NewWatcher(t testing.TB, bus *Bus) *Watcher {
	t.Helper()
	w, err := bus.Host()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// RegisterStatusNotifierItem is the watcher method items call. service is
// either an object path on the caller's connection (what fyne.io/systray
// sends) or a bus name whose item sits at /StatusNotifierItem.
func (w *Watcher) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	it := Item{Service: string(sender), Path: defaultItem}
	if strings.HasPrefix(service, "/") {
		it.Path = dbus.ObjectPath(service)
	} else if service != "" {
		it.Service = service
	}
	w.mu.Lock()
	w.items = append(w.items, it)
	close(w.added)
	w.added = make(chan struct{})
	w.mu.Unlock()
	w.conn.Emit(watcherPath, watcherName+".StatusNotifierItemRegistered", it.Service+string(it.Path))
	return nil
}

// RegisterStatusNotifierHost is part of the watcher interface; this
// watcher is its own host, so there is nothing to record.
func (w *Watcher) RegisterStatusNotifierHost(string) *dbus.Error { return nil }

// WaitItem returns the most recently registered item, waiting up to
// timeout for one to register.
func (w *Watcher) WaitItem(timeout time.Duration) (Item, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		n, added := len(w.items), w.added
		var last Item
		if n > 0 {
			last = w.items[n-1]
		}
		w.mu.Unlock()
		if n > 0 {
			return last, nil
		}
		select {
		case <-added:
		case <-deadline:
			return Item{}, fmt.Errorf("no StatusNotifierItem registered within %v", timeout)
		}
	}
}

// Registrations counts the items registered so far.
func (w *Watcher) Registrations() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.items)
}

// ItemProp reads one org.kde.StatusNotifierItem property of it.
func (w *Watcher) ItemProp(it Item, name string) (dbus.Variant, error) {
	var v dbus.Variant
	err := w.conn.Object(it.Service, it.Path).Call(propsGetCall, 0, itemIface, name).Store(&v)
	if err != nil {
		return v, fmt.Errorf("get %s.%s of %s%s: %w", itemIface, name, it.Service, it.Path, err)
	}
	return v, nil
}

// Menu finds the item's menu as a host does: through its Menu property.
func (w *Watcher) Menu(it Item) (*Menu, error) {
	v, err := w.ItemProp(it, "Menu")
	if err != nil {
		return nil, err
	}
	p, ok := v.Value().(dbus.ObjectPath)
	if !ok || !p.IsValid() {
		return nil, fmt.Errorf("Menu property is %v, want an object path", v)
	}
	return &Menu{obj: w.conn.Object(it.Service, p)}, nil
}

// Icon is the first pixmap of the item's IconPixmap property.
type Icon struct {
	// W and H are the size in pixels.
	W, H int32
	// ARGB holds W×H pixels, 4 bytes each, in network byte order.
	ARGB []byte
}

// IconPixmap reads the item's icon.
func (w *Watcher) IconPixmap(it Item) (Icon, error) {
	var icons []struct {
		W, H int32
		Pix  []byte
	}
	v, err := w.ItemProp(it, "IconPixmap")
	if err != nil {
		return Icon{}, err
	}
	if err := dbus.Store([]any{v.Value()}, &icons); err != nil {
		return Icon{}, fmt.Errorf("decode IconPixmap %s: %w", v.Signature(), err)
	}
	if len(icons) == 0 {
		return Icon{}, fmt.Errorf("IconPixmap is empty")
	}
	return Icon{W: icons[0].W, H: icons[0].H, ARGB: icons[0].Pix}, nil
}

// ToolTip reads the title line of the item's ToolTip property.
func (w *Watcher) ToolTip(it Item) (string, error) {
	var tip struct {
		Name  string
		Icons []struct {
			W, H int32
			Pix  []byte
		}
		Title, Text string
	}
	v, err := w.ItemProp(it, "ToolTip")
	if err != nil {
		return "", err
	}
	if err := dbus.Store([]any{v.Value()}, &tip); err != nil {
		return "", fmt.Errorf("decode ToolTip %s: %w", v.Signature(), err)
	}
	return tip.Title, nil
}

// Menu is a com.canonical.dbusmenu object.
type Menu struct {
	obj dbus.BusObject
}

// Entry is one menu item as a host renders it.
type Entry struct {
	// ID identifies the item in Event calls.
	ID int32
	// Label is the text, with no mnemonic underscores expected.
	Label string
	// Separator is true for a separator line.
	Separator bool
	// Enabled and Visible default to true when the item leaves them out,
	// as the dbusmenu spec says.
	Enabled, Visible bool
	// Checkmark is true for a checkbox item; Checked is its state.
	Checkmark, Checked bool
	// Children are a submenu's items.
	Children []Entry
}

// Layout reads the whole menu with GetLayout and returns its top-level
// items in order.
func (m *Menu) Layout() ([]Entry, error) {
	var rev uint32
	var root struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	err := m.obj.Call(menuIface+".GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root)
	if err != nil {
		return nil, fmt.Errorf("GetLayout: %w", err)
	}
	return entriesOf(root.Children)
}

// entriesOf decodes a layout's children, and theirs.
func entriesOf(children []dbus.Variant) ([]Entry, error) {
	entries := make([]Entry, 0, len(children))
	for _, c := range children {
		var item struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
		if err := dbus.Store([]any{c.Value()}, &item); err != nil {
			return nil, fmt.Errorf("decode menu item %s: %w", c.Signature(), err)
		}
		e := entryOf(item.ID, item.Props)
		var err error
		if e.Children, err = entriesOf(item.Children); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func entryOf(id int32, p map[string]dbus.Variant) Entry {
	e := Entry{ID: id, Enabled: true, Visible: true}
	if v, ok := p["label"].Value().(string); ok {
		e.Label = v
	}
	if v, ok := p["type"].Value().(string); ok && v == "separator" {
		e.Separator = true
	}
	if v, ok := p["enabled"].Value().(bool); ok {
		e.Enabled = v
	}
	if v, ok := p["visible"].Value().(bool); ok {
		e.Visible = v
	}
	if v, ok := p["toggle-type"].Value().(string); ok && v == "checkmark" {
		e.Checkmark = true
	}
	if v, ok := p["toggle-state"].Value().(int32); ok {
		e.Checked = v == 1
	}
	return e
}

// Click sends the "clicked" event for item id, as a host does when the
// user picks it.
func (m *Menu) Click(id int32) error {
	err := m.obj.Call(menuIface+".Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
	if err != nil {
		return fmt.Errorf("Event(%d, clicked): %w", id, err)
	}
	return nil
}

// Open sends the "opened" event for the root menu, as a host does when
// it has shown the menu.
func (m *Menu) Open() error {
	err := m.obj.Call(menuIface+".Event", 0, int32(0), "opened", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
	if err != nil {
		return fmt.Errorf("Event(0, opened): %w", err)
	}
	return nil
}

// ClickQuit clicks an item that ends the menu's process. The process may
// leave the bus before its reply goes out, and the bus then answers
// NoReply on its behalf: that counts as a click delivered.
func (m *Menu) ClickQuit(id int32) error {
	err := m.Click(id)
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.NoReply" {
		return nil
	}
	return err
}

// Has returns a check, for polling the menu, that its entry starting with
// prefix exists and satisfies want.
func Has(prefix string, want func(Entry) bool) func([]Entry) error {
	return func(es []Entry) error {
		e, ok := Find(es, prefix)
		if !ok {
			return fmt.Errorf("no item %q", prefix)
		}
		if !want(e) {
			return fmt.Errorf("item %q is %+v", prefix, e)
		}
		return nil
	}
}

// Find returns the first visible entry whose label starts with prefix.
func Find(entries []Entry, prefix string) (Entry, bool) {
	for _, e := range entries {
		if e.Visible && !e.Separator && strings.HasPrefix(e.Label, prefix) {
			return e, true
		}
	}
	return Entry{}, false
}

// Labels lists the visible labels, separators as "---", for messages; a
// submenu's items follow it, indented.
func Labels(entries []Entry) string {
	var b strings.Builder
	labels(&b, entries, "  ")
	return b.String()
}

func labels(b *strings.Builder, entries []Entry, indent string) {
	for _, e := range entries {
		switch {
		case !e.Visible:
			continue
		case e.Separator:
			b.WriteString(indent + "---\n")
		default:
			mark := ""
			if e.Checkmark {
				mark = "[ ] "
				if e.Checked {
					mark = "[x] "
				}
			}
			if !e.Enabled {
				mark += "(disabled) "
			}
			fmt.Fprintf(b, "%s%d %s%s\n", indent, e.ID, mark, e.Label)
			labels(b, e.Children, indent+"  ")
		}
	}
}

// Eventually calls f until it returns nil or timeout passes, and returns
// its last error. Pauses between calls are short; timeouts in tests
// should be generous, as the machine may be slow.
func Eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
