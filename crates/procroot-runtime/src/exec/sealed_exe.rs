//! Running procroot from a sealed copy of its own binary (CVE-2019-5736).
//!
//! A process inside a container can open `/proc/<pid>/exe` of a host process that enters its
//! namespaces; opened for writing, that link is the host's binary (runc was overwritten this way).
//! [`ensure`] re-executes the running binary from a copy that cannot be written, so
//! `/proc/<pid>/exe` names that copy instead. Strategies, in this order ([`Strategy`]): a
//! read-only overlayfs view ([`Strategy::Overlay`], no copy), a sealed memfd
//! ([`Strategy::Memfd`]), an unlinked read-only `O_TMPFILE` ([`Strategy::Tmpfile`], the weakest);
//! the copy is run with `execveat(fd, "", AT_EMPTY_PATH)`.
//!
//! "Already sealed" is decided from the running executable itself, through the hardened procfs,
//! never from the environment: a sealed memfd, a read-only overlay, an unlinked file without write
//! permission, or ([`Strategy::ReadOnlyMount`]) a file on a mount that is itself read-only (`mount
//! --bind -o ro` of the installed binary, a read-only `/usr`), which costs nothing. A read-only
//! *mount* is enough because every way to write through `/proc/<pid>/exe` asks that mount for
//! write access, and a container cannot remount a mount of the host's namespace; the mount's own
//! `ro` flag counts, not a read-only superblock under a writable mount.
//!
//! `PROCROOT_SEAL_STRATEGY=overlay|memfd|tmpfile` restricts [`ensure`] to one strategy; every
//! strategy protects the binary, so it cannot turn the protection off.
//!
//! `PROCROOT_SEALED` is only a loop guard, the `<dev>:<ino>` of the copy run, set in the
//! re-exec's environment (ours is never edited: `setenv` races other threads' `getenv`).
//!
//! The full account: docs/ARCHITECTURE.md, "The sealed binary".

#![forbid(unsafe_code)]

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{mountinfo, ProcBase, Procfs};
use crate::sys;
use crate::sys::spawn::CArgs;

/// The loop guard: set in the re-exec's environment to the `<dev>:<ino>` of the copy executed;
/// [`ensure`] only reads it.
pub const SEALED_ENV: &str = "PROCROOT_SEALED";

/// How this process's executable was found sealed by [`ensure_with`], once it was.
static VERIFIED: std::sync::OnceLock<Strategy> = std::sync::OnceLock::new();

/// Restricts [`ensure`] to one strategy: `overlay`, `memfd` or `tmpfile`.
pub const STRATEGY_ENV: &str = "PROCROOT_SEAL_STRATEGY";

/// `OVERLAYFS_SUPER_MAGIC`.
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
/// `ST_RDONLY` in `statfs` `f_flags`.
const ST_RDONLY: u64 = 1;
/// `ST_NOEXEC` in `statfs` `f_flags`.
const ST_NOEXEC: u64 = 8;

/// How the running binary is protected against being overwritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// A read-only overlayfs view of the binary (no copy).
    Overlay,
    /// A sealed memfd copy.
    Memfd,
    /// A read-only, unlinked `O_TMPFILE` copy.
    Tmpfile,
    /// No copy: the binary itself is on a read-only mount of this mount namespace (`mount --bind
    /// -o ro`, a read-only `/usr`), which nobody in a container can make writable. Only found by
    /// the check, never prepared: it is not in [`Strategy::ALL`].
    ReadOnlyMount,
}

impl Strategy {
    /// Every strategy [`ensure`] can prepare, in the order it tries them.
    pub const ALL: [Strategy; 3] = [Strategy::Overlay, Strategy::Memfd, Strategy::Tmpfile];

    /// `overlay`, `memfd`, `tmpfile` or `read-only-mount`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Overlay => "overlay",
            Strategy::Memfd => "memfd",
            Strategy::Tmpfile => "tmpfile",
            Strategy::ReadOnlyMount => "read-only-mount",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Strategy> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_input(
                    Errno::INVAL,
                    format!("unknown sealing strategy {s:?} (known: overlay, memfd, tmpfile)"),
                )
            })
    }
}

