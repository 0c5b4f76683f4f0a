//go:build !darwin || cgo

package tray

import (
	"fmt"
	"runtime"
	"time"

	"fyne.io/systray"
)

// menu owns the tray icon and its items. All fields are touched only by
// the loop goroutine (after onReady has built the items), because
// systray's MenuItem setters are not safe for concurrent use.
type menu struct {
	ctrl Controller
	opts Options

	title, problem *systray.MenuItem
	sysProxy       *systray.MenuItem
	mode           *systray.MenuItem
	modeItems      [len(modes)]*systray.MenuItem
	groups         []*groupMenu
	stats          []*systray.MenuItem
	upstreamsDown  *systray.MenuItem
	dashboard      *systray.MenuItem
	openConfig     *systray.MenuItem
	reload         *systray.MenuItem
	openLogs       *systray.MenuItem
	autostart      *systray.MenuItem
	quit           *systray.MenuItem

	// shown caches what each item and the icon show, so a refresh only
	// sends the changes over D-Bus (a panel redraws on every signal).
	shown     map[*systray.MenuItem]string
	checked   map[*systray.MenuItem]bool
	enabled   map[*systray.MenuItem]bool
	visible   map[*systray.MenuItem]bool
	state     State
	stateSet  bool
	tip       string
	actionErr error // last failed click, cleared by the next good one

	// clicks receives every item's clicks until stop is closed (see
	// forward).
	clicks chan *systray.MenuItem
	stop   chan struct{}
}

// groupMenu is one place for a select group: a submenu whose items are
// its members, made as needed and hidden when a reload leaves fewer.
type groupMenu struct {
	item    *systray.MenuItem
	name    string
	members []*systray.MenuItem
	names   []string // what each member item stands for now
}

func runSystray(ctrl Controller, opts Options) error {
	m := &menu{
		ctrl:    ctrl,
		opts:    opts,
		shown:   make(map[*systray.MenuItem]string),
		checked: make(map[*systray.MenuItem]bool),
		enabled: make(map[*systray.MenuItem]bool),
		visible: make(map[*systray.MenuItem]bool),
		clicks:  make(chan *systray.MenuItem, 16),
		stop:    make(chan struct{}),
	}
	// systray runs onReady on its own goroutine and serves the menu only
	// after it returns, so onReady builds the items and hands over to the
	// loop.
	m.presetLook()
	systray.Run(func() {
		m.build()
		go m.loop()
	}, nil)
	return nil
}

// build adds the items, top to bottom, as the issue lays them out.
func (m *menu) build() {
	if runtime.GOOS != "darwin" && !lookBeforeRun {
		// On Linux this is the item's accessible name; on macOS it would
		// be text beside the icon in the menu bar, which Sluice does not
		// want.
		systray.SetTitle(appName)
	}
	m.title = systray.AddMenuItem(appName, "")
	m.title.Disable()
	m.problem = systray.AddMenuItem("", "")
	m.problem.Disable()
	m.problem.Hide()
	m.shown[m.problem] = ""
	systray.AddSeparator()

	m.sysProxy = systray.AddMenuItemCheckbox("System proxy", "Point the OS proxy settings at Sluice", false)
	m.checked[m.sysProxy] = false
	m.enabled[m.sysProxy] = true
	m.mode = systray.AddMenuItem("Mode", "How requests are routed")
	for i, md := range modes {
		it := m.mode.AddSubMenuItemCheckbox(md.label, md.tip, false)
		m.checked[it], m.enabled[it] = false, true
		m.modeItems[i] = it
	}
	m.hide(m.mode)
	for range maxSelectGroups {
		it := systray.AddMenuItem("", "Pick the upstream this group uses")
		m.hide(it)
		m.groups = append(m.groups, &groupMenu{item: it})
	}
	systray.AddSeparator()

	for range statsLines(Stats{}) {
		it := systray.AddMenuItem("", "")
		it.Disable()
		m.stats = append(m.stats, it)
	}
	m.upstreamsDown = systray.AddMenuItem("", "")
	m.upstreamsDown.Disable()
	m.hide(m.upstreamsDown)
	systray.AddSeparator()

	m.dashboard = systray.AddMenuItem("Open dashboard", "Live charts and recent requests in the browser")
	m.hide(m.dashboard)
	m.openConfig = systray.AddMenuItem("Open config.toml", "Edit the config in the default editor")
	m.reload = systray.AddMenuItem("Reload config", "Apply config.toml now")
	m.openLogs = systray.AddMenuItem("Open logs folder", "")
	systray.AddSeparator()

	on, err := m.opts.Autostart.Enabled()
	if err != nil {
		m.fail(err)
	}
	m.autostart = systray.AddMenuItemCheckbox("Start at login", "Start Sluice when you log in", on)
	m.checked[m.autostart] = on
	systray.AddSeparator()

	m.quit = systray.AddMenuItem("Quit", "Restore the system proxy and quit Sluice")
	for _, it := range append([]*systray.MenuItem{m.sysProxy, m.dashboard, m.openConfig, m.reload, m.openLogs, m.autostart, m.quit}, m.modeItems[:]...) {
		m.forward(it)
	}
	m.refresh()
}

