//! Removing inside a [`Root`]: [`Root::remove_file`], [`Root::remove_dir`] and
//! [`Root::remove_all`].
//!
//! `remove_all` is the dangerous one: a recursive delete run as root on a tree that an attacker
//! can rearrange while it runs. The classic failure is the `rm -rf` race: the deleter is inside
//! `a/b`, the attacker moves `b` somewhere else (or swaps it for a symlink), and the deleter's
//! next `..` or next path-based open lands outside the tree and deletes there. The walker here
//! (on the bounded-fd [`Chain`] of `tree.rs`, which the copy shares):
//!
//! - works only with fds and single-component names, opening every child with
//!   `O_NOFOLLOW | O_DIRECTORY` (a symlink swapped in is unlinked, never followed);
//! - never opens `..`: going back up uses the directory fd it held for the parent, or, beyond
//!   its bounded window of held fds, re-walks the recorded names down from the resolved parent
//!   of the target with `O_NOFOLLOW`, checking every step's `(st_dev, st_ino)` against what it
//!   recorded on the way down; a mismatch means the tree was moved and stops the removal;
//! - compares mount ids and does not enter another mount unless asked to;
//! - is iterative, so depth costs heap, not stack.
//!
//! The same walker undoes a failed copy ([`remove_created`], [`Scope::Created`]): there it
//! removes only the entries whose `(st_dev, st_ino)` the copy recorded when it created them,
//! never enters another mount, and never changes the mode of anything it did not create.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::progress::{ProgressFn, Watch};
use super::tree::{Chain, Limits};
use super::Root;
use crate::error::{Error, Result};
use crate::fs::FileId;
use crate::procfs::Procfs;
use crate::resolve::path::{parent_of, with_trailing_slash};
use crate::sys::attrs;
use crate::sys::features::{self, Feature};
use crate::sys::{self, MountId};
use crate::sys::{Syscall as _, SyscallErrno as _};

/// How [`Root::remove_all_with`] behaves, and who watches it.
#[derive(Default)]
#[non_exhaustive]
pub struct RemoveAllOptions<'a> {
    /// Descend into directories that are mount points (other mounts) and delete their contents
    /// too. Off by default: a bind mount of a host directory inside a container rootfs is the
    /// usual way a recursive delete destroys host data. Even when on, a mount point itself
    /// cannot be removed (`EBUSY`): it is emptied and the removal stops there.
    pub cross_mounts: bool,
    /// Called after every entry removed with the counts so far ([`Progress`](super::Progress),
    /// whose `bytes` stays 0); returning [`ControlFlow::Break`](std::ops::ControlFlow::Break)
    /// stops the removal between two entries, which then fails with `ECANCELED`. What was
    /// removed stays removed. `None` (the default) costs one branch per entry.
    pub progress: Option<&'a mut ProgressFn<'a>>,
}

impl<'a> RemoveAllOptions<'a> {
    /// The options with [`RemoveAllOptions::cross_mounts`] set.
    pub fn with_cross_mounts(mut self, cross_mounts: bool) -> Self {
        self.cross_mounts = cross_mounts;
        self
    }

    /// The options with [`RemoveAllOptions::progress`] set to `hook`.
    pub fn with_progress(mut self, hook: &'a mut ProgressFn<'a>) -> Self {
        self.progress = Some(hook);
        self
    }
}

