//! Kernel feature probes and the process-wide facts learned from them.
//!
//! Only *failures* are remembered. A success is never cached because a seccomp filter installed
//! later (by a container runtime, right before exec) can take a syscall away; a failure, on the
//! other hand, does not heal, and re-probing a missing syscall on every call would double its cost.

use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

static OPENAT2_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Whether `openat2(2)` is already known to be unusable in this process: it returned `ENOSYS`
/// (kernel before 5.6), or `EPERM` for a call that cannot legitimately fail with `EPERM` (a
/// seccomp filter).
pub fn openat2_known_unavailable() -> bool {
    OPENAT2_UNAVAILABLE.load(Ordering::Relaxed)
}

/// Records that `openat2(2)` is unusable in this process. Never undone.
pub fn mark_openat2_unavailable() {
    OPENAT2_UNAVAILABLE.store(true, Ordering::Relaxed);
}

/// Decides whether an `openat2` failure means "the syscall is unavailable", and records it.
///
/// `ENOSYS` always does. `EPERM` is ambiguous: `openat2` can return it for real (`O_NOATIME` on
/// a file we do not own, a fanotify permission event, an LSM), and seccomp filters also use it
/// (Docker's default profile did before it learned `ENOSYS`). To tell them apart, probe with an
/// `O_PATH` open of `dirfd` itself, which no permission rule can refuse: if that fails with the
/// same errno too, a filter is in the way.
pub fn classify_openat2_failure<Fd: AsFd>(dirfd: Fd, errno: Errno) -> bool {
    let unavailable = match errno {
        Errno::NOSYS => true,
        Errno::PERM => matches!(
            rustix::fs::openat2(
                dirfd,
                ".",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT,
            ),
            Err(Errno::PERM | Errno::NOSYS)
        ),
        _ => false,
    };
    if unavailable {
        mark_openat2_unavailable();
    }
    unavailable
}

/// Probes whether `openat2(2)` works here right now (without consulting or updating the cache).
/// Used by `procroot doctor`.
pub fn probe_openat2() -> Result<(), Errno> {
    rustix::fs::openat2(
        rustix::fs::CWD,
        "/",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .map(drop)
}
