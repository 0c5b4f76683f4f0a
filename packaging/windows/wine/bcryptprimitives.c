/*
 * bcryptprimitives.dll for Wine 8, which lacks it; used only by
 * `make test-windows`, never shipped.
 *
 * Go 1.22 and later fill crypto/rand, and seed the runtime, from
 * ProcessPrng in bcryptprimitives.dll, loaded from system32 at start:
 * without it a Go program dies before main. Wine added the DLL in 9.0;
 * Debian 12 has Wine 8.0. This one exports ProcessPrng and fills the
 * buffer from RtlGenRandom (advapi32's SystemFunction036), which Wine 8
 * has. Delete this file, and its step in wine.sh, once the CI machine has
 * Wine 9 or later.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng never fails on Windows; here it fails only if RtlGenRandom
 * does, and Go then aborts rather than run without randomness. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
