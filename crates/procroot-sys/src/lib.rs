//! procroot-sys: the thin syscall layer of procroot.
//!
//! Everything here is a small wrapper over [`rustix`], or over raw `libc` where rustix has no
//! wrapper. Of the three library crates only this one has `unsafe`: `procroot` and
//! `procroot-runtime` forbid it at their crate roots, so Cargo, not a convention, keeps the
//! `unsafe` here. Every `pub` item is public API with a doc comment and sound for any caller;
//! where soundness depends on what only the program knows (whether it has other threads when
//! [`process::fork_and_run`] forks it), the program says so by making a
//! [`process::ForkPermit`], whose constructor is an `unsafe fn` with a `# Safety` section. The crate knows nothing of `procroot::Error` and reports [`Errno`] or
//! [`SyscallError`] (a named syscall and its errno, without allocation, so that a forked helper
//! can use it too).
//!
//! The layer makes no policy decisions. It offers:
//! - errno names and descriptions ([`errno_name`], [`errno_description`]), so that errors print
//!   as `No such file or directory (ENOENT)` in both the library and the CLI;
//! - naming the syscall an error came from ([`Named`], [`SyscallError`]);
//! - the mount-id helper ([`mount_id`]) used by `NO_XDEV`, which prefers the never-reused
//!   `STATX_MNT_ID_UNIQUE` (Linux 6.8) over `STATX_MNT_ID` (Linux 5.8), and without `statx`
//!   reads the fd's `fdinfo` through a reader the procfs layer registers
//!   ([`set_fdinfo_mount_id`]); its errors name the syscall ([`SyscallError`]);
//! - kernel feature probes ([`features`]);
//! - processes and namespaces: pidfds, namespace types, a helper inside a PID namespace
//!   ([`process`], [`ns`]), and the pre-exec child of `procroot-runtime`'s `exec` ([`spawn`],
//!   [`creds`]) and its sealed self-binary ([`memfd`]);
//! - mounts by fd ([`mount`]) and Landlock ([`landlock`]);
//! - file attributes by fd where rustix has no wrapper: `fchmodat2`, `getxattrat`/`setxattrat`,
//!   ([`attrs`]; what procroot learned about them is kept in [`features`]).

#![warn(missing_docs)]

pub mod attrs;
pub mod creds;
pub mod errno;
pub mod features;
pub mod landlock;
pub mod memfd;
pub mod mount;
pub mod ns;
pub mod process;
pub mod spawn;

pub use errno::{errno_description, errno_name};

use std::cell::Cell;
use std::sync::OnceLock;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
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

/// A failed syscall, named: for the facts procroot cannot work without (mount ids), an error
/// message must say which call was refused and keep its real errno, not a bare `ENOSYS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallError {
    /// The syscall, as the man page names it (`statx`).
    pub syscall: &'static str,
    /// Its errno.
    pub errno: Errno,
    /// Why it matters, or what else was tried, for the message.
    pub detail: &'static str,
}

impl From<SyscallError> for Errno {
    fn from(e: SyscallError) -> Errno {
        e.errno
    }
}

/// The mount id of the mount `fd` is on.
///
/// `statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE)`, falling back to `STATX_MNT_ID` when the
/// kernel does not fill the unique id (before Linux 6.8), and to the `mnt_id:` of the fd's
/// `fdinfo` where `statx` is unavailable (see [`mount_info_at`]). The kinds of ids are never
/// mixed in one comparison: the result says which it is.
///
/// # References
///  - [`statx(2)`](https://man7.org/linux/man-pages/man2/statx.2.html)
pub fn mount_id<Fd: AsFd>(fd: Fd) -> Result<MountId, SyscallError> {
    Ok(mount_info_at(fd, "", AtFlags::EMPTY_PATH)?.mount_id)
}

