//! The hardened procfs handle.
//!
//! Container runtimes write LSM labels, sysctls and id maps through `/proc`. Whoever can mount
//! over `/proc`, or over one file inside it, can redirect those writes (CVE-2019-16884,
//! CVE-2025-52881). A [`Procfs`] is a procfs instance that procroot has verified, and every
//! lookup through it refuses to leave it:
//!
//! - **Acquisition** ([`Acquisition`]), first success wins: a private, detached instance from
//!   `fsopen("proc")` + `fsmount` (nothing can be mounted on a mount nobody else can see); a
//!   clone of `/proc` from `open_tree(OPEN_TREE_CLONE)` (detached too, and without the
//!   overmounts, which are separate mounts that a non-recursive clone leaves behind); a plain
//!   `open("/proc")`.
//! - **Verification**: the root must be on procfs (`fstatfs` gives `PROC_SUPER_MAGIC`) and be
//!   inode 1. Before every operation the fd is checked again (same device, inode 1), so a fd
//!   closed or replaced behind our back is an error, never a silent redirection.
//! - **Lookups** go through [`crate::resolve`] with `RESOLVE_BENEATH | NO_XDEV | NO_MAGICLINKS`.
//!   A file with something mounted on it is a mount crossing, so it is refused with `EXDEV`.
//!   Without `openat2` the emulated walker checks the mount id of every component; the same
//!   mount implies the same file system, so this also checks the file system type.
//! - **Magic links** (`fd/N`, `exe`, `root`) are only followed by [`Procfs::open_follow`] and
//!   read by [`Procfs::readlink`], after checking that nothing is mounted on the link or its
//!   parent: the same mount id, and `STATX_ATTR_MOUNT_ROOT` not set.

#![forbid(unsafe_code)]

mod base;
mod fddir;
pub mod mountinfo;
mod pidns;

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, OpenTreeFlags};

pub use base::{PidFd, ProcBase};
pub(crate) use fddir::FdDir;
pub use pidns::open_pid_namespace;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::ReadDir;
use crate::resolve::{self, Backend, Policy, ResolveFlags, ResolveOptions, Trailing};
use crate::sys::features::{self, Feature};
use crate::sys::{self, MountInfo};
use crate::sys::{Named as _, Syscall as _};

/// How a [`Procfs`] was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Acquisition {
    /// `fsopen("proc")` + `fsconfig` + `fsmount`: a private, detached instance (Linux 5.2).
    Fsmount,
    /// `open_tree("/proc", OPEN_TREE_CLONE)`: a detached clone of the procfs mount, without
    /// anything mounted on top of its files (Linux 5.2).
    OpenTreeClone,
    /// `open("/proc")`, verified to be a procfs root. Not detached: lookups still refuse
    /// overmounts, one file at a time.
    PlainOpen,
    /// `fsopen("proc")` with `pidns=<fd>`: an instance for another PID namespace (Linux 6.18).
    PidnsOption,
    /// `fsopen("proc")` in a helper process inside the PID namespace, sent back over
    /// `SCM_RIGHTS` (kernels before 6.18).
    PidnsHelper,
}

impl Acquisition {
    /// A short name: `fsmount`, `open_tree`, `open`, `pidns-option`, `pidns-helper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acquisition::Fsmount => "fsmount",
            Acquisition::OpenTreeClone => "open_tree",
            Acquisition::PlainOpen => "open",
            Acquisition::PidnsOption => "pidns-option",
            Acquisition::PidnsHelper => "pidns-helper",
        }
    }

    /// Whether the instance is a detached mount that nothing else can see or mount on.
    pub fn is_detached(self) -> bool {
        !matches!(self, Acquisition::PlainOpen)
    }

    /// Whether this method may still be used: the features it needs were not
    /// [`features::disable`]d.
    fn is_allowed(self) -> bool {
        match self {
            Acquisition::Fsmount => !features::is_disabled(Feature::Fsopen),
            Acquisition::OpenTreeClone => !features::is_disabled(Feature::OpenTree),
            Acquisition::PlainOpen | Acquisition::PidnsHelper => true,
            Acquisition::PidnsOption => {
                !features::is_disabled(Feature::Fsopen)
                    && !features::is_disabled(Feature::ProcPidnsOption)
            }
        }
    }
}

