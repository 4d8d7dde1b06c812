#!/usr/bin/env bash
# scripts/demo-primes.sh [BUILD_DIR]: runs the primes organism end to end.
#
# Starts `xmlbus run examples/primes/organism.yaml` in the background on a
# free loopback port, waits until its two `factor` workers have registered,
# sends the numbers of examples/primes/numbers.txt all at once (one
# `xmlbus send --wait --count 1` per number, in background jobs), prints the
# factors of each number and the pid of the worker that found them, shows
# `xmlbus stats` with the per-worker counters, then stops the pump with
# SIGTERM and checks that it exited 0 and that no worker is left. Any failure
# prints the pump's log and exits non-zero. Needs no terminal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
XMLBUS=$BUILD/bin/xmlbus
PRIMES=$ROOT/examples/primes
WORKERS_WANTED=2   # `workers: 2` in examples/primes/organism.yaml
START_TIMEOUT=30   # seconds for the pump to bind and its workers to register
SEND_TIMEOUT=120   # seconds each `xmlbus send` may take, the wait included
STOP_TIMEOUT=30    # seconds for the pump to exit after SIGTERM

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xmlbus-primes.XXXXXX")
LOG=$WORK/pump.log
ENDPOINT_FILE=$WORK/endpoint
PUMP_PID=
WORKERS=()
SENDERS=()

DEMO=demo-primes
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"

# Stops what this script started and is still running, by recorded pid only:
# the senders, the pump, then the workers it had started.
cleanup() {
    local rc=$?
    for pid in "${SENDERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    stop_pump_now
    for pid in "${WORKERS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$XMLBUS" ] || fail "$XMLBUS not found: run 'make build' first (or pass the build folder)"
[ -x "$BUILD/bin/primes-factor" ] || fail "$BUILD/bin/primes-factor not found: run 'make build'"
[ -f "$PRIMES/organism.yaml" ] || fail "$PRIMES/organism.yaml not found"


# The <worker .../> elements of listener factor in `xmlbus stats --xml`, one a line.
worker_rows() {
    "$XMLBUS" stats -e "$ENDPOINT" --xml --timeout 5 2>/dev/null |
        sed 's/>/>\n/g' |
        sed -n '/<listener name="factor"/,/<\/listener>/p' | grep -o '<worker [^>]*>' || true
}
attr() { sed -n "s/.* $1=\"\\([^\"]*\\)\".*/\\1/p"; }

say "starting the primes organism (log: $LOG)"
start_pump "$PRIMES/organism.yaml"
deadline=$((SECONDS + START_TIMEOUT))
echo "pump pid $PUMP_PID serving on $ENDPOINT"

# Both workers registered (otherwise the first numbers all queue for one).
until [ "$(worker_rows | grep -c 'state="idle"')" -eq $WORKERS_WANTED ]; do
    pump_alive || fail "the pump exited before its workers registered"
    [ $SECONDS -lt $deadline ] || fail "the $WORKERS_WANTED workers did not register within ${START_TIMEOUT} s"
    sleep 0.2
done
mapfile -t WORKERS < <(worker_rows | attr pid)
echo "workers of listener factor: ${WORKERS[*]}"

mapfile -t NUMBERS < <(grep -Ev '^[[:space:]]*(#|$)' "$PRIMES/numbers.txt" | tr -d '[:blank:]')
[ ${#NUMBERS[@]} -gt 0 ] || fail "no numbers in $PRIMES/numbers.txt"

say "sending ${#NUMBERS[@]} numbers at once (xmlbus send --wait --count 1, one per number)"
for i in "${!NUMBERS[@]}"; do
    printf '<factorize><n>%s</n></factorize>\n' "${NUMBERS[$i]}" |
        "$XMLBUS" send -e "$ENDPOINT" --wait --count 1 --timeout $SEND_TIMEOUT - \
            >"$WORK/out.$i" 2>"$WORK/err.$i" &
    SENDERS+=($!)
done
for i in "${!SENDERS[@]}"; do
    set +e
    wait "${SENDERS[$i]}"
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        cat "$WORK/out.$i" "$WORK/err.$i" >&2
        fail "xmlbus send of ${NUMBERS[$i]} exited $rc"
    fi
done
SENDERS=()

say "answers"
declare -A PER_PID=()
for i in "${!NUMBERS[@]}"; do
    n=${NUMBERS[$i]}
    answer=$(sed -n '2p' "$WORK/out.$i")
    [[ $answer == "from factor: <factors>"* ]] || fail "unexpected answer for $n: $answer"
    got_n=$(sed -n 's/.*<n>\([0-9]*\)<\/n>.*/\1/p' <<<"$answer")
    pid=$(sed -n 's/.*<pid>\([0-9]*\)<\/pid>.*/\1/p' <<<"$answer")
    ms=$(sed -n 's/.*<ms>\([0-9]*\)<\/ms>.*/\1/p' <<<"$answer")
    mapfile -t factors < <(grep -o '<factor>[0-9]*</factor>' <<<"$answer" | tr -dc '0-9\n')
    [ "$got_n" = "$n" ] || fail "the answer for $n is about $got_n"
    [ ${#factors[@]} -gt 0 ] || fail "no factors for $n"
    # Check the product where bash arithmetic (signed 64-bit) surely holds
    # it: up to 18 digits.
    if [ ${#n} -le 18 ]; then
        product=1
        for f in "${factors[@]}"; do product=$((product * f)); done
        [ "$product" = "$n" ] || fail "the factors of $n multiply to $product"
    fi
    [[ " ${WORKERS[*]} " == *" $pid "* ]] || fail "$n was answered by pid $pid, not one of the workers (${WORKERS[*]})"
    PER_PID[$pid]=$(( ${PER_PID[$pid]:-0} + 1 ))
    joined=$(printf ' x %s' "${factors[@]}")
    printf '%20s = %-34s worker pid %-7s %5s ms\n' "$n" "${joined:3}" "$pid" "$ms"
done

say "who did the work"
for pid in "${WORKERS[@]}"; do
    echo "worker pid $pid answered ${PER_PID[$pid]:-0} of ${#NUMBERS[@]} numbers"
    [ "${PER_PID[$pid]:-0}" -gt 0 ] || fail "worker $pid answered nothing: the work was not spread"
done

say "xmlbus stats"
"$XMLBUS" stats -e "$ENDPOINT" || fail "xmlbus stats failed"

say "the workers of factor (xmlbus stats --xml: <worker pid state handled restarts busy-ms>)"
total=0
while read -r row; do
    pid=$(attr pid <<<"$row")
    handled=$(attr handled <<<"$row")
    printf 'pid %-7s state %-8s handled %-3s restarts %-3s busy-ms %s\n' "$pid" \
        "$(attr state <<<"$row")" "$handled" "$(attr restarts <<<"$row")" "$(attr busy-ms <<<"$row")"
    [ "$handled" -gt 0 ] || fail "the stats say worker $pid handled nothing"
    [ "$handled" -eq "${PER_PID[$pid]:-0}" ] || fail "the stats say worker $pid handled $handled, the answers say ${PER_PID[$pid]:-0}"
    total=$((total + handled))
done < <(worker_rows)
[ $total -eq ${#NUMBERS[@]} ] || fail "the workers handled $total messages, ${#NUMBERS[@]} were sent"

say "stopping the pump (SIGTERM)"
stop_pump_and_check "workers" "${WORKERS[@]}"
echo "pump exited 0, no worker left"

say "demo-primes: OK"
