"""procroot: race-free path resolution inside another root, over libprocroot's C ABI (ctypes).

Errors are ``ProcrootError``, a subclass of ``OSError`` with the right ``errno``, and also of the
matching built-in subclass (``FileNotFoundError``, ``FileExistsError``, ``PermissionError``...),
so ``except FileNotFoundError`` works. Each error travels with its own call: the C library has
no thread-local "last error", and ctypes releases the GIL during calls, so several threads may
use one ``Root``, ``PidFd`` or ``Procfs`` at once.

Lifetimes: every object that owns a C handle (``Root``, ``PidFd``, ``Procfs``) counts the calls
in flight; ``close()`` (also run by ``with`` and by the garbage collector) waits for them, and
every later call raises ``EBADF``. The ``Root`` setters take the root exclusively: they wait
for the calls in flight and change only later ones.

Integers are range-checked before they reach C, never truncated: a pid, uid, gid, mode, device
number, fd or flag word that does not fit its C type raises ``OverflowError`` (a non-integer
``TypeError``), and nothing is changed. For ``chown``, only ``-1`` means "unchanged".

Paths are ``str``, ``bytes`` or ``os.PathLike``; a path returned (``readlink``,
``eval_symlinks``) is ``bytes`` when the path given was ``bytes``, as with ``os.readlink``.

The library, first found of: ``$PROCROOT_LIB`` (the ``.so`` file's full path; when set, only
it is tried), the ``libprocroot.so.0`` that ``pip install ./bindings/python`` built and put
inside this package, and ``libprocroot.so.0`` from the dynamic loader's path (``ldconfig``,
``LD_LIBRARY_PATH``). When none loads, ``import procroot`` raises ``ImportError`` saying so.
"""

import contextlib
import ctypes
import errno as _errno
import operator
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


#: The library's SONAME: what the dynamic loader looks for, and the bundled file's name.
_SONAME = "libprocroot.so.0"
_INSTALL_HINT = (
    "install the package from a procroot checkout with `pip install ./bindings/python` (it "
    "builds the library with cargo and ships it inside the package), or build and install the "
    "C library with `make -C crates/procroot-capi && sudo make -C crates/procroot-capi install "
    "&& sudo ldconfig`, or set PROCROOT_LIB to the full path of a libprocroot.so.0"
)


class _WalkEntry(ctypes.Structure):
    """``procroot_walk_entry``."""

    _fields_ = [
        ("path", ctypes.c_void_p),
        ("path_len", ctypes.c_size_t),
        ("depth", ctypes.c_size_t),
        ("file_type", ctypes.c_int),
        ("is_mount_point", ctypes.c_int),
        ("is_followed_link", ctypes.c_int),
    ]


# procroot_walk_open flags and procroot_walk_entry types (procroot.h).
_WALK_FOLLOW_LINKS, _WALK_CROSS_MOUNTS, _WALK_SORT = 1, 2, 4
_TYPE_DIR = 2


def _open_library():
    """The first library that loads, in the documented order, and the path it came from.

    An explicit ``PROCROOT_LIB`` that fails is an error, never a quiet fall back to another
    library: whoever set it meant that file. The bundled file is loaded by its absolute path, so
    no ``LD_LIBRARY_PATH`` or loader cache can substitute another one for it.
    """
    explicit = os.environ.get("PROCROOT_LIB")
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as e:
            raise ImportError(
                f"procroot: cannot load PROCROOT_LIB={explicit!r} ({e}); unset PROCROOT_LIB to "
                f"use the bundled or the system {_SONAME}, or point it at the full path of a "
                f"{_SONAME}"
            ) from e
    tried = []
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), _SONAME)
    if os.path.exists(bundled):
        try:
            return ctypes.CDLL(bundled), bundled
        except OSError as e:
            tried.append(f"bundled {bundled}: {e}")
    else:
        tried.append(f"no bundled {bundled}")
    try:
        return ctypes.CDLL(_SONAME), _SONAME
    except OSError as e:
        tried.append(f"system: {e}")
    raise ImportError(
        f"procroot: cannot load {_SONAME} ({'; '.join(tried)}); PROCROOT_LIB is not set. "
        f"To fix it: {_INSTALL_HINT}"
    )


def _load():
    lib, path = _open_library()
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
        "procroot_walk_open": ([P, C, U, S, ctypes.c_int64, PP, E], I),
        "procroot_walk_next": ([P, ctypes.POINTER(_WalkEntry), E], I),
        "procroot_walk_skip_current_dir": ([P, E], I),
        "procroot_walk_open_entry": ([P, I, E], I),
        "procroot_walk_free": ([P], None),
    }
    for fname, (args, res) in sigs.items():
        f = getattr(lib, fname)
        f.argtypes = args
        f.restype = res
    return lib, path


