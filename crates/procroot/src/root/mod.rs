//! The public [`Root`] and [`Handle`]: everything a caller does inside a root.
//!
//! `Root` never walks paths itself; every operation resolves through [`crate::resolve`] and then
//! works on the fd it got, never on a joined path string.

#![forbid(unsafe_code)]

mod handle;
// Resolving all but the last component.
mod eval;
// Mutating operations, one concern per file; each is an `impl Root` block.
mod copy;
mod create;
mod links;
mod metadata;
mod pid_roots;
mod progress;
mod remove;
mod second_check;
mod touch;
mod tree;
mod walk;

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::fs::{FileType, ReadDir};
pub use copy::{set_id_kept, CopyOptions, ReplaceMode, Xattrs};
pub(crate) use eval::kernel_answers as eval_kernel_answers;
pub use eval::ResolvedParent;
pub use handle::{reopen_fd, Handle, SpecialFiles};
pub use links::NodeKind;
pub(crate) use pid_roots::len as pid_root_cache_len;
pub use progress::{CopyWarning, Progress, ProgressFn, WarningFn};
pub use remove::RemoveAllOptions;
pub use walk::{Walk, WalkEntry};

use crate::error::{Error, Result};
use crate::procfs::{PidFd, ProcBase, Procfs};
use crate::resolve::{self, Backend, Policy, ResolveFlags, ResolveOptions, Trailing};
use crate::sys::Syscall as _;

/// What [`Root::eval_symlinks`] resolves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EvalMode {
    /// Every component, the last one included (procfsroot's `EvalFullPath`).
    #[default]
    Full,
    /// Every component but the last, which is neither followed nor required to exist
    /// (procfsroot's `EvalExceptLast`). As in procfsroot, a last name followed by a slash is
    /// resolved like the others (`/etc/hostname/` is `ENOTDIR`, `/etc/missing/` `ENOENT`), and
    /// a path ending in `.` or `..` has no last name: it is resolved whole.
    ExceptLast,
}

/// A directory that paths are resolved inside of, as if it were `/`.
///
/// ```no_run
/// use std::io::Read;
/// use procroot::{OFlags, Policy, Root};
///
/// // The container's view of /var/run/app.conf, even if /var/run is an absolute symlink.
/// let root = Root::for_pid(4242)?.with_policy(Policy::InRootStrict);
/// let mut conf = String::new();
/// root.open_file("/var/run/app.conf", OFlags::RDONLY)?
///     .read_to_string(&mut conf)
///     .expect("read");
/// # Ok::<(), procroot::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Root {
    fd: Arc<OwnedFd>,
    opts: ResolveOptions,
    special: SpecialFiles,
    name: PathBuf,
    /// Something was mounted on the root directory itself when the root was opened (see
    /// [`is_overmounted`]): every resolution then takes the emulated walk.
    overmounted: bool,
    /// The root's kernel path (`d_path`) as [`Root::eval_symlinks`] last read it: only a source
    /// of candidates, each verified before use (see `root/eval.rs`). Shared by clones, which
    /// share the fd.
    kernel_path: Arc<std::sync::Mutex<Option<Box<[u8]>>>>,
    /// [`Root::with_second_check`].
    second_check: bool,
}

impl Root {
    /// Opens the directory at `path` (resolved normally, in the caller's own root) as a root.
    pub fn open(path: impl AsRef<Path>) -> Result<Root> {
        let path = path.as_ref();
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .syscall("open")
        .map_err(|e| e.context("open root", path))?;
        Ok(Root::with_name(fd, path.to_path_buf()).checked_for_overmount())
    }

    /// Uses an already-open directory fd as the root. It may be `O_PATH`.
    pub fn from_fd(fd: OwnedFd) -> Result<Root> {
        let name = PathBuf::from(format!("<fd {}>", std::os::fd::AsRawFd::as_raw_fd(&fd)));
        let st = rustix::fs::fstat(&fd)
            .syscall("fstat")
            .map_err(|e| e.context("open root", &name))?;
        if FileType::from_mode(st.st_mode) != FileType::Dir {
            return Err(Error::from_errno(Errno::NOTDIR).context("open root", &name));
        }
        Ok(Root::with_name(fd, name).checked_for_overmount())
    }

