//! Removing inside a [`Root`]: [`Root::remove_file`], [`Root::remove_dir`] and
//! [`Root::remove_all`].
//!
//! `remove_all` is the dangerous one: a recursive delete run as root on a tree that an attacker
//! can rearrange while it runs. The classic failure is the `rm -rf` race: the deleter is inside
//! `a/b`, the attacker moves `b` somewhere else (or swaps it for a symlink), and the deleter's
//! next `..` or next path-based open lands outside the tree and deletes there. This walker:
//!
//! - works only with fds and single-component names, opening every child with
//!   `O_NOFOLLOW | O_DIRECTORY` (a symlink swapped in is unlinked, never followed);
//! - never opens `..`: going back up uses the directory fd it held for the parent, or, beyond
//!   its bounded window of held fds, re-walks the recorded names down from the resolved parent
//!   of the target with `O_NOFOLLOW`, checking every step's `(st_dev, st_ino)` against what it
//!   recorded on the way down; a mismatch means the tree was moved and stops the removal;
//! - compares mount ids and does not enter another mount unless asked to;
//! - is iterative, so depth costs heap, not stack.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

use super::create::with_trailing_slash;
use super::Root;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, MountId};

/// How [`Root::remove_all_with`] behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct RemoveAllOptions {
    /// Descend into directories that are mount points (other mounts) and delete their contents
    /// too. Off by default: a bind mount of a host directory inside a container rootfs is the
    /// usual way a recursive delete destroys host data. Even when on, a mount point itself
    /// cannot be removed (`EBUSY`): it is emptied and the removal stops there.
    pub cross_mounts: bool,
}

/// How many directory fds [`Root::remove_all`] keeps open at once. Deeper trees are handled by
/// re-walking names from the target's parent (see the module docs), so fd use is bounded
/// whatever the depth.
const FD_WINDOW: usize = 64;
/// How many extra `O_PATH` fds ("anchors", every `step` levels) [`Root::remove_all`] keeps on
/// the way down, so that refilling the window re-walks at most `step` names instead of the whole
/// depth. When there would be more, every other one is dropped and `step` doubles: fds stay
/// bounded and the re-walk cost grows only with depth / `MAX_ANCHORS`.
const MAX_ANCHORS: usize = 32;
/// How often `remove_all` rescans directories that a concurrent writer keeps refilling
/// (`ENOTEMPTY` on the final `rmdir`) before it gives up.
const REFILL_BUDGET: usize = 1024;

impl Root {
    /// Removes the file (or symlink, socket, device node ...) at `path` with `unlinkat` in its
    /// resolved parent. A trailing symlink is removed, not followed. A directory gives `EISDIR`,
    /// as `unlink(2)`.
    pub fn remove_file(&self, path: impl AsRef<Path>) -> Result<()> {
        self.remove_one("remove_file", path.as_ref(), AtFlags::empty())
    }

    /// Removes the empty directory at `path` (`unlinkat(AT_REMOVEDIR)` in its resolved parent).
    /// A symlink, even to a directory, gives `ENOTDIR`; it is not followed.
    pub fn remove_dir(&self, path: impl AsRef<Path>) -> Result<()> {
        self.remove_one("remove_dir", path.as_ref(), AtFlags::REMOVEDIR)
    }

    fn remove_one(&self, op: &'static str, path: &Path, flags: AtFlags) -> Result<()> {
        let (parent, name) = self.parent_and_name(op, path)?;
        let name = with_trailing_slash(path, name);
        rustix::fs::unlinkat(&parent, &name, flags)
            .map_err(|e| self.annotate_op(Error::from_errno(e), op, path))
    }

    /// Removes `path` and, if it is a directory, everything in it, without crossing into other
    /// mounts. Equivalent to [`Root::remove_all_with`] with default options.
    ///
    /// A missing `path` is an error (`ENOENT`), as with [`std::fs::remove_dir_all`]: a caller
    /// who wants "gone, whether or not it was there" can match on it, while a typo does not
    /// silently succeed.
    pub fn remove_all(&self, path: impl AsRef<Path>) -> Result<()> {
        self.remove_all_with(path, RemoveAllOptions::default())
    }

