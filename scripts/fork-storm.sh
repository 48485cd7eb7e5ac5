#!/bin/sh
# A fork storm under `leaktop record` with process events: every leak is caught or
# its window is marked (`* events-lost`), never silent (issue 24).
#
# usage: scripts/fork-storm.sh [RATE [SECONDS [EVERY]]]   (defaults: 1000 60 100)
#   A root that leads neither its group nor its session forks RATE processes a second
#   for SECONDS; every EVERY-th one escapes (a subshell starts `setsid sleep 600` and
#   exits at once), the others exit at once. `leaktop record --pid ROOT --interval 1s`
#   watches it. Each escapee must be LEAKED in the recording, or the recording must
#   mark a loss of events; one that is neither is a silent miss (exit 1).
#   LEAKTOP: the binary (default: leaktop on PATH); KEEP=1 keeps the recording;
#   GRACE: the leak grace in seconds (default 1; the recording runs on a grace and two ticks
#   after the storm, so every escapee is judged). Everything started is killed at
#   the end. Prints one summary line; no timing is asserted.
#   Measured (2026-12-07, 2-core VM shared with other builds, debug build, root, the
#   connector): `fork-storm.sh 1000 10 100`: 100 escapes, 100 caught, 0 ticks marked
#   lost, 0 silent; `1000 3 100`: 30 of 30 caught. The 60 s default, release build,
#   the machine shared with three parallel builds: 600 escapes, 600 caught, 0 ticks
#   marked lost, 0 silent.
#   (An earlier version stopped 3 s after the storm under the 5 s default grace: its
#   escapees were caught, ESCAPED, but not yet LEAKED, and were counted as silent.)
set -eu
rate=${1:-1000}
secs=${2:-60}
every=${3:-100}
leaktop=${LEAKTOP:-leaktop}
grace=${GRACE:-1}
dir=$(mktemp -d)
out=$dir/storm.ticklog
mark=fork-storm-$$
FORK_STORM=$mark
export FORK_STORM

ours() { # the pids carrying this run's mark
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}
        p=${p%/environ}
        { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "FORK_STORM=$mark" && echo "$p"
    done
    return 0
}
cleanup() {
    [ -n "${rec:-}" ] && kill "$rec" 2>/dev/null || true
    for p in $(ours); do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "fork-storm: recording kept in $out" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT INT TERM

mkfifo "$dir/go"
# The root: a background job of this script, in its group and session.
sh -c '
    read go
    n=0
    s=0
    while [ "$s" -lt '"$secs"' ]; do
        now=$(date +%s)
        i=0
        while [ "$i" -lt '"$rate"' ]; do
            n=$((n + 1))
            i=$((i + 1))
            if [ $((n % '"$every"')) -eq 0 ]; then
                (setsid sleep 600 >/dev/null 2>&1 &)
            else
                (:) &
            fi
        done
        wait
        while [ "$(date +%s)" = "$now" ]; do sleep 0.02; done
        s=$((s + 1))
    done
    exec sleep 600
' <"$dir/go" &
root=$!
FORK_STORM= "$leaktop" record --quiet --pid "$root" --interval 1s --leak-grace "${grace}s" --out "$out" &
rec=$!
until grep -q '^tick 1 ' "$out" 2>/dev/null; do sleep 0.05; done
echo go >"$dir/go"
# The storm, then a grace and two ticks for the last escapes to be judged.
while [ "$(ps -o comm= -p "$root")" != sleep ]; do sleep 0.2; done
sleep "$grace"
sleep 3
kill -INT "$rec"
wait "$rec" || true
rec=

escapes=0 caught=0 marked=0 silent=0
grep -q '^\* events-lost ' "$out" && lost=yes || lost=no
for p in $(ours); do
    set -- $(ps -o sid=,comm= -p "$p" 2>/dev/null || true)
    [ "${1:-}" = "$p" ] && [ "${2:-}" = sleep ] || continue
    escapes=$((escapes + 1))
    if grep -Eq "(^|[ ─])$p sleep .* LEAKED" "$out"; then
        caught=$((caught + 1))
    elif [ "$lost" = yes ]; then
        marked=$((marked + 1))
    else
        silent=$((silent + 1))
        echo "fork-storm: escapee $p is neither leaked nor in a marked window" >&2
    fi
done
source=$(sed -n 's/^# events: //p' "$out")
losses=$(grep -c '^\* events-lost ' "$out" || true)
echo "fork-storm: $rate forks/s for ${secs}s, events from ${source:-?}: $escapes escapes, $caught caught, $marked in a window marked lost ($losses ticks marked), $silent silent"
[ "$silent" -eq 0 ] && [ "$escapes" -gt 0 ]
