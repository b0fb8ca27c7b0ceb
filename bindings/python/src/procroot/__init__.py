"""procroot: race-free path resolution inside another root, over libprocroot's C ABI (ctypes).

Errors are ``ProcrootError``, a subclass of ``OSError`` with the right ``errno``, and also of the
matching built-in subclass (``FileNotFoundError``, ``FileExistsError``, ``PermissionError``...),
so ``except FileNotFoundError`` works. Each error travels with its own call: the C library has
no thread-local "last error", and ctypes releases the GIL during calls, so several threads may
use one ``Root`` at once.

The library is ``$PROCROOT_LIB`` if set, else ``libprocroot.so.0`` from the loader's path.
"""

import ctypes
import ctypes.util
import errno as _errno
import os
import threading

__all__ = [
    "Root", "Handle", "PidFd", "Procfs", "ProcrootError", "version", "reopen",
    "IN_ROOT", "IN_ROOT_STRICT", "BENEATH", "AUTO", "KERNEL", "EMULATED",
    "NO_SYMLINKS", "NO_XDEV", "NO_MAGICLINKS", "RENAME_NOREPLACE", "RENAME_EXCHANGE",
    "BASE_ROOT", "BASE_SELF", "BASE_THREAD_SELF", "BASE_PID", "BASE_PIDFD",
    "sealed_exe_ensure", "write_sysctl", "SKIPPED",
]

#: ``Root.mask_paths`` / ``make_readonly`` result for a path left alone (missing).
SKIPPED = "skipped"

IN_ROOT, IN_ROOT_STRICT, BENEATH = 0, 1, 2
AUTO, KERNEL, EMULATED = 0, 1, 2
NO_SYMLINKS, NO_XDEV, NO_MAGICLINKS = 1, 2, 4
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
BASE_ROOT, BASE_SELF, BASE_THREAD_SELF, BASE_PID, BASE_PIDFD = 0, 1, 2, 3, 4
_KINDS = {1: "NotFound", 2: "SafetyViolation", 3: "InvalidInput", 4: "NotSupported", 5: "Os"}


class _CError(ctypes.Structure):
    _fields_ = [
        ("saved_errno", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("syscall", ctypes.c_char_p),
        ("message", ctypes.c_char_p),
    ]


_ErrP = ctypes.POINTER(_CError)


def _load():
    name = os.environ.get("PROCROOT_LIB") or ctypes.util.find_library("procroot") or "libprocroot.so.0"
    lib = ctypes.CDLL(name)
    P, I, U, S, C = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t, ctypes.c_char_p
    E = ctypes.POINTER(_ErrP)
    PP = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "procroot_version": ([], C),
        "procroot_error_free": ([_ErrP], None),
        "procroot_root_open": ([C, PP, E], I),
        "procroot_root_for_pid": ([U, PP, E], I),
        "procroot_root_from_fd": ([I, PP, E], I),
        "procroot_root_free": ([P], None),
        "procroot_root_fd": ([P, E], I),
        "procroot_root_set_policy": ([P, I, E], I),
        "procroot_root_set_flags": ([P, U, E], I),
        "procroot_root_set_backend": ([P, I, E], I),
        "procroot_root_set_special_files": ([P, I, E], I),
        "procroot_resolve": ([P, C, E], I),
        "procroot_resolve_nofollow": ([P, C, E], I),
        "procroot_open_file": ([P, C, I, E], I),
        "procroot_readlink": ([P, C, ctypes.c_char_p, S, E], I),
        "procroot_eval_symlinks": ([P, C, I, ctypes.c_char_p, S, E], I),
        "procroot_create_file": ([P, C, I, U, E], I),
        "procroot_mkdir_all": ([P, C, U, E], I),
        "procroot_remove_file": ([P, C, E], I),
        "procroot_remove_dir": ([P, C, E], I),
        "procroot_remove_all": ([P, C, E], I),
        "procroot_rename": ([P, C, C, U, E], I),
        "procroot_symlink": ([P, C, C, E], I),
        "procroot_hardlink": ([P, C, C, E], I),
        "procroot_mknod": ([P, C, U, U, U, U, E], I),
        "procroot_set_permissions": ([P, C, U, E], I),
        "procroot_chown": ([P, C, U, U, E], I),
        "procroot_reopen": ([I, I, I, E], I),
        "procroot_pidfd_open": ([U, PP, E], I),
        "procroot_pidfd_free": ([P], None),
        "procroot_procfs_for_pidns": ([I, PP, E], I),
        "procroot_procfs_free": ([P], None),
        "procroot_procfs_open": ([P, I, U, P, C, I, E], I),
        "procroot_procfs_open_follow": ([P, I, U, P, C, I, E], I),
        "procroot_procfs_readlink": ([P, I, U, P, C, ctypes.c_char_p, S, E], I),
        "procroot_procfs_write": ([P, I, U, P, C, ctypes.c_char_p, S, E], I),
        "procroot_sealed_exe_ensure": ([E], I),
        "procroot_mask_paths": ([P, ctypes.POINTER(C), S, ctypes.POINTER(ctypes.c_int32), E], I),
        "procroot_make_readonly": ([P, ctypes.POINTER(C), S, ctypes.POINTER(ctypes.c_int32), E], I),
        "procroot_mount_procfs": ([P, C, I, I, I, E], I),
        "procroot_write_sysctl": ([U, C, C, E], I),
    }
    for fname, (args, res) in sigs.items():
        f = getattr(lib, fname)
        f.argtypes = args
        f.restype = res
    return lib


