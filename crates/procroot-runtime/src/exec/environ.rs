//! The environment a [`Command`](super::Command) runs with.
//!
//! By default it is the target's own (`/proc/<pid>/environ`, read through the hardened procfs
//! and pinned by the target's pidfd), plus the caller's `TERM`: the caller's environment holds
//! host secrets (cloud credentials, tokens, a `PATH` naming host directories) that must not reach
//! a binary of the container, and every process of the container that may ptrace-read the
//! command (the same uid) can read its environment from `/proc`. When the target's environment
//! cannot be read, the command does not run: falling back to the caller's would leak exactly
//! what the default exists to keep out.
//!
//! Environment bytes are kept as bytes (`OsString`): neither the target's nor an override need be
//! UTF-8.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{PidFd, ProcBase, Procfs};

/// The most of `/proc/<pid>/environ` that is read. The kernel's `execve` limits the strings it
/// copies to a quarter of the stack limit, but a process can point its environment at any
/// memory of its own (`prctl(PR_SET_MM_ENV_START/END)`, with `CAP_SYS_RESOURCE`): a target must
/// not make the caller read gigabytes. `execve` itself refuses more than this (`E2BIG`) for any
/// default stack limit.
const ENVIRON_MAX: u64 = 16 << 20;

/// Where the command's environment starts, before [`Command::env`](super::Command::env)'s
/// additions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Base {
    /// The target's environment plus the caller's `TERM` (the default).
    #[default]
    Target,
    /// Nothing.
    Empty,
    /// The caller's whole environment (`nsenter`'s behaviour).
    Caller,
}

/// The environment a command asks for: a base and the variables set on top of it, in order.
#[derive(Clone, Debug, Default)]
pub(super) struct EnvSpec {
    pub(super) base: Base,
    pub(super) set: Vec<(OsString, OsString)>,
}

impl EnvSpec {
    /// The environment the command gets, as `(name, value)` pairs without duplicate names.
    /// Reads the target's environment for [`Base::Target`]; any failure to read it is the
    /// error (`read the target's environment "/proc/<pid>/environ": ...`).
    pub(super) fn resolve(
        &self,
        procfs: &Procfs,
        target: &PidFd,
    ) -> Result<Vec<(OsString, OsString)>> {
        let mut env = match self.base {
            Base::Empty => Vec::new(),
            Base::Caller => std::env::vars_os().collect(),
            Base::Target => {
                let mut env = parse(&read_environ(procfs, target)?);
                // The caller's TERM describes the terminal the command's stdio is (most likely)
                // attached to, which the target's does not.
                if let Some(term) = std::env::var_os("TERM") {
                    set(&mut env, OsStr::new("TERM"), &term);
                }
                env
            }
        };
        for (k, v) in &self.set {
            set(&mut env, k, v);
        }
        Ok(env)
    }
}

/// Sets `key` to `value` in `env`, replacing every earlier entry of that name.
fn set(env: &mut Vec<(OsString, OsString)>, key: &OsStr, value: &OsStr) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
}

/// Reads `/proc/<pid>/environ` of `target` through `procfs` (the pidfd's directory: never a
/// process that reused the PID), at most [`ENVIRON_MAX`] bytes (`E2BIG` beyond).
fn read_environ(procfs: &Procfs, target: &PidFd) -> Result<Vec<u8>> {
    let shown = PathBuf::from(format!("/proc/{}/environ", target.pid()));
    let fail = |e: Error| e.within("read the target's environment", &shown);
    let file = procfs
        .open(ProcBase::PidFd(target), "environ", OFlags::RDONLY)
        .map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(ENVIRON_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            fail(
                Error::from_errno(Errno::from_io_error(&e).unwrap_or(Errno::IO))
                    .context("read", &shown),
            )
        })?;
    if bytes.len() as u64 > ENVIRON_MAX {
        return Err(fail(Error::with_detail(
            ErrorKind::InvalidInput,
            Errno::TOOBIG,
            format!("the target's environment is larger than {ENVIRON_MAX} bytes"),
        )));
    }
    Ok(bytes)
}

/// Splits environ bytes (`NAME=value` entries, each ended by a NUL) into pairs. The target
/// writes this memory: an entry without `=` or with an empty name (which no `getenv` finds) is
/// dropped, and of duplicate names the first is kept, the one `getenv` returns.
fn parse(bytes: &[u8]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    for entry in bytes.split(|&b| b == 0) {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        if eq == 0 {
            continue;
        }
        let key = OsStr::from_bytes(&entry[..eq]);
        if env.iter().any(|(k, _)| k == key) {
            continue;
        }
        env.push((
            key.to_owned(),
            OsStr::from_bytes(&entry[eq + 1..]).to_owned(),
        ));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&[u8], &[u8])]) -> Vec<(OsString, OsString)> {
        v.iter()
            .map(|(k, v)| {
                (
                    OsStr::from_bytes(k).to_owned(),
                    OsStr::from_bytes(v).to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn parse_keeps_bytes_drops_nameless_entries_and_keeps_the_first_duplicate() {
        let got = parse(b"A=1\0noeq\0=x\0B=\xff\xfe=\0A=2\0\0C=3");
        assert_eq!(
            got,
            pairs(&[(b"A", b"1"), (b"B", b"\xff\xfe="), (b"C", b"3")])
        );
        assert!(parse(b"").is_empty());
    }

    #[test]
    fn set_replaces_every_entry_of_the_name() {
        let mut env = pairs(&[(b"A", b"1"), (b"B", b"2")]);
        set(&mut env, OsStr::new("A"), OsStr::new("x"));
        assert_eq!(env, pairs(&[(b"B", b"2"), (b"A", b"x")]));
    }
}