#: Where the C library was loaded from: a full path, or the SONAME when the loader found it.
_lib, _LIBRARY_PATH = _load()

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


def _own_error(code, message, filename=None, kind="InvalidInput"):
    """An error the binding itself raises (bad input, a closed handle): the same class as the C
    library's for that errno, with the kind it would have given."""
    exc = _error_class(code)(code, message, filename)
    exc.kind = kind
    return exc


def _ranged(v, lo, hi, what):
    """``v`` as an int within ``lo..hi``: ctypes would silently truncate anything else (2**32 as
    a uid is 0, root; 2**32 + pid is pid)."""
    v = operator.index(v)
    if not lo <= v <= hi:
        raise OverflowError("procroot: %s %d is out of range (%d to %d)" % (what, v, lo, hi))
    return v


def _u32(v, what):
    return _ranged(v, 0, 0xFFFFFFFF, what)


def _cint(v, what):
    return _ranged(v, -0x80000000, 0x7FFFFFFF, what)


def _pid(v):
    return _ranged(v, 1, 0x7FFFFFFF, "pid")


def _id(v, what):
    """A uid or gid for chown: -1 is "unchanged"; 0xFFFFFFFF itself is that same C value, so it
    is refused as an id, as is any other negative number."""
    v = operator.index(v)
    if v == -1:
        return 0xFFFFFFFF
    return _ranged(v, 0, 0xFFFFFFFE, what)


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
        raise _own_error(_errno.EINVAL, "procroot: path contains a NUL byte", path)
    return b


def _buffer(fill, filename):
    """The path a C call writes, as ``bytes`` if ``filename`` (the path given) is ``bytes``,
    else as ``str``."""
    size = 256
    while True:
        buf = ctypes.create_string_buffer(size)
        err = _ErrP()
        n = fill(buf, size, ctypes.byref(err))
        if n < 0:
            _raise(n, err, filename)
        if n < size:
            out = buf.raw[:n]
            return out if isinstance(filename, bytes) else os.fsdecode(out)
        size = n + 1


def version():
    """The C library's version."""
    return _lib.procroot_version().decode()


_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
          "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL}


def _mode_flags(mode, kwargs=None):
    """The ``open(2)`` flags of a Python ``mode``, checked as ``open()`` checks it (and its
    keyword arguments) before any fd exists, so that a bad mode leaks nothing."""
    if not isinstance(mode, str):
        raise TypeError("mode must be str, not %s" % type(mode).__name__)
    kinds = [c for c in mode if c in "rwax"]
    if (len(kinds) != 1 or any(c not in "rwaxbt+" for c in mode) or len(set(mode)) != len(mode)
            or ("b" in mode and "t" in mode)):
        raise ValueError("invalid mode: %r" % mode)
    if "b" in mode and kwargs:
        for k in ("encoding", "errors", "newline"):
            if kwargs.get(k) is not None:
                raise ValueError("binary mode doesn't take an %s argument" % k)
    flags = _FLAGS[kinds[0]]
    if "+" in mode:
        flags = (flags & ~(os.O_WRONLY | os.O_RDONLY)) | os.O_RDWR
    return flags | os.O_CLOEXEC


def _fdopen(fd, mode, kwargs):
    """``os.fdopen`` that closes ``fd`` when it fails (a bad keyword argument), never leaks it."""
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


class _Owner:
    """Owns one C handle (or, for ``Handle``, one fd): calls hold it (a busy count) for their
    whole duration, ``close()`` waits for them before freeing it, and every call after
    ``close()`` raises ``EBADF``. So a ``close()`` on one thread racing a call on another never
    frees memory, or an fd number, that the call still uses (which a new handle or a new file
    could then reuse: the call would act on the wrong process, root or file)."""

    _what = "handle"
    _free = None  # the C function that frees the handle

    def _release(self, p):
        """Frees what ``close()`` took: the C handle (a NULL one, the cached Procfs, is
        nobody's to free)."""
        if p.value is not None:
            type(self)._free(p)

    def _own(self, ptr):
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self._p = ptr

    def _closed_error(self, filename=None):
        return _own_error(_errno.EBADF, "procroot: %s is closed" % self._what, filename)

    @contextlib.contextmanager
    def _hold(self, filename=None):
        """The C pointer, held for one call."""
        with self._cond:
            if self._closed:
                raise self._closed_error(filename)
            self._busy += 1
            p = self._p
        try:
            yield p
        finally:
            with self._cond:
                self._busy -= 1
                if not self._busy:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def _exclusive(self):
        """The C pointer, held alone: waits for the calls in flight, and no call starts until
        the block ends (the condition's lock is held throughout)."""
        with self._cond:
            while self._busy:
                self._cond.wait()
            if self._closed:
                raise self._closed_error()
            yield self._p

    def close(self):
        """Frees the handle once the calls in flight on other threads are done; later calls raise
        ``EBADF``. May be called twice."""
        cond = getattr(self, "_cond", None)
        if cond is None:  # __init__ failed before owning anything
            return
        with cond:
            while self._busy:
                cond.wait()
            if not self._closed:
                self._closed = True
                p, self._p = self._p, None
                if p is not None:
                    self._release(p)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Handle(_Owner):
    """An ``O_PATH`` fd that pins what a resolution found. ``fileno()``, ``close()``, and
    ``open(mode)`` to open the pinned file for real (through the hardened procfs). ``close()``
    waits for an ``open`` in flight on another thread, so the fd number is never reused under
    it; later calls raise ``EBADF`` (``fileno()`` ``ValueError``, as a closed file's)."""

    _what = "handle"

    def __init__(self, fd, name):
        self._own(fd)
        self.name = name

    def _release(self, fd):
        os.close(fd)

    def fileno(self):
        """The ``O_PATH`` fd, borrowed: valid until ``close()``."""
        with self._cond:
            if self._closed:
                raise ValueError("handle is closed")
            return self._p

    def open(self, mode="r", allow_special=False, **kwargs):
        """The pinned file, opened with a Python ``mode`` ("r", "w", "r+", "rb"...; no
        creation), as a file object."""
        flags = _mode_flags(mode, kwargs) & ~(os.O_CREAT | os.O_EXCL)
        with self._hold(self.name) as fd:
            new = reopen(fd, flags, allow_special)
        return _fdopen(new, mode.replace("x", "w"), kwargs)


