//! Renaming, symlinks, hard links and device nodes inside a [`Root`].
//!
//! Every operation finds where it acts with [`Root::parent_and_name`]: the parent directory is
//! resolved inside the root to a held fd, and the last component is handed to an `*at` syscall
//! relative to that fd, never looked up or followed by us. The kernel therefore never sees a
//! joined path, and a rename racing with us can at worst make the operation fail.

#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::str::FromStr;

use rustix::fs::{AtFlags, Mode, RenameFlags};
use rustix::io::Errno;

use super::{Handle, Root};
use crate::error::Quoted;
use crate::error::{Error, Result};
use crate::fs::FileId;
use crate::procfs::Procfs;
use crate::resolve::path::with_trailing_slash;
use crate::sys::features::{self, Feature};
use crate::sys::{self, Syscall as _};

/// The kind of special file [`Root::mknod`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A named pipe (`S_IFIFO`), as `mkfifo(3)` makes.
    Fifo,
    /// A character device (`S_IFCHR`) with the given device numbers, such as `1:3` for
    /// `/dev/null`. Needs `CAP_MKNOD`.
    CharDevice {
        /// The device's major number.
        major: u32,
        /// The device's minor number.
        minor: u32,
    },
    /// A block device (`S_IFBLK`) with the given device numbers. Needs `CAP_MKNOD`.
    BlockDevice {
        /// The device's major number.
        major: u32,
        /// The device's minor number.
        minor: u32,
    },
}

impl NodeKind {
    /// The largest device major number Linux stores: `mknod(2)` passes a 32-bit `dev` that the
    /// kernel splits into a 12-bit major and a 20-bit minor, silently dropping higher bits.
    pub const MAX_MAJOR: u32 = (1 << 12) - 1;
    /// The largest device minor number Linux stores (20 bits); see [`NodeKind::MAX_MAJOR`].
    pub const MAX_MINOR: u32 = (1 << 20) - 1;

    /// Refuses device numbers the kernel cannot represent. Without this check `mknod(2)` keeps
    /// only the low bits: `b 8 1048576` would make `8:0`, a whole disk, and `c 1 1048579` would
    /// make `1:3`, `/dev/null`, while reporting the numbers that were asked for.
    pub fn check(self) -> Result<NodeKind> {
        if let NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } = self
        {
            if major > Self::MAX_MAJOR || minor > Self::MAX_MINOR {
                return Err(Error::invalid_input(
                    Errno::INVAL,
                    format!(
                        "device {major}:{minor} is out of range (major at most \
                         {}, minor at most {}): the kernel \
                         would silently make a different device",
                        Self::MAX_MAJOR,
                        Self::MAX_MINOR
                    ),
                ));
            }
        }
        Ok(self)
    }

    fn file_type(self) -> rustix::fs::FileType {
        match self {
            NodeKind::Fifo => rustix::fs::FileType::Fifo,
            NodeKind::CharDevice { .. } => rustix::fs::FileType::CharacterDevice,
            NodeKind::BlockDevice { .. } => rustix::fs::FileType::BlockDevice,
        }
    }

    fn dev(self) -> rustix::fs::Dev {
        match self {
            NodeKind::Fifo => 0,
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                rustix::fs::makedev(major, minor)
            }
        }
    }
}

impl fmt::Display for NodeKind {
    /// `p`, `c:MAJOR:MINOR` or `b:MAJOR:MINOR`, the form [`NodeKind::from_str`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKind::Fifo => f.write_str("p"),
            NodeKind::CharDevice { major, minor } => write!(f, "c:{major}:{minor}"),
            NodeKind::BlockDevice { major, minor } => write!(f, "b:{major}:{minor}"),
        }
    }
}

impl FromStr for NodeKind {
    type Err = Error;

