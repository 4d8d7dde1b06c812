#!/usr/bin/env bash
# tests/exports.sh LIBXMLBUS_SO INCLUDE_DIR: the shared library exports exactly
# the public API (docs/api.md). Fails when libxmlbus.so exports a symbol that
# no header of include/xmlbus declares with XB_EXPORT (an internal symbol
# leaking, or anything without the xb_ prefix), or when such a declaration has
# no exported definition.
set -euo pipefail
SO=$1
INCLUDE=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/xmlbus-exports.XXXXXX")
trap 'rm -rf "$work"' EXIT

nm -D --defined-only "$SO" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$work/exported"
# A declaration starts with XB_EXPORT and names its function before the first '('.
sed -n 's/^XB_EXPORT[^(]*[^a-zA-Z0-9_]\(xb_[a-zA-Z0-9_]*\)(.*/\1/p' "$INCLUDE"/xmlbus/*.h |
    sort -u >"$work/declared"

rc=0
# Every function a public header declares carries XB_EXPORT (a declaration at
# the start of a line that names an xb_ function and is not a typedef).
unmarked=$(grep -nE '^[A-Za-z].*[^A-Za-z0-9_]xb_[A-Za-z0-9_]+\(' "$INCLUDE"/xmlbus/*.h |
    grep -vE ':(XB_EXPORT|typedef|#)' || true)
if [ -n "$unmarked" ]; then
    echo "exports: public declarations without XB_EXPORT:" >&2
    printf '  %s\n' "$unmarked" >&2
    rc=1
fi
extra=$(comm -23 "$work/exported" "$work/declared")
if [ -n "$extra" ]; then
    echo "exports: $SO exports symbols that include/xmlbus does not declare XB_EXPORT:" >&2
    printf '  %s\n' $extra >&2
    rc=1
fi
missing=$(comm -13 "$work/exported" "$work/declared")
if [ -n "$missing" ]; then
    echo "exports: declared XB_EXPORT in include/xmlbus but not exported by $SO:" >&2
    printf '  %s\n' $missing >&2
    rc=1
fi
[ $rc -ne 0 ] || echo "exports: $(wc -l <"$work/exported") symbols, all declared in include/xmlbus"
exit $rc
