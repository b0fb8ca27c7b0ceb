//! The emulated resolver: a userspace walk that gives the same answers as `openat2(2)`.
//!
//! It is safe without procfs: the walker keeps a stack of the directory fds it descended through,
//! and `..` pops that stack; it never opens `..`. A concurrent rename can move a held directory
//! anywhere, but popping only ever returns to a directory walked through from the root, so there is
//! no race to win and nothing to re-check. An absolute symlink (in the in-root policies) drops the
//! whole stack and restarts at the root.
//!
//! Each component costs one `openat(O_PATH|O_NOFOLLOW|O_DIRECTORY)`; only an `ENOTDIR` asks
//! `readlinkat` whether the name is a symlink. A procfs symlink whose target is absolute or has a
//! `:` is treated as magic (`fstatfs` asked only then).
//!
//! Before it follows a symlink the walker applies the kernel's refusals (`pick_link`), in the
//! kernel's order ([`Walker::refuse_link`]): a 41st link (`ELOOP`); a trailing link protected by
//! `fs.protected_symlinks` (`EACCES`); any link under `RESOLVE_NO_SYMLINKS` or on an
//! `MS_NOSYMFOLLOW` mount, judged by the *link's own* mount ([`link_is_nosymfollow`]) (`ELOOP`).
//! The facts are asked only when a symlink is about to be followed, once per directory, so a path
//! without symlinks pays nothing for them.
//!
//! The full account: docs/ARCHITECTURE.md, "The emulated walker".

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::options::{Policy, ResolveFlags, ResolveOptions, Trailing};
use super::path::next_component;
use super::{MountCrossingCheck, Resolved};
use crate::error::{Error, Result};
use crate::fs::FileId;
use crate::sys::{self, MountId, MAXSYMLINKS, PATH_MAX};

/// What the walker learned about a directory, asked only when a symlink in it is about to be
/// followed (see the module documentation).
#[derive(Clone, Copy, Default)]
struct DirFacts {
    /// Its mount has `MS_NOSYMFOLLOW` (`fstatfs`): the flag of every link in it that nothing is
    /// mounted on.
    nosymfollow: Option<bool>,
    /// Its mode and owner (`fstat`), for `fs.protected_symlinks`.
    mode_uid: Option<(u32, u32)>,
}

/// One directory on the stack.
struct Frame {
    fd: OwnedFd,
    /// `names.len()` before its name was pushed, to pop names without searching.
    mark: usize,
    facts: DirFacts,
}

/// The directories the walk descended through, below the root, with their names.
struct Stack {
    fds: Vec<Frame>,
    /// `/a/b/c`: the path inside the root of the top of the stack; empty for the root itself.
    names: Vec<u8>,
    /// The facts of the root itself, which is never on the stack; kept across restarts.
    root_facts: DirFacts,
}

impl Stack {
    fn new() -> Self {
        Stack {
            fds: Vec::with_capacity(16),
            names: Vec::with_capacity(256),
            root_facts: DirFacts::default(),
        }
    }

    fn top<'a>(&'a self, root: BorrowedFd<'a>) -> BorrowedFd<'a> {
        self.fds.last().map_or(root, |f| f.fd.as_fd())
    }

    /// The top directory with its facts, to learn them in place.
    fn top_with_facts<'a>(
        &'a mut self,
        root: BorrowedFd<'a>,
    ) -> (BorrowedFd<'a>, &'a mut DirFacts) {
        match self.fds.last_mut() {
            Some(f) => (f.fd.as_fd(), &mut f.facts),
            None => (root, &mut self.root_facts),
        }
    }

    fn push(&mut self, fd: OwnedFd, name: &[u8]) {
        self.fds.push(Frame {
            fd,
            mark: self.names.len(),
            facts: DirFacts::default(),
        });
        self.names.push(b'/');
        self.names.extend_from_slice(name);
    }

    fn pop(&mut self) -> Option<OwnedFd> {
        let frame = self.fds.pop()?;
        self.names.truncate(frame.mark);
        Some(frame.fd)
    }

    /// Pops the top directory but leaves the names, which then still name it.
    fn pop_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop().map(|f| f.fd)
    }

    fn clear(&mut self) {
        self.fds.clear();
        self.names.clear();
    }

    /// The in-root path of the top of the stack, with `name` appended if given. Called once, at
    /// the end of the walk, so it takes the buffer instead of copying it.
    fn take_path(&mut self, name: Option<&[u8]>) -> Vec<u8> {
        let mut path = std::mem::take(&mut self.names);
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        path
    }
}