/// Makes sure the running binary is a sealed copy: returns how it is sealed, or re-executes the
/// process from a sealed copy (and does not return). It never edits this process's environment
/// (the loop guard goes into the new process's environment only), so any thread may call it;
/// call it early in `main` all the same, since the re-exec starts the process over.
///
/// Fails if no strategy works (each one's error is listed), if `PROCROOT_SEAL_STRATEGY` names an
/// unknown strategy, or if this already is the re-executed process and its binary is still not
/// sealed (never loops).
pub fn ensure() -> Result<Strategy> {
    let only = match std::env::var_os(STRATEGY_ENV) {
        Some(name) => Some(name.to_string_lossy().parse::<Strategy>()?),
        None => None,
    };
    ensure_with(only)
}

/// [`ensure`] with the strategy chosen by the caller (`None`: the first that works) instead of
/// `PROCROOT_SEAL_STRATEGY`.
pub fn ensure_with(only: Option<Strategy>) -> Result<Strategy> {
    // Checked once per process: the executable of a running process changes only with an
    // execve (which starts over with fresh statics) or PR_SET_MM_EXE_FILE, which procroot never
    // makes. `procroot exec` asks twice (before and after parsing its arguments).
    if let Some(&sealed) = VERIFIED.get() {
        if only.is_none_or(|s| s == sealed) {
            return Ok(sealed);
        }
    }
    let fail = |e: Error| e.context("seal", Path::new("/proc/self/exe"));
    // One open of the executable serves the check and the strategies.
    let procfs = Procfs::cached().map_err(fail)?;
    let exe = open_exe(&procfs).map_err(fail)?;
    // This is the re-executed process only if the guard names the file running: a guard
    // inherited from an unrelated sealed procroot names that one's copy.
    let reexecuted = match std::env::var_os(SEALED_ENV) {
        Some(guard) => guard.as_bytes() == loop_guard(&exe).map_err(fail)?.as_bytes(),
        None => false,
    };
    if let Some(current) = sealed_as(&procfs, &exe).map_err(fail)? {
        if reexecuted || only.is_none_or(|s| s == current) {
            let _ = VERIFIED.set(current);
            return Ok(current);
        }
    } else if reexecuted {
        return Err(fail(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::PERM,
            "procroot was re-executed from a sealed copy, but its binary is not sealed; \
             refusing to loop",
        )));
    }
    let argv = CArgs::new(
        std::env::args_os()
            .map(|a| CString::new(a.into_vec()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| fail(Error::from_errno(Errno::INVAL)))?,
    );
    let mut env: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        // A guard we inherited (ignored above) is replaced by the copy's own.
        if k == SEALED_ENV {
            continue;
        }
        let mut e = k.into_vec();
        e.push(b'=');
        e.extend_from_slice(v.as_bytes());
        env.push(CString::new(e).map_err(|_| fail(Error::from_errno(Errno::INVAL)))?);
    }
    let mut errors = Vec::new();
    // The errno reported is the last strategy's: a bare ENOSYS would hide an EBUSY or EACCES.
    let mut last = Errno::NOSYS;
    for strategy in Strategy::ALL {
        if only.is_some_and(|s| s != strategy) {
            continue;
        }
        match prepare(strategy, &procfs, &exe) {
            Ok(fd) => {
                let mut env = env.clone();
                let guard = loop_guard(&fd).map_err(fail)?;
                env.push(
                    CString::new(format!("{SEALED_ENV}={guard}")).expect("no NUL in the guard"),
                );
                let envp = CArgs::new(env);
                let err = Error::from(sys::memfd::execveat_fd(fd.as_fd(), &argv, &envp));
                last = err.errno();
                errors.push(format!("{strategy}: {err}"));
            }
            Err(e) => {
                last = e.errno();
                errors.push(format!("{strategy}: {}", e.description()));
            }
        }
    }
    Err(fail(Error::with_detail(
        ErrorKind::NotSupported,
        last,
        format!("no sealing strategy worked ({})", errors.join("; ")),
    )))
}

/// The loop guard's value for the executable `fd`: its `<dev>:<ino>`.
fn loop_guard(fd: &OwnedFd) -> Result<String> {
    Ok(crate::sys::FileId::of(fd)?.to_string())
}

/// How the running binary is sealed, from the executable itself (`/proc/self/exe` through the
/// hardened procfs), or `None` if it is not.
pub fn current() -> Result<Option<Strategy>> {
    let procfs = Procfs::cached()?;
    sealed_as(&procfs, &open_exe(&procfs)?)
}

