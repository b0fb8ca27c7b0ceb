//! Roots: opening one, its settings, and every path operation inside it.

use std::ffi::{c_char, c_int, CStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard};

use procroot::{
    Backend, Error, EvalMode, NodeKind, Policy, RenameFlags, ResolveFlags, Root, SpecialFiles,
};

use crate::error::{ffi, invalid, procroot_error, ErrOut};
use crate::util::{
    buffer, copy_out, cstr, free_box, handle, oflags, out, owned, path_arg, required, CBorrowedFd,
};

/// A root directory with its resolution settings (opaque).
pub struct procroot_root {
    /// Calls hold it shared for their whole duration; the setters hold it exclusively, so a
    /// `&mut Root` never aliases the `&Root` of a call in flight on another thread.
    root: RwLock<Root>,
}

impl procroot_root {
    /// The root, for one call. A poisoned lock (a panic in a setter, caught by [`ffi`]) still
    /// holds a consistent `Root`: every setter is a single field assignment.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Root> {
        self.root.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Chroot-like: `..` stays at the root, absolute paths and symlinks restart there (default).
pub const PROCROOT_POLICY_IN_ROOT: c_int = 0;
/// procfsroot semantics: like IN_ROOT, but `..` above the root is `-EXDEV`.
pub const PROCROOT_POLICY_IN_ROOT_STRICT: c_int = 1;
/// `RESOLVE_BENEATH`: any escape, absolute paths included, is `-EXDEV`.
pub const PROCROOT_POLICY_BENEATH: c_int = 2;

/// `openat2(2)` when it works, else the userspace walker (default).
pub const PROCROOT_BACKEND_AUTO: c_int = 0;
/// Only `openat2(2)`; `-ENOSYS` (NOT_SUPPORTED) without it.
pub const PROCROOT_BACKEND_KERNEL: c_int = 1;
/// Only the userspace walker.
pub const PROCROOT_BACKEND_EMULATED: c_int = 2;

/// Refuse every symlink (`RESOLVE_NO_SYMLINKS`).
pub const PROCROOT_RESOLVE_NO_SYMLINKS: u32 = 1;
/// Refuse to cross a mount (`RESOLVE_NO_XDEV`).
pub const PROCROOT_RESOLVE_NO_XDEV: u32 = 2;
/// Refuse magic links (`RESOLVE_NO_MAGICLINKS`); set by default.
pub const PROCROOT_RESOLVE_NO_MAGICLINKS: u32 = 4;

/// [`procroot_eval_symlinks`]: every component (procfsroot's `EvalFullPath`).
pub const PROCROOT_EVAL_FULL: c_int = 0;
/// [`procroot_eval_symlinks`]: all but the last component (procfsroot's `EvalExceptLast`).
pub const PROCROOT_EVAL_EXCEPT_LAST: c_int = 1;

/// [`procroot_chown`]: leave the owner or group unchanged, as `chown(2)`'s `-1`.
pub const PROCROOT_ID_UNCHANGED: u32 = u32::MAX;

/// The caller's `out` parameter; NULL is `-EINVAL`, checked before any work.
pub(crate) fn out_arg<T>(out: Option<&mut T>) -> Result<&mut T, Error> {
    out.ok_or_else(|| invalid("out is NULL"))
}

/// Stores a new root in the caller's `*out`.
fn root_out(out: &mut *mut procroot_root, root: Root) -> Result<c_int, Error> {
    *out = Box::into_raw(Box::new(procroot_root {
        root: RwLock::new(root),
    }));
    Ok(0)
}

/// Opens the directory `path` (resolved normally, in the caller's root) as a root: `*out`
/// receives it, to free with [`procroot_root_free`]. Returns 0.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to a writable pointer; `err` is NULL or
/// points to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_open(
    path: *const c_char,
    out: *mut *mut procroot_root,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or points to a writable `procroot_error *` for the call (this
    // function's contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `path` is NUL-terminated and, being an argument, alive for the call (contract).
    let path = unsafe { cstr(path) };
    // SAFETY: `out` points to a writable `procroot_root *` (contract); NULL is refused below.
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        root_out(out, Root::open(path_arg(path, "path")?)?)
    })
}

