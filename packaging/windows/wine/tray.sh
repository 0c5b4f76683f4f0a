#!/usr/bin/env bash
# tray.sh SLUICE_EXE WORKDIR: the Windows tray app end to end, in Wine's
# desktop on a virtual X display, clicked like a user would with xdotool.
# wine.sh runs it with the Wine prefix of its run (WINE, WINESERVER,
# WINEPREFIX in the environment).
#
# With the user's own proxy in the registry (corp.example:3128), it starts
# sluice.exe with no arguments, as a double click or a login would: the
# config comes from %AppData%, the logs go to %LocalAppData%, and a second
# start finds it through the instance lock and leaves. Then it
# right-clicks the tray icon and, in the menu that opens, clicks System
# proxy (the registry must point at Sluice), Start at login twice (the
# HKCU Run value must come and go), downloads a file through the proxy
# from an origin on this machine (it must arrive whole), and clicks Quit
# (sluice.exe must exit and the registry must hold exactly what it held
# before).
#
# The menu is found by what the right click changed on the screen, and
# its items by their place in it: the title and System proxy at its top,
# Start at login and Quit at its bottom. On failure the last screenshot
# is kept as bin/tray-windows-fail.png.
#
# TRAY_SHOT=FILE also saves the open menu, with live numbers, as FILE.
set -euo pipefail

exe=${1:?usage: tray.sh SLUICE_EXE WORKDIR}
work=${2:?usage: tray.sh SLUICE_EXE WORKDIR}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
: "${WINE:?}" "${WINESERVER:?}" "${WINEPREFIX:?}"
mkdir -p "$work"
pids=()
shot=$work/shot.png

cleanup() {
	"$WINESERVER" -k 2>/dev/null || true
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT

die() {
	echo "tray: $*" >&2
	if [ -s "$shot" ]; then
		mkdir -p "$repo/bin"
		cp "$shot" "$repo/bin/tray-windows-fail.png"
		echo "tray: the last screenshot is bin/tray-windows-fail.png" >&2
	fi
	[ -s "$work/sluice.log" ] && { echo "--- sluice.exe:" >&2; tail -n 20 "$work/sluice.log" >&2; }
	exit 1
}

for tool in Xvfb xdotool import convert curl python3; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/test-packages.txt)"
done