/// A verified procfs instance. See the [module documentation](self).
#[derive(Debug)]
pub struct Procfs {
    fd: OwnedFd,
    acquisition: Acquisition,
    masked: bool,
    dev: u64,
}

/// The process-wide instances. An `RwLock<Option<..>>` rather than a `OnceLock`: an instance made
/// by a method that was [`features::disable`]d afterwards (tests, and a forked child that
/// inherited its parent's cache) must be replaced, not kept forever.
static CACHED_MASKED: RwLock<Option<Arc<Procfs>>> = RwLock::new(None);
static CACHED_UNMASKED: RwLock<Option<Arc<Procfs>>> = RwLock::new(None);

/// The procfs root inode number (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

impl Procfs {
    /// A new masked instance (`subset=pid,hidepid=ptraceable`: only process directories,
    /// `self` and `thread-self`), trying each [`Acquisition`] method in order. The masking is
    /// best effort: only `fsmount` can apply it; see [`Procfs::is_masked`].
    pub fn new() -> Result<Procfs> {
        Procfs::acquire_first(true)
    }

    /// A new unmasked instance, with `/proc/sys` and the other global files. Needed for sysctl
    /// writes.
    pub fn new_unmasked() -> Result<Procfs> {
        Procfs::acquire_first(false)
    }

    /// The process-wide masked instance, made on first use. Only a detached instance is cached:
    /// if only a plain `open("/proc")` works, every call makes a new one.
    pub fn cached() -> Result<Arc<Procfs>> {
        Procfs::cached_in(&CACHED_MASKED, true)
    }

    /// The process-wide unmasked instance, made on first use (see [`Procfs::cached`]).
    pub fn cached_unmasked() -> Result<Arc<Procfs>> {
        Procfs::cached_in(&CACHED_UNMASKED, false)
    }

