//! The one directory-tree traversal with a bounded number of fds, shared by [`Root::remove_all`],
//! the cleanup of a failed copy and the copy traversal itself (both trees of it).
//!
//! A [`Chain`] is the path from a fixed base directory down to the directory being worked on,
//! one [`Level`] per directory, each recorded by its name in the level above and its
//! `(st_dev, st_ino)` when it was opened. Going down pushes a level; going up pops one. Only the
//! innermost `window` levels keep an fd open, plus an `O_PATH` "anchor" every `step` levels; the
//! others are closed. Going back up into a closed level re-walks the recorded names down from the
//! deepest anchor above it (or the base) with `O_NOFOLLOW`, checking every step's identity against
//! the record, so:
//!
//! - depth costs heap, never fds or stack: any depth works under any `RLIMIT_NOFILE` that fits
//!   the window;
//! - `..` is never opened: a directory that an attacker moved elsewhere while we were below it is
//!   simply not found under its recorded name (or is found to be another directory), and the walk
//!   stops with `EXDEV` instead of following it;
//! - a reopened level continues reading at the offset where it stopped, never from its start:
//!   every entry of a directory is read once per pass, so a walk that leaves entries behind (the
//!   cleanup of a failed copy leaving what is not its own) cannot meet them again each time the
//!   window is refilled and loop forever. A second pass over a directory (a removal finding it
//!   refilled at its `rmdir`) is pushed again, explicitly, and bounded.
//!
//! What is done with the entries (unlink them, copy them, yield them) is up to the user of the
//! chain: see `remove.rs` (`Remover`, with its `Scope`), `copy.rs` (`Copier`, which walks the
//! source and the copy as two chains in step) and `walk.rs` (`Root::walk`, whose chain owns its
//! base and may enter directories through symlinks resolved inside the root: such a level is
//! reopened through the resolver, from the root, never by following a name with `openat`).
//!
//! [`Root::remove_all`]: super::Root::remove_all

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use std::mem::MaybeUninit;

use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::fs::FileId;
use crate::resolve::{self, ResolveOptions, Trailing};
use crate::sys::{Syscall as _, SyscallErrno as _};

/// How many fds a [`Chain`] may hold: `window` open levels plus at most `max_anchors` anchors.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// How many of the innermost levels keep their directory open.
    pub window: usize,
    /// How many extra `O_PATH` fds are kept on the way down, so that reopening the window
    /// re-walks at most `step` names instead of the whole depth. When there would be more, every
    /// other one is dropped and `step` doubles: fds stay bounded and the re-walk cost grows only
    /// with depth / `max_anchors`.
    pub max_anchors: usize,
}

impl Limits {
    /// `self`, shrunk to what the fds still free under `RLIMIT_NOFILE` allow, keeping `spare` of
    /// them for the user of the chain (the files it opens beside the chain); `any_fd` is any open
    /// fd (duplicated once to count the fds in use). A walk that starts
    /// when most fds are taken (the cleanup of a copy that just failed with `EMFILE`, or a
    /// process run under `ulimit -n 32`) then still ends, re-walking more often, instead of
    /// failing for want of an fd. Never below a window of 2 and one anchor (5 fds).
    pub fn fit(self, any_fd: BorrowedFd<'_>, spare: usize) -> Limits {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let Some(soft) = soft.and_then(|n| usize::try_from(n).ok()) else {
            return self;
        };
        // The lowest free fd number: fds are allocated lowest-first, so about as many as are in
        // use (exactly, when none below it were closed).
        let used = rustix::io::fcntl_dupfd_cloexec(any_fd, 0)
            .map_or(soft, |fd| fd.as_raw_fd() as usize + 1);
        let free = soft.saturating_sub(used).saturating_sub(spare);
        let window = (free * 2 / 3).clamp(2, self.window.max(2));
        let max_anchors = free
            .saturating_sub(window)
            .clamp(1, self.max_anchors.max(1));
        Limits {
            window,
            max_anchors,
        }
    }
}

