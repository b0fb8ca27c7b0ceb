//! Container rootfs hardening: masked and read-only paths, procfs and sysfs mounts into a rootfs,
//! bind mounts into it, and safe sysctl and LSM label writes.
//!
//! runc and Docker do this with `mount(2)` on path strings, and the CVEs of that gap
//! (CVE-2019-19921, CVE-2023-27561, CVE-2025-31133, CVE-2025-52565; CVE-2019-16884,
//! CVE-2025-52881 for the procfs writes) all come from a name changed inside the root between the
//! check and the mount or write. Here everything is fd-based, end to end: each target is resolved
//! inside the [`Root`] to an `O_PATH` fd ([`Root::resolve`]), the mount is made detached
//! (`fsopen`/`fsmount` or `open_tree(OPEN_TREE_CLONE)`), and attached onto that fd with
//! `move_mount`. No name is looked up after the resolution, so a race inside the root can change
//! which file inside the root a path names, never make a mount land outside it.
//!
//! - Symlinks at or above a masked or read-only path are followed inside the root (a mask is only
//!   ever attached inside it); the destinations of [`mount_procfs`] and [`mount_sysfs`] refuse any
//!   symlink and any non-directory.
//! - Every mount made here is private before it is attached, so nothing mounted on it inside the
//!   root propagates to the host; the caller still gives the root a non-shared parent.
//! - Hardening must finish before any process runs in the root; [`harden`] reports processes
//!   already below a covered path ([`Report::preexisting`]).
//! - Without the new mount API, `mount(2)` on a checked `/proc/thread-self/fd/N`, the new mount
//!   reached from its held parent and identified by its mount id, never by mountinfo's text; one
//!   that cannot be identified is detached through the target's fd ([`Report::fallback`]).
//!
//! The full account: docs/ARCHITECTURE.md, "Container hardening".

#![forbid(unsafe_code)]

mod attach;
mod defaults;
mod mask;
mod mounts;
mod oci;
mod preexisting;
mod writes;

use std::path::{Path, PathBuf};

pub use defaults::{expand_globs, DOCKER_MASKED_PATHS, RUNC_READONLY_PATHS};
pub use mask::{make_readonly, mask_paths};
pub use mounts::{
    bind_from, bind_into, mount_procfs, mount_sysfs, BindOptions, HidePid, ProcfsMountOptions,
};
pub use oci::{load_spec, OciHardening};
pub use writes::{
    read_sysctl, read_sysctl_in, set_current_label, set_exec_label, sysctl_namespace,
    sysctl_subpath, write_sysctl, write_sysctl_in, SysctlNamespace,
};

use crate::error::{Error, Result};
use crate::root::Root;

/// What a hardening step did, path by path.
#[derive(Debug, Default)]
pub struct Report {
    /// Paths covered with the host's `/dev/null` (files) or an empty read-only tmpfs
    /// (directories), as given.
    pub masked: Vec<PathBuf>,
    /// Paths made read-only (a recursive read-only clone moved onto them).
    pub readonly: Vec<PathBuf>,
    /// Destinations that got a new mount: procfs, sysfs, a bind mount.
    pub mounted: Vec<PathBuf>,
    /// Paths left alone, and why: missing (`ENOENT`), or a duplicate of one already done.
    pub skipped: Vec<(PathBuf, String)>,
    /// Paths refused, with the error: a safety violation, or a mount the kernel refused.
    pub refused: Vec<(PathBuf, Error)>,
    /// Paths that were mounted with `mount(2)` on `/proc/thread-self/fd/N` because the new
    /// mount API was unavailable (also listed under what was done to them).
    pub fallback: Vec<PathBuf>,
    /// Processes that already had a handle (working directory, root directory or open file) at
    /// or below a path [`harden`] covered: they keep the view from before, which no mount
    /// changes. Only [`harden`] looks for them.
    pub preexisting: Vec<Preexisting>,
}

/// A process with a handle at or below a covered path, found by [`harden`]. Lookups that start
/// below a mount never cross it: such a process still writes through the old, writable mount,
/// or reads the masked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preexisting {
    /// Its PID, in procroot's PID namespace.
    pub pid: u32,
    /// Which handle: `cwd`, `root`, or `fd N`.
    pub handle: String,
    /// The covered path (as given) it sits at or below.
    pub path: PathBuf,
}

/// A file a mount was attached on, as it was before the mount: what [`harden`] compares the
/// handles of running processes with.
#[derive(Debug, Clone)]
pub(crate) struct Covered {
    /// The path as given.
    path: PathBuf,
    /// Where the kernel printed it (`d_path`), to find candidate handles by.
    printed: PathBuf,
    /// What it was when it was covered: its mount and file.
    id: crate::sys::MountedFileId,
}

impl Report {
    /// Whether nothing was refused and no process had a handle below a covered path.
    pub fn is_ok(&self) -> bool {
        self.refused.is_empty() && self.preexisting.is_empty()
    }

    /// Appends everything `other` reports.
    pub fn extend(&mut self, other: Report) {
        self.masked.extend(other.masked);
        self.readonly.extend(other.readonly);
        self.mounted.extend(other.mounted);
        self.skipped.extend(other.skipped);
        self.refused.extend(other.refused);
        self.fallback.extend(other.fallback);
        self.preexisting.extend(other.preexisting);
    }
}