/// What opening one component gave.
enum Step {
    /// A file or directory (or, when not following, a symlink).
    Opened(OwnedFd),
    /// A symlink to follow; its target was appended to the buffer the caller passed.
    Symlink,
}

/// Resolves `path` under `root` in userspace. `oflags` are the flags for the final open; the
/// caller has already validated `path` and folded `O_NOFOLLOW` into `trailing`.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    crossing: Option<MountCrossingCheck<'_>>,
) -> Result<Resolved> {
    walk(root, path, opts, trailing, oflags, crossing, true)
}

/// [`resolve`] without `fs.protected_symlinks`, only to find the name of a file the kernel
/// already opened by this very path (`Root`'s path-in-root walk, which compares what it reaches
/// with that file by (dev, ino) and retries otherwise): the kernel applied the sysctl with its
/// real value when it opened it, and the walker's copy of that rule could only disagree, where
/// the value is unknown and taken as 1 (a process confined without reading it), refusing to name
/// a file the kernel followed a link to.
pub(crate) fn resolve_naming(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
) -> Result<Resolved> {
    walk(root, path, opts, trailing, oflags, None, false)
}

/// The walk of [`resolve`] and [`resolve_naming`].
fn walk(
    root: BorrowedFd<'_>,
    path: &[u8],
    opts: &ResolveOptions,
    trailing: Trailing,
    oflags: OFlags,
    crossing: Option<MountCrossingCheck<'_>>,
    protected_rule: bool,
) -> Result<Resolved> {
    let mut walker = Walker {
        root,
        policy: opts.policy,
        flags: opts.flags,
        trailing,
        oflags: oflags | OFlags::CLOEXEC,
        root_mount: None,
        crossing,
        accepted_mounts: Vec::new(),
        fsuid: None,
        protected_rule,
        failed: None,
    };
    walker
        .run(path)
        .map_err(|errno| match walker.failed.take() {
            Some((syscall, at, args)) if at == errno => {
                Error::from_errno(errno).with_syscall(syscall, args)
            }
            _ => Error::from_errno(errno),
        })
}

struct Walker<'r> {
    root: BorrowedFd<'r>,
    policy: Policy,
    flags: ResolveFlags,
    trailing: Trailing,
    oflags: OFlags,
    /// The root's mount, fetched on the first `NO_XDEV` check.
    root_mount: Option<MountId>,
    /// Decides whether a mount crossing that `NO_XDEV` would refuse is acceptable after all.
    crossing: Option<MountCrossingCheck<'r>>,
    /// Mounts that `crossing` accepted during this walk: their contents pass `NO_XDEV` too.
    accepted_mounts: Vec<MountId>,
    /// The thread's fsuid, asked the first time `fs.protected_symlinks` needs it.
    fsuid: Option<u32>,
    /// Whether to apply `fs.protected_symlinks` (not when naming a file the kernel opened:
    /// [`resolve_naming`]).
    protected_rule: bool,
    /// The syscall whose errno ends the walk, with that errno and its arguments, for the
    /// error message. Recorded only where a syscall's errno is returned as the walk's answer
    /// (never for errnos the walker uses to decide, such as `ENOTDIR` before `readlinkat`),
    /// and only on that error path: a successful walk never touches it.
    failed: Option<(&'static str, Errno, Option<String>)>,
}

