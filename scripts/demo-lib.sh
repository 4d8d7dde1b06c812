# shellcheck shell=bash
# Shared by the scripts/demo*.sh (sourced, not run).
# Expects DEMO (the script's name for messages), LOG (the pump's log) and
# PUMP_PID (empty until the pump runs) to be set by the caller, or DEMO and a
# call of demo_begin.

say() { printf '\n== %s\n' "$*"; }

# The start of a demo that sets only DEMO: a temporary folder WORK (removed
# at exit) holding the pump's LOG and ENDPOINT_FILE, and traps that stop the
# pump and the listener processes recorded in CHILDREN whatever happens.
demo_begin() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/xmlbus-$DEMO.XXXXXX")
    LOG=$WORK/pump.log
    ENDPOINT_FILE=$WORK/endpoint
    PUMP_PID=
    CHILDREN=()
    trap demo_cleanup EXIT
    trap 'exit 130' INT TERM
}

demo_cleanup() {
    local rc=$?
    stop_pump_now
    for pid in "${CHILDREN[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$rc"
}

fail() {
    echo >&2
    echo "$DEMO: FAILED: $*" >&2
    if [ -s "$LOG" ]; then
        echo "---- pump log (last 60 lines of $LOG) ----" >&2
        tail -n 60 "$LOG" >&2
        echo "---- end of pump log ----" >&2
    fi
    exit 1
}

# SIGTERM to the pump if it still runs, 10 s to leave, then SIGKILL; reaps it.
stop_pump_now() {
    if [ -n "$PUMP_PID" ] && kill -0 "$PUMP_PID" 2>/dev/null; then
        kill -TERM "$PUMP_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$PUMP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PUMP_PID" 2>/dev/null || true
        wait "$PUMP_PID" 2>/dev/null || true
    fi
}

# Running and not a zombie (an exited child stays a zombie until `wait`, and
# a container's pid 1 may never reap the orphans it inherits).
alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$stat" ] && [[ $stat != Z* ]]
}
pump_alive() { alive "$PUMP_PID"; }

# SIGTERM to the pump; fails unless it exits 0 within STOP_TIMEOUT seconds
# and none of the given pids (what it had started, named WHAT) outlives it.
stop_pump_and_check() {
    local what=$1
    shift
    kill -TERM "$PUMP_PID"
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while pump_alive; do
        [ $SECONDS -lt $deadline ] || fail "the pump did not exit within ${STOP_TIMEOUT} s of SIGTERM"
        sleep 0.1
    done
    local status
    set +e
    wait "$PUMP_PID"
    status=$?
    set -e
    PUMP_PID=
    [ $status -eq 0 ] || fail "the pump exited with status $status"
    local left=() pid
    for pid in "$@"; do
        if alive "$pid"; then left+=("$pid"); fi
    done
    [ ${#left[@]} -eq 0 ] || fail "$what still running after the pump exited: ${left[*]}"
}

# Starts `xmlbus run CONFIG` on a free loopback port in the background
# (its log in LOG) and waits up to START_TIMEOUT seconds until it has bound:
# sets PUMP_PID and ENDPOINT. Expects XMLBUS and ENDPOINT_FILE.
start_pump() {
    "$XMLBUS" run "$1" --endpoint 'tcp://127.0.0.1:*' \
        --endpoint-file "$ENDPOINT_FILE" --log-level info >"$LOG" 2>&1 &
    PUMP_PID=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    until [ -s "$ENDPOINT_FILE" ]; do
        pump_alive || fail "the pump exited before binding its endpoint"
        [ $SECONDS -lt $deadline ] || fail "the pump did not bind within ${START_TIMEOUT} s"
        sleep 0.1
    done
    ENDPOINT=$(cat "$ENDPOINT_FILE")
}

# Waits up to START_TIMEOUT seconds until the pump answers `xmlbus ping`
# (ARGS: more options of ping, such as --key FILE).
wait_ping() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$XMLBUS" ping -e "$ENDPOINT" "$@" --timeout 1 >/dev/null 2>&1; do
        pump_alive || fail "the pump exited before answering"
        [ $SECONDS -lt $deadline ] || fail "the pump did not answer a ping within ${START_TIMEOUT} s"
        sleep 0.2
    done
}
