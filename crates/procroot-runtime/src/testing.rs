//! Switches for tests of the runtime: not part of the stable API.

#![forbid(unsafe_code)]

/// How many first children `exec` started on the calling thread sharing the caller's memory
/// (`CLONE_VM | CLONE_VFORK`), and how many as a fork: `(shared, fork)`. Test-only: a test
/// that claims one kind of child compares it before and after.
pub use crate::sys::spawn::child_kinds;
/// The child's reset of every caught signal to its default action (`SIGRTMAX` included),
/// exposed so a test can install handlers and check `SigCgt` afterwards.
pub use crate::sys::spawn::reset_signal_handlers;
/// The check `exec` makes in the child after entering a root and changing directory
/// (CVE-2024-21626): exposed so a test can stage a cwd outside a chroot and see it refused.
pub use crate::sys::spawn::verify_cwd;
