//! procroot-runtime: the container and exec toolkit built on [`procroot`].
//!
//! `procroot` resolves paths inside another root and reads procfs without being tricked; this
//! crate does what a container runtime does with that:
//!
//! - [`container`]: masked and read-only paths, procfs/sysfs/bind mounts into a rootfs, safe
//!   sysctl and LSM label writes, all by fd;
//! - [`exec`]: entering another process's namespaces and running a command there, and the
//!   sealed self-binary (CVE-2019-5736);
//! - [`sandbox`]: Landlock, the second wall: confining a process to the trees it works on
//!   ([`RootSandboxExt::in_sandbox`] runs a closure confined to one root);
//! - [`unpack`]: applying container image layers (tar, gzip, zstd; OCI whiteouts) to a root
//!   without a write outside it ([`RootUnpackExt::apply_layer`]);
//! - [`doctor`]: what this kernel offers, and whether `/proc` can be trusted;
//! - [`inspect`]: `find` and `audit`, walking a whole root with [`procroot::Root::walk`].
//!
//! The crate has no `unsafe`: it forbids it at its root. Every syscall goes through
//! `procroot-sys`, and every path through [`procroot::Root`], so a rename race inside the root
//! meets the same checks here as in the library. The one operation whose soundness the crate
//! cannot know, the fork behind [`RootSandboxExt::in_sandbox`] (sound only if the caller has
//! no other thread), takes a [`sandbox::ForkPermit`] that the caller makes in its own `unsafe`
//! block. `docs/ARCHITECTURE.md` in the repository draws the crates and their arrows.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod container;
pub mod doctor;
pub mod exec;
pub mod inspect;
pub mod sandbox;
#[doc(hidden)]
pub mod testing;
pub mod unpack;

pub use sandbox::RootSandboxExt;
pub use unpack::RootUnpackExt;

// The library's modules under the paths these modules used when they were part of it
// (`crate::root::Root`, `crate::sys::…`), so that the move kept their imports.
use procroot::{error, procfs, resolve, root};
#[allow(unused_imports)] // Used by intra-doc links and some modules only.
use procroot::{Backend, FileType, Handle, Policy, Procfs, Root};

/// `procroot`'s re-exports of its private `fs` module.
mod fs {
    pub(crate) use procroot::{FileType, ReadDir};
}

/// The syscall layer, plus the error-building half that lives in [`procroot::error`].
mod sys {
    pub(crate) use procroot::error::{Syscall, SyscallErrno};
    pub(crate) use procroot_sys::*;
}

/// The README's Rust examples, compiled by `cargo test --doc` so that they cannot drift from the
/// API. Here rather than in `procroot`: the examples use both crates, and this one sees both.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The library tour's examples (`docs/LIBRARY.md`), compiled by `cargo test --doc` as the
/// README's are.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/LIBRARY.md")]
pub struct LibraryDoctests;