impl std::fmt::Debug for RemoveAllOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoveAllOptions")
            .field("cross_mounts", &self.cross_mounts)
            .field("progress", &self.progress.as_ref().map(|_| "FnMut"))
            .finish()
    }
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
    /// as `unlink(2)`; a `path` ending in a slash gives `ENOTDIR` whatever is there (a slash
    /// names a directory, which this never removes), as libpathrs answers.
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
        if !flags.contains(AtFlags::REMOVEDIR)
            && crate::resolve::path::has_trailing_slash(path.as_os_str().as_encoded_bytes())
        {
            // A trailing slash names a directory, which unlink never removes: ENOTDIR whatever
            // is there (missing, a directory, a file), as libpathrs answers; the kernel would
            // say ENOENT, EISDIR or ENOTDIR.
            return Err(self.annotate_op(
                Error::with_detail(
                    crate::ErrorKind::Os,
                    Errno::NOTDIR,
                    "a trailing slash names a directory, which remove_file does not remove",
                ),
                op,
                path,
            ));
        }
        let name = with_trailing_slash(path, name);
        rustix::fs::unlinkat(&parent, &name, flags)
            .syscall_with("unlinkat", || sys::args(parent_of(path), &name, flags))
            .map_err(|e| self.annotate_op(e, op, path))
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
    /// - A symlink (at `path` or anywhere below) is removed, never followed. A non-directory
    ///   at `path` is removed even if `path` ends in a slash (libpathrs's answer).
    /// - It never deletes anything outside the root, even while an attacker inside the root
    ///   swaps directories for symlinks or moves them around: see the module docs.
    /// - A directory on another mount (compared by mount id) is `EXDEV` unless
    ///   [`RemoveAllOptions::cross_mounts`], and nothing on that mount is touched. The removal
    ///   stops at the first such directory; what was removed before stays removed.
    /// - Any depth works, without recursion, with at most a fixed number of fds open.
    /// - A concurrent writer that keeps refilling directories eventually gets `ENOTEMPTY`; a
    ///   directory that moves while we are below it (its recorded identity no longer matches its
    ///   name) stops the removal with `EXDEV`.
    pub fn remove_all_with(
        &self,
        path: impl AsRef<Path>,
        opts: RemoveAllOptions<'_>,
    ) -> Result<()> {
        let path = path.as_ref();
        const OP: &str = "remove_all";
        let (parent, name) = self.parent_and_name(OP, path)?;
        let fail = |e: Error| self.annotate_op(e, OP, path);
        // The type can change under us (a directory swapped for a symlink and back): unlink a
        // non-directory, and look again if it has become a directory (EISDIR) meanwhile.
        let mut tries = 0;
        loop {
            let st = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)
                .syscall("fstatat")
                .map_err(fail)?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                break;
            }
            // A trailing slash on a non-directory is ignored, as libpathrs ignores it (`rm -rf
            // file/` removes the file): the name is what is removed.
            match rustix::fs::unlinkat(&parent, &name, AtFlags::empty()) {
                Err(Errno::ISDIR) if tries < 8 => tries += 1,
                other => {
                    other.syscall("unlinkat").map_err(fail)?;
                    let mut watch = Watch::new(opts.progress);
                    return watch.entry(|| name.clone().into()).map_err(fail);
                }
            }
        }
        let mount = sys::mount_id(&parent).map_err(|e| fail(e.into()))?;
        // The target was a directory a moment ago; whatever it is now is removed, but a target
        // that vanished is ENOENT, as before the loop.
        if let Err(Errno::NOENT) = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
            return Err(fail(Errno::NOENT.syscall("fstatat")));
        }
        let scope = Scope::Mount {
            cross_mounts: opts.cross_mounts,
        };
        Remover::new(parent.as_fd(), mount, scope, Watch::new(opts.progress))
            .run(parent.as_fd(), &name)
            .map(drop)
            .map_err(fail)
    }
}

/// What a [`Remover`] may remove.
#[derive(Clone, Copy)]
pub(super) enum Scope<'s> {
    /// Everything on the target's mount, and below mount points too with `cross_mounts`
    /// ([`Root::remove_all`]).
    Mount {
        /// [`RemoveAllOptions::cross_mounts`].
        cross_mounts: bool,
    },
    /// Only entries whose `(st_dev, st_ino)` is in the set, and nothing on another mount: the
    /// cleanup of a failed copy, which records what it creates. Anything else is left where it
    /// is, untouched (no chmod, no descent), and counted.
    Created(&'s HashSet<FileId>),
}

