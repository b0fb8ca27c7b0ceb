//! Copying files and directory trees across the root boundary: [`Root::copy_in`] and
//! [`Root::copy_out`].
//!
//! Both directions share one engine that works only on directory fds: once the source's parent
//! and the destination's parent are held, every entry below them is reached with `*at` calls
//! relative to a held directory fd and `O_NOFOLLOW`, never through a joined path string. The
//! in-root side is found through the resolver, so a symlink inside the root (absolute or `..`)
//! can never make the copy read or write outside it.
//!
//! - The tree is walked with the bounded-fd [`Chain`] of `tree.rs` (the one `remove_all` uses),
//!   twice in step: once over the source, once over the copy. Depth costs heap, not fds.
//! - Each source entry is pinned with `O_PATH | O_NOFOLLOW` and its type checked on that fd
//!   before it is opened for real: a FIFO, socket or device node is refused unless the caller
//!   asked for them ([`CopyOptions::special_files`]), so neither side can be made to block on a
//!   FIFO or to read a host device through a node planted in the root, and a copy out never
//!   creates device nodes on the host by default.
//! - Set-ID bits survive only when the copy keeps the file's owner (see [`Root::copy_in`]).
//! - Nothing is half-written: the copy is built under a temporary name in the destination
//!   directory and renamed into place with `RENAME_NOREPLACE` only when complete. On error the
//!   copy is undone **by identity**: every entry it creates is recorded by `(st_dev, st_ino)`,
//!   and the cleanup ([`remove_created`]) removes only those, never enters another mount and
//!   never changes the mode of anything else. The temporary's name is in a directory others may
//!   write to: if someone renamed it away and put a directory of their choice at that name, the
//!   cleanup leaves that alone and says so in the error.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat, Timestamps};
use rustix::io::Errno;

use super::handle::special_refusal;
use super::progress::{CopyWarning, ProgressFn, WarningFn, Watch};
use super::remove::{remove_created, Cleanup};
use super::tree::{Chain, Limits};
use super::{Root, SpecialFiles};
use crate::error::{Error, Result};
use crate::fs::FileId;
use crate::fs::FileType;
use crate::resolve::path::split_last;
use crate::resolve::ResolveFlags;
use crate::sys::{self, MountId};
use crate::sys::{Syscall as _, SyscallErrno as _};

/// How many temporary names are tried before giving up with `EEXIST`.
const TEMP_ATTEMPTS: u32 = 64;

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How [`Root::copy_in_with`] and [`Root::copy_out_with`] treat what they find in the source,
/// and who watches them. The default is the safe one, what [`Root::copy_in`] and
/// [`Root::copy_out`] use, unwatched.
#[derive(Default)]
#[non_exhaustive]
pub struct CopyOptions<'a> {
    /// Whether FIFOs, sockets and device nodes are copied: [`SpecialFiles::Allow`] recreates
    /// them with `mknodat` (device nodes need `CAP_MKNOD`). [`SpecialFiles::Refuse`], the
    /// default, refuses such an entry in the source with the same error every other operation
    /// gives (`ENXIO`, [`ErrorKind::SafetyViolation`](crate::ErrorKind::SafetyViolation),
    /// naming the type), before anything is created for it: a copy out then never creates a
    /// device node or FIFO on the host, and a copy in never plants one in the root. Their
    /// contents are never read either way.
    pub special_files: SpecialFiles,
    /// Called after every entry copied, and after every chunk (16 MiB) of a large file, with
    /// the counts so far ([`Progress`](super::Progress)); returning
    /// [`ControlFlow::Break`](std::ops::ControlFlow::Break)
    /// stops the copy, which then fails with `ECANCELED` and is undone like any failed copy:
    /// what it created is removed by identity, the temporary included. `None` (the default)
    /// costs one branch per entry.
    pub progress: Option<&'a mut ProgressFn<'a>>,
    /// Which extended attributes (and so ACLs) are copied: see [`Xattrs`]. The default is
    /// [`Xattrs::All`], as `cp -a`.
    pub xattrs: Xattrs,
    /// Called once for each thing the copy could not carry over and went on without (an
    /// extended attribute it could not set, a hard link it made a separate file): see
    /// [`CopyWarning`]. `None` (the default): such losses are not reported; use
    /// [`Xattrs::Strict`] to make the xattr ones fatal.
    pub warnings: Option<&'a mut WarningFn<'a>>,
}

/// Which extended attributes a copy carries over ([`CopyOptions::xattrs`]), for regular files
/// and directories (symlinks and special files get none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Xattrs {
    /// As `cp -a`: `user.*`, the ACLs (`system.posix_acl_access`, and a directory's
    /// `system.posix_acl_default`), `security.*` where the kernel permits setting them, and
    /// `trusted.*` only when running as root (nobody else can read them). `security.capability`
    /// follows the set-ID rule of [`Root::copy_in`]: kept only if the copy has the source's
    /// owner, so a copy never makes someone else's privileged program one of the caller's.
    ///
    /// One that cannot be set is a [`CopyWarning`] and the copy goes on. A lost access ACL
    /// never leaves the copy more open than its source: the copy's group bits become the ACL's
    /// owning-group entry masked by its mask, and its "other" bits are cleared if the ACL had
    /// named user or group entries (a user the ACL refused must not read the copy through
    /// "other").
    #[default]
    All,
    /// None are copied.
    None,
    /// As [`Xattrs::All`], but one that cannot be read or set fails the copy, which is then
    /// undone like any failed copy.
    Strict,
}

impl<'a> CopyOptions<'a> {
    /// The options with [`CopyOptions::xattrs`] set.
    pub fn with_xattrs(mut self, xattrs: Xattrs) -> Self {
        self.xattrs = xattrs;
        self
    }

    /// The options with [`CopyOptions::warnings`] set to `hook`.
    pub fn with_warnings(mut self, hook: &'a mut WarningFn<'a>) -> Self {
        self.warnings = Some(hook);
        self
    }

    /// The options with [`CopyOptions::special_files`] set.
    pub fn with_special_files(mut self, special_files: SpecialFiles) -> Self {
        self.special_files = special_files;
        self
    }

    /// The options with [`CopyOptions::progress`] set to `hook`.
    pub fn with_progress(mut self, hook: &'a mut ProgressFn<'a>) -> Self {
        self.progress = Some(hook);
        self
    }
}

impl std::fmt::Debug for CopyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("special_files", &self.special_files)
            .field("progress", &self.progress.as_ref().map(|_| "FnMut"))
            .field("xattrs", &self.xattrs)
            .field("warnings", &self.warnings.as_ref().map(|_| "FnMut"))
            .finish()
    }
}