impl Walker<'_> {
    /// Records that `syscall` on `name` with `flags` failed with `errno`, which the walk
    /// returns; see [`Walker::failed`].
    #[cold]
    fn failed(&mut self, syscall: &'static str, name: &[u8], flags: OFlags, errno: Errno) -> Errno {
        use std::os::unix::ffi::OsStrExt;
        let args = sys::args(None, std::ffi::OsStr::from_bytes(name), flags);
        self.failed = Some((syscall, errno, Some(args)));
        errno
    }

    /// [`Walker::failed`] for a call the syscall layer named (the mount-id lookups).
    #[cold]
    fn failed_call(&mut self, err: sys::SyscallError) -> Errno {
        self.failed = Some((err.syscall, err.errno, None));
        err.errno
    }

    fn run(&mut self, path: &[u8]) -> Result<Resolved, Errno> {
        // An absolute path is an escape under RESOLVE_BENEATH (kernel: path_init ->
        // nd_jump_root -> EXDEV). The in-root policies start at the root either way.
        if path.first() == Some(&b'/') && self.policy == Policy::Beneath {
            return Err(Errno::XDEV);
        }
        let mut stack = Stack::new();
        // The input is only copied once a symlink has to be spliced into it. Splicing reads the
        // link's target straight into `spare` and appends the rest of the path there; the two
        // buffers then swap roles, so a walk allocates at most twice however many links it
        // follows, and never zeroes a PATH_MAX buffer (which showed up as the top userspace
        // cost of symlink-heavy walks).
        let mut buf: Cow<'_, [u8]> = Cow::Borrowed(path);
        let mut spare: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut links_followed = 0u32;

        loop {
            let Some(c) = next_component(&buf, pos) else {
                // Only slashes were left: "/", or a symlink whose target is "/".
                return self.finish_at_dir(&mut stack);
            };
            pos = c.end;
            if c.name == b"." || c.name == b".." {
                // The kernel needs search permission on a directory to look up any name in it,
                // `.` and `..` included (may_lookup). Names are checked by the openat below;
                // dots never reach a syscall, so ask explicitly.
                if let Err(errno) = check_search(stack.top(self.root)) {
                    return Err(self.failed("faccessat", b".", OFlags::empty(), errno));
                }
            }
            match c.name {
                b"." => {
                    if c.is_last {
                        return self.finish_at_dir(&mut stack);
                    }
                    continue;
                }
                b".." => {
                    if stack.pop().is_none() && self.policy != Policy::InRoot {
                        // `..` at the root: clamped under InRoot (RESOLVE_IN_ROOT), an escape
                        // under the other policies (RESOLVE_BENEATH's follow_dotdot -> EXDEV).
                        return Err(Errno::XDEV);
                    }
                    if c.is_last {
                        return self.finish_at_dir(&mut stack);
                    }
                    continue;
                }
                _ => {}
            }

            if c.is_last && self.trailing == Trailing::ParentOnly {
                let name = c.name.to_vec();
                let fd = match stack.pop_fd() {
                    Some(fd) => fd,
                    None => self.reopen_dir(self.root, OFlags::PATH | OFlags::DIRECTORY)?,
                };
                let path = stack.take_path(Some(&name));
                return Ok(Resolved::emulated(fd, path, Some(name)));
            }

            // A component that is not last, or is last with a trailing slash, must be a
            // directory and is always followed (kernel: lookup_last sets LOOKUP_FOLLOW |
            // LOOKUP_DIRECTORY for a trailing slash).
            let must_be_dir = !c.is_last || c.trailing_slash;
            let follow = must_be_dir || self.trailing == Trailing::Follow;
            // With NO_XDEV, a last component that the caller opens for real (O_TRUNC, O_WRONLY)
            // is first opened O_PATH and checked, so that nothing happens to a file on another
            // mount; `reopen_checked` then opens it for real.
            let xdev_probe = c.is_last
                && self.flags.contains(ResolveFlags::NO_XDEV)
                && !self.oflags.contains(OFlags::PATH);
            let open_flags = if c.is_last {
                let mut flags = if xdev_probe {
                    OFlags::PATH | OFlags::CLOEXEC
                } else {
                    self.oflags
                } | OFlags::NOFOLLOW;
                if c.trailing_slash {
                    flags |= OFlags::DIRECTORY;
                }
                flags
            } else {
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC
            };

            // The kernel's "trailing" link, the only kind `fs.protected_symlinks` applies to: the
            // last component of the whole path (symlink bodies spliced in, as here). With
            // ParentOnly, the kernel backend opens the parent as a path of its own, whose last
            // component is then trailing; the walker gives the same answer.
            let trailing_link = c.is_last
                || (self.trailing == Trailing::ParentOnly
                    && next_component(&buf, c.end)
                        .is_some_and(|n| n.is_last && n.name != b"." && n.name != b".."));
            let (parent, facts) = stack.top_with_facts(self.root);
            spare.clear();
            match self.open_component(
                parent,
                facts,
                c.name,
                open_flags,
                Link {
                    follow,
                    trailing: trailing_link,
                    followed: links_followed,
                },
                &mut spare,
            )? {
                Step::Opened(fd) => {
                    if c.is_last {
                        let fd = if xdev_probe {
                            let flags = (open_flags - OFlags::PATH) | self.oflags;
                            reopen_checked(stack.top(self.root), c.name, flags, &fd)
                                .map_err(|e| self.failed("openat", c.name, flags, e))?
                        } else {
                            fd
                        };
                        let path = stack.take_path(Some(c.name));
                        return Ok(Resolved::emulated(fd, path, None));
                    }
                    stack.push(fd, c.name);
                }
                Step::Symlink => {
                    let parent = stack.top(self.root);
                    self.check_symlink(parent, c.name, &spare)?;
                    links_followed += 1;
                    if spare[0] == b'/' {
                        // RESOLVE_BENEATH refuses absolute symlinks; the in-root policies
                        // restart at the root (nd_jump_root).
                        if self.policy == Policy::Beneath {
                            return Err(Errno::XDEV);
                        }
                        stack.clear();
                    }
                    // Splice the target in place of the name: the rest of the path (starting
                    // with its slash, or empty) follows the target.
                    // The kernel has no limit on this total (it keeps a stack of link bodies);
                    // the 40-link budget bounds it to about 41 * PATH_MAX.
                    spare.extend_from_slice(&buf[pos..]);
                    let next = std::mem::take(&mut spare);
                    if let Cow::Owned(previous) = std::mem::replace(&mut buf, Cow::Owned(next)) {
                        spare = previous;
                    }
                    pos = 0;
                }
            }
        }
    }

    /// Refusals of a symlink that depend on its target, after [`Walker::refuse_link`] let it
    /// be read (kernel: `nd_jump_link` for magic links).
    fn check_symlink(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        target: &[u8],
    ) -> Result<(), Errno> {
        if is_magic_link(parent, name, target)? {
            // NO_MAGICLINKS refuses with ELOOP; without it, the kernel still refuses a magic
            // jump in a scoped (IN_ROOT or BENEATH) lookup, with EXDEV.
            return Err(if self.flags.contains(ResolveFlags::NO_MAGICLINKS) {
                Errno::LOOP
            } else {
                Errno::XDEV
            });
        }
        if target.is_empty() {
            // Linux cannot create an empty symlink; a crafted file system image can.
            return Err(Errno::NOENT);
        }
        Ok(())
    }

    /// What the kernel's `pick_link` refuses before it reads a symlink, in its order: one past
    /// the budget of [`MAXSYMLINKS`] (`ELOOP`); a trailing link that `fs.protected_symlinks`
    /// protects (`EACCES`); any link under `NO_SYMLINKS` or on an `MS_NOSYMFOLLOW` mount
    /// (`ELOOP`).
    ///
    /// `link_uid` is the link's owner, known when the link was opened (`O_PATH`) and fstat'ed;
    /// it is `None` only when the link cannot be protected (not trailing, or its directory is
    /// not sticky and world-writable), which the caller found out first.
    fn refuse_link(
        &mut self,
        dir: BorrowedFd<'_>,
        facts: &mut DirFacts,
        link: Link,
        link_uid: Option<u32>,
        at: LinkAt<'_>,
    ) -> Result<(), Errno> {
        if link.followed >= MAXSYMLINKS {
            return Err(Errno::LOOP);
        }
        if let (true, Some(uid)) = (link.trailing, link_uid) {
            if self.protected(dir, facts, uid)? {
                return Err(Errno::ACCESS);
            }
        }
        if self.flags.contains(ResolveFlags::NO_SYMLINKS) {
            return Err(Errno::LOOP);
        }
        if link_is_nosymfollow(dir, facts, at)? {
            return Err(Errno::LOOP);
        }
        Ok(())
    }

    /// Whether the kernel's `may_follow_link` would refuse a trailing link owned by `link_uid`
    /// in `dir`: the directory is sticky and world-writable, neither the follower's fsuid nor
    /// the directory's owner is the link's owner (owning the directory does not help the
    /// follower), and `fs.protected_symlinks` is on (read last: the other tests are cheaper and
    /// usually settle it). Root is no exception.
    fn protected(
        &mut self,
        dir: BorrowedFd<'_>,
        facts: &mut DirFacts,
        link_uid: u32,
    ) -> Result<bool, Errno> {
        if !self.protected_rule || super::protected::known_off() {
            return Ok(false);
        }
        let (dir_mode, dir_uid) = dir_mode_uid(dir, facts)?;
        if !is_sticky_world_writable(dir_mode) || dir_uid == link_uid {
            return Ok(false);
        }
        let fsuid = *self.fsuid.get_or_insert_with(sys::fsuid);
        Ok(fsuid != link_uid && super::protected::enabled())
    }

    /// Opens `name` in `parent` with `flags` (which include `O_NOFOLLOW`), and finds out whether
    /// it is a symlink that should be followed instead; if so, its target is appended to
    /// `target`.
    fn open_component(
        &mut self,
        parent: BorrowedFd<'_>,
        facts: &mut DirFacts,
        name: &[u8],
        flags: OFlags,
        link: Link,
        target: &mut Vec<u8>,
    ) -> Result<Step, Errno> {
        let fd = match rustix::fs::openat(parent, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // O_DIRECTORY|O_NOFOLLOW on a symlink is ENOTDIR (do_open checks the directory
            // before the file type); a non-O_PATH O_NOFOLLOW open of a symlink is ELOOP.
            Err(errno @ (Errno::NOTDIR | Errno::LOOP)) if link.follow => {
                if link.trailing
                    && self.protected_rule
                    && !super::protected::known_off()
                    && is_sticky_world_writable(dir_mode_uid(parent, facts)?.0)
                {
                    // fs.protected_symlinks may refuse it, by its owner: take the owner and the
                    // target from one inode, which a rename cannot swap in between.
                    let fd = open_link(parent, name)?;
                    let st = rustix::fs::fstat(&fd)?;
                    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                        // Not a symlink (any more): what the open said stands.
                        return Err(self.failed("openat", name, flags, errno));
                    }
                    self.refuse_link(parent, facts, link, Some(st.st_uid), LinkAt::Fd(fd.as_fd()))?;
                    readlink_append(&fd, b"", target)?;
                    return Ok(Step::Symlink);
                }
                return match readlink_append(parent, name, target) {
                    Ok(()) => {
                        self.refuse_link(parent, facts, link, None, LinkAt::Name(parent, name))?;
                        Ok(Step::Symlink)
                    }
                    Err(Errno::INVAL) => Err(self.failed("openat", name, flags, errno)),
                    // It is a symlink we could not read (EACCES on another process's magic
                    // link): the kernel refuses before reading, so its refusals come first.
                    Err(other) => Err(
                        match self.refuse_link(
                            parent,
                            facts,
                            link,
                            None,
                            LinkAt::Name(parent, name),
                        ) {
                            Err(refused) => refused,
                            Ok(()) => self.failed("readlinkat", name, OFlags::empty(), other),
                        },
                    ),
                };
            }
            Err(errno) => return Err(self.failed("openat", name, flags, errno)),
        };
        if link.follow && flags.contains(OFlags::PATH) && !flags.contains(OFlags::DIRECTORY) {
            // O_PATH|O_NOFOLLOW opened whatever the name is, symlinks included.
            let st = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                self.refuse_link(parent, facts, link, Some(st.st_uid), LinkAt::Fd(fd.as_fd()))?;
                readlink_append(&fd, b"", target)?;
                return Ok(Step::Symlink);
            }
        }
        self.check_xdev(parent, name, &fd)?;
        Ok(Step::Opened(fd))
    }

    /// `NO_XDEV`: refuses an fd on another mount than the root (kernel: `RESOLVE_NO_XDEV`).
    fn check_xdev(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        fd: &OwnedFd,
    ) -> Result<(), Errno> {
        if !self.flags.contains(ResolveFlags::NO_XDEV) {
            return Ok(());
        }
        let root_mount = match self.root_mount {
            Some(id) => id,
            None => {
                let id = sys::mount_id(self.root).map_err(|e| self.failed_call(e))?;
                *self.root_mount.insert(id)
            }
        };
        let mount = sys::mount_id(fd).map_err(|e| self.failed_call(e))?;
        if mount == root_mount || self.accepted_mounts.contains(&mount) {
            return Ok(());
        }
        match self.crossing {
            Some(check) if check(parent, name, fd.as_fd())? => {
                self.accepted_mounts.push(mount);
                Ok(())
            }
            _ => Err(Errno::XDEV),
        }
    }

    /// The walk ended on the directory at the top of the stack (`.`, `..`, or only slashes).
    fn finish_at_dir(&mut self, stack: &mut Stack) -> Result<Resolved, Errno> {
        let wants_plain_path = self.oflags.contains(OFlags::PATH)
            && (self.oflags
                - (OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC))
                .is_empty();
        let fd = match stack.pop_fd() {
            // The stack already holds exactly the O_PATH directory fd the caller wants.
            Some(fd) if wants_plain_path => fd,
            Some(fd) => self.reopen_dir(fd.as_fd(), self.oflags)?,
            None => self.reopen_dir(self.root, self.oflags)?,
        };
        // Popping the fd above left the names alone: they still name this directory.
        Ok(Resolved::emulated(fd, stack.take_path(None), None))
    }

    /// Opens the directory `dir` itself with `flags`.
    fn reopen_dir(&mut self, dir: BorrowedFd<'_>, flags: OFlags) -> Result<OwnedFd, Errno> {
        let flags = flags | OFlags::CLOEXEC;
        rustix::fs::openat(dir, ".", flags, Mode::empty())
            .map_err(|e| self.failed("openat", b".", flags, e))
    }
}

