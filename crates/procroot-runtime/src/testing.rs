//! Switches for tests of the runtime: not part of the stable API.

#![forbid(unsafe_code)]

/// The check `exec` makes in the child after entering a root and changing directory
/// (CVE-2024-21626): exposed so a test can stage a cwd outside a chroot and see it refused.
pub use crate::sys::exec::verify_cwd;