/// What [`harden`] applies.
#[derive(Debug, Default, Clone)]
pub struct HardenOptions {
    /// Paths to mask ([`mask_paths`]).
    pub masked: Vec<PathBuf>,
    /// Paths to make read-only ([`make_readonly`]).
    pub readonly: Vec<PathBuf>,
    /// Docker's read-only `/proc` mode: also make the container's whole `/proc` and `/sys`
    /// read-only. LSM label writes keep working, because [`set_exec_label`] and
    /// [`set_current_label`] write through procroot's own procfs instance, not the container's
    /// `/proc` (Docker bind-mounted a private read-write procfs over `/proc/1/attr` for that).
    pub readonly_proc: bool,
}

impl HardenOptions {
    /// runc's default masked and read-only lists plus Docker's additions.
    pub fn defaults() -> HardenOptions {
        HardenOptions {
            masked: DOCKER_MASKED_PATHS.iter().map(PathBuf::from).collect(),
            readonly: RUNC_READONLY_PATHS.iter().map(PathBuf::from).collect(),
            readonly_proc: false,
        }
    }
}

/// Masks, then makes read-only, everything `opts` names, in the current mount namespace: masks
/// first, so that a masked path under a read-only one (`/proc/sys/...`) is still masked; then
/// (`readonly_proc`) the whole `/proc` and `/sys`; then the read-only paths. A component with
/// `*` is expanded inside the root first ([`expand_globs`]): each match is masked and reported
/// on its own.
///
/// **What the caller must provide:**
/// - **The mount namespace of the container, not the host's**, whose mounts do not propagate to
///   the host: make the rootfs `rslave` or `rprivate` first (as runc does). Every mount
///   procroot makes is private before it is attached, but one attached under a *shared* parent
///   is still propagated to that parent's peers by the kernel.
/// - **Hardening must finish before any process runs in the root**, or has a handle inside it.
///   A lookup that starts below a mount never crosses it: a process whose working directory,
///   root or open file sits at or below a covered path keeps the unmasked, writable view. After
///   the mounts, `harden` looks for such processes through the hardened procfs (every process
///   it can see, except the caller itself): a working directory, root or open fd whose path,
///   as the kernel prints it, is at or below a covered path, and which is not what that path
///   leads to now (compared by mount id, device and inode: it is on the old mount, or under a
///   mask), is listed in [`Report::preexisting`] ([`Report::is_ok`] is then false). That check
///   is a safety net, not a guarantee: processes in a PID namespace procroot cannot see, and
///   handles whose path the kernel prints relative to another mount namespace's root, are not
///   found.
/// - The new mount API (Linux 5.2; `mount_setattr`, 5.12) for the fd-only sequence; otherwise
///   the fallback of the [module documentation](self).
///
/// **Errors and partial results.** The only error is the host's `/dev/null` failing its check
/// ([`mask_paths`]), which happens **before any mount**: an `Err` means nothing was mounted.
/// From the first mount on, every outcome is in the [`Report`]: each mount made is listed
/// (masked, read-only), each failure under [`Report::refused`]; a path whose mount could not be
/// finished (the fallback's read-only remounts) has its new mounts detached again.
pub fn harden(root: &Root, opts: &HardenOptions) -> Result<Report> {
    // `*` (Docker's per-CPU `thermal_throttle`) is expanded now, inside the root.
    let masked = defaults::expand_globs(root, &opts.masked);
    let readonly = defaults::expand_globs(root, &opts.readonly);
    let dev_null = if masked.is_empty() {
        None
    } else {
        Some(mask::host_dev_null()?)
    };
    let mut report = Report::default();
    let mut covered = Vec::new();
    if let Some(dev_null) = &dev_null {
        let action = mask::Action::Mask {
            dev_null: std::os::fd::AsFd::as_fd(dev_null),
        };
        mask::apply(root, &masked, &action, &mut report, Some(&mut covered));
    }
    // The whole /proc and /sys before the read-only paths inside them: a read-only clone of
    // `/proc/sys` covers the mounts below `/proc/sys` (`binfmt_misc`), and a later recursive
    // clone of `/proc` would hold them hidden under it, out of reach of the fallback's
    // remounts (which find each mount by its path).
    if opts.readonly_proc {
        mask::apply(
            root,
            &[Path::new("/proc"), Path::new("/sys")],
            &mask::Action::ReadOnly,
            &mut report,
            Some(&mut covered),
        );
    }
    mask::apply(
        root,
        &readonly,
        &mask::Action::ReadOnly,
        &mut report,
        Some(&mut covered),
    );
    preexisting::scan(root, &covered, &mut report);
    Ok(report)
}

/// Whether `/proc` inside `root` is a procfs, so that hardening paths under it can mean
/// anything: on a rootfs whose `/proc` is not mounted yet, every `/proc` path of
/// [`HardenOptions::defaults`] is skipped as missing (or masks a plain directory that a later
/// procfs mount covers), a silent no-op.
///
/// `/proc` is resolved inside `root` (a symlink there is followed inside it, as for the paths
/// [`harden`] masks) and the answer is `fstatfs` of that fd: `PROC_SUPER_MAGIC`. Never the
/// text of mountinfo, which a FUSE or tmpfs mount can make say `proc`. A missing `/proc`, or a
/// non-directory in the way (`ENOENT`, `ENOTDIR`), is `Ok(false)`; any other error resolving
/// it (`ELOOP`, `EXDEV`, `EACCES`) is returned, never taken for an answer.
pub fn proc_is_mounted(root: &Root) -> Result<bool> {
    use crate::sys::Syscall as _;
    match root.resolve("/proc") {
        Ok(handle) => crate::sys::is_procfs(std::os::fd::AsFd::as_fd(&handle)).syscall("fstatfs"),
        Err(e)
            if matches!(
                e.errno(),
                rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
