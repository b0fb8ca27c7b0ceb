#!/usr/bin/env python3
"""procroot's everyday commands against coreutils, paired, on a private tmpfs (issue 20's `cp`
target, issue 23 item 12). BENCHMARKS.md sections 8.1 and 8.2.

Rows (procroot column first, coreutils second):

  cat     procroot cat --root D /small.txt          cat D/small.txt
  ls      procroot ls --root D /d2000               ls -f D/d2000
  cp in   procroot cp -q --root DST TREE :/cN       cp -a TREE DST/cN
  cp out  procroot cp -q --root R :/tree OUT/pN     cp -a R/tree OUT/cN
  rm      procroot rm -r -q --root D /tN            rm -rf D/tN

Why a tmpfs: on this VM the disk's own latency swings by 10x between rounds (BENCHMARKS.md 8,
8.1), which drowned any difference between the programs. The script re-runs itself in a private
mount namespace (`unshare --mount --propagation private`) and mounts a tmpfs there, so nothing
reaches the host's mounts and the tmpfs goes away with the namespace.

Pairing: every round runs both columns of a row back to back on the same input, in an order
that alternates every round, and takes the ratio within the round, so that the load of the other
engineers' builds weighs on both alike. `cat` and `ls` run BATCH times per column per round
(time per call); the copies and removals once. Inputs for `rm` (two copies of the tree) and the
removal of `cp`'s outputs happen outside the timing. Each process is started with posix_spawn,
its output to /dev/null. Reports per row each column's median, the median ratio and its
interquartile range over the rounds, of the wall time and (the `cpu` line) of the CPU time
(user + system, from wait4), and the load average at the start and the end.

The tree: DIRS directories of FILES files of 1 KiB, every 10th with an access ACL and a
`user.*` xattr, every 10th a second name (a hard link in the next directory), and SPARSE
sparse files of 64 MiB with three 4 KiB extents (as scripts/bench-cp.py).

Usage (as root): scripts/bench-coreutils.py [PROCROOT_BINARY] [ROUNDS] [BATCH] [DIRS] [FILES]
PROCROOT_BINARY: the binary as installed (`cargo install-procroot --root DIR`: glibc static-pie,
fat LTO), default target/release/procroot.
"""
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tree import build  # noqa: E402
from bench_spawn import run as spawn_run, which as spawn_which  # noqa: E402

if os.environ.get("PROCROOT_BENCH_NS") != "1":
    env = dict(os.environ, PROCROOT_BENCH_NS="1")
    sys.exit(subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable]
                            + sys.argv, env=env).returncode)

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 11
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 40
dirs = int(sys.argv[4]) if len(sys.argv) > 4 else 100
files = int(sys.argv[5]) if len(sys.argv) > 5 else 100
SPARSE = 20

base = tempfile.mkdtemp(prefix="procroot-bench-coreutils-")
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "bench", base], check=True)

root = os.path.join(base, "root")
host = os.path.join(base, "host")
out = os.path.join(base, "out")
for d in (root, host, out, os.path.join(root, "in"), os.path.join(root, "rm")):
    os.makedirs(d)

only = os.environ.get("PROCROOT_BENCH_ROWS")
# The trees only for the rows that copy or remove them (`cat` and `ls` alone start in seconds).
trees = not only or bool(set(only.split(",")) - {"cat", "ls"})
if trees:
    build(os.path.join(root, "tree"), dirs, files, SPARSE)
    build(os.path.join(host, "tree"), dirs, files, SPARSE)
with open(os.path.join(root, "small.txt"), "w") as fh:
    fh.write("hello\n")
os.mkdir(os.path.join(root, "d2000"))
for i in range(2000):
    open(os.path.join(root, "d2000", f"f{i}"), "w").close()



def run(argv):
    return spawn_run(argv, "bench-coreutils")


def which(name):
    return spawn_which(name, "bench-coreutils")


CAT, LS, CP, RM = which("cat"), which("ls"), which("cp"), which("rm")
counter = [0]


def fresh():
    counter[0] += 1
    return counter[0]


