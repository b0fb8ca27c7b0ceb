//! [`Root::eval_symlinks`]'s kernel-derived answer, and resolving every component but the last:
//! [`Root::resolve_except_last`], what [`Root::eval_symlinks`] with
//! [`EvalMode::ExceptLast`] computes, with the parts a caller may want to show (the last
//! component's own type, the backend).
//!
//! # The path from the kernel
//!
//! [`Root::eval_symlinks`] first asks the kernel ([`Root::eval_from_kernel`]): one `openat2`
//! (`RESOLVE_IN_ROOT`, or `RESOLVE_BENEATH` for the strict policy, plus the root's flags), then
//! the kernel's own path of the fd it returned and of the root's fd (`d_path`, read as the magic
//! links `fd/N` of this thread on the private procfs instance, one `readlinkat` each, see
//! [`FdDir`]). When the file's path is the root's path plus `/rest`, the answer is `/rest`.
//! That is three syscalls (plus the `close` of the fd, and a `gettid` that checks the kept
//! directory is this thread's) where the emulated walk makes one or more per component.
//!
//! Everything else is handed to the emulated walk, which stays the reference and whose answer
//! (or error) is then returned, exactly as before this fast path existed:
//! - any `openat2` failure, whatever its errno (so the errors and their messages are the
//!   walker's; `ENOSYS` and a filter's `EPERM` are also recorded, as for every `openat2`). A
//!   kernel refusal never becomes a success through this path: it produces no answer at all;
//! - no detached procfs instance (a `/proc` others can mount on could serve a fake link), or a
//!   `readlinkat` that fails or fills its buffer;
//! - a file path that is not the root's path plus `/rest`: the file or the root was moved
//!   between the calls (a rename in or out of the root), the file is deleted (` (deleted)`), or
//!   it is not a path at all (`anon_inode:[...]`);
//! - a newline, or a `rest` with an empty, `.` or `..` component, which `d_path` never prints
//!   (a defence against reading the wrong directory, never seen).
//!
//! # What the answer means, and its limits
//!
//! `d_path` is computed by the kernel in one consistent snapshot (under the rename and mount
//! sequence locks), relative to this thread's root; for a file in another mount namespace
//! (a `/proc/<pid>/root` root) or on a detached mount it is relative to that namespace's or
//! mount's root, unmarked. Both paths are read the same way, so a root in another namespace
//! (typically `/`) and the files below it compare correctly.
//!
//! The answer is always `/` followed by names the kernel printed, so it is a path lexically
//! inside the root, with no `.` or `..`: whatever happens concurrently, it cannot name anything
//! outside the root when resolved in it. Without concurrent changes it is the path the emulated
//! walk gives (tests/differential.rs checks this on generated trees). Under concurrent changes
//! it says where the file the kernel found was when `d_path` ran, provided the root was then at
//! the path read for it a moment later. A rename *inside* the root gives the new place or a
//! fallback; what can make it wrong is moving the root itself away and back (or a `pivot_root`
//! or unmount that moves the root's mount) between the two reads, or moving the file out of the
//! root into another directory that sits at the root's path at that instant: changes made from
//! outside the root, or to the mounts of the namespace the root is in. The emulated walk's
//! answer is no stronger under concurrent renames (each name on its stack was right when it was
//! walked, not all at once). The root's path is read on every call, never cached, so that a
//! root renamed between calls is seen at once. (The one exception is
//! [`Root::eval_symlinks_in`], which opens the root itself and knows its path from that open,
//! within the same call.)

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{Mode, OFlags, ResolveFlags as KernelResolveFlags};
use std::path::{Path, PathBuf};

use super::{EvalMode, Handle, Root};
use crate::error::Result;
use crate::fs::FileType;
use crate::procfs::FdDir;
use crate::resolve::{self, BackendUsed, Policy, Trailing};
use crate::sys::features;
use crate::sys::PATH_MAX;

thread_local! {
    /// How many [`Root::eval_symlinks`] calls on this thread the kernel answered (for the
    /// tests, through the crate's testing switches).
    static KERNEL_ANSWERS: Cell<u64> = const { Cell::new(0) };
}

/// How many [`Root::eval_symlinks`] calls made on this thread were answered from the kernel's
/// path rather than by the emulated walk.
pub(crate) fn kernel_answers() -> u64 {
    KERNEL_ANSWERS.with(Cell::get)
}

