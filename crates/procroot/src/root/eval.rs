//! The one path-in-root service ([`PathInRoot`], for [`Root::eval_symlinks`] and
//! [`Handle::path_in_root`]: the verified kernel path, then the walk), and resolving every
//! component but the last:
//! [`Root::resolve_except_last`], what [`Root::eval_symlinks`] with
//! [`EvalMode::ExceptLast`] computes, with the parts a caller may want to show (the last
//! component's own type, the backend).
//!
//! [`Root::eval_from_kernel`] makes one `openat2` with the root's policy, reads the kernel's path
//! (`d_path`) of the fd it returned through this thread's `fd/N` on the private procfs ([`FdDir`]),
//! and takes the part below the root's path as a *candidate* only. `d_path` marks none of its wrong
//! answers (a dentry that escaped its bind mount, a detached mount, a chrooted caller, renames
//! between reads; tests/eval_verify.rs stages each), so a candidate is returned only once it is
//! verified: opened again beneath the root with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`, it must reach the very file the first `openat2` found, by (mount id,
//! dev, ino) (the parent for [`EvalMode::ExceptLast`]).
//!
//! Everything else goes to the emulated walk, the reference, whose answer or error is returned:
//! any `openat2` failure (a kernel refusal never becomes a success here), no detached procfs, a
//! path that is not the root's plus `/rest`, a failed verification, and a root that had something
//! mounted on it when it was opened. The answer is always `/` followed by names, with no `.` or
//! `..`. The root's own kernel path is kept between calls and read again only when a candidate
//! built from it fails, so a renamed root costs a `readlinkat`, never a wrong answer.
//!
//! The full account (each case `d_path` cannot mark, the overmounted root, the costs):
//! docs/ARCHITECTURE.md, "`eval_symlinks`: the path from the kernel".

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags as KernelResolveFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::io::Errno;

use super::{EvalMode, Handle, Root};
use crate::error::{Error, Result};
use crate::fs::{FileId, FileType};
use crate::procfs::FdDir;
use crate::resolve::{self, Backend, BackendUsed, FirstResolver, Policy, ResolveOptions, Trailing};
use crate::sys::{self, Syscall as _, PATH_MAX};

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

/// How often the emulated walk of [`PathInRoot::walk`] may land on another file than the one
/// it must name (a rename race) before it gives up with `EAGAIN`.
const PATH_RETRIES: usize = 8;

/// The one service that computes a file's path inside a root, for [`Handle::path_in_root`] and
/// [`Root::eval_symlinks`]: the verified `d_path` fast path ([`PathInRoot::kernel_answer`]), then
/// the emulated walk ([`PathInRoot::walk`]), whose stack of names is the path.
pub(super) struct PathInRoot<'a> {
    /// The root's fd.
    pub(super) root: BorrowedFd<'a>,
    /// The root's kernel path as last read, shared by the root's clones and its handles.
    pub(super) kept_root_path: &'a Mutex<Option<Box<[u8]>>>,
    /// The path the file was reached by, for the walk.
    pub(super) input: &'a [u8],
    /// The options it was reached with (the walk always uses the emulated backend).
    pub(super) opts: ResolveOptions,
    /// How its last component was treated.
    pub(super) trailing: Trailing,
}

