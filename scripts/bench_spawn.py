"""Running one process for the whole-process benchmarks (scripts/bench-coreutils.py,
scripts/bench-find.py): posix_spawn with stdin and stdout on /dev/null, timed from spawn to
reaped, with its CPU time from wait4."""
import os
import sys
import time

_devnull = os.open("/dev/null", os.O_RDWR)
_ACTIONS = [(os.POSIX_SPAWN_DUP2, _devnull, 0), (os.POSIX_SPAWN_DUP2, _devnull, 1)]


def run(argv, who="bench"):
    """One process: (wall time from spawn to reaped, its CPU time, user + system); ends the
    benchmark (naming `who`) if it fails."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=_ACTIONS)
    _, status, usage = os.wait4(pid, 0)
    t = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{who}: {' '.join(argv)} failed ({status:#x})")
    return t, usage.ru_utime + usage.ru_stime


def which(name, who="bench", hint=""):
    """The executable `name` on PATH, or the benchmark ends (naming `who`, with `hint`)."""
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    sys.exit(f"{who}: {name} not found{hint}")
