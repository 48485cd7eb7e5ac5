#!/usr/bin/env bash
# Peak memory of `leaktop report` and `leaktop replay` on a *wide* recording: many
# distinct short-lived processes (a pool forking a fresh worker per job), where a long
# recording has the same processes tick after tick. The recording is made up by a small
# generator (no process is really forked): WIDTH workers per tick, each living LIFE
# ticks, a few of them leaking, until PROCESSES distinct processes have been seen.
# Peak RSS comes from /usr/bin/time -v; replay runs in a tmux window of its own until it
# has loaded the whole file, then quits.
#
#   scripts/wide-recording.sh [PROCESSES] [LEAKTOP...]
#
# PROCESSES defaults to 2,000,000 (a text file of about 500 MB in /tmp, removed after);
# each LEAKTOP binary given is measured in turn (default: a release build of this tree),
# so that two builds compare on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
processes="${1:-2000000}"
shift || true
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  cargo build --quiet --release --bin leaktop
  binaries=("${CARGO_TARGET_DIR:-target}/release/leaktop")
fi
work=$(mktemp -d)
session="leaktop-wide-$$"
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

file="$work/wide.ticklog"
python3 - "$processes" "$file" <<'EOF'
import sys

processes, path = int(sys.argv[1]), sys.argv[2]
WIDTH, LIFE, LEAK_EVERY = 100, 1, 100_000
root, root_start = 1000, 500
out = open(path, "w", buffering=1 << 20)
out.write(
    "# leaktop-ticklog v1\n"
    f"# root: {root} start={root_start} cmd: /usr/bin/pool --workers {WIDTH}\n"
    "# interval: 1s\n# started: 2026-12-01T00:00:00.000Z\n# host: generator\n\n"
)

def clock(ms):
    s = ms // 1000
    return f"2026-12-01T{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms % 1000:03d}Z"

def row(prefix, pid, ppid, start, rss, leaked, since=None, cmd=None):
    mark = f" LEAKED since={since}" if leaked else ""
    parent = f"{ppid} (reparented from {root})" if leaked else f"{ppid}"
    cmd = cmd or f"/usr/bin/worker --job {pid} --queue default"
    return (f"{prefix}{pid} worker PPID={parent} state=S RSS=x ({rss} KiB) cpu=0.010s "
            f"start={start}{mark} cmd: {cmd}\n")

live = []        # (pid, start, born tick)
leaked = []      # (pid, start, since)
next_pid, seen, tick = 2000, 0, 0
while seen < processes or live:
    tick += 1
    events = []
    for p in [p for p in live if tick - p[2] >= LIFE]:
        live.remove(p)
        if p[0] % LEAK_EVERY == 0:
            leaked.append((p[0], p[1], tick))
            events.append(f"* reparented {p[0]} start={p[1]} from={root} to=1\n")
        else:
            events.append(f"* exited {p[0]} start={p[1]}\n")
    while len(live) < WIDTH and seen < processes:
        p = (next_pid, 10 * next_pid, tick)
        live.append(p)
        if tick > 1:
            events.append(f"* spawned {p[0]} start={p[1]} ppid={root}\n")
        next_pid += 1
        seen += 1
    rows = [row("", root, 1, root_start, 20480, False, cmd=f"/usr/bin/pool --workers {WIDTH}")]
    for i, (pid, start, _) in enumerate(live):
        rows.append(row("└── " if i == len(live) - 1 else "├── ", pid, root, start, 1024, False))
    for pid, start, since in leaked:
        rows.append(row("", pid, 1, start, 2048, True, since))
    total = 20480 + 1024 * len(live) + 2048 * len(leaked)
    out.write(
        f"tick {tick} +{tick - 1}.000s {clock(tick * 1000)} procs={len(rows)} "
        f"rss=x ({total} KiB) leaked={len(leaked)} leaked_rss=x ({2048 * len(leaked)} KiB) "
        f"root=alive\n"
    )
    out.write("".join(rows))
    out.write("".join(events))
    out.write("\n")
out.close()
print(f"{seen} distinct processes in {tick} ticks", file=sys.stderr)
EOF
echo "recording: $(du -m "$file" | cut -f1) MB, $processes distinct processes"

peak() { awk -F': ' '/Maximum resident set size/ {printf "%.0f MB", $2 / 1024}' "$1"; }
for leaktop in "${binaries[@]}"; do
  /usr/bin/time -v -o "$work/report.time" "$leaktop" report "$file" >"$work/report.out" 2>"$work/report.err" || true
  echo "$leaktop report: peak RSS $(peak "$work/report.time"), exit $(awk -F': ' '/Exit status/ {print $2}' "$work/report.time"), $(grep -c . "$work/report.out") lines of report"
  # The view loads the file in the background; it says so once it has read it all.
  tmux new-session -d -s "$session" -x 120 -y 40 \
    "/usr/bin/time -v -o $work/replay.time $leaktop replay $file 2>$work/replay.err"
  for _ in $(seq 1200); do
    if tmux capture-pane -p -t "$session" 2>/dev/null | grep -q "this is a recording"; then break; fi
    sleep 0.5
  done
  tmux send-keys -t "$session" q
  for _ in $(seq 60); do [ -s "$work/replay.time" ] && break; sleep 0.5; done
  tmux kill-session -t "$session" 2>/dev/null || true
  echo "$leaktop replay: peak RSS $(peak "$work/replay.time") once the whole file was loaded"
done
