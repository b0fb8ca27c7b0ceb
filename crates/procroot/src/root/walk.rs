//! [`Root::walk`]: every entry under a path inside the root, on the one bounded-fd walker of
//! `tree.rs` (the [`Chain`] that `remove_all` and the copy use).
//!
//! How it stays inside the root while the tree changes under it:
//!
//! - The start path is resolved by the resolver. Below it, every directory is opened by its
//!   parent's fd and its name, `O_DIRECTORY | O_NOFOLLOW`: a directory swapped for a symlink
//!   (to the host's `/etc`, say) is `ELOOP`/`ENOTDIR`, never followed; a directory renamed away
//!   while the walk is below it is simply not found again (the chain re-walks recorded names
//!   and identities, never `..`: see `tree.rs`).
//! - With `follow_links`, a symlink is resolved by the resolver, inside the root, from the root
//!   (an absolute target means the root's `/`, not the caller's), and a directory reached that
//!   way is refused when it is one of its own ancestors, by (`st_dev`, `st_ino`).
//! - With `same_mount` (the default) a directory on another mount than the start (by mount id,
//!   not by `st_dev`, which bind mounts and btrfs subvolumes share or split arbitrarily) is
//!   listed but not entered.
//! - An entry's `open`, `metadata`, `link_target` and `read_xattr` go through its parent
//!   directory's fd and its name, never a path. The walk keeps the parent fd for as long as
//!   the walker itself has the directory open; an entry used later resolves its parent again
//!   inside the root and checks that it is the same directory (else `EXDEV`).

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::handle::reopen_fd;
use super::tree::{Chain, Limits};
use super::{Handle, Root};
use crate::error::{Error, Result};
use crate::fs::{metadata_of, readlink_fd, FileId, FileType};
use crate::resolve::{self, BackendUsed, Resolved, Trailing};
use crate::sys::{self, MountId, Syscall as _, SyscallErrno as _};

/// The walker's fd budget before [`Limits::fit`]; half the window again is taken by the
/// parent fds that entries share (see [`Walk`]).
const WALK_LIMITS: Limits = Limits {
    window: 32,
    max_anchors: 16,
};

/// What a walk needs beside the chain, shared by the walk and every entry it yields.
#[derive(Debug)]
struct Shared {
    root: Root,
}

/// The options of a [`Walk`]; see its builder methods.
#[derive(Clone, Copy, Debug)]
struct Options {
    min_depth: usize,
    max_depth: usize,
    follow_links: bool,
    same_mount: bool,
    sort_by_name: bool,
    contents_first: bool,
}

/// One directory the walk is in: parallel to the chain's levels.
struct DirState {
    /// Its path inside the root.
    path: PathBuf,
    /// Its identity when it was opened.
    id: FileId,
    /// The mount it is on.
    mount: MountId,
    /// Its fd, shared with the entries read from it (a duplicate of the chain's, made at its
    /// first entry); dropped when the chain closes the level, so that fds stay bounded.
    fd: Option<Arc<OwnedFd>>,
    /// With `sort_by_name`: its entries, read whole and sorted, still to yield.
    sorted: Option<std::vec::IntoIter<(OsString, rustix::fs::FileType)>>,
    /// With `contents_first`: its own entry, yielded when it is left.
    post: Option<WalkEntry>,
    /// Nothing more is read from it ([`Walk::skip_current_dir`], or its listing failed).
    done: bool,
}

/// A directory opened to be entered after its entry has been yielded (unless
/// [`Walk::skip_current_dir`] is called first).
struct ToEnter {
    name: OsString,
    fd: OwnedFd,
    id: FileId,
    mount: MountId,
    path: PathBuf,
    /// Entered through a symlink: its path is resolved again from the root on a re-walk.
    followed: bool,
    post: Option<WalkEntry>,
}

enum State {
    Start,
    Running,
    Done,
}

/// An iterator over the entries under a path inside a root: see [`Root::walk`].
///
/// Each item is one entry or one entry's error; an error does not end the walk (a directory
/// that cannot be opened is yielded, then its error, and the walk goes on with its siblings).
pub struct Walk<'r> {
    /// A clone of the root (its fd is shared, its settings are those of the call).
    root: Root,
    _borrow: std::marker::PhantomData<&'r Root>,
    start: PathBuf,
    opts: Options,
    state: State,
    shared: Option<Arc<Shared>>,
    chain: Option<Chain<'static>>,
    dirs: Vec<DirState>,
    to_enter: Option<ToEnter>,
    /// Items decided but not yet returned (an entry and then its directory's error).
    pending: std::collections::VecDeque<Result<WalkEntry>>,
    /// The mount of the start directory: `same_mount` stays on it.
    start_mount: Option<MountId>,
    /// `dirs[..closed_upto]` have dropped their shared fd (the chain closed them).
    closed_upto: usize,
    /// The buffer names are read into, reused.
    name: Vec<u8>,
}

