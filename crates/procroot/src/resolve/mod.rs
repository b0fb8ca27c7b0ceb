//! Path resolution inside a root: one walk, every policy, two backends.
//!
//! [`resolve`] takes a root directory fd, a path (bytes), [`ResolveOptions`], a [`Trailing`]
//! mode and the flags for the final open, and returns an fd. The kernel backend
//! (`kernel.rs`) is one `openat2(2)`; the emulated backend (`emulated.rs`) walks in userspace and
//! gives the same answer for every input, which the differential tests check against the
//! kernel.
//!
//! Which resolver answers first is decided in one place (`decide`, a table of the backend and
//! whether `openat2` is known to be unavailable), for every entry point.
//!
//! The fallback chain for [`Backend::Auto`]:
//! 1. `openat2` (skipped once it is known to be unavailable in this process);
//! 2. on `ENOSYS`, or on `EPERM` that a probe attributes to a seccomp filter, the emulated
//!    walker, and the failure is remembered;
//! 3. for [`Policy::InRootStrict`], an `EXDEV` from the kernel is re-examined by the emulated
//!    walker, the only one that can tell an absolute symlink from an escape.
//!
//! Whatever the backend, the walker also answers an `EAGAIN` that persists through the retries
//! (a rename or mount elsewhere during every attempt). A kernel `ELOOP` is asked again a few
//! times (a mount during the lookup can make it spurious) and is then final: a refusal never
//! becomes a success. `Handle::backend` names the backend that produced the answer.
//!
//! Both backends apply `fs.protected_symlinks` (`EACCES`) and `MS_NOSYMFOLLOW` (`ELOOP`) as the
//! kernel does; the walker learns the sysctl lazily through a reader the layer above installs
//! (`protected.rs`), and assumes 1 when it cannot.
//!
//! This layer does no I/O outside the root fd it is given.

#![forbid(unsafe_code)]

mod emulated;
mod kernel;
#[cfg(procroot_fault_injection)]
mod naive;
mod options;
pub(crate) mod path;
pub use path::split_last;
pub(crate) mod protected;

use std::os::fd::{BorrowedFd, OwnedFd};

pub(crate) use kernel::EAGAIN_RETRIES;
pub use options::{Backend, BackendUsed, Policy, ResolveFlags, ResolveOptions, Trailing};
pub(crate) use protected::install_reader as install_protected_symlinks_reader;

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, features, Syscall as _};

/// The result of a resolution.
#[derive(Debug)]
pub struct Resolved {
    /// The opened file: the target itself, or with [`Trailing::ParentOnly`] its parent
    /// directory (`O_PATH`).
    pub fd: OwnedFd,
    /// The absolute path inside the root, when the backend knows it (the emulated walker always
    /// does: it is the names on its stack).
    pub path: Option<Vec<u8>>,
    /// With [`Trailing::ParentOnly`]: the last component, which was not looked up. `None` when
    /// the path ended in `.`, `..` or only slashes and was resolved in full.
    pub last: Option<Vec<u8>>,
    /// Which backend answered.
    pub backend: BackendUsed,
}

impl Resolved {
    fn emulated(fd: OwnedFd, path: Vec<u8>, last: Option<Vec<u8>>) -> Self {
        Resolved {
            fd,
            path: Some(path),
            last,
            backend: BackendUsed::Emulated,
        }
    }
}

/// Resolves `path` under the directory `root`.
///
/// `oflags` are the flags of the final open (`O_PATH` for a handle). `O_NOFOLLOW` in `oflags` is
/// ignored: `trailing` says whether the last symlink is followed. `O_CLOEXEC` is always added.
///
/// Errors carry no context; the caller adds the operation, path and root.
pub fn resolve(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> Result<Resolved> {
    resolve_full(root, path, opts, trailing, oflags, None)
}

/// Which resolver answers a lookup first: the one backend decision, asked by every entry point
/// (the three here and `Root::eval_symlinks_in`'s root open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FirstResolver {
    /// `openat2(2)`; its failures are handled as each entry point documents.
    Kernel,
    /// The emulated walker. (A fault-injection build never chooses it.)
    #[cfg_attr(procroot_fault_injection, allow(dead_code))]
    Walker,
    /// The fault-injection build's naive resolver, which answers every lookup so that the
    /// second wall can be shown holding without the first (see `naive.rs`).
    #[cfg(procroot_fault_injection)]
    Naive,
}

