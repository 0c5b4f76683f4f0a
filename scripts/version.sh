#!/bin/sh
# version.sh [DIR]: the version the build stamps into Sluice, from the
# repository at DIR (default .).
#
#   0.1.0                   on a commit tagged v0.1.0
#   0.1.0-3-gabc1234        three commits after it (git describe)
#   0.1.0-dev+abc1234       with no v* tag in reach (tags do not always
#                           travel with a clone): the VERSION file and
#                           the commit
#   ...-dirty / .dirty      with uncommitted changes
#   0.1.0-dev               without git at all
#
# packaging/version.sh turns this into each package format's syntax.
set -eu
cd "${1:-.}"

if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	printf '%s\n' "${v#v}"
	exit 0
fi
base=$(tr -d ' \t\r\n' < VERSION 2>/dev/null || echo 0.0.0)
if hash=$(git rev-parse --short HEAD 2>/dev/null); then
	dirty=""
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then dirty=.dirty; fi
	printf '%s-dev+%s%s\n' "$base" "$hash" "$dirty"
else
	printf '%s-dev\n' "$base"
fi
