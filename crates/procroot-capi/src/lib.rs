//! The C ABI of procroot (`include/procroot.h`, generated from this file by cbindgen).
//!
//! Conventions, the same for every function:
//! - the return value is `>= 0` on success (an fd, a length, or 0) and `-errno` on failure;
//! - the last parameter, `err`, may be NULL; otherwise, on failure, `*err` receives a heap
//!   [`procroot_error`] (errno, kind, syscall, message) that the caller frees with
//!   [`procroot_error_free`], and on success `*err` is left untouched. There is no thread-local
//!   "last error" and no global error table: Go moves goroutines between threads, and a
//!   per-thread error would be read on the wrong one;
//! - fds returned are the caller's (`O_CLOEXEC`), to `close(2)`;
//! - a NULL pointer, a negative fd or an unknown flag bit is `-EINVAL` or `-EBADF` with a
//!   message, never a crash; a panic inside procroot never unwinds into C (it becomes
//!   `-ENOTRECOVERABLE`).
//!
//! Handles (`procroot_root`, `procroot_procfs`, `procroot_pidfd`) may be used by several
//! threads at the same time. The `procroot_root_set_*` calls change a root: they take the
//! root's lock exclusively, so a setter racing a call waits for it to finish (a setter never
//! changes the settings under a resolution in flight). Only the `*_free` calls must not race
//! with any other use of the same handle: the Go and Python bindings make their `Close` wait
//! for the calls in flight.
//!
//! This crate and the library's `sys` module are the only ones with `unsafe`: here, every
//! dereference of a pointer C handed in. Each entry point turns its raw arguments into
//! references (and [`CBorrowedFd`]s) first, one `unsafe` call per argument under that
//! argument's contract in the header, through the `unsafe fn`s of `util` (`ErrOut::from_raw`
//! for `err`); everything after that is safe code.
//!
//! Modules by area: `core` (roots and path operations), `walk` (walking a tree inside a root,
//! an iterator handle), `procfs` (the hardened procfs),
//! `runtime` (container setup and exec), `error` (`procroot_error`, panics), `util` (the
//! argument conversions).

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

// The order is the header's: cbindgen emits items in the order it reads them.
mod core;
mod error;
mod procfs;
mod runtime;
mod util;
mod walk;

pub use crate::core::*;
pub use crate::error::*;
pub use crate::procfs::*;
pub use crate::runtime::*;
pub use crate::util::CBorrowedFd;
pub use crate::walk::*;
