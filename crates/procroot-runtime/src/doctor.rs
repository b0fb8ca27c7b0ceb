//! `procroot doctor`: what this kernel offers, and whether `/proc` can be trusted.
//!
//! The report is assembled here so that the CLI only prints it. Everything is probed fresh;
//! nothing here changes process state beyond the caches the library keeps anyway.

#![forbid(unsafe_code)]

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::Result;
use crate::procfs::{Acquisition, ProcBase, Procfs};
use crate::resolve::BackendUsed;
use crate::sys::{self, features};
use crate::sys::{Syscall as _, SyscallErrno as _};

/// What the kernel offers, as the probes found it: re-exported from the private syscall layer.
pub use crate::sys::features::{KernelFeatures, Support};

/// What `procroot doctor` reports.
#[derive(Debug)]
pub struct Report {
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel features procroot uses.
    pub features: KernelFeatures,
    /// Each procfs acquisition method, in the order they are tried, and whether it works here.
    pub procfs_methods: Vec<(Acquisition, Result<()>)>,
    /// The method [`Procfs::new`] picks: the first that works.
    pub procfs_chosen: Result<Acquisition>,
    /// What is mounted on the global `/proc`.
    pub global_proc: Result<GlobalProc>,
    /// Every mount on top of `/proc` (a second procfs stacked on it counts) or on anything under
    /// it, from `/proc/self/mountinfo` read through the hardened handle. Self-binds are not
    /// here but in [`Report::proc_self_binds`].
    pub proc_overmounts: Result<Vec<Overmount>>,
    /// Mounts under `/proc` that bind a procfs file or directory onto itself (`mount --bind
    /// /proc/sys /proc/sys`, usually read-only, as container runtimes do). They redirect
    /// nothing; the library's lookups accept them, and so does the verdict.
    pub proc_self_binds: Vec<Overmount>,
    /// What the global `/proc` shows: which process is `self`, which PID namespace, what is
    /// hidden.
    pub proc_view: Result<ProcView>,
    /// procroot's own PID namespace.
    pub pid_namespace: PidNamespace,
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

/// What the global `/proc` shows this process.
///
/// A procfs shows the processes of the PID namespace it was mounted for. Mounted from another
/// namespace (a container's procfs over the host's `/proc`, or the host's in a container), its
/// `/proc/<n>` are other processes than the PIDs this process knows, and `self` is missing
/// when this process is not in that namespace at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcView {
    /// What `/proc/self` names, or `None` if it is missing (this process is not in the
    /// procfs's PID namespace).
    pub self_pid: Option<u32>,
    /// `/proc/self/status` there describes this process: its `NSpid` ends with our PID, and
    /// starts with the PID `self` names.
    pub self_is_this_process: bool,
    /// How many PID namespaces `NSpid` spans, from the procfs's down to ours: 1 when the procfs
    /// is of our own namespace. `None` if `self` is missing.
    pub nspid_levels: Option<usize>,
    /// The inode of the procfs's PID namespace: procroot's own when [`ProcView::is_our_pidns`],
    /// else that of `/proc/1/ns/pid` (its init's), if procroot may see it (`ptrace` read
    /// access to that process is needed).
    pub pidns_ino: Option<u64>,
    /// The procfs is of procroot's own PID namespace.
    pub is_our_pidns: bool,
    /// Options of the procfs that hide things: `subset=pid` (no `/proc/sys` and other global
    /// files), `hidepid=...` (other users' processes).
    pub restrictions: Vec<String>,
}

/// procroot's PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidNamespace {
    /// The inode of `/proc/thread-self/ns/pid` (through the hardened handle).
    pub ino: Option<u64>,
    /// Whether it is the initial PID namespace (`PROC_PID_INIT_INO`), from which every process
    /// on the system has a `/proc/<pid>` (procfsroot's "gold standard").
    pub is_initial: Option<bool>,
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
    /// The file system's options (`rw,subset=pid,hidepid=invisible`).
    pub super_options: String,
    /// Its mount id and its parent's, and its device (`major:minor`).
    pub mount_id: u64,
    /// The mount id of the mount it is on.
    pub parent_id: u64,
    /// `major:minor` of its file system.
    pub dev: String,
}

/// `PROC_PID_INIT_INO`: the inode number of the initial PID namespace
/// (`include/linux/proc_ns.h`), fixed for the life of the kernel.
pub const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

