"""Issue 21 items 1, 4, 5 and 9 through Python: handles never used after they are freed,
range-checked integers, no leaked fds, and the binding's own errors."""

import errno
import gc
import os
import stat
import subprocess
import threading
import time

import pytest

import procroot


def nfds():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def procs():
    """A long-lived ``sleep`` and ``cat`` (killed and reaped at the end)."""
    sleep = subprocess.Popen(["sleep", "100"])
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE)
    yield sleep, cat
    for p in (sleep, cat):
        p.kill()
        p.wait()
    cat.stdin.close()


def test_pidfd_close_races_readlink(procs):
    """Thread A reads ``exe`` through a PidFd of ``sleep`` while thread B closes it and opens
    and closes PidFds of ``cat`` (reusing the freed memory): A gets sleep's exe or EBADF, never
    cat's, never another error."""
    sleep, cat = procs
    want = os.readlink("/proc/%d/exe" % sleep.pid)
    pf = procroot.Procfs()
    cur = [procroot.PidFd(sleep.pid)]
    stop = threading.Event()
    bad, calls, closed = [], [0], [0]

    def reader():
        while not stop.is_set():
            p = cur[0]
            try:
                got = pf.readlink(procroot.BASE_PIDFD, "exe", pidfd=p)
                calls[0] += 1
                if got != want:
                    bad.append(got)
            except OSError as e:
                if e.errno != errno.EBADF:
                    bad.append(repr(e))
                else:
                    closed[0] += 1

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not bad:
        old = cur[0]
        cur[0] = procroot.PidFd(sleep.pid)
        old.close()
        procroot.PidFd(cat.pid).close()
    stop.set()
    for t in readers:
        t.join()
    cur[0].close()
    assert not bad, bad[:5]
    assert calls[0] > 0
    with pytest.raises(OSError) as e:
        pf.readlink(procroot.BASE_PIDFD, "exe", pidfd=cur[0])
    assert e.value.errno == errno.EBADF and e.value.kind == "InvalidInput"


def test_procfs_close_races_calls():
    """Threads use one Procfs instance while it is closed: each call works or is EBADF, and
    every call after close() is EBADF (never the cached instance silently)."""
    ns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    try:
        for _ in range(5):
            p = procroot.Procfs.for_pidns(ns)
            bad, seen = [], [0]

            def user():
                for _ in range(2000):
                    try:
                        with p.open(procroot.BASE_SELF, "stat") as f:
                            f.read(1)
                    except OSError as e:
                        if e.errno == errno.EBADF:
                            seen[0] += 1
                            return
                        bad.append(repr(e))
                        return

            ts = [threading.Thread(target=user) for _ in range(8)]
            for t in ts:
                t.start()
            time.sleep(0.005)
            p.close()
            for t in ts:
                t.join()
            assert not bad, bad
            with pytest.raises(OSError) as e:
                p.open(procroot.BASE_SELF, "stat")
            assert e.value.errno == errno.EBADF
    finally:
        os.close(ns)


def test_setter_waits_for_remove_all(tmp_path):
    """set_policy on one thread while remove_all of 20,000 files runs on another returns only
    after remove_all: a setter takes the root exclusively."""
    big = tmp_path / "big"
    big.mkdir()
    for i in range(20000):
        (big / str(i)).touch()
    root = procroot.Root(tmp_path)
    t = threading.Thread(target=root.remove_all, args=("big",))
    t.start()
    # Wait until the removal is under way (some entries gone), then set.
    while True:
        try:
            n = len(os.listdir(big))
        except FileNotFoundError:
            n = 0
        if n < 20000:
            break
    in_flight = big.exists()
    root.set_policy(procroot.BENEATH)
    assert not big.exists(), "set_policy returned while remove_all was still removing"
    t.join()
    root.close()
    assert in_flight, "remove_all finished before set_policy was called: nothing was tested"


def test_integers_range_checked(tmp_path):
    """Values that do not fit their C type raise and change nothing (ctypes would truncate:
    uid 2**32 was root, 2**32 + pid another process)."""
    f = tmp_path / "f"
    f.touch()
    os.chown(f, 1000, 1000)
    os.chmod(f, 0o600)
    with procroot.Root(tmp_path) as root:
        for uid, gid in ((2**32, -1), (-1, 2**32), (-2, -1), (-1, -2), (2**32 - 1, -1)):
            with pytest.raises(OverflowError):
                root.chown("f", uid=uid, gid=gid)
        st = os.stat(f)
        assert (st.st_uid, st.st_gid) == (1000, 1000)
        root.chown("f", gid=1001)  # -1 (the default) still means unchanged
        st = os.stat(f)
        assert (st.st_uid, st.st_gid) == (1000, 1001)
        with pytest.raises(OverflowError):
            root.chmod("f", 2**32 + 0o644)
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        with pytest.raises(OverflowError):
            root.mknod("n", stat.S_IFCHR, 0o600, 2**32 + 1, 3)
        assert not (tmp_path / "n").exists()
        with pytest.raises(OverflowError):
            root.set_flags(2**32)
        with pytest.raises(TypeError):
            root.chmod("f", "0644")
    with pytest.raises(OverflowError):
        procroot.Root.for_pid(2**32 + os.getpid())
    with pytest.raises(OverflowError):
        procroot.PidFd(2**32 + os.getpid())
    with pytest.raises(OverflowError):
        procroot.Procfs().open(procroot.BASE_PID, "stat", pid=2**32 + os.getpid())