    fn cached_in(cell: &RwLock<Option<Arc<Procfs>>>, masked: bool) -> Result<Arc<Procfs>> {
        // The cache records how its instance was made, and an instance whose method has since
        // been disabled is not handed out: `features::disable` promises that procroot stops
        // using the feature, and a cache filled before (or inherited over fork) would break it.
        let usable = |p: &Arc<Procfs>| p.acquisition.is_allowed();
        if let Some(procfs) = cell.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if usable(procfs) {
                return Ok(Arc::clone(procfs));
            }
        }
        // A process that confined itself without this handle (`Preload::PROCFS`) could not
        // read a procfs made now, and could be handed the host's `/proc` by the fallbacks
        // below (an `O_PATH` open of it is not mediated by Landlock): refuse instead.
        if masked && crate::preload::skipped(crate::Preload::PROCFS) {
            return Err(crate::preload::procfs_not_preloaded());
        }
        let procfs = Procfs::acquire_first(masked)?;
        if !procfs.acquisition.is_detached() {
            return Ok(Arc::new(procfs));
        }
        let mut slot = cell.write().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            // Two threads may race to fill the cache; the loser's instance is simply dropped.
            Some(existing) if usable(existing) => Ok(Arc::clone(existing)),
            _ => Ok(Arc::clone(slot.insert(Arc::new(procfs)))),
        }
    }

    /// Obtains an instance with exactly one method. [`Acquisition::PidnsOption`] and
    /// [`Acquisition::PidnsHelper`] need a namespace: use [`Procfs::for_pidns`].
    pub fn acquire(method: Acquisition, masked: bool) -> Result<Procfs> {
        let context = |e: Error| e.context("acquire procfs", Path::new(method.as_str()));
        let fd = match method {
            Acquisition::Fsmount => {
                if features::is_disabled(Feature::Fsopen) {
                    return Err(context(Error::from_errno(Errno::NOSYS)));
                }
                new_instance(masked, None).map_err(|e| context(e.into()))?
            }
            Acquisition::OpenTreeClone => {
                if features::is_disabled(Feature::OpenTree) {
                    return Err(context(Error::from_errno(Errno::NOSYS)));
                }
                rustix::mount::open_tree(
                    rustix::fs::CWD,
                    "/proc",
                    OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
                )
                .syscall("open_tree")
                .map_err(context)?
            }
            Acquisition::PlainOpen => rustix::fs::open(
                "/proc",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .syscall("open")
            .map_err(context)?,
            Acquisition::PidnsOption | Acquisition::PidnsHelper => {
                return Err(context(Error::invalid_input(
                    Errno::INVAL,
                    "a PID namespace procfs is made with Procfs::for_pidns",
                )))
            }
        };
        let masked = masked && method == Acquisition::Fsmount;
        Procfs::verified(fd, method, masked).map_err(context)
    }

    fn acquire_first(masked: bool) -> Result<Procfs> {
        let mut last = None;
        for method in [
            Acquisition::Fsmount,
            Acquisition::OpenTreeClone,
            Acquisition::PlainOpen,
        ] {
            match Procfs::acquire(method, masked) {
                Ok(procfs) => return Ok(procfs),
                // A fake procfs on /proc is an attack, not a reason to try something weaker.
                Err(e) if e.kind() == ErrorKind::SafetyViolation => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one method was tried"))
    }

    /// Checks that `fd` is the root of a procfs, and wraps it.
    fn verified(fd: OwnedFd, acquisition: Acquisition, masked: bool) -> Result<Procfs> {
        if !sys::is_procfs(&fd).syscall("fstatfs")? {
            return Err(Error::escape(
                "not procfs: something else is mounted on /proc",
            ));
        }
        register_fallbacks();
        // fstat, not statx: identity is all this needs, and without statx the mount-id
        // fallback reads fdinfo through a `Procfs`, which must be made without it.
        let st = rustix::fs::fstat(&fd).syscall("fstat")?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(Error::escape(
                "not the root of a procfs: a procfs subdirectory is mounted on /proc",
            ));
        }
        Ok(Procfs {
            fd,
            acquisition,
            masked,
            dev: st.st_dev,
        })
    }

    /// How this instance was obtained.
    pub fn acquisition(&self) -> Acquisition {
        self.acquisition
    }

    /// Whether this instance hides everything but process directories (`subset=pid`).
    pub fn is_masked(&self) -> bool {
        self.masked
    }

    /// Checks that the instance's fd is still the procfs root it was: an fd that was closed, or
    /// whose number now refers to another file, is a [`ErrorKind::SafetyViolation`] (`EBADF`).
    /// Every operation does this first.
    pub fn verify(&self) -> Result<()> {
        let clobbered = || {
            Error::fd_replaced(
                "the procfs handle's fd was closed or replaced behind procroot's back",
            )
        };
        let root = crate::FileId {
            dev: self.dev,
            ino: PROC_ROOT_INO,
        };
        if crate::FileId::of(&self.fd).map_err(|_| clobbered())? != root {
            return Err(clobbered());
        }
        Ok(())
    }

    /// Opens `subpath` under `base` with `flags`. No magic link is followed (`ELOOP`), no mount
    /// is crossed (`EXDEV`: something is mounted on the file or a directory on the way), and
    /// `..` is refused (`InvalidInput`).
    pub fn open(
        &self,
        base: ProcBase<'_>,
        subpath: impl AsRef<Path>,
        flags: OFlags,
    ) -> Result<File> {
        let subpath = subpath.as_ref();
        self.lookup(base, subpath, Trailing::Follow, flags)
            .map(File::from)
            .map_err(|e| self.annotate(e, "open", base, subpath))
    }

    /// Opens `subpath` under `base`, following a final magic link such as `fd/3`, `exe` or
    /// `root`. Refuses with `EXDEV` when anything is mounted on the link or on its parent, before
    /// or during the open.
    ///
    /// The link is checked, opened, and checked again. On an instance that is not detached
    /// ([`Acquisition::PlainOpen`]), where a mount can come and go in between, the opened file is
    /// also checked to be the one the link names (the kernel's path for both must agree).
    pub fn open_follow(
        &self,
        base: ProcBase<'_>,
        subpath: impl AsRef<Path>,
        flags: OFlags,
    ) -> Result<File> {
        let subpath = subpath.as_ref();
        let fail = |e| self.annotate(e, "open", base, subpath);
        let link = self.magic_link(base, subpath).map_err(fail)?;
        let fd = rustix::fs::openat(
            link.parent.as_fd(),
            link.name.as_slice(),
            (flags - OFlags::NOFOLLOW) | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .syscall("openat")
        .map_err(fail)?;
        // Something mounted on the link between the check and the open would have been
        // followed instead of the link: look again.
        link.recheck().map_err(fail)?;
        if !self.acquisition.is_detached() {
            // On a mount others can see, a mount may appear and vanish between the check and
            // the recheck. What we opened must then be what the link names: the kernel prints
            // the same path for the link's target (read through the pinned link fd, which no
            // mount can redirect) and for our fd, while an attacker's mount shows its own place
            // (the link's path, or nothing once detached).
            let want = crate::fs::readlink_fd(link.fd.as_fd()).map_err(fail)?;
            let got = self
                .readlink(ProcBase::ThreadSelf, fd_link_name(fd.as_fd()))
                .map_err(fail)?;
            if got != want {
                return Err(fail(overmounted()));
            }
        }
        Ok(File::from(fd))
    }

    /// Reads the target of the (magic) link `subpath` under `base`, with the overmount checks of
    /// [`Procfs::open_follow`].
    pub fn readlink(&self, base: ProcBase<'_>, subpath: impl AsRef<Path>) -> Result<PathBuf> {
        let subpath = subpath.as_ref();
        let fail = |e| self.annotate(e, "readlink", base, subpath);
        let link = self.magic_link(base, subpath).map_err(fail)?;
        crate::fs::readlink_fd(link.fd.as_fd()).map_err(fail)
    }

    /// Reads the whole file `subpath` under `base` (as [`Procfs::open`] opens it).
    pub fn read_to_string(&self, base: ProcBase<'_>, subpath: impl AsRef<Path>) -> Result<String> {
        let subpath = subpath.as_ref();
        let mut file = self.open(base, subpath, OFlags::RDONLY)?;
        let mut out = String::new();
        file.read_to_string(&mut out).map_err(|e| {
            self.annotate(
                Error::from_errno(Errno::from_io_error(&e).unwrap_or(Errno::IO)),
                "read",
                base,
                subpath,
            )
        })?;
        Ok(out)
    }

    /// Writes `data` to `subpath` under `base` in one `write(2)`, as procfs files such as
    /// `attr/current`, `attr/exec`, `setgroups` and `uid_map` require.
    ///
    /// Before writing, it verifies that the opened file is exactly the intended one: on this
    /// instance's mount (so not a bind mount of another file, such as `self/sched` over
    /// `attr/current`, CVE-2025-52881), not the root of any mount, and on this procfs.
    pub fn write(&self, base: ProcBase<'_>, subpath: impl AsRef<Path>, data: &[u8]) -> Result<()> {
        let subpath = subpath.as_ref();
        let fail = |e| self.annotate(e, "write", base, subpath);
        let fd = self
            .lookup(base, subpath, Trailing::NoFollow, OFlags::WRONLY)
            .map_err(fail)?;
        let info = sys::mount_info_at(&fd, "", AtFlags::EMPTY_PATH).map_err(|e| fail(e.into()))?;
        self.check_not_overmounted(&info).map_err(fail)?;
        let written = rustix::io::write(&fd, data)
            .syscall("write")
            .map_err(fail)?;
        if written != data.len() {
            return Err(fail(Error::with_detail(
                ErrorKind::Os,
                Errno::IO,
                format!("short write: {written} of {} bytes", data.len()),
            )));
        }
        Ok(())
    }

    /// The metadata of `subpath` under `base`, without following a final symlink.
    pub fn symlink_metadata(
        &self,
        base: ProcBase<'_>,
        subpath: impl AsRef<Path>,
    ) -> Result<Metadata> {
        let subpath = subpath.as_ref();
        self.lookup(base, subpath, Trailing::NoFollow, OFlags::PATH)
            .and_then(|fd| crate::fs::metadata_of(fd.as_fd()))
            .map_err(|e| self.annotate(e, "stat", base, subpath))
    }

    /// Lists the directory `subpath` under `base`.
    pub fn read_dir(&self, base: ProcBase<'_>, subpath: impl AsRef<Path>) -> Result<ReadDir> {
        let subpath = subpath.as_ref();
        self.lookup(
            base,
            subpath,
            Trailing::Follow,
            OFlags::RDONLY | OFlags::DIRECTORY,
        )
        .and_then(ReadDir::new)
        .map_err(|e| self.annotate(e, "read directory", base, subpath))
    }

    /// The root fd of this instance.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The safe lookup every operation shares: verify the instance, open the base, then resolve
    /// `subpath` beneath it without crossing mounts or following magic links.
    fn lookup(
        &self,
        base: ProcBase<'_>,
        subpath: &Path,
        trailing: Trailing,
        flags: OFlags,
    ) -> Result<OwnedFd> {
        let subpath = base::check_subpath(subpath)?;
        self.lookup_bytes(base, subpath, trailing, flags)
    }

    pub(super) fn lookup_bytes(
        &self,
        base: ProcBase<'_>,
        subpath: &[u8],
        trailing: Trailing,
        flags: OFlags,
    ) -> Result<OwnedFd> {
        self.verify()?;
        let dir;
        let (start, path) = match base {
            ProcBase::PidFd(pidfd) => {
                dir = pidfd.open_dir(self)?;
                let subpath = if subpath.is_empty() {
                    &b"."[..]
                } else {
                    subpath
                };
                (dir.as_fd(), Cow::Borrowed(subpath))
            }
            // One resolution from the root for the bases that are just a directory name.
            other => (
                self.fd.as_fd(),
                Cow::Owned(base::join(&other.prefix().unwrap_or_default(), subpath)),
            ),
        };
        self.resolve_beneath(start, &path, trailing, flags)
    }

    /// Resolves `path` beneath `start` (a directory of this instance) with the procfs lookup
    /// rules, accepting only self-binds as mount crossings.
    pub(super) fn resolve_beneath(
        &self,
        start: BorrowedFd<'_>,
        path: &[u8],
        trailing: Trailing,
        flags: OFlags,
    ) -> Result<OwnedFd> {
        let dev = self.dev;
        let self_bind = move |parent: BorrowedFd<'_>, name: &[u8], child: BorrowedFd<'_>| {
            is_self_bind(dev, parent, name, child)
        };
        Ok(
            resolve::resolve_crossing(start, path, &lookup_options(), trailing, flags, &self_bind)?
                .fd,
        )
    }

    /// The magic link `/proc/thread-self/fd/N` for our own `fd`, checked as by
    /// [`Procfs::open_follow`]: for operations that must act on the inode an `O_PATH` fd pins
    /// but have no `AT_EMPTY_PATH` form on this kernel (chmod, xattrs, linkat without
    /// `CAP_DAC_READ_SEARCH`).
    ///
    /// The directory is the thread's kept `fd` directory when this is the process-wide
    /// instance, else opened for the call.
    ///
    /// Public for `procroot-runtime`, whose `mount(2)` fallback names a target by this link:
    /// the check is what keeps a mount over `/proc/thread-self/fd` from redirecting it.
    pub fn fd_link(&self, fd: BorrowedFd<'_>) -> Result<MagicLink> {
        let name = fd_link_name(fd);
        let fail = |e| self.annotate(e, "open", ProcBase::ThreadSelf, Path::new(&name));
        let kept = FdDir::current()
            .ok()
            .flatten()
            .filter(|dir| dir.is_on(self));
        let parent = match kept {
            Some(dir) => LinkDir::Kept(dir),
            None => LinkDir::Owned(self.open_fd_dir().map_err(fail)?),
        };
        let number = fd.as_raw_fd().to_string();
        self.magic_link_in(parent, number.as_bytes()).map_err(fail)
    }

    /// Finds the magic link `subpath` and checks that nothing is mounted on it or its parent.
    fn magic_link(&self, base: ProcBase<'_>, subpath: &Path) -> Result<MagicLink> {
        let bytes = base::check_subpath(subpath)?;
        let (parent_path, name) = resolve::path::split_last(bytes).ok_or_else(|| {
            Error::invalid_input(Errno::INVAL, "the path must end in a link name")
        })?;
        let parent = self.lookup_bytes(
            base,
            parent_path,
            Trailing::Follow,
            OFlags::PATH | OFlags::DIRECTORY,
        )?;
        self.magic_link_in(LinkDir::Owned(parent), name)
    }

    /// [`Procfs::magic_link`] for the link `name` in the directory `parent`, found with the
    /// procfs lookup rules.
    fn magic_link_in(&self, parent: LinkDir, name: &[u8]) -> Result<MagicLink> {
        // NO_XDEV refuses to step onto a mount sitting on the link or on a directory on the way
        // (the parent lookup above); the statx check below also catches a mount that appears
        // between the lookups.
        let fd = self.resolve_beneath(parent.as_fd(), name, Trailing::NoFollow, OFlags::PATH)?;
        let info = sys::mount_info_at(&fd, "", AtFlags::EMPTY_PATH)?;
        self.check_not_overmounted(&info)?;
        Ok(MagicLink {
            parent,
            name: name.to_vec(),
            // The name came from a `&Path`'s bytes, checked free of NUL by the lookup above.
            c_name: std::ffi::CString::new(name).map_err(|_| Errno::INVAL)?,
            fd,
            info,
        })
    }

    /// Checks a file of this instance that someone else opened (a forked helper in another
    /// namespace, with a lookup of its own): on this instance's mount, on this procfs, and
    /// with nothing mounted on it. Stricter than [`Procfs::write`]'s lookup, which accepts a
    /// read-only self-bind on the way: here any other mount is refused (`EXDEV`).
    pub fn check_own_file(&self, fd: BorrowedFd<'_>) -> Result<()> {
        self.verify()?;
        let root = sys::mount_info_at(&self.fd, "", AtFlags::EMPTY_PATH)?;
        let info = sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH)?;
        if info.mount_id != root.mount_id {
            return Err(overmounted());
        }
        self.check_not_overmounted(&info)
    }

    /// The file `info` describes must be on this procfs and not the root of a mount (a file
    /// with something bind-mounted on it, such as `self/sched` over `attr/current`). Which mount
    /// it is on was already checked by the lookup that found it.
    fn check_not_overmounted(&self, info: &MountInfo) -> Result<()> {
        if info.mount_root == Some(true) || info.file.dev != self.dev {
            return Err(overmounted());
        }
        Ok(())
    }

    fn annotate(&self, err: Error, op: &'static str, base: ProcBase<'_>, subpath: &Path) -> Error {
        let shown = base.display(subpath);
        err.context(op, &shown).in_root(Path::new(&format!(
            "procfs ({})",
            self.acquisition.as_str()
        )))
    }
}

impl AsFd for Procfs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A magic link found by [`Procfs::fd_link`], with what was checked about it: its parent
/// directory was found with the procfs lookup rules, and nothing is mounted on the link. A
/// `*at` call relative to [`MagicLink::dir`] with [`MagicLink::name`] that follows the last
/// component reaches what the link names; [`MagicLink::recheck`] afterwards catches a mount that
/// came in between.
pub struct MagicLink {
    parent: LinkDir,
    name: Vec<u8>,
    c_name: std::ffi::CString,
    fd: OwnedFd,
    info: MountInfo,
}

impl MagicLink {
    /// The directory holding the link.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.parent.as_fd()
    }

    /// The link's name in [`MagicLink::dir`].
    pub fn name(&self) -> &std::ffi::CStr {
        &self.c_name
    }

    /// Looks at the link by name again: it must still be the same inode on the same mount, with
    /// nothing mounted on it.
    pub fn recheck(&self) -> Result<()> {
        let now = sys::mount_info_at(
            self.parent.as_fd(),
            self.name.as_slice(),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if now != self.info {
            return Err(overmounted());
        }
        Ok(())
    }
}

/// The directory of a [`MagicLink`]: opened for it, or the thread's kept [`FdDir`].
enum LinkDir {
    Owned(OwnedFd),
    Kept(std::rc::Rc<FdDir>),
}

impl AsFd for LinkDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            LinkDir::Owned(fd) => fd.as_fd(),
            LinkDir::Kept(dir) => dir.as_fd(),
        }
    }
}