def reopen(fd, flags, allow_special=False):
    """``procroot_reopen``: a new fd for the file that the ``O_PATH`` fd pins."""
    return _call(_lib.procroot_reopen, _cint(fd, "fd"), _cint(flags | os.O_CLOEXEC, "flags"),
                 1 if allow_special else 0)


class Root(_Owner):
    """A directory that paths are resolved inside of, as if it were ``/``. A context manager;
    ``close()`` may be called twice and waits for calls in flight on other threads."""

    _what = "root"
    _free = staticmethod(lambda p: _lib.procroot_root_free(p))

    def __init__(self, path=None, *, _ptr=None):
        if _ptr is not None:
            self._own(_ptr)
            return
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_open, _b(path), ctypes.byref(out), filename=path)
        self._own(out)

    @classmethod
    def for_pid(cls, pid):
        """The root of process ``pid`` (``/proc/<pid>/root``), opened through a pidfd."""
        pid = _pid(pid)
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_for_pid, pid, ctypes.byref(out), filename="/proc/%d/root" % pid)
        return cls(_ptr=out)

    @classmethod
    def from_fd(cls, fd):
        """A root from an open directory fd (duplicated; ``fd`` stays the caller's)."""
        out = ctypes.c_void_p()
        _call(_lib.procroot_root_from_fd, _cint(fd, "fd"), ctypes.byref(out))
        return cls(_ptr=out)

    def _run(self, name, *args, filename=None):
        with self._hold(filename) as p:
            return _call(getattr(_lib, name), p, *args, filename=filename)

    def _set(self, name, *args):
        with self._exclusive() as p:
            _call(getattr(_lib, name), p, *args)

    def fileno(self):
        """The root's ``O_PATH`` directory fd (borrowed)."""
        return self._run("procroot_root_fd")

    # -- settings (each waits for the calls in flight) -------------------------------------
    def set_policy(self, policy):
        self._set("procroot_root_set_policy", _cint(policy, "policy"))

    def set_flags(self, flags):
        self._set("procroot_root_set_flags", _u32(flags, "flags"))

    def set_backend(self, backend):
        self._set("procroot_root_set_backend", _cint(backend, "backend"))

    def set_special_files(self, allow):
        self._set("procroot_root_set_special_files", 1 if allow else 0)

    # -- resolution ----------------------------------------------------------------------
    def resolve(self, path):
        """A ``Handle`` (``O_PATH``) of what ``path`` resolves to, trailing symlink followed."""
        return Handle(self._run("procroot_resolve", _b(path), filename=path), path)

    def resolve_nofollow(self, path):
        """``resolve`` without following a trailing symlink."""
        return Handle(self._run("procroot_resolve_nofollow", _b(path), filename=path), path)

    def open(self, path, mode="r", perm=0o666, **kwargs):
        """Opens ``path`` inside the root as a file object, with a Python ``mode`` as
        ``open()`` takes it ("r", "rb", "w", "a", "x", "r+"...). The mode and keyword arguments
        are checked before anything is opened or created."""
        flags = _mode_flags(mode, kwargs)
        if flags & os.O_CREAT:
            fd = self._run("procroot_create_file", _b(path), flags & ~os.O_CREAT,
                           _u32(perm, "perm"), filename=path)
        else:
            fd = self._run("procroot_open_file", _b(path), flags, filename=path)
        return _fdopen(fd, mode, kwargs)

    def _path_out(self, name, path, *extra):
        b = _b(path)
        with self._hold(path) as p:
            fn = getattr(_lib, name)
            return _buffer(lambda buf, size, err: fn(p, b, *extra, buf, size, err), path)

    def readlink(self, path):
        """The symlink's target (``bytes`` for a ``bytes`` path)."""
        return self._path_out("procroot_readlink", path)

    def eval_symlinks(self, path, except_last=False):
        """The absolute path inside the root that ``path`` resolves to (procfsroot's
        EvalSymlinks; ``except_last``: EvalExceptLast, where a trailing slash still resolves
        the last component, as procfsroot does). ``bytes`` for a ``bytes`` path."""
        return self._path_out("procroot_eval_symlinks", path, 1 if except_last else 0)

    # -- mutation ------------------------------------------------------------------------
    def mkdir_all(self, path, mode=0o755):
        return Handle(self._run("procroot_mkdir_all", _b(path), _u32(mode, "mode"),
                                filename=path), path)

    def remove_file(self, path):
        self._run("procroot_remove_file", _b(path), filename=path)

    def remove_dir(self, path):
        self._run("procroot_remove_dir", _b(path), filename=path)

    def remove_all(self, path):
        self._run("procroot_remove_all", _b(path), filename=path)

    def rename(self, src, dst, flags=0):
        self._run("procroot_rename", _b(src), _b(dst), _u32(flags, "flags"), filename=src)

    def symlink(self, target, linkpath):
        self._run("procroot_symlink", _b(target), _b(linkpath), filename=linkpath)

    def hardlink(self, existing, newpath):
        self._run("procroot_hardlink", _b(existing), _b(newpath), filename=newpath)

    def mknod(self, path, type, mode=0o600, major=0, minor=0):
        """``type`` is ``stat.S_IFIFO``, ``S_IFCHR`` or ``S_IFBLK``."""
        self._run("procroot_mknod", _b(path), _u32(type, "type"), _u32(mode, "mode"),
                  _u32(major, "major"), _u32(minor, "minor"), filename=path)

    def chmod(self, path, mode):
        self._run("procroot_set_permissions", _b(path), _u32(mode, "mode"), filename=path)

    def chown(self, path, uid=-1, gid=-1):
        """``chown`` inside the root; ``-1`` leaves an id unchanged (any other negative id, or
        one from ``2**32 - 1`` up, raises ``OverflowError``)."""
        self._run("procroot_chown", _b(path), _id(uid, "uid"), _id(gid, "gid"), filename=path)

    # -- walking -------------------------------------------------------------------------
    def _list_dir(self, path, flags):
        """One directory of ``walk``: ``(start entry, [(name, is_dir)], [errors])``, read by
        one C walk of depth 1 (its start resolved inside the root)."""
        b = _b(path)
        with self._hold(path) as p:
            w = ctypes.c_void_p()
            err = _ErrP()
            ret = _lib.procroot_walk_open(p, b, flags, 0, 1, ctypes.byref(w), ctypes.byref(err))
            if ret < 0:
                _raise(ret, err, path)
        start, children, errors = None, [], []
        try:
            entry = _WalkEntry()
            while True:
                err = _ErrP()
                ret = _lib.procroot_walk_next(w, ctypes.byref(entry), ctypes.byref(err))
                if ret == 0:
                    break
                where = ctypes.string_at(entry.path, entry.path_len) if entry.path else b""
                if ret < 0:
                    try:
                        _raise(ret, err, where)
                    except OSError as exc:
                        errors.append(exc)
                    continue
                if entry.depth == 0:
                    start = (where, bool(entry.is_mount_point))
                else:
                    name = where.rsplit(b"/", 1)[-1]
                    children.append((name, entry.file_type == _TYPE_DIR))
        finally:
            _lib.procroot_walk_free(w)
        return start, children, errors

    def walk(self, top="/", topdown=True, onerror=None, followlinks=False, *,
             cross_mounts=False):
        """``os.walk`` inside the root: yields ``(dirpath, dirnames, filenames)`` for ``top``
        and every directory below it, names sorted bytewise; with ``topdown`` (the default)
        ``dirnames`` may be pruned in place to skip directories. ``bytes`` for a ``bytes``
        ``top``. Errors go to ``onerror(OSError)`` (with ``filename`` the path inside the root)
        and the walk goes on, as ``os.walk``.

        Unlike ``os.walk`` it never leaves the root: ``top`` and each directory are resolved
        inside it and listed through their own descriptor; a symlink is in ``filenames`` and is
        not looked at unless ``followlinks``, when it is resolved inside the root (an absolute
        target starts at the root), put in ``dirnames`` if it leads to a directory, and walked
        unless that directory is one the walk is already in (a cycle: ``onerror`` gets an
        ``ELOOP`` error and it is not walked). A directory on another mount is listed in
        ``dirnames`` but not walked unless ``cross_mounts``. A directory that is replaced by a
        symlink between its listing and its walk is not walked (without ``followlinks``)."""
        flags = _WALK_SORT
        if followlinks:
            flags |= _WALK_FOLLOW_LINKS
        if cross_mounts:
            flags |= _WALK_CROSS_MOUNTS
        as_bytes = isinstance(top, bytes)
        top_b = _b(top)
        # (dirpath given to the caller, path inside the root it must be (None: any), the paths
        # inside the root of the directories above it), or ("post", tuple) for bottom-up.
        stack = [(top_b, None, ())]
        while stack:
            item = stack.pop()
            if item[0] == "post":
                yield item[1]
                continue
            dirpath, expected, above = item
            try:
                start, children, errors = self._list_dir(dirpath, flags)
            except OSError as exc:
                if onerror is not None:
                    onerror(exc)
                continue
            for exc in errors:
                if onerror is not None:
                    onerror(exc)
            if start is None:
                continue
            where, mount_point = start
            if above:
                if followlinks:
                    if where in above:
                        if onerror is not None:
                            onerror(_own_error(_errno.ELOOP, "procroot: %r leads back to a "
                                               "directory the walk is in (a cycle)"
                                               % os.fsdecode(dirpath), dirpath,
                                               "SafetyViolation"))
                        continue
                elif where != expected:
                    continue
                if mount_point and not cross_mounts:
                    continue
            dirnames = [n for n, is_dir in children if is_dir]
            filenames = [n for n, is_dir in children if not is_dir]
            out = (dirpath, dirnames, filenames) if as_bytes else (
                os.fsdecode(dirpath), [os.fsdecode(n) for n in dirnames],
                [os.fsdecode(n) for n in filenames])
            if topdown:
                yield out
                dirnames = [_b(n) for n in out[1]]
            else:
                stack.append(("post", out))
            base = dirpath.rstrip(b"/") if dirpath.rstrip(b"/") else b""
            for name in reversed(dirnames):
                child = base + b"/" + name if base or dirpath.startswith(b"/") else name
                stack.append((child, where.rstrip(b"/") + b"/" + name, above + (where,)))

    # -- container layer -----------------------------------------------------------------
    def _paths_call(self, name, paths):
        # A str is a sequence of one-letter paths ("/" first): refused before anything is
        # mounted, where iterating it would have masked the root itself.
        if isinstance(paths, (str, bytes, bytearray, os.PathLike)):
            raise TypeError("paths must be a list of paths, not a single %s"
                            % type(paths).__name__)
        paths = list(paths)
        arr = (ctypes.c_char_p * max(len(paths), 1))(*[_b(p) for p in paths])
        results = (ctypes.c_int32 * max(len(paths), 1))()
        with self._hold() as p:
            err = _ErrP()
            ret = getattr(_lib, name)(p, arr, len(paths), results, ctypes.byref(err))
            if ret < 0:
                _raise(ret, err)
        out = {}
        for path, r in zip(paths, results):
            out[path] = None if r == 0 else SKIPPED if r == 1 else -r
        return out

    def mask_paths(self, paths):
        """Masks ``paths`` (a list; a single ``str`` raises ``TypeError``) as runc's
        maskedPaths (directory: empty read-only tmpfs; else the host's /dev/null). Returns
        ``{path: None (masked) | SKIPPED}``; raises if any path was refused (the others are
        masked). Changes this thread's mount namespace."""
        return self._paths_call("procroot_mask_paths", paths)

    def make_readonly(self, paths):
        """Makes ``paths`` (a list, as ``mask_paths``) read-only (runc's readonlyPaths);
        results as ``mask_paths``."""
        return self._paths_call("procroot_make_readonly", paths)

    def mount_procfs(self, dest, pidns_fd=-1, subset_pid=False, hidepid=-1):
        """Mounts a new procfs on the directory ``dest`` (a symlink on the way: ELOOP; below the
        root's /proc or on a procfs: EPERM). With ``pidns_fd`` before Linux 6.18 the instance is
        made by a helper forked into that namespace: non-dumpable, but its /proc/<pid>/exe is
        this program's binary while it lives (call ``sealed_exe_ensure`` first when that matters,
        CVE-2019-5736). ``pidns_fd`` without the new mount API: NotSupported."""
        self._run("procroot_mount_procfs", _b(dest), _cint(pidns_fd, "pidns_fd"),
                  1 if subset_pid else 0, _cint(hidepid, "hidepid"), filename=dest)