    /// Removes `path` and everything below it.
    ///
    /// - A symlink (at `path` or anywhere below) is removed, never followed.
    /// - It never deletes anything outside the root, even while an attacker inside the root
    ///   swaps directories for symlinks or moves them around: see the module docs.
    /// - A directory on another mount (compared by mount id) is `EXDEV` unless
    ///   [`RemoveAllOptions::cross_mounts`], and nothing on that mount is touched. The removal
    ///   stops at the first such directory; what was removed before stays removed.
    /// - Any depth works, without recursion, with at most a fixed number of fds open.
    /// - A concurrent writer that keeps refilling directories eventually gets `ENOTEMPTY`; a
    ///   directory that moves while we are below it (its recorded identity no longer matches its
    ///   name) stops the removal with `EXDEV`.
    pub fn remove_all_with(&self, path: impl AsRef<Path>, opts: RemoveAllOptions) -> Result<()> {
        let path = path.as_ref();
        const OP: &str = "remove_all";
        let (parent, name) = self.parent_and_name(OP, path)?;
        let fail = |e: Error| self.annotate_op(e, OP, path);
        // The type can change under us (a directory swapped for a symlink and back): unlink a
        // non-directory, and look again if it has become a directory (EISDIR) meanwhile.
        let mut tries = 0;
        loop {
            let st = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fail(e.into()))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                break;
            }
            // A trailing slash on a non-directory is ENOTDIR, as for rmdir(2).
            let slashed = with_trailing_slash(path, name.clone());
            match rustix::fs::unlinkat(&parent, &slashed, AtFlags::empty()) {
                Err(Errno::ISDIR) if tries < 8 => tries += 1,
                other => return other.map_err(|e| fail(e.into())),
            }
        }
        let mount = sys::mount_id(&parent).map_err(|e| fail(e.into()))?;
        Walker {
            base: parent.as_fd(),
            mount,
            opts,
            frames: Vec::new(),
            open_from: 0,
            refills: 0,
            anchors: Vec::new(),
            step: FD_WINDOW,
        }
        .run(&name)
        .map_err(fail)
    }
}

/// One directory on the way down.
struct Frame {
    /// Its name in the directory above (in the base for the first frame).
    name: OsString,
    /// `(st_dev, st_ino)` when we opened it, to recognise it when re-walking.
    id: (u64, u64),
    /// Its open directory stream; `None` when it fell out of the window of open fds.
    dir: Option<Dir>,
}

/// The state of one `remove_all`.
struct Walker<'a> {
    /// The resolved parent of the target: the fixed point every re-walk starts from.
    base: BorrowedFd<'a>,
    /// The mount the target's parent is on; nothing on another mount is entered by default.
    mount: MountId,
    opts: RemoveAllOptions,
    frames: Vec<Frame>,
    /// `frames[open_from..]` have open streams, `frames[..open_from]` do not.
    open_from: usize,
    /// Rescans spent on directories that were not empty at their `rmdir`.
    refills: usize,
    /// `(frame index, fd of that frame)` every `step` levels, shallowest first: where a re-walk
    /// starts instead of the base.
    anchors: Vec<(usize, OwnedFd)>,
    /// The spacing of `anchors`.
    step: usize,
}

/// What opening a child for descent found.
enum Child {
    /// A directory, opened for reading.
    Dir(Frame),
    /// Not a directory (any more): unlink it instead.
    NotDir,
    /// Gone.
    Gone,
}

