#!/usr/bin/env bash
# tests/format.sh SOURCE_DIR: every C source and header of the repository
# follows .clang-format (docs/architecture.md, "How the tests are organised").
# To fix a failure: clang-format -i FILE (clang-format comes from
# scripts/install-deps.sh, Debian package clang-format).
set -euo pipefail
cd "$1"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "format: clang-format is missing: run scripts/install-deps.sh" >&2
    exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.c' '*.h')
else
    mapfile -t files < <(find bus pump listeners bench include tests examples -name '*.[ch]')
fi
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files follow .clang-format"