/// The state of one recursive removal: a [`Chain`] from the target's parent down to the
/// directory being emptied, and what the [`Scope`] allows.
struct Remover<'a, 's, 'h, 'p> {
    chain: Chain<'a>,
    /// Counts what is removed, for the caller's hook (which may stop the walk between two
    /// entries: Ctrl-C in `procroot rm -r`, or during the undo of a failed `cp`).
    watch: Watch<'h, 'p>,
    /// The mount the target's parent is on.
    mount: MountId,
    scope: Scope<'s>,
    /// Rescans spent on directories that were not empty at their `rmdir` ([`Scope::Mount`]).
    refills: usize,
    /// What was left in place, and why ([`Scope::Created`]).
    left: Leftovers,
    /// The directories of the copy already entered ([`Scope::Created`]): one met again (its
    /// parent's listing returned it twice, or it was renamed under another of ours) is not
    /// entered a second time. With the chain never rereading a level, this bounds the work
    /// by the number of entries whatever is left behind.
    entered: HashSet<FileId>,
}

/// What [`remove_created`] left in place, and why.
#[derive(Debug, Default)]
pub(super) struct Leftovers {
    /// Entries the copy did not create (or no longer under the name it created them by): never
    /// touched, never entered.
    pub not_ours: u64,
    /// The first of them, relative to the directory holding the temporary (for the message).
    pub first_not_ours: Option<std::path::PathBuf>,
    /// Entries the copy created that could not be checked or removed, counted by errno (raw
    /// value): `ENOTEMPTY` for each directory holding something left, `EMFILE`, `EACCES` ...
    pub failed: BTreeMap<i32, u64>,
}

impl Leftovers {
    /// Whether nothing was left.
    pub fn is_empty(&self) -> bool {
        self.not_ours == 0 && self.failed.is_empty()
    }

    fn fail(&mut self, errno: Errno) {
        *self.failed.entry(errno.raw_os_error()).or_default() += 1;
    }

    fn not_ours(&mut self, path: impl FnOnce() -> std::path::PathBuf) {
        self.not_ours += 1;
        if self.first_not_ours.is_none() {
            self.first_not_ours = Some(path());
        }
    }
}