func (m *menu) hide(it *systray.MenuItem) {
	it.Hide()
	m.visible[it] = false
}

// menuOpenFor is how long the menu counts as open after the host says it
// opened (dbusmenu's "opened" event on Linux, the menu-will-open callback
// on macOS). Hosts also say when it closes, but fyne.io/systray passes on
// only the opening (TrayOpenedCh), so the fast refresh runs this long
// after each one: enough to read the stats, and soon over once the menu
// is closed.
const menuOpenFor = 20 * time.Second

// loop refreshes the menu on a timer, every opts.Interval while the menu
// is open and every opts.IdleInterval while it is closed, at once when it
// opens, and carries out clicks, until Quit or opts.Done.
func (m *menu) loop() {
	defer close(m.stop)
	clicks := m.clicks
	opened := forwardOpened(m.stop)
	next := time.NewTimer(m.opts.IdleInterval)
	defer next.Stop()
	var openUntil time.Time
	for {
		select {
		case <-next.C:
		case <-opened:
			openUntil = time.Now().Add(menuOpenFor)
		case it := <-clicks:
			if it == m.quit {
				m.quit.Disable()
				m.ctrl.Quit()
				systray.Quit()
				return
			}
			m.click(it)
		case <-m.opts.Done:
			systray.Quit()
			return
		}
		m.refresh()
		wait := m.opts.IdleInterval
		if time.Now().Before(openUntil) {
			wait = m.opts.Interval
		}
		next.Reset(wait)
	}
}

// forwardOpened passes on the menu's openings. systray drops one when
// nobody is receiving at that instant, as a refresh may be running; this
// goroutine always is.
func forwardOpened(stop <-chan struct{}) <-chan struct{} {
	opened := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-systray.TrayOpenedCh:
				select {
				case opened <- struct{}{}:
				default: // one waiting opening says the same
				}
			case <-stop:
				return
			}
		}
	}()
	return opened
}

// forward funnels an item's click channel into m.clicks. systray drops a
// click when nobody is receiving on the item's channel at that instant,
// and the loop may be busy refreshing or carrying out a click; a
// goroutine per item is always receiving.
func (m *menu) forward(it *systray.MenuItem) {
	go func() {
		for {
			select {
			case <-it.ClickedCh:
				select {
				case m.clicks <- it:
				case <-m.stop:
					return
				}
			case <-m.stop:
				return
			}
		}
	}()
}

// click carries out a click on an item other than Quit.
func (m *menu) click(it *systray.MenuItem) {
	switch it {
	case m.sysProxy:
		// The check mark shows the real state, so the click asks for the
		// opposite of what is true now, not of what is drawn.
		m.do("system proxy", m.ctrl.SetSystemProxy(!m.ctrl.SystemProxyPointsAtSluice()))
	case m.dashboard:
		if u := m.dashboardURL(); u != "" {
			m.do("open dashboard", m.opts.Open(u))
		}
	case m.openConfig:
		m.do("open config", m.opts.Open(m.ctrl.ConfigPath()))
	case m.reload:
		// A config error shows through ConfigError; a returned error is
		// the same one, so it is not kept as a click failure.
		if err := m.ctrl.Reload(); err != nil {
			m.opts.Logger.Warn("tray: reload config", "err", err)
		}
	case m.openLogs:
		m.do("open logs folder", m.opts.Open(m.ctrl.LogDir()))
	case m.autostart:
		m.toggleAutostart()
	default:
		m.clickRouting(it)
	}
}

// clickRouting carries out a click in the Mode menu or a group's menu.
func (m *menu) clickRouting(it *systray.MenuItem) {
	for i, mi := range m.modeItems {
		if mi == it {
			m.do("mode", m.ctrl.SetMode(modes[i].mode))
			return
		}
	}
	for _, g := range m.groups {
		for j, mi := range g.members {
			if mi == it && j < len(g.names) {
				m.do("group "+g.name, m.ctrl.Select(g.name, g.names[j]))
				return
			}
		}
	}
}

func (m *menu) toggleAutostart() {
	on, err := m.opts.Autostart.Enabled()
	if err == nil {
		if on {
			err = m.opts.Autostart.Disable()
		} else {
			err = m.opts.Autostart.Enable()
		}
	}
	m.do("start at login", err)
	if on, err := m.opts.Autostart.Enabled(); err == nil {
		m.setChecked(m.autostart, on)
	}
}

// do records the outcome of a click: a failure shows under the title
// until the next click succeeds.
func (m *menu) do(what string, err error) {
	if err != nil {
		m.fail(fmt.Errorf("%s: %w", what, err))
		return
	}
	m.actionErr = nil
}

