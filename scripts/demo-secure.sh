#!/usr/bin/env bash
# scripts/demo-secure.sh [BUILD_DIR]: the hello organism with security.
#
# Copies examples/hello (organism-secure.yaml as organism.yaml) into a
# temporary folder, makes the keys it names with `xmlbus keygen`, runs it on
# a free loopback port and shows: a client without a key gets a clear
# refusal; alice (a client key) sends a greeting and gets both answers, but
# may not read the stats; ops (an admin key) may; alice reads her own
# thread's history. Then SIGTERM, exit 0, no listener left. Any failure
# prints the pump's log and exits non-zero. Needs no terminal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
XMLBUS=$BUILD/bin/xmlbus
HELLO=$ROOT/examples/hello
START_TIMEOUT=30
STOP_TIMEOUT=30

DEMO=demo-secure
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"
demo_begin

[ -x "$XMLBUS" ] || fail "$XMLBUS not found: run 'make build' first (or pass the build folder)"

say "the organism and its keys (xmlbus keygen NAME --dir keys)"
cp "$HELLO"/*.xsd "$WORK/"
cp "$HELLO/organism-secure.yaml" "$WORK/organism.yaml"
mkdir -m 700 "$WORK/keys"
for name in pump alice ops greeter shouter mallory; do
    "$XMLBUS" keygen "$name" --dir "$WORK/keys" >/dev/null || fail "xmlbus keygen $name failed"
done
ls -l "$WORK/keys" | sed -n '2,$p'
"$XMLBUS" check "$WORK/organism.yaml" || fail "xmlbus check failed"

say "starting it (log: $LOG)"
# The default ping needs a key: the admin's, by path in the environment.
export XMLBUS_SERVER_KEY=$WORK/keys/pump.key
start_pump "$WORK/organism.yaml"
ops=(--key "$WORK/keys/ops.key_secret")
alice=(--key "$WORK/keys/alice.key_secret")
wait_ping "${ops[@]}"
echo "pump pid $PUMP_PID serving on $ENDPOINT with CURVE"

say "a key the organism does not list (mallory): refused"
if "$XMLBUS" ping -e "$ENDPOINT" --key "$WORK/keys/mallory.key_secret" --timeout 5 2>"$WORK/m.err"; then
    fail "mallory's key was let in"
fi
cat "$WORK/m.err"

say "alice sends a greeting (xmlbus send --wait --count 2 --key alice.key_secret)"
"$XMLBUS" send -e "$ENDPOINT" "${alice[@]}" --wait --count 2 --timeout 30 \
    "$HELLO/greeting.xml" >"$WORK/send.out" || fail "alice's send failed"
sed -n '1s/^/thread: /p; 2,$p' "$WORK/send.out"
THREAD=$(head -n 1 "$WORK/send.out")

say "alice reads her own thread"
"$XMLBUS" history -e "$ENDPOINT" "${alice[@]}" "$THREAD" || fail "alice may read her thread"

say "alice asks for the stats: denied (an admin's verb)"
if "$XMLBUS" stats -e "$ENDPOINT" "${alice[@]}" 2>"$WORK/a.err"; then
    fail "alice read the stats"
fi
cat "$WORK/a.err"
grep -q denied "$WORK/a.err" || fail "alice's refusal does not say denied"

say "ops (an admin key) reads the stats"
"$XMLBUS" stats -e "$ENDPOINT" "${ops[@]}" || fail "ops could not read the stats"

say "stopping the pump (SIGTERM)"
mapfile -t CHILDREN < <(pgrep -P "$PUMP_PID" || true)
stop_pump_and_check "listener processes" "${CHILDREN[@]}"
echo "pump exited 0, no listener process left"

say "demo-secure: OK"