impl Walker<'_> {
    fn run(mut self, name: &OsStr) -> Result<()> {
        // The target was a directory a moment ago; whatever it is now is removed.
        let base = self.base;
        if let Err(Errno::NOENT) = rustix::fs::statat(base, name, AtFlags::SYMLINK_NOFOLLOW) {
            return Err(Errno::NOENT.into());
        }
        self.remove_entry(base, name)?;
        while let Some(top) = self.frames.last_mut() {
            // The top frame is always open (push opens it, finish_top reopens the window).
            let entry = match top.dir.as_mut().ok_or(Errno::BADF)?.read() {
                Some(entry) => entry?,
                None => {
                    self.finish_top()?;
                    continue;
                }
            };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let name = OsStr::from_bytes(name.to_bytes()).to_os_string();
            let dirfd = self.top_fd()?;
            let is_dir = match entry.file_type() {
                rustix::fs::FileType::Directory => true,
                rustix::fs::FileType::Unknown => {
                    match rustix::fs::statat(dirfd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => {
                            rustix::fs::FileType::from_raw_mode(st.st_mode)
                                == rustix::fs::FileType::Directory
                        }
                        Err(Errno::NOENT) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => false,
            };
            if !is_dir {
                match rustix::fs::unlinkat(dirfd, &name, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => continue,
                    // It became a directory since the listing: descend below.
                    Err(Errno::ISDIR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.descend(&name)?;
        }
        Ok(())
    }

    /// Opens `name` in the top directory and pushes it, or unlinks it if it is not a
    /// directory (a symlink swapped in for a directory lands here and is only unlinked).
    fn descend(&mut self, name: &OsStr) -> Result<()> {
        let dirfd = self.top_fd()?.try_clone_to_owned()?;
        self.remove_entry(dirfd.as_fd(), name)
    }

    /// Removes the entry `name` of `dirfd` whatever it is now: pushes it if it is a directory,
    /// unlinks it otherwise. An entry that flips between directory and symlink (an attacker
    /// exchanging them) is looked at again a few times.
    fn remove_entry(&mut self, dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
        let mut tries = 0;
        loop {
            match self.open_child(dirfd, name)? {
                Child::Dir(frame) => return self.push(frame),
                Child::NotDir => match unlink_file(dirfd, name) {
                    Err(e) if e.errno() == Errno::ISDIR && tries < 8 => tries += 1,
                    other => return other,
                },
                Child::Gone => return Ok(()),
            }
        }
    }

    /// The fd of the innermost frame, which is always open while it is being read.
    fn top_fd(&self) -> Result<BorrowedFd<'_>> {
        let dir = self.frames.last().and_then(|f| f.dir.as_ref());
        Ok(dir.ok_or(Errno::BADF)?.fd()?)
    }

    /// The top directory is read to the end: remove it from its parent, or rescan it if
    /// someone filled it meanwhile.
    fn finish_top(&mut self) -> Result<()> {
        let Some(frame) = self.frames.pop() else {
            return Ok(());
        };
        if self.open_from > self.frames.len() {
            self.open_from = self.frames.len();
        }
        let len = self.frames.len();
        while self.anchors.last().is_some_and(|&(i, _)| i >= len) {
            self.anchors.pop();
        }
        // The parent must be open to rmdir in it: reopen the window if it fell out of it.
        if !self.frames.is_empty() && self.open_from == self.frames.len() {
            self.reopen_window()?;
        }
        let parent = match self.frames.last() {
            Some(f) => f.dir.as_ref().ok_or(Errno::BADF)?.fd()?,
            None => self.base,
        };
        match rustix::fs::unlinkat(parent, &frame.name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(()),
            // Removed by someone else (only a missing top-level target is an error, and that
            // was checked before the walk started).
            Err(Errno::NOENT) => Ok(()),
            // Refilled, or swapped for another directory: look at that name again. The rescan
            // opens it from the verified parent with O_NOFOLLOW like any other child.
            Err(Errno::NOTEMPTY | Errno::EXIST) => {
                self.refills += 1;
                if self.refills > REFILL_BUDGET {
                    return Err(Errno::NOTEMPTY.into());
                }
                let parent = parent.try_clone_to_owned()?;
                self.remove_entry(parent.as_fd(), &frame.name)
            }
            // Swapped for a non-directory: the parent's own rmdir will find it (ENOTEMPTY) and
            // its rescan unlinks it.
            Err(Errno::NOTDIR) => Ok(()),
            // EBUSY: a mount point (with cross_mounts); it is left, emptied.
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `name` in `dirfd` for reading without following it, and checks its mount.
    fn open_child(&self, dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<Child> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dirfd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::LOOP) => return Ok(Child::NotDir),
            Err(Errno::NOENT) => return Ok(Child::Gone),
            Err(e) => return Err(e.into()),
        };
        let info = sys::mount_info_at(&fd, "", AtFlags::EMPTY_PATH)?;
        if info.mount_id != self.mount && !self.opts.cross_mounts {
            return Err(Error::with_detail(
                ErrorKind::SafetyViolation,
                Errno::XDEV,
                format!(
                    "{:?} is on another mount; not crossing into it (cross_mounts is off)",
                    name
                ),
            ));
        }
        Ok(Child::Dir(Frame {
            name: name.to_os_string(),
            id: (info.dev, info.ino),
            dir: Some(Dir::new(fd)?),
        }))
    }

    /// Pushes a frame, closing the stream of the oldest open frame beyond the window, and
    /// keeping an anchor every `step` levels.
    fn push(&mut self, frame: Frame) -> Result<()> {
        let index = self.frames.len();
        if index > 0 && index.is_multiple_of(self.step) {
            let fd = frame.dir.as_ref().ok_or(Errno::BADF)?.fd()?;
            let anchor = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
            self.anchors.push((index, anchor));
            if self.anchors.len() > MAX_ANCHORS {
                self.step *= 2;
                let step = self.step;
                self.anchors.retain(|&(i, _)| i.is_multiple_of(step));
            }
        }
        self.frames.push(frame);
        if self.frames.len() - self.open_from > FD_WINDOW {
            self.frames[self.open_from].dir = None;
            self.open_from += 1;
        }
        Ok(())
    }

    /// Reopens the top half-window of frames by walking their recorded names down from the
    /// deepest anchor above them (or the base) with `O_NOFOLLOW`, checking each directory is the
    /// one recorded. Never `..`: a directory moved elsewhere by an attacker is then simply not
    /// found where it was.
    fn reopen_window(&mut self) -> Result<()> {
        let len = self.frames.len();
        let start = len.saturating_sub(FD_WINDOW / 2);
        let anchor = self.anchors.iter().rev().find(|&&(i, _)| i < start);
        let (first, from) = match anchor {
            Some((i, fd)) => (i + 1, fd.as_fd()),
            None => (0, self.base),
        };
        let mut cur: Option<OwnedFd> = None;
        for i in first..len {
            let dirfd = cur.as_ref().map_or(from, |fd| fd.as_fd());
            let keep = i >= start;
            let flags = if keep {
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            } else {
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            };
            let frame = &self.frames[i];
            let fd = match rustix::fs::openat(dirfd, &frame.name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Err(moved()),
                Err(e) => return Err(e.into()),
            };
            let st = rustix::fs::fstat(&fd)?;
            if (st.st_dev, st.st_ino) != frame.id {
                return Err(moved());
            }
            if keep {
                let dup = fd.try_clone()?;
                self.frames[i].dir = Some(Dir::new(dup)?);
            }
            cur = Some(fd);
        }
        self.open_from = start;
        Ok(())
    }
}

/// Unlinks a non-directory. `ENOENT` (already gone) is fine; `EISDIR` means it became a
/// directory after we looked, and is reported rather than chased.
fn unlink_file(dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The error for a directory that is no longer where `remove_all` recorded it.
fn moved() -> Error {
    Error::with_detail(
        ErrorKind::SafetyViolation,
        Errno::XDEV,
        "a directory being removed was moved or replaced meanwhile; stopped rather than \
         follow it",
    )
}
