#!/usr/bin/env bash
# Can idle clients starve the --metrics server? Starts `leaktop record --metrics
# 127.0.0.1:0` on a sleeper, then, on loopback only:
#   1. times 20 scrapes alone (the baseline);
#   2. opens IDLE connections that never send a byte (default 300) and SLOW ones that
#      trickle their request a byte every 0.5 s (default 50), and times 20 scrapes
#      among them: each must succeed within 100 ms;
#   3. fires BURST scrapes at once (default 2000, from 200 threads) and counts the
#      ones dropped or failed.
# Prints the figures and exits 1 if a scrape among idle clients failed or took 100 ms
# or more. Bounded: at most IDLE + SLOW + 200 sockets, and 60 s in all; everything it
# starts is killed on exit.
#
#   scripts/metrics-starve.sh [--idle N] [--slow N] [--burst N] [--leaktop PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
leaktop=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --leaktop) leaktop="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ -z "$leaktop" ]; then
    cargo build --bin leaktop
    leaktop="${CARGO_TARGET_DIR:-target}/debug/leaktop"
fi
exec timeout 60 python3 - "$leaktop" "${args[@]}" <<'EOF'
import argparse, os, socket, statistics, subprocess, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument("leaktop")
p.add_argument("--idle", type=int, default=300)
p.add_argument("--slow", type=int, default=50)
p.add_argument("--burst", type=int, default=2000)
a = p.parse_args()
if not 0 <= a.idle <= 900 or not 0 <= a.slow <= 100 or not 0 <= a.burst <= 20000:
    sys.exit("--idle at most 900, --slow at most 100, --burst at most 20000")

sleeper = subprocess.Popen(["sleep", "120"])
rec = subprocess.Popen([a.leaktop, "record", "--pid", str(sleeper.pid), "--interval",
                        "200ms", "--metrics", "127.0.0.1:0", "--out", "/dev/null"],
                       stderr=subprocess.PIPE, text=True)
held = []
try:
    line = rec.stderr.readline()
    addr = line.strip().removeprefix("leaktop: serving metrics on http://").removesuffix("/metrics")
    host, port = addr.rsplit(":", 1)
    assert host == "127.0.0.1", line
    port = int(port)
    time.sleep(0.5)  # a tick or two published

    def scrape(timeout=5.0):
        """Seconds one GET /metrics took, or None if it failed."""
        t = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if data.startswith(b"HTTP/1.1 200") and data.endswith(b"# EOF\n"):
                return time.monotonic() - t
        except OSError:
            pass
        return None

    def ms(xs):
        ok = [x for x in xs if x is not None]
        if not ok:
            return "none answered"
        return (f"median {statistics.median(ok) * 1000:.1f} ms, max {max(ok) * 1000:.1f} ms, "
                f"{len(xs) - len(ok)} of {len(xs)} failed")

    base = [scrape() for _ in range(20)]
    print(f"alone: {ms(base)}")

    for _ in range(a.idle):
        held.append(socket.create_connection((host, port), timeout=2))
    stop = threading.Event()

    def trickle():
        try:
            s = socket.create_connection((host, port), timeout=2)
            for b in b"GET /metrics HTTP/1.1\r\n":
                if stop.wait(0.5):
                    break
                s.send(bytes([b]))
        except OSError:
            pass

    slow = [threading.Thread(target=trickle, daemon=True) for _ in range(a.slow)]
    for t in slow:
        t.start()
    time.sleep(0.2)
    among = [scrape() for _ in range(20)]
    print(f"among {a.idle} idle and {a.slow} slow clients: {ms(among)}")

    results = []
    lock = threading.Lock()
    per = max(1, a.burst // 200)

    def burst():
        mine = [scrape(timeout=10) for _ in range(per)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=burst) for _ in range(min(200, a.burst))]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    ok = sorted(x for x in results if x is not None)
    p99 = ok[int(len(ok) * 0.99) - 1] * 1000 if ok else float("nan")
    print(f"burst of {len(results)} scrapes from {len(threads)} threads in {took:.1f} s "
          f"(the idle clients still open): {len(results) - len(ok)} dropped or failed, "
          f"p99 {p99:.1f} ms")
    stop.set()
    bad = [x for x in among if x is None or x >= 0.1]
    if bad:
        print(f"FAIL: {len(bad)} of {len(among)} scrapes among idle clients failed or took 100 ms or more")
        sys.exit(1)
    print("ok: every scrape among idle clients answered within 100 ms")
finally:
    for s in held:
        s.close()
    rec.kill()
    rec.wait()
    sleeper.kill()
    sleeper.wait()
EOF