impl Root {
    /// The answer of [`Root::eval_symlinks`] for `path` (not empty) derived from the kernel's
    /// own walk, or `None` to let the emulated walk answer. See the module documentation.
    ///
    /// `known_root` is the root's kernel path when the caller knows it for this very call (see
    /// [`Root::eval_symlinks_in`]); otherwise it is read after the file's.
    pub(super) fn eval_from_kernel(
        &self,
        path: &[u8],
        mode: EvalMode,
        known_root: Option<&[u8]>,
    ) -> Option<PathBuf> {
        let trailing = match mode {
            EvalMode::Full => Trailing::Follow,
            EvalMode::ExceptLast => Trailing::ExceptLast,
        };
        let (fd, last) = resolve::kernel_once(self.fd.as_fd(), path, &self.opts, trailing)?.ok()?;
        let dir = FdDir::current().ok()??;
        let mut file_buf = [MaybeUninit::<u8>::uninit(); PATH_MAX];
        let mut root_buf = [MaybeUninit::<u8>::uninit(); PATH_MAX];
        // The file first, then the root: a root that moves in between shows in its own path.
        let file_path = dir.readlink(fd.as_fd(), &mut file_buf).ok()?;
        let root_path = match known_root {
            Some(known) => known,
            None => dir.readlink(self.fd.as_fd(), &mut root_buf).ok()?,
        };
        let rest = path_below(root_path, file_path)?;
        let mut out = Vec::with_capacity(rest.len() + last.map_or(0, <[u8]>::len) + 2);
        out.push(b'/');
        out.extend_from_slice(rest);
        if let Some(name) = last {
            if !rest.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(name);
        }
        KERNEL_ANSWERS.with(|n| n.set(n.get() + 1));
        Some(PathBuf::from(OsString::from_vec(out)))
    }
}

impl Root {
    /// procfsroot's `EvalSymlinks(path, root, mode)` in one call: opens `root_dir` as
    /// [`Root::open`] does, answers [`Root::eval_symlinks`] for `path` under `policy`, and closes
    /// the root. Errors are those of [`Root::open`] and [`Root::eval_symlinks`].
    ///
    /// Cheaper than the two calls when `root_dir` is a plain absolute path (no `.`, `..`, empty
    /// components or symlinks; trailing slashes are fine): it is then opened with
    /// `RESOLVE_NO_SYMLINKS`, and the root's kernel path *at the moment it was opened* is
    /// `root_dir` itself, which spares reading it back. That is as good as reading it just
    /// after the file's path, as [`Root::eval_symlinks`] does: either way the root's path is
    /// known at a moment next to the one the file's was printed, within this call, and a root
    /// moved in between is seen as a mismatch (the walk answers) unless it is moved twice (see
    /// the module documentation). It is never kept beyond the call. Any other `root_dir`
    /// (relative, symlinked, `/proc/self/root`) is opened exactly as [`Root::open`] opens it.
    pub fn eval_symlinks_in(
        root_dir: impl AsRef<Path>,
        path: impl AsRef<Path>,
        policy: Policy,
        mode: EvalMode,
    ) -> Result<PathBuf> {
        let root_dir = root_dir.as_ref();
        let path = path.as_ref();
        let (root, known) = match open_plain_absolute(root_dir) {
            Some((fd, known)) => (Root::with_name(fd, root_dir.to_path_buf()), Some(known)),
            None => (Root::open(root_dir)?, None),
        };
        let root = root.with_policy(policy);
        // `.`, not `/`: under Policy::Beneath an absolute path is an escape.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        root.eval_symlinks_knowing(path, mode, known)
    }
}

