//! procroot: race-free path resolution inside another root, and procfs you can trust.
//!
//! The core is [`Root`]: a directory that paths are resolved inside of, as if it were `/` —
//! a container rootfs, a chroot, or a `/proc/<pid>/root` wormhole into another mount namespace.
//! Absolute symlinks stay inside it and `..` never climbs out of it, even while an attacker
//! inside races renames.
//!
//! ```no_run
//! use procroot::{EvalMode, Root};
//!
//! let root = Root::open("/var/lib/machines/web")?;
//! let handle = root.resolve("/var/run/app.sock")?;
//! println!("{}", handle.path_in_root()?.display()); // e.g. /run/app.sock
//! println!("{}", root.eval_symlinks("/var/run", EvalMode::Full)?.display());
//! # Ok::<(), procroot::Error>(())
//! ```
//!
//! # Layers
//!
//! - [`procroot_sys`] (its own crate): the thin syscall layer, the only crate with `unsafe`.
//! - [`resolve`]: the resolver, with a kernel (`openat2`) and an emulated backend.
//! - [`procfs`]: the hardened procfs handle.
//! - [`root`]: [`Root`] and [`Handle`].
//!
//! The runtime toolkit built on these (`container`, `exec`, `sandbox`, `doctor`) is the
//! `procroot-runtime` crate. `docs/ARCHITECTURE.md` in the repository draws the crates and
//! their arrows.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// `--cfg procroot_fault_injection` replaces the resolver by a naive one (`resolve/naive.rs`,
// compiled into no other build) that follows absolute symlinks from the host's `/` and `..`
// above the root, as a path-joining resolver would: it exists only so that a test
// can show the second wall (Landlock, and the identity check of metadata changes) holding when
// the first wall fails. It is a `--cfg` given through RUSTFLAGS, never a cargo feature: no
// `--all-features` build, no `cargo build --release` and no dependent crate can turn it on by
// accident. Such a build marks itself ([`FAULT_INJECTION`]): the CLI says so in `--version`,
// `doctor` and a warning per command. An optimized build refuses it outright.
#[cfg(all(procroot_fault_injection, not(debug_assertions)))]
compile_error!(
    "--cfg procroot_fault_injection breaks procroot's resolver on purpose: tests only, never in \
     an optimized build"
);

/// Whether this build of the library has its first wall broken on purpose for tests (`--cfg
/// procroot_fault_injection`, given through `RUSTFLAGS` only). Never true in a build made with
/// cargo's features or profiles alone; a program built on such a library must say so loudly.
pub const FAULT_INJECTION: bool = cfg!(procroot_fault_injection);

pub mod error;
pub(crate) mod fs;
mod preload;
pub mod procfs;
pub mod resolve;
pub mod root;
#[doc(hidden)]
pub mod testing;

/// The syscall layer under its old in-crate name, so that the modules keep their `crate::sys::`
/// paths: the `procroot-sys` crate, plus the error-building half that knows [`Error`] and so
/// lives in [`error`].
mod sys {
    pub(crate) use crate::error::{args, flag_names, Syscall, SyscallErrno};
    pub(crate) use procroot_sys::*;
}

pub use error::{Error, ErrorKind, Result};
pub use fs::{DirEntry, FileId, FileType, ReadDir};
pub use preload::{prepare_to_confine, Preload};
pub use procfs::{Acquisition, PidFd, ProcBase, Procfs};
pub use resolve::{Backend, BackendUsed, Policy, ResolveFlags, ResolveOptions, Trailing};
pub use root::set_id_kept;
pub use root::{
    CopyOptions, CopyWarning, EvalMode, Handle, NodeKind, Progress, ProgressFn, RemoveAllOptions,
    ReplaceMode, ResolvedParent, Root, SpecialFiles, Walk, WalkEntry, WarningFn, Xattrs,
};
/// Open flags, re-exported from rustix so callers need not depend on it.
pub use rustix::fs::OFlags;
/// Flags for [`Root::rename`] (`NOREPLACE`, `EXCHANGE`, `WHITEOUT`), re-exported from rustix.
pub use rustix::fs::RenameFlags;
/// Errno values, re-exported from rustix so callers can match [`Error::errno`] without depending
/// on it.
pub use rustix::io::Errno;

/// Reads now what the library would otherwise read lazily from procfs later: its procfs handle
/// ([`Procfs::cached`]) and `fs.protected_symlinks` (which the emulated resolver follows to
/// refuse what the kernel would refuse). Call it before forking a child that confines itself
/// (Landlock, a `chroot`, a seccomp filter) and then resolves paths: such a child could no
/// longer open `/proc`, and without the sysctl would assume the strict answer. Errors are not
/// fatal here: whatever could not be read is read again, or assumed, where it is needed.
///
/// A process that confines itself calls [`prepare_to_confine`] instead, which can leave out
/// what it will not use ([`Preload`]).
pub fn prepare_for_fork() {
    let _ = Procfs::cached();
    let _ = resolve::protected::enabled();
}
