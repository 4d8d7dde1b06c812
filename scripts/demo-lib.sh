# shellcheck shell=bash
# Shared by scripts/demo.sh and scripts/demo-primes.sh (sourced, not run).
# Expects DEMO (the script's name for messages), LOG (the pump's log) and
# PUMP_PID (empty until the pump runs) to be set by the caller.

say() { printf '\n== %s\n' "$*"; }

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