    /// [`Root::from_fd`] for an fd already known to be a directory, shown as `name` in messages
    /// (`/proc/123/root` rather than `<fd 5>`).
    ///
    /// Unlike [`Root::from_fd`] it makes no check at all: the caller vouches that `fd` is a
    /// directory it opened itself (`procroot-runtime`'s `exec` opens one with `O_DIRECTORY`).
    pub fn from_fd_named(fd: OwnedFd, name: PathBuf) -> Root {
        Root::with_name(fd, name)
    }

    /// Opens the root directory of process `pid` through its `/proc/<pid>/root` "wormhole".
    ///
    /// Paths are then resolved in that process's mount namespace, as that process sees them,
    /// even when its `/` is a different file system from ours.
    ///
    /// The link is opened through the hardened procfs handle ([`Procfs::cached`]) with a
    /// [`PidFd`] base: a process that exits (and whose PID is reused) before the link is opened
    /// gives `ESRCH`, never another process's root, and a mount on top of `/proc/<pid>/root` is
    /// refused with `EXDEV`.
    ///
    /// Recently opened PID roots are kept (a few, per process) and reused after one `statx`
    /// that proves the process is the same, alive, and still has that root (a `chroot`,
    /// `pivot_root` or mount-namespace change is seen, as is an exit and a new process behind
    /// the same PID): see [`Root::set_pid_root_cache`] for the details and the off switch.
    pub fn for_pid(pid: u32) -> Result<Root> {
        if let Some(root) = pid_roots::get(pid) {
            return Ok(root);
        }
        let name = PathBuf::from(format!("/proc/{pid}/root"));
        let pidfd = PidFd::open(pid).map_err(|e| e.context("open root", &name))?;
        let procfs = Procfs::cached().map_err(|e| e.context("open root", &name))?;
        let base = ProcBase::PidFd(&pidfd);
        let root = procfs
            .open_follow(base, "root", OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| e.context("open root", &name))?;
        let root = Root::with_name(root.into(), name).checked_for_overmount();
        // Kept only on a detached instance: nobody can mount on its links (see pid_roots.rs).
        if pid_roots::enabled() && procfs.acquisition().is_detached() {
            if let Ok(dir) = procfs.open(base, ".", OFlags::PATH | OFlags::DIRECTORY) {
                pid_roots::put(pid, dir.into(), &root);
            }
        }
        Ok(root)
    }

    /// Turns the process-wide cache of [`Root::for_pid`] roots on (the default) or off; off
    /// also empties it. The environment variable `PROCROOT_PID_ROOT_CACHE=0` turns it off
    /// from the start (read at the first [`Root::for_pid`]), for callers of the C, Go and
    /// Python bindings.
    ///
    /// The cache keeps at most 8 PID roots (two fds each; the least recently used is dropped
    /// first) and is only ever filled by [`Root::for_pid`]. Each entry holds the root fd, the
    /// root's (mount id, dev, ino), and the process's `/proc/<pid>` directory on the detached
    /// procfs instance, which stays bound to that process: before an entry is used,
    /// `statx(dir, "root")` must succeed (the process is alive, and is the same process: a new
    /// one behind the PID is not reachable through the old directory) and give the held
    /// root's identity (no `chroot`, `pivot_root`, or change of mount namespace since). Else
    /// the entry is dropped and the root opened afresh. A reused root is therefore what an
    /// uncached [`Root::for_pid`] would have opened at that moment. Without a detached procfs
    /// instance nothing is kept.
    pub fn set_pid_root_cache(enabled: bool) {
        pid_roots::set_enabled(enabled);
    }

