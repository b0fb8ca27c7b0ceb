//! Making a mount and attaching it onto a resolved fd: the one place the container layer mounts.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, StatVfsMountFlags};
use rustix::io::Errno;
use rustix::mount::{MountAttrFlags, MountFlags};

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{mountinfo, ProcBase, Procfs};
use crate::resolve::{Policy, ResolveFlags};
use crate::root::{Handle, Root};
use crate::sys::features::{self, Feature};
use crate::sys::mount::{self as sysmount, FsOption};

/// What to mount.
pub(super) enum Source<'a> {
    /// A clone of the mount at the file `from` pins (`open_tree(OPEN_TREE_CLONE)`), with `attrs`
    /// set on it (and on every mount below it, with `recursive`); the other per-mount flags are
    /// kept as the original has them.
    Bind {
        from: BorrowedFd<'a>,
        recursive: bool,
        attrs: MountAttrFlags,
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

/// A mount [`mount_onto`] attached.
#[derive(Debug)]
pub(super) struct Attached {
    /// How.
    pub method: Method,
    /// The new mount (the top one of a recursive clone), for its id: a later path that resolves
    /// to the root of this mount reached the same dentry as this one.
    pub mount: OwnedFd,
}

/// Whether the new mount API is to be used for `source`: not disabled, not known missing.
fn new_api_allowed(source: &Source<'_>) -> bool {
    match source {
        Source::Bind { .. } => !features::is_disabled(Feature::OpenTree),
        Source::NewFs { .. } => !features::is_disabled(Feature::Fsopen),
    }
}

/// Makes `source` and attaches it onto `target` (in `root`, for the fallback's re-check and
/// messages). The new mount API first; `ENOSYS` (a kernel before 5.2, or `mount_setattr`
/// missing before 5.12, or a filter) falls back to `mount(2)` on the target's
/// `/proc/thread-self/fd/N`.
///
/// **Every mount is private when it is attached** (a clone is made private with
/// `mount_setattr` before `move_mount`; the fallback's `mount(2)` is followed at once by
/// `MS_PRIVATE`): a clone of a shared mount would otherwise be a peer of the original, and
/// whatever is later mounted on the clone inside the root would appear at the original, on the
/// host (a bind over a file mask reaching the host's `/dev/null`). A parent that is itself
/// shared still propagates the new mount to its peers when it is attached: the caller's
/// mount namespace must not share the root with the host (see the [module
/// documentation](super)).
pub(super) fn mount_onto(
    root: &Root,
    path: &Path,
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> Result<Attached> {
    if new_api_allowed(source) {
        match mount_new_api(source, target) {
            Ok(mount) => {
                return Ok(Attached {
                    method: Method::MoveMount,
                    mount,
                })
            }
            Err(e) if e.errno() == Errno::NOSYS => {}
            Err(e) => return Err(e),
        }
    }
    let mount = mount_legacy(root, path, source, target)?;
    Ok(Attached {
        method: Method::ProcFdPath,
        mount,
    })
}

fn mount_new_api(source: &Source<'_>, target: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mount = match *source {
        Source::Bind {
            from,
            recursive,
            attrs,
        } => {
            let clone = sysmount::clone_tree(from, recursive)?;
            // Private before it is attached (the clone of a shared mount is in its peer
            // group); `attrs` set, every other flag kept as the original has it (the kernel
            // refuses to clear locked ones anyway).
            sysmount::set_attrs(
                clone.as_fd(),
                attrs,
                MountAttrFlags::empty(),
                true,
                recursive,
            )?;
            clone
        }
        // A mount from `fsmount` is a new mount in no peer group: private already.
        Source::NewFs {
            fstype,
            options,
            attrs,
            ..
        } => sysmount::new_mount(fstype, options, attrs)?,
    };
    sysmount::attach(mount.as_fd(), target)?;
    Ok(mount)
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
) -> Result<OwnedFd> {
    // The global /proc, verified: the cached instance is a plain open of it on such kernels.
    let procfs = Procfs::cached()?;
    if procfs.acquisition().is_detached() {
        // A detached instance cannot be reached by name; `mount(2)` needs the global one.
        let global = Procfs::acquire(crate::procfs::Acquisition::PlainOpen, false)?;
        return mount_legacy_with(&global, root, path, source, target);
    }
    mount_legacy_with(&procfs, root, path, source, target)
}

/// `MS_*` flags for `MOUNT_ATTR_*` ones.
fn ms_flags(attrs: MountAttrFlags) -> MountFlags {
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
    flags
}

/// What the fallback's new mount must be, to be told apart from anything else at the path.
enum Expect {
    /// A bind of the file with this `(dev, ino)`.
    Bind(u64, u64),
    /// A new instance of this file system type.
    NewFs(String),
}

fn mount_legacy_with(
    procfs: &Procfs,
    root: &Root,
    path: &Path,
    source: &Source<'_>,
    target: BorrowedFd<'_>,
) -> Result<OwnedFd> {
    let target_path = fd_path(procfs, target)?;
    // What identifies the new mount in mountinfo afterwards: the mount it goes on.
    let below = crate::sys::legacy_mount_id(target)?;
    // The mounts on `below` before ours: the new one is the one mount on `below` that was not
    // there (a mount id is an identity; a mount point is only text someone may rename).
    let before: HashSet<u64> = read_mountinfo(procfs)?
        .iter()
        .filter(|l| l.parent_id == below)
        .map(|l| l.mount_id)
        .collect();
    let (recursive, attrs, expect) = match *source {
        Source::Bind {
            from,
            recursive,
            attrs,
        } => {
            let from_path = fd_path(procfs, from)?;
            let flags = if recursive {
                MountFlags::BIND | MountFlags::REC
            } else {
                MountFlags::BIND
            };
            let st = rustix::fs::fstat(from)?;
            sysmount::mount_path(&from_path, &target_path, "", flags, None)?;
            (recursive, attrs, Expect::Bind(st.st_dev, st.st_ino))
        }
        Source::NewFs {
            fstype,
            attrs,
            legacy_data,
            ..
        } => {
            let data = (!legacy_data.is_empty()).then_some(legacy_data);
            sysmount::mount_path(fstype, &target_path, fstype, ms_flags(attrs), data)?;
            // Its flags were set by mount(2) itself.
            (
                false,
                MountAttrFlags::empty(),
                Expect::NewFs(fstype.to_owned()),
            )
        }
    };
    // The target fd still names the file *under* the new mount: the new mount is found in
    // mountinfo and opened by its mount point, then identified by its mount id.
    let (top, subtree) =
        identify_new_mount(procfs, below, &before, &expect, recursive).map_err(|e| {
            e.context("find the new mount on", path)
                .in_root(root.display_name())
        })?;
    let top_path = fd_path(procfs, top.as_fd())?;
    let finish = || -> Result<()> {
        // Out of the source's peer group at once (`mount(2)` of a bind joins it).
        sysmount::make_private_path(&top_path, recursive)?;
        if !attrs.is_empty() {
            remount_keeping(procfs, top.as_fd(), attrs)?;
            for (rel, id) in &subtree {
                let sub = resolve_submount(&top, rel, *id)?;
                remount_keeping(procfs, sub.as_fd(), attrs)?;
            }
        }
        Ok(())
    };
    if let Err(e) = finish() {
        // Nothing half-done stays: the new mount (identified by its id, pinned by `top`) and
        // everything below it are detached again.
        return Err(match sysmount::detach_path(&top_path) {
            Ok(()) => e,
            Err(undo) => Error::with_detail(
                e.kind(),
                e.errno(),
                format!(
                    "{e}; the mount made could not be undone either: {}",
                    Error::from(undo)
                ),
            ),
        });
    }
    Ok(top)
}

/// Finds the mount the fallback just made: in mountinfo (read through the hardened procfs),
/// the one mount on the mount `below` that is not among `before` (the ids there before; a mount
/// id is an identity, a mount point only text that a rename inside the root changes). It is
/// opened by the mount point mountinfo prints and kept only if that fd is the root of the mount
/// with that id, showing what was mounted; a rename racing with the open is retried a few
/// times. Returns it, and (with `recursive`) every mount below it as (its mount point relative
/// to the new mount's, its id), parents first.
fn identify_new_mount(
    procfs: &Procfs,
    below: u64,
    before: &HashSet<u64>,
    expect: &Expect,
    recursive: bool,
) -> Result<(OwnedFd, Vec<(PathBuf, u64)>)> {
    let replaced = || {
        Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            "the new mount could not be identified to be made private and read-only (it is \
             left in place: unmount it by hand)",
        )
    };
    for _ in 0..IDENTIFY_ATTEMPTS {
        let lines = read_mountinfo(procfs)?;
        // A mount stacked on ours has ours, not `below`, as its parent: one new line, unless
        // someone else mounted on `below` meanwhile (then nothing is trusted).
        let mut found = lines
            .iter()
            .filter(|l| l.parent_id == below && !before.contains(&l.mount_id));
        let (Some(top), None) = (found.next(), found.next()) else {
            return Err(replaced());
        };
        let Ok(fresh) = rustix::fs::open(
            &top.mount_point,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let id = crate::sys::legacy_mount_id(&fresh)?;
        let info = crate::sys::mount_info_at(&fresh, "", AtFlags::EMPTY_PATH)?;
        let shows_source = match expect {
            Expect::Bind(dev, ino) => (info.dev, info.ino) == (*dev, *ino),
            Expect::NewFs(fstype) => top.fs_type == *fstype,
        };
        if id != top.mount_id || info.mount_root == Some(false) || !shows_source {
            continue;
        }
        let mut subtree = Vec::new();
        if recursive {
            let mut parents = vec![id];
            while let Some(parent) = parents.pop() {
                for l in lines
                    .iter()
                    .filter(|l| l.parent_id == parent && l.mount_id != parent)
                {
                    let rel = l
                        .mount_point
                        .strip_prefix(&top.mount_point)
                        .map_err(|_| replaced())?;
                    subtree.push((rel.to_path_buf(), l.mount_id));
                    parents.push(l.mount_id);
                }
            }
            // Parents before children: a child's mount point is longer than its parent's.
            subtree.sort_by_key(|(rel, _)| rel.as_os_str().len());
        }
        return Ok((fresh, subtree));
    }
    Err(replaced())
}

/// How often [`identify_new_mount`] opens the new mount again after a rename moved its mount
/// point between reading mountinfo and the open.
const IDENTIFY_ATTEMPTS: usize = 8;

fn read_mountinfo(procfs: &Procfs) -> Result<Vec<mountinfo::MountinfoLine>> {
    Ok(mountinfo::parse(
        &procfs.read_to_string(ProcBase::SelfProcess, "mountinfo")?,
    ))
}

/// A mount of the new subtree, resolved beneath its top with no symlink and checked to be the
/// root of the mount with that id: the mount point text only says where to look.
fn resolve_submount(top: &OwnedFd, rel: &Path, id: u64) -> Result<Handle> {
    let dup = rustix::io::fcntl_dupfd_cloexec(top, 0)?;
    let beneath = Root::from_fd(dup)?
        .with_policy(Policy::Beneath)
        .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS);
    let sub = beneath.resolve(rel)?;
    let info = crate::sys::mount_info_at(&sub, "", AtFlags::EMPTY_PATH)?;
    if crate::sys::legacy_mount_id(&sub)? != id || info.mount_root == Some(false) {
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            format!(
                "a mount below the new one, at {:?}, is hidden or was replaced: it cannot be \
                 made read-only",
                rel
            ),
        ));
    }
    Ok(sub)
}

/// `mount(2)` `MS_REMOUNT | MS_BIND` of the mount `fd` is the root of, adding `attrs` and keeping
/// its `nosuid`, `nodev`, `noexec` and `nosymfollow` (a remount clears what it does not name);
/// the kernel keeps its atime flags when none is named.
fn remount_keeping(procfs: &Procfs, fd: BorrowedFd<'_>, attrs: MountAttrFlags) -> Result<()> {
    let st = rustix::fs::fstatvfs(fd)?;
    let mut keep = ms_flags(attrs);
    for (bit, flag) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
    ] {
        if st.f_flag.contains(bit) {
            keep |= flag;
        }
    }
    if crate::sys::is_nosymfollow(fd)? {
        keep |= MountFlags::NOSYMFOLLOW;
    }
    sysmount::remount_bind_path(&fd_path(procfs, fd)?, keep)?;
    Ok(())
}
