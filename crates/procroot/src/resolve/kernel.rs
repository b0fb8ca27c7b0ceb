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
//! - `ELOOP` is the kernel's answer, never re-examined by the walker: a kernel refusal must not
//!   become a success. (The walker once had that last word, and turned a real `ELOOP` into a
//!   success: a symlink bind-mounted onto itself with `MS_NOSYMFOLLOW`, libpathrs's
//!   `symlink_itself_nosymfollow`.) But the kernel's `ELOOP` can be spurious: a mount or
//!   unmount anywhere on the system during a lookup makes the kernel restart it (its lockless
//!   walk cannot be made to stick, `ECHILD`), and the restarted walk keeps counting symlinks
//!   from where the first stopped (`total_link_count` is set once per call), so a path through
//!   more than 20 links can fail (tests/race.rs stages it). The kernel is therefore asked
//!   again, up to [`ELOOP_RETRIES`] times: a real `ELOOP` (the 41st link, `NO_SYMLINKS`, a
//!   magic link, `MS_NOSYMFOLLOW`) is the same every time, and any success is the kernel's own
//!   answer. When asking again meets only `EAGAIN` (churn), the `ELOOP` stands.

#![forbid(unsafe_code)]

use std::ffi::CStr;
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

/// How many times an `openat2` that failed with `ELOOP` is asked again (see the module
/// documentation). A real `ELOOP` costs these extra lookups; a spurious one needs a mount event
/// during every attempt to survive them.
pub(crate) const ELOOP_RETRIES: usize = 3;

/// What the kernel backend concluded.
pub(crate) enum Outcome {
    /// The kernel's answer: an fd (and, for [`Trailing::ParentOnly`], the last name) or an errno.
    Done(Result<(OwnedFd, Option<Vec<u8>>), Errno>),
    /// `openat2` is unavailable in this process (recorded in [`features`]), with the errno it
    /// failed with (`ENOSYS`, or a seccomp filter's `EPERM`), for the error message.
    Unavailable(Errno),
    /// Only the emulated walker can answer (strict policy met `EXDEV`, or `EAGAIN` retried out).
    NeedsEmulation,
}

/// Paths shorter than this are NUL-terminated on the stack by [`open_on_stack`]; longer ones
/// (rare: container paths are short) take the general path.
const FAST_PATH_LEN: usize = 256;

/// The first `openat2` of a resolution to an `O_PATH` fd, made as cheaply as userspace allows,
/// for [`Root::resolve_fd`](crate::Root::resolve_fd): the path copied once into a stack buffer
/// and handed to the kernel as a C string, no other work before the syscall. It is exactly the
/// call that [`resolve`] makes first for the same arguments (same path, flags and `how`), so a
/// failure is handed on to [`resolve`] as its first attempt (`first`), which then does
/// everything it always does with it (the `EAGAIN` retries, the `ENOSYS`/`EPERM` probe, the
/// emulated walker's re-examination of strict `EXDEV`, validation of bad input).
///
/// `None` when the fast path does not apply and nothing was asked: the strict policy (whose
/// path needs rewriting), [`Trailing::ParentOnly`], a path of [`FAST_PATH_LEN`] bytes or more,
/// or a NUL byte in the path (which [`resolve`] then reports as `InvalidInput`; the kernel
/// would have seen a truncated path).
#[inline(always)]
pub(crate) fn open_on_stack(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Option<Result<OwnedFd, Errno>> {
    if opts.policy == Policy::InRootStrict
        || trailing == Trailing::ParentOnly
        || path.len() >= FAST_PATH_LEN
    {
        return None;
    }
    let mut buf = [0u8; FAST_PATH_LEN];
    buf[..path.len()].copy_from_slice(path);
    let cpath = CStr::from_bytes_with_nul(&buf[..=path.len()]).ok()?;
    let oflags = open_flags(trailing, None, OFlags::PATH);
    Some(rustix::fs::openat2(
        root,
        cpath,
        oflags,
        Mode::empty(),
        kernel_flags(opts),
    ))
}

/// The `openat2` flags for the final open: `O_CLOEXEC` always, `O_NOFOLLOW` only when the
/// trailing symlink is not followed, and an `O_PATH` directory for the parent of `ParentOnly`.
#[inline(always)]
fn open_flags(trailing: Trailing, last: Option<&[u8]>, oflags: OFlags) -> OFlags {
    match (trailing, last) {
        (Trailing::ParentOnly, Some(_)) => OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        (Trailing::NoFollow, _) => oflags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        _ => (oflags - OFlags::NOFOLLOW) | OFlags::CLOEXEC,
    }
}

/// The `RESOLVE_*` flags for `opts`. [`Policy::InRootStrict`] is asked as `RESOLVE_BENEATH`
/// (see the module documentation).
#[inline(always)]
fn kernel_flags(opts: &ResolveOptions) -> KernelFlags {
    let mut how = match opts.policy {
        Policy::InRoot => KernelFlags::IN_ROOT,
        Policy::Beneath | Policy::InRootStrict => KernelFlags::BENEATH,
    };
    if opts.flags.contains(ResolveFlags::NO_SYMLINKS) {
        how |= KernelFlags::NO_SYMLINKS;
    }
    if opts.flags.contains(ResolveFlags::NO_XDEV) {
        how |= KernelFlags::NO_XDEV;
    }
    if opts.flags.contains(ResolveFlags::NO_MAGICLINKS) {
        how |= KernelFlags::NO_MAGICLINKS;
    }
    how
}

/// What `openat2` is asked to open for `path`, and the last name left alone: with
/// [`Trailing::ParentOnly`] the parent (and the last component, unless the path ends in `.`,
/// `..` or slashes, which is then opened whole); with [`Policy::InRootStrict`] the path without
/// its leading slashes (asked under `RESOLVE_BENEATH`, which would refuse them; `/` is `.`).
fn kernel_path<'p>(
    path: &'p [u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> (&'p [u8], Option<&'p [u8]>) {
    let (mut path, last) = match trailing {
        Trailing::ParentOnly => match split_last(path) {
            Some((parent, name)) => (parent, Some(name)),
            None => (path, None),
        },
        _ => (path, None),
    };
    if opts.policy == Policy::InRootStrict {
        let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
        path = if start == path.len() && start > 0 {
            b"."
        } else {
            &path[start..]
        };
    }
    (path, last)
}