/// One directory of a [`Chain`].
pub(super) struct Level {
    /// Its name in the level above (in the base for the first level).
    pub name: OsString,
    /// `(st_dev, st_ino)` when it was opened, to recognise it when re-walking.
    pub id: FileId,
    /// Its open directory and what was read of it; `None` when it fell out of the window.
    dir: Option<Listing>,
    /// For a level entered through a symlink (`Root::walk` with `follow_links`): its path
    /// inside the root, which a re-walk resolves with the resolver (the name in the level
    /// above is a symlink, which `O_NOFOLLOW` rightly refuses and `openat` must never follow:
    /// an absolute target would be read from the caller's `/`).
    followed: Option<Box<[u8]>>,
    /// The directory offset after the last entry [`Chain::read`] returned, to continue from
    /// there when the level is reopened (for chains that resume).
    pos: i64,
}

impl Level {
    /// The level's open fd. Popped levels and the innermost level are always open.
    pub fn fd(&self) -> Result<BorrowedFd<'_>> {
        Ok(self.dir.as_ref().ok_or(Errno::BADF)?.fd.as_fd())
    }
}

/// How many bytes one `getdents64` may fill: glibc's `readdir` buffer size. (rustix's `Dir`
/// starts at 768 bytes and grows by as much per call, and copies each name into a `CString`:
/// a walk of many small directories paid several calls and an allocation per entry for it.)
const GETDENTS_BUF: usize = 32 * 1024;

/// An open directory and the entries of its last `getdents64` batch not yet returned.
struct Listing {
    fd: OwnedFd,
    /// The batch's names, one after the other.
    names: Vec<u8>,
    /// Per entry: where its name is in `names`, its length, its type, and the directory
    /// offset after it (`d_off`).
    items: Vec<(usize, usize, rustix::fs::FileType, i64)>,
    /// The next item to return.
    next: usize,
    /// `getdents64` said the end.
    at_end: bool,
}

impl Listing {
    fn new(fd: OwnedFd) -> Listing {
        Listing {
            fd,
            names: Vec::new(),
            items: Vec::new(),
            next: 0,
            at_end: false,
        }
    }

    /// Reads the next batch (one `getdents64`) into `items`, with `buf` (allocated on first
    /// use); `false` at the end of the directory. `ENOENT` (the directory was removed while
    /// being read) is the end too, as for `readdir`.
    fn refill(&mut self, buf: &mut Vec<MaybeUninit<u8>>) -> Result<bool> {
        if buf.is_empty() {
            buf.resize(GETDENTS_BUF, MaybeUninit::uninit());
        }
        self.names.clear();
        self.items.clear();
        self.next = 0;
        let mut raw = RawDir::new(self.fd.as_fd(), buf.as_mut_slice());
        loop {
            match raw.next() {
                None | Some(Err(Errno::NOENT)) => {
                    self.at_end = true;
                    break;
                }
                Some(Err(e)) => return Err(e.syscall("getdents64")),
                Some(Ok(entry)) => {
                    let name = entry.file_name().to_bytes();
                    self.items.push((
                        self.names.len(),
                        name.len(),
                        entry.file_type(),
                        entry.next_entry_cookie() as i64,
                    ));
                    self.names.extend_from_slice(name);
                }
            }
            if raw.is_buffer_empty() {
                break;
            }
        }
        Ok(!self.items.is_empty())
    }
}

/// One entry read from the innermost level (never `.` or `..`).
pub(super) struct Entry {
    /// Its name.
    pub name: OsString,
    /// The type from the directory listing, `Unknown` on filesystems that do not say. Only a
    /// hint: it may have changed since.
    pub file_type: rustix::fs::FileType,
}

/// The fixed point of a [`Chain`]: borrowed from the caller (removal, copy) or owned by the
/// chain (a walk, which outlives the call that started it).
enum Base<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl Base<'_> {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Base::Borrowed(fd) => *fd,
            Base::Owned(fd) => fd.as_fd(),
        }
    }
}

/// The directories from a base down to the current one; see the module docs.
pub(super) struct Chain<'a> {
    /// The fixed point every re-walk starts from (the parent of the first level).
    base: Base<'a>,
    /// Where levels entered through a symlink are resolved again: the root's fd and options.
    resolver: Option<(std::sync::Arc<OwnedFd>, ResolveOptions)>,
    levels: Vec<Level>,
    /// `levels[open_from..]` are open, `levels[..open_from]` are not.
    open_from: usize,
    /// `(level index, O_PATH fd of that level)` every `step` levels, shallowest first: where a
    /// re-walk starts instead of the base.
    anchors: Vec<(usize, OwnedFd)>,
    /// The spacing of `anchors`.
    step: usize,
    limits: Limits,
    /// The `getdents64` buffer, shared by the levels: only the innermost one is read.
    buf: Vec<MaybeUninit<u8>>,
}