def write_sysctl(name, value, pid=0):
    """Writes the sysctl ``name`` through the hardened procfs (EXDEV if something is mounted on
    it); with ``pid``, in the namespace of that process that owns it, or EINVAL: net.*, the IPC
    sysctls and fs.mqueue.*, kernel.hostname/domainname, user.*, kernel.pid_max (6.14+) only, and
    only a namespace ``pid`` does not share with the caller (kernel.core_pattern is refused)."""
    pid = 0 if pid == 0 else _pid(pid)
    _call(_lib.procroot_write_sysctl, pid, _b(name), _b(value), filename=name)


class PidFd(_Owner):
    """A pidfd, for the ``BASE_PIDFD`` procfs base: safe against PID reuse. ``close()`` waits
    for the calls using it on other threads; later calls with it raise ``EBADF``."""

    _what = "pidfd"
    _free = staticmethod(lambda p: _lib.procroot_pidfd_free(p))

    def __init__(self, pid):
        pid = _pid(pid)
        out = ctypes.c_void_p()
        _call(_lib.procroot_pidfd_open, pid, ctypes.byref(out), filename=str(pid))
        self._own(out)
        self.pid = pid


class Procfs(_Owner):
    """procroot's hardened procfs. ``Procfs()`` is the cached instance; ``Procfs.for_pidns``
    makes one for another PID namespace. ``base`` is a ``BASE_*`` constant, ``pid`` goes with
    ``BASE_PID`` and ``pidfd`` (a ``PidFd``) with ``BASE_PIDFD``. ``close()`` waits for the
    calls in flight; later calls raise ``EBADF``."""

    _what = "procfs"
    _free = staticmethod(lambda p: _lib.procroot_procfs_free(p))

    def __init__(self, _ptr=None):
        self._own(_ptr)  # None: the cached instance, nothing to free

    @classmethod
    def for_pidns(cls, nsfd):
        """A procfs instance for the PID namespace ``nsfd`` (an fd of /proc/<pid>/ns/pid).
        Before Linux 6.18 a helper process forked into the namespace makes it: non-dumpable, but
        its /proc/<pid>/exe is this program's binary while it lives (call
        ``sealed_exe_ensure`` first when that matters, CVE-2019-5736)."""
        out = ctypes.c_void_p()
        _call(_lib.procroot_procfs_for_pidns, _cint(nsfd, "nsfd"), ctypes.byref(out))
        return cls(out)

    @contextlib.contextmanager
    def _args(self, base, pid, pidfd, filename):
        """The instance, base, pid and pidfd pointer of one call, the instance and the pidfd
        both held for its duration."""
        base = _cint(base, "base")
        pid = _u32(pid, "pid")
        with self._hold(filename) as p:
            if pidfd is None:
                yield (p, base, pid, None)
            else:
                with pidfd._hold(filename) as pp:
                    yield (p, base, pid, pp)

    def open(self, base, subpath, mode="r", pid=0, pidfd=None, follow=False, **kwargs):
        """``subpath`` under ``base`` as a file object (no creation). ``follow``: follow a final
        magic link (``exe``, ``fd/N``), refused with EXDEV when something is mounted on it."""
        flags = _mode_flags(mode, kwargs) & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC)
        fn = _lib.procroot_procfs_open_follow if follow else _lib.procroot_procfs_open
        sub = _b(subpath)
        with self._args(base, pid, pidfd, subpath) as a:
            fd = _call(fn, *a, sub, flags, filename=subpath)
        return _fdopen(fd, mode, kwargs)

    def readlink(self, base, subpath, pid=0, pidfd=None):
        sub = _b(subpath)
        with self._args(base, pid, pidfd, subpath) as a:
            return _buffer(
                lambda buf, size, err: _lib.procroot_procfs_readlink(*a, sub, buf, size, err),
                subpath)

    def write(self, base, subpath, data, pid=0, pidfd=None):
        """Writes ``data`` (bytes) in one ``write(2)``; a short write is an error."""
        sub = _b(subpath)
        with self._args(base, pid, pidfd, subpath) as a:
            _call(_lib.procroot_procfs_write, *a, sub, data, len(data), filename=subpath)


