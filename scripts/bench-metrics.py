#!/usr/bin/env python3
"""leaktop record's CPU per tick with --metrics on and scraped every second, against
the same without --metrics: interleaved pairs (the order alternating), each a whole
recording of the same family; CPU is the recorder's user + system time from wait4.

Prints every pair, then for each variant the median CPU per tick with its spread
(min to max), and the median of the pairs' ratios. Everything it starts is killed on
exit. See scripts/bench-metrics.sh."""
import argparse, os, signal, socket, statistics, subprocess, sys, threading, time


def family(n):
    """A shell keeping n sleepers: the family recorded."""
    script = " ".join(["sleep 3600 &"] * n) + " wait"
    return subprocess.Popen(["sh", "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scraper(addr, stop, counts):
    host, port = addr.rsplit(":", 1)
    while not stop.wait(1.0):
        try:
            with socket.create_connection((host, int(port)), timeout=2) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if b"leaktop_family_processes" in data:
                counts[0] += 1
        except OSError:
            counts[1] += 1


def one(leaktop, pid, ticks, interval_ms, metrics):
    args = [leaktop, "record", "--pid", str(pid), "--ticks", str(ticks),
            "--interval", f"{interval_ms}ms", "--out", "/dev/null"]
    if metrics:
        args += ["--metrics", "127.0.0.1:0"]
    else:
        args += ["--quiet"]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    stop, counts, t = threading.Event(), [0, 0], None
    if metrics:
        line = p.stderr.readline()
        addr = line.strip().removeprefix("leaktop: serving metrics on http://").removesuffix("/metrics")
        t = threading.Thread(target=scraper, args=(addr, stop, counts), daemon=True)
        t.start()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    if t:
        t.join()
    if p.returncode != 0:
        sys.exit(f"leaktop record failed ({p.returncode}): {p.stderr.read()}")
    return (usage.ru_utime + usage.ru_stime) / ticks * 1e3, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leaktop", required=True)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--family", type=int, default=50)
    o = ap.parse_args()
    if o.pairs < 1:
        sys.exit("--pairs must be 1 or more")
    fam = family(o.family)
    try:
        time.sleep(0.5)
        off, on, ratios = [], [], []
        print(f"family: sh + {o.family} sleepers; {o.ticks} ticks at {o.interval_ms} ms per run; "
              f"--metrics runs scraped every 1 s")
        for i in range(o.pairs):
            order = [False, True] if i % 2 == 0 else [True, False]
            got = {}
            for m in order:
                got[m] = one(o.leaktop, fam.pid, o.ticks, o.interval_ms, m)
            off.append(got[False][0])
            on.append(got[True][0])
            ratios.append(got[True][0] / got[False][0])
            scrapes, failed = got[True][1]
            print(f"pair {i + 1}: without {got[False][0]:.3f} ms/tick, with {got[True][0]:.3f} ms/tick "
                  f"({scrapes} scrapes, {failed} failed), ratio {ratios[-1]:.3f}")
        for name, xs in (("without --metrics", off), ("with --metrics", on)):
            print(f"{name:>18}: median {statistics.median(xs):.3f} ms CPU/tick "
                  f"(spread {min(xs):.3f} to {max(xs):.3f})")
        print(f"{'with / without':>18}: median ratio {statistics.median(ratios):.3f} "
              f"(spread {min(ratios):.3f} to {max(ratios):.3f}); "
              f"{(statistics.median(ratios) - 1) * 100:+.1f}%")
    finally:
        os.killpg(fam.pid, signal.SIGKILL)
        fam.wait()


if __name__ == "__main__":
    main()