impl std::fmt::Debug for Walk<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walk")
            .field("root", &self.root.display_name())
            .field("start", &self.start)
            .field("options", &self.opts)
            .field("depth", &self.dirs.len())
            .finish_non_exhaustive()
    }
}

impl Root {
    /// Walks the tree under `path` inside the root: an iterator of [`WalkEntry`]s, the start
    /// itself first (depth 0), in the spirit of the `walkdir` crate but never leaving the root.
    ///
    /// `path` is resolved inside the root like any other path (a trailing symlink is
    /// followed, inside the root). Below it, nothing is looked up by path: each directory is
    /// opened through its parent's fd by name with `O_NOFOLLOW`, so a directory that an
    /// attacker swaps for a symlink while the walk runs is listed as what it now is and never
    /// entered, and a directory renamed away is not followed to its new place (its entries are
    /// read where the walk found them, and returning into a parent that moved is an `EXDEV`
    /// error for that directory; the walk goes on with the rest). Symlinks are not followed
    /// unless [`Walk::follow_links`]; other mounts are not entered unless
    /// [`Walk::same_mount`]`(false)`.
    ///
    /// The walk holds a bounded number of fds whatever the depth (it shares the bounded-fd
    /// walker of [`Root::remove_all`]): a 10,000-deep tree walks under `RLIMIT_NOFILE` 128.
    /// Listing names and types costs no syscall per entry where the file system reports the
    /// type in the directory listing (`d_type`; one `fstatat` otherwise), and per directory
    /// an `openat`, a `statx` (its identity and mount), the `getdents64` calls and a `dup`.
    ///
    /// ```no_run
    /// use procroot::Root;
    ///
    /// let root = Root::open("/var/lib/machines/web")?;
    /// for entry in root.walk("/usr/bin").max_depth(1).sort_by_name(true) {
    ///     match entry {
    ///         Ok(entry) => println!("{} {:?}", entry.path().display(), entry.file_type()),
    ///         Err(err) => eprintln!("{err}"),
    ///     }
    /// }
    /// # Ok::<(), procroot::Error>(())
    /// ```
    pub fn walk(&self, path: impl AsRef<Path>) -> Walk<'_> {
        Walk {
            root: self.clone(),
            _borrow: std::marker::PhantomData,
            start: path.as_ref().to_path_buf(),
            opts: Options {
                min_depth: 0,
                max_depth: usize::MAX,
                follow_links: false,
                same_mount: true,
                sort_by_name: false,
                contents_first: false,
            },
            state: State::Start,
            shared: None,
            chain: None,
            dirs: Vec::new(),
            to_enter: None,
            pending: std::collections::VecDeque::new(),
            start_mount: None,
            closed_upto: 0,
            name: Vec::new(),
        }
    }
}