    fn with_name(fd: OwnedFd, name: PathBuf) -> Root {
        // The emulated walker applies fs.protected_symlinks as the kernel does, but `resolve`
        // sits below `procfs` and may not read /proc/sys itself: hand it the reader here, where
        // both layers are in reach. It runs at most once, and only if a walk meets a link the
        // rule could refuse (see `resolve/protected.rs`).
        resolve::install_protected_symlinks_reader(read_protected_symlinks);
        // Likewise the mount-id fallback (fdinfo's mnt_id when statx is refused) that `sys`
        // needs from `procfs`.
        crate::procfs::register_fallbacks();
        Root {
            fd: Arc::new(fd),
            opts: ResolveOptions::default(),
            special: SpecialFiles::default(),
            name,
            overmounted: false,
            kernel_path: Arc::default(),
            second_check: true,
        }
    }

    /// Records whether something is mounted on the root directory ([`is_overmounted`]). Every
    /// constructor calls it but [`Root::eval_symlinks_in`]'s open of a plain absolute path,
    /// which lands on the topmost mount by construction.
    fn checked_for_overmount(mut self) -> Root {
        self.overmounted = is_overmounted(self.fd.as_fd());
        self
    }

    /// The options a resolution is made with: the caller's, with the emulated walk for an
    /// overmounted root. On such a root the kernel's `..` that reaches the root steps onto the
    /// mount on top of it (`handle_dots` ends in `step_into`, which crosses mounts), so `a/..`
    /// leads into another tree than the one the root fd names, while an absolute symlink leads
    /// back under it (`nd_jump_root` crosses nothing). The walker stays in the tree the fd
    /// names; both backends must give one answer, and the walker's is the consistent one.
    #[inline(always)]
    pub(crate) fn resolve_opts(&self) -> ResolveOptions {
        if self.overmounted {
            ResolveOptions {
                backend: Backend::Emulated,
                ..self.opts
            }
        } else {
            self.opts
        }
    }

