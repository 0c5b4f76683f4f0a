#!/usr/bin/env bash
# wine.sh is `make test-windows`: Sluice's Windows build and its tests,
# run for real under Wine.
#
#  1. A throwaway Wine prefix (WINEPREFIX in a temp dir, wineboot -i) with
#     the bcryptprimitives.dll Go needs and Wine 8 lacks
#     (bcryptprimitives.c says why).
#  2. Go's standard library patched where Wine 8 answers differently from
#     Windows (gostd.sh), for everything built here.
#  3. sluice.exe as `make windows` builds it: GUI subsystem, icon,
#     manifest.
#  4. Every package's tests built for Windows and run under Wine (go test
#     -exec exec.sh). SLUICE_EXE names sluice.exe for the tests that run
#     it. Skipped tests are listed with their reasons (scripts/testsummary,
#     as in make test); a test skips under Wine only for a reason of
#     Wine's own, which it names.
#  5. The tray app in Wine's desktop on a virtual X display, clicked
#     through with xdotool (tray.sh).
#
# No -race here: the race detector needs cgo, and a cgo build for Windows
# would need a Windows C toolchain and C runtime to test against. Linux
# runs every test with -race (make test).
#
# Needs (Debian): wine64 gcc-mingw-w64-x86-64 xvfb xdotool imagemagick
# curl (all in scripts/test-packages.txt; make deps installs them).
#
# Environment: GO (default go); WINE and WINESERVER when not on PATH or in
# /usr/lib/wine; PKGS, the packages to test (default ./...; empty skips
# step 4); TRAY=0 skips step 5; TRAY_SHOT=FILE saves a screenshot of the open tray menu there
# (make tray-windows-shot writes docs/tray-windows.png). The full test
# output is kept in bin/test-windows.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cd "$repo"
GO=${GO:-go}
PKGS=${PKGS-./...}
TRAY=${TRAY:-1}

say() { echo "test-windows: $*"; }
die() {
	echo "test-windows: $*" >&2
	exit 1
}

# The first of the names that exists: a command on PATH or a path.
first() {
	local c
	for c in "$@"; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return
		fi
	done
}
WINE=${WINE:-$(first wine64 wine /usr/lib/wine/wine64)}
WINESERVER=${WINESERVER:-$(first wineserver /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver)}
[ -n "$WINE" ] && [ -n "$WINESERVER" ] || die "Wine not found (Debian: apt-get install wine64, or make deps)"
command -v x86_64-w64-mingw32-gcc >/dev/null || die "x86_64-w64-mingw32-gcc not found (Debian: apt-get install gcc-mingw-w64-x86-64)"
export WINE WINESERVER

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-wine.XXXXXX")
cleanup() {
	# Ends every process of this prefix, and nothing else.
	"$WINESERVER" -k 2>/dev/null || true
	"$WINESERVER" -w 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Nothing here needs a display until the tray step, which makes its own;
# without one, Wine opens no windows on the developer's screen.
unset DISPLAY WAYLAND_DISPLAY
export WINEPREFIX=$work/prefix WINEDEBUG=-all
# No Mono or Gecko: nothing here uses .NET or MSHTML, and wineboot would
# otherwise offer to download them.
export WINEDLLOVERRIDES="mscoree,mshtml="
# The proxy settings of the machine running the tests stay out of them.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY

start=$SECONDS
step() { say "$1 ($((SECONDS - start)) s)"; }

step "making a Wine prefix in $WINEPREFIX"
# One server for the whole run, rather than one per test binary. It is
# started first so that the Windows services wineboot starts (services.exe
# and the drivers) stay up under it: started later by a test binary, they
# would hold that binary's output open, and go test would wait for it.
mkdir -p "$WINEPREFIX"
"$WINESERVER" -p
"$WINE" wineboot -i >"$work/wineboot.log" 2>&1 || {
	cat "$work/wineboot.log" >&2
	die "wineboot -i failed"
}

step "building the bcryptprimitives.dll shim"
x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Werror -o "$work/bcryptprimitives.dll" \
	"$here/bcryptprimitives.c" "$here/bcryptprimitives.def"
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

step "patching Go's standard library for Wine"
GO=$GO sh "$here/gostd.sh" "$work/gostd"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-overlay=$work/gostd/overlay.json"

step "building sluice.exe (make windows)"
${MAKE:-make} --no-print-directory -s windows WIN_EXE="$work/sluice.exe"
# Wine's drive Z: is the Unix root.
export SLUICE_EXE="Z:$(printf %s "$work/sluice.exe" | tr / '\\')"

rc=0
if [ -n "$PKGS" ]; then
	step "running the tests of $PKGS under Wine"
	mkdir -p bin
	log=bin/test-windows.json
	# The output of make test: failures, a line per package, then every
	# skipped test and why. GOOS only for go test: testsummary runs here.
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 "$GO" test -json -count=1 -timeout 15m \
		-exec "$here/exec.sh" $PKGS | tee "$log" | "$GO" run ./scripts/testsummary || rc=$?
	[ "$rc" = 0 ] || say "go test failed (exit $rc); the whole output is in $log"
fi

if [ "$TRAY" = 1 ]; then
	step "the tray app in Wine's desktop"
	"$here/tray.sh" "$work/sluice.exe" "$work/tray" || rc=1
fi
step "done, exit $rc"
exit "$rc"
