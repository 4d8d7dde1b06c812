#!/usr/bin/env bash
# Runs an example organism with the pump and its listeners under valgrind
# memcheck, sends a few messages, stops the pump, and fails on any memcheck
# error or definite leak. Usage: scripts/valgrind.sh [BUILD_DIR] [hello|pipeline]
# (hello: five greetings; pipeline: the text-analysis pipeline twice).
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
case "${2:-hello}" in
  hello)    ORG=examples/hello/organism.yaml; MSG=examples/hello/greeting.xml; SENDS=5; ANSWERS=2 ;;
  pipeline) ORG=examples/pipeline/organism.yaml; MSG=examples/pipeline/document.xml; SENDS=2; ANSWERS=1 ;;
  *) echo "valgrind: unknown organism '$2' (hello or pipeline)" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d /tmp/xmlbus-valgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The programs use jemalloc (CMakeLists.txt): memcheck must replace it too.
VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --soname-synonyms='somalloc=*jemalloc*'
    --show-leak-kinds=definite --track-fds=no --trace-children=yes
    --trace-children-skip='*/sh,*/bash' --log-file="$work/vg.%p.log")
"${VG[@]}" "$BIN/xmlbus" run "$ORG" --endpoint 'tcp://127.0.0.1:*' \
    --endpoint-file "$work/endpoint" --log-level warn 2> "$work/pump.log" &
pump=$!
for _ in $(seq 1 300); do [ -s "$work/endpoint" ] && break; sleep 0.1; done
[ -s "$work/endpoint" ] || { echo "valgrind: the pump did not come up" >&2; cat "$work/pump.log" >&2; exit 1; }
ep=$(cat "$work/endpoint")
for _ in $(seq 1 100); do "$BIN/xmlbus" ping -e "$ep" >/dev/null 2>&1 && break; sleep 0.2; done
for i in $(seq 1 "$SENDS"); do
  "$BIN/xmlbus" send -e "$ep" --wait --count "$ANSWERS" --timeout 120 "$MSG" > "$work/send.$i" \
    || { echo "valgrind: send $i failed" >&2; cat "$work/send.$i" "$work/pump.log" >&2; exit 1; }
done
echo '<not-known/>' | "$BIN/xmlbus" send -e "$ep" - > /dev/null 2>&1 || true
kill -TERM "$pump"
status=0
wait "$pump" || status=$?
bad=0
for f in "$work"/vg.*.log; do
  if grep -qE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" "$f"; then
    bad=1
    echo "---- $f" >&2
    cat "$f" >&2
  fi
done
n=$(find "$work" -name "vg.*.log" | wc -l)
if [ "$status" -ne 0 ] || [ "$bad" -ne 0 ]; then
  echo "valgrind: FAILED (pump exit $status; see above)" >&2
  exit 1
fi
echo "valgrind: $n processes (pump and listeners) clean: no memcheck error, no definite leak"