impl std::fmt::Display for Leftovers {
    /// `N not created by the copy (the first: "…"); M it could not check or remove (ENOTEMPTY:
    /// 3, EACCES: 1)`, leaving out what is zero.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.not_ours > 0 {
            let first = self
                .first_not_ours
                .as_ref()
                .map(|p| format!(" (the first: {p:?})"))
                .unwrap_or_default();
            parts.push(format!("{} not created by the copy{first}", self.not_ours));
        }
        if !self.failed.is_empty() {
            let total: u64 = self.failed.values().sum();
            let reasons: Vec<String> = self
                .failed
                .iter()
                .map(|(&raw, n)| format!("{}: {n}", sys::errno_name(Errno::from_raw_os_error(raw))))
                .collect();
            parts.push(format!(
                "{total} created by the copy that it could not check or remove ({})",
                reasons.join(", ")
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// What opening a child for descent found.
enum Child {
    /// A directory that may be entered: opened for reading, with its identity.
    Dir(OwnedFd, FileId),
    /// Not a directory (any more): unlink it instead.
    NotDir,
    /// Gone.
    Gone,
}

impl<'a, 's, 'h, 'p> Remover<'a, 's, 'h, 'p> {
    fn new(base: BorrowedFd<'a>, mount: MountId, scope: Scope<'s>, watch: Watch<'h, 'p>) -> Self {
        // Fitted to the fds still free: the cleanup of a copy that failed with EMFILE, or
        // `rm -r` under `ulimit -n 32`, still ends. The spare fds are the walker's own
        // transient ones (an O_PATH pin and its reopening, a clone of the parent).
        let limits = Limits {
            window: FD_WINDOW,
            max_anchors: MAX_ANCHORS,
        }
        .fit(base, 6);
        Remover {
            chain: Chain::new(base, limits),
            watch,
            mount,
            scope,
            refills: 0,
            left: Leftovers::default(),
            entered: HashSet::new(),
        }
    }

    /// Removes `base/name` and what the scope allows below it. Returns what was left in place
    /// ([`Scope::Created`]; always empty for [`Scope::Mount`], which fails instead).
    fn run(mut self, base: BorrowedFd<'_>, name: &OsStr) -> Result<Leftovers> {
        if let Scope::Created(ours) = self.scope {
            self.remove_ours(base, name, ours)?;
        } else {
            self.remove_entry(base, name)?;
        }
        while self.chain.len() > 0 {
            let Some(entry) = self.chain.read()? else {
                self.finish_top()?;
                continue;
            };
            let name = entry.name;
            if let Scope::Created(ours) = self.scope {
                let dirfd = self.chain.dir_fd()?.try_clone_to_owned()?;
                self.remove_ours(dirfd.as_fd(), &name, ours)?;
                continue;
            }
            // Borrowed, not cloned: a file costs its unlinkat and nothing more.
            let dirfd = self.chain.dir_fd()?;
            let is_dir = match entry.file_type {
                rustix::fs::FileType::Directory => true,
                rustix::fs::FileType::Unknown => {
                    match rustix::fs::statat(dirfd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => is_dir_mode(st.st_mode),
                        Err(Errno::NOENT) => continue,
                        Err(e) => return Err(e.syscall("fstatat")),
                    }
                }
                _ => false,
            };
            if !is_dir {
                match rustix::fs::unlinkat(dirfd, &name, AtFlags::empty()) {
                    Ok(()) => {
                        self.watch.entry(|| self.chain.path_of(&name))?;
                        continue;
                    }
                    Err(Errno::NOENT) => continue,
                    // It became a directory since the listing: descend below.
                    Err(Errno::ISDIR) => {}
                    Err(e) => return Err(e.syscall("unlinkat")),
                }
            }
            let dirfd = dirfd.try_clone_to_owned()?;
            self.remove_entry(dirfd.as_fd(), &name)?;
        }
        Ok(self.left)
    }

    /// Removes the entry `name` of `dirfd` whatever it is now ([`Scope::Mount`]): pushes it if
    /// it is a directory, unlinks it otherwise. An entry that flips between directory and
    /// symlink (an attacker exchanging them) is looked at again a few times.
    fn remove_entry(&mut self, dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
        let mut tries = 0;
        loop {
            match self.open_child(dirfd, name)? {
                Child::Dir(fd, id) => return self.chain.push(name, fd, id),
                Child::NotDir => match unlink_file(dirfd, name) {
                    Err(e) if e.errno() == Errno::ISDIR && tries < 8 => tries += 1,
                    Ok(()) => return self.watch.entry(|| self.chain.path_of(name)),
                    other => return other,
                },
                Child::Gone => return Ok(()),
            }
        }
    }

    /// Removes the entry `name` of `dirfd` if the copy created it ([`Scope::Created`]): pinned
    /// with `O_PATH | O_NOFOLLOW` first, which needs no permission on the entry itself, and
    /// checked on that fd (mount, `(st_dev, st_ino)`). A file of ours is unlinked; a directory
    /// of ours is entered through the pin, after giving it back its owner's rights through the
    /// pin if its copied mode shut us out (a `0055` directory: neither open nor `fchmod` by an
    /// ordinary fd would work, and a chmod by name could hit something renamed in meanwhile).
    /// Anything else is counted, never an error: the cleanup always goes on to its end.
    fn remove_ours(
        &mut self,
        dirfd: BorrowedFd<'_>,
        name: &OsStr,
        ours: &HashSet<FileId>,
    ) -> Result<()> {
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let pinned = match rustix::fs::openat(dirfd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => {
                self.left.fail(e);
                return Ok(());
            }
        };
        let info = match sys::mount_info_at(&pinned, "", AtFlags::EMPTY_PATH) {
            Ok(info) => info,
            Err(e) => {
                self.left.fail(e.errno);
                return Ok(());
            }
        };
        let id = info.file;
        if info.mount_id != self.mount || !ours.contains(&id) {
            self.left.not_ours(|| self.chain.path_of(name));
            return Ok(());
        }
        let st = match rustix::fs::fstat(&pinned) {
            Ok(st) => st,
            Err(e) => {
                self.left.fail(e);
                return Ok(());
            }
        };
        if !is_dir_mode(st.st_mode) {
            // By name, right after the check on the pin: the names here are in directories
            // of the copy.
            return match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => self.watch.entry(|| self.chain.path_of(name)),
                Err(e) => {
                    self.left.fail(e);
                    Ok(())
                }
            };
        }
        if !self.entered.insert(id) {
            return Ok(());
        }
        if st.st_mode & 0o700 != 0o700 {
            if let Err(e) = chmod_pinned(&pinned, 0o700) {
                self.left.fail(e);
                return Ok(());
            }
        }
        let read = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::openat(&pinned, ".", read, Mode::empty()) {
            Ok(fd) => self.chain.push(name, fd, id),
            Err(e) => {
                self.left.fail(e);
                Ok(())
            }
        }
    }

    /// The innermost directory is read to the end: remove it from its parent, or rescan it if
    /// someone filled it meanwhile.
    fn finish_top(&mut self) -> Result<()> {
        let Some(level) = self.chain.pop()? else {
            return Ok(());
        };
        let parent = self.chain.dir_fd()?;
        if let Scope::Created(_) = self.scope {
            // Only the directory we emptied, under the name we entered it by; what is there now
            // may be someone else's (renamed in meanwhile) and is left. Not empty: something not
            // ours is inside, and stays (ENOTEMPTY, counted). Never rescanned.
            match rustix::fs::statat(parent, &level.name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileId::from_stat(&st) == level.id => {}
                Ok(_) => {
                    self.left.not_ours(|| self.chain.path_of(&level.name));
                    return Ok(());
                }
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => {
                    self.left.fail(e);
                    return Ok(());
                }
            }
            return match rustix::fs::unlinkat(parent, &level.name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => self.watch.entry(|| self.chain.path_of(&level.name)),
                Err(e) => {
                    self.left.fail(e);
                    Ok(())
                }
            };
        }
        match rustix::fs::unlinkat(parent, &level.name, AtFlags::REMOVEDIR) {
            Ok(()) => self.watch.entry(|| self.chain.path_of(&level.name)),
            // Removed by someone else (only a missing top-level target is an error, and that
            // was checked before the walk started).
            Err(Errno::NOENT) => Ok(()),
            // Refilled, or swapped for another directory: look at that name again. The rescan
            // opens it from the verified parent with O_NOFOLLOW like any other child, and reads
            // it from its start: the one place a directory is read twice, bounded by the budget.
            Err(Errno::NOTEMPTY | Errno::EXIST) => {
                self.refills += 1;
                if self.refills > REFILL_BUDGET {
                    return Err(Errno::NOTEMPTY.into());
                }
                let parent = parent.try_clone_to_owned()?;
                self.remove_entry(parent.as_fd(), &level.name)
            }
            // Swapped for a non-directory: the parent's own rmdir will find it (ENOTEMPTY) and
            // its rescan unlinks it.
            Err(Errno::NOTDIR) => Ok(()),
            // EBUSY: a mount point (with cross_mounts); it is left, emptied.
            Err(e) => Err(e.syscall("unlinkat")),
        }
    }

    /// Opens `name` in `dirfd` for reading without following it, and checks its mount
    /// ([`Scope::Mount`]).
    fn open_child(&self, dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<Child> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(dirfd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::LOOP) => return Ok(Child::NotDir),
            Err(Errno::NOENT) => return Ok(Child::Gone),
            Err(e) => return Err(e.syscall("openat")),
        };
        let info = sys::mount_info_at(&fd, "", AtFlags::EMPTY_PATH)?;
        let id = info.file;
        if let Scope::Mount { cross_mounts } = self.scope {
            if info.mount_id != self.mount && !cross_mounts {
                return Err(Error::escape(format!(
                    "{:?} is on another mount; not crossing into it (cross_mounts is off)",
                    name
                )));
            }
        }
        Ok(Child::Dir(fd, id))
    }
}

/// Gives the directory pinned by the `O_PATH` fd `pinned` the mode `mode`, through the pin:
/// `fchmodat2(AT_EMPTY_PATH)` (Linux 6.6), else the hardened procfs's magic link to the fd,
/// checked again afterwards. Never by name.
fn chmod_pinned(pinned: &OwnedFd, mode: u32) -> std::result::Result<(), Errno> {
    if !features::known_unavailable(Feature::Fchmodat2) {
        match attrs::fchmodat2(pinned, c"", mode, AtFlags::EMPTY_PATH) {
            Err(Errno::NOSYS) => features::mark_unavailable(Feature::Fchmodat2),
            other => return other,
        }
    }
    let link = Procfs::cached()
        .and_then(|procfs| procfs.fd_link(pinned.as_fd()))
        .map_err(|e| e.errno())?;
    let result = rustix::fs::chmodat(
        link.dir(),
        link.name(),
        Mode::from_raw_mode(mode),
        AtFlags::empty(),
    );
    link.recheck().map_err(|e| e.errno())?;
    result
}

/// Whether an `st_mode` is a directory's.
fn is_dir_mode(mode: u32) -> bool {
    rustix::fs::FileType::from_raw_mode(mode) == rustix::fs::FileType::Directory
}

/// Unlinks a non-directory. `ENOENT` (already gone) is fine; `EISDIR` means it became a
/// directory after we looked, and is reported rather than chased.
fn unlink_file(dirfd: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.syscall("unlinkat")),
    }
}

