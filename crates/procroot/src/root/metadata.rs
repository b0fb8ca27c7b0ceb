//! Changing metadata inside a [`Root`]: permissions, owner, times and extended attributes, all
//! by fd.
//!
//! The file is resolved inside the root to an `O_PATH` [`Handle`] and changed through that fd,
//! never by a path an attacker could swap between our check and the kernel's lookup:
//!
//! | operation | with a recent kernel | fallback |
//! |---|---|---|
//! | mode | `fchmodat2(fd, "", AT_EMPTY_PATH)` (6.6) | `fchmodat(fddir, "N")` |
//! | owner | `fchownat(fd, "", AT_EMPTY_PATH)` | — |
//! | times | `utimensat(fd, "", AT_EMPTY_PATH)` | `utimensat(fddir, "N")` (not symlinks) |
//! | xattrs | `getxattrat`/`setxattrat(fddir, "N")` (6.13) | reopen, `fgetxattr`/`fsetxattr` |
//!
//! `fddir` is `/proc/thread-self/fd` looked up through the verified procfs handle
//! ([`Procfs::cached`]) and `N` the handle's fd number: a path-based call there follows the magic
//! link to exactly the inode the handle pins, whatever it is called now. `fchownat` and
//! `utimensat` have accepted `AT_EMPTY_PATH` on `O_PATH` fds for long; `fgetxattr` does not take
//! `O_PATH` fds, and `getxattrat` with `AT_EMPTY_PATH` refuses them too (`EBADF`, still in 6.18),
//! hence the magic link even on new kernels.
//!
//! Landlock does not mediate any of these changes, so the [`Root`] methods that make them (not
//! reading an xattr) first make the second check ([`Root::with_second_check`], on by default):
//! the resolved fd must be the file a plain downward walk from the root reaches, else `EACCES`.
//! The [`Handle`] methods do not: a handle does not know its root.

#![forbid(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps, UTIME_OMIT};
use rustix::io::Errno;

use super::links::check_mode;
use super::{FileType, Handle, Root};
use crate::error::{Error, ErrorKind, Result};
use crate::procfs::Procfs;
use crate::sys::attrs;
use crate::sys::features::{self, Feature};
use crate::sys::Syscall as _;

/// `XATTR_SIZE_MAX`: the largest xattr value Linux accepts (`E2BIG` beyond).
const XATTR_SIZE_MAX: usize = 65536;
/// `XATTR_NAME_MAX`: the longest xattr name (`ERANGE` beyond).
const XATTR_NAME_MAX: usize = 255;