/// The root of process `pid` (`/proc/<pid>/root`, opened through a pidfd and the hardened
/// procfs: a PID reused meanwhile is `-ESRCH`, never another process's root). Returns 0.
///
/// # Safety
/// As [`procroot_root_open`].
#[no_mangle]
pub unsafe extern "C" fn procroot_root_for_pid(
    pid: u32,
    out: *mut *mut procroot_root,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call ("as procroot_root_open").
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `out` points to a writable `procroot_root *` ("as procroot_root_open").
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        root_out(out, Root::for_pid(pid)?)
    })
}

/// A root from a directory fd (it may be `O_PATH`). The fd is duplicated: the caller keeps and
/// closes its own. Not a directory: `-ENOTDIR`. Returns 0.
///
/// # Safety
/// As [`procroot_root_open`]; `fd` stays open during the call.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_from_fd(
    fd: CBorrowedFd<'_>,
    out: *mut *mut procroot_root,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call ("as procroot_root_open").
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `out` points to a writable `procroot_root *` ("as procroot_root_open").
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        let dup =
            rustix::io::fcntl_dupfd_cloexec(fd.try_as_borrowed_fd()?, 0).map_err(Error::from)?;
        root_out(out, Root::from_fd(dup)?)
    })
}

/// Frees a root (closes its fd). NULL is allowed.
///
/// # Safety
/// `root` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_free(root: *mut procroot_root) {
    // SAFETY: `root` is NULL or made by `root_out` with `Box::into_raw`, not freed yet and
    // used by no other thread (this function's contract): `free_box`'s contract.
    unsafe { free_box(root) };
}

/// The root's directory fd (`O_PATH`), borrowed: valid until [`procroot_root_free`], not to be
/// closed by the caller.
///
/// # Safety
/// `root` is NULL or a live root; `err` as everywhere.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_fd(
    root: *const procroot_root,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call ("as everywhere").
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `root` is NULL or a live root, not freed during the call (contract).
    let root = unsafe { handle(root) };
    ffi(err, || {
        let r = required(root, "root")?;
        Ok(std::os::fd::AsRawFd::as_raw_fd(&r.read().as_fd()))
    })
}

/// Runs `f` on the root for a setter, with the root's lock held exclusively: it waits for the
/// calls in flight on other threads, and the `&mut Root` it makes aliases none of theirs.
fn with_root_mut(
    root: Option<&procroot_root>,
    err: ErrOut<'_>,
    f: impl FnOnce(&mut Root) -> Result<(), Error>,
) -> c_int {
    ffi(err, || {
        let r = required(root, "root")?;
        let mut guard = r.root.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)?;
        Ok(0)
    })
}

/// The arguments of a setter.
///
/// # Safety
/// As [`procroot_root_set_policy`].
unsafe fn setter_args<'a>(
    root: *mut procroot_root,
    err: *mut *mut procroot_error,
) -> (Option<&'a procroot_root>, ErrOut<'a>) {
    // SAFETY: `root` is NULL or a live root not freed during the call (the setters' contract);
    // only a shared reference is made, the lock gives the `&mut Root`.
    let root = unsafe { handle(root.cast_const()) };
    // SAFETY: `err` is NULL or writable for the call (the setters' contract).
    let err = unsafe { ErrOut::from_raw(err) };
    (root, err)
}

/// Sets the policy (`PROCROOT_POLICY_*`). Returns 0.
///
/// # Safety
/// `root` is NULL or a live root, not freed during the call. Other threads may use it: the
/// setter waits for their calls in flight (the root's lock) and changes only later calls.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_set_policy(
    root: *mut procroot_root,
    policy: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `setter_args`'.
    let (root, err) = unsafe { setter_args(root, err) };
    with_root_mut(root, err, |r| {
        r.set_policy(policy_of(policy)?);
        Ok(())
    })
}

