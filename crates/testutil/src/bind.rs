//! Mounts of single files and symlinks with the new mount API, for tests in a private mount
//! namespace: what `mount --bind` cannot do for a symlink (mount(2) follows it).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `MOUNT_ATTR_NOSYMFOLLOW` (Linux 5.10): the kernel follows no symlink on the mount.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Bind-mounts `path` onto itself without following it (a symlink is mounted as itself), with
/// the mount attributes `set` set and `clear` cleared: `open_tree(OPEN_TREE_CLONE |
/// AT_SYMLINK_NOFOLLOW)`, `mount_setattr`, `move_mount` (which never follows the target without
/// `MOVE_MOUNT_T_SYMLINKS`). Call it in a private mount namespace.
pub fn bind_onto_itself(path: &Path, set: u64, clear: u64) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a test path");
    let check = |rc: libc::c_long| {
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    };
    // SAFETY: open_tree with a NUL-terminated path; the fd it returns is owned below.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_SYMLINK_NOFOLLOW as u32,
        )
    })?;
    // SAFETY: `fd` was just returned by open_tree and is owned by nothing else.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&owned);
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `attr` (its size passed) and the empty path; both outlive it.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    // SAFETY: move_mount with NUL-terminated paths that outlive the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}