def sealed_exe_ensure():
    """Makes sure the running binary is a sealed copy (CVE-2019-5736), re-executing it if
    needed; returns "overlay", "memfd", "tmpfile" or "read-only-mount" (the binary is on a
    read-only mount, no copy needed)."""
    strategies = {1: "overlay", 2: "memfd", 3: "tmpfile", 4: "read-only-mount"}
    return strategies[_call(_lib.procroot_sealed_exe_ensure)]


# --- procroot exec: running a command in another process's namespaces, as it runs ------------

EXEC_PRIVILEGED, EXEC_NO_SECCOMP, EXEC_JOIN_CGROUP = 1, 2, 4
EXEC_ENV_CLEAR, EXEC_PRESERVE_ENV = 8, 16
__all__ += ["exec_in", "credentials_of", "Credentials"]


class _CCredentials(ctypes.Structure):
    _fields_ = [
        ("uid", ctypes.c_int64), ("gid", ctypes.c_int64),
        ("cap_bounding", ctypes.c_uint64), ("cap_permitted", ctypes.c_uint64),
        ("cap_effective", ctypes.c_uint64), ("cap_inheritable", ctypes.c_uint64),
        ("cap_ambient", ctypes.c_uint64), ("no_new_privs", ctypes.c_int),
        ("seccomp_filters", ctypes.c_uint32),
    ]


