#!/bin/sh
# test-deb.sh: acceptance test 1 of the packaging issue, run as root in CI.
#
# Builds the .deb, installs it with dpkg -i, and from the installed path
# runs `sluice version` and `sluice run --headless` with a request through
# it to a local origin; validates the installed desktop file and systemd
# unit; removes and purges the package; checks that the config file and
# logs created in between are untouched.
#
# It changes the machine (installs and removes the sluice package), so it
# refuses to run if sluice is already installed. Everything listens on
# 127.0.0.1 only. Needs: dpkg, make, go, curl, python3,
# desktop-file-validate (Debian desktop-file-utils).
set -eu

cd "$(dirname "$0")/../.."

fail() {
	echo "test-deb: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root: it installs and removes the sluice package"
for tool in dpkg make go curl python3 desktop-file-validate; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (desktop-file-validate: apt-get install desktop-file-utils)"
done
if dpkg-query -W -f '${Status}' sluice 2>/dev/null | grep -q ' installed$'; then
	fail "a sluice package is already installed; remove it first (dpkg -r sluice) so this test does not clobber it"
fi

tmp=$(mktemp -d)
proxy_pid=""
origin_pid=""
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
	[ -n "$origin_pid" ] && kill "$origin_pid" 2>/dev/null || true
	# Leave the machine as we found it even when a check failed.
	if dpkg-query -W -f '${Status}' sluice 2>/dev/null | grep -q ' installed$'; then
		dpkg --purge sluice >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for URL [PROXY]: poll for up to 30 s.
wait_for() {
	i=0
	while [ $i -lt 60 ]; do
		if curl -fsS -o /dev/null --max-time 2 ${2:+-x "$2"} "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)

echo "test-deb: building the .deb (version $version)"
make --no-print-directory -f packaging/packaging.mk deb VERSION="$version" DIST="$tmp/dist" >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log" >&2; fail "make deb failed"; }
deb=$(ls "$tmp"/dist/sluice_*.deb)

echo "test-deb: dpkg -i $(basename "$deb")"
dpkg -i "$deb"

echo "test-deb: installed files"
[ -x /usr/bin/sluice ] || fail "/usr/bin/sluice missing or not executable"
for f in /usr/share/applications/sluice.desktop /usr/share/icons/hicolor/48x48/apps/sluice.png \
	/usr/share/icons/hicolor/512x512/apps/sluice.png /usr/share/man/man1/sluice.1.gz \
	/usr/share/doc/sluice/copyright /usr/lib/systemd/user/sluice.service; do
	[ -f "$f" ] || fail "$f missing after install"
done
desktop-file-validate /usr/share/applications/sluice.desktop || fail "desktop-file-validate rejected the installed desktop file"
if command -v systemd-analyze >/dev/null 2>&1; then
	# Verified as a plain unit file: --user needs a running user manager.
	systemd-analyze verify /usr/lib/systemd/user/sluice.service || fail "systemd-analyze rejected sluice.service"
fi

echo "test-deb: sluice version"
out=$(/usr/bin/sluice version)
echo "  $out"
case $out in
*"$version"*) ;;
*) fail "sluice version printed '$out', want it to contain $version (from -ldflags)" ;;
esac

# A private home, so the test neither reads nor writes root's real config.
export HOME="$tmp/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_STATE_HOME="$HOME/.local/state"
mkdir -p "$HOME"
config="$XDG_CONFIG_HOME/sluice/config.toml"

echo "test-deb: origin and proxy on 127.0.0.1"
mkdir -p "$tmp/www"
token="sluice-deb-test-$$-$(date +%s)"
printf '%s\n' "$token" >"$tmp/www/hello.txt"
origin_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$origin_port" >"$tmp/origin.log" 2>&1 &
origin_pid=$!
wait_for "http://127.0.0.1:$origin_port/hello.txt" || fail "the test origin did not start"

proxy_port=$(free_port)
/usr/bin/sluice run --headless --config "$config" --listen "127.0.0.1:$proxy_port" >"$tmp/sluice.log" 2>&1 &
proxy_pid=$!
wait_for "http://127.0.0.1:$proxy_port/healthz" ||
	{ cat "$tmp/sluice.log" >&2; fail "sluice run --headless did not answer /healthz on 127.0.0.1:$proxy_port"; }

body=$(curl -fsS --max-time 10 -x "http://127.0.0.1:$proxy_port" "http://127.0.0.1:$origin_port/hello.txt") ||
	{ cat "$tmp/sluice.log" >&2; fail "request through the proxy failed"; }
[ "$body" = "$token" ] || fail "proxied body '$body', want '$token'"
echo "  curl -x 127.0.0.1:$proxy_port http://127.0.0.1:$origin_port/hello.txt: ok"

kill -TERM "$proxy_pid"
rc=0
wait "$proxy_pid" || rc=$?
proxy_pid=""
[ "$rc" = 0 ] || { cat "$tmp/sluice.log" >&2; fail "sluice exited $rc after SIGTERM, want 0"; }

[ -f "$config" ] || fail "sluice run did not create $config"
# The user edits the config: removal must keep the edit.
printf '\n# edited by test-deb.sh\n' >>"$config"
config_sum=$(sha256sum "$config")
home_files=$(cd "$HOME" && find . | sort)

echo "test-deb: dpkg -r sluice, then dpkg --purge sluice"
dpkg -r sluice
[ ! -e /usr/bin/sluice ] || fail "/usr/bin/sluice still there after dpkg -r"
[ ! -e /usr/share/applications/sluice.desktop ] || fail "desktop file still there after dpkg -r"
dpkg --purge sluice >/dev/null 2>&1 || fail "dpkg --purge sluice failed"

[ -f "$config" ] || fail "$config is gone after removing the package"
[ "$(sha256sum "$config")" = "$config_sum" ] || fail "$config changed when the package was removed"
[ "$(cd "$HOME" && find . | sort)" = "$home_files" ] || fail "files in the home directory changed when the package was removed"

echo "test-deb: PASS"
