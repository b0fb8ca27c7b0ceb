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
