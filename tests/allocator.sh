#!/usr/bin/env bash
# tests/allocator.sh PROGRAM...: every program built with XMLBUS_JEMALLOC
# loads jemalloc (CMakeLists.txt, xb_program_allocator). A program that
# calls malloc only through libxmlbus.so lost it once to the linker's
# --as-needed, and glibc's malloc cost xmlbus-echo 20 % more instructions.
set -euo pipefail
rc=0
for p in "$@"; do
    # The dynamic section, not ldd: ldd runs the loader, and it once
    # failed under load while the file was fine.
    if ! readelf -d "$p" | grep -q 'NEEDED.*libjemalloc'; then
        echo "allocator: $p does not load jemalloc" >&2
        rc=1
    fi
done
[ $rc -ne 0 ] || echo "allocator: $# programs load jemalloc"
exit $rc
