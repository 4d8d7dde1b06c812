#!/usr/bin/env bash
# Runs every fuzz target of BUILD (made with -DXMLBUS_FUZZ=ON, see `make
# fuzz`) for SECONDS each, one after the other, under `nice`.
#   tests/fuzz/run.sh BUILD SECONDS [TARGET...]
# Each target starts from a copy of its seed corpus tests/fuzz/corpus/X/ in
# BUILD/fuzz/corpus/X/, which keeps what the runs add (the checked-in seeds
# never change). A crash leaves its input in BUILD/fuzz/crashes/ and makes
# the script exit 1 once every target has run (docs/reliability.md).
set -uo pipefail

build=${1:?usage: $0 BUILD SECONDS [TARGET...]}
seconds=${2:?usage: $0 BUILD SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$src"/fuzz_*.c; do
    t=$(basename "$f" .c)
    targets+=("${t#fuzz_}")
  done
fi

mkdir -p "$build/fuzz/crashes"
failed=()
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (make fuzz builds it)" >&2
    exit 2
  fi
  work="$build/fuzz/corpus/$t"
  mkdir -p "$work"
  cp -n "$src/corpus/$t"/* "$work"/ 2>/dev/null || true
  log="$build/fuzz/$t.log"
  echo "fuzz: $t for ${seconds}s (log $log)"
  # ASan and UBSan report to stderr, which the log keeps; libFuzzer prints
  # the crash's file name ("Test unit written to ...").
  nice "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -artifact_prefix="$build/fuzz/crashes/$t-" "$work" >"$log" 2>&1
  rc=$?
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/  $t /"
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    grep -E 'ERROR:|broken promise|printed outside|runtime error|Test unit written to' "$log" |
      head -5 | sed "s/^/  $t: /"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (reproducers in $build/fuzz/crashes/, logs in $build/fuzz/)" >&2
  exit 1
fi
echo "fuzz: no crash"