fn overmounted() -> Error {
    Error::escape("something is mounted over this procfs file")
}

/// Whether the mount whose root is `child`, met at `name` in `parent`, is this same procfs bound
/// onto the very file or directory it shows (`mount --bind /proc/sys /proc/sys`, usually
/// read-only, as container runtimes do for `/proc/sys` and `/proc/sysrq-trigger`): same device,
/// and the mount's root is the inode that the directory entry under the mount names (`d_ino`,
/// from `getdents`, which does not see mounts). `self/sched` bound over `attr/current` is a
/// different inode and is refused.
fn is_self_bind(
    dev: u64,
    parent: BorrowedFd<'_>,
    name: &[u8],
    child: BorrowedFd<'_>,
) -> std::result::Result<bool, Errno> {
    let info = sys::mount_info_at(child, "", AtFlags::EMPTY_PATH)?;
    if info.file.dev != dev || info.mount_root != Some(true) {
        return Ok(false);
    }
    let listing = rustix::fs::openat(
        parent,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for entry in rustix::fs::Dir::new(listing)? {
        let entry = entry?;
        if entry.file_name().to_bytes() == name {
            return Ok(entry.ino() == info.file.ino);
        }
    }
    Ok(false)
}

/// Resolve options for procfs lookups: beneath the base, no mount crossing, no magic links.
fn lookup_options() -> ResolveOptions {
    ResolveOptions {
        policy: Policy::Beneath,
        flags: ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
        backend: Backend::Auto,
    }
}

/// `fsopen("proc")`, options, `fsmount`: a new detached instance. Only plain syscalls, so that it
/// can run in a forked helper (see [`sys::process::make_fd_in_pidns`]).
///
/// The error names the step's syscall without allocating ([`sys::SyscallError`]).
fn new_instance(
    masked: bool,
    pidns: Option<BorrowedFd<'_>>,
) -> std::result::Result<OwnedFd, sys::SyscallError> {
    let fs = rustix::mount::fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC).named("fsopen")?;
    if masked {
        rustix::mount::fsconfig_set_string(&fs, "subset", "pid").named("fsconfig")?;
        rustix::mount::fsconfig_set_string(&fs, "hidepid", "ptraceable").named("fsconfig")?;
    }
    if let Some(ns) = pidns {
        rustix::mount::fsconfig_set_fd(&fs, "pidns", ns).named("fsconfig")?;
    }
    rustix::mount::fsconfig_create(&fs).named("fsconfig")?;
    rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .named("fsmount")
}

/// Registers the fallbacks that the syscall layer needs the hardened procfs for: the mount id of
/// an fd from its `fdinfo` where `statx` is unavailable ([`sys::set_fdinfo_mount_id`]). Called
/// by every `Procfs` and `Root` constructor, so that it is in place before any mount id is
/// needed.
pub(crate) fn register_fallbacks() {
    sys::set_fdinfo_mount_id(fdinfo_mount_id);
}

/// The `mnt_id:` line of `/proc/thread-self/fdinfo/<fd>`, read through [`Procfs::cached`] (the
/// masked instance has `thread-self`). It is the same id as `STATX_MNT_ID`.
fn fdinfo_mount_id(fd: BorrowedFd<'_>) -> std::result::Result<u64, Errno> {
    let procfs = Procfs::cached().map_err(|e| e.errno())?;
    let name = format!("fdinfo/{}", fd.as_raw_fd());
    let text = procfs
        .read_to_string(ProcBase::ThreadSelf, &name)
        .map_err(|e| e.errno())?;
    text.lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or(Errno::NOSYS)
}

/// The fd number as procfs spells it in `fd/N`.
pub(crate) fn fd_link_name(fd: BorrowedFd<'_>) -> String {
    format!("fd/{}", fd.as_raw_fd())
}