/// The mode [`Root::replace_file_with`] gives the new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplaceMode {
    /// Exactly these bits (permissions, set-ID and sticky; at most `0o7777`).
    Exact(u32),
    /// The mode of the regular file being replaced, else (nothing there, or a symlink, FIFO,
    /// socket or device node, whose mode says nothing about a regular file) these bits.
    ///
    /// The old file's set-user-ID bit is kept only if the new file has its owner, its
    /// set-group-ID bit only if it has its owner and group, as for a copy
    /// ([`Root::copy_in`]): otherwise root writing over uid 1000's mode-4755 file would make
    /// a root-owned set-user-ID program whose bits uid 1000 chose.
    ///
    /// The mode is read (`fstatat(AT_SYMLINK_NOFOLLOW)` of the name, relative to the same
    /// parent fd the rename then uses) after the contents are written, right before the
    /// rename, never through a second lookup of the path. The residual race: whoever can write
    /// the parent directory may replace or `chmod` the old entry between that read and the
    /// rename; the new file then has the mode the entry had a moment before. That is the
    /// attacker's own choice of mode for a file at a name they control anyway; the set-ID rule
    /// above still holds, since it compares with the owner that was read together with the
    /// mode.
    KeepOr(u32),
}

impl Root {
    /// Copies the file, symlink or directory tree at `host_path` (an ordinary path on the host)
    /// into the root at `in_root_path`, like `cp -a` without ownership, with the default (safe)
    /// [`CopyOptions`]: see [`Root::copy_in_with`].
    pub fn copy_in(
        &self,
        host_path: impl AsRef<Path>,
        in_root_path: impl AsRef<Path>,
    ) -> Result<()> {
        self.copy_in_with(host_path, in_root_path, CopyOptions::default())
    }

    /// Copies the file, symlink or directory tree at `host_path` (an ordinary path on the host)
    /// into the root at `in_root_path`, like `cp -a` without ownership.
    ///
    /// - If `in_root_path` resolves (inside the root, following symlinks there) to an existing
    ///   directory, the copy is made in it under the last name of `host_path`, like `cp -r`.
    ///   If it does not exist (`ENOENT`, or `ENOTDIR` for its last component), the copy is made
    ///   at `in_root_path` itself, whose parent must exist. Any other error resolving it (such
    ///   as `EXDEV` for a mount point under [`ResolveFlags::NO_XDEV`], `ELOOP`, `EACCES`) is
    ///   reported as it is.
    /// - The final destination must not exist (`EEXIST`): nothing is overwritten or merged, and
    ///   a symlink at the destination is never followed.
    /// - Symlinks are copied as symlinks with their target verbatim, including a symlink at
    ///   `host_path` itself; they are never followed on the host. Directories are walked without
    ///   recursion, with a bounded number of fds (any depth works).
    /// - FIFOs, sockets and device nodes are refused (`ENXIO`, naming the type) unless
    ///   [`CopyOptions::special_files`]; then they are recreated with `mknodat` (devices need
    ///   `CAP_MKNOD`), never opened.
    /// - Permission bits (with sticky) and access and modification times are preserved; owners
    ///   are not (the copy belongs to the caller). A regular file's set-user-ID bit is kept
    ///   only if the copy has the source's owner, its set-group-ID bit only if it has the
    ///   source's owner and group: a copy never turns someone else's set-ID program into one
    ///   of the caller's. Special files get their mode through `mknodat` (the umask applies),
    ///   without set-ID bits.
    /// - A source entry that is swapped for another while it is being copied fails the copy
    ///   with `EAGAIN` and a message naming the entry, what it was and what it is now.
    /// - Atomic: the copy is built under a temporary name (`.procroot-copy-*`) in the
    ///   destination directory and renamed into place when complete; on error what the copy
    ///   created is removed again, by identity (see the module docs): a failed copy leaves
    ///   nothing behind, and never removes anything it did not create, even if someone swaps
    ///   the temporary for a directory of their own meanwhile (that is left alone, and the
    ///   error says so). A process killed mid-copy leaves the temporary.
    ///
    /// Holes are kept: only the data extents (`SEEK_DATA`/`SEEK_HOLE`) are copied, and the copy
    /// is cut to the source's size. Names in the tree that are hard links to one file become
    /// hard links to one copy (made only to the copy's own file, checked by identity; one that
    /// cannot be made is a separate file and a [`CopyWarning`]); a file whose other names are
    /// outside the tree is copied as a file. Extended attributes and ACLs are copied as
    /// [`CopyOptions::xattrs`] says. A copy holds at most about 150 fds whatever the depth; the
    /// undo of a failed copy fits itself to the fds that are free, visits each entry once,
    /// and reports what it left and why. A copy of a directory into itself (the
    /// destination inside the source tree) skips the copy being made. `host_path` must end in a
    /// name (not `.`, `..` or `/`): `InvalidInput`.
    pub fn copy_in_with(
        &self,
        host_path: impl AsRef<Path>,
        in_root_path: impl AsRef<Path>,
        opts: CopyOptions<'_>,
    ) -> Result<()> {
        let host_path = host_path.as_ref();
        let in_root_path = in_root_path.as_ref();
        let op = "copy in";
        let host_fail = |e: Error| e.context(op, host_path);
        let (src_parent, src_name) = host_parent_and_name(host_path).map_err(host_fail)?;
        // The source must exist before anything is created in the root.
        rustix::fs::statat(&src_parent, &src_name, AtFlags::SYMLINK_NOFOLLOW)
            .syscall("fstatat")
            .map_err(host_fail)?;
        let (dst_parent, dst_name, into_dir) =
            self.destination_in_root(op, in_root_path, &src_name)?;
        // Errors name the entry the copy makes (`/srv/www/site` when DST is a directory), so
        // that an EEXIST names the entry in the way.
        let dst_path = if into_dir {
            in_root_path.join(&dst_name)
        } else {
            in_root_path.to_owned()
        };
        // Everything created is ours and on the destination parent's mount: nothing to check.
        let rules = CopyRules {
            special_files: opts.special_files,
            xattrs: opts.xattrs,
            same_mount: false,
            skip: None,
            dst_mount: None,
        };
        copy_entry(
            src_parent.as_fd(),
            &src_name,
            dst_parent.as_fd(),
            &dst_name,
            rules,
            &mut Watch::new(opts.progress).with_warnings(opts.warnings),
        )
        .map_err(|e| self.annotate_op(e, op, &dst_path))
    }

    /// Copies the file, symlink or directory tree at `in_root_path` (resolved inside the root)
    /// out to `host_path`, with the default (safe) [`CopyOptions`]: see [`Root::copy_out_with`].
    pub fn copy_out(
        &self,
        in_root_path: impl AsRef<Path>,
        host_path: impl AsRef<Path>,
    ) -> Result<()> {
        self.copy_out_with(in_root_path, host_path, CopyOptions::default())
    }