/// How the executable `exe` is sealed, or `None`.
fn sealed_as(procfs: &Procfs, exe: &OwnedFd) -> Result<Option<Strategy>> {
    if sys::memfd::seals(exe.as_fd()).is_ok_and(|s| s.contains(sys::memfd::EXE_SEALS)) {
        return Ok(Some(Strategy::Memfd));
    }
    let fs = rustix::fs::fstatfs(exe)?;
    #[allow(clippy::unnecessary_cast)] // f_type's and f_flags' widths differ between arches.
    if fs.f_type as i64 == OVERLAYFS_SUPER_MAGIC && fs.f_flags as u64 & ST_RDONLY != 0 {
        return Ok(Some(Strategy::Overlay));
    }
    let st = rustix::fs::fstat(exe)?;
    if st.st_nlink == 0 && st.st_mode & 0o222 == 0 {
        return Ok(Some(Strategy::Tmpfile));
    }
    // ST_RDONLY first: it is free, and without it the mount cannot be read-only.
    #[allow(clippy::unnecessary_cast)]
    if fs.f_flags as u64 & ST_RDONLY != 0 && on_read_only_mount(procfs, exe)? {
        return Ok(Some(Strategy::ReadOnlyMount));
    }
    Ok(None)
}

/// Whether the mount `exe` is on is itself read-only: its mountinfo line, found by the mount id
/// of the fd (pinned by the fd, so the id cannot be reused meanwhile), has `ro` among its
/// per-mount options (field 6; the superblock's options come after ` - ` and do not count). A
/// mount not listed in this process's mountinfo (detached, or in another namespace) is not.
fn on_read_only_mount(procfs: &Procfs, exe: &OwnedFd) -> Result<bool> {
    let id = sys::legacy_mount_id(exe)?;
    let text = procfs.read_to_string(ProcBase::SelfProcess, "mountinfo")?;
    Ok(mountinfo::parse(&text)
        .iter()
        .find(|m| m.mount_id == id)
        .is_some_and(|m| m.options.split(',').any(|o| o == "ro")))
}