impl Walk<'_> {
    /// The same walk, no longer tied to the borrow of its [`Root`]: a walk holds its own clone
    /// of the root (the fd is shared, the settings are those of the [`Root::walk`] call), so it
    /// may outlive the `Root` it was made from. For bindings that hand the walk to another
    /// language as a handle.
    pub fn detached(self) -> Walk<'static> {
        Walk {
            root: self.root,
            _borrow: std::marker::PhantomData,
            start: self.start,
            opts: self.opts,
            state: self.state,
            shared: self.shared,
            chain: self.chain,
            dirs: self.dirs,
            to_enter: self.to_enter,
            pending: self.pending,
            start_mount: self.start_mount,
            closed_upto: self.closed_upto,
            name: self.name,
        }
    }

    /// Yields no entry deeper than `depth` below the start (0: the start alone). Directories at
    /// that depth are not opened.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.opts.max_depth = depth;
        self
    }

    /// Yields no entry shallower than `depth` (1: everything but the start). Shallower
    /// directories are still walked.
    pub fn min_depth(mut self, depth: usize) -> Self {
        self.opts.min_depth = depth;
        self
    }

    /// Whether symlinks are followed (default `false`: a symlink is yielded as a symlink).
    ///
    /// When `true`, a symlink is resolved by the resolver **inside the root** (an absolute
    /// target starts at the root, `..` stops at it), its entry gets the target's type, and a
    /// directory reached that way is walked, unless it is one of its own ancestors (compared
    /// by `(st_dev, st_ino)`), which is an `ELOOP` error for that entry instead. A symlink
    /// whose target does not exist is yielded as a symlink.
    pub fn follow_links(mut self, follow: bool) -> Self {
        self.opts.follow_links = follow;
        self
    }

    /// Whether the walk stays on the mount of the start path (default `true`, as `find
    /// -xdev`): a directory on another mount, told by its mount id, is yielded (with
    /// [`WalkEntry::is_mount_point`]) but not entered.
    pub fn same_mount(mut self, same: bool) -> Self {
        self.opts.same_mount = same;
        self
    }

    /// Whether each directory's entries come sorted by name, bytewise (default `false`: the
    /// file system's order). Sorting reads each directory whole before yielding from it.
    pub fn sort_by_name(mut self, sort: bool) -> Self {
        self.opts.sort_by_name = sort;
        self
    }

    /// Whether a directory is yielded after its contents (post-order, as a removal needs)
    /// instead of before them (default `false`).
    pub fn contents_first(mut self, contents_first: bool) -> Self {
        self.opts.contents_first = contents_first;
        self
    }

    /// Skips the rest of the current directory: when the entry last yielded is a directory
    /// that would be entered next, it is not entered; otherwise the rest of the directory the
    /// last entry was in is skipped (with `contents_first`, that directory's own entry is still
    /// yielded). As `walkdir`'s `skip_current_dir`.
    pub fn skip_current_dir(&mut self) {
        if let Some(enter) = self.to_enter.take() {
            if let Some(post) = enter.post {
                self.pending.push_back(Ok(post));
            }
            return;
        }
        if let Some(dir) = self.dirs.last_mut() {
            dir.done = true;
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<WalkEntry>;

    fn next(&mut self) -> Option<Result<WalkEntry>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.state {
                State::Done => return None,
                State::Start => {
                    self.state = State::Running;
                    self.begin();
                    continue;
                }
                State::Running => {}
            }
            if let Some(enter) = self.to_enter.take() {
                self.enter(enter);
                continue;
            }
            if self.dirs.is_empty() {
                self.state = State::Done;
                // Every fd goes now, not when the caller drops the iterator.
                self.chain = None;
                continue;
            }
            self.step();
        }
    }
}