/// The `STATX_MNT_ID` kind of mount id of the file `fd` is (the id `/proc/<pid>/mountinfo` prints
/// in its first two fields), even where the unique kind is available: for matching a mount with
/// its mountinfo line. Without `statx`'s mount id, the fd's `fdinfo` (`mnt_id:`) through the
/// registered reader, as [`mount_info_at`].
pub fn legacy_mount_id<Fd: AsFd>(fd: Fd) -> Result<u64, SyscallError> {
    let fd = fd.as_fd();
    match statx_raw(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID) {
        Ok(stx) if StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::MNT_ID) => {
            Ok(stx.stx_mnt_id)
        }
        Ok(_) => legacy_from_fdinfo(fd, Errno::NOSYS),
        Err(errno @ (Errno::NOSYS | Errno::PERM)) => legacy_from_fdinfo(fd, errno),
        Err(errno) => Err(errno).named("statx"),
    }
}

fn legacy_from_fdinfo(fd: BorrowedFd<'_>, statx_errno: Errno) -> Result<u64, SyscallError> {
    match mount_info_from_fdinfo(fd, c"", AtFlags::EMPTY_PATH, statx_errno)?.mount_id {
        MountId::Legacy(id) | MountId::Unique(id) => Ok(id),
    }
}

/// A file's identity on this system: its device and inode numbers, as `stat(2)` gives them
/// (`st_dev`, `st_ino`). What the crate compares whenever it must know that a name still leads
/// to the file it made or opened (a rename can put another file under the same name), never
/// the name itself.
///
/// Within one mount namespace this identifies a file; where a bind mount of the same file
/// system matters, the mount id is compared as well ([`MountedFileId`]: `Root::eval_symlinks`' verification, the kept PID roots, the second check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// The device the file is on (`st_dev`).
    pub dev: u64,
    /// Its inode number on that device (`st_ino`).
    pub ino: u64,
}

impl FileId {
    /// The identity in a `stat` result.
    pub fn from_stat(st: &rustix::fs::Stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }

    /// The identity in a `statx` result: `stx_dev_major`/`stx_dev_minor` joined as `st_dev`
    /// is, so that it compares equal to [`FileId::from_stat`] of the same file.
    pub fn from_statx(stx: &rustix::fs::Statx) -> FileId {
        FileId {
            dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
            ino: stx.stx_ino,
        }
    }

    /// The identity of the file `fd` refers to (`fstat`).
    pub fn of(fd: impl AsFd) -> Result<FileId, Errno> {
        rustix::fs::fstat(fd).map(|st| FileId::from_stat(&st))
    }
}

/// `<dev>:<ino>`, both decimal (the sealed binary's loop guard).
impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// A file's identity among the mounts: the mount it is on and its [`FileId`]. Two bind mounts of
/// one directory show the same `FileId` at two places; where the place matters (is this still the
/// directory the walk reached, below the root it was reached from?), this is what is compared,
/// never a path the kernel printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MountedFileId {
    /// The mount the file is on.
    pub mount_id: MountId,
    /// The file on it.
    pub file: FileId,
}

/// Where a file sits among the mounts: its mount id, whether it is the root of a mount (something
/// is mounted *on* it, or it is a mount's top directory), and its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The mount the file is on.
    pub mount_id: MountId,
    /// `STATX_ATTR_MOUNT_ROOT`: the file is the root of its mount. `None` if the kernel does not
    /// report the attribute (before Linux 5.8, or without `statx`).
    pub mount_root: Option<bool>,
    /// Its device and inode numbers (`st_dev`, `st_ino`).
    pub file: FileId,
    /// The file type bits of `st_mode` (`S_IFMT`), so that callers need no second `fstat`.
    pub file_type: u32,
}

impl MountInfo {
    /// The mount and the file: what says that two fds are the same file at the same place.
    pub fn identity(&self) -> MountedFileId {
        MountedFileId {
            mount_id: self.mount_id,
            file: self.file,
        }
    }
}

