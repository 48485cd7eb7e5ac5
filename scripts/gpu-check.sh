#!/usr/bin/env bash
# GPU memory held by an orphan, end to end, on a machine with an NVIDIA GPU and its
# driver (no CUDA toolkit or framework: Python's ctypes on libcuda.so.1).
#
# 1. "own": a parent (its own session and process group) starts a child that creates a
#    CUDA context (cuInit, cuCtxCreate) and allocates SIZE_MB with cuMemAlloc, then
#    sleeps. The parent is SIGKILLed: the child is an orphan that NVML lists.
#    `leaktop orphans --json` must report for it at least SIZE_MB and at most SIZE_MB
#    plus the context's overhead (OVERHEAD_MB); after `leaktop orphans --kill`, the
#    GPU's memory.used (nvidia-smi) must drop by about what leaktop reported.
# 2. "inherited": the parent itself creates the context and allocates, then forks a
#    child that inherits its descriptors, and is SIGKILLed: NVML reports the parent's
#    pid, which is gone, while the child holds /dev/nvidia* (the shape of
#    PaddleOCR#2074). leaktop must say so, and --kill must give the memory back.
#
#   scripts/gpu-check.sh [LEAKTOP]        SIZE_MB=1024 OVERHEAD_MB=1024 GPU=0
#
# Exit status: 0 every check passed, 1 a check failed, 2 it cannot run here (no NVIDIA
# GPU, driver, libcuda.so.1 or python3): nothing was checked then.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB="${SIZE_MB:-1024}"
OVERHEAD_MB="${OVERHEAD_MB:-1024}"
GPU="${GPU:-0}"

cannot() { echo "gpu-check: cannot run here: $*; nothing was checked" >&2; exit 2; }
command -v nvidia-smi >/dev/null || cannot "no nvidia-smi (no NVIDIA driver on this machine)"
nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || cannot "nvidia-smi lists no GPU"
command -v python3 >/dev/null || cannot "no python3"
python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null \
  || cannot "libcuda.so.1 does not load (no CUDA driver library)"

leaktop="${1:-}"
if [ -z "$leaktop" ]; then
  cargo build --quiet --release --bin leaktop
  leaktop="${CARGO_TARGET_DIR:-target}/release/leaktop"
fi

work="$(mktemp -d)"
pgids=()
cleanup() {
  for g in "${pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The CUDA driver API through ctypes: a context on device $GPU and SIZE_MB allocated.
cat >"$work/cuda.py" <<'EOF'
import ctypes, os, sys

def allocate(gpu, size_mb):
    cuda = ctypes.CDLL("libcuda.so.1")
    def check(what, rc):
        if rc != 0:
            sys.exit(f"{what} failed: CUresult {rc}")
    check("cuInit", cuda.cuInit(0))
    dev = ctypes.c_int()
    check("cuDeviceGet", cuda.cuDeviceGet(ctypes.byref(dev), gpu))
    ctx = ctypes.c_void_p()
    check("cuCtxCreate", cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev))
    ptr = ctypes.c_uint64()
    check("cuMemAlloc", cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(size_mb << 20)))
    # Touch it, so nothing is left to lazy allocation.
    check("cuMemsetD8", cuda.cuMemsetD8_v2(ptr, 1, ctypes.c_size_t(size_mb << 20)))
    check("cuCtxSynchronize", cuda.cuCtxSynchronize())
    return cuda

def ready(path, pid):
    with open(path + ".tmp", "w") as f:
        f.write(f"{pid}\n")
    os.rename(path + ".tmp", path)
EOF

