//! Attribute syscalls that rustix 1.1 has no wrapper for, and what procroot learned about them.
//!
//! - [`fchmodat2`] (Linux 6.6): `chmod` by `O_PATH` fd with `AT_EMPTY_PATH`.
//! - [`getxattrat`] and [`setxattrat`] (Linux 6.13): xattrs relative to a directory fd.
//!
//! What procroot learned about them (or was told to pretend) is kept with the other features in
//! [`super::features`].

use std::ffi::CStr;

use rustix::fd::{AsFd, AsRawFd};
use rustix::fs::AtFlags;
use rustix::io::Errno;

/// `SYS_fchmodat2`: 452 on every architecture with the unified syscall table (x86_64, aarch64,
/// riscv64, ...).
const SYS_FCHMODAT2: libc::c_long = 452;
/// `SYS_setxattrat` (Linux 6.13); libc 0.2.191 does not name it yet.
const SYS_SETXATTRAT: libc::c_long = 463;
/// `SYS_getxattrat` (Linux 6.13).
const SYS_GETXATTRAT: libc::c_long = 464;

/// `struct xattr_args` from `include/uapi/linux/xattr.h` (`XATTR_ARGS_SIZE_VER0`, 16 bytes).
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// `fchmodat2(dirfd, path, mode, flags)`: `chmod` relative to a directory fd, with flags
/// (`AT_EMPTY_PATH` to change the file an `O_PATH` fd refers to, `AT_SYMLINK_NOFOLLOW`).
///
/// A symlink gives `EOPNOTSUPP` (Linux does not support symlink modes); before Linux 6.6 the
/// call gives `ENOSYS`.
///
/// # References
///  - [`fchmodat2(2)`](https://man7.org/linux/man-pages/man2/fchmodat2.2.html)
///  - [`chmod(2)`](https://man7.org/linux/man-pages/man2/chmod.2.html)
pub fn fchmodat2<Fd: AsFd>(dirfd: Fd, path: &CStr, mode: u32, flags: AtFlags) -> Result<(), Errno> {
    // SAFETY: the fd is borrowed for the call, `path` is NUL-terminated and outlives it, and the
    // other arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            SYS_FCHMODAT2,
            dirfd.as_fd().as_raw_fd() as libc::c_long,
            path.as_ptr(),
            mode as libc::c_long,
            flags.bits() as libc::c_long,
        )
    };
    check(rc).map(drop)
}

/// `getxattrat(dirfd, path, at_flags, name, &{value, size, 0}, sizeof)`: reads the xattr `name`
/// of the file `path` names relative to `dirfd` into `value`, returning its length. An empty
/// `value` asks only for the length. Too small a buffer gives `ERANGE`; no such attribute
/// `ENODATA`; before Linux 6.13 `ENOSYS`.
///
/// Note: with `AT_EMPTY_PATH` the kernel (up to at least 6.18) refuses `O_PATH` fds (`EBADF`),
/// like `fgetxattr(2)`.
///
/// # References
///  - [`getxattrat(2)`](https://man7.org/linux/man-pages/man2/getxattrat.2.html)
///  - [`getxattr(2)`](https://man7.org/linux/man-pages/man2/getxattr.2.html)
pub fn getxattrat<Fd: AsFd>(
    dirfd: Fd,
    path: &CStr,
    at_flags: AtFlags,
    name: &CStr,
    value: &mut [u8],
) -> Result<usize, Errno> {
    let mut args = XattrArgs {
        value: value.as_mut_ptr() as u64,
        size: u32::try_from(value.len()).map_err(|_| Errno::RANGE)?,
        flags: 0,
    };
    // SAFETY: `path` and `name` are NUL-terminated and outlive the call; `args` points to a
    // writable `struct xattr_args` of the size passed, whose `value` points to `value.len()`
    // writable bytes that the kernel fills at most.
    let rc = unsafe {
        libc::syscall(
            SYS_GETXATTRAT,
            dirfd.as_fd().as_raw_fd() as libc::c_long,
            path.as_ptr(),
            at_flags.bits() as libc::c_long,
            name.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    check(rc)
}

/// `setxattrat(dirfd, path, at_flags, name, &{value, size, flags}, sizeof)`: sets the xattr
/// `name` of the file `path` names relative to `dirfd`. `flags` are `XATTR_CREATE` /
/// `XATTR_REPLACE` (0: either). Before Linux 6.13 `ENOSYS`.
///
/// # References
///  - [`setxattrat(2)`](https://man7.org/linux/man-pages/man2/setxattrat.2.html)
///  - [`setxattr(2)`](https://man7.org/linux/man-pages/man2/setxattr.2.html)
pub fn setxattrat<Fd: AsFd>(
    dirfd: Fd,
    path: &CStr,
    at_flags: AtFlags,
    name: &CStr,
    value: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    let args = XattrArgs {
        value: value.as_ptr() as u64,
        size: u32::try_from(value.len()).map_err(|_| Errno::TOOBIG)?,
        flags,
    };
    // SAFETY: `path` and `name` are NUL-terminated and outlive the call; `args` is a valid
    // `struct xattr_args` of the size passed, whose `value` points to `value.len()` readable
    // bytes; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            SYS_SETXATTRAT,
            dirfd.as_fd().as_raw_fd() as libc::c_long,
            path.as_ptr(),
            at_flags.bits() as libc::c_long,
            name.as_ptr(),
            &args as *const XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    check(rc).map(drop)
}

/// A raw `syscall(2)` return value as a result: `-1` means the errno is set.
fn check(rc: libc::c_long) -> Result<usize, Errno> {
    if rc < 0 {
        Err(super::last_errno())
    } else {
        Ok(rc as usize)
    }
}