    /// Parses `p` (or `fifo`), `c:MAJOR:MINOR` (or `char:...`, `u:...` as in `mknod(1)`) and
    /// `b:MAJOR:MINOR` (or `block:...`). Anything else is `InvalidInput`, and so are device
    /// numbers beyond [`NodeKind::MAX_MAJOR`] and [`NodeKind::MAX_MINOR`] ([`NodeKind::check`]).
    fn from_str(s: &str) -> Result<NodeKind> {
        let bad = || {
            Error::invalid_input(
                Errno::INVAL,
                format!("{s:?} is not a node kind (p, c:MAJOR:MINOR or b:MAJOR:MINOR)"),
            )
        };
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or_default();
        let mut number = || -> Result<u32> {
            parts
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(bad)
        };
        let node = match kind {
            "p" | "fifo" => NodeKind::Fifo,
            "c" | "u" | "char" => NodeKind::CharDevice {
                major: number()?,
                minor: number()?,
            },
            "b" | "block" => NodeKind::BlockDevice {
                major: number()?,
                minor: number()?,
            },
            _ => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        node.check()
    }
}

impl Root {
    /// Renames `from` to `to` with `renameat2(2)` and `flags` (`NOREPLACE`: fail with `EEXIST`
    /// if `to` exists; `EXCHANGE`: swap the two atomically; `WHITEOUT`: leave an overlayfs
    /// whiteout at `from`, which needs `CAP_MKNOD`).
    ///
    /// Both parents are resolved inside the root; the last components are renamed themselves,
    /// so a trailing symlink is renamed, never followed. Across mounts the kernel says `EXDEV`.
    /// A path that does not end in a name (`.`, `..`, `/`, empty) is `InvalidInput`.
    pub fn rename(
        &self,
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
        flags: RenameFlags,
    ) -> Result<()> {
        const OP: &str = "rename";
        let (from, to) = (from.as_ref(), to.as_ref());
        let (from_parent, from_name) = self.parent_and_name(OP, from)?;
        let (to_parent, to_name) = self.parent_and_name(OP, to)?;
        rustix::fs::renameat_with(
            &from_parent,
            with_trailing_slash(from, from_name).as_os_str(),
            &to_parent,
            with_trailing_slash(to, to_name).as_os_str(),
            flags,
        )
        .syscall_with("renameat2", || {
            let (from, to) = (Quoted(from.as_os_str()), Quoted(to.as_os_str()));
            format!("{from}, {to}, {}", sys::flag_names(flags))
        })
        .map_err(|e| self.annotate_op(e, OP, from))
    }

    /// Creates a symlink at `linkpath` whose target is `target`, stored verbatim: the target is
    /// data, never resolved now. An absolute target is fine; it will be resolved inside the root
    /// when the root's resolver follows the link.
    ///
    /// An empty target is `InvalidInput` (`ENOENT`, as `symlink(2)` says), a NUL byte in it
    /// `InvalidInput` (`EINVAL`), and so is a `linkpath` ending in a slash (`EINVAL`, before
    /// any syscall, as in libpathrs). An existing `linkpath`, even a dangling symlink, is
    /// `EEXIST`.
    pub fn symlink(&self, target: impl AsRef<Path>, linkpath: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "symlink";
        let (target, linkpath) = (target.as_ref(), linkpath.as_ref());
        let bytes = target.as_os_str().as_bytes();
        if bytes.is_empty() {
            return Err(self.annotate_op(
                Error::invalid_input(Errno::NOENT, "a symlink target cannot be empty"),
                OP,
                linkpath,
            ));
        }
        if bytes.contains(&0) {
            return Err(self.annotate_op(
                Error::invalid_input(Errno::INVAL, "a symlink target cannot contain a NUL byte"),
                OP,
                linkpath,
            ));
        }
        let (parent, name) = self.parent_and_new_name(OP, linkpath)?;
        rustix::fs::symlinkat(target, &parent, name.as_os_str())
            .syscall("symlinkat")
            .map_err(|e| self.annotate_op(e, OP, linkpath))
    }

    /// Makes `new` a hard link to `existing`. Like `link(2)`, `existing` is not followed if it
    /// is a symlink: the link itself gets a second name. A directory is `EPERM`, another mount
    /// `EXDEV`, an existing `new` `EEXIST`. Either path ending in a slash, or in no name (`/`,
    /// `.`, `..`), is `InvalidInput` (`EINVAL`) before anything is looked up, as in libpathrs.
    ///
    /// `existing` is resolved inside the root to an `O_PATH` handle, which is then linked by fd
    /// (see [`Root::hardlink_fd`]), so it cannot be swapped between resolving and linking.
    pub fn hardlink(&self, existing: impl AsRef<Path>, new: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "hardlink";
        let (existing, new) = (existing.as_ref(), new.as_ref());
        // Both must name an entry, without a trailing slash (a hard link is never made to a
        // directory, nor is one made): decided before anything is looked up, as libpathrs
        // decides it (EINVAL).
        // (An empty `existing` is left to the resolver: `ENOENT`, as for every lookup.)
        if !existing.as_os_str().is_empty() {
            self.check_non_directory_name(
                OP,
                existing,
                "a trailing slash names a directory, and a hard link is never made to one",
            )?;
        }
        self.check_non_directory_name(OP, new, super::MAKES_NON_DIRECTORY)?;
        let handle = self
            .resolve_nofollow(existing)
            .map_err(|e| self.annotate_op(e, OP, existing))?;
        self.link_fd_at(handle.as_fd(), new)
    }

