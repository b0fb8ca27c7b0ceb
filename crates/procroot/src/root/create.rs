//! Creating files and directories inside a [`Root`]: [`Root::create_file`], [`Root::mkdir`] and
//! [`Root::mkdir_all`].
//!
//! Every operation finds the directory it acts in through the resolver
//! ([`Root::parent_and_name`], [`Root::resolve`]) and then makes exactly one `*at` syscall
//! relative to that fd with a single-component name. The name is never looked up by us first, so
//! there is no check-then-use window on it: the kernel's own answer for that one name (`EEXIST`,
//! `ELOOP`, `EISDIR`, ...) is the answer.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{Handle, Root};
use crate::error::Quoted;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::FileId;
use crate::fs::FileType;
use crate::resolve::path::{self, parent_of, with_trailing_slash, Component};
use crate::resolve::{ResolveFlags, Resolved, Trailing};
use crate::sys;
use crate::sys::{Syscall as _, SyscallErrno as _};

/// Mode bits `open(2)` and `mknod(2)` understand: permissions plus setuid, setgid and sticky.
const FILE_MODE_BITS: u32 = 0o7777;
/// Mode bits `mkdir(2)` honours. It silently drops setuid and setgid (setgid is inherited from
/// the parent instead), so asking for them would be a request we cannot honour.
const DIR_MODE_BITS: u32 = 0o1777;
/// How often [`Root::mkdir_all`] retries one component when a concurrent caller makes it vanish
/// between our `mkdirat` (`EEXIST`) and our `openat` (`ENOENT`).
const MKDIR_RETRIES: usize = 16;
/// How often [`Root::create_file`] retries when the name keeps appearing (`EEXIST`) and
/// disappearing (`ENOENT`) between its exclusive create and its look at what is there.
const CREATE_RETRIES: usize = 16;

