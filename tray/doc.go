// Package tray is Sluice's system-tray user interface: the icon with its
// tooltip, the menu (title, the system proxy checkbox, live stats, config
// and log shortcuts, start at login, quit) and the start-at-login switch
// for each OS.
//
// tray knows nothing about how the proxy works. Its caller (app) passes a
// Controller that reports facts (listen address, stats, system proxy
// state, config error) and carries out the user's clicks; tray decides how
// they look. It must not import app, proxy or sysproxy.
//
// On Linux the tray speaks StatusNotifierItem and com.canonical.dbusmenu
// over the D-Bus session bus (through fyne.io/systray, without cgo), so it
// needs a tray host such as a panel's StatusNotifier plugin; CheckHost
// tells the caller whether one is there, so that it can run headless
// instead. fyne.io/systray keeps its state in package variables, so Run
// may be called only once per process.
package tray
