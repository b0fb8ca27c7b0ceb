#!/usr/bin/env python3
"""`procroot cp` against `cp -a` on a large tree (issue 20), as whole processes, both ways,
paired: in each round both columns copy the same tree once, back to back, in alternating order,
and the ratio is taken within the round, so that load changes weigh on both alike. The copies
are removed after each round, outside the timing.

The tree (on $TMPDIR's file system): DIRS directories of FILES small files (1 KiB), of which
every 10th has an ACL and a `user.*` xattr and every 10th a second name (a hard link in another
directory of the tree), plus SPARSE sparse files of 64 MiB with three 4 KiB extents.

Reports per column the median wall time and CPU time (user + system of the children), and the
median and interquartile range of the per-round ratio procroot / cp -a.

Usage: scripts/bench-cp.py [PROCROOT_BINARY] [ROUNDS] [DIRS] [FILES]
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tree import build  # noqa: E402

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
dirs = int(sys.argv[3]) if len(sys.argv) > 3 else 100
files = int(sys.argv[4]) if len(sys.argv) > 4 else 100
SPARSE = 20

base = tempfile.mkdtemp(prefix="procroot-bench-cp-")
root = os.path.join(base, "root")
host = os.path.join(base, "host")
out = os.path.join(base, "out")
inside = os.path.join(root, "in")
for d in (root, host, out, inside):
    os.makedirs(d)

build(os.path.join(root, "tree"), dirs, files, SPARSE)
build(os.path.join(host, "tree"), dirs, files, SPARSE)

cols = {
    "out": {
        "procroot": lambda: [binary, "cp", "--root", root, ":/tree", os.path.join(out, "p")],
        "cp -a": lambda: ["cp", "-a", os.path.join(root, "tree"), os.path.join(out, "c")],
    },
    "in": {
        "procroot": lambda: [binary, "cp", "--root", root, os.path.join(host, "tree"),
                             ":/in/p"],
        "cp -a": lambda: ["cp", "-a", os.path.join(host, "tree"), os.path.join(inside, "c")],
    },
}


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def clean():
    for d in (out, inside):
        for name in os.listdir(d):
            shutil.rmtree(os.path.join(d, name))


for way, pair in cols.items():
    wall = {k: [] for k in pair}
    cpu = {k: [] for k in pair}
    for argv in pair.values():  # warm-up
        subprocess.run(argv(), check=True)
    clean()
    for i in range(rounds):
        for name in list(pair) if i % 2 == 0 else list(reversed(pair)):
            subprocess.run(["sync"], check=True)
            c0, t0 = child_cpu(), time.perf_counter()
            subprocess.run(pair[name](), check=True)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(child_cpu() - c0)
        clean()
    for label, data in (("wall", wall), ("cpu ", cpu)):
        for name, values in data.items():
            print(f"{way:<3} {label} {name:<8} median {statistics.median(values) * 1e3:8.1f} ms")
        ratios = [a / b for a, b in zip(data["procroot"], data["cp -a"])]
        q = statistics.quantiles(ratios, n=4)
        print(f"{way:<3} {label} procroot / cp -a  {statistics.median(ratios):.3f}x "
              f"(IQR {q[0]:.2f}-{q[2]:.2f})")
with open("/proc/loadavg") as f:
    print(f"{rounds} rounds, {dirs}x{files} files + {SPARSE} sparse; load average "
          f"{' '.join(f.read().split()[:3])}")
shutil.rmtree(base)