impl Root {
    /// Creates (or, without `O_EXCL`, opens) the file at `path` with `flags` and `mode`, and
    /// returns it. `O_CREAT` is implied.
    ///
    /// The parent directory is resolved inside the root (following symlinks there, with the
    /// root's policy); the last component is opened with `O_CREAT | O_NOFOLLOW` relative to it,
    /// so a trailing symlink is **never** followed when creating: an existing symlink there gives
    /// `ELOOP`, or `EEXIST` with `O_EXCL`, exactly as `open(2)` says it. (Following it would let
    /// whoever controls the root point the new file anywhere: CVE-2025-52565 created
    /// `/dev/console` through such a link.) A path ending in `/` gives `EISDIR`, as `open(2)`.
    ///
    /// The name is created with `O_EXCL`. If something exists there (and `flags` has no
    /// `O_EXCL`), it is opened the way [`Root::open_file`] opens files: looked at through an
    /// `O_PATH` fd first, then opened through that fd. A directory is `EISDIR`, a symlink
    /// `ELOOP`, and a FIFO, socket or device node is refused with `ENXIO` unless the root
    /// allows special files ([`Root::with_special_files`]), so a FIFO that appears at the name
    /// cannot make this block. (Since the existing file is not opened with `O_CREAT`, the
    /// kernel's `fs.protected_regular` and `fs.protected_fifos` checks, which apply only to
    /// `O_CREAT` opens, do not apply to it.)
    ///
    /// With `O_TMPFILE`, `path` names a directory inside the root (resolved like
    /// [`Root::resolve`], following a trailing symlink, since nothing is created under that name)
    /// and the result is an unnamed file in it; link it in with `linkat` later.
    ///
    /// Errors: a `path` ending in a slash (a slash names a directory; `EINVAL` before any
    /// syscall, as in libpathrs), `mode` beyond `0o7777`, `O_PATH` (which would make the kernel
    /// ignore `O_CREAT`),
    /// or `O_DIRECTORY` without `O_TMPFILE` (refused by the kernel since 6.4, undefined before)
    /// are `InvalidInput`. With [`ResolveFlags::NO_XDEV`], an existing last component that is
    /// a mount point is `EXDEV`, and is not truncated.
    pub fn create_file(&self, path: impl AsRef<Path>, flags: OFlags, mode: u32) -> Result<File> {
        let path = path.as_ref();
        const OP: &str = "create";
        let fail = |e: Error| self.annotate_op(e, OP, path);
        if mode & !FILE_MODE_BITS != 0 {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                format!("mode {mode:#o} has bits beyond 0o7777"),
            )));
        }
        if flags.contains(OFlags::PATH) {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                "O_PATH cannot create a file (the kernel ignores O_CREAT with it)",
            )));
        }
        let mode = Mode::from_raw_mode(mode as _);
        // O_TMPFILE includes the O_DIRECTORY bit, so it is tested first, with `contains`.
        if flags.contains(OFlags::TMPFILE) {
            // The kernel refuses O_TMPFILE | O_CREAT; here O_CREAT is implied anyway, so it is
            // dropped rather than passed on.
            let flags = (flags - OFlags::CREATE) | OFlags::CLOEXEC;
            let dir = self.resolve(path).map_err(fail)?;
            self.check_same_mount(&dir, &*self.fd).map_err(fail)?;
            let fd = rustix::fs::openat(&dir, ".", flags, mode)
                .syscall("openat")
                .map_err(fail)?;
            return Ok(File::from(fd));
        }
        if flags.contains(OFlags::DIRECTORY) {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                "O_DIRECTORY cannot be combined with O_CREAT (use mkdir)",
            )));
        }
        let (parent, name) = self.parent_and_new_name(OP, path)?;
        self.create_or_open(&parent, &name, flags, mode)
            .map_err(fail)
    }

    /// [`Root::create_file`] at `name` in `parent`: create it with `O_EXCL`, or, unless the
    /// caller asked for `O_EXCL`, open what is there through an `O_PATH` handle after checking
    /// its type (never a plain `open(O_CREAT)` by name, which would block forever on a FIFO and
    /// open a device node with its side effects, whatever appeared at the name last).
    fn create_or_open(
        &self,
        parent: &Handle,
        name: &OsStr,
        flags: OFlags,
        mode: Mode,
    ) -> Result<File> {
        let excl = flags.contains(OFlags::EXCL);
        let create = flags | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..CREATE_RETRIES {
            match rustix::fs::openat(parent, name, create, mode) {
                // A new regular file: on the parent's mount, nothing to truncate.
                Ok(fd) => return Ok(File::from(fd)),
                Err(Errno::EXIST) if !excl => {}
                Err(e) => return Err(e.syscall_with("openat", || sys::args(None, name, create))),
            }
            // It exists. Look at it without opening it.
            let found = match rustix::fs::openat(
                parent,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // Removed again meanwhile: create it after all.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.syscall("openat")),
            };
            let st = rustix::fs::fstat(&found).syscall("fstat")?;
            match FileType::from_mode(st.st_mode) {
                // What open(O_CREAT | O_NOFOLLOW) answers for these.
                FileType::Symlink => return Err(Error::from_errno(Errno::LOOP)),
                FileType::Dir => return Err(Error::from_errno(Errno::ISDIR)),
                _ => {}
            }
            // NO_XDEV: the name may be a mount point (a bind-mounted file). Refused before the
            // open, so O_TRUNC has no effect on the other mount.
            self.check_same_mount(&found, parent)?;
            let flags = flags - OFlags::CREATE - OFlags::EXCL;
            return super::handle::reopen_fd(found.as_fd(), flags, self.special);
        }
        Err(Error::with_detail(
            ErrorKind::Os,
            Errno::AGAIN,
            "the file kept appearing and disappearing while it was being created",
        ))
    }

    /// Creates the directory at `path` with `mode` (`mkdirat` relative to the resolved parent).
    ///
    /// The last component is never followed: an existing symlink there, even a dangling one,
    /// gives `EEXIST`, as `mkdir(2)`. `mode` with setuid or setgid, or beyond `0o1777`, is
    /// `InvalidInput`: `mkdir(2)` would silently drop those bits.
    pub fn mkdir(&self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        let path = path.as_ref();
        const OP: &str = "mkdir";
        let mode = check_dir_mode(mode).map_err(|e| self.annotate_op(e, OP, path))?;
        let (parent, name) = self.parent_and_name(OP, path)?;
        let name = with_trailing_slash(path, name);
        rustix::fs::mkdirat(&parent, &name, mode)
            .syscall_with("mkdirat", || {
                let dir = parent_of(path).unwrap_or(Path::new("."));
                format!(
                    "{}, {}, {:#o}",
                    Quoted(dir.as_os_str()),
                    Quoted(&name),
                    mode.bits()
                )
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// Creates the directory at `path` and every missing parent, each with `mode`, and returns a
    /// handle to it. An existing directory (or symlink to one, inside the root) is fine.
    ///
    /// The part of `path` that exists is resolved through the resolver, with the root's policy
    /// and flags. The missing part is created one component at a time under held fds:
    /// `mkdirat(parent, name)` then `openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW)`.
    /// The `O_NOFOLLOW` matters: an attacker who swaps the directory we just made for a symlink
    /// to `/` gets `ENOTDIR` from that open, never a trip outside the root. Such a symlink (or
    /// one made by someone else) is then followed the only safe way, by resolving the path so
    /// far again through the resolver, inside the root.
    ///
    /// - Concurrent `mkdir_all` calls on the same path all succeed: `EEXIST` for a component
    ///   that turns out to be a directory is not an error.
    /// - `..` in the part that does not exist yet is `InvalidInput`: it would have to climb
    ///   out of a directory we just created, which the kernel's `mkdir -p` semantics cannot
    ///   express race-free. `.` there is skipped.
    /// - `mode` with setuid or setgid, or beyond `0o1777`, is `InvalidInput`.
    /// - A component that exists but is not a directory, or is a symlink to one, gives
    ///   `ENOTDIR`, the last component included; so does a dangling symlink (its target is not
    ///   created). These are libpathrs's and filepath-securejoin's errnos, so that procroot is
    ///   a drop-in replacement (`mkdir -p` of coreutils would say `EEXIST` and `ENOENT`).
    ///
    /// **Nothing half-created:** if a later component fails, every directory this call created
    /// is removed again, deepest first, provided it is still empty and still the same directory
    /// (same inode under the same name in the same parent fd). Directories made by concurrent
    /// callers are left alone, and so is one of ours that someone else has meanwhile put
    /// something in (removing it would destroy their work).
    ///
    /// When this call created anything, the handle's [`Handle::path_in_root`] is already known
    /// (the existing part's path plus the names created): it is the path at creation time and
    /// never needs a second lookup by name, which a concurrent rename could make fail.
    ///
    /// Cost: one resolution when the directory exists. Otherwise about `2 log2(n)` resolutions
    /// of prefixes (to find where the missing part starts), with the kernel backend one
    /// userspace re-walk of the existing part (for the path), plus one `mkdirat` and one `openat`
    /// per missing component, whose fds are held until the call returns (to undo, and as
    /// parents; at most one per component of a `PATH_MAX` path).
    pub fn mkdir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<Handle> {
        let path = path.as_ref();
        const OP: &str = "mkdir_all";
        let fail = |e: Error| self.annotate_op(e, OP, path);
        let mode = check_dir_mode(mode).map_err(fail)?;
        if path.as_os_str().is_empty() {
            return Err(fail(Error::from_errno(Errno::NOENT)));
        }

        // Fast path: it already exists.
        match self.resolve(path) {
            Ok(handle) => {
                return match handle.file_type().map_err(fail)? {
                    FileType::Dir => Ok(handle),
                    _ => Err(fail(Error::from_errno(Errno::NOTDIR))),
                };
            }
            Err(e) if e.errno() == Errno::NOENT => {}
            Err(e) => return Err(e.context(OP, path)),
        }

        let bytes = path.as_os_str().as_bytes();
        let comps: Vec<Component<'_>> = path::components(bytes).collect();
        // Find the longest prefix that resolves, to a directory (O_DIRECTORY: a prefix that is
        // a file is ENOTDIR, which the full resolution above would have said unless something
        // changed). Resolution fails at the first missing component and everything after it
        // needs that one, so "prefix k resolves" is monotone in k (up to concurrent changes,
        // which the creation loop copes with). Gallop from the start (1, 2, 4, ...) and then
        // bisect: log2(n) resolutions, and only two when just the first component exists,
        // which is the common "new tree under an existing directory" case.
        let probe = |k: usize| {
            self.resolve_raw(
                Path::new(OsStr::from_bytes(path::prefix(bytes, &comps, k))),
                Trailing::Follow,
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .map_err(|e| self.annotate_op(e, OP, path))
        };
        let (mut lo, mut hi) = (0usize, comps.len()); // prefix lo resolves; prefix hi does not.
        let mut base: Option<Resolved> = None;
        let mut step = 1;
        while lo + step < hi {
            match probe(lo + step) {
                Ok(found) => {
                    lo += step;
                    base = Some(found);
                    step *= 2;
                }
                Err(e) if e.errno() == Errno::NOENT => {
                    hi = lo + step;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match probe(mid) {
                Ok(found) => {
                    lo = mid;
                    base = Some(found);
                }
                Err(e) if e.errno() == Errno::NOENT => hi = mid,
                Err(e) => return Err(e),
            }
        }
        let base = match base {
            Some(found) => found,
            None => probe(lo)?,
        };
        let rest = &comps[lo..];
        // Refuse `..` in the missing part before creating anything.
        if rest.iter().any(|c| c.name == b"..") {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                "`..` in the part of the path that does not exist yet",
            )));
        }
        let backend = base.backend;
        // The in-root path of what we return is built as we go: the base's path plus the names
        // we step into. It is taken now, before anything is created, so that a rename of the
        // new tree right after creation cannot make the caller's `path_in_root` (a second
        // resolution, by name) fail although everything was created. The emulated walker
        // reported the base's path; for the kernel's, this is one identity-checked re-walk of
        // the part that already existed. If that fails (the existing part keeps changing), the
        // handle computes its path lazily, as any handle does.
        let base = Handle::new(
            base,
            &self.fd,
            path::prefix(bytes, &comps, lo),
            &self.resolve_opts(),
            Trailing::Follow,
        );
        let mut known: Option<Vec<u8>> = base
            .path_in_root()
            .ok()
            .map(|p| p.as_os_str().as_bytes().to_vec());

        // Every directory fd along the way, and the name of each one this call created (to
        // undo on failure). The fds are held anyway as parents; identities for the undo are
        // taken only if it happens, keeping the success path at mkdirat + openat per component.
        let mut chain: Vec<(OwnedFd, Option<OsString>)> = vec![(base.into_fd(), None)];
        let names: Vec<usize> = (0..rest.len()).filter(|&i| rest[i].name != b".").collect();
        for &i in &names {
            let name = OsStr::from_bytes(rest[i].name);
            let cur = &chain.last().expect("the base").0;
            let outcome = match self.mkdir_step(cur, name, mode) {
                Ok(Step::Dir { fd, created: ours }) => {
                    if let Some(path) = &mut known {
                        if path.last() != Some(&b'/') {
                            path.push(b'/');
                        }
                        path.extend_from_slice(name.as_bytes());
                    }
                    Ok((fd, ours.then(|| name.to_os_string())))
                }
                Ok(Step::NotDir(ft)) => {
                    // Someone else's non-directory. A symlink is followed the safe way: the
                    // path so far, through the resolver.
                    // A symlink to a non-directory, a dangling one (ENOENT from the
                    // resolver) and any other non-directory are all ENOTDIR, as in libpathrs.
                    if ft == FileType::Symlink {
                        let upto =
                            Path::new(OsStr::from_bytes(path::prefix(bytes, &comps, lo + i + 1)));
                        match self.resolve(upto) {
                            Ok(h) => match h.file_type() {
                                Ok(FileType::Dir) => {
                                    // Someone else's symlink: its target's path, if the
                                    // handle can tell.
                                    known = h
                                        .path_in_root()
                                        .ok()
                                        .map(|p| p.as_os_str().as_bytes().to_vec());
                                    Ok((h.into_fd(), None))
                                }
                                Ok(_) => Err(Error::from_errno(Errno::NOTDIR)),
                                Err(e) => Err(e),
                            },
                            Err(e) if e.errno() == Errno::NOENT => Err(Error::with_detail(
                                ErrorKind::Os,
                                Errno::NOTDIR,
                                "a dangling symlink is in the way (its target is not created)",
                            )),
                            Err(e) => Err(e),
                        }
                    } else {
                        Err(Error::from_errno(Errno::NOTDIR))
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(entry) => chain.push(entry),
                Err(e) => {
                    undo(chain);
                    return Err(fail(e));
                }
            }
        }
        let cur = chain.pop().expect("the base").0;
        drop(chain);
        let resolved = Resolved {
            fd: cur,
            path: known,
            last: None,
            backend,
        };
        Ok(Handle::new(
            resolved,
            &self.fd,
            bytes,
            &self.resolve_opts(),
            Trailing::Follow,
        ))
    }

    /// One component of [`Root::mkdir_all`]: make `name` in `parent` if it is missing and open
    /// it, never following a symlink there.
    fn mkdir_step(&self, parent: &OwnedFd, name: &OsStr, mode: Mode) -> Result<Step> {
        for _ in 0..MKDIR_RETRIES {
            let ours = match rustix::fs::mkdirat(parent, name, mode) {
                Ok(()) => true,
                // A concurrent creator, or something that is not a directory: the open says.
                Err(Errno::EXIST) => false,
                Err(e) => return Err(e.syscall("mkdirat")),
            };
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(parent, name, flags, Mode::empty()) {
                Ok(fd) => {
                    // A mount on the directory (possible for a pre-existing one, or one an
                    // attacker mounted on ours) is crossed by openat; NO_XDEV forbids that.
                    self.check_same_mount(&fd, parent)?;
                    return Ok(Step::Dir { fd, created: ours });
                }
                // Removed again between mkdirat and openat (a concurrent remove): try again.
                Err(Errno::NOENT) => continue,
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    return match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => Ok(Step::NotDir(FileType::from_mode(st.st_mode))),
                        Err(Errno::NOENT) => continue,
                        Err(e) => Err(e.syscall("fstatat")),
                    };
                }
                Err(e) => return Err(e.syscall("openat")),
            }
        }
        Err(Error::with_detail(
            ErrorKind::Os,
            Errno::AGAIN,
            "a directory kept disappearing while it was being created",
        ))
    }

    /// With `NO_XDEV`, refuses `fd` unless it is on the mount of `on` (the directory it was
    /// opened in by name, or the root): opening a name crosses a mount point there, which
    /// `NO_XDEV` forbids.
    fn check_same_mount(&self, fd: impl AsFd, on: impl AsFd) -> Result<()> {
        if self.opts.flags.contains(ResolveFlags::NO_XDEV)
            && sys::mount_id(fd)? != sys::mount_id(on)?
        {
            return Err(xdev_error());
        }
        Ok(())
    }
}

/// What [`Root::mkdir_step`] found.
enum Step {
    /// A directory (an `O_PATH` fd on it), and whether this call created it.
    Dir { fd: OwnedFd, created: bool },
    /// An existing entry that is not a directory, of this type.
    NotDir(FileType),
}

/// Removes the directories `mkdir_all` created (the entries of `chain` with a name), deepest
/// first, if each is still the same one under that name in its parent and still empty (`rmdir`
/// refuses a non-empty one by itself). Failures are ignored: this runs on an error path, and
/// leaving a directory behind is better than reporting the wrong error.
fn undo(chain: Vec<(OwnedFd, Option<OsString>)>) {
    for i in (1..chain.len()).rev() {
        let (fd, Some(name)) = &chain[i] else {
            continue;
        };
        let parent = &chain[i - 1].0;
        let Ok(want) = rustix::fs::fstat(fd) else {
            continue;
        };
        let same = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileId::from_stat(&st) == FileId::from_stat(&want));
        if same {
            let _ = rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR);
        }
    }
}

/// The `EXDEV` error for a mount crossing that `NO_XDEV` forbids.
fn xdev_error() -> Error {
    Error::escape("the path crosses a mount point, and NO_XDEV forbids that")
}

/// Checks a directory mode for [`Root::mkdir`] and [`Root::mkdir_all`].
fn check_dir_mode(mode: u32) -> Result<Mode> {
    if mode & !DIR_MODE_BITS != 0 {
        return Err(Error::invalid_input(
            Errno::INVAL,
            format!(
                "mode {mode:#o} has bits mkdir(2) would silently drop \
                 (setuid, setgid, or beyond 0o7777)"
            ),
        ));
    }
    Ok(Mode::from_raw_mode(mode as _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_modes() {
        assert!(check_dir_mode(0o1777).is_ok());
        assert_eq!(
            check_dir_mode(0o2755).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            check_dir_mode(0o4755).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
