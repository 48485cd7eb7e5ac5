"""The field report's leak, for assets/forkserver-pool.ticklog: a multiprocessing
forkserver pool whose workers grow, and whose parent is then killed with SIGKILL.

    python3 assets/forkserver-pool.py &            # prints the parent's pid
    leaktop record --pid PID --interval 250ms --ticks 40 --out assets/forkserver-pool.ticklog
    kill -KILL PID                                  # about 3 s in
"""
import multiprocessing as mp
import os
import time


def work(n):
    held = []
    for _ in range(12):
        held.append(bytearray(4 * 1024 * 1024 * (n + 1)))
        time.sleep(0.5)
    time.sleep(3600)


if __name__ == "__main__":
    mp.set_start_method("forkserver")
    pool = mp.Pool(3)
    pool.map_async(work, range(3))
    time.sleep(0.5)
    print(os.getpid(), flush=True)
    time.sleep(3600)
