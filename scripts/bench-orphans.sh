#!/usr/bin/env bash
# CPU of one `leaktop orphans` scan on a machine with ~2,000 processes, 200 of them
# orphan candidates: 1,800 sleepers under a live parent (not orphans) and 20 jobs,
# each a process-group leader that forks 10 sleepers and dies (200 orphans, 20 groups).
# Medians of 5 runs of user+sys (10 ms steps), with and without PSS, beside the floor:
# one `cat` of every /proc/PID/stat. Everything is killed on exit.
#
#   scripts/bench-orphans.sh [LEAKTOP]
set -euo pipefail
cd "$(dirname "$0")/.."
leaktop="${1:-}"
if [ -z "$leaktop" ]; then
  cargo build --quiet --release --bin leaktop
  leaktop="${CARGO_TARGET_DIR:-target}/release/leaktop"
fi
# A fractional sleep (3600.0PID s) tags this run's processes in their command lines.
tag="3600.0$$"
pgids=()
cleanup() { for g in "${pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

setsid sh -c "i=0; while [ \$i -lt 1800 ]; do sleep 3600 & i=\$((i+1)); done; exec sleep $tag" </dev/null >/dev/null 2>&1 &
pgids+=($!)
for j in $(seq 20); do
  # A job of its own (setsid: group and session leader) that leaves 10 sleepers, their
  # stdout on a pipe (as a crashed server's workers' often is): not daemons by design.
  setsid sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do sleep $tag & done; sleep 0.2" </dev/null > >(cat >/dev/null) 2>&1 &
  pgids+=($!)
done
sleep 5
echo "$(ls /proc | grep -c '^[0-9]') processes on the machine"
measure() {
  local runs=() out
  out=$(mktemp)
  for _ in 1 2 3 4 5; do
    /usr/bin/time -o "$out" -f '%U %S' "$leaktop" orphans "$@" >/dev/null 2>&1 || true
    runs+=("$(awk '{printf "%d", ($1+$2)*1000}' "$out")")
  done
  rm -f "$out"
  echo "$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) [$(printf '%s ' "${runs[@]}")]"
}
groups=$("$leaktop" orphans --match "$tag" --json --no-pss 2>/dev/null | python3 -c 'import json,sys; g=json.load(sys.stdin)["groups"]; print(len(g), sum(len(x["processes"]) for x in g))')
echo "orphan groups and processes of this script: $groups"
floor() {
  local runs=() out
  out=$(mktemp)
  for _ in 1 2 3 4 5; do
    /usr/bin/time -o "$out" -f '%U %S' sh -c 'cat /proc/[0-9]*/stat' >/dev/null 2>&1 || true
    runs+=("$(awk '{printf "%d", ($1+$2)*1000}' "$out")")
  done
  rm -f "$out"
  echo "$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) [$(printf '%s ' "${runs[@]}")]"
}
echo "floor: cat /proc/[0-9]*/stat once: $(floor) ms CPU (median [runs])"
echo "leaktop orphans --no-pss: $(measure --no-pss) ms CPU (median [runs])"
echo "leaktop orphans (PSS of the listed): $(measure) ms CPU (median [runs])"
