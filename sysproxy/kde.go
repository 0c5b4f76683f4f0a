package sysproxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"
)

// KDE Plasma keeps the proxy in kioslaverc, group [Proxy Settings], which
// KIO (Dolphin, Konqueror, KDE's own downloads) and Chromium-based
// browsers on Plasma read. Sluice touches these keys only.
const (
	kdeFile  = "kioslaverc"
	kdeGroup = "Proxy Settings"

	kdeType     = "ProxyType"           // 0 none, 1 manual, 2 PAC, 3 WPAD, 4 environment
	kdeHTTP     = "httpProxy"           // "http://host port" as the KCM writes it
	kdeHTTPS    = "httpsProxy"          // same form
	kdeNoProxy  = "NoProxyFor"          // comma-separated
	kdeReversed = "ReversedException"   // true turns NoProxyFor into the only hosts proxied
	kdeScript   = "Proxy Config Script" // the PAC URL, used with ProxyType 2
)

// kdeKeys are written in this order, with ProxyType moved first or last by
// Write (see GNOME.Write for why).
var kdeKeys = []string{kdeReversed, kdeNoProxy, kdeHTTP, kdeHTTPS, kdeScript, kdeType}

// kdeAbsent is the default kreadconfig prints for a key that is not in
// the file, which tells "absent" from "empty".
const kdeAbsent = "\x01sluice-absent\x01"

// KDE is the kwriteconfig backend for Plasma 5 (Version 5) and Plasma 6
// (Version 6).
type KDE struct {
	// Version picks kreadconfig5/kwriteconfig5 (5) or the 6 tools (6).
	// Zero means 5.
	Version int
	// Run runs the tools; its environment decides which XDG_CONFIG_HOME
	// holds kioslaverc.
	Run Runner
	// Env is the environment the D-Bus session bus address is looked up
	// in after the process's own (see ExecRunner.Env); nil uses the
	// process's.
	Env []string
}

func (k KDE) version() int {
	if k.Version == 0 {
		return 5
	}
	return k.Version
}

// Name is "kde5" or "kde6".
func (k KDE) Name() string { return "kde" + strconv.Itoa(k.version()) }

// Read gets each key with kreadconfig; a key that is not in the file is
// Absent.
func (k KDE) Read(ctx context.Context) (Settings, error) {
	tool := "kreadconfig" + strconv.Itoa(k.version())
	s := Settings{}
	for _, key := range kdeKeys {
		out, err := k.Run.Run(ctx, tool, "--file", kdeFile, "--group", kdeGroup, "--key", key, "--default", kdeAbsent)
		if err != nil {
			return nil, fmt.Errorf("read KDE proxy setting: %w", err)
		}
		v := strings.TrimSuffix(string(out), "\n")
		if v == kdeAbsent {
			s[key] = Value{Absent: true}
		} else {
			s[key] = Value{V: v}
		}
	}
	return s, nil
}

// Want is manual mode with Sluice as the HTTP and HTTPS proxy, or, for a
// PAC target, ProxyType 2 with its URL.
func (KDE) Want(_ Settings, t Target) Settings {
	if t.PAC != "" {
		return Settings{
			kdeType:   {V: "2"},
			kdeScript: {V: t.PAC},
		}
	}
	url := "http://" + t.Host + " " + strconv.Itoa(t.Port)
	if strings.Contains(t.Host, ":") {
		url = "http://[" + t.Host + "] " + strconv.Itoa(t.Port)
	}
	return Settings{
		kdeType:     {V: "1"},
		kdeHTTP:     {V: url},
		kdeHTTPS:    {V: url},
		kdeNoProxy:  {V: kdeBypass(t.Bypass)},
		kdeReversed: {V: "false"},
	}
}

// Write sets or deletes each key with kwriteconfig, then asks running KIO
// programs to re-read kioslaverc.
func (k KDE) Write(ctx context.Context, s Settings) error {
	tool := "kwriteconfig" + strconv.Itoa(k.version())
	order := kdeKeys // ProxyType is last in kdeKeys
	if v, ok := s[kdeType]; ok && (v.Absent || v.V != "1" && v.V != "2") {
		order = append([]string{kdeType}, kdeKeys[:len(kdeKeys)-1]...)
	}
	for _, key := range order {
		v, ok := s[key]
		if !ok {
			continue
		}
		args := []string{"--file", kdeFile, "--group", kdeGroup, "--key", key}
		if v.Absent {
			args = append(args, "--delete", "")
		} else {
			args = append(args, v.V)
		}
		if _, err := k.Run.Run(ctx, tool, args...); err != nil {
			return fmt.Errorf("write KDE proxy setting: %w", err)
		}
	}
	// Without the signal KIO programs see the change when they restart;
	// the setting itself is written, so this is only a warning.
	if err := k.notify(); err != nil {
		return warning{err}
	}
	return nil
}

// PointsAt is true in manual mode with both HTTP and HTTPS at t, or for a
// PAC target with ProxyType 2 and its URL.
func (KDE) PointsAt(cur Settings, t Target) bool {
	if t.PAC != "" {
		return !cur[kdeType].Absent && cur[kdeType].V == "2" && !cur[kdeScript].Absent && cur[kdeScript].V == t.PAC
	}
	if cur[kdeType].V != "1" || cur[kdeType].Absent {
		return false
	}
	for _, key := range []string{kdeHTTP, kdeHTTPS} {
		h, p, ok := kdeParseProxy(cur[key].V)
		if !ok || h != t.Host || p != t.Port {
			return false
		}
	}
	return true
}

// kdeParseProxy reads "http://host port" (the KCM's form) or
// "http://host:port".
func kdeParseProxy(v string) (string, int, bool) {
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	v = strings.TrimSuffix(v, "/")
	var host, port string
	if h, p, ok := strings.Cut(v, " "); ok {
		host, port = strings.Trim(h, "[]"), p
	} else {
		var err error
		if host, port, err = net.SplitHostPort(v); err != nil {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(port))
	return host, n, err == nil
}

// sessionBus finds the D-Bus session bus address without ever starting a
// bus (godbus would run dbus-launch when none is set).
func (k KDE) sessionBus() string { return sessionBusAddr(k.Env) }

// sessionBusAddr is the D-Bus session bus address in env (see lookEnv),
// or "" when there is none.
func sessionBusAddr(env []string) string {
	if a := lookEnv(env, "DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a
	}
	if d := lookEnv(env, "XDG_RUNTIME_DIR"); d != "" {
		if p := filepath.Join(d, "bus"); fileExists(p) {
			return "unix:path=" + p
		}
	}
	return ""
}

// notify sends org.kde.KIO.Scheduler.reparseSlaveConfiguration(""), the
// signal the Plasma proxy settings page sends after saving (the name is
// unchanged in Plasma 6). With no session bus there is no one to tell:
// it does nothing, and Note says so in status.
func (k KDE) notify() error {
	addr := k.sessionBus()
	if addr == "" {
		return nil
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return fmt.Errorf("connect to the D-Bus session bus: %w", err)
	}
	defer conn.Close()
	if err := conn.Emit("/KIO/Scheduler", "org.kde.KIO.Scheduler.reparseSlaveConfiguration", ""); err != nil {
		return fmt.Errorf("send KIO reparseSlaveConfiguration: %w", err)
	}
	return nil
}

// Note says when running programs cannot be told about a change.
func (k KDE) Note() string {
	if k.sessionBus() == "" {
		return "no D-Bus session bus: running KDE programs see changes when they restart"
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