/// Sets the resolve flags (`PROCROOT_RESOLVE_*`; they replace the defaults). Returns 0.
///
/// # Safety
/// As [`procroot_root_set_policy`].
#[no_mangle]
pub unsafe extern "C" fn procroot_root_set_flags(
    root: *mut procroot_root,
    flags: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `setter_args`' ("as procroot_root_set_policy").
    let (root, err) = unsafe { setter_args(root, err) };
    with_root_mut(root, err, |r| {
        r.set_flags(
            ResolveFlags::from_bits(flags)
                .ok_or_else(|| invalid(format!("unknown resolve flag bits in {flags:#x}")))?,
        );
        Ok(())
    })
}

/// Sets the backend (`PROCROOT_BACKEND_*`). Returns 0.
///
/// # Safety
/// As [`procroot_root_set_policy`].
#[no_mangle]
pub unsafe extern "C" fn procroot_root_set_backend(
    root: *mut procroot_root,
    backend: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `setter_args`' ("as procroot_root_set_policy").
    let (root, err) = unsafe { setter_args(root, err) };
    with_root_mut(root, err, |r| {
        r.set_backend(match backend {
            PROCROOT_BACKEND_AUTO => Backend::Auto,
            PROCROOT_BACKEND_KERNEL => Backend::Kernel,
            PROCROOT_BACKEND_EMULATED => Backend::Emulated,
            b => return Err(invalid(format!("unknown backend {b}"))),
        });
        Ok(())
    })
}

/// Whether FIFOs, sockets and device nodes may be opened (`allow` 1) or are refused with
/// `-ENXIO` (0, the default). Returns 0.
///
/// # Safety
/// As [`procroot_root_set_policy`].
#[no_mangle]
pub unsafe extern "C" fn procroot_root_set_special_files(
    root: *mut procroot_root,
    allow: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `setter_args`' ("as procroot_root_set_policy").
    let (root, err) = unsafe { setter_args(root, err) };
    with_root_mut(root, err, |r| {
        r.set_special_files(match allow {
            0 => SpecialFiles::Refuse,
            1 => SpecialFiles::Allow,
            a => return Err(invalid(format!("allow must be 0 or 1, not {a}"))),
        });
        Ok(())
    })
}

/// The root, one C string and `err` of a path operation.
pub(crate) struct PathArgs<'a> {
    pub(crate) root: Option<&'a procroot_root>,
    pub(crate) path: Option<&'a CStr>,
    pub(crate) err: ErrOut<'a>,
}

impl<'a> PathArgs<'a> {
    /// The arguments of a path operation.
    ///
    /// # Safety
    /// As [`procroot_resolve`]: `root` NULL or a live root, `path` NULL or NUL-terminated, both
    /// unchanged and not freed for `'a`; `err` NULL or writable.
    pub(crate) unsafe fn from_raw(
        root: *const procroot_root,
        path: *const c_char,
        err: *mut *mut procroot_error,
    ) -> Self {
        PathArgs {
            // SAFETY: `root` is NULL or live for 'a (this fn's contract).
            root: unsafe { handle(root) },
            // SAFETY: `path` is NULL or NUL-terminated and alive for 'a (this fn's contract).
            path: unsafe { cstr(path) },
            // SAFETY: `err` is NULL or writable (this fn's contract).
            err: unsafe { ErrOut::from_raw(err) },
        }
    }

    /// Runs `f` with the root (held shared for the call) and the path.
    pub(crate) fn run(self, f: impl FnOnce(&Root, &Path) -> Result<c_int, Error>) -> c_int {
        let (root, path) = (self.root, self.path);
        ffi(self.err, || {
            let r = required(root, "root")?;
            let p = path_arg(path, "path")?;
            f(&r.read(), p)
        })
    }
}

/// Resolves `path` inside the root, following a trailing symlink: an `O_PATH` fd. Escapes go by
/// the policy (`-EXDEV` where refused).
///
/// # Safety
/// `root` NULL or live; `path` NUL-terminated; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_resolve(
    root: *const procroot_root,
    path: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `PathArgs::from_raw`'s.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| Ok(owned(r.resolve_fd(p)?)))
}

