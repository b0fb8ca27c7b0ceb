//! `procroot doctor`: what this kernel offers, and whether `/proc` can be trusted.
//!
//! The report is assembled here so that the CLI only prints it. Everything is probed fresh;
//! nothing here changes process state beyond the caches the library keeps anyway.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};
use crate::procfs::{Acquisition, ProcBase, Procfs};
use crate::resolve::BackendUsed;
use crate::sys::{self, features};

/// What `procroot doctor` reports.
#[derive(Debug)]
pub struct Report {
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel features procroot uses.
    pub features: features::KernelFeatures,
    /// Each procfs acquisition method, in the order they are tried, and whether it works here.
    pub procfs_methods: Vec<(Acquisition, Result<()>)>,
    /// The method [`Procfs::new`] picks: the first that works.
    pub procfs_chosen: Result<Acquisition>,
    /// What is mounted on the global `/proc`.
    pub global_proc: Result<GlobalProc>,
    /// Every mount on top of `/proc` or anything under it, from `/proc/self/mountinfo` read
    /// through the hardened handle.
    pub proc_overmounts: Result<Vec<Overmount>>,
    /// The backend that [`Backend::Auto`](crate::Backend::Auto) uses here.
    pub auto_backend: BackendUsed,
}

/// Facts about the global `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalProc {
    /// `fstatfs` says procfs (`PROC_SUPER_MAGIC`).
    pub is_procfs: bool,
    /// It is the root of a procfs (inode 1), not a procfs subdirectory bound onto `/proc`.
    pub is_procfs_root: bool,
}

/// A mount found on `/proc` or below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overmount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Its file system type (`tmpfs`, `proc`, `binfmt_misc`, ...).
    pub fs_type: String,
    /// Its source (`/dev/sda1`, `tmpfs`, ...).
    pub source: String,
    /// The path inside its file system that is mounted (`/` for a whole file system, `/sched`
    /// for a bind of one file).
    pub root: PathBuf,
    /// Its per-mount options (`ro,nosuid,...`).
    pub options: String,
}

impl Report {
    /// Whether the global `/proc` looks trustworthy: procfs, its root, with nothing on top of it
    /// or of anything below it. procroot does not depend on this (its handle defends itself),
    /// but code that opens `/proc/...` by path does.
    pub fn proc_is_trustworthy(&self) -> bool {
        matches!(&self.global_proc, Ok(g) if g.is_procfs && g.is_procfs_root)
            && matches!(&self.proc_overmounts, Ok(m) if m.is_empty())
    }
}

/// Probes everything and returns the report.
pub fn run() -> Report {
    let procfs_methods = [
        Acquisition::Fsmount,
        Acquisition::OpenTreeClone,
        Acquisition::PlainOpen,
    ]
    .into_iter()
    .map(|method| (method, Procfs::acquire(method, true).map(drop)))
    .collect();
    let auto_backend =
        if features::openat2_known_unavailable() || features::probe_openat2().is_err() {
            BackendUsed::Emulated
        } else {
            BackendUsed::Kernel
        };
    Report {
        kernel_release: rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
        features: features::probe_kernel(),
        procfs_methods,
        procfs_chosen: Procfs::new().map(|p| p.acquisition()),
        global_proc: global_proc(),
        proc_overmounts: proc_overmounts(),
        auto_backend,
    }
}

fn global_proc() -> Result<GlobalProc> {
    let fd = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::from(e).context("open", std::path::Path::new("/proc")))?;
    let is_procfs = sys::is_procfs(&fd)?;
    let st = rustix::fs::fstat(&fd)?;
    Ok(GlobalProc {
        is_procfs,
        is_procfs_root: is_procfs && st.st_ino == 1,
    })
}

fn proc_overmounts() -> Result<Vec<Overmount>> {
    let mountinfo = Procfs::cached()?.read_to_string(ProcBase::SelfProcess, "mountinfo")?;
    Ok(parse_mountinfo(&mountinfo)
        .into_iter()
        .filter(|m| {
            let point = m.mount_point.as_os_str().as_encoded_bytes();
            (point == b"/proc" && m.fs_type != "proc") || point.starts_with(b"/proc/")
        })
        .collect())
}

/// Parses `/proc/<pid>/mountinfo` lines (see `proc_pid_mountinfo(5)`). Malformed lines are
/// skipped.
fn parse_mountinfo(text: &str) -> Vec<Overmount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut rest = after.split(' ');
            Some(Overmount {
                root: PathBuf::from(unescape(fields.get(3)?)),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                options: fields.get(5)?.to_string(),
                fs_type: rest.next()?.to_string(),
                source: unescape(rest.next()?),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\012` for a newline, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    90 22 0:40 /sched /proc/self/attr/current rw shared:1 - proc proc rw\n\
                    91 22 0:41 / /proc/my\\040dir rw - tmpfs tmp\\040fs rw\n\
                    garbage\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].root, PathBuf::from("/sched"));
        assert_eq!(
            mounts[1].mount_point,
            PathBuf::from("/proc/self/attr/current")
        );
        assert_eq!(mounts[1].fs_type, "proc");
        assert_eq!(mounts[2].mount_point, PathBuf::from("/proc/my dir"));
        assert_eq!(mounts[2].source, "tmp fs");
    }
}
