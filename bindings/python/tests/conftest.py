import ctypes
import os
import traceback

import pytest


def _in_private_mount_ns(body, extra_flags=0):
    """Runs ``body(libc)`` in a forked child with a private mount namespace (unshare, then / made
    MS_REC|MS_PRIVATE, so nothing mounted there reaches the host); a failure or exception in
    the child fails the caller's test with the child's report."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            assert libc.unshare(0x20000 | extra_flags) == 0  # CLONE_NEWNS
            assert libc.mount(None, b"/", None, 0x4000 | 0x40000, None) == 0  # MS_REC|MS_PRIVATE
            body(libc)
            code = 0
        except BaseException:
            os.write(w, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(w)
    report = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        report += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report.decode()


@pytest.fixture
def in_private_mount_ns():
    """``in_private_mount_ns(body, extra_flags=0)``: see ``_in_private_mount_ns``."""
    return _in_private_mount_ns
