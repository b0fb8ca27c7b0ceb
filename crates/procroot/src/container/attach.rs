//! Making a mount and attaching it onto a resolved fd: the one place the container layer mounts.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::{MountAttrFlags, MountFlags};

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::Procfs;
use crate::root::Root;
use crate::sys::features::{self, Feature};
use crate::sys::mount::{self as sysmount, FsOption};

/// What to mount.
pub(super) enum Source<'a> {
    /// A clone of the mount at the file `from` pins (`open_tree(OPEN_TREE_CLONE)`).
    Bind {
        from: BorrowedFd<'a>,
        recursive: bool,
        readonly: bool,
    },
    /// A new file system instance (`fsopen`/`fsmount`).
    NewFs {
        fstype: &'a str,
        options: &'a [FsOption<'a>],
        attrs: MountAttrFlags,
        /// The same options as a `mount(2)` data string, for the fallback.
        legacy_data: &'a str,
    },
}

/// How a mount was attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    /// `move_mount(MOVE_MOUNT_T_EMPTY_PATH)` onto the fd.
    MoveMount,
    /// `mount(2)` on `/proc/thread-self/fd/N` (no new mount API).
    ProcFdPath,
}

/// Whether the new mount API is to be used for `source`: not disabled, not known missing.
fn new_api_allowed(source: &Source<'_>) -> bool {
    match source {
        Source::Bind { .. } => !features::is_disabled(Feature::OpenTree),
        Source::NewFs { .. } => !features::is_disabled(Feature::Fsopen),
    }
}

/// Makes `source` and attaches it onto `target` (in `root`, for the fallback's re-check and
/// messages). The new mount API first; `ENOSYS` (a kernel before 5.2, or a filter) falls back
/// to `mount(2)` on the target's `/proc/thread-self/fd/N`.
pub(super) fn mount_onto(
    root: &Root,
    path: &Path,
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> Result<Method> {
    if new_api_allowed(source) {
        match mount_new_api(source, target) {
            Ok(()) => return Ok(Method::MoveMount),
            Err(e) if e.errno == Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    mount_legacy(root, path, source, target)?;
    Ok(Method::ProcFdPath)
}

fn mount_new_api(
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> std::result::Result<(), crate::sys::SyscallError> {
    let mount = match *source {
        Source::Bind {
            from,
            recursive,
            readonly,
        } => {
            let clone = sysmount::clone_tree(from, recursive)?;
            if readonly {
                // Only RDONLY is set: the clone keeps nosuid/nodev/noexec as the original had
                // them (and the kernel refuses to clear locked ones anyway).
                sysmount::set_attrs(
                    clone.as_fd(),
                    MountAttrFlags::MOUNT_ATTR_RDONLY,
                    MountAttrFlags::empty(),
                    recursive,
                )?;
            }
            clone
        }
        Source::NewFs {
            fstype,
            options,
            attrs,
            ..
        } => sysmount::new_mount(fstype, options, attrs)?,
    };
    sysmount::attach(mount.as_fd(), target)
}

/// `/proc/thread-self/fd/N` of `fd`, after checking through the hardened procfs that nothing is
/// mounted on the link or its directory (a name the kernel resolves again in `mount(2)`).
fn fd_path(procfs: &Procfs, fd: BorrowedFd<'_>) -> Result<String> {
    procfs.fd_link(fd)?;
    Ok(format!("/proc/thread-self/fd/{}", fd.as_raw_fd()))
}

fn mount_legacy(
    root: &Root,
    path: &Path,
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> Result<()> {
    // The global /proc, verified: the cached instance is a plain open of it on such kernels.
    let procfs = Procfs::cached()?;
    if procfs.acquisition().is_detached() {
        // A detached instance cannot be reached by name; `mount(2)` needs the global one.
        let global = Procfs::acquire(crate::procfs::Acquisition::PlainOpen, false)?;
        return mount_legacy_with(&global, root, path, source, target);
    }
    mount_legacy_with(&procfs, root, path, source, target)
}

fn mount_legacy_with(
    procfs: &Procfs,
    root: &Root,
    path: &Path,
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> Result<()> {
    let target_path = fd_path(procfs, target)?;
    match *source {
        Source::Bind {
            from,
            recursive,
            readonly,
        } => {
            let from_path = fd_path(procfs, from)?;
            let flags = if recursive {
                MountFlags::BIND | MountFlags::REC
            } else {
                MountFlags::BIND
            };
            sysmount::mount_path(&from_path, &target_path, "", flags, None)?;
            if readonly {
                // The fd still names the file *under* the new mount, so the remount goes
                // through a fresh resolution, which must land on the root of a mount showing
                // the source's file.
                let fresh = root.resolve(path)?;
                let want = crate::sys::mount_info_at(from, "", rustix::fs::AtFlags::EMPTY_PATH)?;
                let got = crate::sys::mount_info_at(&fresh, "", rustix::fs::AtFlags::EMPTY_PATH)?;
                if (got.dev, got.ino) != (want.dev, want.ino) || got.mount_root == Some(false) {
                    return Err(Error::with_detail(
                        ErrorKind::SafetyViolation,
                        Errno::XDEV,
                        "the bind mount was replaced before it could be made read-only",
                    ));
                }
                let st = rustix::fs::fstatvfs(&fresh)?;
                let mut keep = MountFlags::RDONLY;
                for (bit, flag) in [
                    (rustix::fs::StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
                    (rustix::fs::StatVfsMountFlags::NODEV, MountFlags::NODEV),
                    (rustix::fs::StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
                ] {
                    if st.f_flag.contains(bit) {
                        keep |= flag;
                    }
                }
                sysmount::remount_bind_path(&fd_path(procfs, fresh.as_fd())?, keep)?;
            }
        }
        Source::NewFs {
            fstype,
            attrs,
            legacy_data,
            ..
        } => {
            let mut flags = MountFlags::empty();
            for (attr, flag) in [
                (MountAttrFlags::MOUNT_ATTR_RDONLY, MountFlags::RDONLY),
                (MountAttrFlags::MOUNT_ATTR_NOSUID, MountFlags::NOSUID),
                (MountAttrFlags::MOUNT_ATTR_NODEV, MountFlags::NODEV),
                (MountAttrFlags::MOUNT_ATTR_NOEXEC, MountFlags::NOEXEC),
            ] {
                if attrs.contains(attr) {
                    flags |= flag;
                }
            }
            let data = (!legacy_data.is_empty()).then_some(legacy_data);
            sysmount::mount_path(fstype, &target_path, fstype, flags, data)?;
        }
    }
    Ok(())
}