impl Report {
    /// Whether the global `/proc` looks trustworthy: procfs, its root, with nothing on top of it
    /// or of anything below it (self-binds excepted), of procroot's own PID namespace with
    /// `self` naming this process, and hiding nothing. procroot does not depend on this (its
    /// handle defends itself), but code that opens `/proc/...` by path does.
    pub fn proc_is_trustworthy(&self) -> bool {
        matches!(&self.global_proc, Ok(g) if g.is_procfs && g.is_procfs_root)
            && matches!(&self.proc_overmounts, Ok(m) if m.is_empty())
            && matches!(&self.proc_view, Ok(v) if v.self_is_this_process
                && v.is_our_pidns
                && v.restrictions.is_empty())
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
    let pid_namespace = pid_namespace();
    let mounts = proc_mounts();
    let (proc_overmounts, proc_self_binds, restrictions) = match mounts {
        Ok(m) => (Ok(m.overmounts), m.self_binds, m.restrictions),
        Err(e) => (Err(e), Vec::new(), Vec::new()),
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
        proc_overmounts,
        proc_self_binds,
        proc_view: proc_view(pid_namespace, restrictions),
        pid_namespace,
        auto_backend,
    }
}

fn open_global_proc() -> Result<OwnedFd> {
    rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .syscall("open")
    .map_err(|e| e.context("open", Path::new("/proc")))
}

fn global_proc() -> Result<GlobalProc> {
    let fd = open_global_proc()?;
    let is_procfs = sys::is_procfs(&fd).syscall("fstatfs")?;
    let st = rustix::fs::fstat(&fd).syscall("fstat")?;
    Ok(GlobalProc {
        is_procfs,
        is_procfs_root: is_procfs && st.st_ino == 1,
    })
}

fn pid_namespace() -> PidNamespace {
    let ino = Procfs::cached()
        .and_then(|p| p.open_follow(ProcBase::ThreadSelf, "ns/pid", OFlags::RDONLY))
        .ok()
        .and_then(|f| rustix::fs::fstat(&f).ok())
        .map(|st| st.st_ino);
    PidNamespace {
        ino,
        is_initial: ino.map(|ino| ino == PROC_PID_INIT_INO),
    }
}

/// Looks at the global `/proc` by path, as the code that trusts it would.
fn proc_view(ours: PidNamespace, restrictions: Vec<String>) -> Result<ProcView> {
    let proc = open_global_proc()?;
    let self_pid = match rustix::fs::readlinkat(&proc, "self", Vec::new()) {
        Ok(target) => target.to_str().ok().and_then(|t| t.parse::<u32>().ok()),
        Err(Errno::NOENT) => None,
        Err(e) => {
            return Err(e
                .syscall("readlinkat")
                .context("readlink", Path::new("/proc/self")))
        }
    };
    // NSpid lists this process's PID in every namespace from the procfs's down to its own.
    let nspid: Option<Vec<u32>> = self_pid.and_then(|_| {
        let fd = rustix::fs::openat(
            &proc,
            "self/status",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
    });
    let self_is_this_process = match (&nspid, self_pid) {
        (Some(levels), Some(pid)) => {
            levels.first() == Some(&pid) && levels.last() == Some(&std::process::id())
        }
        _ => false,
    };
    let nspid_levels = nspid.as_ref().map(Vec::len);
    // One level: the procfs numbers this process in its own namespace, so it is that
    // namespace's. Otherwise its init's ns link names it, if procroot may look at that process
    // (ptrace read access, which even root may lack under an LSM).
    let is_our_pidns = self_is_this_process && nspid_levels == Some(1);
    let pidns_ino = if is_our_pidns {
        ours.ino
    } else {
        rustix::fs::statat(&proc, "1/ns/pid", AtFlags::empty())
            .ok()
            .map(|st| st.st_ino)
    };
    Ok(ProcView {
        self_pid,
        self_is_this_process,
        nspid_levels,
        pidns_ino,
        is_our_pidns,
        restrictions,
    })
}

/// The mounts at and under `/proc`, classified.
struct ProcMounts {
    overmounts: Vec<Overmount>,
    self_binds: Vec<Overmount>,
    /// The hiding options of the procfs visible at `/proc`.
    restrictions: Vec<String>,
}

fn proc_mounts() -> Result<ProcMounts> {
    let mountinfo = Procfs::cached()?.read_to_string(ProcBase::SelfProcess, "mountinfo")?;
    Ok(classify(parse_mountinfo(&mountinfo)))
}

fn classify(all: Vec<Overmount>) -> ProcMounts {
    let at_proc: Vec<&Overmount> = all
        .iter()
        .filter(|m| m.mount_point.as_os_str() == "/proc")
        .collect();
    let stacked_on_proc = |m: &Overmount| {
        at_proc
            .iter()
            .any(|p| p.mount_id == m.parent_id && p.mount_id != m.mount_id)
    };
    // The one that is seen at /proc: the top of the stack, on which nothing at /proc sits.
    let top = at_proc
        .iter()
        .find(|m| !at_proc.iter().any(|o| o.parent_id == m.mount_id))
        .copied();
    let restrictions = top
        .filter(|m| m.fs_type == "proc")
        .map(|m| {
            m.super_options
                .split(',')
                .filter(|o| o.starts_with("subset=") || o.starts_with("hidepid="))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut overmounts = Vec::new();
    let mut self_binds = Vec::new();
    for m in &all {
        let point = m.mount_point.as_os_str().as_encoded_bytes();
        if point == b"/proc" {
            // More than one mount at /proc: everything above the bottom one hides it, a second
            // procfs (of any namespace, with any options) included.
            if stacked_on_proc(m) || m.fs_type != "proc" {
                overmounts.push(m.clone());
            }
        } else if let Some(rest) = point.strip_prefix(b"/proc/") {
            if top.is_some_and(|top| is_self_bind(top, m, rest)) {
                self_binds.push(m.clone());
            } else {
                overmounts.push(m.clone());
            }
        }
    }
    ProcMounts {
        overmounts,
        self_binds,
        restrictions,
    }
}

/// A mount at `/proc/<rest>` that shows the very same procfs file: the same file system as the
/// procfs at `/proc`, and its root is the path it is mounted on. The library's lookups accept
/// the same thing, by inode (`is_self_bind` in `procfs`).
fn is_self_bind(proc: &Overmount, m: &Overmount, rest: &[u8]) -> bool {
    let root = m.root.as_os_str().as_encoded_bytes();
    let base = proc.root.as_os_str().as_encoded_bytes();
    let base = base.strip_suffix(b"/").unwrap_or(base);
    m.fs_type == "proc"
        && proc.fs_type == "proc"
        && m.dev == proc.dev
        && root.strip_prefix(base).and_then(|r| r.strip_prefix(b"/")) == Some(rest)
}

/// Parses `/proc/<pid>/mountinfo` lines (the one parser, in the procfs layer). Malformed lines
/// are skipped.
fn parse_mountinfo(text: &str) -> Vec<Overmount> {
    crate::procfs::mountinfo::parse(text)
        .into_iter()
        .map(|l| Overmount {
            mount_point: l.mount_point,
            fs_type: l.fs_type,
            source: l.source,
            root: l.root,
            options: l.options,
            super_options: l.super_options,
            mount_id: l.mount_id,
            parent_id: l.parent_id,
            dev: l.dev,
        })
        .collect()
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
        assert_eq!(mounts[0].super_options, "rw");
    }

    #[test]
    fn classifies_stacks_self_binds_and_restrictions() {
        let text = "22 27 0:21 / /proc rw - proc proc rw\n\
                    30 22 0:21 /sys /proc/sys ro - proc proc rw\n\
                    31 22 0:21 /sched /proc/1/attr/current rw - proc proc rw\n\
                    32 22 0:50 / /proc/kcore rw - tmpfs tmpfs rw\n";
        let m = classify(parse_mountinfo(text));
        let points =
            |v: &[Overmount]| -> Vec<PathBuf> { v.iter().map(|m| m.mount_point.clone()).collect() };
        assert_eq!(points(&m.self_binds), [PathBuf::from("/proc/sys")]);
        assert_eq!(
            points(&m.overmounts),
            [
                PathBuf::from("/proc/1/attr/current"),
                PathBuf::from("/proc/kcore")
            ]
        );
        assert!(m.restrictions.is_empty());
        // A second procfs on /proc, with options that hide things.
        let text = "22 27 0:21 / /proc rw - proc proc rw\n\
                    40 22 0:60 / /proc rw - proc proc rw,subset=pid,hidepid=invisible\n\
                    41 40 0:21 /sys /proc/sys ro - proc proc rw\n";
        let m = classify(parse_mountinfo(text));
        assert_eq!(
            points(&m.overmounts),
            [PathBuf::from("/proc"), PathBuf::from("/proc/sys")]
        );
        assert_eq!(m.restrictions, ["subset=pid", "hidepid=invisible"]);
    }
}