# waitfor SECONDS WHAT CMD...: poll CMD until it succeeds.
waitfor() {
	local secs=$1 what=$2
	shift 2
	for ((t = 0; t < secs * 10; t++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "timed out after ${secs}s waiting for $what"
}

wine() { "$WINE" "$@" 2>/dev/null | tr -d '\r'; }
inet='HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings'
run='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
# The three values Sluice switches, one "name type data" line each.
proxyvals() { wine reg query "$inet" | grep -E '^ +Proxy(Enable|Server|Override) ' | sort; }

# A wineserver started without DISPLAY (by the tests before) would keep
# the desktop off the virtual screen.
"$WINESERVER" -k 2>/dev/null || true
"$WINESERVER" -w 2>/dev/null || true

# The virtual screen is the desktop's size: the first free display from 90.
W=640 H=400
disp=90
while [ -e "/tmp/.X11-unix/X$disp" ] || [ -e "/tmp/.X$disp-lock" ]; do disp=$((disp + 1)); done
Xvfb ":$disp" -screen 0 "${W}x${H}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=":$disp"
waitfor 20 "Xvfb" xdotool getdisplaygeometry

# The user's own proxy, which Quit must put back exactly.
wine reg add "$inet" /v ProxyEnable /t REG_DWORD /d 1 /f >/dev/null
wine reg add "$inet" /v ProxyServer /t REG_SZ /d corp.example:3128 /f >/dev/null
wine reg add "$inet" /v ProxyOverride /t REG_SZ /d '*.corp.example;<local>' /f >/dev/null
wine reg delete "$run" /v Sluice /f >/dev/null || true
prior=$(proxyvals)
grep -q 'ProxyServer.*corp.example:3128' <<<"$prior" || die "could not set the prior proxy: $prior"

# Sluice's config in %AppData%, on a free port.
appdata=$(wine winepath -u "$(wine cmd /c echo %AppData%)")
localappdata=$(wine winepath -u "$(wine cmd /c echo %LocalAppData%)")
port=18877
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
mkdir -p "$appdata/sluice"
printf '[proxy]\nlisten = "127.0.0.1:%s"\n' "$port" >"$appdata/sluice/config.toml"
proxy=http://127.0.0.1:$port

# Not through `wine start`: explorer's own desktop, with its taskbar and
# notification area.
winexe=$(wine winepath -w "$exe")
"$WINE" explorer /desktop=sluice,${W}x$H "$winexe" >"$work/sluice.log" 2>&1 &
pids+=($!)
healthy() { [ "$(curl -s --noproxy '*' "$proxy/healthz")" = ok ]; }
waitfor 60 "sluice.exe to answer on $proxy/healthz" healthy
[ -s "$localappdata/sluice/logs/app.log" ] || die "no app.log in %LocalAppData%\\sluice\\logs"

# A second start finds the first through the instance lock, says where it
# runs and leaves with status 0, since the first one answers.
second=0
timeout 60 "$WINE" "$winexe" >"$work/second.log" 2>&1 || second=$?
grep -q "already running" "$work/second.log" && [ "$second" = 0 ] ||
	die "a second sluice.exe (exit $second) did not find the first: $(tr -d '\r' <"$work/second.log")"
echo "tray: a second start: $(tr -d '\r' <"$work/second.log" | sed 's/^sluice: //')"

screen() { import -window root "$1"; }
# menubox: open the menu with a right click on the tray icon, the
# rightmost thing in the taskbar, and set top, bottom, left, right to the
# box of what changed.
menubox() {
	local tries box
	for tries in 1 2 3 4 5; do
		xdotool mousemove 5 5
		sleep 0.3
		screen "$work/before.png"
		# Away again at once: no tooltip, no highlighted item.
		xdotool mousemove $((W - 11)) $((H - 10)) click 3 mousemove 5 5
		sleep 1
		screen "$shot"
		# PNG WxH WxH+X+Y: the bounding box of the changed pixels.
		box=$(convert "$work/before.png" "$shot" -compose difference -composite \
			-threshold 0 -trim info:- 2>/dev/null | awk '{print $3, $4}')
		read -r size off <<<"$box"
		local w=${size%x*} h=${size#*x}
		off=${off#*+}
		left=${off%%+*} top=${off#*+}
		right=$((left + w)) bottom=$((top + h))
		# A menu: wide and tall, above the taskbar's right end.
		if [ "${w:-0}" -gt 120 ] && [ "${h:-0}" -gt 150 ] && [ "$right" -gt $((W - 30)) ]; then
			return 0
		fi
		xdotool key Escape
		sleep 1
	done
	die "no menu opened on a right click of the tray icon (last change: ${box:-none})"
}
# click ITEM-Y: click the menu item at that height, then move away.
click() {
	xdotool mousemove $((left + 40)) "$1" click 1
	sleep 0.3
	xdotool mousemove 5 5
}
# Items by place: under the title and a separator at the top, above a
# separator and Quit at the bottom (tray/menu.go's order).
sysproxy_y() { echo $((top + 36)); }
login_y() { echo $((bottom - 37)); }
quit_y() { echo $((bottom - 11)); }

points_at_sluice() {
	local v
	v=$(proxyvals)
	grep -qE "ProxyServer +REG_SZ +127\.0\.0\.1:$port\$" <<<"$v" && grep -qE 'ProxyEnable +REG_DWORD +0x1$' <<<"$v"
}
run_value() { wine reg query "$run" /v Sluice | grep -E '^ +Sluice +REG_SZ '; }
no_run_value() { ! wine reg query "$run" /v Sluice >/dev/null; }

menubox
echo "tray: the menu opened at ${left},${top} to ${right},${bottom}"
click "$(sysproxy_y)"
waitfor 20 "the registry to point at Sluice after a click on System proxy" points_at_sluice
echo "tray: System proxy on: $(proxyvals | grep ProxyServer | xargs)"

menubox
click "$(login_y)"
waitfor 20 "the HKCU Run value after a click on Start at login" run_value
got=$(run_value | sed -E 's/^ +Sluice +REG_SZ +//')
want="\"$winexe\""
[ "$got" = "$want" ] || die "Run value is $got, want $want"
echo "tray: Start at login on: $got"
menubox
click "$(login_y)"
waitfor 20 "the HKCU Run value to go after a second click on Start at login" no_run_value
echo "tray: Start at login off"

# Traffic through sluice.exe to an origin on this machine, which must
# arrive whole, and gives the menu live numbers.
mkdir -p "$work/www"
head -c 200000 /dev/urandom >"$work/www/file.bin"
(cd "$work/www" && exec python3 -c '
import http.server as h
h.test(HandlerClass=h.SimpleHTTPRequestHandler, protocol="HTTP/1.1", port=0, bind="127.0.0.1")
') >"$work/origin.log" 2>&1 &
pids+=($!)
waitfor 20 "the test origin" grep -q 'Serving HTTP' "$work/origin.log"
origin=http://127.0.0.1:$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/origin.log" | head -n 1)
for _ in $(seq 10); do
	curl -sS --fail -o "$work/got.bin" -x "$proxy" "$origin/file.bin" || die "curl through sluice.exe failed"
	cmp -s "$work/got.bin" "$work/www/file.bin" || die "a download through sluice.exe arrived changed"
done
echo "tray: 10 downloads through sluice.exe arrived whole"
if [ -n "${TRAY_SHOT:-}" ]; then
	# Traffic while the menu is open. On Windows the menu's numbers are
	# refreshed every 5 s: fyne.io/systray does not say when it opens.
	(while :; do curl -s -o /dev/null --limit-rate 2000k -x "$proxy" "$origin/file.bin" || true; done) >/dev/null 2>&1 &
	pids+=($!)
	sleep 6
	menubox
	screen "$shot"
	# The menu and the taskbar's end under it.
	x0=$((left - 40))
	y0=$((top - 30))
	[ "$y0" -ge 0 ] || y0=0
	convert "$shot" -crop "$((W - x0))x$((H - y0))+$x0+$y0" +repage "$TRAY_SHOT"
	echo "tray: wrote $TRAY_SHOT"
else
	menubox
fi
click "$(quit_y)"
gone() { ! healthy; }
waitfor 30 "sluice.exe to exit after a click on Quit" gone
restored() { [ "$(proxyvals)" = "$prior" ]; }
waitfor 20 "the registry to hold the prior proxy again after Quit" restored
echo "tray: Quit put back: $(proxyvals | grep ProxyServer | xargs)"
echo "tray: ok"