impl Root {
    /// Sets the permission bits of `path` to `mode`, following a trailing symlink as `chmod(2)`
    /// does (inside the root: `link -> /etc/passwd` changes the root's own `/etc/passwd`).
    /// Bits beyond `0o7777` are `InvalidInput`.
    ///
    /// Done by fd: `fchmodat2(fd, "", mode, AT_EMPTY_PATH)` (Linux 6.6), else `chmod` of the
    /// magic link `/proc/thread-self/fd/N` through the verified procfs, which needs no open (so
    /// no read permission, and no blocking or side effects on FIFOs and devices).
    ///
    /// The resolved file must pass the second check ([`Root::with_second_check`]): one that is
    /// not inside the root is refused with `EACCES` and left unchanged. The same holds for
    /// [`Root::chown`], [`Root::chown_nofollow`], [`Root::set_times`],
    /// [`Root::set_times_nofollow`] and [`Root::set_xattr`].
    pub fn set_permissions(&self, path: impl AsRef<Path>, mode: u32) -> Result<()> {
        const OP: &str = "chmod";
        let path = path.as_ref();
        check_mode(mode).map_err(|e| self.annotate_op(e, OP, path))?;
        self.resolve(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.set_permissions(mode)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// Changes the owner and/or group of `path` (`None` leaves it unchanged), following a
    /// trailing symlink. `Some(u32::MAX)` is `InvalidInput`: the kernel reads `-1` as "unchanged".
    pub fn chown(&self, path: impl AsRef<Path>, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        const OP: &str = "chown";
        let path = path.as_ref();
        self.resolve(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.chown(uid, gid)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// [`Root::chown`] without following a trailing symlink: a symlink's own owner changes, as
    /// with `lchown(2)`.
    pub fn chown_nofollow(
        &self,
        path: impl AsRef<Path>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<()> {
        const OP: &str = "chown";
        let path = path.as_ref();
        self.resolve_nofollow(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.chown(uid, gid)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// Sets the access and/or modification time of `path` (`None` leaves it unchanged,
    /// `UTIME_OMIT`), following a trailing symlink. Times before 1970 are allowed where the file
    /// system stores them.
    pub fn set_times(
        &self,
        path: impl AsRef<Path>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<()> {
        const OP: &str = "set times";
        let path = path.as_ref();
        self.resolve(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.set_times(atime, mtime)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// [`Root::set_times`] without following a trailing symlink: a symlink's own times change,
    /// as with `lutimes(3)` (Linux stores them).
    pub fn set_times_nofollow(
        &self,
        path: impl AsRef<Path>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<()> {
        const OP: &str = "set times";
        let path = path.as_ref();
        self.resolve_nofollow(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.set_times(atime, mtime)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// Reads the extended attribute `name` (such as `user.comment` or `security.selinux`) of
    /// `path`, following a trailing symlink. No such attribute: `ENODATA`; a file system
    /// without xattrs: `EOPNOTSUPP`.
    pub fn read_xattr(&self, path: impl AsRef<Path>, name: impl AsRef<OsStr>) -> Result<Vec<u8>> {
        const OP: &str = "read xattr";
        let path = path.as_ref();
        self.resolve(path)
            .and_then(|handle| handle.read_xattr(name))
            .map_err(|e| self.annotate_op(e, OP, path))
    }

    /// Sets the extended attribute `name` of `path` to `value` (creating or replacing it),
    /// following a trailing symlink. An empty name is `InvalidInput` (`ERANGE`), a NUL byte in
    /// it `InvalidInput` (`EINVAL`); a value over 64 KiB is `E2BIG`.
    pub fn set_xattr(
        &self,
        path: impl AsRef<Path>,
        name: impl AsRef<OsStr>,
        value: &[u8],
    ) -> Result<()> {
        const OP: &str = "set xattr";
        let path = path.as_ref();
        self.resolve(path)
            .and_then(|handle| {
                self.check_inside(handle.as_fd())?;
                handle.set_xattr(name, value)
            })
            .map_err(|e| self.annotate_op(e, OP, path))
    }
}

impl Handle {
    /// Sets the permission bits of the file this handle pins (see [`Root::set_permissions`]).
    /// A symlink handle is `EOPNOTSUPP`: Linux has no symlink modes.
    pub fn set_permissions(&self, mode: u32) -> Result<()> {
        check_mode(mode)?;
        let mut refused = None;
        if !features::known_unavailable(Feature::Fchmodat2) {
            match attrs::fchmodat2(self, c"", mode, AtFlags::EMPTY_PATH) {
                Err(Errno::NOSYS) => features::mark_unavailable(Feature::Fchmodat2),
                // EPERM may be a seccomp filter that does not know the syscall yet (Docker's
                // older profiles) or a real refusal; the fallback tells them apart by giving
                // the same answer for a real one. Not remembered: it is usually real.
                Err(Errno::PERM) => refused = Some(Errno::PERM),
                other => return other.syscall("fchmodat2"),
            }
        }
        // Plain fchmodat follows the magic link to the pinned inode; for a symlink handle it
        // lands on the symlink and gives EOPNOTSUPP, as fchmodat2 does.
        let link = match Procfs::cached()?.fd_link(self.as_fd()) {
            Ok(link) => link,
            // Without a usable procfs, a refusal by fchmodat2 is the best answer there is.
            Err(e) => {
                return Err(match refused {
                    Some(errno) if e.kind() != ErrorKind::SafetyViolation => errno.into(),
                    _ => e,
                })
            }
        };
        let result = rustix::fs::chmodat(
            link.dir(),
            link.name(),
            Mode::from_raw_mode(mode),
            AtFlags::empty(),
        );
        link.recheck()?;
        result.syscall("fchmodat")
    }

    /// Changes the owner and/or group of the file this handle pins (a symlink handle: the
    /// symlink). `None` leaves it unchanged; `Some(u32::MAX)` is `InvalidInput`.
    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        if uid == Some(u32::MAX) || gid == Some(u32::MAX) {
            return Err(Error::invalid_input(
                Errno::INVAL,
                "id 4294967295 (-1) means \"unchanged\" to the kernel; pass None instead",
            ));
        }
        rustix::fs::chownat(
            self,
            "",
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
            AtFlags::EMPTY_PATH,
        )
        .syscall("fchownat")
    }

    /// Sets the access and/or modification time of the file this handle pins (a symlink
    /// handle: the symlink's own times). `None` leaves a time unchanged.
    pub fn set_times(&self, atime: Option<SystemTime>, mtime: Option<SystemTime>) -> Result<()> {
        let times = Timestamps {
            last_access: timespec(atime)?,
            last_modification: timespec(mtime)?,
        };
        if !features::known_unavailable(Feature::UtimensatEmptyPath) {
            match rustix::fs::utimensat(self, "", &times, AtFlags::EMPTY_PATH) {
                // Our timestamps are always valid, so EINVAL means a kernel that does not take
                // AT_EMPTY_PATH for utimensat yet (it came after fchownat's and fstatat's).
                Err(Errno::INVAL) => features::mark_unavailable(Feature::UtimensatEmptyPath),
                other => return other.syscall("utimensat"),
            }
        }
        // Following the magic link reaches the pinned inode, except for a symlink handle: the
        // link resolves to the symlink, and following it would go on to its target, while
        // AT_SYMLINK_NOFOLLOW would change the procfs link itself. Without AT_EMPTY_PATH there
        // is no way to reach a symlink's own times by fd.
        if self.file_type()? == FileType::Symlink {
            return Err(Error::with_detail(
                ErrorKind::NotSupported,
                Errno::OPNOTSUPP,
                "setting a symlink's own times by fd needs utimensat with AT_EMPTY_PATH",
            ));
        }
        let link = Procfs::cached()?.fd_link(self.as_fd())?;
        let result = rustix::fs::utimensat(link.dir(), link.name(), &times, AtFlags::empty());
        link.recheck()?;
        result.syscall("utimensat")
    }

    /// Reads the extended attribute `name` of the file this handle pins (see
    /// [`Root::read_xattr`]).
    pub fn read_xattr(&self, name: impl AsRef<OsStr>) -> Result<Vec<u8>> {
        let name = xattr_name(name.as_ref())?;
        if !features::known_unavailable(Feature::Xattrat) {
            let link = Procfs::cached()?.fd_link(self.as_fd())?;
            let path = link.name();
            let result = read_growing(|buf| {
                attrs::getxattrat(link.dir(), path, AtFlags::empty(), &name, buf)
            });
            link.recheck()?;
            match result {
                Err(Errno::NOSYS) => features::mark_unavailable(Feature::Xattrat),
                other => return other.syscall("getxattrat"),
            }
        }
        let file = self.reopen_for_xattr()?;
        read_growing(|buf| {
            if buf.is_empty() {
                rustix::fs::fgetxattr_query(&file, name.as_c_str())
            } else {
                rustix::fs::fgetxattr(&file, name.as_c_str(), buf)
            }
        })
        .syscall("fgetxattr")
    }

    /// Sets the extended attribute `name` of the file this handle pins to `value` (see
    /// [`Root::set_xattr`]).
    pub fn set_xattr(&self, name: impl AsRef<OsStr>, value: &[u8]) -> Result<()> {
        let name = xattr_name(name.as_ref())?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(Error::invalid_input(
                Errno::TOOBIG,
                "an xattr value is at most 64 KiB",
            ));
        }
        if !features::known_unavailable(Feature::Xattrat) {
            let link = Procfs::cached()?.fd_link(self.as_fd())?;
            let result =
                attrs::setxattrat(link.dir(), link.name(), AtFlags::empty(), &name, value, 0);
            link.recheck()?;
            match result {
                Err(Errno::NOSYS) => features::mark_unavailable(Feature::Xattrat),
                other => return other.syscall("setxattrat"),
            }
        }
        let file = self.reopen_for_xattr()?;
        rustix::fs::fsetxattr(
            &file,
            name.as_c_str(),
            value,
            rustix::fs::XattrFlags::empty(),
        )
        .syscall("fsetxattr")
    }

    /// Without `getxattrat` (before Linux 6.13) the only fd-based xattr calls need a real open
    /// file: reopen the handle through the verified procfs. Only for files whose open has no
    /// side effects: regular files, directories and FIFOs (with `O_NONBLOCK`, so that opening
    /// one without a writer does not block). A device or socket is `EOPNOTSUPP` rather than
    /// opened behind the caller's back. The xattr permission checks are the inode's own, so a
    /// read-only open serves writes too.
    fn reopen_for_xattr(&self) -> Result<std::fs::File> {
        match self.file_type()? {
            FileType::File | FileType::Dir | FileType::Fifo => self.reopen_with(
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
                super::SpecialFiles::Allow,
            ),
            _ => Err(Error::with_detail(
                ErrorKind::NotSupported,
                Errno::OPNOTSUPP,
                "xattrs of devices and sockets need getxattrat/setxattrat (Linux 6.13): \
                 opening the file could have side effects",
            )),
        }
    }
}

/// An xattr name as the kernel takes it: empty or longer than 255 bytes is `ERANGE`, a NUL byte
/// (which would silently cut the name) `EINVAL`.
pub(super) fn xattr_name(name: &OsStr) -> Result<CString> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > XATTR_NAME_MAX {
        return Err(Error::invalid_input(
            Errno::RANGE,
            "an xattr name must be 1 to 255 bytes long",
        ));
    }
    CString::new(bytes)
        .map_err(|_| Error::invalid_input(Errno::INVAL, "an xattr name cannot contain a NUL byte"))
}

/// Reads a value of unknown length: ask for the length (`read` with an empty buffer), read, and
/// start over if it grew in between (`ERANGE`).
pub(super) fn read_growing(
    mut read: impl FnMut(&mut [u8]) -> std::result::Result<usize, Errno>,
) -> std::result::Result<Vec<u8>, Errno> {
    loop {
        let len = read(&mut [])?;
        if len == 0 {
            // An empty buffer would be another length query, not a read.
            return Ok(Vec::new());
        }
        let mut buf = vec![0; len];
        match read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) if len < XATTR_SIZE_MAX => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A `SystemTime` as a `utimensat` timestamp; `None` is `UTIME_OMIT`. Times too far from 1970
/// for a signed 64-bit second count are `InvalidInput` (`EOVERFLOW`).
fn timespec(time: Option<SystemTime>) -> Result<Timespec> {
    let Some(time) = time else {
        return Ok(Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        });
    };
    let overflow = || Error::invalid_input(Errno::OVERFLOW, "the time is out of range");
    let (tv_sec, tv_nsec) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).map_err(|_| overflow())?,
            i64::from(after.subsec_nanos()),
        ),
        Err(before) => {
            // Before 1970: seconds go down, nanoseconds stay positive (-0.25 s is -1 s + 0.75 s).
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).map_err(|_| overflow())?;
            match before.subsec_nanos() {
                0 => (-secs, 0),
                nanos => (
                    (-secs).checked_sub(1).ok_or_else(overflow)?,
                    1_000_000_000 - i64::from(nanos),
                ),
            }
        }
    };
    Ok(Timespec {
        tv_sec,
        tv_nsec: tv_nsec as _,
    })
}