/// [`procroot_resolve`] without following a trailing symlink (the fd is the link itself).
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_resolve_nofollow(
    root: *const procroot_root,
    path: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| Ok(owned(r.resolve_fd_nofollow(p)?)))
}

/// Opens an existing file inside the root with `open(2)` flags (no `O_CREAT`: see
/// [`procroot_create_file`]). Special files go by [`procroot_root_set_special_files`].
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_open_file(
    root: *const procroot_root,
    path: *const c_char,
    flags: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| Ok(owned(r.open_file(p, oflags(flags)?)?)))
}

/// Reads the symlink `path` (its last component is not followed) into `buf` (see
/// "buffers" in the header's introduction): returns the target's length without the NUL; a
/// value `>= size` means nothing was written and `ret + 1` bytes are needed.
///
/// # Safety
/// As [`procroot_resolve`]; `buf` is NULL with `size` 0, or has `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn procroot_readlink(
    root: *const procroot_root,
    path: *const c_char,
    buf: *mut c_char,
    size: usize,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    // SAFETY: `buf` is NULL or has `size` writable bytes, not shared with `path` (contract).
    let buf = unsafe { buffer(buf, size) };
    args.run(|r, p| copy_out(r.readlink(p)?.as_os_str().as_bytes(), buf))
}

/// The absolute path inside the root that `path` resolves to (procfsroot's `EvalSymlinks`),
/// with `mode` `PROCROOT_EVAL_FULL` or `PROCROOT_EVAL_EXCEPT_LAST`, into `buf` as
/// [`procroot_readlink`] does. An empty `path` is the root.
///
/// # Safety
/// As [`procroot_readlink`].
#[no_mangle]
pub unsafe extern "C" fn procroot_eval_symlinks(
    root: *const procroot_root,
    path: *const c_char,
    mode: c_int,
    buf: *mut c_char,
    size: usize,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_readlink": `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    // SAFETY: "as procroot_readlink": `buf` is NULL or has `size` writable bytes.
    let buf = unsafe { buffer(buf, size) };
    args.run(|r, p| {
        let out = r.eval_symlinks(p, eval_mode(mode)?)?;
        copy_out(out.as_os_str().as_bytes(), buf)
    })
}

/// The mode of an eval call.
fn eval_mode(mode: c_int) -> Result<EvalMode, Error> {
    match mode {
        PROCROOT_EVAL_FULL => Ok(EvalMode::Full),
        PROCROOT_EVAL_EXCEPT_LAST => Ok(EvalMode::ExceptLast),
        m => Err(invalid(format!("unknown eval mode {m}"))),
    }
}

/// The policy of a root.
fn policy_of(policy: c_int) -> Result<Policy, Error> {
    match policy {
        PROCROOT_POLICY_IN_ROOT => Ok(Policy::InRoot),
        PROCROOT_POLICY_IN_ROOT_STRICT => Ok(Policy::InRootStrict),
        PROCROOT_POLICY_BENEATH => Ok(Policy::Beneath),
        p => Err(invalid(format!("unknown policy {p}"))),
    }
}

/// procfsroot's `EvalSymlinks(path, root, mode)` in one call: opens the directory `root_dir`
/// as [`procroot_root_open`] does, evaluates `path` as [`procroot_eval_symlinks`] does under
/// `policy` (`PROCROOT_POLICY_*`), and frees the root (Rust's `Root::eval_symlinks_in`). For a
/// plain absolute `root_dir` this spares reading the root's path back from the kernel. Output
/// into `buf` as [`procroot_readlink`].
///
/// # Safety
/// `root_dir` and `path` NUL-terminated; `buf` NULL (with `size` 0) or `size` writable bytes;
/// `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_eval_symlinks_in(
    root_dir: *const c_char,
    path: *const c_char,
    policy: c_int,
    mode: c_int,
    buf: *mut c_char,
    size: usize,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `root_dir` is NUL-terminated and alive for the call (contract).
    let root_dir = unsafe { cstr(root_dir) };
    // SAFETY: `path` is NUL-terminated and alive for the call (contract).
    let path = unsafe { cstr(path) };
    // SAFETY: `buf` is NULL or has `size` writable bytes, not shared with the strings
    // (contract).
    let buf = unsafe { buffer(buf, size) };
    ffi(err, || {
        let root_dir = path_arg(root_dir, "root_dir")?;
        let p = path_arg(path, "path")?;
        let out = Root::eval_symlinks_in(root_dir, p, policy_of(policy)?, eval_mode(mode)?)?;
        copy_out(out.as_os_str().as_bytes(), buf)
    })
}