    /// Gives the file `fd` refers to the name `new` inside the root: how an `O_TMPFILE` file
    /// (opened without `O_EXCL`) is made visible once it is complete. `fd` may be any fd, also
    /// an `O_PATH` one or a [`Handle`]. A file with no name left (an `O_TMPFILE` opened with
    /// `O_EXCL`, a deleted file) is `ENOENT`, a directory `EPERM`, another mount `EXDEV`.
    ///
    /// This is `linkat(fd, "", parent, name, AT_EMPTY_PATH)`. The kernel allows that only with
    /// `CAP_DAC_READ_SEARCH`, or (Linux 6.10+) for an fd opened with the caller's own
    /// credentials, and refuses otherwise with `ENOENT`. Then the link is made the other
    /// documented way (`open(2)`, `O_TMPFILE`): `linkat` with `AT_SYMLINK_FOLLOW` on the magic
    /// link `fd/N` of `/proc/thread-self`, looked up through the verified procfs handle so
    /// that no mount on `/proc` can redirect it, and checked afterwards to have linked the very
    /// inode `fd` refers to.
    pub fn hardlink_fd(&self, fd: impl AsFd, new: impl AsRef<Path>) -> Result<()> {
        self.link_fd_at(fd.as_fd(), new.as_ref())
    }

    fn link_fd_at(&self, fd: BorrowedFd<'_>, new: &Path) -> Result<()> {
        const OP: &str = "hardlink";
        let (parent, name) = self.parent_and_new_name(OP, new)?;
        link_fd(fd, &parent, &name).map_err(|e| self.annotate_op(e, OP, new))
    }

    /// Makes a FIFO or a device node at `path` (`mknodat(2)`), with permission bits `mode`
    /// (the process umask applies, as with `mknod(2)`). Mode bits beyond `0o7777` are
    /// `InvalidInput`, and so is a major above [`NodeKind::MAX_MAJOR`] (4095) or a minor above
    /// [`NodeKind::MAX_MINOR`] (1048575), checked before any syscall: the kernel would keep only
    /// the low bits and make another device. Device nodes need `CAP_MKNOD` (`EPERM`), and on a
    /// `nodev` mount they can be made but not opened. An existing `path`, even a dangling
    /// symlink, is `EEXIST`; a `path` ending in a slash is `InvalidInput` (`EINVAL`).
    pub fn mknod(&self, path: impl AsRef<Path>, kind: NodeKind, mode: u32) -> Result<()> {
        const OP: &str = "mknod";
        let path = path.as_ref();
        check_mode(mode).map_err(|e| self.annotate_op(e, OP, path))?;
        kind.check().map_err(|e| self.annotate_op(e, OP, path))?;
        let (parent, name) = self.parent_and_new_name(OP, path)?;
        rustix::fs::mknodat(
            &parent,
            name.as_os_str(),
            kind.file_type(),
            Mode::from_raw_mode(mode),
            kind.dev(),
        )
        .syscall("mknodat")
        .map_err(|e| self.annotate_op(e, OP, path))
    }
}

/// Mode bits beyond the permission and set-id bits (file type bits, garbage) are `InvalidInput`
/// rather than silently masked off by the kernel.
pub(super) fn check_mode(mode: u32) -> Result<()> {
    if mode & !0o7777 != 0 {
        return Err(Error::invalid_input(
            Errno::INVAL,
            format!("mode {mode:#o} has bits beyond 0o7777"),
        ));
    }
    Ok(())
}

/// Links the file `fd` refers to as `name` in `parent`; see [`Root::hardlink_fd`].
fn link_fd(fd: BorrowedFd<'_>, parent: &Handle, name: &OsStr) -> Result<()> {
    if !features::known_unavailable(Feature::LinkatEmptyPath) {
        match rustix::fs::linkat(fd, "", parent, name, AtFlags::EMPTY_PATH) {
            // ENOENT is also what a nameless file (O_TMPFILE|O_EXCL, deleted) or a deleted parent
            // gives; the fallback then gives it too, so the answer is the same either way. It
            // is not remembered: it depends on the fd's credentials, not on the kernel.
            Err(Errno::NOENT) => {}
            other => return other.syscall("linkat"),
        }
    }
    // `linkat(fddir, "N", parent, name, AT_SYMLINK_FOLLOW)`: the kernel follows the magic link
    // to the inode the fd pins, whatever its name is now, and needs no capability for it.
    let link = Procfs::cached()?.fd_link(fd)?;
    rustix::fs::linkat(
        link.dir(),
        link.name(),
        parent,
        name,
        AtFlags::SYMLINK_FOLLOW,
    )
    .syscall("linkat")?;
    // A mount appearing on the magic link (possible only on a procfs instance that is not
    // detached) would have linked another file. Check what was linked and take it back if so.
    let want = rustix::fs::fstat(fd).syscall("fstat")?;
    let got = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).syscall("fstatat")?;
    if FileId::from_stat(&got) != FileId::from_stat(&want) || link.recheck().is_err() {
        let _ = rustix::fs::unlinkat(parent, name, AtFlags::empty());
        return Err(Error::escape(
            "linking through procfs reached another file (a mount raced with the link)",
        ));
    }
    Ok(())
}