/// The backend decision for `backend` in this process: [`decide`] with what is known of
/// `openat2(2)` now.
#[inline(always)]
pub(crate) fn first_resolver(backend: Backend) -> FirstResolver {
    decide(backend, features::openat2_known_unavailable())
}

/// The backend decision, as a table of `backend` and whether `openat2` is already known to be
/// unavailable in this process (`ENOSYS`, or a seccomp filter's `EPERM`):
///
/// | backend    | `openat2` works | known unavailable |
/// |------------|-----------------|-------------------|
/// | `Auto`     | kernel          | walker            |
/// | `Kernel`   | kernel          | kernel            |
/// | `Emulated` | walker          | walker            |
///
/// `Kernel` asks the kernel even when it is known to fail: the caller then gets the kernel's
/// refusal (`NotSupported`, or nothing from `Root::eval_symlinks`' kernel answer), never a
/// quiet fallback it did not ask for. A root that was overmounted when it was opened is
/// `Emulated` by then (`Root::resolve_opts`). A fault-injection build answers everything with
/// its naive resolver.
#[inline(always)]
const fn decide(backend: Backend, openat2_known_unavailable: bool) -> FirstResolver {
    #[cfg(procroot_fault_injection)]
    {
        let _ = (backend, openat2_known_unavailable);
        FirstResolver::Naive
    }
    #[cfg(not(procroot_fault_injection))]
    match backend {
        Backend::Emulated => FirstResolver::Walker,
        Backend::Kernel => FirstResolver::Kernel,
        Backend::Auto if openat2_known_unavailable => FirstResolver::Walker,
        Backend::Auto => FirstResolver::Kernel,
    }
}

