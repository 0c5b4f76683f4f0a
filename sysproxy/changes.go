package sysproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"github.com/godbus/dbus/v5"
)

// Changes watches the GNOME proxy settings where gsettings keeps them:
// with dconf (GSettings' usual backend), by listening on the session bus
// for the signal the dconf service sends after each write; with
// GSETTINGS_BACKEND=keyfile, by watching the keyfile. The memory backend
// and others have nothing to watch.
func (g GNOME) Changes(ctx context.Context) (<-chan struct{}, error) {
	switch be := lookEnv(g.Env, "GSETTINGS_BACKEND"); be {
	case "", "dconf":
		return watchDconf(ctx, sessionBusAddr(g.Env))
	case "keyfile":
		// GLib's keyfile backend keeps every schema in one file there.
		dir, err := configHome(g.Env)
		if err != nil {
			return nil, err
		}
		return watchFile(ctx, filepath.Join(dir, "glib-2.0", "settings", "keyfile"))
	default:
		return nil, fmt.Errorf("GSETTINGS_BACKEND=%s tells no one about changes", be)
	}
}

// Changes watches kioslaverc, which kwriteconfig and the Plasma settings
// page rewrite on every change. (KIO's reparseSlaveConfiguration signal
// would not do: kwriteconfig does not send it.)
func (k KDE) Changes(ctx context.Context) (<-chan struct{}, error) {
	dir, err := configHome(k.Env)
	if err != nil {
		return nil, err
	}
	return watchFile(ctx, filepath.Join(dir, kdeFile))
}

// Changes watches the Internet Settings key; only the real registry
// (Windows, see notify_windows.go) can be watched.
func (w Windows) Changes(ctx context.Context) (<-chan struct{}, error) {
	if rw, ok := w.Reg.(registryWatcher); ok {
		return rw.changes(ctx)
	}
	return nil, errors.New("this registry tells no one about changes")
}

// registryWatcher is a Registry that can be watched for changes.
type registryWatcher interface {
	changes(ctx context.Context) (<-chan struct{}, error)
}

// dconf's writer service broadcasts ca.desrt.dconf.Writer.Notify on the
// session bus after each write, with the key written (or the common
// prefix of the keys) as the first argument.
const (
	dconfWriter = "ca.desrt.dconf.Writer"
	// dconfProxyDir holds org.gnome.system.proxy and its http, https,
	// ftp and socks children.
	dconfProxyDir = "/system/proxy/"
)

// watchDconf listens on the bus at addr for dconf writes under the proxy
// settings. The bus filters by path (arg0path), so other settings wake
// nothing.
func watchDconf(ctx context.Context, addr string) (<-chan struct{}, error) {
	if addr == "" {
		return nil, errors.New("no D-Bus session bus to hear dconf's change signal on")
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to the D-Bus session bus: %w", err)
	}
	err = conn.AddMatchSignal(dbus.WithMatchInterface(dconfWriter), dbus.WithMatchMember("Notify"), dbus.WithMatchArgPath(0, dconfProxyDir))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("listen for dconf's change signal: %w", err)
	}
	sigs := make(chan *dbus.Signal, 8)
	conn.Signal(sigs)
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		// Closing the connection closes sigs, which ends the loop; so
		// does the bus going away.
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		for range sigs {
			notify(out)
		}
	}()
	return out, nil
}

// watchFile watches path, a file its writers replace whole (write a
// temporary file, rename it over), so it watches the directory and picks
// out the file's name. It creates the directory if it is missing, as
// the settings tools do on their first write.
func watchFile(ctx context.Context, path string) (<-chan struct{}, error) {
	dir, name := filepath.Split(path)
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		stop := context.AfterFunc(ctx, func() { w.Close() })
		defer stop()
		for {
			select {
			case ev, ok := <-w.Events:
				switch {
				case !ok:
					return
				case filepath.Base(ev.Name) == name:
					notify(out)
				case filepath.Clean(ev.Name) == dir && ev.Has(fsnotify.Remove|fsnotify.Rename):
					// The directory went away, and the watch with it.
					w.Close()
					return
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflowed queue may have lost this file's event.
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					notify(out)
				}
			}
		}
	}()
	return out, nil
}

// configHome is where XDG programs keep their settings, as GLib and KDE's
// KConfig find it: $XDG_CONFIG_HOME, or ~/.config.
func configHome(env []string) (string, error) {
	if d := lookEnv(env, "XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home := lookEnv(env, "HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("find the settings directory: %w", err)
		}
	}
	return filepath.Join(home, ".config"), nil
}
