//! Container rootfs hardening: masked and read-only paths, procfs and sysfs mounts into a rootfs,
//! bind mounts into it, and safe sysctl and LSM label writes.
//!
//! This is what a container runtime does between "rootfs prepared" and "exec the workload".
//! runc and Docker do it with `mount(2)` on path strings, and the CVEs of that gap
//! (CVE-2019-19921, CVE-2023-27561, CVE-2025-31133, CVE-2025-52565; and for the procfs writes
//! CVE-2019-16884, CVE-2025-52881) all come from a name that someone inside the root changed
//! between the check and the mount or the write. Here everything is **fd-based, end to end**:
//!
//! 1. each target is resolved inside the [`Root`] to an `O_PATH` fd ([`Root::resolve`]);
//! 2. the mount is made detached, with the new mount API: a new file system from
//!    `fsopen`/`fsmount` (an empty read-only tmpfs, procfs, sysfs), or a clone from
//!    `open_tree(OPEN_TREE_CLONE)` (the host's verified `/dev/null`, a read-only copy of the
//!    target, a bind source);
//! 3. it is attached with `move_mount(..., MOVE_MOUNT_T_EMPTY_PATH)` onto that fd.
//!
//! No name is looked up after step 1, so a rename, a symlink swap or a mount inside the root can
//! change *which file inside the root* a path names, but never make a mount land outside it.
//!
//! **Symlinks at a masked or read-only path, or at an ancestor of it, are followed inside the
//! root** (the root's [`Policy`](crate::Policy), `InRoot` by default: absolute links restart at
//! the root, `..` stops there, magic links are refused). The alternative, refusing every
//! symlink, would break images whose `/proc` or `/sys` parents are links for a good reason, and
//! would protect nothing more: a mask is only ever attached to a file inside the root. The
//! destinations of [`mount_procfs`] and [`mount_sysfs`] are stricter: a symlink anywhere on the
//! way, or a non-directory, is refused (CVE-2019-19921, CVE-2023-27561), because a procfs mounted
//! somewhere the runtime did not mean is itself the attack.
//!
//! **Kernels without the new mount API** (before 5.2, or with `fsopen`/`open_tree` refused):
//! the mount is made with `mount(2)` on `/proc/thread-self/fd/N` of the resolved fd, a name
//! checked through the hardened procfs ([`Procfs::fd_link`](crate::Procfs)), and the
//! [`Report`] lists the path under [`Report::fallback`]. One exception: a procfs of another
//! PID namespace ([`ProcfsMountOptions::pidns`]) has no such fallback and is refused up front
//! with `NotSupported`.

#![forbid(unsafe_code)]

mod attach;
mod defaults;
mod mask;
mod mounts;
mod oci;
mod writes;

use std::path::{Path, PathBuf};

pub use defaults::{expand_globs, DOCKER_MASKED_PATHS, RUNC_MASKED_PATHS, RUNC_READONLY_PATHS};
pub use mask::{make_readonly, mask_paths};
pub use mounts::{
    bind_from, bind_into, mount_procfs, mount_sysfs, BindOptions, HidePid, ProcfsMountOptions,
};
pub use oci::OciHardening;
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
}

impl Report {
    /// Whether nothing was refused.
    pub fn is_ok(&self) -> bool {
        self.refused.is_empty()
    }

    /// Appends everything `other` reports.
    pub fn extend(&mut self, other: Report) {
        self.masked.extend(other.masked);
        self.readonly.extend(other.readonly);
        self.mounted.extend(other.mounted);
        self.skipped.extend(other.skipped);
        self.refused.extend(other.refused);
        self.fallback.extend(other.fallback);
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

/// Masks, then makes read-only, everything `opts` names, in the current mount namespace. Masks
/// go first so that a masked path under a read-only one (`/proc/sys/...`) is still masked. A
/// component with `*` is expanded inside the root first ([`expand_globs`]): each match is
/// masked and reported on its own.
///
/// Errors are only for what stops everything (the host's `/dev/null` is not the null device);
/// a path that fails is listed in [`Report::refused`].
pub fn harden(root: &Root, opts: &HardenOptions) -> Result<Report> {
    // `*` (Docker's per-CPU `thermal_throttle`) is expanded now, inside the root.
    let mut report = mask_paths(root, &defaults::expand_globs(root, &opts.masked))?;
    report.extend(make_readonly(
        root,
        &defaults::expand_globs(root, &opts.readonly),
    )?);
    if opts.readonly_proc {
        report.extend(make_readonly(
            root,
            &[Path::new("/proc"), Path::new("/sys")],
        )?);
    }
    Ok(report)
}