/// Reads the mount id of one of this process's fds from its `fdinfo` (`mnt_id:`), for
/// [`mount_info_at`] where `statx` is unavailable. Registered by the layer that can read procfs
/// safely ([`set_fdinfo_mount_id`]).
pub type FdinfoMountId = fn(BorrowedFd<'_>) -> Result<u64, Errno>;

static FDINFO_MOUNT_ID: OnceLock<FdinfoMountId> = OnceLock::new();

thread_local! {
    /// Set while the `fdinfo` fallback runs: the procfs lookup it makes must not need it again
    /// (without `openat2` as well, the emulated walker would ask for mount ids forever).
    static IN_FDINFO_FALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Registers the `fdinfo` reader that [`mount_info_at`] falls back to without `statx`.
///
/// The reader must go through the hardened procfs handle: a plain `open("/proc/...")` can be
/// redirected by whoever mounts over `/proc`, which is what a fallback must not open up. That
/// handle is built on this module, so this module cannot call it; a layer above registers it
/// instead (the procfs layer, from every `Procfs` and `Root` constructor). Only the first registration counts.
pub fn set_fdinfo_mount_id(reader: FdinfoMountId) {
    let _ = FDINFO_MOUNT_ID.set(reader);
}

/// `statx(dirfd, path, flags, STATX_INO | STATX_MNT_ID_UNIQUE)`: the mount facts of one file,
/// falling back to `STATX_MNT_ID` when the unique id is unavailable or disabled.
///
/// Without `statx` (`ENOSYS`, or `EPERM` from a seccomp filter, or a kernel before 5.8 that
/// gives no mount id), the facts come from `fstat` and the `mnt_id:` line of the file's
/// `fdinfo` (a `STATX_MNT_ID`-kind id), read through the registered reader; `mount_root` is then
/// unknown (`None`). A name is opened `O_PATH | O_NOFOLLOW` first. If that fallback is not
/// possible either, the error names `statx` and keeps its real errno.
///
/// # References
///  - [`statx(2)`](https://man7.org/linux/man-pages/man2/statx.2.html)
///  - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
pub fn mount_info_at<Fd: AsFd, P: rustix::path::Arg>(
    dirfd: Fd,
    path: P,
    flags: AtFlags,
) -> Result<MountInfo, SyscallError> {
    let mut want = StatxFlags::INO | StatxFlags::TYPE | StatxFlags::MNT_ID;
    if !features::is_disabled(features::Feature::StatxMntIdUnique) {
        want |= STATX_MNT_ID_UNIQUE;
    }
    let dirfd = dirfd.as_fd();
    // `into_with_c_str` builds short paths on the stack: no allocation on the walker's path.
    path.into_with_c_str(|path| Ok(statx_mount_info(dirfd, path, flags, want)))
        .named("statx")
        .and_then(|info| info)
}

fn statx_mount_info(
    dirfd: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: AtFlags,
    want: StatxFlags,
) -> Result<MountInfo, SyscallError> {
    let stx = match statx_raw(dirfd, path, flags, want) {
        Ok(stx) => stx,
        // ENOSYS: no statx (before 4.11, or filtered); EPERM: a filter (statx checks no
        // permission of its own on a name it can look up).
        Err(errno @ (Errno::NOSYS | Errno::PERM)) => {
            return mount_info_from_fdinfo(dirfd, path, flags, errno)
        }
        Err(errno) => return Err(errno).named("statx"),
    };
    let got = StatxFlags::from_bits_retain(stx.stx_mask);
    let mount_id = if got.contains(STATX_MNT_ID_UNIQUE) {
        MountId::Unique(stx.stx_mnt_id)
    } else if got.contains(StatxFlags::MNT_ID) {
        MountId::Legacy(stx.stx_mnt_id)
    } else {
        // Before Linux 5.8 statx has no mount id at all.
        return mount_info_from_fdinfo(dirfd, path, flags, Errno::NOSYS);
    };
    let attr = rustix::fs::StatxAttributes::MOUNT_ROOT;
    let mount_root = stx
        .stx_attributes_mask
        .contains(attr)
        .then_some(stx.stx_attributes.contains(attr));
    Ok(MountInfo {
        mount_id,
        mount_root,
        file: FileId::from_statx(&stx),
        file_type: u32::from(stx.stx_mode) & libc::S_IFMT,
    })
}

/// `statx(2)` as the raw syscall. rustix's wrapper turns an `EPERM` from a seccomp filter into
/// `ENOSYS` (and remembers the first answer for the life of the process); procroot reports the
/// errno the kernel or the filter really gave.
pub(crate) fn statx_raw(
    dirfd: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: AtFlags,
    mask: StatxFlags,
) -> Result<rustix::fs::Statx, Errno> {
    let mut out = std::mem::MaybeUninit::<rustix::fs::Statx>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `out` points to a writable
    // `struct statx` (rustix's `Statx` is the kernel's layout), which the kernel fills on success.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_statx,
            std::os::fd::AsRawFd::as_raw_fd(&dirfd),
            path.as_ptr(),
            flags.bits() as libc::c_int,
            mask.bits() as libc::c_uint,
            out.as_mut_ptr(),
        )
    };
    if rc == 0 {
        // SAFETY: statx returned 0, so the kernel wrote the whole struct.
        Ok(unsafe { out.assume_init() })
    } else {
        Err(last_errno())
    }
}

