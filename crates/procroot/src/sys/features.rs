//! Kernel feature probes and the process-wide facts learned from them.
//!
//! Only *failures* are remembered. A success is never cached because a seccomp filter installed
//! later (by a container runtime, right before exec) can take a syscall away; a failure, on the
//! other hand, does not heal, and re-probing a missing syscall on every call would double its cost.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

static OPENAT2_UNAVAILABLE: AtomicBool = AtomicBool::new(false);
static DISABLED: AtomicU32 = AtomicU32::new(0);

/// A kernel feature that procroot can be told not to use, to exercise its fallbacks on a kernel
/// that has everything (tests, and reproducing a user's older kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// `openat2(2)`: the kernel resolver backend and procfs lookups.
    Openat2,
    /// `fsopen(2)`/`fsmount(2)`: private procfs instances.
    Fsopen,
    /// `open_tree(2)` with `OPEN_TREE_CLONE`: cloned procfs mounts.
    OpenTree,
    /// `STATX_MNT_ID_UNIQUE`: never-reused mount ids (the 5.8 `STATX_MNT_ID` is used instead).
    StatxMntIdUnique,
    /// procfs's `pidns=` mount option (Linux 6.18): without it, a helper process makes the
    /// instance from inside the namespace.
    ProcPidnsOption,
}

impl Feature {
    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Stops procroot from using `feature` in this process, as if the kernel lacked it. Never undone.
///
/// This is a testing and debugging aid: production code has no reason to call it.
pub fn disable(feature: Feature) {
    DISABLED.fetch_or(feature.bit(), Ordering::Relaxed);
}

/// Whether `feature` was disabled with [`disable`].
pub fn is_disabled(feature: Feature) -> bool {
    DISABLED.load(Ordering::Relaxed) & feature.bit() != 0
}

/// Whether `openat2(2)` is already known to be unusable in this process: it returned `ENOSYS`
/// (kernel before 5.6), or `EPERM` for a call that cannot legitimately fail with `EPERM` (a
/// seccomp filter), or it was [`disable`]d.
pub fn openat2_known_unavailable() -> bool {
    OPENAT2_UNAVAILABLE.load(Ordering::Relaxed) || is_disabled(Feature::Openat2)
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