/// A symlink candidate, as the kernel would classify it.
#[derive(Clone, Copy)]
struct Link {
    /// It is to be followed if it is a symlink.
    follow: bool,
    /// It is the kernel's trailing link (the last component of the whole path).
    trailing: bool,
    /// Links followed so far in this walk.
    followed: u32,
}

/// Where the symlink about to be followed is: an `O_PATH` fd of the link itself, or its name in
/// its directory (the name a lookup crosses any mount on, as the kernel's does).
#[derive(Clone, Copy)]
enum LinkAt<'a> {
    Fd(BorrowedFd<'a>),
    Name(BorrowedFd<'a>, &'a [u8]),
}

/// Whether the kernel would refuse to follow the link at `at` because its mount has
/// `MS_NOSYMFOLLOW` (`pick_link` asks about the link's own mount, `link->mnt`).
///
/// The link is on its directory's mount unless something is mounted on the link itself (a
/// symlink bind-mounted onto a symlink, with its own flags: libpathrs's
/// `symlink_itself_nosymfollow` and `symlink_itself_nested_clear_symfollow`). One `statx` of
/// the link tells (`STATX_ATTR_MOUNT_ROOT`): on the directory's mount, the directory's flag
/// stands (one `fstatfs` per directory, kept in `facts`); a mount root is asked for its own
/// flag (an `O_PATH` open of the name, which crosses onto the mount on top as the kernel's
/// lookup does, then `fstatfs`). Where the attribute is unknown (before Linux 5.8, or without
/// `statx`) the link itself is always asked. Only links cost this: a path without symlinks
/// makes no extra syscall.
fn link_is_nosymfollow(
    dir: BorrowedFd<'_>,
    facts: &mut DirFacts,
    at: LinkAt<'_>,
) -> Result<bool, Errno> {
    let info = match at {
        LinkAt::Fd(fd) => sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH),
        LinkAt::Name(parent, name) => sys::mount_info_at(parent, name, AtFlags::SYMLINK_NOFOLLOW),
    }
    .map_err(|e| e.errno)?;
    if info.mount_root == Some(false) {
        return match facts.nosymfollow {
            Some(known) => Ok(known),
            None => Ok(*facts.nosymfollow.insert(sys::is_nosymfollow(dir)?)),
        };
    }
    match at {
        LinkAt::Fd(fd) => sys::is_nosymfollow(fd),
        LinkAt::Name(parent, name) => sys::is_nosymfollow(open_link(parent, name)?),
    }
}

