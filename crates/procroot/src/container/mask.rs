//! Masked and read-only paths.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType as RawFileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use super::attach::{mount_onto, Method, Source};
use super::Report;
use crate::error::{Error, ErrorKind, Result};
use crate::root::{Handle, Root};
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

/// The file a path resolved to: its mount and inode (two different names of one file, such as
/// through a symlink inside the root, are one target).
fn identity(handle: &Handle) -> Result<(sys::MountId, u64, u64)> {
    let info = sys::mount_info_at(handle, "", AtFlags::EMPTY_PATH)?;
    Ok((info.mount_id, info.dev, info.ino))
}

/// Resolves every path (following symlinks inside the root, see the [module
/// documentation](super)), skipping missing ones and duplicates, and refusing what cannot be
/// resolved safely.
fn resolve_targets<P: AsRef<Path>>(
    root: &Root,
    paths: &[P],
    report: &mut Report,
) -> Vec<(PathBuf, Handle)> {
    let mut seen_names = HashSet::new();
    let mut seen_files = HashSet::new();
    let mut targets = Vec::new();
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
            // A missing path, or one under a file (`/proc/kcore/x`), names nothing to cover.
            Err(e) if matches!(e.errno(), Errno::NOENT | Errno::NOTDIR) => {
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
        match identity(&handle) {
            Ok(id) if !seen_files.insert(id) => {
                report.skipped.push((
                    path.to_path_buf(),
                    "duplicate (the same file as an earlier path)".to_owned(),
                ));
            }
            Ok(_) => targets.push((path.to_path_buf(), handle)),
            Err(e) => report.refused.push((path.to_path_buf(), e)),
        }
    }
    targets
}

fn record(
    report: &mut Report,
    path: PathBuf,
    method: Method,
    done: fn(&mut Report) -> &mut Vec<PathBuf>,
) {
    if method == Method::ProcFdPath {
        report.fallback.push(path.clone());
    }
    done(report).push(path);
}

fn annotate(root: &Root, op: &'static str, path: &Path, e: Error) -> Error {
    e.context(op, path).in_root(root.display_name())
}

/// Masks `paths` inside `root`: a directory is covered with an empty, read-only, tiny tmpfs
/// (`size=4k,nr_inodes=1`, `nosuid,nodev,noexec`); anything else with the host's `/dev/null`,
/// verified to be the character device 1:3 (never the root's own `/dev/null`, CVE-2025-31133),
/// cloned read-only with `nosuid,noexec`.
///
/// Each path is resolved inside the root (symlinks, at the target or an ancestor, are followed
/// *inside* it) to an `O_PATH` fd, and the mask is moved onto that fd: see the [module
/// documentation](super). A missing path (`ENOENT`, or `ENOTDIR` under a file) is skipped and
/// reported; a path given twice, or naming the same file as an earlier one, is applied once.
///
/// Errors: only when the host's `/dev/null` cannot be used (when a file is to be masked);
/// every per-path failure is in [`Report::refused`].
pub fn mask_paths<P: AsRef<Path>>(root: &Root, paths: &[P]) -> Result<Report> {
    let mut report = Report::default();
    let targets = resolve_targets(root, paths, &mut report);
    let mut dev_null = None;
    for (path, handle) in targets {
        let is_dir = match rustix::fs::fstat(&handle) {
            Ok(st) => RawFileType::from_raw_mode(st.st_mode) == RawFileType::Directory,
            Err(e) => {
                let e = annotate(root, "mask", &path, e.into());
                report.refused.push((path, e));
                continue;
            }
        };
        let tmpfs_options = [
            FsOption::String("size", "4k"),
            FsOption::String("nr_inodes", "1"),
            FsOption::String("mode", "0555"),
        ];
        let source = if is_dir {
            Source::NewFs {
                fstype: "tmpfs",
                options: &tmpfs_options,
                attrs: MountAttrFlags::MOUNT_ATTR_RDONLY
                    | MountAttrFlags::MOUNT_ATTR_NOSUID
                    | MountAttrFlags::MOUNT_ATTR_NODEV
                    | MountAttrFlags::MOUNT_ATTR_NOEXEC,
                legacy_data: "size=4k,nr_inodes=1,mode=0555",
            }
        } else {
            // The host's null device being wrong stops everything: no file mask can be made
            // safely.
            if dev_null.is_none() {
                dev_null = Some(host_dev_null()?);
            }
            Source::Bind {
                from: dev_null.as_ref().expect("just set").as_fd(),
                recursive: false,
                readonly: true,
            }
        };
        match mount_onto(root, &path, &source, handle.as_fd()) {
            Ok(method) => record(&mut report, path, method, |r| &mut r.masked),
            Err(e) => {
                let e = annotate(root, "mask", &path, e);
                report.refused.push((path, e));
            }
        }
    }
    Ok(report)
}

/// Makes `paths` inside `root` read-only: a recursive clone of what is there
/// (`open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`), made read-only recursively
/// (`mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE)`, which leaves `nosuid`, `nodev` and
/// `noexec` as they were), and moved onto the path's fd. Paths are resolved, skipped and
/// deduplicated as by [`mask_paths`].
pub fn make_readonly<P: AsRef<Path>>(root: &Root, paths: &[P]) -> Result<Report> {
    let mut report = Report::default();
    for (path, handle) in resolve_targets(root, paths, &mut report) {
        let source = Source::Bind {
            from: handle.as_fd(),
            recursive: true,
            readonly: true,
        };
        match mount_onto(root, &path, &source, handle.as_fd()) {
            Ok(method) => record(&mut report, path, method, |r| &mut r.readonly),
            Err(e) => {
                let e = annotate(root, "make read-only", &path, e);
                report.refused.push((path, e));
            }
        }
    }
    Ok(report)
}
