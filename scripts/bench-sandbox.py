#!/usr/bin/env python3
"""Whole-process cost of the Landlock sandbox (issue 12): `procroot cat` of a small file with the
sandbox (the default) and with --no-sandbox, paired: in each round both columns run one batch
of BATCH calls, back to back, in alternating order, so that load changes weigh on both alike.
Reports, per call, the wall time and the CPU time (user + system, from getrusage of the
children, which other processes' load disturbs much less than wall time), as medians over the
rounds, and the median and interquartile range of the per-round difference.

Usage: scripts/bench-sandbox.py [PROCROOT_BINARY] [ROUNDS] [BATCH] [COMMAND ARGS...]

COMMAND ARGS default to `cat /etc/hostname`; a command that only reads (`ls /etc`, `stat
/etc/hostname`) can be given instead, run as `procroot COMMAND [--no-sandbox] --root R ARGS`.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 25
root = tempfile.mkdtemp(prefix="procroot-bench-")
os.makedirs(os.path.join(root, "etc"))
with open(os.path.join(root, "etc/hostname"), "w") as f:
    f.write("web\n")

command = sys.argv[4:] or ["cat", "/etc/hostname"]
cols = {
    "sandbox": [binary, command[0], "--root", root, *command[1:]],
    "no-sandbox": [binary, command[0], "--no-sandbox", "--root", root, *command[1:]],
}
wall = {k: [] for k in cols}
cpu = {k: [] for k in cols}


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


for _ in range(10):  # warm-up
    for argv in cols.values():
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
for i in range(rounds):
    for name in list(cols) if i % 2 == 0 else list(reversed(cols)):
        c0, t0 = child_cpu(), time.perf_counter()
        for _ in range(batch):
            subprocess.run(cols[name], stdout=subprocess.DEVNULL, check=True)
        wall[name].append((time.perf_counter() - t0) / batch * 1e6)
        cpu[name].append((child_cpu() - c0) / batch * 1e6)


def report(label, data):
    for name, values in data.items():
        print(f"{label} {name:<11} median {statistics.median(values):7.0f} us per call")
    diffs = [a - b for a, b in zip(data["sandbox"], data["no-sandbox"])]
    q = statistics.quantiles(diffs, n=4)
    base = statistics.median(data["no-sandbox"])
    print(f"{label} added       median {statistics.median(diffs):+7.0f} us per call "
          f"(IQR {q[0]:+.0f} .. {q[2]:+.0f}), {100 * statistics.median(diffs) / base:+.1f}%")


report("wall", wall)
report("cpu ", cpu)
with open("/proc/loadavg") as f:
    print(f"rounds {rounds} x {batch} calls per column; load average {' '.join(f.read().split()[:3])}")
