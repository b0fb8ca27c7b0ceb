//! The new mount API, by fd: the calls the `container` layer builds masks, read-only paths and
//! procfs mounts from.
//!
//! rustix 1.1 wraps `fsopen`/`fsconfig`/`fsmount`, `open_tree`, `move_mount` and `fspick`; these
//! functions only name the syscall in their errors ([`SyscallError`]), so that a refusal reads
//! `open_tree(2) failed: ...` rather than a bare errno. rustix has no `mount_setattr` (Linux
//! 5.12), so that one is a raw `libc::syscall`.
//!
//! The rule these exist for: a mount is made detached (a new file system from `fsmount`, or a
//! clone from `open_tree(OPEN_TREE_CLONE)`) and attached with `move_mount` onto an `O_PATH` fd
//! (`MOVE_MOUNT_T_EMPTY_PATH`), never onto a path string that someone inside a root can change
//! between the check and the mount (CVE-2019-19921, CVE-2025-31133).
//!
//! [`mount_path`] is `mount(2)` for the kernels without the new API (before 5.2): the container
//! layer only calls it on `/proc/thread-self/fd/N` names it checked through the hardened procfs.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, FsPickFlags, MountAttrFlags, MountFlags, MoveMountFlags,
    OpenTreeFlags,
};

use super::SyscallError;

fn named(syscall: &'static str) -> impl Fn(Errno) -> SyscallError {
    move |errno| SyscallError {
        syscall,
        errno,
        detail: "",
    }
}

/// A mount option for [`new_mount`]: a key with a string value (`size=4k`) or an fd.
#[derive(Clone, Copy, Debug)]
pub enum FsOption<'a> {
    /// `fsconfig(FSCONFIG_SET_STRING, key, value)`.
    String(&'a str, &'a str),
    /// `fsconfig(FSCONFIG_SET_FD, key, fd)` (procfs's `pidns=`, Linux 6.18).
    Fd(&'a str, BorrowedFd<'a>),
}

/// `fsopen(fstype)`, one `fsconfig` per option, `fsconfig(FSCONFIG_CMD_CREATE)` and
/// `fsmount(attrs)`: a new, detached mount of a new instance of `fstype`, not yet attached
/// anywhere (so nobody can see it, or mount on it, until it is moved).
///
/// Errors name the failing step (`fsopen`, `fsconfig`, `fsmount`) and keep its errno.
///
/// # References
///  - [`fsopen(2)`](https://man7.org/linux/man-pages/man2/fsopen.2.html),
///    [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html),
///    [`fsmount(2)`](https://man7.org/linux/man-pages/man2/fsmount.2.html)
pub fn new_mount(
    fstype: &str,
    options: &[FsOption<'_>],
    attrs: MountAttrFlags,
) -> Result<OwnedFd, SyscallError> {
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).map_err(named("fsopen"))?;
    for option in options {
        match *option {
            FsOption::String(key, value) => rustix::mount::fsconfig_set_string(&fs, key, value),
            FsOption::Fd(key, fd) => rustix::mount::fsconfig_set_fd(&fs, key, fd),
        }
        .map_err(named("fsconfig"))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(named("fsconfig"))?;
    rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(named("fsmount"))
}

/// Changes options of the file system instance behind the mount `fd` (`fspick` + `fsconfig` +
/// `FSCONFIG_CMD_RECONFIGURE`): for procfs's `subset=` and `hidepid=` on an instance made
/// elsewhere (by the PID-namespace helper).
pub fn reconfigure(fd: BorrowedFd<'_>, options: &[FsOption<'_>]) -> Result<(), SyscallError> {
    let fs = rustix::mount::fspick(
        fd,
        "",
        FsPickFlags::FSPICK_EMPTY_PATH | FsPickFlags::FSPICK_CLOEXEC,
    )
    .map_err(named("fspick"))?;
    for option in options {
        match *option {
            FsOption::String(key, value) => rustix::mount::fsconfig_set_string(&fs, key, value),
            FsOption::Fd(key, fd) => rustix::mount::fsconfig_set_fd(&fs, key, fd),
        }
        .map_err(named("fsconfig"))?;
    }
    rustix::mount::fsconfig_reconfigure(&fs).map_err(named("fsconfig"))
}

