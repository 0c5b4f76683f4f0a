#!/bin/sh
# version.sh FORMAT VERSION
#
# Turns the Makefile's VERSION (scripts/version.sh: `git describe` after a
# v* tag, else VERSION-dev+HASH; older trees passed a bare hash) into the
# version syntax a package format accepts. dpkg wants a
# leading digit, rpm no '-', Windows VERSIONINFO four integers, macOS
# CFBundleVersion up to three integers; a bare commit hash or "dev" suits
# none of them.
#
# FORMAT:
#   pkg      semver for nfpm (.deb, .rpm): 1.2.3, 1.2.3-rc1, 1.2.3+4.gabc1234,
#            1.2.3+dirty, 0.0.0+gabc1234; nfpm writes the pre-release as
#            "~rc1" so that it sorts before 1.2.3, and builds after a tag
#            sort after it.
#   numeric  four integers for Windows: MAJOR.MINOR.PATCH.COMMITS.
#   short    three integers for macOS: MAJOR.MINOR.PATCH.
set -eu

format=${1:?usage: version.sh pkg|numeric|short VERSION}
v=${2:?usage: version.sh pkg|numeric|short VERSION}
v=${v#v}

dirty=""
case $v in
*-dirty) dirty=dirty; v=${v%-dirty} ;;
esac

# "+META" is build metadata (scripts/version.sh's "dev+HASH"): kept as is.
commits=0
hash=""
case $v in
*+*) hash=${v#*+}; v=${v%%+*} ;;
esac

# "-N-gHASH" is what git describe appends N commits after a tag.
if printf '%s\n' "$v" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
	hash=$(printf '%s\n' "$v" | sed -E 's/.*-[0-9]+-(g[0-9a-f]+)$/\1/')
	commits=$(printf '%s\n' "$v" | sed -E 's/.*-([0-9]+)-g[0-9a-f]+$/\1/')
	v=$(printf '%s\n' "$v" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
fi

if printf '%s\n' "$v" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$'; then
	base=$(printf '%s\n' "$v" | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+).*/\1/')
	pre=${v#"$base"}
elif printf '%s\n' "$v" | grep -Eq '^[0-9a-f]{4,40}$'; then
	# No tag yet: --always printed the abbreviated commit.
	base=0.0.0
	pre=""
	hash=g$v
else
	# "dev" (no git) or a tag that is not semver.
	base=0.0.0
	pre=""
	hash=$(printf '%s\n' "$v" | tr -c '0-9A-Za-z.\n' '.')
fi

case $format in
pkg)
	meta=""
	if [ "$commits" != 0 ]; then meta=$commits.$hash; elif [ -n "$hash" ]; then meta=$hash; fi
	if [ -n "$dirty" ]; then meta=${meta:+$meta.}$dirty; fi
	printf '%s%s%s\n' "$base" "$pre" "${meta:++$meta}"
	;;
numeric) printf '%s.%s\n' "$base" "$commits" ;;
short) printf '%s\n' "$base" ;;
*)
	echo "version.sh: unknown format $format (want pkg, numeric or short)" >&2
	exit 2
	;;
esac