/// `openat2` to an `O_PATH` fd, asked exactly as [`resolve`] asks it, retried on `EAGAIN` as
/// [`resolve`] retries it (a rename or mount anywhere on the system during a lookup through
/// `..`), and nothing else: no re-examination of `ELOOP` or the strict policy's `EXDEV`, no
/// recording of `ENOSYS`. For a caller that hands every failure to the emulated walker, whose
/// answer is then the answer (`Root::eval_symlinks`). Returns the fd and, for
/// [`Trailing::ParentOnly`], the last name that was not looked up.
pub(crate) fn open_without_fallback<'p>(
    root: BorrowedFd<'_>,
    path: &'p [u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Result<(OwnedFd, Option<&'p [u8]>), Errno> {
    let (path, last) = kernel_path(path, opts, trailing);
    let attempt = || {
        rustix::fs::openat2(
            root,
            path,
            open_flags(trailing, last, OFlags::PATH),
            Mode::empty(),
            kernel_flags(opts),
        )
    };
    let mut result = attempt();
    for _ in 0..EAGAIN_RETRIES {
        if !matches!(result, Err(Errno::AGAIN)) {
            break;
        }
        result = attempt();
    }
    Ok((result?, last))
}

/// Resolves `path` under `root` with `openat2(2)`.
///
/// `first` is the error of a first attempt already made by [`open_on_stack`] with the same
/// arguments; the call is then not repeated, and the error is treated as this function's own
/// first answer.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    first: Option<Errno>,
) -> Outcome {
    let (path, last) = kernel_path(path, opts, trailing);
    let oflags = open_flags(trailing, last, oflags);
    let how = kernel_flags(opts);

    let attempt = || rustix::fs::openat2(root, path, oflags, Mode::empty(), how);
    let mut result = match first {
        Some(errno) => Err(errno),
        None => attempt(),
    };
    let (mut eagain_left, mut eloop_left) = (EAGAIN_RETRIES, ELOOP_RETRIES);
    loop {
        match result {
            Err(Errno::AGAIN) if eagain_left > 0 => eagain_left -= 1,
            Err(Errno::LOOP) if eloop_left > 0 => eloop_left -= 1,
            _ => break,
        }
        result = attempt();
    }
    if matches!(result, Err(Errno::AGAIN)) && eloop_left < ELOOP_RETRIES {
        // The kernel said ELOOP, and asking again only met churn: its ELOOP stands, as it did
        // before it was asked again (the walker never re-examines it).
        result = Err(Errno::LOOP);
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
        // ELOOP included, once asked again: the kernel's refusal stands (see the module
        // documentation).
        Err(errno) => Outcome::Done(Err(errno)),
    }
}