    /// Sets the policy (default [`Policy::InRoot`]).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.opts.policy = policy;
        self
    }

    /// Sets the resolve flags (default [`ResolveFlags::NO_MAGICLINKS`]).
    pub fn with_flags(mut self, flags: ResolveFlags) -> Self {
        self.opts.flags = flags;
        self
    }

    /// Sets the backend (default [`Backend::Auto`]).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.opts.backend = backend;
        self
    }

    /// Sets whether operations that open a file's contents ([`Root::open_file`], and
    /// [`Root::create_file`] when the file exists) open FIFOs, sockets and device nodes
    /// (default [`SpecialFiles::Refuse`]: they are refused with `ENXIO`, the type named).
    pub fn with_special_files(mut self, special: SpecialFiles) -> Self {
        self.special = special;
        self
    }

    /// Sets the special-file setting in place; see [`Root::with_special_files`].
    pub fn set_special_files(&mut self, special: SpecialFiles) {
        self.special = special;
    }

    /// Whether FIFOs, sockets and device nodes are opened; see [`Root::with_special_files`].
    pub fn special_files(&self) -> SpecialFiles {
        self.special
    }

    /// Sets the policy in place.
    pub fn set_policy(&mut self, policy: Policy) {
        self.opts.policy = policy;
    }

    /// Sets the resolve flags in place.
    pub fn set_flags(&mut self, flags: ResolveFlags) {
        self.opts.flags = flags;
    }

    /// Sets the backend in place.
    pub fn set_backend(&mut self, backend: Backend) {
        self.opts.backend = backend;
    }

    /// The resolve options in force.
    pub fn options(&self) -> &ResolveOptions {
        &self.opts
    }

    /// How this root appears in error messages: the path it was opened from,
    /// `/proc/<pid>/root`, or `<fd N>`.
    pub fn display_name(&self) -> &Path {
        &self.name
    }

    /// Resolves `path` to an `O_PATH` handle, following a trailing symlink.
    #[inline(always)]
    pub fn resolve(&self, path: impl AsRef<Path>) -> Result<Handle> {
        self.resolve_handle("resolve", path.as_ref(), Trailing::Follow)
    }

    /// Resolves `path` to an `O_PATH` handle without following a trailing symlink: if the last
    /// component is a symlink, the handle is the symlink itself.
    #[inline(always)]
    pub fn resolve_nofollow(&self, path: impl AsRef<Path>) -> Result<Handle> {
        self.resolve_handle("resolve", path.as_ref(), Trailing::NoFollow)
    }

    /// Resolves `path` to an `O_PATH` fd, following a trailing symlink: [`Root::resolve`] for
    /// callers that want only the fd.
    ///
    /// Same resolution, same safety and the same errors as [`Root::resolve`] (every backend
    /// and policy, the emulated walker's re-examination of the kernel's `EAGAIN` and
    /// strict-policy `EXDEV`, `InvalidInput` for a NUL byte or an over-long path), but no
    /// [`Handle`]: the fd knows nothing of its path in the root, so there is no
    /// [`Handle::path_in_root`] (and nothing kept to recompute it: no reference to the root,
    /// no copy of the path). With the kernel backend and a path shorter than 256 bytes, its
    /// success path is a copy of the path on the stack and one `openat2(2)`, inlined into the
    /// caller: it measures within a few percent of a bare `openat2` (BENCHMARKS.md). Use it
    /// for `*at` calls on the result, and [`Root::resolve`] when the path in the root may be
    /// needed later.
    ///
    /// ```no_run
    /// use procroot::Root;
    ///
    /// let root = Root::open("/var/lib/machines/web")?;
    /// let fd = root.resolve_fd("/etc/os-release")?; // an O_PATH fd: fstat, *at calls
    /// let size = std::fs::File::from(fd).metadata().expect("fstat").len();
    /// # let _ = size;
    /// # Ok::<(), procroot::Error>(())
    /// ```
    #[inline(always)]
    pub fn resolve_fd(&self, path: impl AsRef<Path>) -> Result<OwnedFd> {
        self.resolve_fd_impl(path.as_ref(), Trailing::Follow)
    }

    /// [`Root::resolve_fd`] without following a trailing symlink (the fd is then the symlink
    /// itself), as [`Root::resolve_nofollow`].
    #[inline(always)]
    pub fn resolve_fd_nofollow(&self, path: impl AsRef<Path>) -> Result<OwnedFd> {
        self.resolve_fd_impl(path.as_ref(), Trailing::NoFollow)
    }

    #[inline(always)]
    fn resolve_fd_impl(&self, path: &Path, trailing: Trailing) -> Result<OwnedFd> {
        resolve::resolve_fd(
            self.fd.as_fd(),
            path.as_os_str().as_bytes(),
            &self.resolve_opts(),
            trailing,
        )
        .map_err(|e| self.annotate_cold(e, "resolve", path))
    }

    /// Resolves the parent of `path`, which must exist and be a directory, and returns it with
    /// the last component, which is not looked up at all (it may be missing or a symlink).
    ///
    /// When `path` ends in `.`, `..` or only slashes there is no last name: the whole path is
    /// resolved and the name is `None`.
    pub fn resolve_parent(&self, path: impl AsRef<Path>) -> Result<(Handle, Option<OsString>)> {
        let path = path.as_ref();
        let resolved = self
            .resolve_raw(path, Trailing::ParentOnly, OFlags::PATH)
            .map_err(|e| self.annotate(e, "resolve", path))?;
        let last = resolved.last.clone().map(OsString::from_vec);
        // The handle is the parent: what it was resolved from is the parent part of the input.
        let bytes = path.as_os_str().as_bytes();
        let (input, trailing) = match (&last, resolve::path::split_last(bytes)) {
            (Some(_), Some((parent, _))) => (parent, Trailing::Follow),
            _ => (bytes, Trailing::Follow),
        };
        let mut resolved = resolved;
        if let (Some(path), Some(_)) = (&mut resolved.path, &last) {
            // The emulated walker reports the full path; the handle's own path is its parent.
            let cut = path.iter().rposition(|&b| b == b'/').unwrap_or(0);
            path.truncate(cut.max(1));
        }
        let handle = Handle::new(resolved, self, input, trailing);
        Ok((handle, last))
    }

    /// [`Root::resolve_parent`] as procfsroot's `EvalExceptLast` sees a path: a last name
    /// followed by a slash (`hostname/`) is a directory the path goes through, not a name left
    /// alone, so the whole path is resolved and there is no last name. `/etc/hostname/` is then
    /// `ENOTDIR` and `/etc/missing/` `ENOENT`, as procfsroot answers, where
    /// [`Root::resolve_parent`] (the parent of a name to create: `mkdir a/`) drops the slash.
    pub(crate) fn resolve_parent_for_eval(
        &self,
        path: &Path,
    ) -> Result<(Handle, Option<OsString>)> {
        if Self::except_last_resolves_all(path) {
            return Ok((
                self.resolve_handle("resolve", path, Trailing::Follow)?,
                None,
            ));
        }
        self.resolve_parent(path)
    }

    /// Whether `EvalExceptLast` resolves every component of `path`: it ends in a slash (or has
    /// no last name at all: `.`, `..`), as procfsroot's walk, which leaves only a last name
    /// with nothing after it unresolved.
    fn except_last_resolves_all(path: &Path) -> bool {
        let bytes = path.as_os_str().as_bytes();
        bytes.last() == Some(&b'/') || resolve::path::split_last(bytes).is_none()
    }

    /// The parent directory of `path` and the name to create, remove or rename there: the one
    /// way every mutating operation finds where it acts.
    ///
    /// The parent is resolved with the root's options and must exist. The name is the last
    /// component as given, never looked up (so never followed). A path whose last component is
    /// not a name (`.`, `..`, `/`, empty) is `InvalidInput`: there is nothing to create or
    /// remove there. That is decided from the path alone, before the parent is looked up, so
    /// `missing/.` is `EINVAL` like `existing/.`, not `ENOENT`. Errors carry `op` and `path` as
    /// context.
    pub(crate) fn parent_and_name(
        &self,
        op: &'static str,
        path: &Path,
    ) -> Result<(Handle, OsString)> {
        self.check_names_an_entry(op, path)?;
        let (parent, name) = self
            .resolve_parent(path)
            .map_err(|e| self.annotate(e, op, path))?;
        let no_name = || self.annotate(no_name_error(), op, path);
        name.map(|name| (parent, name)).ok_or_else(no_name)
    }

    /// [`Root::parent_and_name`] for an operation that makes a non-directory (a file, a link, a
    /// device node): a trailing slash, which names a directory, is `InvalidInput` (`EINVAL`),
    /// decided from the path alone before anything is looked up, as libpathrs decides it (the
    /// kernel would say `EISDIR` for `open(O_CREAT)` and `ENOENT` for the others).
    pub(crate) fn parent_and_new_name(
        &self,
        op: &'static str,
        path: &Path,
    ) -> Result<(Handle, OsString)> {
        self.check_non_directory_name(op, path, MAKES_NON_DIRECTORY)?;
        self.parent_and_name(op, path)
    }

    /// [`Root::check_names_an_entry`], and `InvalidInput` (`EINVAL`, `why`) for a trailing
    /// slash too: for a path that must name a non-directory. No syscall.
    pub(crate) fn check_non_directory_name(
        &self,
        op: &'static str,
        path: &Path,
        why: &'static str,
    ) -> Result<()> {
        self.check_names_an_entry(op, path)?;
        if resolve::path::has_trailing_slash(path.as_os_str().as_bytes()) {
            return Err(self.annotate(Error::invalid_input(Errno::INVAL, why), op, path));
        }
        Ok(())
    }

    /// `InvalidInput` (`EINVAL`) unless `path` ends in a name: empty, `/`, `.` and `..` (with
    /// or without trailing slashes) name no entry of a directory. Decided from the path alone,
    /// before anything is looked up, so `missing/.` is `EINVAL` like `existing/.`, not
    /// `ENOENT`.
    pub(crate) fn check_names_an_entry(&self, op: &'static str, path: &Path) -> Result<()> {
        if path.as_os_str().is_empty() {
            return Err(self.annotate(
                Error::invalid_input(Errno::INVAL, "an empty path names nothing"),
                op,
                path,
            ));
        }
        let bytes = path.as_os_str().as_bytes();
        let trimmed = &bytes[..bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1)];
        let last = trimmed.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if last.is_empty() || last == b"." || last == b".." {
            return Err(self.annotate(no_name_error(), op, path));
        }
        Ok(())
    }

    /// Adds `op`, `path` and this root to an error.
    pub(crate) fn annotate_op(&self, err: Error, op: &'static str, path: &Path) -> Error {
        self.annotate(err, op, path)
    }

    /// Opens the file at `path` with `flags` (`O_RDONLY`, `O_WRONLY | O_TRUNC`, ...).
    ///
    /// A trailing symlink is followed unless `flags` has `O_NOFOLLOW`, in which case it is an
    /// `ELOOP` error, as with `open(2)`. `O_CREAT`, `O_EXCL` and `O_TMPFILE` are refused with
    /// `InvalidInput` (`EINVAL`): creating files is a separate operation.
    ///
    /// The file is resolved to an `O_PATH` handle first and its type checked before anything
    /// opens it (then it is opened through that handle, see [`Handle::reopen`]): a FIFO, socket
    /// or device node planted in the root is refused with `ENXIO`
    /// ([`ErrorKind::SafetyViolation`](crate::ErrorKind::SafetyViolation)), the type named,
    /// unless the root allows special files ([`Root::with_special_files`]); then it is opened
    /// without blocking. With `O_PATH` in `flags` nothing is opened, so nothing is checked.
    pub fn open_file(&self, path: impl AsRef<Path>, flags: OFlags) -> Result<File> {
        let path = path.as_ref();
        // O_TMPFILE includes the O_DIRECTORY bit, so it is tested with `contains`. O_EXCL
        // without O_CREAT is undefined for open(2) (bar block devices); libpathrs refuses it.
        if flags.contains(OFlags::CREATE)
            || flags.contains(OFlags::TMPFILE)
            || flags.contains(OFlags::EXCL)
        {
            return Err(self.annotate(
                Error::invalid_input(
                    Errno::INVAL,
                    "O_CREAT, O_EXCL and O_TMPFILE are not accepted by open_file",
                ),
                "open",
                path,
            ));
        }
        let trailing = if flags.contains(OFlags::NOFOLLOW) {
            Trailing::NoFollow
        } else {
            Trailing::Follow
        };
        let fail = |e: Error| self.annotate(e, "open", path);
        if flags.contains(OFlags::PATH) {
            let resolved = self.resolve_raw(path, trailing, flags).map_err(fail)?;
            return Ok(File::from(resolved.fd));
        }
        // Never open by name what the root's owner may have made a FIFO or a device: look at it
        // through O_PATH first. (O_DIRECTORY is kept: ENOTDIR comes from the resolver, as
        // before.)
        let resolved = self
            .resolve_raw(path, trailing, OFlags::PATH | (flags & OFlags::DIRECTORY))
            .map_err(fail)?;
        handle::reopen_fd(resolved.fd.as_fd(), flags, self.special).map_err(fail)
    }

    /// Reads the target of the symlink at `path` (the last component is not followed). Not a
    /// symlink: `EINVAL`, as with `readlink(2)`.
    pub fn readlink(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let path = path.as_ref();
        let handle = self.resolve_handle("readlink", path, Trailing::NoFollow)?;
        handle
            .readlink()
            .map_err(|e| self.annotate(e, "readlink", path))
    }

    /// The metadata of the file at `path`, following a trailing symlink.
    pub fn metadata(&self, path: impl AsRef<Path>) -> Result<Metadata> {
        let path = path.as_ref();
        let handle = self.resolve_handle("stat", path, Trailing::Follow)?;
        handle
            .metadata()
            .map_err(|e| self.annotate(e, "stat", path))
    }

    /// The metadata of the file at `path`, without following a trailing symlink.
    pub fn symlink_metadata(&self, path: impl AsRef<Path>) -> Result<Metadata> {
        let path = path.as_ref();
        let handle = self.resolve_handle("stat", path, Trailing::NoFollow)?;
        handle
            .metadata()
            .map_err(|e| self.annotate(e, "stat", path))
    }

    /// Lists the directory at `path` (following a trailing symlink). `.` and `..` are left out.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> Result<ReadDir> {
        let path = path.as_ref();
        let resolved = self
            .resolve_raw(path, Trailing::Follow, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| self.annotate(e, "read directory", path))?;
        ReadDir::new(resolved.fd).map_err(|e| self.annotate(e, "read directory", path))
    }

    /// The absolute path inside the root that `path` resolves to, procfsroot-style: with root
    /// `/proc/1/root`, `/var/run/docker.sock` gives `/run/docker.sock` when `/var/run` is a
    /// symlink to `/run`.
    ///
    /// An empty `path` means the root, as in procfsroot. For procfsroot's semantics (`..` above
    /// the root is an error), use [`Policy::InRootStrict`].
    ///
    /// How it is computed: the kernel resolves `path` (one `openat2`, with the root's policy and
    /// flags), the kernel's own path of what it opened (`/proc/thread-self/fd/N` on the private
    /// procfs instance) relative to the kernel's path of the root, read the same way, gives a
    /// candidate, and the candidate is returned only if its names, opened again beneath the
    /// root without symlinks or `..`, reach the same file by (mount id, dev, ino): the kernel's
    /// printed paths (`d_path`) are never trusted as such (a dentry that escaped a bind mount,
    /// a detached mount, a chrooted caller all print plausible, wrong paths). Whenever that
    /// cannot give a verified answer (the kernel refused, the file or the root moved between
    /// the calls, no detached procfs, a root overmounted when it was opened,
    /// [`Backend::Emulated`]), the emulated walk answers instead, as it always did: its path is
    /// the names on its stack, so there is no second, lexical pass. Either way the answer is `/`
    /// followed by names, with no `.` or `..`: lexically inside the root. Errors are always the
    /// emulated walk's. See the `root/eval.rs` module documentation for what `d_path` cannot
    /// mark.
    pub fn eval_symlinks(&self, path: impl AsRef<Path>, mode: EvalMode) -> Result<PathBuf> {
        let path = path.as_ref();
        // `.`, not `/`: under Policy::Beneath an absolute path is an escape.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        self.eval_symlinks_knowing(path, mode, None)
    }

    /// [`Root::eval_symlinks`] of a non-empty `path`, where `root_path` is the root's kernel
    /// path when the caller knows it for this very call ([`Root::eval_symlinks_in`]).
    fn eval_symlinks_knowing(
        &self,
        path: &Path,
        mode: EvalMode,
        root_path: Option<&[u8]>,
    ) -> Result<PathBuf> {
        // procfsroot's EvalExceptLast resolves a last name followed by a slash (see
        // `resolve_parent_for_eval`): `/etc/hostname/` is ENOTDIR, never `/etc/hostname`.
        let mode = match mode {
            EvalMode::ExceptLast if Self::except_last_resolves_all(path) => EvalMode::Full,
            mode => mode,
        };
        let query = eval::PathInRoot {
            root: self.fd.as_fd(),
            kept_root_path: &self.kernel_path,
            input: path.as_os_str().as_bytes(),
            opts: self.opts,
            trailing: match mode {
                EvalMode::Full => Trailing::Follow,
                EvalMode::ExceptLast => Trailing::ParentOnly,
            },
        };
        if let Some(found) = self.eval_from_kernel(&query, root_path) {
            return Ok(found);
        }
        // The reference: one userspace walk, whose stack is the path inside the root.
        query
            .walk(None)
            .map_err(|e| self.annotate(e, "resolve", path))
    }

    /// Resolves `path` to a [`Handle`] with the root's options, errors annotated with `op`.
    ///
    /// Inlined, as [`Root::resolve_fd`] is, so that the kernel backend's success path is the
    /// stack copy of the path, one `openat2` in the caller's frame and the handle's fields;
    /// everything else (retries, fallbacks, the emulated walk, error context) is out of line.
    #[inline(always)]
    fn resolve_handle(&self, op: &'static str, path: &Path, trailing: Trailing) -> Result<Handle> {
        let bytes = path.as_os_str().as_bytes();
        match resolve::resolve_o_path(self.fd.as_fd(), bytes, &self.resolve_opts(), trailing) {
            Ok(resolved) => Ok(Handle::new(resolved, self, bytes, trailing)),
            Err(e) => Err(self.annotate_cold(e, op, path)),
        }
    }

    fn resolve_raw(
        &self,
        path: &Path,
        trailing: Trailing,
        flags: OFlags,
    ) -> Result<resolve::Resolved> {
        resolve::resolve(
            self.fd.as_fd(),
            path.as_os_str().as_bytes(),
            &self.resolve_opts(),
            trailing,
            flags,
        )
    }

    fn annotate(&self, err: Error, op: &'static str, path: &Path) -> Error {
        err.context(op, path).in_root(&self.name)
    }

    /// [`Root::annotate`] kept out of the inlined fast path ([`Root::resolve_fd`]).
    #[cold]
    #[inline(never)]
    fn annotate_cold(&self, err: Error, op: &'static str, path: &Path) -> Error {
        self.annotate(err, op, path)
    }
}

