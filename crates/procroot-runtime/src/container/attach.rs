//! Making a mount and attaching it onto a resolved fd: the one place the container layer mounts.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::OsString;
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

/// Makes `source` and attaches it onto `target` (`path` in `root`: the fallback finds the
/// target's parent directory from it, and it names the path in messages). The new mount API
/// first; `ENOSYS` (a kernel before 5.2, or `mount_setattr` missing before 5.12, or a filter)
/// falls back to `mount(2)` on the target's `/proc/thread-self/fd/N`.
///
/// **Every mount is private when it is attached** (a clone is made private with
/// `mount_setattr` before `move_mount`; the fallback's `mount(2)` is followed by `MS_PRIVATE`
/// through an fd of the new mount, reached from the target's held parent and identified by
/// its mount id, or, if it cannot be identified, undone through the target's fd, and the call
/// fails): a clone of a shared mount would otherwise be a peer of the original, and
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
    /// A bind of this file.
    Bind(crate::sys::FileId),
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
    let in_root = |e: Error| {
        e.context("find the new mount on", path)
            .in_root(root.display_name())
    };
    let target_path = fd_path(procfs, target)?;
    // How the new mount is reached again, found before anything is mounted: a refusal here
    // leaves nothing behind.
    let anchor = Anchor::find(procfs, root, path, target).map_err(in_root)?;
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
            let file = crate::sys::FileId::of(from)?;
            sysmount::mount_path(&from_path, &target_path, "", flags, None)?;
            (recursive, attrs, Expect::Bind(file))
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
    #[cfg(test)]
    tests::after_mount();
    // The target fd still names the file *under* the new mount (a lookup that starts at a
    // covered file never crosses onto what covers it): the new mount is reached from the held
    // parent directory, by the target's name, and identified by its mount id.
    let Found {
        mount: top,
        id: top_id,
        subtree,
    } = match identify_new_mount(procfs, &anchor, below, &before, &expect, recursive) {
        Ok(found) => found,
        Err(missed) => {
            // Never left attached as mount(2) made it (read-write, in the source's peer group):
            // detached again, or the error says which mount is left.
            return Err(in_root(undo_unidentified(procfs, &target_path, missed)));
        }
    };
    let top_path = match fd_path(procfs, top.as_fd()) {
        Ok(top_path) => top_path,
        // Not left attached either: undone through the target's fd, as an unidentified one.
        Err(error) => {
            let missed = Missed {
                error,
                new: Some(vec![top_id]),
            };
            return Err(in_root(undo_unidentified(procfs, &target_path, missed)));
        }
    };
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

/// Where the fallback reaches its new mount again: the target's parent directory, held as an
/// fd, and the target's name in it.
///
/// `mount(2)` on `/proc/thread-self/fd/N` covers the target's dentry, but the target fd itself
/// keeps naming the file underneath, and the mount point mountinfo prints is text that any
/// rename of an ancestor inside the root changes (an attacker exchanging the target's parent
/// with a symlink in a loop made every re-open by that text miss). A lookup of the name in the
/// held parent crosses onto whatever is mounted on that dentry, whatever the parent is called
/// by then.
struct Anchor {
    parent: OwnedFd,
    name: OsString,
}

