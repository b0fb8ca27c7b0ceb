//! Path resolution inside a root: one walk, every policy, two backends.
//!
//! [`resolve`] takes a root directory fd, a path (bytes), [`ResolveOptions`], a [`Trailing`]
//! mode and the flags for the final open, and returns an fd. The kernel backend
//! (`kernel.rs`) is one `openat2(2)`; the emulated backend (`emulated.rs`) walks in userspace and
//! gives the same answer for every input, which the differential tests check against the
//! kernel.
//!
//! The fallback chain for [`Backend::Auto`]:
//! 1. `openat2` (skipped once it is known to be unavailable in this process);
//! 2. on `ENOSYS`, or on `EPERM` that a probe attributes to a seccomp filter, the emulated
//!    walker, and the failure is remembered;
//! 3. for [`Policy::InRootStrict`], an `EXDEV` from the kernel is re-examined by the emulated
//!    walker, the only one that can tell an absolute symlink from an escape.
//!
//! Whatever the backend, the walker also answers an `EAGAIN` that persists through the retries
//! (a rename or mount elsewhere during every attempt). A kernel `ELOOP` is final: a refusal never
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
    /// The opened file: the target itself, or with [`Trailing::ExceptLast`] its parent
    /// directory (`O_PATH`).
    pub fd: OwnedFd,
    /// The absolute path inside the root, when the backend knows it (the emulated walker always
    /// does: it is the names on its stack).
    pub path: Option<Vec<u8>>,
    /// With [`Trailing::ExceptLast`]: the last component, which was not looked up. `None` when
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
    resolve_after(root, path, opts, trailing, oflags, None)
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
    let use_kernel = match opts.backend {
        Backend::Emulated => false,
        Backend::Kernel => !cfg!(procroot_fault_injection),
        // The fault-injection build's naive walker must answer every lookup.
        Backend::Auto => !features::openat2_known_unavailable() && !cfg!(procroot_fault_injection),
    };
    let first = if use_kernel {
        match kernel::first_attempt(root, path, opts, trailing) {
            Some(Ok(fd)) => return Ok(fd),
            Some(Err(errno)) => Some(errno),
            None => None,
        }
    } else {
        None
    };
    resolve_fd_slow(root, path, opts, trailing, first)
}

/// What [`kernel_once`] opened: the fd, and with [`Trailing::ExceptLast`] the last name.
pub(crate) type KernelOpened<'p> = (OwnedFd, Option<&'p [u8]>);

/// One `openat2` of `path` to an `O_PATH` fd (with [`Trailing::ExceptLast`], of its parent, and
/// the last name), when the kernel backend may be used for `opts` and `path` is one the kernel
/// can be asked: `None` otherwise, and `Some(Err)` with the kernel's errno when it refused. No
/// retry and no fallback: the caller hands every failure to the emulated walker
/// (`Root::eval_symlinks`, which derives the path inside the root from the kernel's answer).
/// `ENOSYS` (or a filter's `EPERM`) is recorded as for any `openat2`.
pub(crate) fn kernel_once<'p>(
    root: BorrowedFd<'_>,
    path: &'p [u8],
    opts: &ResolveOptions,
    trailing: Trailing,
) -> Option<std::result::Result<KernelOpened<'p>, Errno>> {
    let use_kernel = match opts.backend {
        Backend::Emulated => false,
        // The fault-injection build's naive walker must answer every lookup.
        Backend::Kernel | Backend::Auto => {
            !features::openat2_known_unavailable() && !cfg!(procroot_fault_injection)
        }
    };
    if !use_kernel || path::validate(path).is_err() {
        return None;
    }
    let result = kernel::open_once(root, path, opts, trailing);
    if let Err(errno @ (Errno::NOSYS | Errno::PERM)) = result {
        features::classify_openat2_failure(root, errno);
    }
    Some(result)
}

/// Everything [`resolve_fd`] does not do inline: [`resolve_after`] with the fast path's failed
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
    resolve_after(root, path, opts, trailing, OFlags::PATH, first).map(|r| r.fd)
}

/// [`resolve`], where `first` is the errno of a first `openat2` already made with these
/// arguments by `kernel::first_attempt` (only when the kernel backend is in use).
fn resolve_after(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    first: Option<Errno>,
) -> Result<Resolved> {
    // With a `first` attempt, the path had no NUL byte (`first_attempt` checks) and was short,
    // so this finds nothing new, except an empty path: `ENOENT`, as the kernel said.
    path::validate(path)?;
    let oflags = oflags - OFlags::NOFOLLOW;
    let use_kernel = match opts.backend {
        Backend::Emulated => false,
        Backend::Kernel => !cfg!(procroot_fault_injection),
        // The fault-injection build's naive walker must answer every lookup.
        Backend::Auto => !features::openat2_known_unavailable() && !cfg!(procroot_fault_injection),
    };
    if use_kernel {
        match kernel::resolve(root, path, opts, trailing, oflags, first) {
            kernel::Outcome::Done(result) => {
                let (fd, last) = result.syscall_with("openat2", || {
                    use std::os::unix::ffi::OsStrExt;
                    sys::args(None, std::ffi::OsStr::from_bytes(path), oflags)
                })?;
                return Ok(Resolved {
                    fd,
                    path: None,
                    last,
                    backend: BackendUsed::Kernel,
                });
            }
            // The errno is the one openat2 really failed with: a filter's EPERM is reported as
            // EPERM, not as the ENOSYS of a kernel that lacks the syscall.
            kernel::Outcome::Unavailable(errno) if opts.backend == Backend::Kernel => {
                return Err(Error::with_detail(
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
                .with_syscall("openat2", None));
            }
            kernel::Outcome::Unavailable(_) | kernel::Outcome::NeedsEmulation => {}
        }
    }
    emulated::resolve(root, path, opts, trailing, oflags, None)
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