    /// Copies the file, symlink or directory tree at `in_root_path` (resolved inside the root)
    /// out to `host_path` (an ordinary path on the host), like `cp -a` without ownership.
    ///
    /// The same rules as [`Root::copy_in_with`], mirrored:
    /// - The directories leading to `in_root_path` are resolved inside the root; its last
    ///   component is not followed: a symlink there is copied as a symlink, target verbatim.
    ///   Nothing below it is ever followed either, so a symlink in the root cannot make the copy
    ///   read a host file.
    /// - FIFOs, sockets and device nodes in the root are refused unless
    ///   [`CopyOptions::special_files`], so by default a copy out never creates a device node
    ///   or FIFO on the host; their contents are never read. Set-ID bits are cleared unless the
    ///   copy keeps the file's owner: run as root, a copy of uid 1000's mode-4755 file is a
    ///   root-owned mode-0755 file.
    /// - If `host_path` is an existing directory (symlinks followed, as on the host), the copy
    ///   is made in it under the last name of `in_root_path`; otherwise at `host_path`, whose
    ///   parent must exist. The final destination must not exist (`EEXIST`).
    /// - Mode and times are preserved, the copy is built under a temporary name and renamed into
    ///   place, and a failed copy leaves nothing behind (removing only what it created).
    /// - With [`ResolveFlags::NO_XDEV`], a file or directory in the tree that is on another
    ///   mount than its parent (something mounted inside the tree) is `EXDEV`.
    ///
    /// `in_root_path` must end in a name (not `.`, `..` or `/`): `InvalidInput`. To copy a whole
    /// root, copy its entries one by one.
    pub fn copy_out_with(
        &self,
        in_root_path: impl AsRef<Path>,
        host_path: impl AsRef<Path>,
        opts: CopyOptions<'_>,
    ) -> Result<()> {
        let in_root_path = in_root_path.as_ref();
        let host_path = host_path.as_ref();
        let op = "copy out";
        let (src_parent, src_name) = self.parent_and_name(op, in_root_path)?;
        rustix::fs::statat(&src_parent, &src_name, AtFlags::SYMLINK_NOFOLLOW)
            .syscall("fstatat")
            .map_err(|e| self.annotate_op(e, op, in_root_path))?;
        let (dst_parent, dst_name, into_dir) =
            host_destination(host_path, &src_name).map_err(|e| e.context(op, host_path))?;
        // The copy's errors name the entry it makes: `out/hostname` when DST is a directory,
        // so that an EEXIST names the entry in the way, not the directory it is in.
        let dst_path = if into_dir {
            host_path.join(&dst_name)
        } else {
            host_path.to_owned()
        };
        // NO_XDEV holds for the tree being read too, not only for the path leading to it.
        let rules = CopyRules {
            special_files: opts.special_files,
            xattrs: opts.xattrs,
            same_mount: self.opts.flags.contains(ResolveFlags::NO_XDEV),
            skip: None,
            dst_mount: None,
        };
        copy_entry(
            src_parent.as_fd(),
            &src_name,
            dst_parent.as_fd(),
            &dst_name,
            rules,
            &mut Watch::new(opts.progress).with_warnings(opts.warnings),
        )
        .map_err(|e| e.context(op, &dst_path))
    }

    /// Writes everything `contents` yields to a new file that then replaces `path` in one
    /// `rename(2)`, with exactly `mode`: [`Root::replace_file_with`] with
    /// [`ReplaceMode::Exact`]. Returns the number of bytes written.
    pub fn replace_file(
        &self,
        path: impl AsRef<Path>,
        mode: u32,
        contents: impl std::io::Read,
    ) -> Result<u64> {
        self.replace_file_with(path, ReplaceMode::Exact(mode), contents)
    }

    /// Writes everything `contents` yields to a new file that then replaces `path` in one
    /// `rename(2)`: readers see the old file or the new one, never a half-written file, and a
    /// failure (or an error from `contents`) leaves `path` as it was and no temporary behind.
    /// Returns the number of bytes written.
    ///
    /// The parent is resolved inside the root; the last component is replaced, never followed
    /// and never opened: a symlink at `path` is itself replaced by the file, and so is a FIFO or
    /// device node (nothing blocks on it, nothing is written to a device). The new file's mode
    /// is `mode` (see [`ReplaceMode`]; the umask does not apply) and it belongs to the caller;
    /// the old file's owner, links and extended attributes are not carried over. An existing
    /// directory at `path` is `EISDIR`. The temporary (`.procroot-copy-*`, in the same
    /// directory) is only left behind if the process is killed mid-write; on error it is removed
    /// only if it is still the file this call created (the directory may be writable by
    /// others). The data is not `fsync`ed.
    ///
    /// A mode beyond `0o7777`, or a path that does not end in a name, is `InvalidInput`.
    pub fn replace_file_with(
        &self,
        path: impl AsRef<Path>,
        mode: ReplaceMode,
        mut contents: impl std::io::Read,
    ) -> Result<u64> {
        let path = path.as_ref();
        let op = "write";
        let fail = |e: Error| self.annotate_op(e, op, path);
        let (ReplaceMode::Exact(bits) | ReplaceMode::KeepOr(bits)) = mode;
        if bits & !0o7777 != 0 {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                format!("mode {bits:#o} has bits beyond 0o7777"),
            )));
        }
        let (parent, name) = self.parent_and_name(op, path)?;
        let (temp, file, id) = create_temp_file(parent.as_fd()).map_err(fail)?;
        let mut file = File::from(file);
        let written = std::io::copy(&mut contents, &mut file)
            .map_err(Error::from)
            .and_then(|n| {
                let mode = match mode {
                    ReplaceMode::Exact(bits) => Mode::from_raw_mode(bits),
                    ReplaceMode::KeepOr(default) => {
                        kept_mode(parent.as_fd(), &name, &file, default)?
                    }
                };
                rustix::fs::fchmod(&file, mode).syscall("fchmod")?;
                rustix::fs::renameat(&parent, &temp, &parent, &name).syscall("renameat")?;
                Ok(n)
            });
        if written.is_err() {
            // By identity: someone who can write the directory may have put something else at
            // the temporary name.
            let ours = rustix::fs::statat(&parent, &temp, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileId::from_stat(&st) == id);
            if ours {
                let _ = rustix::fs::unlinkat(&parent, &temp, AtFlags::empty());
            }
        }
        written.map_err(fail)
    }

    /// Where a copy lands inside the root: `(directory, name, into_dir)`, the `cp -r` way. An
    /// existing directory at `path` (following symlinks inside the root) receives `src_name`
    /// (`into_dir`); a path
    /// that does not exist, or an existing non-directory, means the copy is made at `path`
    /// itself. Any other error resolving `path` is reported: treating, say, `EXDEV` from a
    /// mount point under `NO_XDEV` as "does not exist" would turn it into a misleading
    /// `EEXIST` at the final rename.
    fn destination_in_root(
        &self,
        op: &'static str,
        path: &Path,
        src_name: &OsStr,
    ) -> Result<(OwnedFd, OsString, bool)> {
        let at = |(dir, name)| (dir, name, false);
        match self.resolve(path) {
            Ok(handle) if handle.file_type().ok() == Some(FileType::Dir) => {
                Ok((handle.into_fd(), src_name.to_owned(), true))
            }
            // An existing non-directory: let the final no-replace rename report EEXIST, after
            // checking the parent like any other destination. Missing: made there. ENOTDIR can
            // also mean a non-directory in the middle of the path; then the parent lookup
            // reports it again, for what it is.
            Ok(_) => self.parent_and_name_of(op, path).map(at),
            Err(e) if matches!(e.errno(), Errno::NOENT | Errno::NOTDIR) => {
                self.parent_and_name_of(op, path).map(at)
            }
            Err(e) => Err(self.annotate_op(e, op, path)),
        }
    }

    /// [`Root::parent_and_name`] with the parent as a plain fd.
    fn parent_and_name_of(&self, op: &'static str, path: &Path) -> Result<(OwnedFd, OsString)> {
        let (parent, name) = self.parent_and_name(op, path)?;
        Ok((parent.into_fd(), name))
    }
}

