//! The sealed self-binary's file calls: `memfd_create`, seals, copying a file into it
//! (`copy_file_range`/`sendfile`), and `execveat` of the result.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;

use super::spawn::CArgs;
use super::{last_errno, SyscallError};

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the file `fd` is open on, with no path and
/// no `/proc` needed. Returns only on failure.
///
/// # References
///  - [`execveat(2)`](https://man7.org/linux/man-pages/man2/execveat.2.html)
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &CArgs, envp: &CArgs) -> SyscallError {
    let empty = c"";
    // SAFETY: the empty path is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
    // NUL-terminated strings that outlive the call; the fd is open. execveat returns only on
    // failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    SyscallError {
        syscall: "execveat",
        errno: last_errno(),
        detail: "re-executing procroot from its sealed copy",
    }
}

/// `memfd_create(name, MFD_EXEC | MFD_ALLOW_SEALING | MFD_CLOEXEC)`, retried without `MFD_EXEC`
/// on `EINVAL` (before Linux 6.3 the flag does not exist; executable is then the default).
/// `EACCES` (`vm.memfd_noexec=2`) is returned as is.
///
/// # References
///  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub fn memfd_create_exec(name: &str) -> Result<OwnedFd, SyscallError> {
    let base = MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC;
    rustix::fs::memfd_create(name, base | MemfdFlags::EXEC)
        .or_else(|e| match e {
            Errno::INVAL => rustix::fs::memfd_create(name, base),
            e => Err(e),
        })
        .map_err(|errno| SyscallError {
            syscall: "memfd_create",
            errno,
            detail: "",
        })
}

/// The seals of a sealed self-binary: no more seals, no shrinking, growing or writing, and (Linux
/// 6.3) no change of its exec bits.
pub const EXE_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Adds [`EXE_SEALS`] and `F_SEAL_EXEC` where the kernel knows it (`EINVAL` before 6.3: then
/// without it).
///
/// # References
///  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html), "File
///    sealing"
pub fn seal_exe(fd: BorrowedFd<'_>) -> Result<(), SyscallError> {
    let add = || {
        rustix::fs::fcntl_add_seals(fd, EXE_SEALS | SealFlags::EXEC).or_else(|e| match e {
            Errno::INVAL => rustix::fs::fcntl_add_seals(fd, EXE_SEALS),
            e => Err(e),
        })
    };
    // F_SEAL_WRITE fails with EBUSY while any page of the file still has an extra reference.
    // Right after the copy, pages can sit in another CPU's LRU batch (the kernel drains only
    // the calling CPU's before it gives up), which the kernel counts as a pin: seen as a
    // flaky EBUSY under load. Nothing else holds them, so a short wait and a retry (possibly
    // on the other CPU, whose batch it then drains) succeeds.
    let mut result = add();
    for _ in 0..SEAL_RETRIES {
        if result != Err(Errno::BUSY) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        result = add();
    }
    result.map_err(|errno| SyscallError {
        syscall: "fcntl",
        errno,
        detail: "F_ADD_SEALS on the memfd copy",
    })
}

/// How often [`seal_exe`] retries a sealing refused with `EBUSY` (10 ms apart).
const SEAL_RETRIES: u32 = 20;

/// The seals of `fd` (`F_GET_SEALS`), or `EINVAL` if it is not a sealable file.
pub fn seals(fd: BorrowedFd<'_>) -> Result<SealFlags, Errno> {
    rustix::fs::fcntl_get_seals(fd)
}

/// Copies all of `src` (from its offset 0) to `dst`, with `copy_file_range(2)`, falling back to
/// `sendfile(2)` where the kernel refuses a copy across file systems (`EXDEV` before 5.19,
/// `EINVAL`, `ENOSYS`, `EOPNOTSUPP`). Returns the number of bytes copied.
pub fn copy_all(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<u64, SyscallError> {
    let mut copied: u64 = 0;
    let mut use_sendfile = false;
    loop {
        let chunk = 1 << 30;
        let n = if use_sendfile {
            let mut off = copied;
            rustix::fs::sendfile(dst, src, Some(&mut off), chunk).map_err(|errno| SyscallError {
                syscall: "sendfile",
                errno,
                detail: "copying procroot into its sealed copy",
            })?
        } else {
            let mut off_in = copied;
            match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, None, chunk) {
                Ok(n) => n,
                Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                    if copied == 0 =>
                {
                    use_sendfile = true;
                    continue;
                }
                Err(errno) => {
                    return Err(SyscallError {
                        syscall: "copy_file_range",
                        errno,
                        detail: "copying procroot into its sealed copy",
                    })
                }
            }
        };
        if n == 0 {
            return Ok(copied);
        }
        copied += n as u64;
    }
}