def rm_inputs():
    """Two copies of the tree under ROOT/rm, made outside the timing."""
    n = fresh()
    a, b = os.path.join(root, "rm", f"p{n}"), os.path.join(root, "rm", f"c{n}")
    subprocess.run([CP, "-a", os.path.join(root, "tree"), a], check=True)
    subprocess.run([CP, "-a", os.path.join(root, "tree"), b], check=True)
    return n


def clean():
    for d in (out, os.path.join(root, "in")):
        for name in os.listdir(d):
            subprocess.run([RM, "-rf", os.path.join(d, name)], check=True)


# name -> (per-round setup, {column: argv maker taking the setup's value}, calls per round)
ROWS = {
    "cat": (lambda: None, {
        "procroot": lambda _: [binary, "cat", "--root", root, "/small.txt"],
        "coreutils": lambda _: [CAT, os.path.join(root, "small.txt")],
    }, batch),
    "ls": (lambda: None, {
        "procroot": lambda _: [binary, "ls", "--root", root, "/d2000"],
        "coreutils": lambda _: [LS, "-f", os.path.join(root, "d2000")],
    }, batch),
    "cp in": (fresh, {
        "procroot": lambda n: [binary, "cp", "-q", "--root", root, os.path.join(host, "tree"),
                               f":/in/p{n}"],
        "coreutils": lambda n: [CP, "-a", os.path.join(host, "tree"),
                                os.path.join(root, "in", f"c{n}")],
    }, 1),
    "cp out": (fresh, {
        "procroot": lambda n: [binary, "cp", "-q", "--root", root, ":/tree",
                               os.path.join(out, f"p{n}")],
        "coreutils": lambda n: [CP, "-a", os.path.join(root, "tree"), os.path.join(out, f"c{n}")],
    }, 1),
    "rm": (rm_inputs, {
        "procroot": lambda n: [binary, "rm", "-r", "-q", "--root", root, f"/rm/p{n}"],
        "coreutils": lambda n: [RM, "-rf", os.path.join(root, "rm", f"c{n}")],
    }, 1),
}

with open("/proc/loadavg") as f:
    load0 = " ".join(f.read().split()[:3])
print(f"{'row':<7} {'procroot':>11} {'coreutils':>11}  ratio median (IQR)")
for row, (setup, cols, calls) in ROWS.items():
    if only and row not in only.split(","):
        continue
    times = {k: [] for k in cols}
    cpu = {k: [] for k in cols}
    for i in range(rounds + 1):  # round 0 warms the caches and is dropped
        order = list(cols) if i % 2 == 0 else list(reversed(cols))
        value = setup()
        got = {}
        for name in order:
            runs = [run(cols[name](value)) for _ in range(calls)]
            got[name] = (sum(r[0] for r in runs) / calls, sum(r[1] for r in runs) / calls)
        if i:
            for name in cols:
                times[name].append(got[name][0])
                cpu[name].append(got[name][1])
        clean()
    # Wall time per call, then (second line) CPU time per call: under load the wall time
    # includes waiting for a CPU, the CPU time only the process's own work.
    for label, per in ((row, times), ("  cpu", cpu)):
        ratios = [a / b for a, b in zip(per["procroot"], per["coreutils"])]
        q = statistics.quantiles(ratios, n=4)
        unit, scale = ("ms", 1e3)
        print(f"{label:<7} {statistics.median(per['procroot']) * scale:8.3f} {unit} "
              f"{statistics.median(per['coreutils']) * scale:8.3f} {unit}  "
              f"{statistics.median(ratios):.3f}x ({q[0]:.2f}-{q[2]:.2f})", flush=True)
with open("/proc/loadavg") as f:
    load1 = " ".join(f.read().split()[:3])
tree = f"tree {dirs}x{files} files + {SPARSE} sparse" if trees else "no tree (cat/ls only)"
print(f"{rounds} paired rounds (+1 warm-up), cat/ls {batch} calls per column per round; "
      f"{tree}, on tmpfs; load average {load0} at the start, {load1} at the end; {binary}")
os.chdir("/")
subprocess.run(["umount", base], check=True)
os.rmdir(base)