_lib = _load()

_BASES = {
    _errno.ENOENT: FileNotFoundError,
    _errno.EEXIST: FileExistsError,
    _errno.EACCES: PermissionError,
    _errno.EPERM: PermissionError,
    _errno.ENOTDIR: NotADirectoryError,
    _errno.EISDIR: IsADirectoryError,
    _errno.ESRCH: ProcessLookupError,
    _errno.EINTR: InterruptedError,
    _errno.EAGAIN: BlockingIOError,
}


class ProcrootError(OSError):
    """An error from procroot: ``errno``, ``strerror`` (procroot's full message), ``filename``
    (the path given), ``kind`` ("NotFound", "SafetyViolation", "InvalidInput", "NotSupported",
    "Os") and ``syscall`` (the system call that failed, or None)."""

    kind = "Os"
    syscall = None


_classes = {}


def _error_class(code):
    base = _BASES.get(code)
    if base is None:
        return ProcrootError
    cls = _classes.get(base)
    if cls is None:
        cls = type("Procroot" + base.__name__, (ProcrootError, base), {"__module__": __name__})
        _classes[base] = cls
    return cls


def _raise(ret, err, filename=None):
    code = -ret
    message, kind, syscall = os.strerror(code), "Os", None
    if err:
        e = err.contents
        code = e.saved_errno
        message = e.message.decode("utf-8", "replace") if e.message else message
        syscall = e.syscall.decode() if e.syscall else None
        kind = _KINDS.get(e.kind, "Os")
        _lib.procroot_error_free(err)
    exc = _error_class(code)(code, message, filename)
    exc.kind, exc.syscall = kind, syscall
    raise exc


def _call(fn, *args, filename=None):
    err = _ErrP()
    ret = fn(*args, ctypes.byref(err))
    if ret < 0:
        _raise(ret, err, filename)
    return ret


def _b(path):
    if isinstance(path, bytes):
        b = path
    else:
        b = os.fsencode(path)
    if b"\0" in b:
        raise ProcrootError(_errno.EINVAL, "path contains a NUL byte", path)
    return b


def _buffer(fill, filename):
    size = 256
    while True:
        buf = ctypes.create_string_buffer(size)
        err = _ErrP()
        n = fill(buf, size, ctypes.byref(err))
        if n < 0:
            _raise(n, err, filename)
        if n < size:
            return os.fsdecode(buf.raw[:n])
        size = n + 1


def version():
    """The C library's version."""
    return _lib.procroot_version().decode()


