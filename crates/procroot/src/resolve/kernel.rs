//! The kernel resolver: one `openat2(2)`.
//!
//! `RESOLVE_IN_ROOT` and `RESOLVE_BENEATH` make the kernel do the whole walk under its own
//! locks, which is both the safest and the fastest thing available. Two wrinkles:
//!
//! - `EAGAIN`: with `..` in the path, the kernel aborts a lookup that raced with a rename or a
//!   mount anywhere on the system, rather than risk a wrong answer. We retry a bounded number of
//!   times and then let the emulated walker answer: it needs no system-wide sequence count, so
//!   a host that renames or mounts flat out (our own race tests do; so can a busy container
//!   host) cannot starve it, where a long lookup through `openat2` may never finish between
//!   two renames.
//! - [`Policy::InRootStrict`] has no kernel flag. We ask for `RESOLVE_BENEATH`: if that
//!   succeeds, the walk met no absolute symlink and no escape, so the strict answer is the same.
//!   If it fails with `EXDEV`, the cause may be an absolute symlink (allowed by the strict
//!   policy) or an escape (refused by it), which only the emulated walker can tell apart.
//! - `ELOOP` (without `NO_SYMLINKS`) is re-examined by the emulated walker too: the kernel can
//!   report it spuriously when a lookup is restarted by concurrent mount activity. The walker may
//!   turn it into a success only because it applies every rule by which the kernel answers
//!   `ELOOP` during a lookup: the 40-link budget, `MS_NOSYMFOLLOW` mounts, magic links under
//!   `NO_MAGICLINKS`, and `O_NOFOLLOW` on a trailing symlink (and, in the same `pick_link`
//!   order, the `EACCES` of `fs.protected_symlinks`). A real `ELOOP` is therefore confirmed;
//!   only a spurious one is overridden. Any new kernel rule that answers `ELOOP` must be added
//!   to the walker before this re-examination may stay.

#![forbid(unsafe_code)]

use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags as KernelFlags};
use rustix::io::Errno;

use super::options::{Policy, ResolveFlags, ResolveOptions, Trailing};
use super::path::split_last;
use crate::sys::features;

/// How many times an `openat2` that failed with `EAGAIN` is tried again before the emulated
/// walker takes over. Under light churn one retry almost always succeeds; under heavy churn
/// more retries only waste time, since a lookup that spans several renames fails every time.
pub(crate) const EAGAIN_RETRIES: usize = 16;

/// What the kernel backend concluded.
pub(crate) enum Outcome {
    /// The kernel's answer: an fd (and, for [`Trailing::ExceptLast`], the last name) or an errno.
    Done(Result<(OwnedFd, Option<Vec<u8>>), Errno>),
    /// `openat2` is unavailable in this process (recorded in [`features`]), with the errno it
    /// failed with (`ENOSYS`, or a seccomp filter's `EPERM`), for the error message.
    Unavailable(Errno),
    /// Only the emulated walker can answer (strict policy met `EXDEV`, or `ELOOP` to confirm).
    NeedsEmulation,
}

/// Resolves `path` under `root` with `openat2(2)`.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> Outcome {
    let (path, last) = match trailing {
        Trailing::ExceptLast => match split_last(path) {
            Some((parent, name)) => (parent, Some(name)),
            None => (path, None),
        },
        _ => (path, None),
    };
    let oflags = match (trailing, last) {
        (Trailing::ExceptLast, Some(_)) => OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        (Trailing::NoFollow, _) => oflags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        _ => (oflags - OFlags::NOFOLLOW) | OFlags::CLOEXEC,
    };

    let mut how = KernelFlags::empty();
    let mut path = path;
    match opts.policy {
        Policy::InRoot => how |= KernelFlags::IN_ROOT,
        Policy::Beneath => how |= KernelFlags::BENEATH,
        Policy::InRootStrict => {
            how |= KernelFlags::BENEATH;
            // In-root semantics: an absolute path starts at the root, which BENEATH would
            // refuse. Strip the slashes; "/" itself becomes ".".
            let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
            path = if start == path.len() && start > 0 {
                b"."
            } else {
                &path[start..]
            };
        }
    }
    if opts.flags.contains(ResolveFlags::NO_SYMLINKS) {
        how |= KernelFlags::NO_SYMLINKS;
    }
    if opts.flags.contains(ResolveFlags::NO_XDEV) {
        how |= KernelFlags::NO_XDEV;
    }
    if opts.flags.contains(ResolveFlags::NO_MAGICLINKS) {
        how |= KernelFlags::NO_MAGICLINKS;
    }

    let mut result = Err(Errno::AGAIN);
    for _ in 0..=EAGAIN_RETRIES {
        result = rustix::fs::openat2(root, path, oflags, Mode::empty(), how);
        if !matches!(result, Err(Errno::AGAIN)) {
            break;
        }
    }
    match result {
        Ok(fd) => Outcome::Done(Ok((fd, last.map(<[u8]>::to_vec)))),
        Err(errno @ (Errno::NOSYS | Errno::PERM))
            if features::classify_openat2_failure(root, errno) =>
        {
            Outcome::Unavailable(errno)
        }
        Err(Errno::XDEV) if opts.policy == Policy::InRootStrict => Outcome::NeedsEmulation,
        Err(Errno::AGAIN) => Outcome::NeedsEmulation,
        // A lookup that the kernel restarts (a mount or unmount anywhere on the system during an
        // RCU walk) can report ELOOP on a path that needs fewer than 40 symlinks: the restart
        // keeps counting where the first try stopped. Our differential tests see this under
        // mount churn. The emulated walker counts for itself and applies every other ELOOP rule
        // (nosymfollow mounts, magic links, O_NOFOLLOW; see the module documentation), so it
        // has the last word: it confirms a real ELOOP and overrides only a spurious one.
        Err(Errno::LOOP) if !opts.flags.contains(ResolveFlags::NO_SYMLINKS) => {
            Outcome::NeedsEmulation
        }
        Err(errno) => Outcome::Done(Err(errno)),
    }
}
