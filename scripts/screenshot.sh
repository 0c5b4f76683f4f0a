#!/usr/bin/env bash
# screenshot.sh takes docs/tray.png: Sluice's real tray icon with its menu
# open, in a real panel (Xfce's xfce4-panel, whose systray plugin hosts
# StatusNotifierItems), on a virtual X display (Xvfb).
#
# Everything runs in a throwaway session: its own X display, D-Bus session
# bus, XDG dirs and GSettings keyfile, so the user's desktop and settings
# are never touched. Sluice gets a little traffic and the system proxy
# switched on, so the menu shows live numbers and the "on" icon.
#
# Needs (Debian): xvfb xfce4-panel dbus xdotool x11-utils imagemagick
#   libglib2.0-bin gsettings-desktop-schemas curl python3 (for the demo
#   traffic origin), and Go to build sluice (or SLUICE_BIN=path).
#
# Usage: scripts/screenshot.sh [OUT.png]   (default: docs/tray.png)
#        ROUTING=1 scripts/screenshot.sh docs/tray-routing.png
#   ROUTING=1 gives Sluice a routing config (docs/routing.md) and opens
#   the tray's Mode menu, on a larger screen so the submenu fits.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/docs/tray.png}
routing=${ROUTING:-}
# The screen, and the part of it kept: the panel's end and the menu.
width=640 height=420 crop=440x420+200+0
if [ -n "$routing" ]; then
	width=800 height=560 crop=560x480+240+0
fi
work=$(mktemp -d)
pids=()

