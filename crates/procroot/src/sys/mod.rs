//! The thin syscall layer.
//!
//! Everything here is a small wrapper over [`rustix`], or over raw `libc` where rustix has no
//! wrapper. This is the only module of the crate allowed to contain `unsafe`; every other module
//! starts with `#![forbid(unsafe_code)]`.
//!
//! The layer makes no policy decisions. It offers:
//! - errno names and descriptions ([`errno_name`], [`errno_description`]), so that errors print
//!   as `No such file or directory (ENOENT)` in both the library and the CLI;
//! - the mount-id helper ([`mount_id`]) used by `NO_XDEV`, which prefers the never-reused
//!   `STATX_MNT_ID_UNIQUE` (Linux 6.8) over `STATX_MNT_ID` (Linux 5.8);
//! - kernel feature probes ([`features`]);
//! - processes and namespaces: pidfds, namespace types, a helper inside a PID namespace
//!   ([`process`]);
//! - file attributes by fd where rustix has no wrapper: `fchmodat2`, `getxattrat`/`setxattrat`,
//!   and their fallbacks' feature memory ([`attrs`]).

pub mod attrs;
pub mod errno;
pub mod features;
pub mod process;

pub use errno::{errno_description, errno_name};

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, StatxFlags};
use rustix::io::Errno;

/// `PATH_MAX`: the kernel refuses a path whose length, with its NUL terminator, exceeds this
/// (`ENAMETOOLONG`).
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

/// `MAXSYMLINKS`: the number of symlinks one path resolution may follow before the kernel gives
/// `ELOOP` (`include/linux/namei.h`).
pub const MAXSYMLINKS: u32 = 40;

/// `PROC_SUPER_MAGIC`, the `f_type` that `fstatfs(2)` reports for procfs.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// `STATX_MNT_ID_UNIQUE` (Linux 6.8): a 64-bit mount id that is never reused. rustix 1.1 does
/// not name it yet, so it is spelled out from `include/uapi/linux/stat.h`.
pub const STATX_MNT_ID_UNIQUE: StatxFlags = StatxFlags::from_bits_retain(0x4000);

/// The mount id of the mount `fd` is on.
///
/// `statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE)`, falling back to `STATX_MNT_ID` when the
/// kernel does not fill the unique id (before Linux 6.8). The two kinds of ids are never mixed in
/// one comparison: the result says which it is.
///
/// # References
///  - [`statx(2)`](https://man7.org/linux/man-pages/man2/statx.2.html)
pub fn mount_id<Fd: AsFd>(fd: Fd) -> Result<MountId, Errno> {
    Ok(mount_info_at(fd, "", AtFlags::EMPTY_PATH)?.mount_id)
}

/// Where a file sits among the mounts: its mount id, whether it is the root of a mount (something
/// is mounted *on* it, or it is a mount's top directory), and its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount the file is on.
    pub mount_id: MountId,
    /// `STATX_ATTR_MOUNT_ROOT`: the file is the root of its mount. `None` if the kernel does not
    /// report the attribute (before Linux 5.8).
    pub mount_root: Option<bool>,
    /// `st_dev`, as `(major, minor)` folded into one number.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// `statx(dirfd, path, flags, STATX_INO | STATX_MNT_ID_UNIQUE)`: the mount facts of one file,
/// falling back to `STATX_MNT_ID` when the unique id is unavailable or disabled.
///
/// # References
///  - [`statx(2)`](https://man7.org/linux/man-pages/man2/statx.2.html)
pub fn mount_info_at<Fd: AsFd, P: rustix::path::Arg>(
    dirfd: Fd,
    path: P,
    flags: AtFlags,
) -> Result<MountInfo, Errno> {
    let mut want = StatxFlags::INO | StatxFlags::MNT_ID;
    if !features::is_disabled(features::Feature::StatxMntIdUnique) {
        want |= STATX_MNT_ID_UNIQUE;
    }
    let stx = rustix::fs::statx(dirfd, path, flags, want)?;
    let got = StatxFlags::from_bits_retain(stx.stx_mask);
    let mount_id = if got.contains(STATX_MNT_ID_UNIQUE) {
        MountId::Unique(stx.stx_mnt_id)
    } else if got.contains(StatxFlags::MNT_ID) {
        MountId::Legacy(stx.stx_mnt_id)
    } else {
        // Before Linux 5.8 statx has no mount id at all.
        return Err(Errno::NOSYS);
    };
    let attr = rustix::fs::StatxAttributes::MOUNT_ROOT;
    let mount_root = stx
        .stx_attributes_mask
        .contains(attr)
        .then_some(stx.stx_attributes.contains(attr));
    Ok(MountInfo {
        mount_id,
        mount_root,
        dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
    })
}

/// A mount id, tagged with the kind of id the kernel gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountId {
    /// `STATX_MNT_ID_UNIQUE`: never reused for the life of the system.
    Unique(u64),
    /// `STATX_MNT_ID`: may be reused after the mount goes away.
    Legacy(u64),
}

/// `ST_NOSYMFOLLOW` (Linux 5.10): the `statfs(2)` `f_flags` bit of a mount made or remounted with
/// `MS_NOSYMFOLLOW`, on which the kernel refuses to follow any symlink (`ELOOP`).
pub const ST_NOSYMFOLLOW: u64 = 0x2000;

/// Whether the mount `fd` is on has `MS_NOSYMFOLLOW`: `fstatfs(fd).f_flags & ST_NOSYMFOLLOW`.
///
/// # References
///  - [`fstatfs(2)`](https://man7.org/linux/man-pages/man2/fstatfs.2.html)
pub fn is_nosymfollow<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    let st = rustix::fs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast)] // f_flags' type differs between architectures.
    Ok(st.f_flags as u64 & ST_NOSYMFOLLOW != 0)
}

/// The calling thread's file-system uid: the uid the kernel compares with a symlink's owner for
/// `fs.protected_symlinks` (`current_fsuid()`). It equals the effective uid unless the thread
/// called `setfsuid(2)`.
///
/// rustix has no getter, and Linux has no `getfsuid`: `setfsuid(-1)` changes nothing (-1 is not
/// a valid uid) and returns the current fsuid. Under a seccomp filter that refuses `setfsuid`
/// the result is `u32::MAX`, which owns nothing, the conservative answer for that check.
///
/// # References
///  - [`setfsuid(2)`](https://man7.org/linux/man-pages/man2/setfsuid.2.html)
pub fn fsuid() -> u32 {
    // SAFETY: setfsuid takes an integer and touches no memory; with an invalid uid it only
    // reports the current fsuid.
    let fsuid = unsafe { libc::setfsuid(libc::uid_t::MAX) };
    #[allow(clippy::unnecessary_cast)] // c_int to uid_t: -1 (refused) becomes u32::MAX.
    let fsuid = fsuid as libc::uid_t;
    fsuid
}

/// Whether `fd` is on procfs: `fstatfs(fd).f_type == PROC_SUPER_MAGIC`.
///
/// # References
///  - [`fstatfs(2)`](https://man7.org/linux/man-pages/man2/fstatfs.2.html)
pub fn is_procfs<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    let st = rustix::fs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures.
    Ok(st.f_type as i64 == PROC_SUPER_MAGIC)
}
