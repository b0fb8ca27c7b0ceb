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
//! - kernel feature probes ([`features`]).

pub mod errno;
pub mod features;

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
    let want = STATX_MNT_ID_UNIQUE | StatxFlags::MNT_ID;
    let stx = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, want)?;
    let got = StatxFlags::from_bits_retain(stx.stx_mask);
    if got.contains(STATX_MNT_ID_UNIQUE) {
        Ok(MountId::Unique(stx.stx_mnt_id))
    } else if got.contains(StatxFlags::MNT_ID) {
        Ok(MountId::Legacy(stx.stx_mnt_id))
    } else {
        // Before Linux 5.8 statx has no mount id at all.
        Err(Errno::NOSYS)
    }
}

/// A mount id, tagged with the kind of id the kernel gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MountId {
    /// `STATX_MNT_ID_UNIQUE`: never reused for the life of the system.
    Unique(u64),
    /// `STATX_MNT_ID`: may be reused after the mount goes away.
    Legacy(u64),
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