impl Anchor {
    /// Finds the parent and name under which `target` sits in `root`, checked before anything
    /// is mounted: the name, looked up in the parent without following it, must be the target
    /// itself (the same mount id, device and inode). First `path` as given; then, if it names
    /// something else by now (its last component is a symlink followed to the target, or a
    /// rename moved the target or an ancestor since the caller resolved it), where the kernel
    /// prints the target relative to where it prints the root: only a hint, resolved inside
    /// the root and kept only if the check holds. A directory's parent is not looked up by
    /// name at all then, but opened as the target's `..` (its parent dentry, whatever the
    /// ancestors are called: a loop exchanging one of them with a symlink makes every lookup
    /// by name see the other state), with the hint's last name. After [`ANCHOR_ATTEMPTS`]
    /// misses, `EXDEV`
    /// (`SafetyViolation`) with nothing mounted: the target the caller resolved and checked is
    /// the only file the mount may go on.
    fn find(procfs: &Procfs, root: &Root, path: &Path, target: BorrowedFd<'_>) -> Result<Anchor> {
        let want = crate::sys::mount_info_at(target, "", AtFlags::EMPTY_PATH)?;
        let is_directory =
            rustix::fs::FileType::from_raw_mode(want.file_type) == rustix::fs::FileType::Directory;
        let mut last_error = None;
        for attempt in 0..ANCHOR_ATTEMPTS {
            let lookup = if attempt == 0 {
                Cow::Borrowed(path)
            } else {
                match printed_in_root(procfs, root, target) {
                    Ok(hint) => Cow::Owned(hint),
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                }
            };
            let dotdot = || {
                rustix::fs::openat(
                    target,
                    "..",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            };
            let found = match lookup.file_name() {
                Some(name) if attempt > 0 && is_directory => dotdot()
                    .map(|parent| (parent, Some(name.to_os_string())))
                    .map_err(Error::from),
                _ => root
                    .resolve_parent(&lookup)
                    .map(|(parent, name)| (parent.into_fd(), name)),
            };
            let (parent, name) = match found {
                Ok(found) => found,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let Some(name) = name else {
                return Err(root_itself());
            };
            match crate::sys::mount_info_at(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(got) if got.identity() == want.identity() => {
                    return Ok(Anchor { parent, name });
                }
                Ok(_) => {}
                Err(e) => last_error = Some(e.into()),
            }
        }
        let mut detail = "the target kept changing: no directory inside the root was found to \
                          hold it under its name, so a mount on it could not be reached again \
                          to make it private and read-only (nothing was mounted)"
            .to_owned();
        if let Some(e) = last_error {
            detail.push_str(&format!("; last lookup: {e}"));
        }
        Err(Error::escape(detail))
    }

    /// Opens what the name in the held parent is now (`O_PATH | O_NOFOLLOW`): after the mount,
    /// the root of the topmost mount on that dentry.
    fn open(&self) -> rustix::io::Result<OwnedFd> {
        rustix::fs::openat(
            &self.parent,
            self.name.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }
}

/// Where the kernel prints `target` (`d_path`, through the hardened procfs), relative to where
/// it prints the root's directory: a path inside the root, as text. Only a hint for
/// [`Anchor::find`], which resolves it inside the root and checks what it reaches by mount id,
/// device and inode (the text is wrong for a file outside the root, a deleted one, or after a
/// rename; then the check fails).
fn printed_in_root(procfs: &Procfs, root: &Root, target: BorrowedFd<'_>) -> Result<PathBuf> {
    let printed = |fd: BorrowedFd<'_>| {
        procfs.readlink(ProcBase::ThreadSelf, format!("fd/{}", fd.as_raw_fd()))
    };
    let (root_printed, target_printed) = (printed(root.as_fd())?, printed(target)?);
    match target_printed.strip_prefix(&root_printed) {
        Ok(rel) if !rel.as_os_str().is_empty() => Ok(rel.to_path_buf()),
        Ok(_) => Err(root_itself()),
        Err(_) => Err(Error::escape(
            "the target is not printed below the root (renamed, or not inside it)",
        )),
    }
}

/// The fallback cannot mount on the root's own directory: it has no parent inside the root to
/// reach the new mount from.
fn root_itself() -> Error {
    Error::with_detail(
        ErrorKind::NotSupported,
        Errno::NOSYS,
        "without the new mount API (open_tree(2), fsmount(2), move_mount(2): Linux 5.2) the \
         root directory itself cannot be covered: the mount could not be reached again from \
         a directory inside the root to make it private and read-only (nothing was mounted)",
    )
}

/// How often [`Anchor::find`] looks for the target's parent (the first time by the path as
/// given, then where the kernel prints the target) before it gives up.
const ANCHOR_ATTEMPTS: usize = 32;

/// The new mount [`identify_new_mount`] found.
struct Found {
    /// Its root, reached from the target's held parent.
    mount: OwnedFd,
    /// Its mount id (the `STATX_MNT_ID` kind, as mountinfo prints it).
    id: u64,
    /// With `recursive`, every mount below it: (its mount point relative to the new mount's,
    /// its id), parents first.
    subtree: Vec<(PathBuf, u64)>,
}

/// Why [`identify_new_mount`] gave up.
struct Missed {
    error: Error,
    /// The ids of the new mounts on the target's mount in the last mountinfo read: ours alone
    /// when there is exactly one (nobody else mounts in this mount namespace meanwhile).
    /// `None` if mountinfo could not be read at all.
    new: Option<Vec<u64>>,
}

/// Finds the mount the fallback just made: in mountinfo (read through the hardened procfs),
/// the one mount on the mount `below` that is not among `before` (the ids there before; a mount
/// id is an identity, a mount point only text that a rename inside the root changes). It is
/// reached through `anchor` (a lookup of the target's name in its held parent) and kept only if
/// that fd is the root of the mount with that id, showing what was mounted; a rename of the
/// target's own name racing with the lookup is retried a few times. Returns it, its mount id,
/// and (with `recursive`) every mount below it as (its mount point relative to the new
/// mount's, its id), parents first: the text only says where to look, [`resolve_submount`]
/// checks each by id.
fn identify_new_mount(
    procfs: &Procfs,
    anchor: &Anchor,
    below: u64,
    before: &HashSet<u64>,
    expect: &Expect,
    recursive: bool,
) -> std::result::Result<Found, Missed> {
    let mut new = None;
    for _ in 0..IDENTIFY_ATTEMPTS {
        let lines = read_mountinfo(procfs).map_err(|error| Missed {
            error,
            new: new.clone(),
        })?;
        // A mount stacked on ours has ours, not `below`, as its parent: one new line, unless
        // someone else mounted on `below` meanwhile (then nothing is trusted).
        let found: Vec<&mountinfo::MountinfoLine> = lines
            .iter()
            .filter(|l| l.parent_id == below && !before.contains(&l.mount_id))
            .collect();
        new = Some(found.iter().map(|l| l.mount_id).collect());
        let [top] = found[..] else {
            return Err(Missed {
                error: Error::escape(
                    "the new mount could not be identified: not exactly one new mount on the \
                     target's mount (something else mounted or unmounted there meanwhile)",
                ),
                new,
            });
        };
        let Ok(fresh) = anchor.open() else {
            continue;
        };
        let (Ok(id), Ok(info)) = (
            crate::sys::legacy_mount_id(&fresh),
            crate::sys::mount_info_at(&fresh, "", AtFlags::EMPTY_PATH),
        ) else {
            continue;
        };
        let shows_source = match expect {
            Expect::Bind(file) => info.file == *file,
            Expect::NewFs(fstype) => top.fs_type == *fstype,
        };
        if id != top.mount_id || info.mount_root == Some(false) || !shows_source {
            continue;
        }
        let mut subtree = Vec::new();
        if recursive {
            let mut parents = vec![id];
            let mut consistent = true;
            while let Some(parent) = parents.pop() {
                for l in lines
                    .iter()
                    .filter(|l| l.parent_id == parent && l.mount_id != parent)
                {
                    // Both mount points were printed by one read; a rename between the two
                    // lines makes them disagree: read again.
                    let Ok(rel) = l.mount_point.strip_prefix(&top.mount_point) else {
                        consistent = false;
                        break;
                    };
                    subtree.push((rel.to_path_buf(), l.mount_id));
                    parents.push(l.mount_id);
                }
            }
            if !consistent {
                continue;
            }
            // Parents before children: a child's mount point is longer than its parent's.
            subtree.sort_by_key(|(rel, _)| rel.as_os_str().len());
        }
        return Ok(Found {
            mount: fresh,
            id,
            subtree,
        });
    }
    Err(Missed {
        error: Error::escape(
            "the new mount could not be reached again from the target's directory (its name \
             was renamed or something was mounted on it meanwhile)",
        ),
        new,
    })
}

/// How often [`identify_new_mount`] looks the new mount up again after a rename of the
/// target's name (or a mount stacked on it) made the lookup miss.
const IDENTIFY_ATTEMPTS: usize = 8;

/// After [`identify_new_mount`] failed: detaches the new mount `ours` again, through the
/// target's fd (`umount2(/proc/thread-self/fd/N, MNT_DETACH)`: on the last component of a magic
/// link, umount follows the mounts stacked on the file the fd pins, so it detaches the topmost
/// mount on the target's dentry, never by a name). `ours` sits on that dentry and whatever is
/// stacked above it was mounted on it, so at most its subtree's size of detaches reach it; it
/// stops as soon as `ours` is gone from mountinfo, before anything older is touched. The error
/// returned says whether the mount was undone, or which mount is left.
fn undo_unidentified(procfs: &Procfs, target_path: &str, missed: Missed) -> Error {
    let Missed { error, new } = missed;
    let left = |why: String| {
        Error::with_detail(
            error.kind(),
            error.errno(),
            format!("{error}; the mount made is left in place: {why}"),
        )
    };
    let Some(new) = new else {
        return left("mountinfo could not be read to find it".to_owned());
    };
    let ours = match new[..] {
        [ours] => ours,
        [] => {
            return Error::with_detail(
                error.kind(),
                error.errno(),
                format!("{error}; no new mount is on the target's mount any more"),
            )
        }
        _ => {
            return left(format!(
                "it is one of the new mounts with ids {new:?} on the target's mount, which \
                 cannot be told apart"
            ))
        }
    };
    // Ours and every mount on top of it or below it: what may stand above it on the target.
    let subtree_size = |lines: &[mountinfo::MountinfoLine]| {
        let mut ids = vec![ours];
        let mut i = 0;
        while let Some(&parent) = ids.get(i) {
            ids.extend(
                lines
                    .iter()
                    .filter(|l| l.parent_id == parent && l.mount_id != parent)
                    .map(|l| l.mount_id),
            );
            i += 1;
        }
        ids.len()
    };
    let mut budget = None;
    loop {
        let lines = match read_mountinfo(procfs) {
            Ok(lines) => lines,
            Err(e) => return left(format!("mount id {ours}: {e}")),
        };
        if !lines.iter().any(|l| l.mount_id == ours) {
            return Error::with_detail(
                error.kind(),
                error.errno(),
                format!("{error}; the mount made was detached again"),
            );
        }
        let remaining = budget.get_or_insert_with(|| subtree_size(&lines));
        if *remaining == 0 {
            return left(format!("mount id {ours} is not on the target"));
        }
        *remaining -= 1;
        if let Err(e) = sysmount::detach_path(target_path) {
            return left(format!("mount id {ours}: {}", Error::from(e)));
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// What a test does right after the fallback's `mount(2)`: the moment an attacker or a
        /// propagated mount would act.
        static AFTER_MOUNT: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
    }

    pub(super) fn after_mount() {
        AFTER_MOUNT.with(|hook| {
            if let Some(hook) = hook.borrow().as_ref() {
                hook();
            }
        });
    }

    fn mountinfo() -> std::collections::BTreeSet<String> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn bind(from: &Path, to: &Path) {
        rustix::mount::mount_bind(from, to).unwrap();
    }

    /// Masks `/f` of the root `dir` with the host's `/dev/null` through the fallback, `hook`
    /// running right after its `mount(2)`; it must fail, with this error.
    fn fallback_mask_failing(dir: &Path, hook: Box<dyn Fn()>) -> Error {
        let root = Root::open(dir).unwrap();
        let target = root.resolve("/f").unwrap();
        let dev_null = super::super::mask::host_dev_null().unwrap();
        let source = Source::Bind {
            from: dev_null.as_fd(),
            recursive: false,
            attrs: MountAttrFlags::MOUNT_ATTR_RDONLY,
        };
        AFTER_MOUNT.with(|slot| *slot.borrow_mut() = Some(hook));
        let result = mount_legacy(&root, Path::new("/f"), &source, target.as_fd());
        AFTER_MOUNT.with(|slot| slot.borrow_mut().take());
        result.unwrap_err()
    }

    /// A mount the fallback made but cannot identify (here: another mount stacked on it at
    /// once, so the lookup from the target's directory reaches that one) is never left as
    /// `mount(2)` made it (read-write, in `/dev`'s peer group): it is detached again through the
    /// target's fd, with what was stacked on it, and the path is refused. The target is itself
    /// the root of an older bind mount, which the undo must not touch: it stops at ours.
    #[cfg_attr(
        procroot_unprivileged,
        ignore = "needs root: built with --cfg procroot_unprivileged"
    )]
    #[test]
    fn an_unidentified_mount_is_detached_again_by_the_targets_fd() {
        procroot_testutil::require_privilege("root: mounts in a private mount namespace");
        procroot_testutil::in_private_mount_ns(|| {
            let dir = tempfile::tempdir().unwrap();
            let (f, older, stacked) = (
                dir.path().join("f"),
                dir.path().join("older"),
                dir.path().join("stacked"),
            );
            std::fs::write(&f, "F").unwrap();
            std::fs::write(&older, "OLDER").unwrap();
            std::fs::write(&stacked, "STACKED").unwrap();
            bind(&older, &f);
            let before = mountinfo();
            let hook_f = f.clone();
            let err = fallback_mask_failing(dir.path(), Box::new(move || bind(&stacked, &hook_f)));
            assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
            assert!(err.to_string().contains("detached again"), "{err}");
            let after = mountinfo();
            assert_eq!(
                after.difference(&before).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "{err}"
            );
            assert_eq!(
                before.difference(&after).count(),
                0,
                "the older mount went too"
            );
            assert_eq!(std::fs::read_to_string(&f).unwrap(), "OLDER");
        });
    }

    /// The one case the fallback leaves to the caller: another mount appears on the same parent
    /// mount in this mount namespace at the same moment. The two new mounts cannot be told
    /// apart, so neither is detached (that could be someone else's), and the refusal names the
    /// ids left, ours among them.
    #[cfg_attr(
        procroot_unprivileged,
        ignore = "needs root: built with --cfg procroot_unprivileged"
    )]
    #[test]
    fn a_concurrent_mount_on_the_same_parent_is_named_not_detached() {
        procroot_testutil::require_privilege("root: mounts in a private mount namespace");
        procroot_testutil::in_private_mount_ns(|| {
            let dir = tempfile::tempdir().unwrap();
            let (f, g, other) = (
                dir.path().join("f"),
                dir.path().join("g"),
                dir.path().join("other"),
            );
            for file in [&f, &g, &other] {
                std::fs::write(file, "X").unwrap();
            }
            let hook_g = g.clone();
            let err = fallback_mask_failing(dir.path(), Box::new(move || bind(&other, &hook_g)));
            assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
            let ours = std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .rfind(|l| l.split(' ').nth(4) == f.to_str())
                .map(|l| l.split(' ').next().unwrap().to_owned())
                .expect("the mount on f is left");
            let text = err.to_string();
            assert!(text.contains("left in place"), "{text}");
            assert!(
                text.split(['[', ']', ',', ' ']).any(|word| word == ours),
                "mount id {ours} not named: {text}"
            );
        });
    }
}