/// Opens `dir` as a root when it is a plain absolute path: `/` and names, none of them `.` or
/// `..`, no doubled slash, no symlink on the way (`RESOLVE_NO_SYMLINKS`, which also refuses
/// magic links). Then `d_path` of the fd, at this moment, is `dir` without its trailing
/// slashes, which is returned with it: the lookup went through exactly these names, crossing
/// mounts at their mount points, as `d_path` prints them. `None` for any other `dir` and on any
/// failure, after which [`Root::open`] opens it (and reports its errors) as it always did.
fn open_plain_absolute(dir: &Path) -> Option<(OwnedFd, &[u8])> {
    let bytes = dir.as_os_str().as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(1, |i| i + 1);
    let plain = &bytes[..end];
    if plain.first() != Some(&b'/')
        || plain.len() >= PATH_MAX
        || plain.contains(&0)
        || (plain.len() > 1
            && plain[1..]
                .split(|&b| b == b'/')
                .any(|name| name.is_empty() || name == b"." || name == b".."))
        || features::openat2_known_unavailable()
        || cfg!(procroot_fault_injection)
    {
        return None;
    }
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        plain,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        KernelResolveFlags::NO_SYMLINKS,
    )
    .ok()?;
    Some((fd, plain))
}

/// `file` relative to `root`, both as the kernel printed them (`d_path`): `b""` when they are
/// equal, `b"a/b"` when `file` is `root` plus `/a/b`, `None` in every other case (see the module
/// documentation).
fn path_below<'f>(root: &[u8], file: &'f [u8]) -> Option<&'f [u8]> {
    const DELETED: &[u8] = b" (deleted)";
    for p in [root, file] {
        if p.first() != Some(&b'/') || p.contains(&b'\n') || p.ends_with(DELETED) {
            return None;
        }
    }
    let rest = if root == b"/" {
        &file[1..]
    } else {
        match file.strip_prefix(root)? {
            b"" => b"",
            [b'/', rest @ ..] => rest,
            _ => return None,
        }
    };
    if !rest.is_empty()
        && rest
            .split(|&b| b == b'/')
            .any(|name| name.is_empty() || name == b"." || name == b"..")
    {
        return None;
    }
    Some(rest)
}

/// A path resolved except for its last component ([`Root::resolve_except_last`]): the
/// directory the other components lead to, held as a [`Handle`], and the last component,
/// neither followed nor required to exist (procfsroot's `EvalExceptLast`).
///
/// Everything it reports about the last component is looked up in that held directory, so it
/// cannot be about an entry of another directory that a concurrent rename put at the path.
#[derive(Debug)]
pub struct ExceptLast {
    parent: Handle,
    last: Option<OsString>,
}

impl ExceptLast {
    /// The directory every component but the last resolved to. When the path ended in `.`,
    /// `..` or slashes there is no last component, and this is what the whole path names.
    pub fn parent(&self) -> &Handle {
        &self.parent
    }

    /// The last component as given (never looked up to find it), or `None` when the path
    /// ended in `.`, `..` or slashes.
    pub fn last(&self) -> Option<&OsStr> {
        self.last.as_deref()
    }

    /// The absolute path inside the root: the parent's path joined with the last component
    /// (what [`Root::eval_symlinks`] answers with
    /// [`EvalMode::ExceptLast`](super::EvalMode::ExceptLast)).
    pub fn path_in_root(&self) -> Result<PathBuf> {
        let parent = self.parent.path_in_root()?;
        Ok(match &self.last {
            Some(name) => parent.join(name),
            None => parent.to_path_buf(),
        })
    }

    /// The last component's own type (a symlink is `Symlink`, not followed), looked up in the
    /// held parent directory; `None` when it does not exist. Without a last component, the type
    /// of what the whole path names.
    pub fn file_type(&self) -> Result<Option<FileType>> {
        match &self.last {
            Some(name) => self.parent.entry_type(name),
            None => self.parent.file_type().map(Some),
        }
    }

    /// Which resolver backend resolved the parent.
    pub fn backend(&self) -> BackendUsed {
        self.parent.backend()
    }
}

impl Root {
    /// Resolves every component of `path` but the last ([`Root::resolve_parent`]); the last one
    /// is neither followed nor required to exist. See [`ExceptLast`] for what can be asked of
    /// the result; [`Root::eval_symlinks`] with
    /// [`EvalMode::ExceptLast`] is its
    /// [`path_in_root`](ExceptLast::path_in_root).
    ///
    /// An empty `path` means the root (`.`), as in [`Root::eval_symlinks`].
    pub fn resolve_except_last(&self, path: impl AsRef<Path>) -> Result<ExceptLast> {
        let path = path.as_ref();
        // `.`, not `/`: under Policy::Beneath an absolute path is an escape.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let (parent, last) = self.resolve_parent_for_eval(path)?;
        Ok(ExceptLast { parent, last })
    }
}
