#!/bin/sh
# mkapp.sh -v VERSION -o OUT.app [-b BINARY]
#
# Assembles the macOS bundle:
#   OUT.app/Contents/Info.plist          from Info.plist.in
#   OUT.app/Contents/PkgInfo             "APPL????"
#   OUT.app/Contents/MacOS/sluice        BINARY, when given
#   OUT.app/Contents/Resources/sluice.icns
#
# VERSION is the Makefile's (git describe) version; CFBundleVersion and
# CFBundleShortVersionString get its MAJOR.MINOR.PATCH (Apple accepts only
# integers there) and SluiceBuildVersion the full string. An existing OUT.app
# is replaced. Without -b the layout has no executable: the binary needs cgo
# and so a Mac to build (see packaging.mk).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version="" out="" bin=""
while getopts v:o:b: opt; do
	case $opt in
	v) version=$OPTARG ;;
	o) out=$OPTARG ;;
	b) bin=$OPTARG ;;
	*) echo "usage: mkapp.sh -v VERSION -o OUT.app [-b BINARY]" >&2; exit 2 ;;
	esac
done
if [ -z "$version" ] || [ -z "$out" ]; then
	echo "usage: mkapp.sh -v VERSION -o OUT.app [-b BINARY]" >&2
	exit 2
fi
case $out in
*.app) ;;
*) echo "mkapp: $out must end in .app, or Finder will not treat it as an app" >&2; exit 2 ;;
esac
if [ -n "$bin" ] && [ ! -f "$bin" ]; then
	echo "mkapp: binary $bin does not exist" >&2
	exit 1
fi

short=$(sh "$here/../version.sh" short "$version")
# The full version goes into XML: escape what XML cares about.
xml_version=$(printf '%s' "$version" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g')

rm -rf "$out"
mkdir -p "$out/Contents/MacOS" "$out/Contents/Resources"
sed -e "s|@SHORT_VERSION@|$short|g" -e "s|@VERSION@|$(printf '%s' "$xml_version" | sed 's/[|&\\]/\\&/g')|g" \
	"$here/Info.plist.in" > "$out/Contents/Info.plist"
printf 'APPL????' > "$out/Contents/PkgInfo"
cp "$here/sluice.icns" "$out/Contents/Resources/sluice.icns"
if [ -n "$bin" ]; then
	cp "$bin" "$out/Contents/MacOS/sluice"
	chmod 0755 "$out/Contents/MacOS/sluice"
fi
if command -v plutil >/dev/null 2>&1; then
	plutil -lint "$out/Contents/Info.plist" >/dev/null
fi
echo "mkapp: assembled $out (version $version${bin:+, binary $bin})"
