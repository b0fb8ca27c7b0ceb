#!/usr/bin/env python3
"""`procroot unpack` against GNU tar and umoci, paired, on a private tmpfs (issue 25, section 4).
BENCHMARKS.md section "Unpacking image layers".

Rows (procroot column first, the other tool second):

  tar     procroot unpack -q --root D/pN LAYER.tar          tar -xpf LAYER.tar -C D/cN
  tar.gz  procroot unpack -q --root D/pN LAYER.tar.gz       tar -xpzf LAYER.tar.gz -C D/cN
  image   procroot unpack -q --root D/pN --image IMG:bench  umoci raw unpack --image IMG:bench D/cN

Then the memory line: procroot's peak RSS (ru_maxrss from wait4) unpacking the tar layer and a
1 GiB layer (the tar layer plus one 1 GiB file), so that a reader can see it does not grow with
the layer's size.

The layer is a real Debian rootfs: `mmdebstrap --variant=minbase --include=...` of bookworm as a
tar (about 20,000 entries), cached in CACHE (default /var/tmp/procroot-bench-unpack) because
building it takes a minute and needs Debian's mirror. The gzip layer is `gzip -6` of it. The
image is an OCI layout made by umoci: `umoci init`, `umoci new`, `umoci raw add-layer` of the
tar (umoci stores it gzip-compressed), so the `image` row unpacks one gzip layer through the
layout (digest verification included) on both sides.

Why a tmpfs: the disk's latency swings by 10x between rounds on this VM (BENCHMARKS.md 8). The
script re-runs itself in a private mount namespace (`unshare --mount --propagation private`) and
mounts a tmpfs there, so nothing reaches the host's mounts and the tmpfs goes away with the
namespace. The inputs are on the tmpfs too (warm cache).

Pairing: every round runs both columns of a row back to back on the same input, in an order
that alternates every round, and takes the ratio within the round, so that the load of the other
engineers' builds weighs on both alike. Each process is started with posix_spawn, its stdout and
stderr to /dev/null (a failure shows in its exit status, which stops the benchmark); the output
trees are removed outside the timing. Reports per row each column's
median, the median ratio and its interquartile range over the rounds, of the wall time and (the
`cpu` line) of the CPU time (user + system of the process and its children, from wait4: tar's
gzip child counts), and the load average at the start and the end.

Usage (as root): scripts/bench-unpack.py [PROCROOT_BINARY] [ROUNDS]
PROCROOT_BINARY: the binary as installed (`cargo install-procroot --root DIR`), default
target/release/procroot. PROCROOT_BENCH_ROWS=tar,tar.gz,image,rss picks rows.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if os.environ.get("PROCROOT_BENCH_NS") != "1":
    env = dict(os.environ, PROCROOT_BENCH_NS="1")
    sys.exit(subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable]
                            + sys.argv, env=env).returncode)

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/procroot")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
cache = os.environ.get("CACHE", "/var/tmp/procroot-bench-unpack")
only = os.environ.get("PROCROOT_BENCH_ROWS")
PACKAGES = "python3,python3-pip,perl,git,vim-nox,less,iproute2"


def which(name):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    sys.exit(f"bench-unpack: {name} not found")


TAR, UMOCI = which("tar"), which("umoci")

os.makedirs(cache, exist_ok=True)
layer_cache = os.path.join(cache, "debian.tar")
if not os.path.exists(layer_cache):
    subprocess.run([which("mmdebstrap"), "--variant=minbase", f"--include={PACKAGES}",
                    "--format=tar", "bookworm", layer_cache + ".part"], check=True,
                   stdout=subprocess.DEVNULL)
    os.rename(layer_cache + ".part", layer_cache)

base = tempfile.mkdtemp(prefix="procroot-bench-unpack-")
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6g,mode=0755", "bench", base], check=True)
inputs = os.path.join(base, "in")
out = os.path.join(base, "out")
os.makedirs(inputs)
os.makedirs(out)
layer = os.path.join(inputs, "debian.tar")
shutil.copyfile(layer_cache, layer)
with open(layer, "rb") as f:
    entries = subprocess.run([TAR, "-tf", "-"], stdin=f, check=True,
                             capture_output=True).stdout.count(b"\n")
layer_gz = layer + ".gz"
with open(layer_gz, "wb") as f:
    subprocess.run(["gzip", "-6", "-c", layer], stdout=f, check=True)
image = os.path.join(inputs, "image")
subprocess.run([UMOCI, "init", "--layout", image], check=True)
subprocess.run([UMOCI, "new", "--image", image + ":bench"], check=True)
subprocess.run([UMOCI, "raw", "add-layer", "--image", image + ":bench", layer], check=True,
               stdout=subprocess.DEVNULL)

devnull = os.open("/dev/null", os.O_RDWR)
ACTIONS = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
           (os.POSIX_SPAWN_DUP2, devnull, 2)]


def run(argv):
    """One process: (wall time from spawn to reaped, CPU time of it and its children, peak RSS
    in KiB); fails the benchmark if it fails."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=ACTIONS)
    _, status, usage = os.wait4(pid, 0)
    t = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench-unpack: {' '.join(argv)} failed ({status:#x})")
    # wait4's usage is the child's own; its children (tar's gzip) are in RUSAGE_CHILDREN of
    # this process, which accumulates: take the difference.
    return t, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def run_with_children(argv):
    before = os.times()
    t, _, rss = run(argv)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)
    return t, cpu, rss


counter = [0]


def fresh():
    counter[0] += 1
    return counter[0]


def mkroot(path):
    os.mkdir(path)
    return path


def clean():
    for name in os.listdir(out):
        subprocess.run(["rm", "-rf", os.path.join(out, name)], check=True)


def P(n):
    return os.path.join(out, f"p{n}")


def C(n):
    return os.path.join(out, f"c{n}")


ROWS = {
    "tar": {
        "procroot": lambda n: [binary, "unpack", "-q", "--root", mkroot(P(n)), layer],
        "tar": lambda n: [TAR, "-xpf", layer, "-C", mkroot(C(n))],
    },
    "tar.gz": {
        "procroot": lambda n: [binary, "unpack", "-q", "--root", mkroot(P(n)), layer_gz],
        "tar": lambda n: [TAR, "-xpzf", layer_gz, "-C", mkroot(C(n))],
    },
    "image": {
        "procroot": lambda n: [binary, "unpack", "-q", "--root", mkroot(P(n)), "--image",
                               image + ":bench"],
        # umoci makes the directory itself (it must not exist).
        "umoci": lambda n: [UMOCI, "raw", "unpack", "--image", image + ":bench", C(n)],
    },
}

with open("/proc/loadavg") as f:
    load0 = " ".join(f.read().split()[:3])
print(f"{'row':<7} {'procroot':>11} {'other':>11}  ratio median (IQR)")
for row, cols in ROWS.items():
    if only and row not in only.split(","):
        continue
    names = list(cols)
    times = {k: [] for k in names}
    cpu = {k: [] for k in names}
    for i in range(rounds + 1):  # round 0 warms the caches and is dropped
        order = names if i % 2 == 0 else list(reversed(names))
        n = fresh()
        got = {}
        for name in order:
            t, c, _ = run_with_children(cols[name](n))
            got[name] = (t, c)
        if i:
            for name in names:
                times[name].append(got[name][0])
                cpu[name].append(got[name][1])
        clean()
    other = names[1]
    for label, per in ((row, times), ("  cpu", cpu)):
        ratios = [a / b for a, b in zip(per["procroot"], per[other])]
        q = statistics.quantiles(ratios, n=4)
        print(f"{label:<7} {statistics.median(per['procroot']) * 1e3:8.1f} ms "
              f"{statistics.median(per[other]) * 1e3:8.1f} ms  "
              f"{statistics.median(ratios):.3f}x ({q[0]:.2f}-{q[2]:.2f}) vs {other}", flush=True)

if not only or "rss" in only.split(","):
    # The 1 GiB layer: the rootfs layer with one more 1 GiB file (incompressible bytes are not
    # needed for a tar; zeros would be sparse-detected by nobody here: tar stores them).
    big = os.path.join(inputs, "big.tar")
    blob_dir = os.path.join(inputs, "bigfile")
    os.mkdir(blob_dir)
    with open(os.path.join(blob_dir, "one-gib"), "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(1024):
            f.write(chunk)
    shutil.copyfile(layer, big)
    subprocess.run([TAR, "-rf", big, "-C", blob_dir, "one-gib"], check=True)
    os.remove(os.path.join(blob_dir, "one-gib"))
    sizes = {}
    for label, path in (("rootfs layer", layer), ("same + 1 GiB file", big)):
        rss = []
        for _ in range(3):
            n = fresh()
            rss.append(run([binary, "unpack", "-q", "--root", mkroot(P(n)), path])[2])
            clean()
        sizes[label] = (os.path.getsize(path), statistics.median(rss))
    for label, (size, rss) in sizes.items():
        print(f"peak RSS {label:<18} ({size / 2**20:7.0f} MiB): {rss / 1024:6.1f} MiB")
    os.remove(big)

with open("/proc/loadavg") as f:
    load1 = " ".join(f.read().split()[:3])
print(f"{rounds} paired rounds (+1 warm-up); layer: Debian bookworm minbase + {PACKAGES}, "
      f"{entries} entries, {os.path.getsize(layer) / 2**20:.0f} MiB "
      f"({os.path.getsize(layer_gz) / 2**20:.0f} MiB gzip), on tmpfs; load average {load0} at "
      f"the start, {load1} at the end; {binary}")
os.chdir("/")
subprocess.run(["umount", base], check=True)
os.rmdir(base)