/// A host path's parent directory (opened `O_PATH`, following symlinks as the host does) and
/// its last name, which is not looked up.
fn host_parent_and_name(path: &Path) -> Result<(OwnedFd, OsString)> {
    let Some((parent, name)) = split_last(path.as_os_str().as_bytes()) else {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "the path must end in a name, not `.`, `..` or `/`",
        ));
    };
    let fd = rustix::fs::open(
        OsStr::from_bytes(parent),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .syscall("open")?;
    Ok((fd, OsStr::from_bytes(name).to_owned()))
}

/// Where a copy lands on the host, the `cp -r` way (see [`Root::copy_out`]): the directory, the
/// name, and whether `path` was an existing directory the copy goes into under `src_name`.
fn host_destination(path: &Path, src_name: &OsStr) -> Result<(OwnedFd, OsString, bool)> {
    match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => Ok((dir, src_name.to_owned(), true)),
        Err(Errno::NOENT | Errno::NOTDIR) => {
            host_parent_and_name(path).map(|(dir, name)| (dir, name, false))
        }
        Err(e) => Err(e.syscall("open")),
    }
}

/// The limits of each of the copy's two chains (source and copy): with the two fds of a file
/// being copied, a copy holds at most about 150 fds whatever the depth of the tree.
const COPY_LIMITS: Limits = Limits {
    window: 48,
    max_anchors: 24,
};

/// The set-user-ID and set-group-ID bits.
const SETID: u32 = 0o6000;

/// What the copy must watch for, the same for every entry.
#[derive(Clone, Copy)]
struct CopyRules {
    /// [`CopyOptions::special_files`].
    special_files: SpecialFiles,
    /// [`CopyOptions::xattrs`].
    xattrs: Xattrs,
    /// Refuse (`EXDEV`) a source file or directory on another mount than its parent directory:
    /// the root's `NO_XDEV`, applied to the tree being copied out.
    same_mount: bool,
    /// The `(st_dev, st_ino)` of the copy's top directory, skipped if the traversal of the source
    /// meets it (copying a directory into itself would otherwise never end).
    skip: Option<FileId>,
    /// The destination directory's mount, which every directory of the copy must be on.
    dst_mount: Option<MountId>,
}

/// Everything one copy created, by identity: what its cleanup may remove.
struct Made<'b> {
    ids: HashSet<FileId>,
    /// The first entry created: the temporary at the top.
    top: Option<FileId>,
    /// The directory the copy is made in (the destination's parent): where the paths of
    /// `links` start.
    base: BorrowedFd<'b>,
    /// The source files with more than one link met so far, by `(st_dev, st_ino)`: where their
    /// copy is, so that their other names in the tree become links to it, as `cp -a` does.
    links: HashMap<FileId, Linked>,
}

/// The copy of a source file with several links ([`Made::links`]).
struct Linked {
    /// Its path from [`Made::base`] (the temporary's name first), made of names the copy
    /// created.
    path: PathBuf,
    /// Its identity, which a new link must have.
    id: FileId,
    /// The source's path, for messages.
    shown: PathBuf,
    /// How many more names the source has: the record is dropped when all were met.
    pending: u64,
}

impl<'b> Made<'b> {
    fn new(base: BorrowedFd<'b>) -> Self {
        Made {
            ids: HashSet::new(),
            top: None,
            base,
            links: HashMap::new(),
        }
    }

    fn insert(&mut self, st: &Stat) -> FileId {
        let id = FileId::from_stat(st);
        self.top.get_or_insert(id);
        self.ids.insert(id);
        id
    }
}

/// A directory entered by the copy: the source open for reading, the copy open to create in.
struct DirPair {
    src: OwnedFd,
    src_id: FileId,
    dst: OwnedFd,
    dst_id: FileId,
    /// The source directory's metadata, applied to the copy when it is complete.
    stat: Stat,
}

