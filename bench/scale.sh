#!/bin/bash
# scale.sh: keep-alive at 64 and 1000 connections through one or more Sluice
# binaries and the fasthttp reference relay, in one run, against the
# harness's nginx origin (issue 17). Each stage is an unmeasured warm-up then
# a measured wrk run; rounds interleave the columns, rotating their order.
# Dials are counted at the origin (nginx stub_status "accepts"), during the
# measured run and during the whole stage (warm-up included); reuse by
# Sluice's /stats.
#
#   sudo bench/scale.sh [-r ROUNDS] [-d SECONDS] [-w SECONDS] [-p PROFDIR] BIN...
#
# -p records, in round 1, a perf profile (perf record -g) and a
# GODEBUG=schedtrace=1000 trace of each Sluice column per stage into
# PROFDIR. Output: one line per measured run, then medians per column.
# Needs nginx-light, wrk, curl (and linux-perf for -p); run as root for
# the open-file limit.
set -euo pipefail

rounds=3 dur=6 warm=2 prof=""
while getopts r:d:w:p: o; do
	case $o in
	r) rounds=$OPTARG ;;
	d) dur=$OPTARG ;;
	w) warm=$OPTARG ;;
	p) prof=$(realpath -m "$OPTARG") ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-r rounds] [-d secs] [-w secs] [-p profdir] sluice-binary..." >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" # 3000+ fds per 1000-conn stage
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/scale-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "$prof" ] && mkdir -p "$prof"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 never answered" >&2; return 1; }

mkdir -p "$tmp/www"
head -c 64 /dev/zero | tr '\0' x >"$tmp/www/64"
oport=$(freeport)
cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $tmp/nginx.pid;
error_log $tmp/error.log crit;
events { worker_connections 8192; multi_accept on; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_body_temp_path $tmp/cb;
    proxy_temp_path $tmp/pt;
    fastcgi_temp_path $tmp/ft;
    uwsgi_temp_path $tmp/ut;
    scgi_temp_path $tmp/st;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$oport backlog=8192;
        root $tmp/www;
        location / { }
        location = /status { stub_status; }
    }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
waitport "$oport"
accepts() { curl -s "http://127.0.0.1:$oport/status" | awk 'NR==3 {print $1}'; }

(cd "$repo" && go build -o "$tmp/loadbench" ./bench/cmd/loadbench)
cols=() ports=() spids=()
rport=$(freeport)
"$tmp/loadbench" refproxy -listen "127.0.0.1:$rport" &
pids+=($!)
cols+=(fasthttp-ref) ports+=("$rport") spids+=($!)
i=0
for bin in "$@"; do
	i=$((i + 1))
	d="$tmp/sluice$i"
	mkdir -p "$d/log"
	port=$(freeport)
	printf '[proxy]\nlisten = "127.0.0.1:%d"\n\n[log]\ndir = "%s"\naccess_log = true\n' "$port" "$d/log" >"$d/config.toml"
	env HOME="$d" XDG_CONFIG_HOME="$d" XDG_STATE_HOME="$d" XDG_CACHE_HOME="$d" \
		${prof:+GODEBUG=schedtrace=1000} "$bin" run --headless --config "$d/config.toml" --listen "127.0.0.1:$port" \
		2>"$d/stderr" &
	pids+=($!)
	cols+=("sluice$i:$(basename "$bin")") ports+=("$port") spids+=($!)
done
for p in "${ports[@]}"; do waitport "$p" || true; done

cat >"$tmp/wrk.lua" <<EOF
wrk.method = "GET"
wrk.path = "http://127.0.0.1:$oport/64"
wrk.headers["Host"] = "127.0.0.1:$oport"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.2f %.2f %d/%d/%d/%d/%d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50)/1000, latency:percentile(99)/1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF

# cputicks prints the user+system CPU time of process $1, in clock ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# sluicedials prints Sluice's dialed and reused counters, or "- -".
sluicedials() {
	curl -s -x "" "http://127.0.0.1:$1/stats" | python3 -c 'import json,sys
try:
    u=json.load(sys.stdin)["upstream"]; print(u["dialed"], u["reused"])
except Exception: print("- -")'
}