impl Walk<'_> {
    /// `err` about `path`, with the operation and the root named.
    fn fail(&self, err: Error, op: &'static str, path: &Path) -> Error {
        self.root.annotate(err, op, path)
    }

    fn shared(&self) -> Arc<Shared> {
        Arc::clone(self.shared.as_ref().expect("set by begin"))
    }

    /// Resolves the start path and yields (or schedules) its entry; opens it when it is a
    /// directory to walk.
    fn begin(&mut self) {
        let root = self.root.clone();
        self.shared = Some(Arc::new(Shared { root: root.clone() }));
        let start = self.start.clone();
        let handle = match root.resolve(&start) {
            Ok(handle) => handle,
            Err(e) => return self.pending.push_back(Err(self.fail(e, "walk", &start))),
        };
        let info = match sys::mount_info_at(&handle, "", AtFlags::EMPTY_PATH) {
            Ok(info) => info,
            Err(e) => {
                let e = self.fail(e.into(), "walk", &start);
                return self.pending.push_back(Err(e));
            }
        };
        // The path inside the root, verified by the resolver's own service (`path_in_root`),
        // so that entries are named from where the walk really is.
        let path = match handle.path_in_root() {
            Ok(path) => path.to_path_buf(),
            Err(e) => return self.pending.push_back(Err(self.fail(e, "walk", &start))),
        };
        let file_type = FileType::from_mode(info.file_type);
        let id = info.file;
        self.start_mount = Some(info.mount_id);
        let fd = handle.into_fd();
        let walk_it = file_type == FileType::Dir && self.opts.max_depth > 0;
        let dir = if walk_it {
            let opened = rustix::fs::openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .syscall("openat");
            let base = rustix::io::fcntl_dupfd_cloexec(&fd, 0).syscall("fcntl");
            match opened.and_then(|dir| Ok((dir, base?))) {
                Ok(pair) => Some(pair),
                Err(e) => {
                    let entry = self.start_entry(path.clone(), file_type, &info, fd);
                    if self.opts.min_depth == 0 {
                        self.pending.push_back(Ok(entry));
                    }
                    self.pending
                        .push_back(Err(self.fail(e, "read directory", &path)));
                    return;
                }
            }
        } else {
            None
        };
        let entry = self.start_entry(path.clone(), file_type, &info, fd);
        let entry = (self.opts.min_depth == 0).then_some(entry);
        let Some((dir, base)) = dir else {
            self.pending.extend(entry.map(Ok));
            return;
        };
        let limits = WALK_LIMITS.fit(base.as_fd(), 8);
        // Each open level may also have its fd shared with the entries read from it.
        let limits = Limits {
            window: (limits.window / 2).max(2),
            ..limits
        };
        self.chain = Some(Chain::new_owned(
            base,
            limits,
            Arc::clone(&root.fd),
            root.resolve_opts(),
        ));
        let post = if self.opts.contents_first {
            entry
        } else {
            self.pending.extend(entry.map(Ok));
            None
        };
        self.to_enter = Some(ToEnter {
            name: OsString::from("."),
            fd: dir,
            id,
            mount: info.mount_id,
            path,
            followed: false,
            post,
        });
    }

    fn start_entry(
        &self,
        path: PathBuf,
        file_type: FileType,
        info: &sys::MountInfo,
        fd: OwnedFd,
    ) -> WalkEntry {
        WalkEntry {
            path,
            depth: 0,
            file_type,
            mount_point: info.mount_root.unwrap_or(false),
            loc: Loc::Own(Arc::new(fd)),
            shared: self.shared(),
        }
    }

    /// Pushes a directory opened by [`Walk::visit`] (or [`Walk::begin`]) onto the chain.
    fn enter(&mut self, enter: ToEnter) {
        let chain = self
            .chain
            .as_mut()
            .expect("a directory to enter has a chain");
        let pushed = if enter.followed {
            chain.push_followed(
                &enter.name,
                enter.fd,
                enter.id,
                enter.path.as_os_str().as_bytes(),
            )
        } else {
            chain.push(&enter.name, enter.fd, enter.id)
        };
        if let Err(e) = pushed {
            let e = self.fail(e, "read directory", &enter.path);
            self.pending.push_back(Err(e));
            self.pending.extend(enter.post.map(Ok));
            return;
        }
        let open_from = chain.open_from();
        self.dirs.push(DirState {
            path: enter.path,
            id: enter.id,
            mount: enter.mount,
            fd: None,
            sorted: None,
            post: enter.post,
            done: false,
        });
        // Levels the chain closed give up their shared fd too: entries from them reopen it.
        for dir in &mut self.dirs[self.closed_upto.min(open_from)..open_from] {
            dir.fd = None;
        }
        self.closed_upto = self.closed_upto.max(open_from);
        if self.opts.sort_by_name {
            let mut names = Vec::new();
            let read = loop {
                match chain.read() {
                    Ok(Some(entry)) => names.push((entry.name, entry.file_type)),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            names.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let dir = self.dirs.last_mut().expect("just pushed");
            dir.sorted = Some(names.into_iter());
            if let Err(e) = read {
                // What was read is still yielded; the error first.
                let path = dir.path.clone();
                let e = self.fail(e, "read directory", &path);
                self.pending.push_back(Err(e));
            }
        }
    }

    /// One step in the innermost directory: its next entry, or leaving it.
    fn step(&mut self) {
        let chain = self.chain.as_mut().expect("running walks have a chain");
        let top = self.dirs.last_mut().expect("checked by next");
        // The name is read into a buffer the walk reuses: no allocation per entry for it.
        let mut name = std::mem::take(&mut self.name);
        let next = if top.done {
            Ok(None)
        } else if let Some(sorted) = &mut top.sorted {
            Ok(sorted.next().map(|(n, t)| {
                name = n.into_vec();
                t
            }))
        } else {
            chain.read_into(&mut name)
        };
        match next {
            Ok(Some(d_type)) => self.visit(OsStr::from_bytes(&name), d_type),
            Ok(None) => self.leave(),
            Err(e) => {
                // A listing that fails half-way (EIO, a directory removed under us) ends that
                // directory, not the walk.
                top.done = true;
                let path = top.path.clone();
                let e = self.fail(e, "read directory", &path);
                self.pending.push_back(Err(e));
            }
        }
        self.name = name;
    }

    /// Leaves the innermost directory, yielding its entry under `contents_first`.
    fn leave(&mut self) {
        let chain = self.chain.as_mut().expect("running walks have a chain");
        let dir = self.dirs.pop().expect("checked by next");
        let popped = chain.pop();
        self.closed_upto = self.closed_upto.min(chain.open_from());
        if let Err(e) = popped {
            // The parent could not be found again where it was (moved, replaced, a mount put
            // on it): its remaining entries are not read; the walk goes on above it.
            if let Some(parent) = self.dirs.last_mut() {
                parent.done = true;
            }
            let e = self.fail(e, "walk", &dir.path);
            self.pending.push_back(Err(e));
        }
        self.pending.extend(dir.post.map(Ok));
    }

    /// Makes the entry for `name` of the innermost directory, and opens it if it is a
    /// directory to enter.
    fn visit(&mut self, name: &OsStr, d_type: rustix::fs::FileType) {
        let depth = self.dirs.len();
        let shared = self.shared();
        let chain = self.chain.as_mut().expect("running walks have a chain");
        let top = self.dirs.last_mut().expect("checked by next");
        let path = child_path(&top.path, name);
        let Ok(parent_fd) = chain.dir_fd() else {
            top.done = true;
            let e = self.root.annotate(Errno::BADF.into(), "walk", &path);
            return self.pending.push_back(Err(e));
        };
        if top.fd.is_none() {
            top.fd = rustix::io::fcntl_dupfd_cloexec(parent_fd, 0)
                .ok()
                .map(Arc::new);
        }
        let parent = top.fd.as_ref().map_or_else(Weak::new, Arc::downgrade);
        let (parent_id, parent_mount) = (top.id, top.mount);
        let mut file_type = FileType::from_rustix(d_type);
        if file_type == FileType::Unknown {
            // The file system does not say (some network and FUSE file systems): ask it.
            match rustix::fs::statat(parent_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => file_type = FileType::from_mode(st.st_mode),
                Err(e) => {
                    let e = self.root.annotate(e.syscall("fstatat"), "walk", &path);
                    return self.pending.push_back(Err(e));
                }
            }
        }
        let mut entry = WalkEntry {
            path,
            depth,
            file_type,
            mount_point: false,
            loc: Loc::In {
                parent,
                parent_id,
                target: None,
            },
            shared,
        };
        // With follow_links, a symlink is resolved inside the root, from the root.
        let mut followed_fd = None;
        if file_type == FileType::Symlink && self.opts.follow_links {
            let resolved = resolve::resolve(
                self.root.fd.as_fd(),
                entry.path.as_os_str().as_bytes(),
                &self.root.resolve_opts(),
                Trailing::Follow,
                OFlags::PATH,
            );
            match resolved {
                Ok(resolved) => match rustix::fs::fstat(&resolved.fd) {
                    Ok(st) => {
                        entry.file_type = FileType::from_mode(st.st_mode);
                        if let Loc::In { target, .. } = &mut entry.loc {
                            *target = Some(FileId::from_stat(&st));
                        }
                        followed_fd = Some(resolved.fd);
                    }
                    Err(e) => {
                        let e = self.root.annotate(e.syscall("fstat"), "walk", &entry.path);
                        return self.pending.push_back(Err(e));
                    }
                },
                // A dangling link is yielded as the link it is (as `find -L` does).
                Err(e) if matches!(e.errno(), Errno::NOENT) => {}
                Err(e) => {
                    let e = self.root.annotate(e, "follow symlink", &entry.path);
                    return self.pending.push_back(Err(e));
                }
            }
        }
        if entry.file_type != FileType::Dir || depth >= self.opts.max_depth {
            return self.emit(entry);
        }
        let followed = followed_fd.is_some();
        let opened = match &followed_fd {
            Some(fd) => rustix::fs::openat(
                fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ),
            // O_DIRECTORY: a FIFO or device put in the directory's place since the listing is
            // refused before it is opened; O_NOFOLLOW: a symlink put there is never followed.
            None => rustix::fs::openat(
                parent_fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ),
        };
        let fd = match opened {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::LOOP) if !followed => {
                // No longer a directory (swapped since the listing): yield what it is now.
                match rustix::fs::statat(parent_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => {
                        entry.file_type = FileType::from_mode(st.st_mode);
                        return self.emit(entry);
                    }
                    Err(e) => {
                        let e = self
                            .root
                            .annotate(e.syscall("fstatat"), "walk", &entry.path);
                        return self.pending.push_back(Err(e));
                    }
                }
            }
            Err(Errno::NOENT) => {
                let e = self
                    .root
                    .annotate(Errno::NOENT.syscall("openat"), "walk", &entry.path);
                return self.pending.push_back(Err(e));
            }
            Err(e) => {
                // Listed but not readable (EACCES): the entry, then its error.
                let path = entry.path.clone();
                self.emit(entry);
                let e = self
                    .root
                    .annotate(e.syscall("openat"), "read directory", &path);
                return self.pending.push_back(Err(e));
            }
        };
        let info = match sys::mount_info_at(&fd, "", AtFlags::EMPTY_PATH) {
            Ok(info) => info,
            Err(e) => {
                let path = entry.path.clone();
                self.emit(entry);
                let e = self.root.annotate(e.into(), "read directory", &path);
                return self.pending.push_back(Err(e));
            }
        };
        let id = info.file;
        entry.mount_point = info.mount_id != parent_mount;
        if followed && (self.dirs.iter().any(|d| d.id == id) || id == parent_id) {
            let e = Error::with_detail(
                crate::ErrorKind::SafetyViolation,
                Errno::LOOP,
                "a symlink leads back to a directory the walk is already in (a cycle)",
            );
            let e = self.root.annotate(e, "follow symlink", &entry.path);
            return self.pending.push_back(Err(e));
        }
        if self.opts.same_mount && Some(info.mount_id) != self.start_mount {
            return self.emit(entry);
        }
        let path = entry.path.clone();
        let post = if self.opts.contents_first {
            (depth >= self.opts.min_depth).then_some(entry)
        } else {
            self.emit(entry);
            None
        };
        self.to_enter = Some(ToEnter {
            name: name.to_os_string(),
            fd,
            id,
            mount: info.mount_id,
            path,
            followed,
            post,
        });
    }

    /// Yields `entry` unless it is shallower than `min_depth`.
    fn emit(&mut self, entry: WalkEntry) {
        if entry.depth >= self.opts.min_depth {
            self.pending.push_back(Ok(entry));
        }
    }
}

