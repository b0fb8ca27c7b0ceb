import errno
import os
import stat
import threading
import time

import pytest

import procroot

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.environ.get("PROCROOT_RESOLVE_CASES") or os.path.join(HERE, "../../testdata/resolve_cases.txt")
POLICIES = {"in_root": procroot.IN_ROOT, "in_root_strict": procroot.IN_ROOT_STRICT,
            "beneath": procroot.BENEATH}


def _rebind_symfollow(libc, path, nosymfollow):
    """An M line: bind ``path`` onto itself, a final symlink not followed, with
    MOUNT_ATTR_NOSYMFOLLOW set or cleared (open_tree, mount_setattr, move_mount)."""
    import ctypes
    p = os.fsencode(str(path))
    fd = libc.syscall(428, -100, p, 1 | os.O_CLOEXEC | 0x100)  # OPEN_TREE_CLONE, NOFOLLOW
    if fd < 0:
        raise OSError(ctypes.get_errno(), "open_tree %s" % path)
    try:
        attr = (ctypes.c_uint64 * 4)(0x00200000 if nosymfollow else 0,
                                     0 if nosymfollow else 0x00200000, 0, 0)
        if libc.syscall(442, fd, b"", 0x1000, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
            raise OSError(ctypes.get_errno(), "mount_setattr %s" % path)
        if libc.syscall(429, fd, b"", -100, p, 4) != 0:  # MOVE_MOUNT_F_EMPTY_PATH
            raise OSError(ctypes.get_errno(), "move_mount %s" % path)
    finally:
        os.close(fd)


def _expand(field):
    """A C line's path field: ``@rep:<n>:<text>`` is text repeated n times."""
    if field.startswith("@rep:"):
        n, text = field[5:].split(":", 1)
        return text * int(n)
    return field


def _outcome(fn, *args):
    try:
        r = fn(*args)
        if hasattr(r, "close"):
            r.close()
        elif isinstance(r, int) and r >= 0:
            os.close(r)
        return "ok"
    except procroot.ProcrootError as e:
        return errno.errorcode[e.errno]


def _walk_line(root, options, top):
    """A W line through Root.walk: every directory it yields, every file name, every name
    pruned at the depth limit, and every error as path!ERRNO, sorted and joined by commas."""
    follow = "follow" in options.split(",")
    limit = None
    for o in options.split(","):
        if o.startswith("max="):
            limit = int(o[4:])
    got = []

    def depth(dirpath):
        return 0 if dirpath == top else dirpath[len(top):].count("/")

    def onerror(e):
        got.append("%s!%s" % (os.fsdecode(e.filename), errno.errorcode[e.errno]))

    for dirpath, dirnames, filenames in root.walk(top, followlinks=follow, onerror=onerror):
        got.append(dirpath)
        d = depth(dirpath)
        if limit is not None and d >= limit:
            dirnames[:] = []
            continue
        got.extend(os.path.join(dirpath, n) for n in filenames)
        if limit is not None and d + 1 >= limit:
            got.extend(os.path.join(dirpath, n) for n in dirnames)
            dirnames[:] = []
    return ",".join(sorted(got))


def _run_table(tmp_path, libc):
    failures = []
    cases = 0
    with procroot.Root(tmp_path) as root, open(CASES) as table:
        ops = {
            "create_file": lambda p: root.open(p, "x"),
            "mkfifo": lambda p: root.mknod(p, stat.S_IFIFO, 0o644),
            "symlink": root.symlink,
            "hardlink": root.hardlink,
            # O_EXCL without O_CREAT: no Python mode says that; the C call directly.
            "open_excl": lambda p: root._run("procroot_open_file", os.fsencode(p),
                                             os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC),
            "remove_file": root.remove_file,
            "remove_dir": root.remove_dir,
            "remove_all": root.remove_all,
        }
        for line in table:
            fld = line.split("#", 1)[0].split()
            if not fld:
                continue
            at = tmp_path / fld[1] if len(fld) > 1 else None
            if fld[0] == "D":
                at.mkdir(parents=True, exist_ok=True)
            elif fld[0] == "F":
                at.write_bytes(b"")
            elif fld[0] == "L":
                at.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(fld[2], at)
            elif fld[0] == "M":
                _rebind_symfollow(libc, at, fld[2] == "nosymfollow")
            elif fld[0] == "C":
                cases += 1
                policy, mode, path, want = fld[1:]
                root.set_policy(POLICIES[policy])
                try:
                    got = root.eval_symlinks(_expand(path), except_last=(mode == "except_last"))
                except procroot.ProcrootError as e:
                    got = errno.errorcode[e.errno]
                if got != want:
                    failures.append("%s: got %s" % (line.strip(), got))
            elif fld[0] == "O":
                cases += 1
                root.set_policy(procroot.IN_ROOT)
                got = _outcome(ops[fld[1]], *fld[2:-1])
                if got != fld[-1]:
                    failures.append("%s: got %s" % (line.strip(), got))
            elif fld[0] == "W":
                cases += 1
                root.set_policy(procroot.IN_ROOT)
                got = _walk_line(root, fld[1], fld[2])
                if got != fld[3]:
                    failures.append("%s: got %s" % (line.strip(), got))
            else:
                failures.append("bad line: " + line)
    if cases <= 20:
        failures.append("only %d cases" % cases)
    return failures


def test_shared_resolve_table(tmp_path, in_private_mount_ns):
    """bindings/testdata/resolve_cases.txt, the table the Rust, C and Go tests run too. Its M
    lines mount: it runs in a forked child with a private mount namespace."""
    def body(libc):
        failures = _run_table(tmp_path, libc)
        assert not failures, "\n".join(failures)

    in_private_mount_ns(body)


def test_errors_are_oserrors(tmp_path):
    with procroot.Root(tmp_path) as root:
        with pytest.raises(FileNotFoundError) as e:
            root.open("missing/file")
        assert e.value.errno == errno.ENOENT
        assert isinstance(e.value, procroot.ProcrootError)
        assert e.value.kind == "NotFound"
        assert e.value.syscall
        assert "missing" in e.value.strerror
        assert e.value.filename == "missing/file"
        root.open("x", "x").close()
        with pytest.raises(FileExistsError):
            root.open("x", "x")
        root.set_policy(procroot.BENEATH)
        with pytest.raises(OSError) as e:
            root.resolve("/x")
        assert e.value.errno == errno.EXDEV and e.value.kind == "SafetyViolation"
        with pytest.raises(OSError) as e:
            root.set_policy(9)
        assert e.value.errno == errno.EINVAL and e.value.kind == "InvalidInput"
        with pytest.raises(OSError) as e:
            root.open("a\0b")
        assert e.value.errno == errno.EINVAL
    with pytest.raises(ProcessLookupError):
        procroot.Root.for_pid(0x3FFFFFFF)
    with pytest.raises(OSError) as e:
        procroot.Root.from_fd(-1)
    assert e.value.errno == errno.EBADF


def test_close_twice(tmp_path):
    root = procroot.Root(tmp_path)
    root.close()
    root.close()
    with pytest.raises(OSError) as e:
        root.resolve(".")
    assert e.value.errno == errno.EBADF


def test_operations(tmp_path):
    assert procroot.version() == "0.1.0"
    with procroot.Root(str(tmp_path)) as root:
        root.mkdir_all("a/b/c").close()
        with root.open("a/b/file", "w") as f:
            f.write("hello")
        root.symlink("/a/b/file", "a/link")
        assert root.readlink("a/link") == "/a/b/file"
        with root.open("a/link") as f:
            assert f.read() == "hello"
        with root.open("a/link", "rb") as f:
            assert f.read() == b"hello"
        with root.resolve("a/link") as h:
            with h.open() as f:
                assert f.read() == "hello"
        with root.resolve_nofollow("a/link") as h:
            with pytest.raises(OSError) as e:
                h.open()
            assert e.value.errno == errno.ELOOP
        with root.open("a/b/file", "a") as f:
            f.write("!")
        assert (tmp_path / "a/b/file").read_text() == "hello!"
        root.hardlink("a/b/file", "a/hard")
        root.rename("a/hard", "a/hard2")
        with pytest.raises(FileExistsError):
            root.rename("a/hard2", "a/link", procroot.RENAME_NOREPLACE)
        root.chmod("a/b/file", 0o640)
        assert stat.S_IMODE(os.stat(tmp_path / "a/b/file").st_mode) == 0o640
        root.chown("a/b/file", 1000)
        assert os.stat(tmp_path / "a/b/file").st_uid == 1000
        root.mknod("a/fifo", stat.S_IFIFO, 0o600)
        with pytest.raises(OSError) as e:
            root.open("a/fifo")
        assert e.value.errno == errno.ENXIO
        root.set_special_files(True)
        root.open("a/fifo").close()
        root.set_backend(procroot.EMULATED)
        root.set_flags(procroot.NO_SYMLINKS | procroot.NO_MAGICLINKS)
        with pytest.raises(OSError) as e:
            root.resolve("a/link")
        assert e.value.errno == errno.ELOOP
        root.set_flags(procroot.NO_MAGICLINKS)
        root.remove_file("a/hard2")
        root.remove_dir("a/b/c")
        with pytest.raises(OSError) as e:
            root.remove_dir("a")
        assert e.value.errno == errno.ENOTEMPTY
        root.remove_all("a")
        assert not (tmp_path / "a").exists()
        assert root.fileno() >= 0
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with procroot.Root.from_fd(d) as root:
            root.open("made", "w").close()
    finally:
        os.close(d)
    assert (tmp_path / "made").exists()
    with procroot.Root.for_pid(os.getpid()) as root:
        assert root.eval_symlinks("/proc/self/..") == "/proc"


def test_procfs_every_base():
    pid = os.getpid()
    p = procroot.Procfs()
    with p.open(procroot.BASE_SELF, "status") as f:
        assert "Pid:\t%d" % pid in f.read()
    with p.open(procroot.BASE_ROOT, "%d/stat" % pid) as f:
        assert f.read().startswith(str(pid))
    with p.open(procroot.BASE_PID, "stat", pid=pid) as f:
        assert f.read().startswith(str(pid))
    with p.open(procroot.BASE_THREAD_SELF, "stat") as f:
        f.read()
    assert p.readlink(procroot.BASE_THREAD_SELF, "cwd") == os.getcwd()
    with procroot.PidFd(pid) as pidfd:
        with p.open(procroot.BASE_PIDFD, "stat", pidfd=pidfd) as f:
            assert f.read().startswith(str(pid))
        with p.open(procroot.BASE_PIDFD, "exe", "rb", pidfd=pidfd, follow=True) as f:
            assert f.read(4) == b"\x7fELF"
        p.write(procroot.BASE_PIDFD, "comm", b"pytest-a", pidfd=pidfd)
    with pytest.raises(OSError) as e:
        p.open(procroot.BASE_SELF, "exe")
    assert e.value.errno == errno.ELOOP
    with pytest.raises(OSError) as e:
        p.open(procroot.BASE_SELF, "../1/stat")
    assert e.value.errno == errno.EINVAL
    p.write(procroot.BASE_SELF, "comm", b"pytest")
    with pytest.raises(ProcessLookupError):
        procroot.PidFd(0x3FFFFFFF)
    ns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    try:
        with procroot.Procfs.for_pidns(ns) as q:
            with q.open(procroot.BASE_PID, "stat", pid=pid) as f:
                assert f.read().startswith(str(pid))
    finally:
        os.close(ns)


def test_race_rename_exchange(tmp_path):
    """Threads resolve through one shared Root while another thread swaps a directory with a
    symlink that tries to leave the root: every answer stays inside the root.

    The escape target is a decoy the test owns, beside the root, with a `file` in it: an escape
    reads "DECOY" (and fails the test) instead of ENOENT, which the test must accept."""
    top = tmp_path / "root"
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "file").write_text("DECOY")
    (top / "d").mkdir(parents=True)
    (top / "d/file").write_text("in")
    # Up past the host's / (more `..` than the path is deep), then down to the decoy: a resolver
    # that lets `..` leave the root lands on the decoy's file.
    os.symlink("../" * (len(decoy.parts) + 2) + str(decoy).lstrip("/"), top / "x")
    root = procroot.Root(top)
    stop = threading.Event()
    swaps = [0]
    errors = []

    def swapper():
        while not stop.is_set():
            root.rename("d", "x", procroot.RENAME_EXCHANGE)
            swaps[0] += 1

    resolved = [0]

    def resolver():
        deadline = time.monotonic() + 2
        for _ in range(1500):
            if time.monotonic() > deadline:
                break
            try:
                p = root.eval_symlinks("d/file")
                resolved[0] += 1
                if p not in ("/d/file", "/x/file"):
                    errors.append("escaped: " + p)
                with root.open("d/file") as f:
                    data = f.read()
                    if data == "DECOY":
                        errors.append("escaped: read the decoy outside the root")
                    elif data != "in":
                        errors.append("wrong file: %r" % data)
            except (FileNotFoundError, NotADirectoryError, BlockingIOError):
                pass  # the swap was in between: refused, never outside the root

    t = threading.Thread(target=swapper)
    t.start()
    workers = [threading.Thread(target=resolver) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    t.join()
    root.close()
    assert not errors, errors[:5]
    assert swaps[0] > 0 and resolved[0] > 0


def test_container_layer(tmp_path, in_private_mount_ns):
    """In a forked child with private mount and UTS namespaces: nothing reaches the host."""
    for d in ("proc", "ro", "mdir"):
        (tmp_path / d).mkdir()
    (tmp_path / "secret").write_text("secret")
    os.symlink("proc", tmp_path / "proc-link")

    def body(libc):
        with procroot.Root(tmp_path) as root:
            assert root.mask_paths(["secret", "missing", "mdir"]) == {
                "secret": None, "missing": procroot.SKIPPED, "mdir": None}
            assert (tmp_path / "secret").read_bytes() == b""
            assert root.make_readonly(["ro"]) == {"ro": None}
            try:
                (tmp_path / "ro/x").write_text("")
                raise AssertionError("wrote into a read-only path")
            except OSError as e:
                assert e.errno == errno.EROFS
            root.mount_procfs("proc")
            assert (tmp_path / "proc/self/stat").exists()
            try:
                root.mount_procfs("proc-link")
                raise AssertionError("mounted on a symlink")
            except OSError as e:
                assert e.errno == errno.ELOOP and e.kind == "SafetyViolation"
        procroot.write_sysctl("kernel.hostname", "py-capi")
        assert os.uname().nodename == "py-capi"
        try:
            procroot.write_sysctl("../x", "1")
            raise AssertionError("bad name accepted")
        except OSError as e:
            assert e.errno == errno.EINVAL

    in_private_mount_ns(body, 0x04000000)  # CLONE_NEWUTS


def _walk_tree(tmp_path):
    root_dir = tmp_path / "root"
    for d in ["etc", "usr/bin", "usr/lib"]:
        (root_dir / d).mkdir(parents=True)
    for f in ["etc/passwd", "usr/bin/sh", "usr/lib/libc.so"]:
        (root_dir / f).write_text("inside")
    (tmp_path / "host/DECOY").mkdir(parents=True)
    os.symlink(str(tmp_path / "host"), str(root_dir / "escape"))
    os.symlink("/usr/bin", str(root_dir / "bin"))
    return root_dir


def test_walk_is_shaped_like_os_walk_and_stays_inside(tmp_path):
    root_dir = _walk_tree(tmp_path)
    with procroot.Root(root_dir) as root:
        got = list(root.walk("/"))
        assert got == [
            ("/", ["etc", "usr"], ["bin", "escape"]),
            ("/etc", [], ["passwd"]),
            ("/usr", ["bin", "lib"], []),
            ("/usr/bin", [], ["sh"]),
            ("/usr/lib", [], ["libc.so"]),
        ]
        # os.walk of the same directory lists the same tree (it does not follow links either,
        # but puts a link to a directory in dirnames).
        host = sorted(("/" + os.path.relpath(d, root_dir)).replace("/.", "/") or "/"
                      for d, _, _ in os.walk(root_dir))
        assert sorted(d for d, _, _ in got) == host
        assert sorted(n for _, ds, fs in got for n in ds + fs) == sorted(
            n for _, ds, fs in os.walk(root_dir) for n in ds + fs)
        # Pruning dirnames in place skips those directories.
        seen = []
        for dirpath, dirnames, _ in root.walk("/"):
            seen.append(dirpath)
            if "usr" in dirnames:
                dirnames.remove("usr")
        assert seen == ["/", "/etc"]
        # Bottom-up: each directory after its subdirectories.
        order = [d for d, _, _ in root.walk("/", topdown=False)]
        assert order.index("/usr/bin") < order.index("/usr") < order.index("/")
        # bytes in, bytes out; a relative top names paths below it.
        assert list(root.walk(b"usr/bin")) == [(b"usr/bin", [], [b"sh"])]
        # followlinks: inside the root only; the host's decoy never shows.
        everything = str(list(root.walk("/", followlinks=True)))
        assert "DECOY" not in everything
        assert ("/bin", [], ["sh"]) in list(root.walk("/", followlinks=True))
        # A missing top: onerror, nothing yielded.
        errors = []
        assert list(root.walk("/missing", onerror=errors.append)) == []
        assert errors[0].errno == errno.ENOENT and os.fsdecode(errors[0].filename) == "/missing"


def test_walk_followlinks_reports_cycles(tmp_path):
    root_dir = _walk_tree(tmp_path)
    os.symlink("..", str(root_dir / "usr/lib/up"))
    with procroot.Root(root_dir) as root:
        errors = []
        dirs = [d for d, _, _ in root.walk("/usr", followlinks=True, onerror=errors.append)]
        assert dirs == ["/usr", "/usr/bin", "/usr/lib"]
        assert [(os.fsdecode(e.filename), e.errno) for e in errors] == [
            ("/usr/lib/up", errno.ELOOP)]


def test_walk_lists_a_mount_point_without_walking_it(tmp_path, in_private_mount_ns):
    root_dir = _walk_tree(tmp_path)
    (root_dir / "mnt").mkdir()

    def body(libc):
        assert libc.mount(b"tmpfs", os.fsencode(str(root_dir / "mnt")), b"tmpfs", 0, None) == 0
        (root_dir / "mnt" / "on-tmpfs").write_text("x")
        with procroot.Root(root_dir) as root:
            walked = {d: (ds, fs) for d, ds, fs in root.walk("/")}
            assert "mnt" in walked["/"][0]
            assert "/mnt" not in walked
            walked = {d: (ds, fs) for d, ds, fs in root.walk("/", cross_mounts=True)}
            assert walked["/mnt"] == ([], ["on-tmpfs"])

    in_private_mount_ns(body)