/// Creates (or with flags lacking `O_EXCL`, opens) the regular file `path` inside the root with
/// `mode`; returns its fd. `O_CREAT` is implied.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_create_file(
    root: *const procroot_root,
    path: *const c_char,
    flags: c_int,
    mode: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| Ok(owned(r.create_file(p, oflags(flags)?, mode)?)))
}

/// Makes `path` and any missing parents inside the root with `mode`; returns an `O_PATH` fd of
/// the last directory.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_mkdir_all(
    root: *const procroot_root,
    path: *const c_char,
    mode: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| Ok(owned(r.mkdir_all(p, mode)?)))
}

/// Removes the non-directory `path` (a trailing symlink is removed, not followed). Returns 0.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_remove_file(
    root: *const procroot_root,
    path: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| r.remove_file(p).map(|()| 0))
}

/// Removes the empty directory `path`. Returns 0.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_remove_dir(
    root: *const procroot_root,
    path: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| r.remove_dir(p).map(|()| 0))
}

/// Removes `path` and everything under it on the same mount. Returns 0; a missing `path` is
/// `-ENOENT` (the Go binding maps it to nil, as `os.RemoveAll`).
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_remove_all(
    root: *const procroot_root,
    path: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| r.remove_all(p).map(|()| 0))
}

/// Runs `f` with the root and two path arguments (named `names` in errors).
fn with_two_paths(
    args: PathArgs<'_>,
    second: Option<&CStr>,
    names: (&str, &str),
    f: impl FnOnce(&Root, &Path, &Path) -> Result<(), Error>,
) -> c_int {
    let (root, first) = (args.root, args.path);
    ffi(args.err, || {
        let r = required(root, "root")?;
        let a = path_arg(first, names.0)?;
        let b = path_arg(second, names.1)?;
        f(&r.read(), a, b)?;
        Ok(0)
    })
}

/// `renameat2(2)` of `from` to `to` inside the root with `RENAME_*` flags (`RENAME_NOREPLACE`
/// 1, `RENAME_EXCHANGE` 2, `RENAME_WHITEOUT` 4; any other bit is `-EINVAL` before any
/// syscall). Returns 0.
///
/// # Safety
/// As [`procroot_resolve`], for both paths.
#[no_mangle]
pub unsafe extern "C" fn procroot_rename(
    root: *const procroot_root,
    from: *const c_char,
    to: *const c_char,
    flags: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve" for `root`, `from` and `err`: `PathArgs::from_raw`'s.
    let args = unsafe { PathArgs::from_raw(root, from, err) };
    // SAFETY: `to` is NUL-terminated and alive for the call ("for both paths").
    let to = unsafe { cstr(to) };
    with_two_paths(args, to, ("from", "to"), |r, a, b| {
        // rustix's `RenameFlags` accepts every bit (`from_bits` never refuses), so the
        // known ones are checked here: an unknown bit is the caller's mistake, refused
        // before any syscall, and named in the message.
        let known = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE | RenameFlags::WHITEOUT;
        let unknown = flags & !known.bits();
        if unknown != 0 {
            return Err(invalid(format!(
                "unknown rename flag bits {unknown:#x} in {flags:#x}"
            )));
        }
        let flags = RenameFlags::from_bits_retain(flags);
        r.rename(a, b, flags)
    })
}