/// `dir/name`, allocated once at its final size (`Path::join` copies `dir`, then grows it).
fn child_path(dir: &Path, name: &OsStr) -> PathBuf {
    let dir = dir.as_os_str().as_bytes();
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(path))
}

/// Where a [`WalkEntry`] is, for its on-demand calls.
#[derive(Debug)]
enum Loc {
    /// The start of the walk: its own `O_PATH` fd.
    Own(Arc<OwnedFd>),
    /// An entry of a directory the walk listed.
    In {
        /// The directory's fd while the walk still holds it.
        parent: Weak<OwnedFd>,
        /// The directory's identity, to recognise it when it has to be resolved again.
        parent_id: FileId,
        /// With `follow_links`: the identity of the file the symlink led to.
        target: Option<FileId>,
    },
}

/// One entry of a [`Walk`]: a name the walk read from a directory (or the start path).
///
/// Cheap to make (the path, the type from the listing, the depth); everything else is asked
/// on demand, through the entry's parent directory fd and its name, never by path.
///
/// An entry holds no fd of its own: it shares its parent's with the walk while the walk holds
/// it. Used later (kept past the walk, or deep below it), an entry's calls resolve the parent
/// again by its path inside the root, and use it only if it is the directory the walk listed
/// (`EXDEV` otherwise); a path longer than `PATH_MAX` then gives `ENAMETOOLONG`.
#[derive(Debug)]
pub struct WalkEntry {
    path: PathBuf,
    depth: usize,
    file_type: FileType,
    mount_point: bool,
    loc: Loc,
    shared: Arc<Shared>,
}

