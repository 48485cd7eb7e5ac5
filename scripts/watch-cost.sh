#!/usr/bin/env bash
# What `leaktop watch` costs when nothing happens: CPU (percent of one core) and
# resident memory of the watcher on this machine plus N idle processes (2,000 by
# default), with the kernel's connector (as root) and without it (pidfds at the
# default 10 s scans), then during a fork storm (scripts/orphan-storm.py).
#
#   scripts/watch-cost.sh [SECONDS] [IDLE_PROCESSES] [STORM_SECONDS]
#
# Builds the release binary first. Everything it starts is ended when it exits.
# Other work on the machine makes process events too (a build forks thousands a
# second): the connector's figure includes them, and the script says how many
# processes were forked meanwhile, from /proc/stat. Compare each watcher's share of a
# core with the full pass's at one a second (issue 24's goal: under 1% of it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
idle=${2:-2000}
storm=${3:-60}
cargo build --release --locked -q
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
leaktop="$target/release/leaktop"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# N idle processes, children of this script (ended by pid on exit).
for _ in $(seq "$idle"); do
  sleep 100000 &
  pids+=("$!")
done
hz=$(getconf CLK_TCK)
forks() { awk '/^processes/ {print $2}' /proc/stat; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Runs the watcher with the environment $1, waits 10 s, then measures for $seconds.
measure() {
  local label=$1; shift
  rm -rf "$work/journal"
  env LEAKTOP_NO_CONFIG=1 "$@" "$leaktop" watch --quiet --journal "$work/journal" 2>"$work/err" &
  local w=$!
  pids+=("$w")
  sleep 10
  local t0 c0 f0
  t0=$(date +%s.%N); c0=$(cpu_ticks "$w"); f0=$(forks)
  sleep "$seconds"
  local t1 c1 f1
  t1=$(date +%s.%N); c1=$(cpu_ticks "$w"); f1=$(forks)
  local procs
  procs=$(ls /proc | grep -c '^[0-9]')
  python3 - "$label" "$t0" "$t1" "$c0" "$c1" "$hz" "$(kb "$w" VmRSS)" "$(kb "$w" VmHWM)" "$((f1 - f0))" "$procs" <<'PY'
import sys
label, t0, t1, c0, c1, hz, rss, hwm, forked, procs = sys.argv[1:]
wall = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / int(hz)
print(f"{label}: {100 * cpu / wall:.3f}% of a core over {wall:.0f} s; RSS {int(rss) / 1024:.1f} MiB "
      f"(peak {int(hwm) / 1024:.1f} MiB); {procs} processes; {forked} forked meanwhile "
      f"({int(forked) / wall:.0f}/s)")
PY
  head -1 "$work/err"
  kill "$w"; wait "$w" 2>/dev/null || true
}

# What one full pass over /proc costs here (every process's stat opened, read and
# closed: what a tick of a sampler that reads everything pays), median of 20 passes,
# the CPU of `sh` and `cat` from getrusage (their start-up included, about 1 ms).
full_pass_ms=$(python3 - <<'PY'
import resource, statistics, subprocess
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
costs = []
for _ in range(20):
    before = cpu()
    subprocess.run(["sh", "-c", "cat /proc/[0-9]*/stat > /dev/null 2>&1"])
    costs.append((cpu() - before) * 1000)
print(f"{statistics.median(costs):.1f}")
PY
)
pass_share=$(python3 -c 'import sys; print(f"{float(sys.argv[1]) / 10:.2f}")' "$full_pass_ms")
echo "one full /proc pass: $full_pass_ms ms of CPU ($(ls /proc | grep -c '^[0-9]') processes); one a second is $pass_share% of a core"

measure "connector" env
measure "pidfd (no connector)" env LEAKTOP_NO_CONNECTOR=1

# A fork storm: a thousand forks a second, each an orphaning, against a full journal
# (a 1 MiB cap, so it rotates throughout).
rm -rf "$work/journal"
env LEAKTOP_NO_CONFIG=1 "$leaktop" watch --quiet --journal "$work/journal" --journal-max 1MiB 2>"$work/err" &
w=$!
pids+=("$w")
sleep 10
idle_rss=$(kb "$w" VmRSS)
c0=$(cpu_ticks "$w"); t0=$(date +%s.%N)
# The journal's largest size during the storm, sampled every second.
( largest=0
  while :; do
    now=$(du -sb "$work/journal" 2>/dev/null | cut -f1)
    [ "${now:-0}" -gt "$largest" ] && largest=$now && echo "$largest" > "$work/largest"
    sleep 1
  done ) &
pids+=("$!")
python3 scripts/orphan-storm.py --rate 1000 --seconds "$storm"
c1=$(cpu_ticks "$w"); t1=$(date +%s.%N)
sleep 2
python3 - "$t0" "$t1" "$c0" "$c1" "$hz" "$idle_rss" "$(kb "$w" VmRSS)" "$(kb "$w" VmHWM)" "$(du -sb "$work/journal" | cut -f1)" <<'PY'
import sys
t0, t1, c0, c1, hz, idle, rss, hwm, journal = sys.argv[1:]
wall = float(t1) - float(t0)
print(f"fork storm: {100 * (int(c1) - int(c0)) / int(hz) / wall:.1f}% of a core; RSS {int(idle) / 1024:.1f} MiB "
      f"before, {int(rss) / 1024:.1f} MiB after (peak {int(hwm) / 1024:.1f} MiB, {int(hwm) / int(idle):.2f}x); "
      f"journal {int(journal) / 1024:.0f} KiB of a 1024 KiB cap")
PY
lost=$(cat "$work"/journal/journal-*.ndjson | grep -c '"type":"lost"' || true)
echo "fork storm: $lost loss records in the journal's last 1 MiB; the journal's largest size during it: $(( $(cat "$work/largest") / 1024 )) KiB"
kill "$w"; wait "$w" 2>/dev/null || true
