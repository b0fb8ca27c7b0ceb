//! Processes that already hold a handle at or below a path `harden` covered.
//!
//! A mount covers a dentry for lookups that *reach* it. A process whose working directory, root
//! or open file is already at or below that dentry never crosses the new mount: it keeps writing
//! through the old, writable mount and reading the unmasked file. runc has the same gap; the
//! fix is to harden before any process runs in the root, and this scan is the check that the
//! caller did.
//!
//! The path the kernel prints for a handle (`d_path`, the target of `/proc/<pid>/cwd`) is only
//! used to find candidates: a handle whose printed path is at or below a covered path's. Each
//! candidate is then checked by identity: the handle itself, opened through the hardened
//! procfs, is compared (mount id, device, inode) with what that same path leads to *now*. A
//! handle in the hardened view is the same file on the same mount; a handle from before is on
//! the old mount (same file, another mount id), or under a mask (the name now leads to the mask
//! or to nothing). A handle exactly at a covered file, by identity, is reported whatever its
//! printed path.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::{Covered, Preexisting, Report};
use crate::error::Error;
use crate::fs::ReadDir;
use crate::procfs::{ProcBase, Procfs};
use crate::root::Root;
use crate::sys;

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
    // On a detached instance nothing can be mounted anywhere in it: its root fd was verified,
    // so plain `*at` calls below it reach procfs's own files, one syscall each, where the
    // checked `Procfs` lookups make several (this runs for every process and handle).
    // Elsewhere, the checked calls.
    let detached = procfs.acquisition().is_detached();
    let dir = if detached {
        rustix::fs::openat(
            procfs.as_fd(),
            pid.to_string(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(Error::from)
    } else {
        procfs
            .open(base, "", OFlags::PATH | OFlags::DIRECTORY)
            .map(OwnedFd::from)
    };
    let Ok(dir) = dir else { return };
    let mut handles = vec![
        ("cwd".to_owned(), "cwd".to_owned()),
        ("root".to_owned(), "root".to_owned()),
    ];
    let fds = if detached {
        rustix::fs::openat(
            &dir,
            "fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(Error::from)
        .and_then(ReadDir::new)
    } else {
        procfs.read_dir(base, "fd")
    };
    if let Ok(fds) = fds {
        for entry in fds.flatten() {
            let name = String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned();
            handles.push((format!("fd {name}"), format!("fd/{name}")));
        }
    }
    for (label, link) in handles {
        // The printed path only picks candidates (each is then checked by identity).
        let text = if detached {
            rustix::fs::readlinkat(&dir, link.as_str(), Vec::new())
                .ok()
                .map(|t| PathBuf::from(OsString::from_vec(t.into_bytes())))
        } else {
            procfs.readlink(base, &link).ok()
        };
        let Some(text) = text else { continue };
        if let Some(hit) = covering(procfs, base, &link, &text, covered) {
            report.preexisting.push(Preexisting {
                pid,
                handle: label,
                path: hit.path.clone(),
            });
        }
    }
}

fn identity(fd: impl AsFd) -> Option<sys::MountedFileId> {
    let info = sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH).ok()?;
    Some(info.identity())
}

/// Whether `path` is `base` or below it, component by component.
fn at_or_below(path: &Path, base: &Path) -> bool {
    path.starts_with(base)
}

/// The covered path the handle at `link` of `base`, printed as `text`, sits at or below, in the
/// old view.
fn covering<'c>(
    procfs: &Procfs,
    base: ProcBase<'_>,
    link: &str,
    text: &Path,
    covered: &'c [Covered],
) -> Option<&'c Covered> {
    // `socket:[123]`, `pipe:[4]`, `anon_inode:...`: on no directory of the root.
    let candidates = text.is_absolute().then(|| {
        covered
            .iter()
            .filter(|c| at_or_below(text, &c.printed))
            .collect::<Vec<_>>()
    })?;
    if candidates.is_empty() {
        return None;
    }
    let file = procfs.open_follow(base, link, OFlags::PATH).ok()?;
    let id = identity(&file)?;
    if let Some(hit) = covered.iter().find(|c| c.id == id) {
        return Some(hit);
    }
    let now = rustix::fs::open(
        text,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .and_then(identity);
    if now == Some(id) {
        // The name leads to this very file on this very mount: the hardened view.
        return None;
    }
    // The longest covered path is the innermost mount over the handle.
    candidates
        .into_iter()
        .max_by_key(|c| c.printed.as_os_str().len())
}