func (m *menu) fail(err error) {
	m.opts.Logger.Warn("tray: "+err.Error(), "err", err)
	m.actionErr = err
}

// refresh re-reads the controller and pushes what changed.
func (m *menu) refresh() {
	addr, listenErr := m.ctrl.ListenAddr(), m.ctrl.ListenErr()
	configErr := m.ctrl.ConfigError()
	on := m.ctrl.SystemProxyPointsAtSluice()
	s := m.ctrl.Stats()

	m.setText(m.title, titleLine(addr, listenErr))
	if p := problemLine(configErr, m.actionErr, s.Alert); p != m.shown[m.problem] {
		if p == "" {
			m.problem.Hide()
		} else {
			m.problem.SetTitle(p)
			m.problem.Show()
		}
		m.shown[m.problem] = p
	}
	m.setChecked(m.sysProxy, on)
	// Switching the system proxy on while nothing listens would cut the
	// user off; switching it off must always stay possible.
	m.setEnabled(m.sysProxy, listenErr == nil || on)
	for i, line := range statsLines(s) {
		m.setText(m.stats[i], line)
	}
	down := upstreamsDownLine(s.UpstreamsDown)
	m.setText(m.upstreamsDown, down)
	m.setVisible(m.upstreamsDown, down != "")
	m.refreshRouting(m.ctrl.Routing())
	// Shown while there is a dashboard to open ([ui] enabled, the proxy
	// listening).
	m.setVisible(m.dashboard, m.dashboardURL() != "")

	st := stateOf(listenErr, configErr, on)
	m.setLook(st, tooltip(st, addr, listenErr, s.RequestsPerSec))
}

// setLook sets the icon for st and the tooltip tip, each only when it
// changed.
func (m *menu) setLook(st State, tip string) {
	if !m.stateSet || st != m.state {
		ic := iconFor(st)
		systray.SetTemplateIcon(ic.template, ic.regular)
		m.state, m.stateSet = st, true
	}
	if tip != m.tip {
		systray.SetTooltip(tip)
		m.tip = tip
	}
}

// presetLook sets the title, icon and tooltip before systray starts, where
// it keeps them for the item it then exports (lookBeforeRun). Set from
// onReady instead, they race that export, which runs on another
// goroutine, and one set in between is dropped: the panel would show no
// icon (fyne.io/systray v1.12 on Linux).
func (m *menu) presetLook() {
	if !lookBeforeRun {
		return
	}
	systray.SetTitle(appName)
	addr, listenErr := m.ctrl.ListenAddr(), m.ctrl.ListenErr()
	st := stateOf(listenErr, m.ctrl.ConfigError(), m.ctrl.SystemProxyPointsAtSluice())
	m.setLook(st, tooltip(st, addr, listenErr, m.ctrl.Stats().RequestsPerSec))
}

// refreshRouting shows the mode and each select group's choice.
func (m *menu) refreshRouting(r Routing) {
	m.setVisible(m.mode, r.Configured)
	for i, md := range modes {
		m.setChecked(m.modeItems[i], r.Mode == md.mode)
	}
	m.setEnabled(m.modeItems[1], r.HasGlobal)
	for i, g := range m.groups {
		if i >= len(r.Groups) {
			m.setVisible(g.item, false)
			continue
		}
		sg := r.Groups[i]
		g.name, g.names = sg.Name, sg.Members
		m.setText(g.item, groupLine(sg))
		m.setVisible(g.item, true)
		for len(g.members) < len(sg.Members) {
			it := g.item.AddSubMenuItemCheckbox("", "", false)
			m.checked[it], m.visible[it] = false, true
			m.forward(it)
			g.members = append(g.members, it)
		}
		for j, it := range g.members {
			if j >= len(sg.Members) {
				m.setVisible(it, false)
				continue
			}
			m.setText(it, sg.Members[j])
			m.setChecked(it, sg.Members[j] == sg.Selected)
			m.setVisible(it, true)
		}
	}
}

func (m *menu) setVisible(it *systray.MenuItem, on bool) {
	if m.visible[it] == on {
		return
	}
	if on {
		it.Show()
	} else {
		it.Hide()
	}
	m.visible[it] = on
}

// dashboardURL is the dashboard's address, "" when there is none.
func (m *menu) dashboardURL() string {
	if m.opts.Dashboard == nil {
		return ""
	}
	return m.opts.Dashboard()
}

func (m *menu) setText(it *systray.MenuItem, s string) {
	if m.shown[it] != s {
		it.SetTitle(s)
		m.shown[it] = s
	}
}

func (m *menu) setChecked(it *systray.MenuItem, on bool) {
	if m.checked[it] == on {
		return
	}
	if on {
		it.Check()
	} else {
		it.Uncheck()
	}
	m.checked[it] = on
}

func (m *menu) setEnabled(it *systray.MenuItem, on bool) {
	if m.enabled[it] == on {
		return
	}
	if on {
		it.Enable()
	} else {
		it.Disable()
	}
	m.enabled[it] = on
}
