//! File facts by fd, shared by the layers above: directory listing, symlink targets and
//! metadata of an `O_PATH` fd.
//!
//! This small layer sits between [`crate::sys`] and `resolve`: the resolver, the procfs handle
//! and `Root` all read links and list directories through the same functions, and none of them
//! has to reach into another's module for it.

#![forbid(unsafe_code)]

mod dir;

use std::fs::{File, Metadata};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use rustix::io::Errno;

pub use dir::{DirEntry, FileType, ReadDir};

use crate::error::{Error, Result};
use crate::sys::Syscall as _;
use crate::sys::PATH_MAX;

/// A file's identity (its `st_dev`, `st_ino`), from `procroot-sys`, where the syscall layer
/// compares it too.
pub use procroot_sys::FileId;

/// `readlinkat(dirfd, name)` into a `PATH_MAX` buffer: a symlink target is never longer.
pub(crate) fn readlink<Fd: AsFd>(dirfd: Fd, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); PATH_MAX];
    let (target, _) = rustix::fs::readlinkat_raw(dirfd, name, &mut buf)?;
    Ok(target.to_vec())
}

/// Reads the target of the symlink that `fd` (an `O_PATH|O_NOFOLLOW` fd) is. Not a symlink:
/// `EINVAL`, as `readlink(2)` says it, where `readlinkat(fd, "")` says `ENOENT`. (A procfs
/// symlink can say `ENOENT` for itself, like `self` in an instance of another PID namespace; that
/// one stays `ENOENT`.)
pub(crate) fn readlink_fd(fd: BorrowedFd<'_>) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    match readlink(fd, b"") {
        Ok(target) => Ok(std::ffi::OsString::from_vec(target).into()),
        Err(Errno::NOENT) => {
            let st = rustix::fs::fstat(fd).syscall("fstat")?;
            let is_link =
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink;
            Err(Error::from_errno(if is_link {
                Errno::NOENT
            } else {
                Errno::INVAL
            }))
        }
        Err(e) => Err(e).syscall("readlinkat"),
    }
}

/// `statx(fd, "", AT_EMPTY_PATH)` as a [`std::fs::Metadata`], which works on `O_PATH` fds.
pub(crate) fn metadata_of(fd: BorrowedFd<'_>) -> Result<Metadata> {
    let file = File::from(fd.try_clone_to_owned().map_err(errno_of)?);
    file.metadata().map_err(errno_of)
}

fn errno_of(err: std::io::Error) -> Error {
    Error::from_errno(Errno::from_io_error(&err).unwrap_or(Errno::IO))
}

#[cfg(test)]
mod tests {
    use super::FileId;

    /// `from_statx` joins the device numbers as `st_dev` is joined: the same file has one
    /// identity whichever call looked at it, and another file has another.
    #[test]
    fn file_id_is_the_same_from_stat_and_statx() {
        let dir = tempfile::tempdir().unwrap();
        let a = std::fs::File::create(dir.path().join("a")).unwrap();
        let b = std::fs::File::create(dir.path().join("b")).unwrap();
        let stx = |f: &std::fs::File| {
            rustix::fs::statx(
                f,
                "",
                rustix::fs::AtFlags::EMPTY_PATH,
                rustix::fs::StatxFlags::BASIC_STATS,
            )
            .unwrap()
        };
        let id_a = FileId::of(&a).unwrap();
        assert_eq!(FileId::from_statx(&stx(&a)), id_a);
        assert_eq!(FileId::from_stat(&rustix::fs::fstat(&a).unwrap()), id_a);
        assert_ne!(FileId::from_statx(&stx(&b)), id_a);
        // A device whose minor number needs more than 8 bits would expose a wrong join; the
        // temp dir's device is what this machine has, so also check the join itself.
        let mut big = stx(&a);
        big.stx_dev_major = 0x123;
        big.stx_dev_minor = 0x45678;
        assert_eq!(
            FileId::from_statx(&big).dev,
            rustix::fs::makedev(0x123, 0x45678)
        );
    }
}
