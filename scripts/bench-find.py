#!/usr/bin/env python3
"""`procroot find` and `procroot audit` against GNU find, bfs and fd, paired, on a real tree
(issue 24, sections 2 and 3). BENCHMARKS.md section "find and audit".

Rows (every column walks the same TREE, staying on its mount; output to /dev/null):

  names   procroot find --root TREE         find TREE -xdev        bfs TREE -xdev
          fdfind -u --one-file-system . TREE (fd: hidden and ignored files too; parallel)
  json    procroot find --json --root TREE  find TREE -xdev -printf FMT   bfs TREE -xdev -printf FMT
  audit   procroot audit --json --root TREE find TREE -xdev -printf FMT
  with FMT = '%p %s %m %U %G %T@\\n' (one stat per entry, as --json and audit need).

TREE defaults to /usr: a real distribution tree (Debian's, about 150,000 entries), read only.
Warm cache: round 0 of each row runs every column once and is dropped.

Pairing: every round runs all the columns of a row back to back, in an order that rotates every
round, and takes each ratio within the round, so that the load of the other engineers' builds
weighs on all columns alike. Each process is started with posix_spawn, its output to /dev/null.
Reports per row each column's median wall time, and the median ratio of procroot to each other
column with its interquartile range; then the same for the CPU time (user + system, from wait4:
fd runs several threads, so its CPU time exceeds its wall time). The load average at the start
and the end close the report.

Usage: scripts/bench-find.py [PROCROOT_BINARY] [ROUNDS] [TREE]
PROCROOT_BINARY: the binary as installed (`cargo install-procroot --root DIR`), default
target/release/procroot.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_spawn import run as spawn_run, which as spawn_which  # noqa: E402

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 11
tree = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else "/usr")


def run(argv):
    return spawn_run(argv, "bench-find")


def which(name):
    return spawn_which(name, "bench-find", " (apt-get install findutils bfs fd-find)")


FIND, BFS, FD = which("find"), which("bfs"), which("fdfind")
FMT = "%p %s %m %U %G %T@\\n"

ROWS = {
    "names": {
        "procroot": [binary, "find", "--root", tree],
        "find": [FIND, tree, "-xdev"],
        "bfs": [BFS, tree, "-xdev"],
        "fd": [FD, "-u", "--one-file-system", ".", tree],
    },
    "json": {
        "procroot": [binary, "find", "--json", "--root", tree],
        "find": [FIND, tree, "-xdev", "-printf", FMT],
        "bfs": [BFS, tree, "-xdev", "-printf", FMT],
    },
    "audit": {
        "procroot": [binary, "audit", "--json", "--root", tree],
        "find": [FIND, tree, "-xdev", "-printf", FMT],
    },
}

only = os.environ.get("PROCROOT_BENCH_ROWS")
with open("/proc/loadavg") as f:
    load0 = " ".join(f.read().split()[:3])
for row, cols in ROWS.items():
    if only and row not in only.split(","):
        continue
    names = list(cols)
    times = {k: [] for k in names}
    cpu = {k: [] for k in names}
    for i in range(rounds + 1):  # round 0 warms the caches and is dropped
        order = names[i % len(names):] + names[:i % len(names)]
        got = {name: run(cols[name]) for name in order}
        if i:
            for name in names:
                times[name].append(got[name][0])
                cpu[name].append(got[name][1])
    for label, per in ((row, times), ("  cpu", cpu)):
        cells = [f"{label:<7}"]
        for name in names:
            cells.append(f"{name} {statistics.median(per[name]) * 1e3:8.1f} ms")
        for name in names[1:]:
            ratios = [a / b for a, b in zip(per["procroot"], per[name])]
            q = statistics.quantiles(ratios, n=4)
            cells.append(f"vs {name} {statistics.median(ratios):.3f}x ({q[0]:.2f}-{q[2]:.2f})")
        print("  ".join(cells), flush=True)
with open("/proc/loadavg") as f:
    load1 = " ".join(f.read().split()[:3])
print(f"{rounds} paired rounds (+1 warm-up) on {tree}; load average {load0} at the start, "
      f"{load1} at the end; {binary}")
