#!/bin/sh
# sign.sh EXE: Authenticode-sign a Windows executable with osslsigncode,
# in place, if the user supplied a certificate; otherwise say so and exit 0.
#
#   SIGN_PFX            PKCS#12 file holding the certificate chain and key
#   SIGN_PASS           its password (read from stdin by osslsigncode, so it
#                       never shows in the process list); optional
#   SIGN_CERT, SIGN_KEY certificate (chain) and private key, PEM or DER,
#                       instead of SIGN_PFX
#   SIGN_TIMESTAMP_URL  RFC 3161 timestamp server, e.g.
#                       http://timestamp.digicert.com (needs network); optional
set -eu

exe=${1:?usage: sign.sh EXE}
if [ ! -f "$exe" ]; then
	echo "sign: $exe does not exist: run make windows first" >&2
	exit 1
fi

if [ -n "${SIGN_PFX:-}" ]; then
	set -- -pkcs12 "$SIGN_PFX"
elif [ -n "${SIGN_CERT:-}" ] && [ -n "${SIGN_KEY:-}" ]; then
	set -- -certs "$SIGN_CERT" -key "$SIGN_KEY"
elif [ -n "${SIGN_CERT:-}${SIGN_KEY:-}" ]; then
	echo "sign: set both SIGN_CERT and SIGN_KEY (or SIGN_PFX)" >&2
	exit 1
else
	echo "sign: skipped, $exe is unsigned (set SIGN_PFX, or SIGN_CERT and SIGN_KEY, to sign it)"
	exit 0
fi

if ! command -v osslsigncode >/dev/null 2>&1; then
	echo "sign: osslsigncode not found: install it (Debian: apt-get install osslsigncode)" >&2
	exit 1
fi

if [ -n "${SIGN_TIMESTAMP_URL:-}" ]; then
	set -- "$@" -ts "$SIGN_TIMESTAMP_URL"
fi

out="$exe.signed.$$"
trap 'rm -f "$out"' EXIT
sign() {
	osslsigncode sign "$@" -h sha256 -n Sluice -i https://github.com/sluiceproxy/sluice \
		-in "$exe" -out "$out" >/dev/null
}
if [ -n "${SIGN_PASS:-}" ]; then
	printf '%s' "$SIGN_PASS" | sign "$@" -readpass -
else
	sign "$@"
fi
mv "$out" "$exe"
trap - EXIT
echo "sign: signed $exe"