_lib.procroot_credentials_of.argtypes = [ctypes.c_void_p, ctypes.POINTER(_CCredentials),
                                         ctypes.POINTER(_ErrP)]
_lib.procroot_credentials_of.restype = ctypes.c_int
_lib.procroot_exec.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                               ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p,
                               ctypes.c_uint32, ctypes.c_int64, ctypes.c_int64, ctypes.c_char_p,
                               ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_ErrP)]
_lib.procroot_exec.restype = ctypes.c_int


class Credentials:
    """How a process runs (``credentials_of``): ``uid``/``gid`` as its own user namespace numbers
    them (``None``: not mapped), the capability sets as integers (bit N is capability N),
    ``no_new_privs``, and how many ``seccomp_filters`` could be copied out of it."""

    def __init__(self, c):
        self.uid = None if c.uid < 0 else c.uid
        self.gid = None if c.gid < 0 else c.gid
        self.cap_bounding = c.cap_bounding
        self.cap_permitted = c.cap_permitted
        self.cap_effective = c.cap_effective
        self.cap_inheritable = c.cap_inheritable
        self.cap_ambient = c.cap_ambient
        self.no_new_privs = bool(c.no_new_privs)
        self.seccomp_filters = c.seccomp_filters

    def __repr__(self):
        return (f"Credentials(uid={self.uid}, gid={self.gid}, "
                f"cap_effective={self.cap_effective:#018x}, no_new_privs={self.no_new_privs}, "
                f"seccomp_filters={self.seccomp_filters})")