impl WalkEntry {
    /// The entry's path inside the root: absolute, `/` for the root itself, names as they are
    /// on disk (non-UTF-8 bytes kept). Under `follow_links` it is the path of the link, not
    /// of its target.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry's name in its directory (`/` for the root itself).
    pub fn file_name(&self) -> &OsStr {
        self.path.file_name().unwrap_or(self.path.as_os_str())
    }

    /// How deep the entry is below the start of the walk (the start is 0).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The entry's type, from the directory listing (`d_type`); one `fstatat` was made when the
    /// file system did not give it. Under `follow_links`, the type of what the link leads to.
    /// As of the listing: the file may have changed since.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// Whether the entry is a directory on another mount than its parent directory (told by
    /// mount id): known for the directories the walk opened, `false` for other entries. For the
    /// start of the walk: whether it is the root of its mount.
    pub fn is_mount_point(&self) -> bool {
        self.mount_point
    }

    /// Whether the entry is a symlink the walk followed (`follow_links`).
    pub fn is_followed_link(&self) -> bool {
        matches!(
            self.loc,
            Loc::In {
                target: Some(_),
                ..
            }
        )
    }

    /// The entry's metadata, not following a symlink (as [`Root::symlink_metadata`]), or under
    /// `follow_links` the metadata of the file a followed link leads to: the entry is pinned by
    /// its parent's fd and its name (`openat` with `O_PATH | O_NOFOLLOW`) and one `statx` is made
    /// on the pin.
    pub fn metadata(&self) -> Result<Metadata> {
        let fd = self.pin().map_err(|e| self.fail(e, "stat"))?;
        metadata_of(fd.as_fd()).map_err(|e| self.fail(e, "stat"))
    }