cleanup() {
	# Stop only what this script started, newest first.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

die() {
	echo "screenshot: $*" >&2
	for f in "$work"/*.log; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

for tool in Xvfb xfce4-panel dbus-daemon dbus-send xdotool xwininfo import convert gsettings curl; do
	command -v "$tool" >/dev/null || die "$tool not found (see the package list at the top of this script)"
done

# waitfor SECONDS WHAT CMD...: poll CMD until it succeeds.
waitfor() {
	local secs=$1 what=$2
	shift 2
	for ((t = 0; t < secs * 10; t++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "timed out waiting for $what"
}

# A session of our own. XDG_CONFIG_HOME also holds the panel layout and
# the GSettings keyfile. It must be set before dbus-daemon starts, since
# the services it activates (xfconfd) inherit its environment.
export HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_STATE_HOME=$work/state \
	XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data XDG_RUNTIME_DIR=$work/run \
	XDG_CURRENT_DESKTOP=XFCE GSETTINGS_BACKEND=keyfile NO_AT_BRIDGE=1
unset SESSION_MANAGER DBUS_SESSION_BUS_ADDRESS http_proxy https_proxy HTTP_PROXY HTTPS_PROXY \
	PROXY_LISTEN PROXY_POOL_SIZE PROXY_IDLE_TIMEOUT PROXY_MAX_CONCURRENT PROXY_CONNECT_TIMEOUT
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

# sluice: built from this checkout unless SLUICE_BIN names one.
sluice=${SLUICE_BIN:-$work/sluice}
if [ -z "${SLUICE_BIN:-}" ]; then
	(cd "$repo" && go build -o "$sluice" ./cmd/sluice) || die "go build ./cmd/sluice failed"
fi

# X display: the first free number from 90.
disp=90
while [ -e "/tmp/.X11-unix/X$disp" ] || [ -e "/tmp/.X$disp-lock" ]; do disp=$((disp + 1)); done
Xvfb ":$disp" -screen 0 "${width}x${height}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=":$disp"
waitfor 20 "Xvfb" xwininfo -root

# A desktop-ish background, so the panel and menu stand out.
convert -size "${width}x${height}" gradient:'#5e81ac-#2e3440' "$work/bg.png"
display -window root "$work/bg.png" >/dev/null 2>&1 || true

dbus-daemon --session --nofork --address="unix:path=$work/bus" >"$work/dbus.log" 2>&1 &
pids+=($!)
export DBUS_SESSION_BUS_ADDRESS="unix:path=$work/bus"
waitfor 20 "dbus-daemon" test -S "$work/bus"

# One panel across the top: a spacer, the tray, a clock. The systray
# plugin is the StatusNotifierWatcher and host.
mkdir -p "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml"
cat >"$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="30"/>
      <property name="icon-size" type="uint" value="22"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
        <value type="int" value="3"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
    <property name="plugin-3" type="string" value="clock">
      <property name="digital-format" type="string" value="%H:%M"/>
    </property>
  </property>
</channel>
EOF
xfce4-panel --disable-wm-check >"$work/panel.log" 2>&1 &
pids+=($!)

hasname() {
	dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.NameHasOwner "string:$1" | grep -q 'boolean true'
}
waitfor 60 "the panel's StatusNotifierWatcher" hasname org.kde.StatusNotifierWatcher

# Sluice on 127.0.0.1:8877 when free, as a user would see it.
port=8877
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
cfg=$XDG_CONFIG_HOME/sluice/config.toml
mkdir -p "$(dirname "$cfg")"
printf '[proxy]\nlisten = "127.0.0.1:%s"\n' "$port" >"$cfg"
"$sluice" >"$work/sluice.log" 2>&1 &
sluice_pid=$!
pids+=($sluice_pid)
waitfor 60 "sluice's tray item" hasname "org.kde.StatusNotifierItem-$sluice_pid-1"

# Traffic while the menu is open, so the stats lines have live numbers:
# a rate-limited download and a stream of small requests to a local
# HTTP/1.1 origin (kept-alive upstream connections show as reuse).
if command -v python3 >/dev/null; then
	mkdir -p "$work/www"
	head -c 300000 /dev/urandom >"$work/www/file.bin"
	echo hello >"$work/www/index.html"
	(cd "$work/www" && exec python3 -c '
import http.server as h
h.test(HandlerClass=h.SimpleHTTPRequestHandler, protocol="HTTP/1.1", port=0, bind="127.0.0.1")
') >"$work/origin.log" 2>&1 &
	pids+=($!)
	waitfor 20 "the demo origin" grep -q 'Serving HTTP' "$work/origin.log"
	origin=http://127.0.0.1:$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/origin.log" | head -n 1)
	# Throughput counts finished requests, so many middling downloads.
	(while :; do
		curl -sS -o /dev/null --limit-rate 3000k -x "http://127.0.0.1:$port" "$origin/file.bin" || true
	done) >/dev/null 2>&1 &
	pids+=($!)
	(while :; do
		curl -sS -o /dev/null -x "http://127.0.0.1:$port" "$origin/" "$origin/" "$origin/" "$origin/" || true
		sleep 0.05
	done) >/dev/null 2>&1 &
	pids+=($!)
fi

# Routing: an upstream that is up (the demo origin answers the health
# check as a parent would), one that is down, a select group, a rule.
# The config reloads on save.
if [ -n "$routing" ]; then
	[ -n "${origin:-}" ] || die "ROUTING=1 needs python3 for the demo origin"
	cat >>"$cfg" <<EOF
[route]
default = "work"
global = "work"

[[upstream]]
name = "corp"
url = "$origin"

[[upstream]]
name = "home"
url = "socks5h://127.0.0.1:9"

[[group]]
name = "work"
strategy = "select"
members = ["corp", "home"]
check_url = "http://connectivity.example/generate_204"

[[rule]]
match = ["domain-suffix:corp.example", "cidr:127.0.0.0/8"]
action = "direct"
EOF
fi

# System proxy on (in the throwaway keyfile), for the "on" icon.
"$sluice" sysproxy on --config "$cfg" >>"$work/sluice.log" 2>&1 || die "sluice sysproxy on failed"
sleep 4

# Click the tray icon. The systray plugin runs in its own process, so its
# area is the panel's one embedded child window; the icon sits at its
# centre.
panel=$(xdotool search --classname xfce4-panel | while read -r w; do
	g=$(xwininfo -id "$w" | awk '/Width:/{w=$2} /Height:/{h=$2} END{print w"x"h}')
	[ "$g" != "${g#"${width}x"}" ] && echo "$w"
done | head -n 1)
[ -n "$panel" ] || die "panel window not found"
# xwininfo -tree lines end in "WxH+relX+relY  +absX+absY".
read -r x y w h < <(xwininfo -tree -id "$panel" | awk '/wrapper-2.0/ && !done {
	n = split($0, a, " ")
	for (i = 1; i < n; i++) if (a[i] ~ /^[0-9]+x[0-9]+[-+]/) { split(a[i], g, /[x+-]/); split(a[i + 1], abs, /[+-]/) }
	print abs[2], abs[3], g[1], g[2]; done = 1 }')
[ -n "${w:-}" ] || die "tray area not found in the panel"
xdotool mousemove $((x + w / 2)) $((y + h / 2)) click 1
# Off the icon (no tooltip over the menu) and off the menu (no highlight).
xdotool mousemove 0 $((height - 1))
sleep 2
if [ -n "$routing" ]; then
	# Down past the title to Mode, and open it.
	xdotool key Down Down Right
	sleep 1
fi

import -window root "$work/shot.png"
# Keep the top right: the panel's end and the menu under the icon.
convert "$work/shot.png" -crop "$crop" +repage "$out"
echo "wrote $out"
