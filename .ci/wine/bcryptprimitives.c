/* ProcessPrng for wine before 9.0, which has no bcryptprimitives.dll: Rust's
 * std on Windows imports it (since Rust 1.78) for its random seeds, so that no
 * Rust binary starts there without this stand-in. It fills the buffer from
 * RtlGenRandom (advapi32), which wine has. .ci/cross.sh builds it with
 * mingw-w64 into the wine prefix's system32. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) {
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}
