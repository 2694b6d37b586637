#!/usr/bin/env bash
# The platforms revio serves besides Linux: FreeBSD and macOS (kqueue) and
# Windows build with no warning (`cargo clippy --all-targets -- -D warnings`:
# `cargo check` and the lints), and the Windows binaries run the behaviour
# suite under wine. Installs what it needs: the rustup targets and, as root,
# Debian's mingw-w64 (the linker, and the C compiler for ring under the `tls`
# feature) and wine; without them (not root), the Windows parts are skipped
# with a message.
#
# What is checked where (the C code of ring, behind `tls`, needs the target's
# C compiler, which Debian has for Windows only):
#   x86_64-unknown-freebsd, x86_64-apple-darwin: the revio package, all
#     targets, without `tls` (so without the integration member, which needs it)
#   all three: `cargo check -p revio --tests` with default features, as a
#     user there would build the tests
#   x86_64-pc-windows-gnu: the workspace with every feature, but bench/, a
#     Linux harness (raw epoll, /proc, Linux socket options)
#   under wine: `cargo test -p revio --all-features`, and with
#     REVIO_WINE_INTEGRATION=1 the integration member's tests too (they
#     double the time, mostly building ring, rustls and the redis client)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)

unix_targets=(x86_64-unknown-freebsd x86_64-apple-darwin)
windows=x86_64-pc-windows-gnu
out=$(rustup target add "${unix_targets[@]}" "$windows" 2>&1) || {
    echo "$out" >&2
    exit 1
}

# Debian's packages for the Windows parts.
have_windows_tools() { command -v x86_64-w64-mingw32-gcc >/dev/null && command -v wine >/dev/null; }
if ! have_windows_tools; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            gcc-mingw-w64-x86-64 wine wine64 >/dev/null
    else
        echo "cross: SKIPPED the Windows checks: x86_64-w64-mingw32-gcc or wine missing, and not root to install gcc-mingw-w64-x86-64 and wine" >&2
    fi
fi

for t in "${unix_targets[@]}"; do
    echo "cross: cargo clippy -p revio --all-targets --features test-hooks --target $t"
    cargo clippy -q -p revio --all-targets --features test-hooks --target "$t" -- -D warnings
done
# What a user there builds: the tests with default features (no test hooks).
for t in "${unix_targets[@]}" "$windows"; do
    echo "cross: cargo check -p revio --tests --target $t"
    cargo check -q -p revio --tests --target "$t"
done

if have_windows_tools; then
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
    echo "cross: cargo clippy --workspace --exclude revio-bench --all-targets --all-features --target $windows"
    cargo clippy -q --workspace --exclude revio-bench --all-targets --all-features --target "$windows" -- -D warnings

    # A wine prefix of our own, with the ProcessPrng stand-in where wine lacks it.
    export WINEPREFIX="$PWD/target/wine" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
        wine wineboot --init >/dev/null 2>&1
        wineserver -w
    fi
    shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
    if [ ! -e "$shim" ]; then
        x86_64-w64-mingw32-gcc -O2 -shared -s -o "$shim" .ci/wine/bcryptprimitives.c -ladvapi32
    fi
    # One wineserver for the whole run, rather than one started and stopped
    # around each test binary.
    wineserver -p
    trap 'wineserver -k 2>/dev/null || true' EXIT
    echo "cross: cargo test under wine ($(wine --version))"
    log=target/wine/test.log
    status=0
    cargo test --target "$windows" --no-fail-fast -p revio --all-features >"$log" 2>&1 || status=$?
    if [ "${REVIO_WINE_INTEGRATION:-0}" = 1 ]; then
        cargo test --target "$windows" --no-fail-fast -p revio-integration >>"$log" 2>&1 || status=$?
    fi
    grep -E '^ *Running|^test result|FAILED|panicked' "$log" || true
    if [ "$status" -ne 0 ]; then
        echo "cross: FAILED under wine (the whole log: $log)" >&2
        exit 1
    fi
    passed=$(grep -oE '[0-9]+ passed' "$log" | awk '{s += $1} END {print s}')
    ignored=$(grep -oE '[0-9]+ ignored' "$log" | awk '{s += $1} END {print s}')
    echo "cross: under wine: $passed passed, $ignored ignored"
fi
echo "cross: done in $(($(date +%s) - start)) s"