/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`: a detached copy of the
/// mount (and, with `recursive`, every mount below it) at exactly the file `fd` pins, directory
/// or not.
///
/// # References
///  - [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html)
pub fn clone_tree(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, SyscallError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    rustix::mount::open_tree(fd, "", flags).map_err(named("open_tree"))
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attaches the
/// detached mount `from` on exactly the file `to` pins. No name is looked up, so nothing can be
/// swapped in between.
///
/// # References
///  - [`move_mount(2)`](https://man7.org/linux/man-pages/man2/move_mount.2.html)
pub fn attach(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), SyscallError> {
    rustix::mount::move_mount(
        from,
        "",
        to,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(named("move_mount"))
}

/// `AT_RECURSIVE` for `mount_setattr(2)` (`include/uapi/linux/fcntl.h`).
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `struct mount_attr` (`include/uapi/linux/mount.h`), version 0 (`MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set: set, attr_clr: clear,
/// propagation: private ? MS_PRIVATE : 0})`: changes the per-mount flags of the mount `fd` is
/// (with `recursive`, and of every mount below it), and with `private` takes them out of every
/// peer group. Flags in neither set are kept, which is how a read-only clone keeps its
/// `nosuid`, `nodev` and `noexec`.
///
/// `private` matters for a clone from `open_tree(OPEN_TREE_CLONE)`: the clone of a shared mount
/// is in that mount's peer group, so a mount made on top of the clone would appear at the
/// original too (a bind over a mask of the host's `/dev/null` would reach the host's `/dev`).
///
/// rustix 1.1 has no wrapper (Linux 5.12): this is the raw syscall.
///
/// # References
///  - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
pub fn set_attrs(
    fd: BorrowedFd<'_>,
    set: MountAttrFlags,
    clear: MountAttrFlags,
    private: bool,
    recursive: bool,
) -> Result<(), SyscallError> {
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is 32 bits on some architectures.
    let attr = MountAttr {
        attr_set: u64::from(set.bits()),
        attr_clr: u64::from(clear.bits()),
        propagation: if private { libc::MS_PRIVATE as u64 } else { 0 },
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: `c""` is a NUL-terminated empty path; `attr` is a valid `struct mount_attr` of the
    // size passed, which the kernel only reads; the fd is borrowed for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(SyscallError {
            syscall: "mount_setattr",
            errno: super::last_errno(),
            detail: "",
        })
    }
}

/// `mount(2)` on path strings (`fstype` empty for a bind mount), for kernels without the new mount API. Only for names the caller
/// has checked cannot be redirected (`/proc/thread-self/fd/N` through a verified procfs).
///
/// # References
///  - [`mount(2)`](https://man7.org/linux/man-pages/man2/mount.2.html)
pub fn mount_path(
    source: &str,
    target: &str,
    fstype: &str,
    flags: MountFlags,
    data: Option<&str>,
) -> Result<(), SyscallError> {
    let data = data
        .map(std::ffi::CString::new)
        .transpose()
        .map_err(|_| named("mount")(Errno::INVAL))?;
    rustix::mount::mount(source, target, fstype, flags, data.as_deref()).map_err(named("mount"))
}

/// `mount(2)` with `MS_REMOUNT | MS_BIND | flags` on a path: the pre-5.2 way to make a bind mount
/// read-only (see [`mount_path`] for which names are allowed).
pub fn remount_bind_path(target: &str, flags: MountFlags) -> Result<(), SyscallError> {
    rustix::mount::mount_remount(target, flags | MountFlags::BIND, "").map_err(named("mount"))
}

/// `mount(NULL, target, NULL, MS_PRIVATE [| MS_REC])`: takes the mount at `target` (and, with
/// `recursive`, every mount below it) out of its peer group. The pre-5.12 way to do what
/// [`set_attrs`] does with `private` (see [`mount_path`] for which names are
/// allowed).
pub fn make_private_path(target: &str, recursive: bool) -> Result<(), SyscallError> {
    let mut flags = rustix::mount::MountPropagationFlags::PRIVATE;
    if recursive {
        flags |= rustix::mount::MountPropagationFlags::REC;
    }
    rustix::mount::mount_change(target, flags).map_err(named("mount"))
}

/// `umount2(target, MNT_DETACH)`: detaches the mount at `target` and everything below it (see
/// [`mount_path`] for which names are allowed).
pub fn detach_path(target: &str) -> Result<(), SyscallError> {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(named("umount2"))
}