/// The first `openat2` of a resolution to an `O_PATH` fd, made inline when the backend decision
/// says kernel and the path qualifies (`kernel::open_on_stack`): `Ok(fd)` is the answer;
/// `Err(first)` hands on to [`resolve_fd_slow`] or [`resolve_handle_slow`] the kernel's errno,
/// or `None` when no call was made.
#[inline(always)]
fn kernel_on_stack(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> std::result::Result<OwnedFd, Option<Errno>> {
    if first_resolver(opts.backend) != FirstResolver::Kernel {
        return Err(None);
    }
    match kernel::open_on_stack(root, path, opts, trailing) {
        Some(Ok(fd)) => Ok(fd),
        Some(Err(errno)) => Err(Some(errno)),
        None => Err(None),
    }
}

/// [`resolve`] to an `O_PATH` fd alone (`Root::resolve_fd`): the same answer, the same errors,
/// at the cost of a bare `openat2` when the kernel backend succeeds at once.
///
/// Inlined into the caller (down from `Root::resolve_fd`), with the general path out of line
/// and cold, so that the success path is the stack copy of the path and one `openat2` made in
/// the caller's own frame, as a bare call would be: one more `ret` between the syscall and the
/// caller costs several percent of an `openat2` where returns are mispredicted after a kernel
/// entry (BENCHMARKS.md, section 1).
#[inline(always)]
pub(crate) fn resolve_fd(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Result<OwnedFd> {
    match kernel_on_stack(root, path, opts, trailing) {
        Ok(fd) => Ok(fd),
        Err(first) => resolve_fd_slow(root, path, opts, trailing, first),
    }
}

/// [`resolve`] to an `O_PATH` fd for a `Handle` (`Root::resolve`): [`resolve_fd`]'s inline
/// fast path, with the general path's [`Resolved`] (which may know the path in the root) when
/// the fast path does not answer.
#[inline(always)]
pub(crate) fn resolve_o_path(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Result<Resolved> {
    match kernel_on_stack(root, path, opts, trailing) {
        Ok(fd) => Ok(Resolved {
            fd,
            path: None,
            last: None,
            backend: BackendUsed::Kernel,
        }),
        Err(first) => resolve_handle_slow(root, path, opts, trailing, first),
    }
}

/// What [`kernel_without_fallback`] opened: the fd, and with [`Trailing::ParentOnly`] the last
/// name.
pub(crate) type KernelOpened<'p> = (OwnedFd, Option<&'p [u8]>);

/// One `openat2` of `path` to an `O_PATH` fd (with [`Trailing::ParentOnly`], of its parent, and
/// the last name), when the backend decision says kernel and `path` is one the kernel can be
/// asked: `None` otherwise, and `Some(Err)` with the kernel's errno when it refused. No retry
/// and no fallback: the caller hands every failure to the emulated walker
/// (`Root::eval_symlinks`, which derives the path inside the root from the kernel's answer).
/// `ENOSYS` (or a filter's `EPERM`) is recorded as for any `openat2`.
pub(crate) fn kernel_without_fallback<'p>(
    root: BorrowedFd<'_>,
    path: &'p [u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Option<std::result::Result<KernelOpened<'p>, Errno>> {
    if first_resolver(opts.backend) != FirstResolver::Kernel || path::validate(path).is_err() {
        return None;
    }
    let result = kernel::open_without_fallback(root, path, opts, trailing);
    if let Err(errno @ (Errno::NOSYS | Errno::PERM)) = result {
        features::classify_openat2_failure(root, errno);
    }
    Some(result)
}

/// Everything [`resolve_fd`] does not do inline: [`resolve_full`] with the fast path's failed
/// first attempt, if it made one.
#[cold]
#[inline(never)]
fn resolve_fd_slow(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    first: Option<Errno>,
) -> Result<OwnedFd> {
    resolve_full(root, path, opts, trailing, OFlags::PATH, first).map(|r| r.fd)
}

/// Everything [`resolve_o_path`] does not do inline, as [`resolve_fd_slow`].
#[cold]
#[inline(never)]
fn resolve_handle_slow(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    first: Option<Errno>,
) -> Result<Resolved> {
    resolve_full(root, path, opts, trailing, OFlags::PATH, first)
}

/// [`resolve`] with every retry and fallback, where `first` is the errno of a first `openat2`
/// already made with these arguments by `kernel::open_on_stack` (only when the backend
/// decision said kernel).
fn resolve_full(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    first: Option<Errno>,
) -> Result<Resolved> {
    // With a `first` attempt, the path had no NUL byte (`open_on_stack` checks) and was short,
    // so this finds nothing new, except an empty path: `ENOENT`, as the kernel said.
    path::validate(path)?;
    let oflags = oflags - OFlags::NOFOLLOW;
    match first_resolver(opts.backend) {
        FirstResolver::Kernel => {}
        FirstResolver::Walker => {
            return emulated::resolve(root, path, opts, trailing, oflags, None)
        }
        #[cfg(procroot_fault_injection)]
        FirstResolver::Naive => return naive::resolve(root, path, opts, trailing, oflags),
    }
    match kernel::resolve(root, path, opts, trailing, oflags, first) {
        kernel::Outcome::Done(result) => {
            let (fd, last) = result.syscall_with("openat2", || {
                use std::os::unix::ffi::OsStrExt;
                sys::args(None, std::ffi::OsStr::from_bytes(path), oflags)
            })?;
            Ok(Resolved {
                fd,
                path: None,
                last,
                backend: BackendUsed::Kernel,
            })
        }
        // The errno is the one openat2 really failed with: a filter's EPERM is reported as
        // EPERM, not as the ENOSYS of a kernel that lacks the syscall.
        kernel::Outcome::Unavailable(errno) if opts.backend == Backend::Kernel => {
            Err(Error::with_detail(
                ErrorKind::NotSupported,
                errno,
                if errno == Errno::NOSYS {
                    "the kernel backend was requested but openat2(2) is unavailable \
                     (ENOSYS: kernel older than 5.6, or refused by a seccomp filter)"
                } else {
                    "the kernel backend was requested but openat2(2) was refused \
                     (a seccomp filter or security policy answers every openat2 call \
                     with this errno)"
                },
            )
            .with_syscall("openat2", None))
        }
        kernel::Outcome::Unavailable(_) | kernel::Outcome::NeedsEmulation => {
            emulated::resolve(root, path, opts, trailing, oflags, None)
        }
    }
}

/// The emulated walk of `path` only to name a file the kernel already opened by it
/// (`emulated::resolve_naming`: without `fs.protected_symlinks`, which the kernel applied);
/// the caller compares what it reaches with that file. A fault-injection build answers with
/// its naive resolver, as [`resolve`] does.
pub(crate) fn resolve_naming(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> Result<Resolved> {
    path::validate(path)?;
    let oflags = oflags - OFlags::NOFOLLOW;
    #[cfg(procroot_fault_injection)]
    if first_resolver(Backend::Emulated) == FirstResolver::Naive {
        return naive::resolve(root, path, opts, trailing, oflags);
    }
    emulated::resolve_naming(root, path, opts, trailing, oflags)
}

/// Decides, for a walk with `NO_XDEV`, whether stepping from `parent` through `name` onto the
/// mount whose root is `child` is acceptable after all.
pub(crate) type MountCrossingCheck<'a> =
    &'a dyn Fn(BorrowedFd<'_>, &[u8], BorrowedFd<'_>) -> std::result::Result<bool, Errno>;

/// [`resolve`] with `NO_XDEV`, except that mount crossings `crossing` approves are allowed.
///
/// The fast path is the plain resolution. Only when it reports `EXDEV` does the emulated walker
/// run, asking `crossing` about each mount it meets. procfs uses this to accept a read-only bind
/// of a procfs directory onto itself, which container runtimes set up on `/proc/sys`.
pub(crate) fn resolve_crossing(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    crossing: MountCrossingCheck<'_>,
) -> Result<Resolved> {
    match resolve(root, path, opts, trailing, oflags) {
        Err(e) if e.errno() == Errno::XDEV && opts.flags.contains(ResolveFlags::NO_XDEV) => {
            emulated::resolve(
                root,
                path,
                opts,
                trailing,
                oflags - OFlags::NOFOLLOW,
                Some(crossing),
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one backend decision, as a table: every backend, with `openat2` working and known
    /// to be unavailable. `Kernel` keeps asking the kernel (its refusal is the caller's answer,
    /// never a quiet fallback); only `Auto` falls back; `Emulated` never asks the kernel.
    #[test]
    #[cfg(not(procroot_fault_injection))]
    fn backend_decision_table() {
        use FirstResolver::{Kernel, Walker};
        let table = [
            (Backend::Auto, false, Kernel),
            (Backend::Auto, true, Walker),
            (Backend::Kernel, false, Kernel),
            (Backend::Kernel, true, Kernel),
            (Backend::Emulated, false, Walker),
            (Backend::Emulated, true, Walker),
        ];
        for (backend, unavailable, want) in table {
            assert_eq!(
                decide(backend, unavailable),
                want,
                "backend {backend:?}, openat2 known unavailable: {unavailable}"
            );
        }
    }

    /// The production walker carries no test hooks: the fault-injection build's broken
    /// resolver is `naive.rs`, and nothing in the walker's source switches on that build.
    #[test]
    fn the_walker_has_no_fault_injection_hooks() {
        let walker = include_str!("emulated.rs");
        for hook in ["procroot_fault_injection", "cfg!("] {
            assert!(!walker.contains(hook), "emulated.rs contains {hook:?}");
        }
    }

    /// In a fault-injection build the naive resolver answers every lookup, whatever the
    /// backend: the second-wall tests attack it.
    #[test]
    #[cfg(procroot_fault_injection)]
    fn backend_decision_table() {
        for backend in [Backend::Auto, Backend::Kernel, Backend::Emulated] {
            for unavailable in [false, true] {
                assert_eq!(decide(backend, unavailable), FirstResolver::Naive);
            }
        }
    }
}
