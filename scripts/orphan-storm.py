#!/usr/bin/env python3
"""An orphan storm (a fork storm) for `leaktop watch`: RATE forks a second for SECONDS.

Each child forks a grandchild and exits at once, so every fork is also an orphaning
(the grandchild is adopted by init, or by the nearest subreaper) and, LINGER ms
later, a fate (the grandchild exits by itself). SIGCHLD is ignored, so nothing is
left as a zombie. Prints how many forks it made and at what rate on stderr.

    scripts/orphan-storm.py --rate 1000 --seconds 600
"""
import argparse
import os
import signal
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=1000, help="forks a second")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--linger-ms", type=float, default=50.0,
                    help="how long each orphaned grandchild lives")
    a = ap.parse_args()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    linger = a.linger_ms / 1000.0
    start = time.monotonic()
    made = 0
    while True:
        now = time.monotonic() - start
        if now >= a.seconds:
            break
        due = int(now * a.rate)
        # A machine slower than the rate never catches up: the deadline still holds.
        while made < due and time.monotonic() - start < a.seconds:
            pid = os.fork()
            if pid == 0:
                if os.fork() == 0:
                    time.sleep(linger)
                os._exit(0)
            made += 1
        time.sleep(0.001)
    took = time.monotonic() - start
    print(f"orphan-storm: {made} forks in {took:.1f} s ({made / took:.0f}/s, asked {a.rate}/s)",
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