/// The first strategy that can be prepared here (the copy or mount is made and dropped), for
/// `procroot doctor`.
pub fn probe() -> Result<Strategy> {
    let procfs = Procfs::cached()?;
    let exe = open_exe(&procfs)?;
    let mut last = Error::from_errno(Errno::NOSYS);
    for strategy in Strategy::ALL {
        match prepare(strategy, &procfs, &exe) {
            Ok(_) => return Ok(strategy),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn open_exe(procfs: &Procfs) -> Result<OwnedFd> {
    Ok(procfs
        .open_follow(
            ProcBase::SelfProcess,
            "exe",
            OFlags::RDONLY | OFlags::CLOEXEC,
        )?
        .into())
}

/// An fd to run: the sealed view or copy of `exe`.
fn prepare(strategy: Strategy, procfs: &Procfs, exe: &OwnedFd) -> Result<OwnedFd> {
    match strategy {
        Strategy::Overlay => overlay(procfs, exe),
        Strategy::Memfd => memfd(exe),
        Strategy::Tmpfile => tmpfile(procfs, exe),
        Strategy::ReadOnlyMount => Err(Error::with_detail(
            ErrorKind::NotSupported,
            Errno::INVAL,
            "a read-only mount is found, not made: bind-mount the binary read-only",
        )),
    }
}

fn named(syscall: &'static str, detail: &'static str) -> impl Fn(Errno) -> Error {
    move |errno| {
        Error::from(sys::SyscallError {
            syscall,
            errno,
            detail,
        })
    }
}

fn overlay(procfs: &Procfs, exe: &OwnedFd) -> Result<OwnedFd> {
    let path = procfs.readlink(ProcBase::SelfProcess, "exe")?;
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !path.as_os_str().as_bytes().ends_with(b" (deleted)") => {
            (dir.to_path_buf(), PathBuf::from(name))
        }
        _ => {
            return Err(Error::with_detail(
                ErrorKind::NotFound,
                Errno::NOENT,
                "the binary has no path to overlay (deleted)",
            ))
        }
    };
    let dirfd = rustix::fs::open(
        &dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The second, empty lower layer: a private tmpfs nobody else can reach or fill.
    let tmpfs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(named("fsopen", "a tmpfs for the overlay's empty layer"))?;
    rustix::mount::fsconfig_create(&tmpfs).map_err(named("fsconfig", "creating the tmpfs"))?;
    let tmpfs_mnt = rustix::mount::fsmount(
        &tmpfs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )
    .map_err(named("fsmount", "mounting the tmpfs"))?;
    let empty = rustix::fs::openat(
        &tmpfs_mnt,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let ctx = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(named("fsopen", "overlayfs"))?;
    rustix::mount::fsconfig_set_fd(&ctx, "lowerdir+", &dirfd).map_err(named(
        "fsconfig",
        "lowerdir+ by fd (Linux 6.13): the binary's directory",
    ))?;
    rustix::mount::fsconfig_set_fd(&ctx, "lowerdir+", &empty)
        .map_err(named("fsconfig", "lowerdir+ by fd: the empty layer"))?;
    // xino=off: no inode number remapping, which could need extended attributes or fail on
    // file systems with 64-bit inode numbers.
    rustix::mount::fsconfig_set_string(&ctx, "xino", "off")
        .map_err(named("fsconfig", "xino=off"))?;
    rustix::mount::fsconfig_create(&ctx).map_err(named("fsconfig", "creating the overlay"))?;
    let mnt = rustix::mount::fsmount(
        &ctx,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )
    .map_err(named("fsmount", "mounting the overlay read-only"))?;
    let fd = rustix::fs::openat(
        &mnt,
        &name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // The name may have been replaced since /proc/self/exe was read: the overlay shows the
    // lower file's inode number and size, which must be ours.
    let (a, b) = (rustix::fs::fstat(&fd)?, rustix::fs::fstat(exe)?);
    if a.st_ino != b.st_ino || a.st_size != b.st_size {
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            "the binary's name now names another file",
        ));
    }
    Ok(fd)
}

fn memfd(exe: &OwnedFd) -> Result<OwnedFd> {
    let fd = sys::memfd::memfd_create_exec("procroot")?;
    fill(exe, &fd)?;
    sys::memfd::seal_exe(fd.as_fd())?;
    Ok(fd)
}

fn fill(exe: &OwnedFd, copy: &OwnedFd) -> Result<()> {
    let size = rustix::fs::fstat(exe)?.st_size as u64;
    let copied = sys::memfd::copy_all(exe.as_fd(), copy.as_fd())?;
    if copied != size {
        return Err(Error::with_detail(
            ErrorKind::Os,
            Errno::IO,
            format!("copied {copied} of the binary's {size} bytes"),
        ));
    }
    Ok(())
}

fn tmpfile(procfs: &Procfs, exe: &OwnedFd) -> Result<OwnedFd> {
    let mut dirs = vec![std::env::temp_dir()];
    if let Ok(path) = procfs.readlink(ProcBase::SelfProcess, "exe") {
        if let Some(dir) = path.parent() {
            dirs.push(dir.to_path_buf());
        }
    }
    let mut last = Error::from_errno(Errno::NOENT);
    for dir in dirs {
        match tmpfile_in(procfs, exe, &dir) {
            Ok(fd) => return Ok(fd),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn tmpfile_in(procfs: &Procfs, exe: &OwnedFd, dir: &Path) -> Result<OwnedFd> {
    let dirfd = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    #[allow(clippy::unnecessary_cast)]
    if rustix::fs::fstatfs(&dirfd)?.f_flags as u64 & ST_NOEXEC != 0 {
        return Err(Error::with_detail(
            ErrorKind::NotSupported,
            Errno::ACCESS,
            format!("{} is on a noexec file system", dir.display()),
        ));
    }
    let rw = rustix::fs::openat(
        &dirfd,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o700),
    )
    .map_err(named("open", "O_TMPFILE for the copy"))?;
    fill(exe, &rw)?;
    rustix::fs::fchmod(&rw, Mode::from_raw_mode(0o500))?;
    // A running executable must have no writable open file (else execveat gives ETXTBSY), and
    // the copy must not stay writable: reopen it read-only, then close the writable fd.
    let ro: OwnedFd = procfs
        .open_follow(
            ProcBase::ThreadSelf,
            format!("fd/{}", rw.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC,
        )?
        .into();
    drop(rw);
    Ok(ro)
}