out="$tmp/results"
: >"$out"
n=${#cols[@]}
echo "origin 127.0.0.1:$oport; columns: ${cols[*]}; $rounds rounds, ${warm}s warm-up + ${dur}s each"
for r in $(seq "$rounds"); do
	for c in 64 1000; do
		for k in $(seq 0 $((n - 1))); do
			j=$(((k + r) % n))
			col=${cols[$j]} port=${ports[$j]}
			aw=$(accepts)
			wrk -t2 -c"$c" -d"${warm}s" --timeout 2s -s "$tmp/wrk.lua" "http://127.0.0.1:$port" >/dev/null
			a0=$(accepts)
			read -r d0 u0 < <(sluicedials "$port")
			t0=$(cputicks "${spids[$j]}")
			rec=""
			name="${col%%:*}-c$c" trace=""
			if [ -n "$prof" ] && [ "$r" = 1 ]; then
				perf record -q -F 499 -g -p "${spids[$j]}" -o "$prof/$name.perf.data" -- sleep "$dur" 2>/dev/null &
				rec=$!
				[[ $col == sluice* ]] && trace="$tmp/${col%%:*}/stderr" && l0=$(wc -l <"$trace")
			fi
			res=$(wrk -t2 -c"$c" -d"${dur}s" --timeout 2s -s "$tmp/wrk.lua" "http://127.0.0.1:$port" | grep '^RESULT')
			if [ -n "$rec" ]; then wait "$rec"; fi
			if [ -n "$trace" ]; then tail -n +$((l0 + 1)) "$trace" | grep '^SCHED' >"$prof/$name.schedtrace" || true; fi
			t1=$(cputicks "${spids[$j]}")
			a1=$(accepts)
			read -r d1 u1 < <(sluicedials "$port")
			read -r _ reqs us errs p50 p99 kinds <<<"$res"
			rps=$(awk -v q="$reqs" -v u="$us" 'BEGIN{printf "%.0f", q/(u/1e6)}')
			dials=$((a1 - a0 - 1)) stagedials=$((a1 - aw - 2)) # each stub_status fetch is one
			reuse="-"
			if [ "$d0" != "-" ]; then
				reuse=$(awk -v d=$((d1 - d0)) -v u=$((u1 - u0)) 'BEGIN{ if (d+u>0) printf "%.4f", u/(d+u); else print "-"}')
			fi
			cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v q="$reqs" 'BEGIN{printf "%.1f", t/hz*1e6/q}')
			line="$r $col $c $rps $p50 $p99 $errs $dials $reuse $stagedials $cpu"
			echo "$line" >>"$out"
			echo "$line errors(connect/read/write/status/timeout)=$kinds"
		done
	done
done
echo
echo "medians over $rounds rounds; dials: the origin's accepted conns during the measured run, and during the stage (warm-up included); reuse: Sluice's /stats over the run; cpu: the relay process's CPU time per request (µs)"
printf '%-28s %6s %8s %8s %8s %6s %7s %7s %7s %7s\n' column conns rps p50ms p99ms errs dials reuse stage cpu
for col in "${cols[@]}"; do
	for c in 64 1000; do
		awk -v col="$col" -v c="$c" '$2==col && $3==c' "$out" | python3 -c '
import sys, statistics as st
rows=[l.split() for l in sys.stdin]
if not rows: sys.exit()
m=lambda i: st.median(float(r[i]) for r in rows)
reuse=[float(r[8]) for r in rows if r[8]!="-"]
print("%-28s %6s %8.0f %8.2f %8.2f %6d %7.0f %7s %7.0f %7.1f" % (rows[0][1], rows[0][2], m(3), m(4), m(5), max(int(r[6]) for r in rows), m(7), "%.4f"%st.median(reuse) if reuse else "-", m(9), m(10)))'
	done
done
if [ -n "$prof" ]; then
	for f in "$prof"/*.perf.data; do
		perf report -i "$f" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 >"${f%.perf.data}.txt" || true
	done
	echo "profiles in $prof"
fi
