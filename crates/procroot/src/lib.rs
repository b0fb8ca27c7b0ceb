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
//! - `sys` (private): the thin syscall layer, the only module with `unsafe`.
//! - [`resolve`]: the resolver, with a kernel (`openat2`) and an emulated backend.
//! - [`procfs`]: the hardened procfs handle.
//! - [`root`]: [`Root`] and [`Handle`].
//! - [`container`]: masked and read-only paths, procfs/sysfs/bind mounts into a rootfs, safe
//!   sysctl and LSM label writes.
//! - [`exec`]: entering another process's namespaces, and the sealed self-binary.
//! - [`sandbox`]: Landlock, the second wall: confining a process to the trees it works on.

#![deny(unsafe_code)]
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

pub mod container;
pub mod doctor;
pub mod error;
pub mod exec;
pub(crate) mod fs;
pub mod procfs;
pub mod resolve;
pub mod root;
pub mod sandbox;
#[allow(unsafe_code)]
pub(crate) mod sys;
#[doc(hidden)]
pub mod testing;

pub use error::{Error, ErrorKind, Result};
pub use fs::{DirEntry, FileId, FileType, ReadDir};
pub use procfs::{Acquisition, PidFd, ProcBase, Procfs};
pub use resolve::{Backend, BackendUsed, Policy, ResolveFlags, ResolveOptions, Trailing};
pub use root::{
    CopyOptions, CopyWarning, EvalMode, Handle, NodeKind, Progress, ProgressFn, RemoveAllOptions,
    ReplaceMode, ResolvedParent, Root, SpecialFiles, WarningFn, Xattrs,
};
/// Open flags, re-exported from rustix so callers need not depend on it.
pub use rustix::fs::OFlags;
/// Flags for [`Root::rename`] (`NOREPLACE`, `EXCHANGE`, `WHITEOUT`), re-exported from rustix.
pub use rustix::fs::RenameFlags;
/// Errno values, re-exported from rustix so callers can match [`Error::errno`] without depending
/// on it.
pub use rustix::io::Errno;

/// The README's Rust examples, compiled by `cargo test --doc` so that they cannot drift from the
/// API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
