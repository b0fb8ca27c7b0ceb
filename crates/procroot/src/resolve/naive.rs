//! The fault-injection build's resolver (`--cfg procroot_fault_injection`, tests only): a
//! naive path-joining walk, the kind of resolver the first wall exists to replace.
//!
//! It answers every lookup of such a build (see `FirstResolver::Naive`), so that a test can
//! show the second wall (Landlock, and the identity check of metadata changes) holding when
//! the first one fails. Its faults are the classic ones: `..` opens the directory's real
//! parent, which climbs out of the root, and an absolute symlink restarts at the *host's* `/`
//! (both only under the in-root policies; [`Policy::Beneath`] still refuses them with `EXDEV`,
//! as before). It knows nothing of magic links, `MS_NOSYMFOLLOW`, `fs.protected_symlinks` or
//! `NO_XDEV`. The production walker (`emulated.rs`) has no test hooks: this file is the only
//! broken resolver, and it is not compiled into any other build.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::options::{Policy, ResolveFlags, ResolveOptions, Trailing};
use super::path::next_component;
use super::Resolved;
use crate::error::{Error, Result};
use crate::sys::MAXSYMLINKS;

/// Resolves `path` under `root` the naive way (see the module documentation). `oflags` are the
/// flags of the final open, without `O_NOFOLLOW` (`trailing` says it); `path` is validated.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> Result<Resolved> {
    walk(root, path, opts, trailing, oflags | OFlags::CLOEXEC).map_err(Error::from_errno)
}

fn walk(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> std::result::Result<Resolved, Errno> {
    let beneath = opts.policy == Policy::Beneath;
    if beneath && path.first() == Some(&b'/') {
        return Err(Errno::XDEV);
    }
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // The current directory (`None`: the root) and how many names deep it is, for `Beneath`.
    let mut dir: Option<OwnedFd> = None;
    let mut depth = 0usize;
    let mut names: Vec<u8> = Vec::new();
    let mut buf: Vec<u8> = path.to_vec();
    let mut pos = 0;
    let mut links = 0u32;
    let finish = |dir: &Option<OwnedFd>, names: Vec<u8>, last: Option<Vec<u8>>| {
        let fd = rustix::fs::openat(at(root, dir), ".", oflags, Mode::empty())?;
        Ok(emulated_answer(fd, names, last))
    };
    loop {
        let Some(c) = next_component(&buf, pos) else {
            return finish(&dir, names, None);
        };
        pos = c.end;
        if c.name == b"." {
            if c.is_last {
                return finish(&dir, names, None);
            }
            continue;
        }
        if c.name == b".." {
            if beneath {
                // Beneath keeps its refusal, so that its tests still pass in this build.
                depth = depth.checked_sub(1).ok_or(Errno::XDEV)?;
            }
            // THE FAULT: the directory's real parent, which may be outside the root.
            dir = Some(rustix::fs::openat(
                at(root, &dir),
                "..",
                dir_flags,
                Mode::empty(),
            )?);
            names.extend_from_slice(b"/..");
            if c.is_last {
                return finish(&dir, names, None);
            }
            continue;
        }
        if c.is_last && trailing == Trailing::ParentOnly {
            let fd = rustix::fs::openat(at(root, &dir), ".", dir_flags, Mode::empty())?;
            names.push(b'/');
            names.extend_from_slice(c.name);
            return Ok(emulated_answer(fd, names, Some(c.name.to_vec())));
        }
        let must_be_dir = !c.is_last || c.trailing_slash;
        let follow = must_be_dir || trailing == Trailing::Follow;
        let flags = if must_be_dir {
            dir_flags
        } else {
            oflags | OFlags::NOFOLLOW
        };
        let opened = rustix::fs::openat(at(root, &dir), c.name, flags, Mode::empty());
        let target = match opened {
            Ok(fd)
                if follow
                    && FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode)
                        == FileType::Symlink =>
            {
                // An `O_PATH | O_NOFOLLOW` open of a symlink opens the link itself.
                rustix::fs::readlinkat(&fd, "", Vec::new())?
            }
            Ok(fd) if c.is_last => {
                names.push(b'/');
                names.extend_from_slice(c.name);
                return Ok(emulated_answer(fd, names, None));
            }
            Ok(fd) => {
                dir = Some(fd);
                depth += 1;
                names.push(b'/');
                names.extend_from_slice(c.name);
                continue;
            }
            Err(e @ (Errno::NOTDIR | Errno::LOOP)) if follow => {
                match rustix::fs::readlinkat(at(root, &dir), c.name, Vec::new()) {
                    Ok(target) => target,
                    Err(_) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        if opts.flags.contains(ResolveFlags::NO_SYMLINKS) || links >= MAXSYMLINKS {
            return Err(Errno::LOOP);
        }
        links += 1;
        let target = target.into_bytes();
        if target.first() == Some(&b'/') {
            if beneath {
                return Err(Errno::XDEV);
            }
            // THE FAULT: an absolute symlink restarts at the host's `/`, not at the root.
            dir = Some(rustix::fs::open("/", dir_flags, Mode::empty())?);
            depth = 0;
            names.clear();
        }
        let mut spliced = target;
        spliced.extend_from_slice(&buf[pos..]);
        buf = spliced;
        pos = 0;
    }
}

/// The directory the walk is in: `dir`, or the root when it is `None`.
fn at<'a>(root: BorrowedFd<'a>, dir: &'a Option<OwnedFd>) -> BorrowedFd<'a> {
    dir.as_ref().map_or(root, |fd| fd.as_fd())
}

/// The answer, with the names walked as its path (`/` for the root).
fn emulated_answer(fd: OwnedFd, names: Vec<u8>, last: Option<Vec<u8>>) -> Resolved {
    let path = if names.is_empty() {
        b"/".to_vec()
    } else {
        names
    };
    Resolved::emulated(fd, path, last)
}