def test_bad_mode_leaks_no_fd(tmp_path):
    (tmp_path / "f").write_text("x")
    with procroot.Root(tmp_path) as root:
        h = root.resolve("f")
        before = nfds()
        for _ in range(20):
            with pytest.raises(ValueError):
                root.open("f", "rb", encoding="utf-8")
            with pytest.raises(ValueError):
                root.open("f", "rbt")
            with pytest.raises(ValueError):
                h.open("rb", encoding="utf-8")
            with pytest.raises(TypeError):
                root.open("f", "r", bogus=1)  # only os.fdopen knows: the fd is closed
        assert nfds() == before
        h.close()


def test_pidfd_and_procfs_freed_by_gc():
    """PidFd and Procfs objects dropped without close() free their fds (``__del__``)."""
    pid = os.getpid()
    gc.collect()
    before = nfds()
    pf = procroot.Procfs()
    for _ in range(200):
        pf.readlink(procroot.BASE_PIDFD, "cwd", pidfd=procroot.PidFd(pid))
    ns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    for _ in range(20):
        procroot.Procfs.for_pidns(ns).readlink(procroot.BASE_SELF, "cwd")
    os.close(ns)
    gc.collect()
    assert nfds() == before


def test_mask_paths_refuses_a_string(tmp_path, in_private_mount_ns):
    """A str would be iterated letter by letter ("/" first: the root masked). TypeError before
    anything is mounted; run in a forked child with a private mount namespace all the same."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/secret").write_text("s")

    def body(libc):
        with open("/proc/self/mountinfo") as f:
            before = f.read()
        with procroot.Root(tmp_path) as root:
            for call in (root.mask_paths, root.make_readonly):
                for arg in ("/etc/secret", b"/etc/secret"):
                    with pytest.raises(TypeError):
                        call(arg)
        with open("/proc/self/mountinfo") as f:
            assert f.read() == before, "something was mounted"
        assert (tmp_path / "etc/secret").read_text() == "s"

    in_private_mount_ns(body)


def test_own_errors_and_bytes(tmp_path):
    """The binding's own errors carry the kind the C library would give; bytes in, bytes out."""
    os.symlink("/etc/x", tmp_path / "link")
    root = procroot.Root(tmp_path)
    with pytest.raises(OSError) as e:
        root.open("a\0b")
    assert e.value.errno == errno.EINVAL and e.value.kind == "InvalidInput"
    assert isinstance(e.value, procroot.ProcrootError)
    assert root.readlink(b"link") == b"/etc/x"
    assert root.readlink("link") == "/etc/x"
    assert root.eval_symlinks(b"link", except_last=True) == b"/link"
    assert root.eval_symlinks("link", except_last=True) == "/link"
    root.close()
    with pytest.raises(OSError) as e:
        root.resolve(".")
    assert e.value.errno == errno.EBADF and e.value.kind == "InvalidInput"


def test_handle_close_racing_open(tmp_path):
    """A Handle closed on one thread while another opens through it: the open gives the pinned
    file or fails (EBADF / ValueError), never another file that reused the fd number."""
    (tmp_path / "a").write_bytes(b"A")
    (tmp_path / "b").write_bytes(b"B")
    root = procroot.Root(tmp_path)
    cur = [root.resolve("a")]
    stop = threading.Event()
    bad, opened = [], [0]

    def reader():
        while not stop.is_set():
            h = cur[0]
            try:
                with h.open("rb") as f:
                    got = f.read()
                opened[0] += 1
                if got != b"A":
                    bad.append(got)
            except ValueError:
                pass  # closed before the call
            except OSError as e:
                if e.errno != errno.EBADF:
                    bad.append(repr(e))

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    held = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not bad:
        old = cur[0]
        cur[0] = root.resolve("a")
        old.close()
        held.append(root.resolve("b"))  # takes the lowest free fd: the one just closed
        if len(held) > 50:
            for h in held:
                h.close()
            held.clear()
    stop.set()
    for t in readers:
        t.join()
    for h in held + [cur[0]]:
        h.close()
    root.close()
    assert not bad, bad[:5]
    assert opened[0] > 0