/// Makes the symlink `linkpath` inside the root pointing at `target` (stored as given).
///
/// # Safety
/// As [`procroot_resolve`], for both strings.
#[no_mangle]
pub unsafe extern "C" fn procroot_symlink(
    root: *const procroot_root,
    target: *const c_char,
    linkpath: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve" for `root`, `target` and `err`: `PathArgs::from_raw`'s.
    let args = unsafe { PathArgs::from_raw(root, target, err) };
    // SAFETY: `linkpath` is NUL-terminated and alive for the call ("for both strings").
    let linkpath = unsafe { cstr(linkpath) };
    with_two_paths(args, linkpath, ("target", "linkpath"), |r, a, b| {
        r.symlink(a, b)
    })
}

/// Makes the hard link `newpath` to `existing` (not followed), both inside the root.
///
/// # Safety
/// As [`procroot_resolve`], for both paths.
#[no_mangle]
pub unsafe extern "C" fn procroot_hardlink(
    root: *const procroot_root,
    existing: *const c_char,
    newpath: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve" for `root`, `existing` and `err`: `PathArgs::from_raw`'s.
    let args = unsafe { PathArgs::from_raw(root, existing, err) };
    // SAFETY: `newpath` is NUL-terminated and alive for the call ("for both paths").
    let newpath = unsafe { cstr(newpath) };
    with_two_paths(args, newpath, ("existing", "newpath"), |r, a, b| {
        r.hardlink(a, b)
    })
}

/// Makes a special file: `type` is `S_IFIFO`, `S_IFCHR` or `S_IFBLK` (device numbers
/// `major:minor` for the last two, `-EINVAL` when the kernel cannot store them), `mode` its
/// permission bits. Returns 0.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_mknod(
    root: *const procroot_root,
    path: *const c_char,
    r#type: u32,
    mode: u32,
    major: u32,
    minor: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| {
        let kind = match r#type {
            0o010000 => NodeKind::Fifo,
            0o020000 => NodeKind::CharDevice { major, minor },
            0o060000 => NodeKind::BlockDevice { major, minor },
            t => {
                return Err(invalid(format!(
                    "type {t:#o} is not S_IFIFO, S_IFCHR or S_IFBLK"
                )))
            }
        };
        r.mknod(p, kind, mode).map(|()| 0)
    })
}

/// `chmod` of `path` inside the root (a trailing symlink is followed, inside the root).
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_set_permissions(
    root: *const procroot_root,
    path: *const c_char,
    mode: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| r.set_permissions(p, mode).map(|()| 0))
}

/// `chown` of `path` inside the root; `PROCROOT_ID_UNCHANGED` leaves an id as it is.
///
/// # Safety
/// As [`procroot_resolve`].
#[no_mangle]
pub unsafe extern "C" fn procroot_chown(
    root: *const procroot_root,
    path: *const c_char,
    uid: u32,
    gid: u32,
    err: *mut *mut procroot_error,
) -> c_int {
    let id = |v: u32| (v != PROCROOT_ID_UNCHANGED).then_some(v);
    // SAFETY: "as procroot_resolve", which is `PathArgs::from_raw`'s contract.
    let args = unsafe { PathArgs::from_raw(root, path, err) };
    args.run(|r, p| r.chown(p, id(uid), id(gid)).map(|()| 0))
}

/// Opens the file that the `O_PATH` fd `fd` (from [`procroot_resolve`]) pins, with `open(2)`
/// flags, through the hardened procfs. A symlink is `-ELOOP`; `O_CREAT` is `-EINVAL`; FIFOs,
/// sockets and devices are refused (`-ENXIO`) unless `allow_special` is 1.
///
/// # Safety
/// `err` NULL or writable; `fd` stays open during the call.
#[no_mangle]
pub unsafe extern "C" fn procroot_reopen(
    fd: CBorrowedFd<'_>,
    flags: c_int,
    allow_special: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    ffi(err, || {
        let special = match allow_special {
            0 => SpecialFiles::Refuse,
            1 => SpecialFiles::Allow,
            a => return Err(invalid(format!("allow_special must be 0 or 1, not {a}"))),
        };
        let fd = fd.try_as_borrowed_fd()?;
        Ok(owned(procroot::root::reopen_fd(
            fd,
            oflags(flags)?,
            special,
        )?))
    })
}