/// Whether something is mounted on the directory `fd` names (the fd was opened before the
/// mount, or through a magic link such as `/proc/<pid>/root`, which lands under any mount made
/// on that process's `/` later): `..` at the root under `RESOLVE_IN_ROOT` stays at the root and
/// then crosses onto whatever is mounted there, so it lands elsewhere exactly then. Compared
/// by (mount id, dev, ino). When it cannot be told (`openat2` retried out on `EAGAIN`, a
/// failed `statx`), the root counts as overmounted: the walker answers, which is always
/// right. When `openat2` refuses the `..` itself, the answer is no (see below).
fn is_overmounted(fd: BorrowedFd<'_>) -> bool {
    let how = rustix::fs::ResolveFlags::IN_ROOT
        | rustix::fs::ResolveFlags::NO_SYMLINKS
        | rustix::fs::ResolveFlags::NO_MAGICLINKS;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut top = rustix::fs::openat2(fd, "..", flags, Mode::empty(), how);
    for _ in 0..resolve::EAGAIN_RETRIES {
        if !matches!(top, Err(Errno::AGAIN)) {
            break;
        }
        top = rustix::fs::openat2(fd, "..", flags, Mode::empty(), how);
    }
    let top = match top {
        Ok(top) => top,
        // Renames elsewhere on every try: it cannot be told, so the walker answers.
        Err(Errno::AGAIN) => return true,
        // Any other refusal (no search permission on the root, no `openat2`, a filter) is what
        // the kernel backend meets at every `..` that reaches the root, the only lookup that
        // steps onto a mount on top of it: both backends then fail alike, or the kernel is not
        // used at all.
        Err(_) => return false,
    };
    let identity = |fd: BorrowedFd<'_>| {
        crate::sys::mount_info_at(fd, "", rustix::fs::AtFlags::EMPTY_PATH)
            .ok()
            .map(|i| i.identity())
    };
    match (identity(fd), identity(top.as_fd())) {
        (Some(a), Some(b)) => a != b,
        _ => true,
    }
}

