// Package sysproxy switches the operating system's proxy setting to Sluice
// and back, exactly as it was, even when Sluice crashes.
//
// It owns: reading and writing the OS proxy settings, pointed at a host
// and port or at a PAC URL (Target.PAC): GNOME through gsettings, KDE
// Plasma through kwriteconfig5/6 and a KIO D-Bus signal, macOS through
// networksetup, Windows through the Internet Settings registry key and
// WinINet; the snapshot of what was there before, the
// state file that lets another process restore that snapshot, the
// watchdog loop that does so when the owning process dies, and following
// the settings as any program changes them (Follow: dconf's D-Bus signal,
// inotify on the GNOME keyfile and on kioslaverc, RegNotifyChangeKeyValue
// on Windows; polling only where none of these works, as on macOS).
//
// It must not touch: any setting it did not snapshot first, any other
// user's settings, or config.toml (the caller passes host, port and bypass
// list). It never imports app, and it never runs helper binaries of its
// own: only the OS's own tools.
//
// The platform calls go through small interfaces (Runner for commands,
// Registry for the Windows registry) so the logic of every backend builds
// and is tested on every OS.
package sysproxy