impl PathInRoot<'_> {
    /// The file `fd` is open on, as `/` and names inside the root (with `last` appended: the
    /// unresolved last name of an [`EvalMode::ExceptLast`] answer, `fd` being its directory),
    /// from the kernel's printed path verified by (mount id, dev, ino); `None` to let the walk
    /// answer. See the module documentation.
    ///
    /// `known_root` is the root's kernel path when the caller knows it for this very call (see
    /// [`Root::eval_symlinks_in`]); otherwise the kept one is tried, then it is read afresh.
    pub(super) fn kernel_answer(
        &self,
        fd: BorrowedFd<'_>,
        last: Option<&[u8]>,
        known_root: Option<&[u8]>,
    ) -> Option<PathBuf> {
        // Only where the kernel resolver is the first choice: the fault-injection build's naive
        // resolver must answer every path, and without openat2 the verification cannot run.
        if resolve::first_resolver(Backend::Auto) != FirstResolver::Kernel {
            return None;
        }
        let dir = FdDir::current().ok()??;
        let mut file_buf = [MaybeUninit::<u8>::uninit(); PATH_MAX];
        let file_path = dir.readlink(fd, &mut file_buf).ok()?;
        let verified = |root_path: &[u8]| {
            path_below(root_path, file_path).filter(|rest| names_same_file(self.root, rest, fd))
        };
        let rest = match known_root {
            Some(known) => verified(known)?,
            None => {
                // The root's path as last read: the verification proves a candidate built
                // from it, so a stale one (the root renamed since) costs a second try, never a
                // wrong answer. `try_lock`: a busy (or, in a forked child, orphaned) lock only
                // means reading the path afresh.
                let kept = self
                    .kept_root_path
                    .try_lock()
                    .ok()
                    .and_then(|kept| kept.as_deref().and_then(|root| path_below(root, file_path)))
                    .filter(|rest| names_same_file(self.root, rest, fd));
                match kept {
                    Some(rest) => rest,
                    None => {
                        let mut root_buf = [MaybeUninit::<u8>::uninit(); PATH_MAX];
                        let root_path = dir.readlink(self.root, &mut root_buf).ok()?;
                        if let Ok(mut kept) = self.kept_root_path.try_lock() {
                            if kept.as_deref() != Some(root_path) {
                                *kept = Some(root_path.into());
                            }
                        }
                        verified(root_path)?
                    }
                }
            }
        };
        let mut out = Vec::with_capacity(rest.len() + last.map_or(0, <[u8]>::len) + 2);
        out.push(b'/');
        out.extend_from_slice(rest);
        if let Some(name) = last {
            if !rest.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(name);
        }
        Some(PathBuf::from(OsString::from_vec(out)))
    }

    /// The emulated walk of the input: its path is the names on its stack. With `pinned`, the
    /// walk must reach that very file (dev, ino): a handle's path names the file it holds, so
    /// a walk that a concurrent rename carried elsewhere is tried again, and after
    /// [`PATH_RETRIES`] tries this gives up with `EAGAIN` rather than name something else.
    /// Errors are the walk's, unannotated.
    pub(super) fn walk(&self, pinned: Option<BorrowedFd<'_>>) -> Result<PathBuf> {
        let want = match pinned {
            Some(fd) => Some(rustix::fs::fstat(fd).syscall("fstat")?),
            None => None,
        };
        let opts = ResolveOptions {
            backend: Backend::Emulated,
            ..self.opts
        };
        for _ in 0..PATH_RETRIES {
            // Naming the pinned file the kernel opened: without the walker's copy of
            // `fs.protected_symlinks` (see `resolve_naming`), which a process confined without
            // reading the sysctl takes as 1. With nothing pinned (`eval_symlinks`' own walk),
            // the walker's answer is the answer, and applies it.
            let walked = match pinned {
                Some(_) => resolve::resolve_naming(
                    self.root,
                    self.input,
                    &opts,
                    self.trailing,
                    OFlags::PATH,
                )?,
                None => {
                    resolve::resolve(self.root, self.input, &opts, self.trailing, OFlags::PATH)?
                }
            };
            if let Some(want) = &want {
                let got = rustix::fs::fstat(&walked.fd).syscall("fstat")?;
                if FileId::from_stat(&got) != FileId::from_stat(want) {
                    continue;
                }
            }
            // With ParentOnly the walker's path already ends in the last name, unresolved.
            let path = walked.path.ok_or(Errno::INVAL)?;
            return Ok(PathBuf::from(OsString::from_vec(path)));
        }
        Err(Error::from_errno(Errno::AGAIN))
    }
}

impl Root {
    /// The answer of [`Root::eval_symlinks`] for `path` (not empty) derived from the kernel's
    /// own walk, or `None` to let the emulated walk answer: one `openat2`, then
    /// [`PathInRoot::kernel_answer`] on what it opened. See the module documentation.
    pub(super) fn eval_from_kernel(
        &self,
        query: &PathInRoot<'_>,
        known_root: Option<&[u8]>,
    ) -> Option<PathBuf> {
        let (fd, last) = resolve::kernel_without_fallback(
            self.fd.as_fd(),
            query.input,
            &self.resolve_opts(),
            query.trailing,
        )?
        .ok()?;
        let found = query.kernel_answer(fd.as_fd(), last, known_root)?;
        KERNEL_ANSWERS.with(|n| n.set(n.get() + 1));
        Some(found)
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
        // The root of an `eval_symlinks_in` call has the default backend.
        || resolve::first_resolver(Backend::Auto) != FirstResolver::Kernel
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

/// Whether `rest` (names below the root, as [`path_below`] gives them; empty for the root
/// itself) leads from `root` to the file `fd` is open on, right now: reopened beneath the root
/// with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` (no `..`, no symlink,
/// nothing outside the root can be on the way) and compared by (mount id, dev, ino).
///
/// This is what makes a string `d_path` printed usable at all: `d_path` marks none of the cases
/// where its path is not the file's path in our root (see the module documentation). Any
/// failure is "no": the walk answers.
fn names_same_file(root: BorrowedFd<'_>, rest: &[u8], fd: BorrowedFd<'_>) -> bool {
    let again = rustix::fs::openat2(
        root,
        if rest.is_empty() { b"." } else { rest },
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        KernelResolveFlags::BENEATH
            | KernelResolveFlags::NO_SYMLINKS
            | KernelResolveFlags::NO_MAGICLINKS,
    );
    let Ok(again) = again else {
        return false;
    };
    let identity = |fd: BorrowedFd<'_>| {
        sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH)
            .ok()
            .map(|i| i.identity())
    };
    match (identity(fd), identity(again.as_fd())) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
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
pub struct ResolvedParent {
    parent: Handle,
    last: Option<OsString>,
}

impl ResolvedParent {
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
    /// is neither followed nor required to exist. See [`ResolvedParent`] for what can be asked of
    /// the result; [`Root::eval_symlinks`] with
    /// [`EvalMode::ExceptLast`] is its
    /// [`path_in_root`](ResolvedParent::path_in_root).
    ///
    /// An empty `path` means the root (`.`), as in [`Root::eval_symlinks`].
    pub fn resolve_except_last(&self, path: impl AsRef<Path>) -> Result<ResolvedParent> {
        let path = path.as_ref();
        // `.`, not `/`: under Policy::Beneath an absolute path is an escape.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let (parent, last) = self.resolve_parent_for_eval(path)?;
        Ok(ResolvedParent { parent, last })
    }
}