/// Why a new non-directory's path may not end in a slash ([`Root::parent_and_new_name`]).
pub(crate) const MAKES_NON_DIRECTORY: &str =
    "a trailing slash names a directory, and this makes a non-directory";

/// The error for a path that ends in no name ([`Root::check_names_an_entry`]).
fn no_name_error() -> Error {
    Error::invalid_input(
        Errno::INVAL,
        "the path must end in a name, not `.`, `..` or `/`",
    )
}

/// `fs.protected_symlinks` through the hardened procfs (an overmounted `/proc/sys` cannot lie
/// to it): `Some(false)` for 0, `Some(true)` for any other number, `None` when it cannot be read
/// (`/proc/sys` masked in a container, no procfs), which the walker takes as 1.
fn read_protected_symlinks() -> Option<bool> {
    // A process that confined itself without reading it first could not read it now, and
    // must not try another procfs (`Preload::PROTECTED_SYMLINKS`): the walker assumes 1.
    if crate::preload::skipped(crate::Preload::PROTECTED_SYMLINKS) {
        return None;
    }
    let procfs = Procfs::cached_unmasked().ok()?;
    let value = procfs
        .read_to_string(ProcBase::Root, "sys/fs/protected_symlinks")
        .ok()?;
    value.trim().parse::<u32>().ok().map(|v| v != 0)
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
