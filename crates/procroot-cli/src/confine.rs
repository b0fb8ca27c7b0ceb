//! The second wall: every command confines itself with Landlock ([`procroot::sandbox`]) after
//! it has opened what it needs and before it walks anything, so that a bug in procroot's own
//! checks becomes an `EACCES` instead of a host file read or changed.
//!
//! Each command builds its [`Sandbox`] with the helpers here ([`read`], [`read_write`], ...)
//! and calls [`confine`] once. `--no-sandbox` (global) turns it off. Where the kernel has no
//! Landlock (or a seccomp filter refuses its probe), commands run as before; with `--json` a
//! `{"sandbox": ...}` line says so.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use procroot::sandbox::{self, Access, Sandbox};
use procroot::{Procfs, Root};
use serde_json::json;

use crate::output::Failure;

/// `--no-sandbox`, set once by `main`.
static DISABLED: AtomicBool = AtomicBool::new(false);

/// What each command is allowed, for `--help`, the README and `procroot doctor`.
pub const PROFILES: &[(&str, &str)] = &[
    ("resolve, cat, ls, stat, readlink", "read beneath the root"),
    (
        "mkdir, rm, mv, ln, chmod, chown, touch, write",
        "read, write, create and remove beneath the root (FIFOs and sockets too, no device nodes)",
    ),
    (
        "mknod",
        "as the mutating commands, plus device nodes, beneath the root",
    ),
    (
        "cp (in)",
        "read beneath the host source; read-write beneath the root (device nodes only with \
         --special-files)",
    ),
    (
        "cp (out)",
        "read beneath the root; read-write beneath the host directory the copy lands in, never \
         device nodes",
    ),
    (
        "proc",
        "read beneath procroot's private procfs instance only; with --pid, --proc-root or --pidns \
         none (Landlock refuses ptrace-mode access, which another process's exe, fd/ and \
         environ need, to every process outside the sandbox)",
    ),
    ("doctor", "none: it probes the whole system"),
    (
        "exec",
        "none: Landlock is inherited across execve and cannot be lifted, so it would confine \
         the command run in the target for its whole life",
    ),
    (
        "harden, mount-proc",
        "none: a landlocked process may not mount at all, and mounting is their job (Landlock \
         does not mediate mounts, so it would add nothing against a wrong mount target either)",
    ),
    (
        "sysctl",
        "none: it writes through a private procfs instance the library opens for the write, and \
         with --pid it enters the target's namespaces first",
    ),
    (
        "completions, man",
        "no file system access at all: they only write to stdout",
    ),
];

/// Called by `main` with `--no-sandbox`.
pub fn init(no_sandbox: bool) {
    DISABLED.store(no_sandbox, Ordering::Relaxed);
}

/// Whether the second wall is on (no `--no-sandbox`): Landlock, and the library's second check
/// of metadata changes ([`Root::with_second_check`]).
pub fn enabled() -> bool {
    !DISABLED.load(Ordering::Relaxed)
}

/// Read-only beneath the root: `resolve`, `cat`, `ls`, `stat`, `readlink`.
pub fn read(root: &Root) -> Sandbox {
    Sandbox::new().allow_beneath(root, Access::READ)
}

/// Read-write beneath the root, device nodes only if `devices` (`mknod`).
pub fn read_write(root: &Root, devices: bool) -> Sandbox {
    let mut access = Access::READ_WRITE;
    access.set(Access::MAKE_DEVICE, devices);
    Sandbox::new().allow_beneath(root, access)
}

/// No file system access at all: `completions` and `man`, which only write to stdout.
pub fn nothing() -> Sandbox {
    Sandbox::new()
}

/// `procroot proc`: the private procfs instance only.
pub fn procfs(procfs: &Procfs) -> Sandbox {
    Sandbox::new().allow_beneath(procfs.as_fd(), Access::READ)
}

/// Where a notice that the sandbox is unavailable goes with `--json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Text mode: commands run as they did before the sandbox, silently.
    None,
    /// A `{"sandbox": ...}` line on stdout, before the results.
    Stdout,
    /// On stderr, for `cat`, whose stdout is the files' bytes.
    Stderr,
}

impl Notice {
    /// [`Notice::Stdout`] with `--json`, else [`Notice::None`].
    pub fn json(json: bool) -> Notice {
        if json {
            Notice::Stdout
        } else {
            Notice::None
        }
    }
}

/// Confines this process with `sandbox`, unless `--no-sandbox`. Without Landlock, goes on
/// unconfined and says so as `notice` asks; any other failure to confine fails the command
/// (it never runs unconfined because of a refusal it did not expect).
pub fn confine(notice: Notice, sandbox: Sandbox) -> Result<(), Failure> {
    if DISABLED.load(Ordering::Relaxed) {
        return Ok(());
    }
    if let Err(e) = sandbox::abi() {
        let line = json!({"sandbox": {
            "status": "unavailable",
            "errno": e.errno_name(),
            "message": e.to_string(),
        }});
        match notice {
            Notice::None => {}
            Notice::Stdout => crate::output::print_json(&line)?,
            Notice::Stderr => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
        return Ok(());
    }
    // Landlock is there but confining failed: the command does not run unconfined behind the
    // user's back.
    sandbox.restrict_self().map_err(|e| {
        Failure::Library(procroot::Error::with_detail(
            e.kind(),
            e.errno(),
            format!(
                "confining the command with Landlock failed: {e}; --no-sandbox runs it without"
            ),
        ))
    })?;
    Ok(())
}
