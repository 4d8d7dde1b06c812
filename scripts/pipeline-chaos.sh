#!/usr/bin/env bash
# The textmill pipeline (examples/pipeline) under chaos: N documents (default
# 200), 20 at a time, while the pump's keyword workers (a cpu_bound pool) and
# its paragraph summarizer are killed with SIGKILL again and again. Every
# document must end in exactly one answer to its sender: its <summary>, or one
# SystemError naming the pipeline, the step and the cause. Fails otherwise.
# Usage: scripts/pipeline-chaos.sh [BUILD_DIR] [N]   (docs/reliability.md)
set -u
BUILD=${1:-build}
N=${2:-200}
B=$BUILD/bin
w=$(mktemp -d /tmp/xmlbus-pipeline-chaos-XXXXXX)
trap 'rm -rf "$w"' EXIT
"$B/xmlbus" run examples/pipeline/organism.yaml --endpoint 'tcp://127.0.0.1:*' \
    --endpoint-file "$w/ep" --log-level warn 2> "$w/pump.log" &
pump=$!
for _ in $(seq 1 100); do [ -s "$w/ep" ] && break; sleep 0.1; done
[ -s "$w/ep" ] || { echo "pipeline-chaos: the pump did not come up" >&2; cat "$w/pump.log" >&2; exit 1; }
ep=$(cat "$w/ep")
for _ in $(seq 1 50); do "$B/xmlbus" ping -e "$ep" >/dev/null 2>&1 && break; sleep 0.2; done
# only the pump's own children are killed
( while sleep 0.7; do
    pkill -9 -P "$pump" -f pipeline-keywords || true
    sleep 0.5
    pkill -9 -P "$pump" -f pipeline-summarize-paragraph || true
  done ) &
killer=$!
sent=0
while [ "$sent" -lt "$N" ]; do
  pids=()
  for _ in $(seq 1 20); do
    [ "$sent" -lt "$N" ] || break
    sent=$((sent + 1))
    "$B/xmlbus" send -e "$ep" --count 1 --timeout 120 examples/pipeline/document.xml \
        > "$w/out.$sent" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null
  echo "pipeline-chaos: $sent of $N documents answered"
done
kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null
"$B/xmlbus" stats -e "$ep" > "$w/stats" 2>&1
kill -TERM "$pump"
status=0
wait "$pump" || status=$?
summaries=0 errors=0 bad=0
for n in $(seq 1 "$N"); do
  answers=$(grep -c '^from ' "$w/out.$n")
  if [ "$answers" -eq 1 ] && grep -q '^from analyze: <summary>' "$w/out.$n"; then
    summaries=$((summaries + 1))
  elif [ "$answers" -eq 1 ] && grep -q '^from system: <SystemError>.*pipeline analyze failed' "$w/out.$n"; then
    errors=$((errors + 1))
  else
    bad=$((bad + 1))
    echo "---- document $n: not exactly one answer" >&2
    cat "$w/out.$n" >&2
  fi
done
echo "pipeline-chaos: $N documents: $summaries summaries, $errors SystemErrors, $bad without exactly one answer"
grep -E '^(pipeline-|in-flight|conversations)' "$w/stats" | tr '\n' ' '; echo
if [ "$bad" -ne 0 ] || [ "$status" -ne 0 ]; then
  echo "pipeline-chaos: FAILED (pump exit $status)" >&2
  exit 1
fi
echo "pipeline-chaos: OK"