_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
          "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def _mode_flags(mode):
    kinds = [c for c in mode if c in "rwax"]
    if len(kinds) != 1 or any(c not in "rwaxbt+" for c in mode):
        raise ValueError("invalid mode: %r" % mode)
    flags = _FLAGS[kinds[0]]
    if "+" in mode:
        flags = (flags & ~(os.O_WRONLY | os.O_RDONLY)) | os.O_RDWR
    return flags | os.O_CLOEXEC


class Handle:
    """An ``O_PATH`` fd that pins what a resolution found. ``fileno()``, ``close()``, and
    ``open(mode)`` to open the pinned file for real (through the hardened procfs)."""

    def __init__(self, fd, name):
        self._fd = fd
        self.name = name

    def fileno(self):
        if self._fd < 0:
            raise ValueError("handle is closed")
        return self._fd

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def open(self, mode="r", allow_special=False, **kwargs):
        """The pinned file, opened with a Python ``mode`` ("r", "w", "r+", "rb"...; no
        creation), as a file object."""
        flags = _mode_flags(mode) & ~(os.O_CREAT | os.O_EXCL)
        fd = reopen(self.fileno(), flags, allow_special)
        return os.fdopen(fd, mode.replace("x", "w"), **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def reopen(fd, flags, allow_special=False):
    """``procroot_reopen``: a new fd for the file that the ``O_PATH`` fd pins."""
    return _call(_lib.procroot_reopen, fd, flags | os.O_CLOEXEC, 1 if allow_special else 0)


class Root:
    """A directory that paths are resolved inside of, as if it were ``/``. A context manager;
    ``close()`` may be called twice and waits for calls in flight on other threads."""

    def __init__(self, path=None, *, _ptr=None):
        self._cond = threading.Condition()
        self._busy = 0
        if _ptr is not None:
            self._p = _ptr
            return
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_open, _b(path), ctypes.byref(out), filename=path)
        self._p = out

    @classmethod
    def for_pid(cls, pid):
        """The root of process ``pid`` (``/proc/<pid>/root``), opened through a pidfd."""
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_for_pid, pid, ctypes.byref(out), filename="/proc/%d/root" % pid)
        return cls(_ptr=out)

    @classmethod
    def from_fd(cls, fd):
        """A root from an open directory fd (duplicated; ``fd`` stays the caller's)."""
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_from_fd, fd, ctypes.byref(out))
        return cls(_ptr=out)

    # -- lifetime ------------------------------------------------------------------------
    def close(self):
        with self._cond:
            while self._busy:
                self._cond.wait()
            if self._p is not None:
                _lib.procroot_root_free(self._p)
                self._p = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _run(self, name, *args, filename=None):
        with self._cond:
            if self._p is None:
                raise ProcrootError(_errno.EBADF, "procroot: root is closed", filename)
            self._busy += 1
            p = self._p
        try:
            return _call(getattr(_lib, name), p, *args, filename=filename)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def fileno(self):
        """The root's ``O_PATH`` directory fd (borrowed)."""
        return self._run("procroot_root_fd")

    # -- settings ------------------------------------------------------------------------
    def set_policy(self, policy):
        self._run("procroot_root_set_policy", policy)

    def set_flags(self, flags):
        self._run("procroot_root_set_flags", flags)

    def set_backend(self, backend):
        self._run("procroot_root_set_backend", backend)

    def set_special_files(self, allow):
        self._run("procroot_root_set_special_files", 1 if allow else 0)

    # -- resolution ----------------------------------------------------------------------
    def resolve(self, path):
        """A ``Handle`` (``O_PATH``) of what ``path`` resolves to, trailing symlink followed."""
        return Handle(self._run("procroot_resolve", _b(path), filename=path), path)

    def resolve_nofollow(self, path):
        """``resolve`` without following a trailing symlink."""
        return Handle(self._run("procroot_resolve_nofollow", _b(path), filename=path), path)

    def open(self, path, mode="r", perm=0o666, **kwargs):
        """Opens ``path`` inside the root as a file object, with a Python ``mode`` as
        ``open()`` takes it ("r", "rb", "w", "a", "x", "r+"...)."""
        flags = _mode_flags(mode)
        if flags & os.O_CREAT:
            fd = self._run("procroot_create_file", _b(path), flags & ~os.O_CREAT, perm,
                           filename=path)
        else:
            fd = self._run("procroot_open_file", _b(path), flags, filename=path)
        return os.fdopen(fd, mode, **kwargs)

    def _path_out(self, name, path, *extra):
        with self._cond:
            if self._p is None:
                raise ProcrootError(_errno.EBADF, "procroot: root is closed", path)
            self._busy += 1
            p = self._p
        try:
            fn = getattr(_lib, name)
            return _buffer(lambda buf, size, err: fn(p, _b(path), *extra, buf, size, err), path)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def readlink(self, path):
        return self._path_out("procroot_readlink", path)

    def eval_symlinks(self, path, except_last=False):
        """The absolute path inside the root that ``path`` resolves to (procfsroot's
        EvalSymlinks; ``except_last``: EvalExceptLast)."""
        return self._path_out("procroot_eval_symlinks", path, 1 if except_last else 0)

    # -- mutation ------------------------------------------------------------------------
    def mkdir_all(self, path, mode=0o755):
        return Handle(self._run("procroot_mkdir_all", _b(path), mode, filename=path), path)

    def remove_file(self, path):
        self._run("procroot_remove_file", _b(path), filename=path)

    def remove_dir(self, path):
        self._run("procroot_remove_dir", _b(path), filename=path)

    def remove_all(self, path):
        self._run("procroot_remove_all", _b(path), filename=path)

    def rename(self, src, dst, flags=0):
        self._run("procroot_rename", _b(src), _b(dst), flags, filename=src)

    def symlink(self, target, linkpath):
        self._run("procroot_symlink", _b(target), _b(linkpath), filename=linkpath)

    def hardlink(self, existing, newpath):
        self._run("procroot_hardlink", _b(existing), _b(newpath), filename=newpath)

    def mknod(self, path, type, mode=0o600, major=0, minor=0):
        """``type`` is ``stat.S_IFIFO``, ``S_IFCHR`` or ``S_IFBLK``."""
        self._run("procroot_mknod", _b(path), type, mode, major, minor, filename=path)

    def chmod(self, path, mode):
        self._run("procroot_set_permissions", _b(path), mode, filename=path)

    def chown(self, path, uid=-1, gid=-1):
        conv = lambda v: 0xFFFFFFFF if v < 0 else v  # noqa: E731
        self._run("procroot_chown", _b(path), conv(uid), conv(gid), filename=path)


    # -- container layer -----------------------------------------------------------------
    def _paths_call(self, name, paths):
        paths = list(paths)
        arr = (ctypes.c_char_p * max(len(paths), 1))(*[_b(p) for p in paths])
        results = (ctypes.c_int32 * max(len(paths), 1))()
        with self._cond:
            if self._p is None:
                raise ProcrootError(_errno.EBADF, "procroot: root is closed")
            self._busy += 1
            p = self._p
        try:
            err = _ErrP()
            ret = getattr(_lib, name)(p, arr, len(paths), results, ctypes.byref(err))
            if ret < 0:
                _raise(ret, err)
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()
        out = {}
        for path, r in zip(paths, results):
            out[path] = None if r == 0 else SKIPPED if r == 1 else -r
        return out

    def mask_paths(self, paths):
        """Masks ``paths`` as runc's maskedPaths (directory: empty read-only tmpfs; else the
        host's /dev/null). Returns ``{path: None (masked) | SKIPPED}``; raises if any path was
        refused (the others are masked). Changes this thread's mount namespace."""
        return self._paths_call("procroot_mask_paths", paths)

    def make_readonly(self, paths):
        """Makes ``paths`` read-only (runc's readonlyPaths); results as ``mask_paths``."""
        return self._paths_call("procroot_make_readonly", paths)

    def mount_procfs(self, dest, pidns_fd=-1, subset_pid=False, hidepid=-1):
        """Mounts a new procfs on the directory ``dest`` (a symlink on the way: ELOOP; below the
        root's /proc or on a procfs: EPERM). With ``pidns_fd`` before Linux 6.18 the instance is
        made by a helper forked into that namespace: non-dumpable, but its /proc/<pid>/exe is
        this program's binary while it lives (call ``sealed_exe_ensure`` first when that matters,
        CVE-2019-5736). ``pidns_fd`` without the new mount API: NotSupported."""
        self._run("procroot_mount_procfs", _b(dest), pidns_fd, 1 if subset_pid else 0, hidepid,
                  filename=dest)


