#!/bin/bash
# Counts the syscalls and CPU time one 1 GiB transfer costs Sluice (perf stat).
# usage: syscalls.sh SLUICE_BIN GET|CONNECT ORIGIN_PORT   (origin serves /1g)
BIN=$1; MODE=$2; O=$3; D=$(mktemp -d); mkdir -p $D; P=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
printf '[proxy]\nlisten = "127.0.0.1:%d"\n\n[log]\ndir = "%s/logs"\naccess_log = true\n\n[metrics]\nenabled = true\n' $P $D > $D/config.toml
HOME=$D XDG_CONFIG_HOME=$D XDG_STATE_HOME=$D XDG_CACHE_HOME=$D setsid $BIN run --headless --config $D/config.toml --listen 127.0.0.1:$P >$D/out 2>&1 &
SP=$!; sleep 1
T=""; [ $MODE = CONNECT ] && T=--proxytunnel
curl -s -o /dev/null -x http://127.0.0.1:$P http://127.0.0.1:$O/1g  # warm
perf stat -x, -e 'syscalls:sys_enter_splice,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex,syscalls:sys_enter_write,syscalls:sys_enter_read,context-switches,task-clock' -p $SP -o $D/stat -- curl -s -o /dev/null -w '%{speed_download}\n' -x http://127.0.0.1:$P $T http://127.0.0.1:$O/1g
awk -F, '{print "   "$3" "$1}' $D/stat | grep -v "^ *$" 
kill $SP; rm -rf $D
