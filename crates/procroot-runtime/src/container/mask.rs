//! Masked and read-only paths.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType as RawFileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use super::attach::{mount_onto, Method, Source};
use super::{Covered, Report};
use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{ProcBase, Procfs};
use crate::root::Root;
use crate::sys;
use crate::sys::mount::FsOption;

/// The null device's numbers (`c 1 3`).
const NULL_MAJOR: u32 = 1;
const NULL_MINOR: u32 = 3;

/// Opens the **host's** `/dev/null` (`O_PATH | O_NOFOLLOW`, in the caller's own root, never the
/// container's) and checks that it is the character device 1:3.
///
/// The container's own `/dev/null` must never be the mask source: in CVE-2025-31133 it was a
/// symlink to `/proc/sys/kernel/core_pattern`, so "masking" bind-mounted that file read-write
/// over the masked paths. A symlink, a regular file or another device here is refused.
pub(super) fn host_dev_null() -> Result<OwnedFd> {
    let path = Path::new("/dev/null");
    let fail = |e: Error| e.context("open the host's null device", path);
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(e.into()))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| fail(e.into()))?;
    let rdev = st.st_rdev;
    if RawFileType::from_raw_mode(st.st_mode) != RawFileType::CharacterDevice
        || rustix::fs::major(rdev) != NULL_MAJOR
        || rustix::fs::minor(rdev) != NULL_MINOR
    {
        return Err(fail(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            "/dev/null is not the character device 1:3",
        )));
    }
    Ok(fd)
}

/// A lexical key for "the same path twice": the components, without empty ones and `.`.
fn lexical_key(path: &Path) -> Vec<u8> {
    let mut key = Vec::new();
    for c in path.as_os_str().as_bytes().split(|&b| b == b'/') {
        if c.is_empty() || c == b"." {
            continue;
        }
        key.push(b'/');
        key.extend_from_slice(c);
    }
    key
}