/// What [`remove_created`] did with the entry it was asked to remove.
#[derive(Debug)]
pub(super) enum Cleanup {
    /// Removed, with everything below it.
    Removed,
    /// Removed what was ours and could be removed; the rest was left in place, counted.
    Left(Leftovers),
    /// The name no longer exists.
    Gone,
    /// The name is now something other than the entry that was created: left alone.
    Replaced,
}

/// Removes `dir/name`, which the caller created with identity `top`, and below it only the
/// entries whose identities are in `ours`, never entering another mount and never changing the
/// mode of anything else: the undo of a failed copy. Whatever else is found is left alone and
/// counted, with the reason; it always ends, visiting each entry once, whatever is left and
/// however few fds are free. Nothing is done if `dir/name` is no longer `top`.
///
/// `watch` is the copy's: its hook is called after each entry removed with
/// [`Progress::undoing`](super::Progress::undoing) set, and may stop the cleanup (`ECANCELED`),
/// which then keeps what is left.
pub(super) fn remove_created(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    top: FileId,
    ours: &HashSet<FileId>,
    watch: &mut Watch<'_, '_>,
) -> Result<Cleanup> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Cleanup::Gone),
        Err(e) => return Err(e.syscall("fstatat")),
    };
    if FileId::from_stat(&st) != top {
        return Ok(Cleanup::Replaced);
    }
    let mount = sys::mount_id(dir)?;
    let left = Remover::new(dir, mount, Scope::Created(ours), watch.undoing()).run(dir, name)?;
    // The top itself is re-checked on its pin by the walker: if it was swapped between the
    // statat above and the pin, it is counted as not ours.
    Ok(if left.is_empty() {
        Cleanup::Removed
    } else {
        Cleanup::Left(left)
    })
}