def credentials_of(pid):
    """The credentials of process ``pid``: what ``exec_in`` gives a command by default. Copying
    its seccomp filters stops the process briefly (``PTRACE_SECCOMP_GET_FILTER``)."""
    with PidFd(pid) as p, p._hold(str(pid)) as ptr:
        c = _CCredentials()
        _call(_lib.procroot_credentials_of, ptr, ctypes.byref(c), filename=str(pid))
        return Credentials(c)


def exec_in(pid, argv, cwd=None, privileged=False, user=None, no_seccomp=False,
            join_cgroup=False, env_clear=False, preserve_env=False, env=None, config=None):
    """Runs ``argv`` in every namespace of process ``pid`` the caller does not share, chrooted in
    its root, with the target's environment (its ``/proc/<pid>/environ``, plus the caller's
    ``TERM``; never the caller's other variables) and only fds 0-2, and waits for it; returns its
    wait status (``os.waitstatus_to_exitcode``). By default the command runs as the target runs
    (its ids, groups, capability sets, no_new_privs and seccomp filters). ``privileged=True``
    keeps the caller's credentials instead (the command then holds the caller's root inside the
    container: its binaries must be trusted); ``user=(uid, gid)`` or ``user=uid`` overrides the
    ids (gid ``None`` keeps the target's); ``no_seccomp`` runs without filters that cannot be
    copied; ``join_cgroup`` starts it in the target's cgroup (v2). ``env_clear`` starts the
    environment empty; ``preserve_env`` gives the caller's instead of the target's (the caller's
    variables, credentials included, then reach the container). ``env`` (a mapping of ``str`` or
    ``bytes`` names and values) sets variables over that. ``config`` (a path) is the container's
    OCI ``config.json``: when the target's seccomp filter cannot be copied, its ``linux.seccomp``
    section is compiled and installed instead (``procroot exec --config``); a config without that
    section, or a profile that does not compile (an unknown syscall name), raises naming the
    cause, and nothing runs."""
    if not argv:
        raise ProcrootError(_errno.EINVAL, "argv is empty")
    args = [_b(a) for a in argv]
    arr = (ctypes.c_char_p * (len(args) + 1))(*args, None)
    flags = ((EXEC_PRIVILEGED if privileged else 0) | (EXEC_NO_SECCOMP if no_seccomp else 0)
             | (EXEC_JOIN_CGROUP if join_cgroup else 0) | (EXEC_ENV_CLEAR if env_clear else 0)
             | (EXEC_PRESERVE_ENV if preserve_env else 0))
    uid, gid = -1, -1
    if user is not None:
        uid, gid = (user, None) if isinstance(user, int) else user
        # Ids are checked here (OverflowError), never truncated by ctypes; -1 is the target's.
        uid = _ranged(uid, 0, 0xFFFFFFFE, "uid")
        gid = -1 if gid is None else _ranged(gid, 0, 0xFFFFFFFE, "gid")
    envp = None
    if env is not None:
        entries = []
        for k, v in env.items():
            k, v = _b(k), _b(v)
            if not k or b"=" in k:
                raise ProcrootError(_errno.EINVAL, "environment variable name %r is empty or "
                                    "holds '='" % k)
            entries.append(k + b"=" + v)
        envp = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    status = ctypes.c_int()
    with PidFd(pid) as p, p._hold(str(pid)) as ptr:
        _call(_lib.procroot_exec, ptr, arr, envp, None if cwd is None else _b(cwd), flags, uid, gid,
              None if config is None else _b(config), ctypes.byref(status), filename=str(pid))
    return status.value