    /// The target of the symlink the entry is (`readlinkat` through its parent's fd); under
    /// `follow_links`, still the link's own target. Not a symlink: `EINVAL`.
    pub fn link_target(&self) -> Result<PathBuf> {
        let fail = |e| self.fail(e, "readlink");
        match &self.loc {
            Loc::Own(fd) => readlink_fd(fd.as_fd()).map_err(fail),
            Loc::In { .. } => {
                let parent = self.parent_fd().map_err(fail)?;
                crate::fs::readlink(parent.as_fd(), self.file_name().as_bytes())
                    .map(|t| PathBuf::from(OsString::from_vec(t)))
                    .syscall("readlinkat")
                    .map_err(fail)
            }
        }
    }

    /// The extended attribute `name` of the entry itself (a symlink's own, never its
    /// target's), `None` when it has none of that name (`ENODATA`).
    ///
    /// Read with `getxattrat(parent, name, AT_SYMLINK_NOFOLLOW)` (Linux 6.13): nothing is
    /// opened, so a FIFO or device node is never opened to read it. Before 6.13, the entry
    /// is reopened through procfs for `fgetxattr` only when it is a regular file or a
    /// directory; other types are `NotSupported` (`EOPNOTSUPP`).
    pub fn read_xattr(&self, name: impl AsRef<OsStr>) -> Result<Option<Vec<u8>>> {
        let fail = |e| self.fail(e, "read xattr");
        let none_if_absent = |r: Result<Vec<u8>>| match r {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.errno() == Errno::NODATA => Ok(None),
            Err(e) => Err(fail(e)),
        };
        let xname = super::metadata::xattr_name(name.as_ref()).map_err(fail)?;
        if let Loc::In { .. } = self.loc {
            if !sys::features::known_unavailable(sys::features::Feature::Xattrat) {
                let parent = self.parent_fd().map_err(fail)?;
                let entry = std::ffi::CString::new(self.file_name().as_bytes())
                    .map_err(|_| fail(Errno::INVAL.into()))?;
                let got = super::metadata::read_growing(|buf| {
                    sys::attrs::getxattrat(
                        parent.as_fd(),
                        &entry,
                        AtFlags::SYMLINK_NOFOLLOW,
                        &xname,
                        buf,
                    )
                });
                match got {
                    Err(Errno::NOSYS) => {
                        sys::features::mark_unavailable(sys::features::Feature::Xattrat)
                    }
                    Err(Errno::NODATA) => return Ok(None),
                    other => return other.syscall("getxattrat").map(Some).map_err(fail),
                }
            }
        }
        // The start (an O_PATH fd, which getxattrat refuses), or a kernel before 6.13: the
        // handle's own way, which reopens only regular files, directories and FIFOs; a FIFO is
        // not opened here.
        let fd = self.pin_nofollow().map_err(fail)?;
        let st = rustix::fs::fstat(&fd).syscall("fstat").map_err(fail)?;
        match FileType::from_mode(st.st_mode) {
            FileType::File | FileType::Dir => {}
            FileType::Symlink if matches!(self.loc, Loc::Own(_)) => {}
            other => {
                return Err(fail(Error::with_detail(
                    crate::ErrorKind::NotSupported,
                    Errno::OPNOTSUPP,
                    format!(
                        "reading an xattr of a {} needs getxattrat (Linux 6.13): opening it \
                         could have side effects",
                        other.description()
                    ),
                )))
            }
        }
        none_if_absent(self.handle_of(fd).read_xattr(name.as_ref()))
    }

