# The Windows build and its tests, run for real under Wine; included from
# the top-level Makefile. packaging/windows/wine/wine.sh does the work and
# says what it needs (make deps installs it).
#
#   make test-windows                     every package's tests and the tray
#   make test-windows WINE_PKGS=./sysproxy/  one package's tests, and the tray
#   make tray-windows-shot                docs/tray-windows.png: the open tray
#                                         menu in Wine's desktop

# The packages whose tests run under Wine; empty runs only the tray.
WINE_PKGS ?= ./...

.PHONY: tray-windows-shot

test-windows:
	GO='$(GO)' PKGS='$(WINE_PKGS)' bash packaging/windows/wine/wine.sh

tray-windows-shot:
	GO='$(GO)' PKGS= TRAY_SHOT=docs/tray-windows.png bash packaging/windows/wine/wine.sh
