#!/usr/bin/env bash
# scripts/demo-pipeline.sh [BUILD_DIR]: the pipeline example end to end.
#
# Runs examples/pipeline/organism.yaml (the organism textmill, its pipeline
# analyze) on a free loopback port, sends examples/pipeline/document.xml and
# waits for the response: a <summary> with its keywords. Then prints the
# working memory of the finished conversation (`xmlbus memory THREAD`; the
# organism keeps it) and checks that every step left its entry: document,
# tokens, word_counts, keywords, paragraph_summaries, summary. Then SIGTERM,
# exit 0, no listener left. Any failure prints the pump's log and exits
# non-zero. Needs no terminal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
XMLBUS=$BUILD/bin/xmlbus
EXAMPLE=$ROOT/examples/pipeline
START_TIMEOUT=30
STOP_TIMEOUT=30
ENTRIES=(document tokens word_counts keywords paragraph_summaries summary)

DEMO=demo-pipeline
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"
demo_begin

[ -x "$XMLBUS" ] || fail "$XMLBUS not found: run 'make build' first (or pass the build folder)"
for program in tokenize count-words keywords summarize-paragraph summarize; do
    [ -x "$BUILD/bin/pipeline-$program" ] || fail "$BUILD/bin/pipeline-$program not found: run 'make build'"
done
"$XMLBUS" check "$EXAMPLE/organism.yaml" || fail "xmlbus check failed"

say "starting the textmill organism (log: $LOG)"
start_pump "$EXAMPLE/organism.yaml"
wait_ping
echo "pump pid $PUMP_PID serving on $ENDPOINT"

say "xmlbus send --count 1 examples/pipeline/document.xml   (the pipeline analyze)"
set +e
"$XMLBUS" send -e "$ENDPOINT" --count 1 --timeout 60 "$EXAMPLE/document.xml" \
    >"$WORK/send.out" 2>"$WORK/send.err"
rc=$?
set -e
sed -n '1s/^/thread: /p; 2,$p' "$WORK/send.out"
cat "$WORK/send.err" >&2
case $rc in
0) ;;
1) fail "the pump refused the document (above)" ;;
3) fail "a SystemError came back (above): the pipeline failed" ;;
4) fail "no response within 60 s" ;;
*) fail "xmlbus send exited $rc" ;;
esac
THREAD=$(head -n 1 "$WORK/send.out")
[ -n "$THREAD" ] || fail "xmlbus send printed no thread"
answer=$(sed -n 2p "$WORK/send.out")
[[ $answer == *": <summary>"* ]] || fail "the response is not a <summary>"
[[ $answer == *"<keyword>"* ]] || fail "the summary has no <keyword>"

say "xmlbus memory $THREAD   (kept after the conversation: memory.keep)"
"$XMLBUS" memory -e "$ENDPOINT" "$THREAD" >"$WORK/memory.out" || fail "xmlbus memory failed"
cat "$WORK/memory.out"
missing=()
for entry in "${ENTRIES[@]}"; do
    grep -q "^$entry: <" "$WORK/memory.out" || missing+=("$entry")
done
[ ${#missing[@]} -eq 0 ] || fail "the working memory lacks: ${missing[*]}"

say "stopping the pump (SIGTERM)"
mapfile -t CHILDREN < <(pgrep -P "$PUMP_PID" || true)
stop_pump_and_check "listener processes" "${CHILDREN[@]}"
echo "pump exited 0, no listener process left"

say "demo-pipeline: OK"
