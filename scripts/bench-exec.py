#!/usr/bin/env python3
"""Paired timing of `procroot exec` (BENCHMARKS.md section 4).

Usage (as root): scripts/bench-exec.py [PROCROOT_BINARY] [ROUNDS] [OTHER_BINARY]

PROCROOT_BINARY is the binary as installed (`cargo install-procroot --root DIR`: glibc
static-pie, fat LTO; default target/release/procroot). OTHER_BINARY, if given, adds a
`presealed-other` column: the same exec from another build (the plain dynamic
`cargo build --release`), paired in the same rounds.

Re-runs itself in a private mount namespace (`unshare --mount --propagation private`), so the
read-only overlay it mounts for the baseline never reaches the host. Columns, each run BATCH
times per round, in an order that rotates every round:

  nsenter      nsenter -t T -a true                      (util-linux)
  presealed    procroot exec --pid T -- true, run from a read-only overlay mount: the binary is
               already sealed, so no re-exec happens (the cost of exec itself)
  presealed-privileged  the same with --privileged: procroot's own credentials, so the
               difference to presealed is the cost of the target's (read and applied)
  ro-bind      procroot exec as a user runs it (no PROCROOT_SEAL_STRATEGY), the binary
               bind-mounted read-only onto itself (`mount --bind -o ro`, the zero-cost setup
               of README's exec section): counted as sealed, no re-exec
  writable     the same binary on its writable mount, as a user runs it: re-executed from the
               first strategy that works (overlay where it can, else memfd)
  overlay      procroot exec with PROCROOT_SEAL_STRATEGY=overlay (re-exec from an overlay view)
  memfd        ... =memfd (re-exec from a sealed memfd copy)
  tmpfile      ... =tmpfile (re-exec from an O_TMPFILE copy)

BENCH_EXEC_ONLY=ro-bind,writable (comma-separated) keeps only those columns, with nsenter and
presealed. T is a target started with `unshare --fork --pid --mount-proc --uts --ipc --net --mount`.
Prints per-call medians and the per-round ratios' median and interquartile range.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

BATCH = 5


def main():
    if os.environ.get("BENCH_EXEC_INNER") != "1":
        env = dict(os.environ, BENCH_EXEC_INNER="1")
        cmd = ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv
        sys.exit(subprocess.call(cmd, env=env))
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    other = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp(prefix="bench-exec-")
    empty = os.path.join(work, "empty")
    os.mkdir(empty)
    mounts = []

    def sealed_view(path):
        """`path` seen through a read-only overlay, as sealed_exe's overlay strategy shows it."""
        ovl = os.path.join(work, f"ovl{len(mounts)}")
        os.mkdir(ovl)
        subprocess.check_call([
            "mount", "-t", "overlay", "overlay", "-o",
            f"ro,xino=off,lowerdir={os.path.dirname(path)}:{empty}", ovl,
        ])
        mounts.append(ovl)
        return os.path.join(ovl, os.path.basename(path))

    presealed = sealed_view(binary)

    def read_only_bind(path):
        """A copy of `path` bind-mounted read-only onto itself, in this private namespace."""
        copy = os.path.join(work, "ro-bind-procroot")
        subprocess.check_call(["cp", path, copy])
        subprocess.check_call(["mount", "--bind", "-o", "ro", copy, copy])
        mounts.append(copy)
        return copy

    ro_bind = read_only_bind(binary)
    target = subprocess.Popen([
        "unshare", "--fork", "--kill-child", "--pid", "--mount-proc", "--uts", "--ipc", "--net",
        "--mount", "sleep", "600",
    ])
    try:
        time.sleep(0.5)
        with open(f"/proc/{target.pid}/task/{target.pid}/children") as f:
            t = f.read().split()[0]
        exec_cmd = ["exec", "--pid", t, "--", "true"]
        columns = {
            "nsenter": (["nsenter", "-t", t, "-a", "true"], {}),
            "presealed": ([presealed] + exec_cmd, {}),
            # The same with procroot's own credentials: the difference is the cost of reading
            # the target's (status, uid maps, namespaces) and applying them in the child.
            "presealed-privileged": (
                [presealed, "exec", "--pid", t, "--privileged", "--", "true"], {}),
            "ro-bind": ([ro_bind] + exec_cmd, {}),
            "writable": ([binary] + exec_cmd, {}),
            "overlay": ([binary] + exec_cmd, {"PROCROOT_SEAL_STRATEGY": "overlay"}),
            "memfd": ([binary] + exec_cmd, {"PROCROOT_SEAL_STRATEGY": "memfd"}),
            "tmpfile": ([binary] + exec_cmd, {"PROCROOT_SEAL_STRATEGY": "tmpfile"}),
        }
        if os.environ.get("BENCH_EXEC_ONLY"):
            keep = os.environ["BENCH_EXEC_ONLY"].split(",")
            columns = {n: c for n, c in columns.items() if n in keep or n in ("nsenter", "presealed")}
        if other:
            columns["presealed-other"] = ([sealed_view(other)] + exec_cmd, {})
        names = list(columns)
        for name, (cmd, extra) in columns.items():
            env = dict(os.environ, **extra)
            subprocess.run(cmd, env=env, check=True)  # warm-up, and fail early
        samples = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                cmd, extra = columns[name]
                env = dict(os.environ, **extra)
                start = time.perf_counter_ns()
                for _ in range(BATCH):
                    subprocess.run(cmd, env=env, check=True)
                samples[name].append((time.perf_counter_ns() - start) / BATCH)
        print(f"load: {open('/proc/loadavg').read().strip()}")
        print(f"binary {binary} ({os.stat(binary).st_size / 1e6:.1f} MB), "
              f"{rounds} rounds x {BATCH} calls per column")
        if other:
            print(f"other binary {other} ({os.stat(other).st_size / 1e6:.1f} MB)")
        print("| column | median per call | vs nsenter (median [IQR]) | vs presealed (median added) |")
        print("|---|---|---|---|")
        for name in names:
            med = statistics.median(samples[name])
            ratios = sorted(a / b for a, b in zip(samples[name], samples["nsenter"]))
            q = statistics.quantiles(ratios, n=4)
            added = statistics.median(
                a - b for a, b in zip(samples[name], samples["presealed"]))
            print(f"| {name} | {med / 1e3:.0f} µs | {statistics.median(ratios):.2f}x "
                  f"[{q[0]:.2f}-{q[2]:.2f}] | {added / 1e3:+.0f} µs |")
    finally:
        target.kill()
        target.wait()
        for ovl in mounts:
            subprocess.call(["umount", ovl])
        subprocess.call(["rm", "-rf", work])


if __name__ == "__main__":
    main()
