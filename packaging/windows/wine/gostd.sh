#!/bin/sh
# gostd.sh DIR writes DIR/overlay.json, a `go build -overlay` that patches
# two places in Go's standard library where Wine 8 answers a call with an
# error Windows 10 never gives, so that Go programs built with it run
# under Wine as they do on Windows. Used only by `make test-windows`: the
# patched library never goes into a shipped sluice.exe.
#
#   os.RemoveAll deletes with FileDispositionInformationEx (POSIX
#   semantics), falling back to the old way when the call is unknown
#   (STATUS_INVALID_INFO_CLASS). Wine 8 answers STATUS_NOT_IMPLEMENTED,
#   so every RemoveAll of a directory fails ("Invalid function"), and with
#   it every t.TempDir cleanup. Patched to fall back on that too.
#
#   net opens every UDP socket with SIO_UDP_NETRESET switched off, which
#   Wine 8 does not know (WSAEOPNOTSUPP), so no UDP socket opens, and no
#   DNS query leaves. Patched to go on without it: the option only hides
#   "network unreachable" ICMP errors.
#
# Each patch must apply exactly once; when Go's code moves, this fails
# and says which, rather than test an unpatched library.
set -eu

out=${1:?usage: gostd.sh DIR}
GO=${GO:-go}
goroot=$($GO env GOROOT)
mkdir -p "$out"

# patchgo FILE SED-SCRIPT: write the patched copy of $goroot/src/FILE to
# $out and print its overlay entry.
patchgo() {
	src=$goroot/src/$1
	dst=$out/$(echo "$1" | tr / _)
	sed "$2" "$src" >"$dst"
	n=$(diff "$src" "$dst" | grep -c '^>' || true)
	if [ "$n" != 1 ]; then
		echo "gostd.sh: the Wine patch to $1 changed $n lines, not 1: Go's code has moved; see packaging/windows/wine/gostd.sh" >&2
		exit 1
	fi
	printf '"%s":"%s"' "$src" "$dst"
}

# 0xC0000002 is STATUS_NOT_IMPLEMENTED.
at=$(patchgo internal/syscall/windows/at_windows.go \
	's/^\tcase STATUS_INVALID_INFO_CLASS, /\tcase STATUS_INVALID_INFO_CLASS, NTStatus(0xC0000002), /')
# 10045 is WSAEOPNOTSUPP; the check follows the SIO_UDP_NETRESET call.
fd=$(patchgo net/fd_windows.go \
	'/windows\.SIO_UDP_NETRESET/{n;s/^\t\tif err != nil {$/\t\tif err != nil \&\& err != syscall.Errno(10045) {/;}')
printf '{"Replace":{%s,%s}}\n' "$at" "$fd" >"$out/overlay.json"
