//! What a process must read before it confines itself, and what it then must not read at all.
//!
//! procroot reads two things lazily from procfs: its own procfs handle ([`Procfs::cached`],
//! made by `fsopen`/`fsmount` on first use) and the `fs.protected_symlinks` sysctl (read through
//! a second, unmasked procfs instance, since the cached one is `subset=pid`). A process confined
//! with Landlock can no longer read a file of a procfs instance made or opened later (its files
//! are beneath no rule), so whatever it will need must be read before: [`prepare_to_confine`].
//!
//! Each costs a procfs superblock (about 40-80 µs; BENCHMARKS.md §2 `procfs_acquire`), which a
//! short command pays in full, so a process reads only what it can use ([`Preload::for_root`]).
//! What it chose not to read stays unread after confinement: the procfs handle's first use fails
//! closed (never a `/proc` opened afterwards, which could be the host's, overmounted), and the
//! emulated walker takes the sysctl as 1, the strict answer (it can only refuse more than the
//! kernel, never follow more).

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::io::Errno;

use crate::error::{Error, ErrorKind};
use crate::resolve::{self, FirstResolver, Policy};
use crate::{Procfs, Root};

bitflags::bitflags! {
    /// What [`prepare_to_confine`] reads before a process confines itself (Landlock, a
    /// `chroot`, a seccomp filter), each costing a procfs instance: see the
    /// [module documentation](self).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Preload: u8 {
        /// procroot's procfs handle ([`Procfs::cached`]): opening a file's contents through a
        /// root ([`Root::open_file`], [`Root::read_dir`], reopening a handle), the second check
        /// of metadata changes, hard links and wormholes ([`Root::for_pid`]) use it. Not
        /// preloaded, its first use after confinement fails (`EACCES`, kind `NotSupported`)
        /// instead of opening a procfs then.
        const PROCFS = 1;
        /// The `fs.protected_symlinks` sysctl, which the emulated walker applies as the kernel
        /// does. Not preloaded, the walker assumes 1 after confinement: on a machine where it
        /// is 0 it then refuses (`EACCES`) a trailing symlink in a sticky, world-writable
        /// directory that the kernel would follow, never the reverse.
        const PROTECTED_SYMLINKS = 2;
    }
}

/// The [`Preload`] flags a confined process chose not to read ([`prepare_to_confine`]).
static NOT_PRELOADED: AtomicU8 = AtomicU8::new(0);

impl Preload {
    /// What a process needs that will make its lookups in `root` (with the root's options as
    /// they are now) after confining itself: always [`PROCFS`](Preload::PROCFS);
    /// [`PROTECTED_SYMLINKS`](Preload::PROTECTED_SYMLINKS) when the emulated walker answers
    /// the root's lookups or re-examines the kernel's: backend `Emulated` (also a root that was
    /// overmounted when it was opened), `Auto` once `openat2` is known to be unavailable, or
    /// policy `InRootStrict` (an `EXDEV` from the kernel is re-examined by the walker).
    ///
    /// Otherwise the kernel answers, applying the sysctl itself, and the walker applies its
    /// strict answer (see [`Preload::PROTECTED_SYMLINKS`]) only where it still runs: an
    /// `EAGAIN` that persists through every retry (renames or mounts racing each attempt),
    /// [`Root::eval_symlinks`]' fallback after a kernel failure, or an `openat2` refused only
    /// after confinement. ([`Handle::path_in_root`](crate::Handle::path_in_root)'s walk, which
    /// names a file the kernel opened, does not apply the rule: the kernel did.)
    pub fn for_root(root: &Root) -> Preload {
        let opts = root.resolve_opts();
        if resolve::first_resolver(opts.backend) != FirstResolver::Kernel
            || opts.policy == Policy::InRootStrict
        {
            Preload::all()
        } else {
            Preload::PROCFS
        }
    }
}

/// Reads now what [`Preload`] names, for a process about to confine itself, and records what it
/// did not name as not to be read from now on (process-wide, for the life of the process: a
/// confinement cannot be lifted). Errors are not fatal here: what could not be read is tried
/// again, or assumed, where it is needed, as without confinement.
///
/// A process that forks a child which confines itself calls [`prepare_for_fork`](crate::prepare_for_fork)
/// instead: the parent stays unconfined, and the child inherits what it read.
pub fn prepare_to_confine(preload: Preload) {
    if preload.contains(Preload::PROCFS) {
        let _ = Procfs::cached();
    }
    if preload.contains(Preload::PROTECTED_SYMLINKS) {
        let _ = resolve::protected::enabled();
    }
    NOT_PRELOADED.fetch_or(preload.complement().bits(), Ordering::AcqRel);
}

/// Whether this process confined itself without reading `what` ([`prepare_to_confine`]).
pub(crate) fn skipped(what: Preload) -> bool {
    NOT_PRELOADED.load(Ordering::Acquire) & what.bits() != 0
}

/// The error of a use of procroot's procfs handle in a process that confined itself without
/// preloading it ([`Preload::PROCFS`]).
pub(crate) fn procfs_not_preloaded() -> Error {
    Error::with_detail(
        ErrorKind::NotSupported,
        Errno::ACCESS,
        "this process confined itself without opening procroot's procfs handle first \
         (Preload::PROCFS): none is opened now (its files could not be read, and the \
         fallbacks end at the host's /proc)",
    )
    .context("acquire procfs", Path::new("/proc"))
}