    /// Opens the entry with `flags`, type-checked as [`Root::open_file`]: pinned by its
    /// parent's fd and its name with `O_PATH | O_NOFOLLOW` (under `follow_links`, the link's
    /// target, resolved again inside the root and checked to be the file the walk saw), then
    /// reopened through procfs; a symlink is `ELOOP`, and a FIFO, socket or device node is
    /// refused (`ENXIO`) unless the root allows special files ([`Root::with_special_files`]).
    /// `O_CREAT`, `O_EXCL` and `O_TMPFILE` are `InvalidInput`.
    pub fn open(&self, flags: OFlags) -> Result<File> {
        let fail = |e| self.fail(e, "open");
        if flags.contains(OFlags::CREATE)
            || flags.contains(OFlags::TMPFILE)
            || flags.contains(OFlags::EXCL)
        {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                "O_CREAT, O_EXCL and O_TMPFILE are not accepted by open",
            )));
        }
        let fd = self.pin().map_err(fail)?;
        if flags.contains(OFlags::PATH) {
            return Ok(File::from(fd));
        }
        reopen_fd(fd.as_fd(), flags, self.shared.root.special).map_err(fail)
    }

    /// An `O_PATH` [`Handle`] of the entry (under `follow_links`, of the link's target), whose
    /// [`Handle::path_in_root`] is the entry's path (the target's, for a followed link).
    pub fn open_handle(&self) -> Result<Handle> {
        let fd = self.pin().map_err(|e| self.fail(e, "resolve"))?;
        if self.is_followed_link() {
            // The target's own path is the resolver's to compute.
            let resolved = Resolved {
                fd,
                path: None,
                last: None,
                backend: BackendUsed::Kernel,
            };
            let input = self.path.as_os_str().as_bytes();
            return Ok(Handle::new(
                resolved,
                &self.shared.root,
                input,
                Trailing::Follow,
            ));
        }
        Ok(self.handle_of(fd))
    }

    /// A handle of the entry itself from its pin, its path known from the walk.
    fn handle_of(&self, fd: OwnedFd) -> Handle {
        let path = self.path.as_os_str().as_bytes();
        let resolved = Resolved {
            fd,
            path: Some(path.to_vec()),
            last: None,
            backend: BackendUsed::Emulated,
        };
        Handle::new(resolved, &self.shared.root, path, Trailing::NoFollow)
    }

    fn fail(&self, err: Error, op: &'static str) -> Error {
        self.shared.root.annotate(err, op, &self.path)
    }

    /// The parent directory's fd: the walk's while it holds it, else the parent resolved again
    /// inside the root, which must be the directory the walk listed.
    fn parent_fd(&self) -> Result<Arc<OwnedFd>> {
        let Loc::In {
            parent, parent_id, ..
        } = &self.loc
        else {
            return Err(Errno::INVAL.into());
        };
        if let Some(fd) = parent.upgrade() {
            return Ok(fd);
        }
        let root = &self.shared.root;
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let fd = resolve::resolve(
            root.fd.as_fd(),
            dir.as_os_str().as_bytes(),
            &root.resolve_opts(),
            Trailing::Follow,
            OFlags::PATH | OFlags::DIRECTORY,
        )?
        .fd;
        if FileId::of(&fd).syscall("fstat")? != *parent_id {
            return Err(super::tree::moved(dir));
        }
        Ok(Arc::new(fd))
    }

    /// An `O_PATH | O_NOFOLLOW` fd of the entry itself.
    fn pin_nofollow(&self) -> Result<OwnedFd> {
        match &self.loc {
            Loc::Own(fd) => Ok(rustix::io::fcntl_dupfd_cloexec(fd, 0).syscall("fcntl")?),
            Loc::In { .. } => {
                let parent = self.parent_fd()?;
                rustix::fs::openat(
                    &*parent,
                    self.file_name(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .syscall("openat")
            }
        }
    }

    /// What the entry's calls act on: [`WalkEntry::pin_nofollow`], or for a followed link its
    /// target, resolved again inside the root and checked to be the file the walk saw.
    fn pin(&self) -> Result<OwnedFd> {
        let Loc::In {
            target: Some(target),
            ..
        } = &self.loc
        else {
            return self.pin_nofollow();
        };
        let root = &self.shared.root;
        let fd = resolve::resolve(
            root.fd.as_fd(),
            self.path.as_os_str().as_bytes(),
            &root.resolve_opts(),
            Trailing::Follow,
            OFlags::PATH,
        )?
        .fd;
        if FileId::of(&fd).syscall("fstat")? != *target {
            return Err(Error::escape(
                "the symlink leads to another file than when the walk followed it",
            ));
        }
        Ok(fd)
    }
}