def write_sysctl(name, value, pid=0):
    """Writes the sysctl ``name`` through the hardened procfs (EXDEV if something is mounted on
    it); with ``pid``, in the namespace of that process that owns it, or EINVAL: net.*, the IPC
    sysctls and fs.mqueue.*, kernel.hostname/domainname, user.*, kernel.pid_max (6.14+) only, and
    only a namespace ``pid`` does not share with the caller (kernel.core_pattern is refused)."""
    _call(_lib.procroot_write_sysctl, pid, _b(name), _b(value), filename=name)


class PidFd:
    """A pidfd, for the ``BASE_PIDFD`` procfs base: safe against PID reuse."""

    def __init__(self, pid):
        out = ctypes.c_void_p()
        _call(_lib.procroot_pidfd_open, pid, ctypes.byref(out), filename=str(pid))
        self._p = out
        self.pid = pid

    def close(self):
        if self._p is not None:
            _lib.procroot_pidfd_free(self._p)
            self._p = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Procfs:
    """procroot's hardened procfs. ``Procfs()`` is the cached instance; ``Procfs.for_pidns``
    makes one for another PID namespace. ``base`` is a ``BASE_*`` constant, ``pid`` goes with
    ``BASE_PID`` and ``pidfd`` (a ``PidFd``) with ``BASE_PIDFD``."""

    def __init__(self, _ptr=None):
        self._p = _ptr

    @classmethod
    def for_pidns(cls, nsfd):
        out = ctypes.c_void_p()
        _call(_lib.procroot_procfs_for_pidns, nsfd, ctypes.byref(out))
        return cls(out)

    def close(self):
        if self._p is not None:
            _lib.procroot_procfs_free(self._p)
            self._p = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _base(base, pid, pidfd):
        return base, pid, (pidfd._p if pidfd is not None else None)

    def open(self, base, subpath, mode="r", pid=0, pidfd=None, follow=False, **kwargs):
        """``subpath`` under ``base`` as a file object (no creation). ``follow``: follow a final
        magic link (``exe``, ``fd/N``), refused with EXDEV when something is mounted on it."""
        flags = _mode_flags(mode) & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC)
        fn = _lib.procroot_procfs_open_follow if follow else _lib.procroot_procfs_open
        fd = _call(fn, self._p, *self._base(base, pid, pidfd), _b(subpath), flags,
                   filename=subpath)
        return os.fdopen(fd, mode, **kwargs)

    def readlink(self, base, subpath, pid=0, pidfd=None):
        b = self._base(base, pid, pidfd)
        return _buffer(
            lambda buf, size, err: _lib.procroot_procfs_readlink(self._p, *b, _b(subpath), buf,
                                                                 size, err), subpath)

    def write(self, base, subpath, data, pid=0, pidfd=None):
        """Writes ``data`` (bytes) in one ``write(2)``; a short write is an error."""
        _call(_lib.procroot_procfs_write, self._p, *self._base(base, pid, pidfd), _b(subpath),
              data, len(data), filename=subpath)


def sealed_exe_ensure():
    """Makes sure the running binary is a sealed copy (CVE-2019-5736), re-executing it if
    needed; returns "overlay", "memfd" or "tmpfile"."""
    return {1: "overlay", 2: "memfd", 3: "tmpfile"}[_call(_lib.procroot_sealed_exe_ensure)]
