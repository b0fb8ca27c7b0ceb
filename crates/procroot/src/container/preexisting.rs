//! Processes that already hold a handle at or below a path `harden` covered.
//!
//! A mount covers a dentry for lookups that *reach* it. A process whose working directory, root
//! or open file is already at or below that dentry never crosses the new mount: it keeps writing
//! through the old, writable mount and reading the unmasked file. runc has the same gap; the
//! fix is to harden before any process runs in the root, and this scan is the check that the
//! caller did.
//!
//! Handles are compared by identity, never by the path the kernel prints (`d_path` is text,
//! relative to the reader's root, and prints `/` for a dentry out of its bind mount): each
//! handle is opened through the hardened procfs, and it, then each directory above it (`..`,
//! which crosses mount boundaries upwards as a lookup does), is compared by (mount id, device,
//! inode) with the files the mounts went on.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType as RawFileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Covered, Preexisting, Report};
use crate::error::Error;
use crate::procfs::{ProcBase, Procfs};
use crate::root::Root;
use crate::sys;

/// More `..` steps than any real tree is deep: the walk stops at the top of the mount tree long
/// before, and this bounds it whatever happens.
const MAX_DEPTH: usize = 4096;

/// Looks at every process the hardened procfs shows (but this one) and records in `report` each
/// handle at or below a `covered` file. A failure to list the processes is a refusal (of the
/// root, `/`), since nothing could be checked.
pub(super) fn scan(root: &Root, covered: &[Covered], report: &mut Report) {
    if covered.is_empty() {
        return;
    }
    let fail = |e: Error| {
        e.context("look for processes already in the root", Path::new("/"))
            .in_root(root.display_name())
    };
    let procfs = match Procfs::cached() {
        Ok(procfs) => procfs,
        Err(e) => return report.refused.push(("/".into(), fail(e))),
    };
    let entries = match procfs.read_dir(ProcBase::Root, "") {
        Ok(entries) => entries,
        Err(e) => return report.refused.push(("/".into(), fail(e))),
    };
    let me = std::process::id();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let Some(pid) = std::str::from_utf8(entry.file_name().as_bytes())
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        scan_process(&procfs, pid, covered, report);
    }
}

/// The checks of one process. A process that exits meanwhile, or a handle that goes away, is
/// simply not reported.
fn scan_process(procfs: &Procfs, pid: u32, covered: &[Covered], report: &mut Report) {
    let base = ProcBase::Pid(pid);
    let mut handles = vec![
        ("cwd".to_owned(), "cwd".to_owned()),
        ("root".to_owned(), "root".to_owned()),
    ];
    if let Ok(fds) = procfs.read_dir(base, "fd") {
        for entry in fds.flatten() {
            let name = String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned();
            handles.push((format!("fd {name}"), format!("fd/{name}")));
        }
    }
    for (label, link) in handles {
        let Ok(file) = procfs.open_follow(base, &link, OFlags::PATH) else {
            continue;
        };
        let fd = OwnedFd::from(file);
        if let Some(hit) = covering(procfs, base, &link, fd, covered) {
            report.preexisting.push(Preexisting {
                pid,
                handle: label,
                path: hit.path.clone(),
            });
        }
    }
}

fn identity(fd: impl AsFd) -> Option<(sys::MountId, u64, u64)> {
    let info = sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH).ok()?;
    Some((info.mount_id, info.dev, info.ino))
}

fn matching(id: (sys::MountId, u64, u64), covered: &[Covered]) -> Option<&Covered> {
    covered.iter().find(|c| (c.mount_id, c.dev, c.ino) == id)
}

/// The covered file `fd` is, or is below. A directory is walked up with `..`. For anything else
/// the parent directory is found from the path the kernel prints for the link, and used only
/// once the file under it by that name is verified to be `fd`'s very file (mount id, device,
/// inode); where it cannot be, the file itself is the only thing compared.
fn covering<'c>(
    procfs: &Procfs,
    base: ProcBase<'_>,
    link: &str,
    fd: OwnedFd,
    covered: &'c [Covered],
) -> Option<&'c Covered> {
    let id = identity(&fd)?;
    if let Some(hit) = matching(id, covered) {
        return Some(hit);
    }
    let st = rustix::fs::fstat(&fd).ok()?;
    let dir = if RawFileType::from_raw_mode(st.st_mode) == RawFileType::Directory {
        fd
    } else {
        let text = procfs.readlink(base, link).ok()?;
        let (parent, name) = (text.parent()?, text.file_name()?);
        if !text.is_absolute() {
            // `socket:[123]`, `pipe:[4]`, `anon_inode:...`: on no directory.
            return None;
        }
        let parent = rustix::fs::open(
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let named = sys::mount_info_at(&parent, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        if (named.mount_id, named.dev, named.ino) != id {
            return None;
        }
        parent
    };
    walk_up(dir, covered)
}

/// Compares `dir` and each directory above it with the covered files, until the top of its
/// mount tree (where `..` stays put).
fn walk_up(mut dir: OwnedFd, covered: &[Covered]) -> Option<&Covered> {
    let mut id = identity(&dir)?;
    for _ in 0..MAX_DEPTH {
        if let Some(hit) = matching(id, covered) {
            return Some(hit);
        }
        let up = match rustix::fs::openat(
            &dir,
            "..",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(up) => up,
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        };
        let up_id = identity(&up)?;
        if up_id == id {
            return None;
        }
        (dir, id) = (up, up_id);
    }
    None
}