/// `name` in `parent` itself, not followed (`O_PATH | O_NOFOLLOW`): a symlink as an fd, on
/// whatever mount sits on it, as the kernel's lookup would find it.
fn open_link(parent: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A directory's mode and owner, from `facts` or one `fstat`.
fn dir_mode_uid(dir: BorrowedFd<'_>, facts: &mut DirFacts) -> Result<(u32, u32), Errno> {
    if let Some(known) = facts.mode_uid {
        return Ok(known);
    }
    let st = rustix::fs::fstat(dir)?;
    Ok(*facts.mode_uid.insert((st.st_mode, st.st_uid)))
}

/// Sticky and world-writable (`/tmp`'s 1777): where `fs.protected_symlinks` applies.
fn is_sticky_world_writable(mode: u32) -> bool {
    let want = Mode::SVTX.bits() | Mode::WOTH.bits();
    mode & want == want
}

/// Whether the symlink `name` in `parent`, with target `target`, is a procfs magic link.
///
/// Magic links only live in process and task directories: `exe`, `cwd` and `root` in them, and
/// every link in their `fd/`, `map_files/` and `ns/` subdirectories. Their targets are `d_path`
/// output (absolute) or `type:[id]` / `anon_inode:name`. Ordinary procfs symlinks (`self`,
/// `mounts`, `/proc/fs/xfs/stat -> /sys/fs/xfs/stats/stats`) live elsewhere, some with absolute
/// targets, so the target alone cannot tell them apart; the place does.
///
/// Getting this wrong can never cause an escape: the walker does not let the kernel follow any
/// symlink, it walks the target string inside the root. The classification only decides whether
/// the emulated walker reports the kernel's `ELOOP`/`EXDEV` for a magic link.
fn is_magic_link(parent: BorrowedFd<'_>, name: &[u8], target: &[u8]) -> Result<bool, Errno> {
    let magic_shaped = target.first() == Some(&b'/') || target.contains(&b':');
    // Only these names can be magic links, so the common absolute symlink (`var/run -> /run`)
    // costs no syscall here.
    if !magic_shaped || !has_magic_link_name(name) || !sys::is_procfs(parent)? {
        return Ok(false);
    }
    // A process or task directory is the one procfs directory with an `fdinfo` subdirectory.
    let is_process_dir = |dir: &[u8]| -> Result<bool, Errno> {
        match rustix::fs::statat(parent, dir, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::ACCESS) => Ok(false),
            Err(e) => Err(e),
        }
    };
    if matches!(name, b"exe" | b"cwd" | b"root") {
        return is_process_dir(b"fdinfo");
    }
    // `fd/3`, `map_files/7f00-7f10`, `ns/net`: the parent's parent is a process directory. A
    // stat through `..` only reads; nothing outside the root is opened or handed out.
    is_process_dir(b"../fdinfo")
}