# --- procroot unpack: applying a container image layer to a root ------------------------------

LAYER_NO_SAME_OWNER, LAYER_SPECIAL_FILES, LAYER_NO_DIRLINKS, LAYER_OVERWRITE_DIRS = 1, 2, 4, 8
__all__ += ["LayerReport"]


class _CLayerReport(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "files", "dirs", "symlinks", "hardlinks", "fifos", "char_devices", "block_devices",
        "bytes_written", "whiteouts", "opaque_dirs", "skipped")] + [("compression", ctypes.c_int)]


_lib.procroot_apply_layer.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32,
                                      ctypes.POINTER(_CLayerReport), ctypes.POINTER(_ErrP)]
_lib.procroot_apply_layer.restype = ctypes.c_int


class LayerReport:
    """What ``Root.apply_layer`` did: entries made by type (``files``, ``dirs``, ``symlinks``,
    ``hardlinks``, ``fifos``, ``char_devices``, ``block_devices``), ``bytes_written``,
    ``whiteouts`` and ``opaque_dirs`` applied, how many entries were ``skipped`` or refused,
    and the ``compression`` ("none", "gzip", "zstd")."""

    def __init__(self, c):
        for name, _ in _CLayerReport._fields_[:-1]:
            setattr(self, name, getattr(c, name))
        self.compression = {0: "none", 1: "gzip", 2: "zstd"}.get(c.compression, "unknown")

    def __repr__(self):
        return (f"LayerReport(files={self.files}, dirs={self.dirs}, symlinks={self.symlinks}, "
                f"hardlinks={self.hardlinks}, bytes_written={self.bytes_written}, "
                f"whiteouts={self.whiteouts}, skipped={self.skipped}, "
                f"compression={self.compression!r})")


def _apply_layer(self, fileobj, same_owner=True, special_files=False, no_dirlinks=False,
                 overwrite_dirs=False):
    """Applies one container image layer (a tar stream, plain, gzip or zstd) read from
    ``fileobj`` to the root, with the OCI image-spec's layer semantics, never writing outside
    the root: names are paths inside it, parent directories are resolved inside it, nothing is
    written through a symlink, hard links and whiteouts stay inside it. A refused entry is
    skipped and counted; any other failure raises, and what was applied stays applied.

    ``fileobj``: an object with a real ``fileno()`` (a file, read from the fd's current offset;
    Python-side buffering of an already-read object is not seen), or any object with
    ``read()``, copied to the library through a pipe by a thread that ends with the call.
    ``same_owner=False`` gives entries the caller's owner (set-ID bits dropped);
    ``special_files`` makes device nodes (else skipped); ``no_dirlinks`` skips an entry whose
    parent crosses a symlink; ``overwrite_dirs`` lets a non-directory replace a directory."""
    flags = ((0 if same_owner else LAYER_NO_SAME_OWNER) | (LAYER_SPECIAL_FILES if special_files
             else 0) | (LAYER_NO_DIRLINKS if no_dirlinks else 0)
             | (LAYER_OVERWRITE_DIRS if overwrite_dirs else 0))
    c = _CLayerReport()

    def apply(fd):
        self._run("procroot_apply_layer", fd, flags, ctypes.byref(c))

    try:
        fd = fileobj.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        apply(_cint(fd, "fd"))
        return LayerReport(c)
    rfd, wfd = os.pipe()
    failed = []

    def feed():
        try:
            with open(wfd, "wb", closefd=True) as w:
                while True:
                    chunk = fileobj.read(1 << 20)
                    if not chunk:
                        break
                    w.write(chunk)
        except BrokenPipeError:
            pass  # the library stopped reading: its error is the one raised
        except BaseException as e:  # noqa: BLE001 -- re-raised in the caller's thread
            failed.append(e)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    error = None
    try:
        apply(rfd)
    except ProcrootError as e:
        error = e
    finally:
        os.close(rfd)  # a feeder still writing gets EPIPE and ends
        feeder.join()
    if failed:
        # Reading ``fileobj`` failed: the library saw a truncated stream, but the cause is this.
        raise failed[0] from error
    if error is not None:
        raise error
    return LayerReport(c)


Root.apply_layer = _apply_layer
