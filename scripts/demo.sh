#!/usr/bin/env bash
# scripts/demo.sh [BUILD_DIR]: runs the hello organism end to end.
#
# Starts `xmlbus run examples/hello/organism.yaml` in the background on a free
# loopback port, waits until it answers, sends examples/hello/greeting.xml and
# prints the messages that come back, the threads, the conversation's
# history, the stats and the backend, then stops the pump with SIGTERM and
# checks that it exited 0 and left no child behind. Any failure prints the
# pump's log and exits non-zero. Needs no terminal (CI=true is fine).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
XMLBUS=$BUILD/bin/xmlbus
HELLO=$ROOT/examples/hello
START_TIMEOUT=30   # seconds for the pump to bind and answer a ping
STOP_TIMEOUT=30    # seconds for the pump to exit after SIGTERM

DEMO=demo
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"
demo_begin # WORK, LOG; at exit the pump and CHILDREN are stopped (by their recorded pids only)

[ -x "$XMLBUS" ] || fail "$XMLBUS not found: run 'make build' first (or pass the build folder)"
[ -f "$HELLO/organism.yaml" ] || fail "$HELLO/organism.yaml not found"


say "starting the hello organism (log: $LOG)"
start_pump "$HELLO/organism.yaml"
echo "pump pid $PUMP_PID serving on $ENDPOINT"
wait_ping
echo "pump answers"

say "xmlbus send --wait --count 2 examples/hello/greeting.xml"
echo "sending: $(cat "$HELLO/greeting.xml")"
set +e
"$XMLBUS" send -e "$ENDPOINT" --wait --count 2 --timeout 30 "$HELLO/greeting.xml" \
    >"$WORK/send.out" 2>"$WORK/send.err"
rc=$?
set -e
sed -n '1s/^/thread: /p; 2,$p' "$WORK/send.out"
cat "$WORK/send.err" >&2
[ $rc -eq 0 ] || fail "xmlbus send exited $rc"
THREAD=$(head -n 1 "$WORK/send.out")
[ -n "$THREAD" ] || fail "xmlbus send printed no thread"

say "xmlbus threads"
"$XMLBUS" threads -e "$ENDPOINT" || fail "xmlbus threads failed"

say "xmlbus history $THREAD   (the console's thread)"
"$XMLBUS" history -e "$ENDPOINT" "$THREAD" || fail "xmlbus history failed"
for t in $("$XMLBUS" threads -q -e "$ENDPOINT"); do
    [ "$t" = "$THREAD" ] && continue
    say "xmlbus history $t"
    "$XMLBUS" history -e "$ENDPOINT" "$t" || fail "xmlbus history $t failed"
done

say "xmlbus stats"
"$XMLBUS" stats -e "$ENDPOINT" || fail "xmlbus stats failed"

say "xmlbus backend info"
"$XMLBUS" backend info -e "$ENDPOINT" || fail "xmlbus backend info failed"

say "stopping the pump (SIGTERM)"
mapfile -t CHILDREN < <(pgrep -P "$PUMP_PID" || true)
echo "listener processes: ${CHILDREN[*]:-none}"
stop_pump_and_check "listener processes" "${CHILDREN[@]}"
echo "pump exited 0, no listener process left"

say "demo: OK"