/// Whether `name` is one procfs gives magic links: `exe`, `cwd`, `root`; an fd number (`fd/3`);
/// a namespace (`ns/net`); a mapping (`map_files/7f00-7f10`).
fn has_magic_link_name(name: &[u8]) -> bool {
    const NAMESPACES: [&[u8]; 10] = [
        b"cgroup",
        b"ipc",
        b"mnt",
        b"net",
        b"pid",
        b"pid_for_children",
        b"time",
        b"time_for_children",
        b"user",
        b"uts",
    ];
    let is_hex_range = |n: &[u8]| {
        n.split(|&b| b == b'-').count() == 2
            && n.iter().all(|&b| b == b'-' || b.is_ascii_hexdigit())
    };
    matches!(name, b"exe" | b"cwd" | b"root")
        || (!name.is_empty() && name.iter().all(u8::is_ascii_digit))
        || NAMESPACES.contains(&name)
        || is_hex_range(name)
}

/// Checks search (execute) permission on `dir`, as the kernel does before looking up `.` or `..`
/// in it: `faccessat(dir, ".", X_OK, AT_EACCESS)`.
fn check_search(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    rustix::fs::accessat(dir, ".", rustix::fs::Access::EXEC_OK, AtFlags::EACCESS)
}

/// `readlinkat(dirfd, name)`, appending the target to `out`. The kernel writes straight into
/// `out`'s spare capacity (at least `PATH_MAX` bytes, which no target exceeds), so nothing is
/// zeroed or copied.
fn readlink_append<Fd: AsFd>(dirfd: Fd, name: &[u8], out: &mut Vec<u8>) -> Result<(), Errno> {
    out.reserve(PATH_MAX);
    rustix::fs::readlinkat_raw(dirfd, name, rustix::buffer::spare_capacity(out))?;
    Ok(())
}

/// Opens `name` in `parent` for real and checks it is the object `probe` (an `O_PATH` fd of the
/// same name) refers to. A mismatch means the name was replaced in between (a rename or a mount
/// race), which is reported as `EXDEV` like any other crossing the probe would have caught.
fn reopen_checked(
    parent: BorrowedFd<'_>,
    name: &[u8],
    flags: OFlags,
    probe: &OwnedFd,
) -> Result<OwnedFd, Errno> {
    let fd = rustix::fs::openat(parent, name, flags, Mode::empty())?;
    let (a, b) = (rustix::fs::fstat(&fd)?, rustix::fs::fstat(probe)?);
    if FileId::from_stat(&a) != FileId::from_stat(&b) {
        return Err(Errno::XDEV);
    }
    Ok(fd)
}