cat >"$work/own.py" <<'EOF'
# The parent: starts the child that allocates, then waits to be killed.
import os, subprocess, sys, time
gpu, size_mb, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import cuda
cuda.allocate({gpu}, {size_mb})
cuda.ready({ready!r}, __import__("os").getpid())
time.sleep(3600)
"""])
time.sleep(3600)
EOF

cat >"$work/inherited.py" <<'EOF'
# The parent allocates itself, then forks a child that inherits its descriptors.
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cuda
gpu, size_mb, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cuda.allocate(gpu, size_mb)
pid = os.fork()
if pid == 0:
    # No CUDA call here (a forked child cannot use the context): it only holds it.
    time.sleep(3600)
    os._exit(0)
cuda.ready(ready, pid)
time.sleep(3600)
EOF

used_mb() { nvidia-smi -i "$GPU" --query-gpu=memory.used --format=csv,noheader,nounits | tr -d ' '; }
ppid_of() { awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null || true; }
reparented() { [ "$(ppid_of "$1")" != "$2" ]; } # PID FORMER_PARENT
gone() { ! kill -0 "$1" 2>/dev/null; }
dropped_by() { [ $(($1 - $(used_mb))) -ge "$2" ]; } # FROM_MB AT_LEAST_MB
wait_for() { # SECONDS COMMAND...: polls every 0.2 s
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Runs one scenario: $1 its name, $2 its script. Prints what it saw.
scenario() {
  local name="$1" script="$2" ready="$work/$1.ready"
  local before parent child
  before="$(used_mb)"
  # Its own session and group, stdout on a pipe (not a daemon by design).
  setsid python3 "$work/$script" "$GPU" "$SIZE_MB" "$ready" </dev/null > >(cat >/dev/null) 2>"$work/$name.err" &
  parent=$!
  pgids+=("$parent")
  if ! wait_for 120 test -e "$ready"; then
    fail "$name: the CUDA allocation did not finish: $(cat "$work/$name.err")"
    return
  fi
  child="$(cat "$ready")"
  echo "== $name: parent $parent, child $child; memory.used $before -> $(used_mb) MiB"
  kill -KILL "$parent"
  wait "$parent" 2>/dev/null || true
  wait_for 10 reparented "$child" "$parent" || fail "$name: $child was not reparented"
  local json="$work/$name.json"
  "$leaktop" orphans --json --older-than 0s --group "pg-$parent" >"$json" || fail "$name: leaktop orphans failed"
  echo "leaktop orphans --json: $(cat "$json")"
  python3 - "$json" "$name" "$parent" "$child" "$SIZE_MB" "$OVERHEAD_MB" <<'EOF' || failures=$((failures + 1))
import json, sys
path, name, parent, child, size_mb, overhead_mb = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
v = json.load(open(path))
groups = v["groups"]
assert groups, f"no group pg-{parent}"
g = groups[0]
p = next(p for p in g["processes"] if p["pid"] == child)
low, high = size_mb * 1024, (size_mb + overhead_mb) * 1024
if name == "own":
    kb = p["gpu_kb"]
    assert kb is not None, f"{child}'s GPU memory is unknown"
    assert low <= kb <= high, f"{child}: gpu_kb {kb} not in [{low}, {high}]"
    assert g["gpu_kb"] == kb, f"group gpu_kb {g['gpu_kb']} != {kb}"
    print(f"PASS: {name}: {child} holds {kb} KiB, in [{low}, {high}]")
else:
    notes = " | ".join(g["gpu_notes"])
    want = f"NVML reports pid {parent} "
    assert want in notes and f"which is gone; {child} holds /dev/nvidia" in notes, notes or "no GPU notes"
    assert p["gpu_kb"] is None, f"{child}'s share should be unknown, is {p['gpu_kb']}"
    print(f"PASS: {name}: {notes}")
EOF
  local reported_kb
  reported_kb="$(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["groups"]; print((g and g[0]["gpu_kb"]) or 0)' "$json")"
  local held
  held="$(used_mb)"
  "$leaktop" orphans --kill --yes --group "pg-$parent" --older-than 0s | tee "$work/$name.kill"
  wait_for 10 gone "$child" || fail "$name: $child survived --kill"
  # The driver frees the memory once the last descriptor closes: allow it a moment.
  local want_mb=$((SIZE_MB * 9 / 10))
  if wait_for 30 dropped_by "$held" "$want_mb"; then
    echo "PASS: $name: memory.used $held -> $(used_mb) MiB after --kill (leaktop reported $((reported_kb / 1024)) MiB)"
  else
    fail "$name: memory.used $held -> $(used_mb) MiB after --kill: dropped less than $want_mb MiB"
  fi
  if [ "$name" = own ] && [ "$reported_kb" -gt 0 ]; then
    local dropped=$((held - $(used_mb)))
    local diff=$((dropped - reported_kb / 1024))
    [ "${diff#-}" -le 64 ] || fail "own: memory.used dropped $dropped MiB; leaktop reported $((reported_kb / 1024)) MiB"
  fi
}

nvidia-smi -L
scenario own own.py
scenario inherited inherited.py
if [ "$failures" -eq 0 ]; then
  echo "gpu-check: every check passed on $(nvidia-smi -i "$GPU" --query-gpu=name --format=csv,noheader)"
else
  echo "gpu-check: $failures check(s) failed"
  exit 1
fi