/// `path` without its trailing `/` and `/.` (`/proc/keys/.` → `/proc/keys`), or `None` if it has
/// none.
fn without_trailing_dirs(path: &Path) -> Option<&Path> {
    let mut bytes = path.as_os_str().as_bytes();
    loop {
        let trimmed = bytes
            .strip_suffix(b"/")
            .or_else(|| bytes.strip_suffix(b"/."))
            .filter(|rest| !rest.is_empty());
        match trimmed {
            Some(rest) => bytes = rest,
            None => break,
        }
    }
    (bytes.len() != path.as_os_str().len()).then(|| Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

/// The mounts one [`apply`] call attached, for its per-dentry dedup. Their ids are read only when
/// a later path lands on the root of a mount (rare: `statx` of every new mount would be one more
/// syscall per path): until then up to [`Made::PENDING`] mount fds are kept, and the oldest are
/// turned into ids when there are more, so the fds held stay bounded whatever the number of
/// paths.
#[derive(Default)]
struct Made {
    ids: HashSet<sys::MountId>,
    pending: Vec<OwnedFd>,
}

impl Made {
    const PENDING: usize = 16;

    fn add(&mut self, mount: OwnedFd) {
        if self.pending.len() >= Self::PENDING {
            self.settle();
        }
        self.pending.push(mount);
    }

    /// The id a mount gets when it is made stays with it when it is moved. A mount whose id
    /// cannot be read is forgotten: a later path reaching it is then covered again, never
    /// skipped wrongly.
    fn settle(&mut self) {
        for mount in self.pending.drain(..) {
            if let Ok(id) = sys::mount_id(&mount) {
                self.ids.insert(id);
            }
        }
    }

    fn contains(&mut self, id: sys::MountId) -> bool {
        self.settle();
        self.ids.contains(&id)
    }
}

/// What [`apply`] makes of each path.
pub(super) enum Action<'a> {
    /// A mask: the empty tmpfs on a directory, `dev_null` (verified) on anything else.
    Mask { dev_null: BorrowedFd<'a> },
    /// A recursive read-only clone of the path itself.
    ReadOnly,
}

/// Resolves, checks and mounts `paths` **one at a time** (no fd is held for a path once it is
/// done, so any number of paths works under a low `RLIMIT_NOFILE`), recording in `report` what
/// happened to each and in `covered` (if asked) the file each mount went on.
///
/// A path is skipped as a duplicate only if it is lexically equal to an earlier one, or if it
/// now resolves to the root of a mount this call attached: then it reached the very dentry an
/// earlier path covered (through a symlink, say), and the mount already covers it. Two hard
/// links of one file are two dentries, each covered on its own (a mount covers a dentry, not an
/// inode).
pub(super) fn apply<P: AsRef<Path>>(
    root: &Root,
    paths: &[P],
    action: &Action<'_>,
    report: &mut Report,
    mut covered: Option<&mut Vec<Covered>>,
) {
    let mut seen_names = HashSet::new();
    let mut made = Made::default();
    for path in paths {
        let path = path.as_ref();
        if !seen_names.insert(lexical_key(path)) {
            report
                .skipped
                .push((path.to_path_buf(), "duplicate".to_owned()));
            continue;
        }
        let handle = match root.resolve(path) {
            Ok(handle) => handle,
            Err(e) if e.errno() == Errno::NOTDIR => {
                match not_a_directory(root, path) {
                    Some(refusal) => report.refused.push((path.to_path_buf(), refusal)),
                    // A path under a file (`/proc/kcore/x`) names nothing to cover.
                    None => report.skipped.push((
                        path.to_path_buf(),
                        format!("does not exist ({})", e.errno_name()),
                    )),
                }
                continue;
            }
            Err(e) if e.errno() == Errno::NOENT => {
                report.skipped.push((
                    path.to_path_buf(),
                    format!("does not exist ({})", e.errno_name()),
                ));
                continue;
            }
            Err(e) => {
                report.refused.push((path.to_path_buf(), e));
                continue;
            }
        };
        let op = match action {
            Action::Mask { .. } => "mask",
            Action::ReadOnly => "make read-only",
        };
        let info = match sys::mount_info_at(&handle, "", AtFlags::EMPTY_PATH) {
            Ok(info) => info,
            Err(e) => {
                let e = annotate(root, op, path, e.into());
                report.refused.push((path.to_path_buf(), e));
                continue;
            }
        };
        if info.mount_root == Some(true) && made.contains(info.mount_id) {
            report.skipped.push((
                path.to_path_buf(),
                "duplicate (the same file as an earlier path)".to_owned(),
            ));
            continue;
        }
        let tmpfs_options = [
            FsOption::String("size", "4k"),
            FsOption::String("nr_inodes", "1"),
            FsOption::String("mode", "0555"),
        ];
        let source = match *action {
            Action::ReadOnly => Source::Bind {
                from: handle.as_fd(),
                recursive: true,
                attrs: MountAttrFlags::MOUNT_ATTR_RDONLY,
            },
            Action::Mask { dev_null } => match RawFileType::from_raw_mode(info.file_type) {
                RawFileType::Directory => Source::NewFs {
                    fstype: "tmpfs",
                    options: &tmpfs_options,
                    attrs: MountAttrFlags::MOUNT_ATTR_RDONLY
                        | MountAttrFlags::MOUNT_ATTR_NOSUID
                        | MountAttrFlags::MOUNT_ATTR_NODEV
                        | MountAttrFlags::MOUNT_ATTR_NOEXEC,
                    legacy_data: "size=4k,nr_inodes=1,mode=0555",
                },
                // Not `nodev`: the mask *is* a device node, and opening it on a `nodev` mount
                // fails with `EACCES`, where a masked file must read as empty (as runc's do).
                _ => Source::Bind {
                    from: dev_null,
                    recursive: false,
                    attrs: MountAttrFlags::MOUNT_ATTR_RDONLY
                        | MountAttrFlags::MOUNT_ATTR_NOSUID
                        | MountAttrFlags::MOUNT_ATTR_NOEXEC,
                },
            },
        };
        // Where the kernel prints the target, read before it is covered: only `harden`'s scan
        // for earlier handles needs it.
        let printed = match covered {
            Some(_) => match Procfs::cached().and_then(|procfs| {
                procfs.readlink(
                    ProcBase::ThreadSelf,
                    format!("fd/{}", handle.as_fd().as_raw_fd()),
                )
            }) {
                Ok(printed) => Some(printed),
                Err(e) => {
                    let e = annotate(root, op, path, e);
                    report.refused.push((path.to_path_buf(), e));
                    continue;
                }
            },
            None => None,
        };
        match mount_onto(root, path, &source, handle.as_fd()) {
            Ok(attached) => {
                made.add(attached.mount);
                if let (Some(covered), Some(printed)) = (covered.as_deref_mut(), printed) {
                    covered.push(Covered {
                        path: path.to_path_buf(),
                        printed,
                        id: info.identity(),
                    });
                }
                if attached.method == Method::ProcFdPath {
                    report.fallback.push(path.to_path_buf());
                }
                match action {
                    Action::Mask { .. } => report.masked.push(path.to_path_buf()),
                    Action::ReadOnly => report.readonly.push(path.to_path_buf()),
                }
            }
            Err(e) => {
                let e = annotate(root, op, path, e);
                report.refused.push((path.to_path_buf(), e));
            }
        }
    }
}

/// For a path that failed with `ENOTDIR`: if it ends in `/` or `/.` and names a non-directory
/// without them (`/proc/timer_list/`), the refusal, as runc refuses it: the caller asked for a
/// directory that is a file, and skipping it silently would leave the file unmasked. `None`
/// when the path names nothing (`/proc/kcore/x`: a file on the way).
fn not_a_directory(root: &Root, path: &Path) -> Option<Error> {
    let stripped = without_trailing_dirs(path)?;
    let handle = root.resolve(stripped).ok()?;
    let kind = rustix::fs::fstat(&handle)
        .map(|st| RawFileType::from_raw_mode(st.st_mode))
        .ok()?;
    (kind != RawFileType::Directory).then(|| {
        annotate(
            root,
            "resolve",
            path,
            Error::invalid_input(
                Errno::NOTDIR,
                "names a file that is not a directory: a trailing / or /. asks for a \
                 directory; name the file without it",
            ),
        )
    })
}

fn annotate(root: &Root, op: &'static str, path: &Path, e: Error) -> Error {
    e.context(op, path).in_root(root.display_name())
}

/// Masks `paths` inside `root`: a directory is covered with an empty, read-only, tiny tmpfs
/// (`size=4k,nr_inodes=1`, `nosuid,nodev,noexec`); anything else with the host's `/dev/null`,
/// verified to be the character device 1:3 (never the root's own `/dev/null`, CVE-2025-31133),
/// cloned read-only with `nosuid,noexec`. Not `nodev`: the mask is a device node, and on a
/// `nodev` mount opening it fails (`EACCES`) where a masked file must read as empty, as runc's
/// masks do. Every mask is private (in no peer group) when it is attached.
///
/// Each path is resolved inside the root (symlinks, at the target or an ancestor, are followed
/// *inside* it) to an `O_PATH` fd, and the mask is moved onto that fd: see the [module
/// documentation](super). Paths are done one at a time, in order: no fd is held for a path
/// once it is done, so thousands of paths work under a low `RLIMIT_NOFILE`.
///
/// - A missing path (`ENOENT`, or `ENOTDIR` under a file: `/proc/kcore/x`) is skipped and
///   reported.
/// - A path with a trailing `/` or `/.` that names a non-directory (`/proc/timer_list/`) is
///   refused (`InvalidInput`, `ENOTDIR`), as runc refuses it.
/// - A path is applied once per dentry: skipped if lexically equal to an earlier one, or if it
///   reaches the very file an earlier path covered (a symlink to it). Hard links are distinct
///   names (a mount covers a name, not an inode): each is masked.
///
/// Errors: only when the host's `/dev/null` cannot be used; it is checked before any mount is
/// made (whenever `paths` is not empty), so an error means nothing was mounted. Every per-path
/// failure is in [`Report::refused`].
pub fn mask_paths<P: AsRef<Path>>(root: &Root, paths: &[P]) -> Result<Report> {
    let mut report = Report::default();
    if paths.is_empty() {
        return Ok(report);
    }
    let dev_null = host_dev_null()?;
    let action = Action::Mask {
        dev_null: dev_null.as_fd(),
    };
    apply(root, paths, &action, &mut report, None);
    Ok(report)
}

/// Makes `paths` inside `root` read-only: a recursive clone of what is there
/// (`open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`), made private and read-only recursively
/// (`mount_setattr(MOUNT_ATTR_RDONLY, MS_PRIVATE, AT_RECURSIVE)`, which leaves `nosuid`, `nodev`,
/// `noexec` and the atime flags as they were), and moved onto the path's fd. Paths are
/// resolved, skipped, refused and deduplicated as by [`mask_paths`].
///
/// Without the new mount API, the recursive bind made by `mount(2)` is reached from the
/// target's held parent directory and identified by its mount id (the one new mount on the
/// target's mount, in mountinfo read through the hardened procfs; see the [module
/// documentation](super)), made private, and **every mount of it** is remounted read-only,
/// keeping its own `nosuid`, `nodev`, `noexec`, `nosymfollow` and atime flags; if it cannot be
/// identified, or any of its mounts cannot be made read-only (a mount hidden under another, one
/// replaced meanwhile), the path is refused and the new mounts are detached again.
pub fn make_readonly<P: AsRef<Path>>(root: &Root, paths: &[P]) -> Result<Report> {
    let mut report = Report::default();
    apply(root, paths, &Action::ReadOnly, &mut report, None);
    Ok(report)
}