/// [`mount_info_at`] without `statx`; `statx_errno` is what `statx` answered.
fn mount_info_from_fdinfo(
    dirfd: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: AtFlags,
    statx_errno: Errno,
) -> Result<MountInfo, SyscallError> {
    let refused = |detail| SyscallError {
        syscall: "statx",
        errno: statx_errno,
        detail,
    };
    let reader = match FDINFO_MOUNT_ID.get() {
        Some(reader) if !IN_FDINFO_FALLBACK.get() => *reader,
        _ => {
            return Err(refused(
                "procroot needs it for mount ids, and the fdinfo fallback cannot be used here",
            ))
        }
    };
    let opened;
    let fd = if path.is_empty() && flags.contains(AtFlags::EMPTY_PATH) {
        dirfd
    } else {
        let mut oflags = OFlags::PATH | OFlags::CLOEXEC;
        if flags.contains(AtFlags::SYMLINK_NOFOLLOW) {
            oflags |= OFlags::NOFOLLOW;
        }
        opened = rustix::fs::openat(dirfd, path, oflags, Mode::empty()).named("openat")?;
        opened.as_fd()
    };
    let st = rustix::fs::fstat(fd).named("fstat")?;
    IN_FDINFO_FALLBACK.set(true);
    let id = reader(fd);
    IN_FDINFO_FALLBACK.set(false);
    let id = id.map_err(|_| {
        refused("procroot needs it for mount ids, and reading the fd's fdinfo (mnt_id) failed too")
    })?;
    Ok(MountInfo {
        mount_id: MountId::Legacy(id),
        mount_root: None,
        file: FileId::from_stat(&st),
        file_type: st.st_mode & libc::S_IFMT,
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

/// Names the syscall an errno came from, without allocating: `Err(errno)` becomes a
/// [`SyscallError`] that says which call was refused. For code that must not allocate (a forked
/// helper) or that still decides on the errno; the `procroot` crate turns it into its own error
/// type (with the call's arguments) where the error leaves the library.
pub trait Named<T> {
    /// The errno as a [`SyscallError`] naming `syscall`.
    fn named(self, syscall: &'static str) -> Result<T, SyscallError>;
}

impl<T> Named<T> for Result<T, Errno> {
    #[inline]
    fn named(self, syscall: &'static str) -> Result<T, SyscallError> {
        self.map_err(|errno| SyscallError {
            syscall,
            errno,
            detail: "",
        })
    }
}

/// The calling thread's `errno` after a raw `libc` call failed (`EIO` if there is none, which
/// no such call leaves).
pub(crate) fn last_errno() -> Errno {
    Errno::from_raw_os_error(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}
