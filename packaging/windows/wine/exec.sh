#!/bin/sh
# exec.sh is `go test -exec` for `make test-windows`: it runs a Windows test
# binary under Wine, in the prefix and with the settings wine.sh exported
# (WINE, WINEPREFIX, WINEDEBUG).
exec "${WINE:?exec.sh runs under wine.sh (make test-windows)}" "$@"