impl<'a> Chain<'a> {
    /// An empty chain below `base`.
    pub fn new(base: BorrowedFd<'a>, limits: Limits) -> Self {
        Chain::with_base(Base::Borrowed(base), None, limits)
    }

    /// An empty chain below `base`, which it owns; levels pushed with
    /// [`Chain::push_followed`] are resolved again in `root` with `opts` when reopened.
    pub fn new_owned(
        base: OwnedFd,
        limits: Limits,
        root: std::sync::Arc<OwnedFd>,
        opts: ResolveOptions,
    ) -> Chain<'static> {
        Chain::with_base(Base::Owned(base), Some((root, opts)), limits)
    }

    fn with_base(
        base: Base<'a>,
        resolver: Option<(std::sync::Arc<OwnedFd>, ResolveOptions)>,
        limits: Limits,
    ) -> Self {
        Chain {
            base,
            resolver,
            levels: Vec::new(),
            open_from: 0,
            anchors: Vec::new(),
            step: limits.window,
            limits,
            buf: Vec::new(),
        }
    }

    fn base(&self) -> BorrowedFd<'_> {
        self.base.fd()
    }

    /// `levels[open_from..]` keep their directory open; the levels above have none.
    pub fn open_from(&self) -> usize {
        self.open_from
    }

    /// How many levels deep the chain is.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// The innermost directory's fd, or the base when the chain is empty: where the next entry
    /// is created, unlinked or opened.
    pub fn dir_fd(&self) -> Result<BorrowedFd<'_>> {
        match self.levels.last() {
            Some(level) => level.fd(),
            None => Ok(self.base()),
        }
    }

    /// Enters `name`, a directory of the innermost level (or of the base), already opened as
    /// `fd` (`O_RDONLY | O_DIRECTORY`) with identity `id`. Closes the outermost open level beyond
    /// the window, and keeps an anchor every `step` levels.
    pub fn push(&mut self, name: &OsStr, fd: OwnedFd, id: FileId) -> Result<()> {
        self.push_level(name, fd, id, None)
    }

    /// [`Chain::push`] for a directory reached through the symlink `name`, resolved inside the
    /// root (a chain made by [`Chain::new_owned`]) to the directory at `path_in_root`: a re-walk
    /// resolves that path again and checks the identity, as it does for every level.
    pub fn push_followed(
        &mut self,
        name: &OsStr,
        fd: OwnedFd,
        id: FileId,
        path_in_root: &[u8],
    ) -> Result<()> {
        if self.resolver.is_none() {
            return Err(Error::from_errno(Errno::INVAL));
        }
        self.push_level(name, fd, id, Some(path_in_root.into()))
    }

    fn push_level(
        &mut self,
        name: &OsStr,
        fd: OwnedFd,
        id: FileId,
        followed: Option<Box<[u8]>>,
    ) -> Result<()> {
        let index = self.levels.len();
        if index > 0 && index.is_multiple_of(self.step) {
            let anchor = rustix::io::fcntl_dupfd_cloexec(&fd, 0).syscall("fcntl")?;
            self.anchors.push((index, anchor));
            if self.anchors.len() > self.limits.max_anchors {
                self.step *= 2;
                let step = self.step;
                self.anchors.retain(|&(i, _)| i.is_multiple_of(step));
            }
        }
        self.levels.push(Level {
            name: name.to_os_string(),
            id,
            dir: Some(Listing::new(fd)),
            pos: 0,
            followed,
        });
        if self.levels.len() - self.open_from > self.limits.window {
            self.levels[self.open_from].dir = None;
            self.open_from += 1;
        }
        Ok(())
    }

    /// The next entry of the innermost level, `None` at its end (or when the chain is empty).
    pub fn read(&mut self) -> Result<Option<Entry>> {
        let mut name = Vec::new();
        Ok(self.read_into(&mut name)?.map(|file_type| Entry {
            name: OsString::from_vec(name),
            file_type,
        }))
    }

    /// [`Chain::read`] into `name` (cleared first), which a caller reading many entries reuses
    /// (`Root::walk`: no allocation per entry for the name): the entry's type, or `None` at the
    /// end of the innermost level.
    pub fn read_into(&mut self, name: &mut Vec<u8>) -> Result<Option<rustix::fs::FileType>> {
        let Some(Level { dir, pos, .. }) = self.levels.last_mut() else {
            return Ok(None);
        };
        let listing = dir.as_mut().ok_or(Errno::BADF)?;
        loop {
            if let Some(&(start, len, file_type, cookie)) = listing.items.get(listing.next) {
                listing.next += 1;
                *pos = cookie;
                let bytes = &listing.names[start..start + len];
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                name.clear();
                name.extend_from_slice(bytes);
                return Ok(Some(file_type));
            }
            if listing.at_end || !listing.refill(&mut self.buf)? {
                return Ok(None);
            }
        }
    }

    /// Leaves the innermost level and returns it, still open. The level above it is open
    /// afterwards (re-walked from an anchor or the base if it had fallen out of the window).
    pub fn pop(&mut self) -> Result<Option<Level>> {
        let Some(level) = self.levels.pop() else {
            return Ok(None);
        };
        let len = self.levels.len();
        if self.open_from > len {
            self.open_from = len;
        }
        while self.anchors.last().is_some_and(|&(i, _)| i >= len) {
            self.anchors.pop();
        }
        if len > 0 && self.open_from == len {
            self.reopen_window()?;
        }
        Ok(Some(level))
    }

    /// The path of `name` in the innermost level, relative to the base: for messages.
    pub fn path_of(&self, name: &OsStr) -> PathBuf {
        // A walk's first level is its base itself, recorded as `.`: no name in a message.
        let mut path: PathBuf = self
            .levels
            .iter()
            .map(|l| l.name.as_os_str())
            .filter(|n| *n != ".")
            .collect();
        path.push(name);
        path
    }

    /// Reopens the innermost half-window of levels by walking their recorded names down from
    /// the deepest anchor above them (or the base) with `O_NOFOLLOW`, checking each directory is
    /// the one recorded. Never `..`: a directory moved elsewhere by an attacker is then simply
    /// not found where it was.
    fn reopen_window(&mut self) -> Result<()> {
        let len = self.levels.len();
        let start = len.saturating_sub(self.limits.window / 2);
        let anchor = self.anchors.iter().rev().find(|&&(i, _)| i < start);
        let (mut first, from) = match anchor {
            Some((i, fd)) => (i + 1, fd.as_fd()),
            None => (0, self.base.fd()),
        };
        // A level entered through a symlink is resolved from the root, not below the anchor:
        // start there if it is the nearer one.
        if let Some(f) = (first..start)
            .rev()
            .find(|&i| self.levels[i].followed.is_some())
        {
            first = f;
        }
        let mut cur: Option<OwnedFd> = None;
        for i in first..len {
            let dirfd = cur.as_ref().map_or(from, |fd| fd.as_fd());
            let keep = i >= start;
            let flags = if keep {
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            } else {
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            };
            let level = &self.levels[i];
            let opened = match (&level.followed, &self.resolver) {
                (Some(path), Some((root, opts))) => {
                    resolve::resolve(root.as_fd(), path, opts, Trailing::Follow, flags)
                        .map(|r| r.fd)
                        .map_err(|e| e.errno())
                }
                _ => rustix::fs::openat(dirfd, &level.name, flags, Mode::empty()),
            };
            let fd = match opened {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {
                    return Err(moved(&self.path_of(OsStr::new(""))))
                }
                Err(e) => return Err(e.syscall("openat")),
            };
            let st = rustix::fs::fstat(&fd).syscall("fstat")?;
            if FileId::from_stat(&st) != level.id {
                return Err(moved(&self.path_of(OsStr::new(""))));
            }
            if keep {
                let dir = fd.try_clone()?;
                // Where it stopped: see the module docs (never reread from the start).
                if level.pos != 0 {
                    rustix::fs::seek(&dir, rustix::fs::SeekFrom::Start(level.pos as u64))
                        .syscall("lseek")?;
                }
                self.levels[i].dir = Some(Listing::new(dir));
            }
            cur = Some(fd);
        }
        self.open_from = start;
        Ok(())
    }
}

/// The error for a directory that is no longer where the walk recorded it.
pub(super) fn moved(path: &std::path::Path) -> Error {
    Error::escape(format!(
        "a directory on the way to {path:?} was moved or replaced meanwhile; stopped rather \
             than follow it"
    ))
}