/// Copies `src_dir/src_name` to `dst_dir/dst_name`, atomically: built under a temporary name,
/// renamed into place without replacing anything, and on error undone by identity (see
/// [`remove_created`]).
fn copy_entry(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    mut rules: CopyRules,
    watch: &mut Watch<'_, '_>,
) -> Result<()> {
    rules.dst_mount = Some(sys::mount_id(dst_dir)?);
    for _ in 0..TEMP_ATTEMPTS {
        let temp = temp_name();
        let mut made = Made::new(dst_dir);
        let built = match copy_tree(src_dir, src_name, dst_dir, &temp, rules, &mut made, watch) {
            // Someone else has this name: it is not ours to remove; try another.
            Err(CopyError::NameTaken) => continue,
            Err(CopyError::Failed(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        let renamed = built.and_then(|()| {
            rustix::fs::renameat_with(dst_dir, &temp, dst_dir, dst_name, RenameFlags::NOREPLACE)
                .syscall("renameat2")
        });
        return match renamed {
            Ok(()) => check_landed(dst_dir, dst_name, &temp, &made),
            Err(e) => Err(undo(dst_dir, &temp, &made, e, watch)),
        };
    }
    Err(Error::with_detail(
        crate::ErrorKind::Os,
        Errno::EXIST,
        "no free temporary name in the destination directory",
    ))
}

/// The rename into place went by name, in a directory others may write to: confirm that what
/// now has the final name is the copy, not something renamed to the temporary name meanwhile.
fn check_landed(dir: BorrowedFd<'_>, name: &OsStr, temp: &OsStr, made: &Made) -> Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).syscall("fstatat")?;
    if made.top == Some(FileId::from_stat(&st)) {
        return Ok(());
    }
    Err(Error::replaced(format!(
        "the temporary {temp:?} was replaced by someone else before it was renamed to \
             {name:?}: what is there now is not the copy"
    )))
}

/// Removes what a failed copy created under `temp`, by identity, and returns `err`, with a note
/// if something was left: how many entries were not the copy's, how many of its own could not
/// be checked or removed and why, or that the cleanup was stopped (the temporary kept, named).
fn undo(
    dir: BorrowedFd<'_>,
    temp: &OsStr,
    made: &Made,
    err: Error,
    watch: &mut Watch<'_, '_>,
) -> Error {
    let Some(top) = made.top else {
        // Nothing was created (or its identity is unknown): nothing is touched.
        return err;
    };
    let note = match remove_created(dir, temp, top, &made.ids, watch) {
        Ok(Cleanup::Removed) => return err,
        Ok(Cleanup::Left(left)) => {
            format!("left in place under the temporary {temp:?}, which was kept: {left}")
        }
        Ok(Cleanup::Gone) => format!(
            "the temporary {temp:?} had disappeared (renamed by someone else); nothing was \
             removed"
        ),
        Ok(Cleanup::Replaced) => format!(
            "the temporary {temp:?} is no longer the entry the copy created (something else \
             was put at its name); it was left alone"
        ),
        Err(e) if e.errno() == Errno::CANCELED => format!(
            "removing what the copy made was stopped; the temporary {temp:?} was kept with \
             what is left of it"
        ),
        Err(e) => format!("removing the temporary {temp:?} stopped, and it was kept: {e}"),
    };
    Error::with_detail(
        err.kind(),
        err.errno(),
        format!("{}; {note}", err.description()),
    )
}

/// Copies `src_dir/src_name` (not followed) to the new name `dst_dir/dst_name`: a directory
/// tree with two [`Chain`]s in step (the source being read and the copy being filled), so that
/// neither recursion nor fds grow with the depth.
fn copy_tree(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    mut rules: CopyRules,
    made: &mut Made<'_>,
    watch: &mut Watch<'_, '_>,
) -> std::result::Result<(), CopyError> {
    let shown_top = || PathBuf::from(src_name);
    let dst_top = || PathBuf::from(dst_name);
    let copied = create_copy(
        src_dir, src_name, &shown_top, dst_dir, dst_name, &dst_top, rules, made, watch,
    );
    let top = match copied {
        Err(e) if made.top.is_none() && e.errno() == Errno::EXIST => {
            return Err(CopyError::NameTaken)
        }
        other => other?,
    };
    watch.entry(shown_top)?;
    let Some(top) = top else {
        return Ok(());
    };
    rules.skip = Some(top.dst_id);
    let mut src = Chain::new(src_dir, COPY_LIMITS);
    let mut dst = Chain::new(dst_dir, COPY_LIMITS);
    let mut stats = Vec::new();
    enter(&mut src, &mut dst, &mut stats, src_name, dst_name, top)?;
    while src.len() > 0 {
        match src.read()? {
            Some(entry) => {
                let name = entry.name;
                let shown = || src.path_of(&name);
                let dst_path = || dst.path_of(&name);
                let (src_fd, dst_fd) = (src.dir_fd()?, dst.dir_fd()?);
                let sub = create_copy(
                    src_fd, &name, &shown, dst_fd, &name, &dst_path, rules, made, watch,
                )?;
                watch.entry(shown)?;
                if let Some(sub) = sub {
                    enter(&mut src, &mut dst, &mut stats, &name, &name, sub)?;
                }
            }
            None => {
                // Complete: its mode and times go on last, since adding entries changes the
                // modification time and the mode may forbid writing.
                let read = src.pop()?.ok_or(Errno::BADF)?;
                let done = dst.pop()?.ok_or(Errno::BADF)?;
                let stat = stats.pop().ok_or(Errno::BADF)?;
                // Its xattrs now, not when it was made: a default ACL set then would have been
                // inherited by the entries created inside. Before the mode, which may forbid
                // the owner to write them.
                let attrs = Attrs {
                    mode: mode_of(&stat).as_raw_mode(),
                    keep_caps: false,
                    policy: rules.xattrs,
                };
                let shown = || src.path_of(&read.name);
                let mode = copy_xattrs(read.fd()?, done.fd()?, attrs, &shown, watch)?;
                rustix::fs::fchmod(done.fd()?, Mode::from_raw_mode(mode)).syscall("fchmod")?;
                rustix::fs::futimens(done.fd()?, &times_of(&stat)).syscall("futimens")?;
            }
        }
    }
    Ok(())
}

/// Pushes a directory pair onto the two chains.
fn enter(
    src: &mut Chain<'_>,
    dst: &mut Chain<'_>,
    stats: &mut Vec<Stat>,
    src_name: &OsStr,
    dst_name: &OsStr,
    pair: DirPair,
) -> Result<()> {
    src.push(src_name, pair.src, pair.src_id)?;
    dst.push(dst_name, pair.dst, pair.dst_id)?;
    stats.push(pair.stat);
    Ok(())
}

/// Creates the copy of one entry, called `shown()` in messages (computed only for a message).
/// The source is pinned with an `O_PATH | O_NOFOLLOW` open and its type checked on that fd
/// before anything else is opened:
/// a regular file is reopened (`O_NONBLOCK`, so a FIFO swapped in cannot block) and must still
/// be the same file; a directory is reopened through the pinned fd itself; a symlink is read
/// through it. A regular file, symlink or (opted-in) special file is copied completely; a
/// directory is created empty and returned to be filled. A file's bytes are counted in `watch`.
#[allow(clippy::too_many_arguments)]
fn create_copy(
    src_dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &dyn Fn() -> PathBuf,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    dst_path: &dyn Fn() -> PathBuf,
    rules: CopyRules,
    made: &mut Made<'_>,
    watch: &mut Watch<'_, '_>,
) -> Result<Option<DirPair>> {
    let pinned = rustix::fs::openat(
        src_dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .syscall("openat")?;
    let st = rustix::fs::fstat(&pinned).syscall("fstat")?;
    let id = FileId::from_stat(&st);
    if rules.skip == Some(id) {
        return Ok(None);
    }
    let file_type = FileType::from_mode(st.st_mode);
    // Only a file or directory can be a mount point we would read through.
    if rules.same_mount
        && matches!(file_type, FileType::Dir | FileType::File)
        && sys::mount_id(&pinned)? != sys::mount_id(src_dir)?
    {
        return Err(Error::escape(format!(
            "{:?} is on another mount than its directory (NO_XDEV)",
            shown()
        )));
    }
    match file_type {
        FileType::Dir => {
            // "." of the pinned fd: exactly the directory that was checked, whatever has been
            // renamed since.
            let src = rustix::fs::openat(
                &pinned,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .syscall("openat")?;
            // Owner-only while it is filled: nobody else can add to it, and a read-only source
            // mode does not stop us from filling it.
            rustix::fs::mkdirat(dst_dir, dst_name, Mode::RWXU).syscall("mkdirat")?;
            // Recorded at once, before anything that can fail (opening it needs an fd: EMFILE):
            // what mkdirat made must be removed by the undo whatever fails next. By name, as
            // there is no fd yet; only if it is what mkdirat makes (a directory of ours,
            // owner-only), which nobody but us (or root) can put at the name meanwhile.
            let made_st = rustix::fs::statat(dst_dir, dst_name, AtFlags::SYMLINK_NOFOLLOW)
                .syscall("fstatat")?;
            if !is_fresh_dir(&made_st) {
                return Err(replaced_at_creation(dst_name));
            }
            let dst_id = made.insert(&made_st);
            let dst = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .syscall("openat")?;
            // A directory is opened by name after mkdirat: if someone mounted something on it
            // in between, the open went into that mount, and the copy would be written there.
            if Some(sys::mount_id(&dst)?) != rules.dst_mount {
                return Err(Error::escape(format!(
                    "something was mounted on the copy's new directory {dst_name:?} right \
                         after it was made; not writing into that mount"
                )));
            }
            let dst_st = rustix::fs::fstat(&dst).syscall("fstat")?;
            if FileId::from_stat(&dst_st) != dst_id {
                return Err(replaced_at_creation(dst_name));
            }
            check_empty(&dst, dst_name)?;
            Ok(Some(DirPair {
                src,
                src_id: id,
                dst,
                dst_id,
                stat: st,
            }))
        }
        FileType::File => {
            let src = rustix::fs::openat(
                src_dir,
                name,
                OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .syscall("openat")?;
            let now = rustix::fs::fstat(&src).syscall("fstat")?;
            if FileType::from_mode(now.st_mode) != FileType::File || FileId::from_stat(&now) != id {
                return Err(changed(&shown(), &st, &now));
            }
            // Another name of a file already copied: a link to that copy, as `cp -a`.
            if st.st_nlink > 1 && link_again(id, dst_dir, dst_name, made, shown, watch) {
                return Ok(None);
            }
            let dst = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::RUSR | Mode::WUSR,
            )
            .syscall("openat")?;
            let dst_st = rustix::fs::fstat(&dst).syscall("fstat")?;
            let dst_id = made.insert(&dst_st);
            if st.st_nlink > 1 && !made.links.contains_key(&id) {
                let linked = Linked {
                    path: dst_path(),
                    id: dst_id,
                    shown: shown(),
                    pending: st.st_nlink - 1,
                };
                made.links.insert(id, linked);
            }
            let mut src = File::from(src);
            let mut dst = File::from(dst);
            let size = now.st_size as u64;
            let sparse = (now.st_blocks as u64).saturating_mul(512) < size;
            copy_contents(&mut src, &mut dst, size, sparse, shown, watch)?;
            // After the contents (writing clears `security.capability`), before the mode (a
            // read-only mode would forbid the owner to write `user.*`; the mode, consistent
            // with the access ACL just set, leaves it as it is).
            let attrs = Attrs {
                mode: file_mode(&st, &dst_st).as_raw_mode(),
                keep_caps: st.st_uid == dst_st.st_uid,
                policy: rules.xattrs,
            };
            let mode = copy_xattrs(src.as_fd(), dst.as_fd(), attrs, shown, watch)?;
            rustix::fs::fchmod(&dst, Mode::from_raw_mode(mode)).syscall("fchmod")?;
            rustix::fs::futimens(&dst, &times_of(&st)).syscall("futimens")?;
            Ok(None)
        }
        FileType::Symlink => {
            // Through the pinned fd (empty path): the link that was checked, never whatever a
            // rename put at the name since (which gave a bare EINVAL before).
            let target = rustix::fs::readlinkat(&pinned, "", Vec::new()).syscall("readlinkat")?;
            rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name).syscall("symlinkat")?;
            record_by_name(dst_dir, dst_name, FileType::Symlink, made)?;
            rustix::fs::utimensat(dst_dir, dst_name, &times_of(&st), AtFlags::SYMLINK_NOFOLLOW)
                .syscall("utimensat")?;
            Ok(None)
        }
        special if rules.special_files == SpecialFiles::Refuse => {
            Err(special_refused(&shown(), special))
        }
        special => {
            // Set-ID bits mean nothing on a FIFO, socket or device node; they are never copied.
            let mode = Mode::from_raw_mode(st.st_mode & 0o7777 & !SETID);
            rustix::fs::mknodat(
                dst_dir,
                dst_name,
                rustix::fs::FileType::from_raw_mode(st.st_mode),
                mode,
                st.st_rdev,
            )
            .syscall("mknodat")?;
            record_by_name(dst_dir, dst_name, special, made)?;
            rustix::fs::utimensat(dst_dir, dst_name, &times_of(&st), AtFlags::SYMLINK_NOFOLLOW)
                .syscall("utimensat")?;
            Ok(None)
        }
    }
}

/// How [`copy_xattrs`] treats one entry.
#[derive(Clone, Copy)]
struct Attrs {
    /// The mode the copy was given, narrowed if its access ACL cannot be set.
    mode: u32,
    /// Whether `security.capability` may be copied: the copy has the source's owner.
    keep_caps: bool,
    policy: Xattrs,
}

/// Copies the extended attributes of `src` to `dst` (both open fds of a regular file or a
/// directory) as [`Xattrs`] says: which ones, and what a failure does (a [`CopyWarning`], or
/// the copy's error with [`Xattrs::Strict`]). Returns the mode `dst` is to get: `attrs.mode`,
/// narrowed if its access ACL could not be set.
fn copy_xattrs(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    attrs: Attrs,
    shown: &dyn Fn() -> PathBuf,
    watch: &mut Watch<'_, '_>,
) -> Result<u32> {
    let mut mode = attrs.mode;
    if attrs.policy == Xattrs::None {
        return Ok(mode);
    }
    let strict = attrs.policy == Xattrs::Strict;
    let lost = |what: String, outcome: String, errno: Errno, watch: &mut Watch<'_, '_>| {
        if strict {
            return Err(Error::with_detail(
                crate::ErrorKind::Os,
                errno,
                format!("{:?}: {what}: could not be copied", shown()),
            ));
        }
        watch.warn(|| CopyWarning {
            path: shown(),
            what,
            outcome,
            errno,
        });
        Ok(())
    };
    let names = match list_xattrs(src) {
        Ok(names) => names,
        // The source's file system has none.
        Err(Errno::OPNOTSUPP) => return Ok(mode),
        Err(e) => {
            let (what, outcome) = ("extended attributes", "not copied (could not be listed)");
            return lost(what.into(), outcome.into(), e, watch).map(|()| mode);
        }
    };
    let root = rustix::process::geteuid().is_root();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let wanted = name.starts_with(b"user.")
            || name == b"system.posix_acl_access"
            || name == b"system.posix_acl_default"
            || (name.starts_with(b"security.")
                && (name != b"security.capability" || attrs.keep_caps))
            || (name.starts_with(b"trusted.") && root);
        if !wanted {
            continue;
        }
        let shown_name = OsStr::from_bytes(name);
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let value = match get_xattr(src, &cname) {
            Ok(value) => value,
            // Removed meanwhile.
            Err(Errno::NODATA) => continue,
            Err(e) => {
                let what = format!("extended attribute {shown_name:?}");
                lost(what, "not copied (could not be read)".into(), e, watch)?;
                continue;
            }
        };
        let Err(e) = rustix::fs::fsetxattr(dst, &cname, &value, rustix::fs::XattrFlags::empty())
        else {
            continue;
        };
        let mut outcome = "not copied".to_string();
        if name == b"system.posix_acl_access" {
            let narrowed = narrowed_mode(mode, &value);
            if narrowed != mode {
                mode = narrowed;
                outcome = format!("not copied; mode narrowed to {narrowed:04o}");
            }
        }
        lost(
            format!("extended attribute {shown_name:?}"),
            outcome,
            e,
            watch,
        )?;
    }
    Ok(mode)
}

/// The names of `fd`'s extended attributes, NUL-separated (`flistxattr`): one syscall for the
/// usual few (most files have none).
fn list_xattrs(fd: BorrowedFd<'_>) -> std::result::Result<Vec<u8>, Errno> {
    let mut first = [0u8; 1024];
    match rustix::fs::flistxattr(fd, &mut first[..]) {
        Ok(n) => return Ok(first[..n].to_vec()),
        Err(Errno::RANGE) => {}
        Err(e) => return Err(e),
    }
    loop {
        let size = rustix::fs::flistxattr_query(fd)?;
        let mut buf = vec![0u8; size];
        match rustix::fs::flistxattr(fd, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            // It grew meanwhile.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The value of `fd`'s extended attribute `name` (`fgetxattr`).
fn get_xattr(fd: BorrowedFd<'_>, name: &std::ffi::CStr) -> std::result::Result<Vec<u8>, Errno> {
    loop {
        let size = rustix::fs::fgetxattr_query(fd, name)?;
        let mut buf = vec![0u8; size];
        match rustix::fs::fgetxattr(fd, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `mode`, no wider than the access ACL `acl` (`system.posix_acl_access`, version 2) it could
/// not keep: group bits at most the owning group's entry masked by the mask (the mode's group
/// bits show the mask, which may grant more than the owning group had), and no "other" bits if
/// the ACL named users or groups (they fall into "other" without it; the ACL may have refused
/// them). An ACL that cannot be read leaves neither group nor "other" bits.
fn narrowed_mode(mode: u32, acl: &[u8]) -> u32 {
    const USER: u16 = 0x02;
    const GROUP_OBJ: u16 = 0x04;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    let (header, entries) = acl.split_at(acl.len().min(4));
    if header != 2u32.to_le_bytes() || entries.len() % 8 != 0 {
        return mode & !0o077;
    }
    let (mut group_obj, mut mask, mut named) = (0o7, 0o7, false);
    for entry in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let perm = u32::from(u16::from_le_bytes([entry[2], entry[3]])) & 0o7;
        match tag {
            GROUP_OBJ => group_obj = perm,
            MASK => mask = perm,
            USER | GROUP => named = true,
            _ => {}
        }
    }
    let group = (mode >> 3) & 0o7 & group_obj & mask;
    let mut narrowed = (mode & !0o070) | (group << 3);
    if named {
        narrowed &= !0o007;
    }
    narrowed
}

/// How much of a file is copied between two calls of a progress hook.
const PROGRESS_CHUNK: u64 = 16 << 20;

/// Copies a file's `size` bytes, keeping its holes, as `cp --sparse=auto` (what `cp -a` does):
/// only the data extents that `lseek(SEEK_DATA)` / `lseek(SEEK_HOLE)` find are copied (with
/// `copy_file_range` through `std::io::copy`), each at its offset, and the copy is then cut to
/// `size` with `ftruncate`, so that a trailing hole stays a hole. A 1 GiB file with 4 KiB of
/// data in it costs 4 KiB, not 1 GiB (a sparse file in a container could otherwise fill the
/// host's disk). Where the source's file system does not report holes (`EINVAL`,
/// `EOPNOTSUPP`), the whole file is one extent: a full copy.
///
/// `sparse` says whether to look for holes at all: a file whose blocks cover its size
/// (`st_blocks * 512 >= st_size`, GNU `cp`'s test) has none, and is copied in one go, to its
/// end (whatever `size` says).
///
/// Watched, in chunks, so that a large file shows progress and can be stopped between two
/// chunks; unwatched, one call per extent.
fn copy_contents(
    src: &mut File,
    dst: &mut File,
    size: u64,
    sparse: bool,
    shown: &dyn Fn() -> PathBuf,
    watch: &mut Watch<'_, '_>,
) -> Result<()> {
    use rustix::fs::SeekFrom;
    if !sparse {
        // All data (as `cp` decides too): one copy to the end of the file, no lseek, no
        // ftruncate. To the end, not `size`: procfs and sysfs files say 0 and have contents.
        return copy_range(src, dst, u64::MAX, shown, watch).map(drop);
    }
    let mut pos = 0;
    while pos < size {
        let (data, end) = match rustix::fs::seek(&*src, SeekFrom::Data(pos)) {
            Ok(data) if data >= size => break,
            Ok(data) => {
                let hole = rustix::fs::seek(&*src, SeekFrom::Hole(data)).syscall("lseek")?;
                (data, hole.min(size))
            }
            // Nothing but a hole from `pos` to the end.
            Err(Errno::NXIO) => break,
            Err(Errno::INVAL | Errno::OPNOTSUPP) => (pos, size),
            Err(e) => return Err(e.syscall("lseek")),
        };
        // A hole is part of the contents reproduced: counted, so that a file's bytes add up to
        // its size in the progress.
        if data > pos {
            watch.bytes(data - pos, shown)?;
        }
        rustix::fs::seek(&*src, SeekFrom::Start(data)).syscall("lseek")?;
        rustix::fs::seek(&*dst, SeekFrom::Start(data)).syscall("lseek")?;
        let copied = copy_range(src, dst, end - data, shown, watch)?;
        pos = data + copied;
        if copied < end - data {
            // The source shrank meanwhile: what is left of it is copied; the size is cut below.
            break;
        }
    }
    if pos < size {
        watch.bytes(size - pos, shown)?;
    }
    rustix::fs::ftruncate(&*dst, size).syscall("ftruncate")
}

/// Copies `len` bytes from `src`'s offset to `dst`'s, in [`PROGRESS_CHUNK`]s when watched;
/// returns how many were copied (fewer at the source's end).
fn copy_range(
    src: &mut File,
    dst: &mut File,
    len: u64,
    shown: &dyn Fn() -> PathBuf,
    watch: &mut Watch<'_, '_>,
) -> Result<u64> {
    use std::io::Read as _;
    let chunk = if watch.is_watched() {
        PROGRESS_CHUNK
    } else {
        len
    };
    let mut done = 0;
    while done < len {
        let want = chunk.min(len - done);
        let n = std::io::copy(&mut src.by_ref().take(want), dst).map_err(Error::from)?;
        done += n;
        watch.bytes(n, shown)?;
        if n < want {
            break;
        }
    }
    Ok(done)
}

/// Makes `dst_dir/dst_name` a new link to the copy of the source file `src_id`, if the copy
/// has one ([`Made::links`]), and says whether it did. The copy's path is walked down from
/// [`Made::base`] with `O_NOFOLLOW` and the new link must have the copy's identity: only what
/// the copy made is linked to (anything else found there, it is unlinked again). A refusal
/// (`EMLINK`, a sandbox without `REFER`, a copied directory mode that shuts us out) is a
/// [`CopyWarning`], and the file is copied on its own instead.
fn link_again(
    src_id: FileId,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    made: &mut Made<'_>,
    shown: &dyn Fn() -> PathBuf,
    watch: &mut Watch<'_, '_>,
) -> bool {
    let Some(first) = made.links.get_mut(&src_id) else {
        return false;
    };
    let linked = (|| {
        let mut names: Vec<&OsStr> = first.path.iter().collect();
        let last = names.pop().ok_or(Errno::INVAL)?;
        let mut dir: Option<OwnedFd> = None;
        for name in names {
            let at = dir.as_ref().map_or(made.base, |fd| fd.as_fd());
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            dir = Some(rustix::fs::openat(at, name, flags, Mode::empty())?);
        }
        let at = dir.as_ref().map_or(made.base, |fd| fd.as_fd());
        rustix::fs::linkat(at, last, dst_dir, dst_name, AtFlags::empty())?;
        let st = rustix::fs::statat(dst_dir, dst_name, AtFlags::SYMLINK_NOFOLLOW)?;
        if FileId::from_stat(&st) != first.id {
            // Not the copy's file (renamed in meanwhile): undo the new name, in a directory
            // of the copy.
            let _ = rustix::fs::unlinkat(dst_dir, dst_name, AtFlags::empty());
            return Err(Errno::STALE);
        }
        Ok(())
    })();
    match linked {
        Ok(()) => {
            first.pending = first.pending.saturating_sub(1);
            if first.pending == 0 {
                made.links.remove(&src_id);
            }
            true
        }
        Err(errno) => {
            let what = format!("hard link to {:?}", first.shown);
            watch.warn(|| CopyWarning {
                path: shown(),
                what,
                outcome: "copied as a separate file".into(),
                errno,
            });
            false
        }
    }
}

/// Records the identity of an entry just created by name (a symlink or special file, which
/// cannot be opened to be checked), if it is the type we created and ours.
fn record_by_name(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    want: FileType,
    made: &mut Made<'_>,
) -> Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).syscall("fstatat")?;
    if FileType::from_mode(st.st_mode) != want || st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(replaced_at_creation(name));
    }
    made.insert(&st);
    Ok(())
}

/// Whether `st` is what `mkdirat(…, 0700)` just made: a directory of ours, owner-only. Only
/// we (or root) can put such a directory at the name between the `mkdirat` and the look.
fn is_fresh_dir(st: &Stat) -> bool {
    FileType::from_mode(st.st_mode) == FileType::Dir
        && st.st_uid == rustix::process::geteuid().as_raw()
        && st.st_mode & 0o077 == 0
}

/// A directory of the copy is opened by name after `mkdirat`: between the two, someone could
/// have renamed their own directory to that name (anyone who can write the destination
/// directory, for the top; only root, below it, since the copy's directories are owner-only
/// while they are filled), or filled ours. It must be what `mkdirat` makes: empty. Read through
/// the same fd (no second open, which could fail with `EMFILE` too), rewound afterwards.
fn check_empty(dir: &OwnedFd, name: &OsStr) -> Result<()> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 256];
    let mut entries = rustix::fs::RawDir::new(dir, &mut buf);
    let mut empty = true;
    while let Some(entry) = entries.next() {
        let entry = entry.syscall("getdents64")?;
        if entry.file_name() != c"." && entry.file_name() != c".." {
            empty = false;
            break;
        }
    }
    rustix::fs::seek(dir, rustix::fs::SeekFrom::Start(0)).syscall("lseek")?;
    if empty {
        Ok(())
    } else {
        Err(replaced_at_creation(name))
    }
}

/// The error for a temporary entry that was not what we had just created when we looked.
fn replaced_at_creation(name: &OsStr) -> Error {
    Error::replaced(format!(
        "{name:?} was replaced by someone else right after the copy created it"
    ))
}

/// The error for a source entry that changed between its check and its use: which entry, what
/// it was and what it is now.
fn changed(shown: &Path, was: &Stat, now: &Stat) -> Error {
    let describe = |st: &Stat| {
        format!(
            "{} (inode {} on device {}:{})",
            FileType::from_mode(st.st_mode).description(),
            st.st_ino,
            rustix::fs::major(st.st_dev),
            rustix::fs::minor(st.st_dev)
        )
    };
    Error::with_detail(
        crate::ErrorKind::Os,
        Errno::AGAIN,
        format!(
            "{shown:?} was replaced while it was being copied: it was a {}, now it is a {}",
            describe(was),
            describe(now)
        ),
    )
}

/// The refusal of a FIFO, socket or device node without [`CopyOptions::special_files`], naming
/// the entry of the tree.
fn special_refused(shown: &Path, file_type: FileType) -> Error {
    special_refusal(file_type, Some(shown)).unwrap_or_else(|| Error::from_errno(Errno::NXIO))
}

/// The permission bits of `st`, with setuid, setgid and sticky.
fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// The mode for the copy `copy` of the regular file `src`: [`set_id_kept`] of its mode and
/// owners.
fn file_mode(src: &Stat, copy: &Stat) -> Mode {
    Mode::from_raw_mode(set_id_kept(
        src.st_mode,
        (src.st_uid, src.st_gid),
        (copy.st_uid, copy.st_gid),
    ))
}

/// The copy rule for set-ID bits, the one every operation that recreates a file uses (a copy,
/// [`ReplaceMode::KeepOr`], `procroot-runtime`'s layer unpacker): `mode`'s permission, sticky
/// and set-ID bits (`& 0o7777`), but without set-user-ID unless the new file has the
/// `original` owner (uid), and without set-group-ID unless it has its owner and group
/// (`(uid, gid)` pairs). Otherwise copying out uid 1000's mode-4755 file as root would make a
/// root-owned set-user-ID program on the host, and unpacking an archive without keeping its
/// owners would make the caller's.
pub fn set_id_kept(mode: u32, original: (u32, u32), new: (u32, u32)) -> u32 {
    let mut mode = mode & 0o7777;
    if original.0 != new.0 {
        mode &= !SETID;
    } else if original.1 != new.1 {
        mode &= !0o2000;
    }
    mode
}

/// The access and modification times of `st`.
fn times_of(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// The mode [`ReplaceMode::KeepOr`] gives `new`, which replaces `name` in `dir`: the
/// old regular file's bits under the set-ID rule of [`file_mode`], else `default`.
fn kept_mode(dir: BorrowedFd<'_>, name: &OsStr, new: &File, default: u32) -> Result<Mode> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(old) if FileType::from_mode(old.st_mode) == FileType::File => {
            Ok(file_mode(&old, &rustix::fs::fstat(new)?))
        }
        Ok(_) | Err(Errno::NOENT) => Ok(Mode::from_raw_mode(default)),
        Err(e) => Err(e.into()),
    }
}

/// Creates an empty, owner-only regular file under a fresh temporary name in `dir`, and returns
/// it with its identity (for removing it by identity only).
fn create_temp_file(dir: BorrowedFd<'_>) -> Result<(OsString, OwnedFd, FileId)> {
    for _ in 0..TEMP_ATTEMPTS {
        let temp = temp_name();
        match rustix::fs::openat(
            dir,
            &temp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).syscall("fstat")?;
                return Ok((temp, fd, FileId::from_stat(&st)));
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.syscall("openat")),
        }
    }
    Err(Error::with_detail(
        crate::ErrorKind::Os,
        Errno::EXIST,
        "no free temporary name in the destination directory",
    ))
}

/// `.procroot-copy-<pid>-<counter>-<nanoseconds>`: unlikely to collide, and collisions are
/// detected (`O_EXCL`, `mkdirat`) anyway.
fn temp_name() -> OsString {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    OsString::from(format!(".procroot-copy-{}-{n}-{nanos}", std::process::id()))
}

/// Why copying one top-level entry failed.
enum CopyError {
    /// The destination name already existed before we created anything.
    NameTaken,
    /// Anything else; whatever was created under the name must be removed.
    Failed(Error),
}

impl From<Error> for CopyError {
    fn from(e: Error) -> Self {
        CopyError::Failed(e)
    }
}

impl From<Errno> for CopyError {
    fn from(e: Errno) -> Self {
        CopyError::Failed(e.into())
    }
}
