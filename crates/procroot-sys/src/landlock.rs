//! Landlock (Linux 5.13+): the kernel-enforced "this process may touch files only beneath these
//! directories". Raw wrappers of its three syscalls, and the access-right bits of
//! `include/uapi/linux/landlock.h`, with the ABI version that introduced each.
//!
//! Raw rather than the `landlock` crate: procroot must report the kernel's ABI without
//! restricting anything (`procroot doctor`), decide itself which rights a rule on a file may
//! carry, and keep the kernel's errno in its errors; the crate's best-effort layer decides
//! these silently and keeps the ABI probe private.
//!
//! # References
//!  - [`landlock(7)`](https://man7.org/linux/man-pages/man7/landlock.7.html)
//!  - [`landlock_create_ruleset(2)`](https://man7.org/linux/man-pages/man2/landlock_create_ruleset.2.html)
//!  - [`landlock_add_rule(2)`](https://man7.org/linux/man-pages/man2/landlock_add_rule.2.html)
//!  - [`landlock_restrict_self(2)`](https://man7.org/linux/man-pages/man2/landlock_restrict_self.2.html)
//!  - <https://docs.kernel.org/userspace-api/landlock.html>

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io::Errno;

use super::last_errno;

/// `LANDLOCK_ACCESS_FS_*` (ABI 1 unless noted).
pub mod fs {
    /// Execute a file.
    pub const EXECUTE: u64 = 1 << 0;
    /// Open a file with write access.
    pub const WRITE_FILE: u64 = 1 << 1;
    /// Open a file with read access.
    pub const READ_FILE: u64 = 1 << 2;
    /// Open a directory or list its content.
    pub const READ_DIR: u64 = 1 << 3;
    /// Remove an empty directory or rename one.
    pub const REMOVE_DIR: u64 = 1 << 4;
    /// Unlink (or rename) a file.
    pub const REMOVE_FILE: u64 = 1 << 5;
    /// Create (or rename or link) a character device.
    pub const MAKE_CHAR: u64 = 1 << 6;
    /// Create (or rename) a directory.
    pub const MAKE_DIR: u64 = 1 << 7;
    /// Create (or rename or link) a regular file.
    pub const MAKE_REG: u64 = 1 << 8;
    /// Create (or rename or link) a UNIX domain socket.
    pub const MAKE_SOCK: u64 = 1 << 9;
    /// Create (or rename or link) a named pipe.
    pub const MAKE_FIFO: u64 = 1 << 10;
    /// Create (or rename or link) a block device.
    pub const MAKE_BLOCK: u64 = 1 << 11;
    /// Create (or rename or link) a symbolic link.
    pub const MAKE_SYM: u64 = 1 << 12;
    /// ABI 2: link or rename a file from or to a different directory.
    pub const REFER: u64 = 1 << 13;
    /// ABI 3: truncate a file (`truncate`, `ftruncate`, `O_TRUNC`).
    pub const TRUNCATE: u64 = 1 << 14;
    /// ABI 5: `ioctl(2)` on a character or block device.
    pub const IOCTL_DEV: u64 = 1 << 15;

    /// The rights that apply to a file (not a directory): a rule on a file may carry only these.
    pub const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
}

/// `LANDLOCK_SCOPE_*` (ABI 6).
pub mod scope {
    /// Connecting to an abstract UNIX socket created outside the domain.
    pub const ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    /// Sending a signal to a process outside the domain.
    pub const SIGNAL: u64 = 1 << 1;
}

/// The highest ABI whose rights procroot knows. A newer kernel is used at this ABI: rights
/// procroot does not know are left unhandled, which the kernel allows.
pub const KNOWN_ABI: u32 = 7;

/// Every filesystem right the given ABI handles (of those procroot knows).
pub fn handled_fs(abi: u32) -> u64 {
    let mut all = (1 << 13) - 1; // ABI 1: EXECUTE ..= MAKE_SYM
    if abi >= 2 {
        all |= fs::REFER;
    }
    if abi >= 3 {
        all |= fs::TRUNCATE;
    }
    if abi >= 5 {
        all |= fs::IOCTL_DEV;
    }
    all
}

/// Every scope the given ABI offers.
pub fn scopes(abi: u32) -> u64 {
    if abi >= 6 {
        scope::ABSTRACT_UNIX_SOCKET | scope::SIGNAL
    } else {
        0
    }
}

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1 << 0;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;

/// `struct landlock_ruleset_attr` of ABI 6. Older kernels accept the larger struct as long as
/// the fields they do not know are zero (`copy_struct_from_user`).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// `struct landlock_path_beneath_attr`, which the kernel declares packed.
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The kernel's Landlock ABI version: `Err(ENOSYS)` when the kernel has no Landlock,
/// `Err(EOPNOTSUPP)` when it has it but it is not enabled at boot (`lsm=`), or a seccomp
/// filter's errno.
pub fn abi_version() -> Result<u32, Errno> {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION the attr pointer must be NULL and size 0;
    // the kernel reads nothing and returns the version.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    u32::try_from(rc).map_err(|_| Errno::INVAL)
}

/// `landlock_create_ruleset(2)`: a ruleset fd handling `handled_fs` and scoping `scoped`.
pub fn create_ruleset(handled_fs: u64, scoped: u64) -> Result<OwnedFd, Errno> {
    let attr = RulesetAttr {
        handled_access_fs: handled_fs,
        handled_access_net: 0,
        scoped,
    };
    // SAFETY: `attr` is a valid landlock_ruleset_attr of the size passed, alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    // SAFETY: on success the syscall returned a new fd (O_CLOEXEC) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// `landlock_add_rule(2)` with `LANDLOCK_RULE_PATH_BENEATH`: allow `access` beneath `parent`
/// (a directory, or a file for [`fs::FILE_RIGHTS`]).
pub fn add_path_beneath(
    ruleset: BorrowedFd<'_>,
    parent: BorrowedFd<'_>,
    access: u64,
) -> Result<(), Errno> {
    let attr = PathBeneathAttr {
        allowed_access: access,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `attr` is a valid landlock_path_beneath_attr alive for the call; the kernel reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0u32,
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`, which `landlock_restrict_self` needs from a caller without
/// `CAP_SYS_ADMIN`: no later `execve` can gain privileges (set-user-ID, file capabilities).
pub fn set_no_new_privs() -> Result<(), Errno> {
    rustix::thread::set_no_new_privs(true)
}

/// `landlock_restrict_self(2)`: from now on this thread, and every process it creates, is
/// confined by `ruleset`. It cannot be undone.
pub fn restrict_self(ruleset: impl AsFd) -> Result<(), Errno> {
    // SAFETY: a ruleset fd and no flags; the kernel reads nothing else.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_restrict_self,
            ruleset.as_fd().as_raw_fd(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(())
}
