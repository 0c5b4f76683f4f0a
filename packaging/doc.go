// Package packaging holds no Go code for Sluice itself: it is the home of
// the files that turn the binary into installable packages, and of the
// tests that check them.
//
//   - linux/: desktop entry, autostart entry, systemd user unit, man page,
//     Debian copyright and the nfpm config for .deb and .rpm;
//     linux/test-deb.sh installs the .deb and exercises it (run as root in
//     CI).
//   - darwin/: Info.plist template, sluice.icns and mkapp.sh, which
//     assembles Sluice.app.
//   - windows/: the application manifest, go-winres resource config and
//     sign.sh (osslsigncode); wine/ and wine.mk run the Windows build and
//     its tests under Wine (make test-windows).
//   - version.sh maps `git describe` output to each format's version syntax.
//   - packaging.mk holds the make targets (package, deb, rpm, windows, app,
//     sign); the top Makefile includes it.
//
// The icons come from assets/ (drawn by assets/internal/gen). Packages must
// never contain maintainer scripts that touch a user's home: uninstalling
// leaves config, logs and state alone. Nothing here is imported by the
// app.
package packaging
