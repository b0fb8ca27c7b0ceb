//! The C ABI of procroot (`include/procroot.h`, generated from this file by cbindgen).
//!
//! Conventions, the same for every function:
//! - the return value is `>= 0` on success (an fd, a length, or 0) and `-errno` on failure;
//! - the last parameter, `err`, may be NULL; otherwise, on failure, `*err` receives a heap
//!   [`procroot_error`] (errno, kind, syscall, message) that the caller frees with
//!   [`procroot_error_free`], and on success `*err` is left untouched. There is no thread-local
//!   "last error" and no global error table: Go moves goroutines between threads, and a
//!   per-thread error would be read on the wrong one;
//! - fds returned are the caller's (`O_CLOEXEC`), to `close(2)`;
//! - a NULL pointer, a negative fd or an unknown flag bit is `-EINVAL` or `-EBADF` with a
//!   message, never a crash; a panic inside procroot never unwinds into C (it becomes
//!   `-ENOTRECOVERABLE`).
//!
//! Handles (`procroot_root`, `procroot_procfs`, `procroot_pidfd`) may be used by several
//! threads at the same time. The `procroot_root_set_*` calls change a root: they take the
//! root's lock exclusively, so a setter racing a call waits for it to finish (a setter never
//! changes the settings under a resolution in flight). Only the `*_free` calls must not race
//! with any other use of the same handle: the Go and Python bindings make their `Close` wait
//! for the calls in flight.
//!
//! This crate and the library's `sys` module are the only ones with `unsafe`: here, every
//! dereference of a pointer C handed in.

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_int, CStr, CString, OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use procroot::{
    Backend, Errno, Error, ErrorKind, EvalMode, NodeKind, OFlags, PidFd, Policy, ProcBase, Procfs,
    RenameFlags, ResolveFlags, Root, SpecialFiles,
};

/// `kind` of a [`procroot_error`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum procroot_error_kind {
    /// The path or process does not exist (`ENOENT`, `ESRCH`).
    PROCROOT_ERROR_NOT_FOUND = 1,
    /// Refused because it would be unsafe: an escape from the root (`EXDEV`), a special file
    /// (`ENXIO`), a race that was caught.
    PROCROOT_ERROR_SAFETY_VIOLATION = 2,
    /// The arguments are wrong (`EINVAL`, `EBADF`, `ENAMETOOLONG`...).
    PROCROOT_ERROR_INVALID_INPUT = 3,
    /// The kernel lacks something procroot needs (`ENOSYS`...).
    PROCROOT_ERROR_NOT_SUPPORTED = 4,
    /// Any other error from the kernel.
    PROCROOT_ERROR_OS = 5,
}

/// An error, as `*err` receives it. Free it with [`procroot_error_free`].
#[repr(C)]
#[derive(Debug)]
pub struct procroot_error {
    /// The positive errno (the function returned its negation).
    pub saved_errno: c_int,
    /// What kind of failure this is.
    pub kind: procroot_error_kind,
    /// The system call that failed (`"openat2"`), or NULL when the error has none (bad input,
    /// a refusal by procroot itself).
    pub syscall: *const c_char,
    /// The full message, as procroot's Display prints it (operation, path, root, cause).
    pub message: *const c_char,
}

/// A root directory with its resolution settings (opaque).
pub struct procroot_root {
    /// Calls hold it shared for their whole duration; the setters hold it exclusively, so a
    /// `&mut Root` never aliases the `&Root` of a call in flight on another thread.
    root: RwLock<Root>,
}

impl procroot_root {
    /// The root, for one call. A poisoned lock (a panic in a setter, caught by [`ffi`]) still
    /// holds a consistent `Root`: every setter is a single field assignment.
    fn read(&self) -> RwLockReadGuard<'_, Root> {
        self.root.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A procfs instance (opaque): from [`procroot_procfs_for_pidns`]. Where a function takes a
/// `const procroot_procfs *`, NULL means procroot's cached hardened instance.
pub struct procroot_procfs {
    procfs: Procfs,
}

/// A pidfd with the PID it was opened for (opaque), for the `PROCROOT_BASE_PIDFD` base.
pub struct procroot_pidfd {
    pidfd: PidFd,
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

/// procfs base `/proc`.
pub const PROCROOT_BASE_ROOT: c_int = 0;
/// procfs base `/proc/self`.
pub const PROCROOT_BASE_SELF: c_int = 1;
/// procfs base `/proc/thread-self`.
pub const PROCROOT_BASE_THREAD_SELF: c_int = 2;
/// procfs base `/proc/<pid>` (the `pid` argument).
pub const PROCROOT_BASE_PID: c_int = 3;
/// procfs base: the process of a `procroot_pidfd` (the `pidfd` argument), safe against PID reuse.
pub const PROCROOT_BASE_PIDFD: c_int = 4;

/// [`procroot_sealed_exe_ensure`]: a read-only overlay view of the binary.
pub const PROCROOT_SEALED_OVERLAY: c_int = 1;
/// [`procroot_sealed_exe_ensure`]: a sealed memfd copy.
pub const PROCROOT_SEALED_MEMFD: c_int = 2;
/// [`procroot_sealed_exe_ensure`]: a read-only `O_TMPFILE` copy.
pub const PROCROOT_SEALED_TMPFILE: c_int = 3;
/// [`procroot_sealed_exe_ensure`]: no copy, the binary is on a read-only mount (`mount --bind -o
/// ro`, a read-only `/usr`) that a container cannot make writable.
pub const PROCROOT_SEALED_READ_ONLY_MOUNT: c_int = 4;

/// [`procroot_chown`]: leave the owner or group unchanged, as `chown(2)`'s `-1`.
pub const PROCROOT_ID_UNCHANGED: u32 = u32::MAX;

/// The library version (`"0.1.0"`), a static string. Never NULL, never freed.
#[no_mangle]
pub extern "C" fn procroot_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the version has no NUL"),
        };
    VERSION.as_ptr()
}

/// Frees an error from any `err` out-parameter. NULL is allowed.
///
/// # Safety
/// `err` is NULL or came from procroot and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn procroot_error_free(err: *mut procroot_error) {
    if err.is_null() {
        return;
    }
    // SAFETY: the caller passes a pointer that `set_error` made with `Box::into_raw` and did not
    // free; the strings in it were made with `CString::into_raw` (or are NULL).
    unsafe {
        let err = Box::from_raw(err);
        if !err.syscall.is_null() {
            drop(CString::from_raw(err.syscall as *mut c_char));
        }
        if !err.message.is_null() {
            drop(CString::from_raw(err.message as *mut c_char));
        }
    }
}

/// `-EINVAL` with a message: the C caller passed something wrong.
fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid_input(Errno::INVAL, msg.into())
}

fn cstring_lossy(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Stores `e` in `*err` (if `err` is not NULL) and returns `-errno`.
fn set_error(err: *mut *mut procroot_error, e: &Error) -> c_int {
    let errno = e.errno().raw_os_error();
    if !err.is_null() {
        let kind = match e.kind() {
            ErrorKind::NotFound => procroot_error_kind::PROCROOT_ERROR_NOT_FOUND,
            ErrorKind::SafetyViolation => procroot_error_kind::PROCROOT_ERROR_SAFETY_VIOLATION,
            ErrorKind::InvalidInput => procroot_error_kind::PROCROOT_ERROR_INVALID_INPUT,
            ErrorKind::NotSupported => procroot_error_kind::PROCROOT_ERROR_NOT_SUPPORTED,
            _ => procroot_error_kind::PROCROOT_ERROR_OS,
        };
        let syscall = e.syscall().map_or(std::ptr::null(), |s| {
            cstring_lossy(s).into_raw() as *const _
        });
        let boxed = Box::new(procroot_error {
            saved_errno: errno,
            kind,
            syscall,
            message: cstring_lossy(&e.to_string()).into_raw(),
        });
        // SAFETY: `err` is not NULL and, by every function's contract, points to a writable
        // `procroot_error *`.
        unsafe { *err = Box::into_raw(boxed) };
    }
    -errno
}

/// Every entry point: runs `f`, maps its error to `-errno` (and `*err`), and never lets a panic
/// unwind into C, where unwinding is undefined behaviour.
fn ffi(err: *mut *mut procroot_error, f: impl FnOnce() -> Result<c_int, Error>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => set_error(err, &e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_error(
                err,
                &Error::with_detail(
                    ErrorKind::Os,
                    Errno::NOTRECOVERABLE,
                    format!("internal error in procroot (a panic): {what}"),
                ),
            )
        }
    }
}

/// A C string argument as a path. NULL is `-EINVAL`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for `'a`.
unsafe fn path<'a>(p: *const c_char, what: &str) -> Result<&'a Path, Error> {
    if p.is_null() {
        return Err(invalid(format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and NUL-terminated and alive for 'a by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// A handle argument. NULL is `-EINVAL`.
///
/// # Safety
/// `p` is NULL or a live handle from procroot.
unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Error> {
    // SAFETY: by the caller's contract `p` is NULL or points to a live `T` made by procroot.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// Borrows a caller's fd for the duration of one call. A negative fd is `-EBADF`; a closed one
/// is the kernel's `EBADF` from the first syscall made on it.
fn borrow_fd<'a>(fd: c_int) -> Result<BorrowedFd<'a>, Error> {
    if fd < 0 {
        return Err(Error::invalid_input(
            Errno::BADF,
            format!("{fd} is not a file descriptor"),
        ));
    }
    // SAFETY: `fd` is non-negative; the caller keeps it open for the duration of the call (the
    // function's contract). One that is not open makes the kernel answer EBADF, which is
    // reported as such.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// `open(2)` flags from C. A bit that is not an `open(2)` flag is `-EINVAL`, never passed on:
/// rustix's `OFlags` keeps unknown bits, and the kernel ignores unknown bits in `open(2)`, so a
/// caller's typo would otherwise be silently dropped.
fn oflags(flags: c_int) -> Result<OFlags, Error> {
    let known = OFlags::RWMODE
        | OFlags::CREATE
        | OFlags::EXCL
        | OFlags::NOCTTY
        | OFlags::TRUNC
        | OFlags::APPEND
        | OFlags::NONBLOCK
        | OFlags::DSYNC
        | OFlags::SYNC
        | OFlags::RSYNC
        | OFlags::DIRECT
        | OFlags::LARGEFILE
        | OFlags::DIRECTORY
        | OFlags::NOFOLLOW
        | OFlags::NOATIME
        | OFlags::CLOEXEC
        | OFlags::PATH
        | OFlags::TMPFILE
        | OFlags::ASYNC;
    let flags = OFlags::from_bits_retain(flags as u32);
    if !known.contains(flags) {
        return Err(invalid(format!(
            "unknown open flag bits {:#x}",
            flags.difference(known).bits()
        )));
    }
    Ok(flags)
}

fn owned(fd: impl Into<OwnedFd>) -> c_int {
    fd.into().into_raw_fd()
}

/// Copies `bytes` and a NUL into `buf` when they fit; returns the length without the NUL, as
/// `snprintf(3)` does, so a return value `>= size` means "call again with `ret + 1` bytes".
///
/// # Safety
/// `buf` is NULL (then `size` must be 0) or points to `size` writable bytes.
unsafe fn copy_out(bytes: &[u8], buf: *mut c_char, size: usize) -> Result<c_int, Error> {
    let n = c_int::try_from(bytes.len())
        .map_err(|_| Error::invalid_input(Errno::NAMETOOLONG, "path too long"))?;
    if buf.is_null() {
        if size != 0 {
            return Err(invalid("buf is NULL with a non-zero size"));
        }
        return Ok(n);
    }
    if bytes.len() < size {
        // SAFETY: `buf` has `size` writable bytes by the caller's contract, and
        // `bytes.len() + 1 <= size`; `bytes` is a Rust slice that cannot overlap C's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, bytes.len());
            *buf.add(bytes.len()) = 0;
        }
    }
    Ok(n)
}

fn root_out(out: *mut *mut procroot_root, root: Root) -> Result<c_int, Error> {
    // SAFETY: checked non-NULL by the caller (`check_out`); it points to a writable pointer.
    unsafe {
        *out = Box::into_raw(Box::new(procroot_root {
            root: RwLock::new(root),
        }))
    };
    Ok(0)
}

fn check_out<T>(out: *mut *mut T) -> Result<(), Error> {
    if out.is_null() {
        return Err(invalid("out is NULL"));
    }
    Ok(())
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
    ffi(err, || {
        check_out(out)?;
        // SAFETY: forwarded contract of this function.
        let path = unsafe { self::path(path, "path") }?;
        root_out(out, Root::open(path)?)
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
    ffi(err, || {
        check_out(out)?;
        root_out(out, Root::for_pid(pid)?)
    })
}

/// A root from a directory fd (it may be `O_PATH`). The fd is duplicated: the caller keeps and
/// closes its own. Not a directory: `-ENOTDIR`. Returns 0.
///
/// # Safety
/// As [`procroot_root_open`].
#[no_mangle]
pub unsafe extern "C" fn procroot_root_from_fd(
    fd: c_int,
    out: *mut *mut procroot_root,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        check_out(out)?;
        let dup = rustix::io::fcntl_dupfd_cloexec(borrow_fd(fd)?, 0).map_err(Error::from)?;
        root_out(out, Root::from_fd(dup)?)
    })
}

/// Frees a root (closes its fd). NULL is allowed.
///
/// # Safety
/// `root` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_root_free(root: *mut procroot_root) {
    if !root.is_null() {
        // SAFETY: made by `root_out` with Box::into_raw and not freed yet (caller's contract).
        drop(unsafe { Box::from_raw(root) });
    }
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
    ffi(err, || {
        // SAFETY: forwarded contract.
        let r = unsafe { handle(root, "root") }?;
        Ok(std::os::fd::AsRawFd::as_raw_fd(&r.read().as_fd()))
    })
}

/// Runs `f` on the root for a setter, with the root's lock held exclusively: it waits for the
/// calls in flight on other threads, and the `&mut Root` it makes aliases none of theirs.
///
/// # Safety
/// `root` is NULL or a live root (not freed during the call).
unsafe fn with_root_mut(
    root: *const procroot_root,
    err: *mut *mut procroot_error,
    f: impl FnOnce(&mut Root) -> Result<(), Error>,
) -> c_int {
    ffi(err, || {
        // SAFETY: forwarded contract: NULL or live; shared access only, the lock gives `&mut`.
        let r = unsafe { handle(root, "root") }?;
        let mut guard = r.root.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)?;
        Ok(0)
    })
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
    // SAFETY: forwarded contract.
    unsafe {
        with_root_mut(root, err, |r| {
            r.set_policy(policy_of(policy)?);
            Ok(())
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_root_mut(root, err, |r| {
            r.set_flags(
                ResolveFlags::from_bits(flags)
                    .ok_or_else(|| invalid(format!("unknown resolve flag bits in {flags:#x}")))?,
            );
            Ok(())
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe {
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
    // SAFETY: forwarded contract.
    unsafe {
        with_root_mut(root, err, |r| {
            r.set_special_files(match allow {
                0 => SpecialFiles::Refuse,
                1 => SpecialFiles::Allow,
                a => return Err(invalid(format!("allow must be 0 or 1, not {a}"))),
            });
            Ok(())
        })
    }
}

/// Runs `f` with the root and one path argument.
///
/// # Safety
/// `root` NULL or live; `p` NULL or NUL-terminated; `err` NULL or writable.
unsafe fn with_path(
    root: *const procroot_root,
    p: *const c_char,
    err: *mut *mut procroot_error,
    f: impl FnOnce(&Root, &Path) -> Result<c_int, Error>,
) -> c_int {
    ffi(err, || {
        // SAFETY: forwarded contract.
        let r = unsafe { handle(root, "root") }?;
        // SAFETY: forwarded contract.
        let p = unsafe { path(p, "path") }?;
        f(&r.read(), p)
    })
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| Ok(owned(r.resolve_fd(p)?))) }
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| Ok(owned(r.resolve_fd_nofollow(p)?))) }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            Ok(owned(r.open_file(p, oflags(flags)?)?))
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            let target = r.readlink(p)?;
            copy_out(target.as_os_str().as_bytes(), buf, size)
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            let out = r.eval_symlinks(p, eval_mode(mode)?)?;
            copy_out(out.as_os_str().as_bytes(), buf, size)
        })
    }
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
    ffi(err, || {
        // SAFETY: forwarded contract.
        let root_dir = unsafe { self::path(root_dir, "root_dir") }?;
        // SAFETY: forwarded contract.
        let p = unsafe { self::path(path, "path") }?;
        let out = Root::eval_symlinks_in(root_dir, p, policy_of(policy)?, eval_mode(mode)?)?;
        // SAFETY: forwarded contract.
        unsafe { copy_out(out.as_os_str().as_bytes(), buf, size) }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            Ok(owned(r.create_file(p, oflags(flags)?, mode)?))
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| Ok(owned(r.mkdir_all(p, mode)?))) }
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| r.remove_file(p).map(|()| 0)) }
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| r.remove_dir(p).map(|()| 0)) }
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
    // SAFETY: forwarded contract.
    unsafe { with_path(root, path, err, |r, p| r.remove_all(p).map(|()| 0)) }
}

/// Runs `f` with the root and two path arguments.
///
/// # Safety
/// As [`with_path`], for both paths.
unsafe fn with_two_paths(
    root: *const procroot_root,
    a: *const c_char,
    b: *const c_char,
    names: (&str, &str),
    err: *mut *mut procroot_error,
    f: impl FnOnce(&Root, &Path, &Path) -> Result<(), Error>,
) -> c_int {
    ffi(err, || {
        // SAFETY: forwarded contract.
        let r = unsafe { handle(root, "root") }?;
        // SAFETY: forwarded contract.
        let a = unsafe { path(a, names.0) }?;
        // SAFETY: forwarded contract.
        let b = unsafe { path(b, names.1) }?;
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
    // SAFETY: forwarded contract.
    unsafe {
        with_two_paths(root, from, to, ("from", "to"), err, |r, a, b| {
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
    // SAFETY: forwarded contract.
    unsafe {
        with_two_paths(
            root,
            target,
            linkpath,
            ("target", "linkpath"),
            err,
            |r, a, b| r.symlink(a, b),
        )
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_two_paths(
            root,
            existing,
            newpath,
            ("existing", "newpath"),
            err,
            |r, a, b| r.hardlink(a, b),
        )
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            r.set_permissions(p, mode).map(|()| 0)
        })
    }
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
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, path, err, |r, p| {
            r.chown(p, id(uid), id(gid)).map(|()| 0)
        })
    }
}

/// Opens the file that the `O_PATH` fd `fd` (from [`procroot_resolve`]) pins, with `open(2)`
/// flags, through the hardened procfs. A symlink is `-ELOOP`; `O_CREAT` is `-EINVAL`; FIFOs,
/// sockets and devices are refused (`-ENXIO`) unless `allow_special` is 1.
///
/// # Safety
/// `err` NULL or writable; `fd` stays open during the call.
#[no_mangle]
pub unsafe extern "C" fn procroot_reopen(
    fd: c_int,
    flags: c_int,
    allow_special: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        let special = match allow_special {
            0 => SpecialFiles::Refuse,
            1 => SpecialFiles::Allow,
            a => return Err(invalid(format!("allow_special must be 0 or 1, not {a}"))),
        };
        let fd = borrow_fd(fd)?;
        Ok(owned(procroot::root::reopen_fd(
            fd,
            oflags(flags)?,
            special,
        )?))
    })
}

/// Opens the pidfd of `pid` (`pidfd_open(2)`): `*out` receives it, for the
/// `PROCROOT_BASE_PIDFD` base; free it with [`procroot_pidfd_free`]. Returns 0.
///
/// # Safety
/// `out` points to a writable pointer; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_pidfd_open(
    pid: u32,
    out: *mut *mut procroot_pidfd,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        check_out(out)?;
        let pidfd = PidFd::open(pid)?;
        // SAFETY: checked non-NULL above; writable by the contract.
        unsafe { *out = Box::into_raw(Box::new(procroot_pidfd { pidfd })) };
        Ok(0)
    })
}

/// Frees a pidfd. NULL is allowed.
///
/// # Safety
/// `p` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_pidfd_free(p: *mut procroot_pidfd) {
    if !p.is_null() {
        // SAFETY: made with Box::into_raw by procroot_pidfd_open, not freed yet.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A new procfs instance for the PID namespace `nsfd` (an fd of `/proc/<pid>/ns/pid`): `*out`
/// receives it; free it with [`procroot_procfs_free`]. Returns 0.
///
/// Before Linux 6.18 (no `pidns=` mount option) the instance is made by a helper process forked
/// into the namespace. It is non-dumpable, but while it lives its `/proc/<pid>/exe` is the
/// caller's binary: a caller running from the file on disk should call
/// `procroot_sealed_exe_ensure` first when the namespace holds untrusted processes
/// (CVE-2019-5736).
///
/// # Safety
/// `out` points to a writable pointer; `err` NULL or writable; `nsfd` stays open meanwhile.
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_for_pidns(
    nsfd: c_int,
    out: *mut *mut procroot_procfs,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        check_out(out)?;
        let procfs = Procfs::for_pidns(borrow_fd(nsfd)?)?;
        // SAFETY: checked non-NULL above; writable by the contract.
        unsafe { *out = Box::into_raw(Box::new(procroot_procfs { procfs })) };
        Ok(0)
    })
}

/// Frees a procfs instance. NULL is allowed.
///
/// # Safety
/// `p` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_free(p: *mut procroot_procfs) {
    if !p.is_null() {
        // SAFETY: made with Box::into_raw by procroot_procfs_for_pidns, not freed yet.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// The procfs instance and base of a procfs call, checked.
///
/// # Safety
/// `procfs` and `pidfd` NULL or live; `subpath` NULL or NUL-terminated.
unsafe fn with_procfs(
    procfs: *const procroot_procfs,
    base: c_int,
    pid: u32,
    pidfd: *const procroot_pidfd,
    subpath: *const c_char,
    err: *mut *mut procroot_error,
    f: impl FnOnce(&Procfs, ProcBase<'_>, &Path) -> Result<c_int, Error>,
) -> c_int {
    ffi(err, || {
        let cached: Arc<Procfs>;
        // SAFETY: forwarded contract.
        let procfs = match unsafe { procfs.as_ref() } {
            Some(p) => &p.procfs,
            None => {
                cached = Procfs::cached()?;
                &*cached
            }
        };
        // SAFETY: forwarded contract.
        let pidfd = unsafe { pidfd.as_ref() };
        if base != PROCROOT_BASE_PIDFD && pidfd.is_some() {
            return Err(invalid("pidfd is only for PROCROOT_BASE_PIDFD"));
        }
        if base != PROCROOT_BASE_PID && pid != 0 {
            return Err(invalid("pid is only for PROCROOT_BASE_PID (pass 0)"));
        }
        let base = match base {
            PROCROOT_BASE_ROOT => ProcBase::Root,
            PROCROOT_BASE_SELF => ProcBase::SelfProcess,
            PROCROOT_BASE_THREAD_SELF => ProcBase::ThreadSelf,
            PROCROOT_BASE_PID => ProcBase::Pid(pid),
            PROCROOT_BASE_PIDFD => {
                ProcBase::PidFd(&pidfd.ok_or_else(|| invalid("pidfd is NULL"))?.pidfd)
            }
            b => return Err(invalid(format!("unknown procfs base {b}"))),
        };
        // SAFETY: forwarded contract.
        let subpath = unsafe { path(subpath, "subpath") }?;
        f(procfs, base, subpath)
    })
}

/// Opens `subpath` under a procfs base (`PROCROOT_BASE_*`; `pid` only for `_PID`, `pidfd` only
/// for `_PIDFD`, else 0 and NULL) with `open(2)` flags, following no magic link (`-ELOOP`) and
/// crossing no mount (`-EXDEV`). `procfs` NULL is the cached hardened instance.
///
/// # Safety
/// `procfs`, `pidfd` NULL or live; `subpath` NUL-terminated; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_open(
    procfs: *const procroot_procfs,
    base: c_int,
    pid: u32,
    pidfd: *const procroot_pidfd,
    subpath: *const c_char,
    flags: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_procfs(procfs, base, pid, pidfd, subpath, err, |p, b, s| {
            Ok(owned(p.open(b, s, oflags(flags)?)?))
        })
    }
}

/// [`procroot_procfs_open`] following a final magic link (`fd/3`, `exe`, `root`), refused
/// with `-EXDEV` when anything is mounted on it.
///
/// # Safety
/// As [`procroot_procfs_open`].
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_open_follow(
    procfs: *const procroot_procfs,
    base: c_int,
    pid: u32,
    pidfd: *const procroot_pidfd,
    subpath: *const c_char,
    flags: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_procfs(procfs, base, pid, pidfd, subpath, err, |p, b, s| {
            Ok(owned(p.open_follow(b, s, oflags(flags)?)?))
        })
    }
}

/// Reads the (magic) link `subpath` under a base into `buf`, as [`procroot_readlink`] does.
///
/// # Safety
/// As [`procroot_procfs_open`]; `buf` NULL with `size` 0, or `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_readlink(
    procfs: *const procroot_procfs,
    base: c_int,
    pid: u32,
    pidfd: *const procroot_pidfd,
    subpath: *const c_char,
    buf: *mut c_char,
    size: usize,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_procfs(procfs, base, pid, pidfd, subpath, err, |p, b, s| {
            let target = p.readlink(b, s)?;
            copy_out(target.as_os_str().as_bytes(), buf, size)
        })
    }
}

/// Writes `len` bytes of `data` to `subpath` under a base in one `write(2)` (a short write is
/// an error), as procroot's safe procfs write does. Returns 0.
///
/// # Safety
/// As [`procroot_procfs_open`]; `data` has `len` readable bytes (NULL only with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_write(
    procfs: *const procroot_procfs,
    base: c_int,
    pid: u32,
    pidfd: *const procroot_pidfd,
    subpath: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_procfs(procfs, base, pid, pidfd, subpath, err, |p, b, s| {
            let data: &[u8] = if data.is_null() {
                if len != 0 {
                    return Err(invalid("data is NULL with a non-zero len"));
                }
                &[]
            } else {
                // SAFETY: `data` has `len` readable bytes by the caller's contract, and is
                // not written during the call.
                std::slice::from_raw_parts(data, len)
            };
            p.write(b, s, data).map(|()| 0)
        })
    }
}

/// Makes sure the running binary is a sealed copy (CVE-2019-5736), re-executing it if needed:
/// returns the strategy in use (`PROCROOT_SEALED_*`).
///
/// # Safety
/// `err` NULL or writable. Like `execve(2)`, this may replace the process image.
#[no_mangle]
pub unsafe extern "C" fn procroot_sealed_exe_ensure(err: *mut *mut procroot_error) -> c_int {
    use procroot_runtime::exec::sealed_exe::Strategy;
    ffi(err, || {
        Ok(match procroot_runtime::exec::sealed_exe::ensure()? {
            Strategy::Overlay => PROCROOT_SEALED_OVERLAY,
            Strategy::Memfd => PROCROOT_SEALED_MEMFD,
            Strategy::Tmpfile => PROCROOT_SEALED_TMPFILE,
            Strategy::ReadOnlyMount => PROCROOT_SEALED_READ_ONLY_MOUNT,
        })
    })
}

/// [`procroot_mask_paths`] / [`procroot_make_readonly`] `results[i]`: path `i` is masked or
/// read-only now.
pub const PROCROOT_PATH_DONE: i32 = 0;
/// `results[i]`: path `i` was skipped (missing, or under a file).
pub const PROCROOT_PATH_SKIPPED: i32 = 1;

/// The C array of `n` path strings.
///
/// # Safety
/// `paths` is NULL with `n` 0, or points to `n` NUL-terminated strings.
unsafe fn path_array<'a>(paths: *const *const c_char, n: usize) -> Result<Vec<&'a Path>, Error> {
    if paths.is_null() {
        if n != 0 {
            return Err(invalid("paths is NULL with a non-zero npaths"));
        }
        return Ok(Vec::new());
    }
    // SAFETY: `paths` has `n` readable elements by the caller's contract.
    let ptrs = unsafe { std::slice::from_raw_parts(paths, n) };
    ptrs.iter()
        .enumerate()
        // SAFETY: each element is NULL or NUL-terminated by the contract.
        .map(|(i, &p)| unsafe { path(p, &format!("paths[{i}]")) })
        .collect()
}

/// Turns a container [`Report`](procroot_runtime::container::Report) into the C convention: the count
/// done, or the first refusal's `-errno` with every refusal in the message; `results` (NULL or
/// `paths.len()` entries) gets each path's outcome.
///
/// # Safety
/// `results` is NULL or has `paths.len()` writable entries.
unsafe fn report_out(
    paths: &[&Path],
    report: procroot_runtime::container::Report,
    results: *mut i32,
) -> Result<c_int, Error> {
    if !results.is_null() {
        // SAFETY: `results` has `paths.len()` writable entries by the caller's contract.
        let out = unsafe { std::slice::from_raw_parts_mut(results, paths.len()) };
        for (slot, p) in out.iter_mut().zip(paths) {
            *slot = if let Some((_, e)) = report.refused.iter().find(|(r, _)| r == p) {
                -e.errno().raw_os_error()
            } else if report.skipped.iter().any(|(r, _)| r == p)
                && !report.masked.iter().chain(&report.readonly).any(|r| r == p)
            {
                PROCROOT_PATH_SKIPPED
            } else {
                PROCROOT_PATH_DONE
            };
        }
    }
    if let Some((_, first)) = report.refused.first() {
        let all: Vec<String> = report
            .refused
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        let done = report.masked.len() + report.readonly.len();
        return Err(Error::with_detail(
            first.kind(),
            first.errno(),
            format!(
                "{} path(s) refused, {done} done: {}",
                report.refused.len(),
                all.join("; ")
            ),
        ));
    }
    Ok(c_int::try_from(report.masked.len() + report.readonly.len()).unwrap_or(c_int::MAX))
}

/// Masks `npaths` paths inside the root as runc's `maskedPaths` (a directory gets an empty
/// read-only tmpfs, anything else the host's verified `/dev/null`), each resolved to an fd
/// first. Returns the number masked; a missing path is skipped. If any path was refused:
/// the first refusal's `-errno`, with every refused path in the message (the others are still
/// masked). `results` (NULL, or `npaths` entries) receives each path's outcome:
/// `PROCROOT_PATH_DONE`, `PROCROOT_PATH_SKIPPED` or `-errno`. Changes the caller's mount
/// namespace: call it in the container's.
///
/// # Safety
/// As [`procroot_resolve`]; `paths` has `npaths` NUL-terminated strings; `results` is NULL or
/// has `npaths` writable entries.
#[no_mangle]
pub unsafe extern "C" fn procroot_mask_paths(
    root: *const procroot_root,
    paths: *const *const c_char,
    npaths: usize,
    results: *mut i32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        for_each_path(root, paths, npaths, results, err, |r, p| {
            procroot_runtime::container::mask_paths(r, p)
        })
    }
}

/// Makes `npaths` paths inside the root read-only (a recursive read-only clone moved onto
/// each), as runc's `readonlyPaths`. Return value and `results` as [`procroot_mask_paths`].
///
/// # Safety
/// As [`procroot_mask_paths`].
#[no_mangle]
pub unsafe extern "C" fn procroot_make_readonly(
    root: *const procroot_root,
    paths: *const *const c_char,
    npaths: usize,
    results: *mut i32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        for_each_path(root, paths, npaths, results, err, |r, p| {
            procroot_runtime::container::make_readonly(r, p)
        })
    }
}

/// The body of [`procroot_mask_paths`] and [`procroot_make_readonly`]: `op` over the C path
/// array, its per-path report written to `results`.
///
/// # Safety
/// As [`procroot_mask_paths`].
unsafe fn for_each_path(
    root: *const procroot_root,
    paths: *const *const c_char,
    npaths: usize,
    results: *mut i32,
    err: *mut *mut procroot_error,
    op: fn(&procroot::Root, &[&Path]) -> procroot::Result<procroot_runtime::container::Report>,
) -> c_int {
    ffi(err, || {
        // SAFETY: forwarded contract.
        let r = unsafe { handle(root, "root") }?;
        // SAFETY: forwarded contract.
        let paths = unsafe { path_array(paths, npaths) }?;
        let report = op(&r.read(), &paths)?;
        // SAFETY: forwarded contract.
        unsafe { report_out(&paths, report, results) }
    })
}

/// Mounts a new procfs (`nosuid,nodev,noexec`) on the directory `dest` inside the root. A
/// symlink anywhere on the way is `-ELOOP`, a non-directory `-ENOTDIR` (SAFETY_VIOLATION,
/// CVE-2019-19921); below the root's `/proc` or on a procfs, `-EPERM`. `pidns_fd`: an fd of
/// `/proc/<pid>/ns/pid` for the instance's PID namespace, or -1 for the caller's (with a pidns
/// and no new mount API: `-ENOSYS`, NOT_SUPPORTED; its helper process exposes the caller's
/// binary as in [`procroot_procfs_for_pidns`]); `subset_pid`: 0 or 1; `hidepid`: -1 (not set),
/// 0, 1, 2 or 4. Returns 0.
///
/// # Safety
/// As [`procroot_resolve`]; `pidns_fd` stays open during the call.
#[no_mangle]
pub unsafe extern "C" fn procroot_mount_procfs(
    root: *const procroot_root,
    dest: *const c_char,
    pidns_fd: c_int,
    subset_pid: c_int,
    hidepid: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    use procroot_runtime::container::{HidePid, ProcfsMountOptions};
    // SAFETY: forwarded contract.
    unsafe {
        with_path(root, dest, err, |r, dest| {
            let pidns = match pidns_fd {
                -1 => None,
                fd => Some(borrow_fd(fd)?),
            };
            let subset_pid = match subset_pid {
                0 => false,
                1 => true,
                s => return Err(invalid(format!("subset_pid must be 0 or 1, not {s}"))),
            };
            let hidepid = match hidepid {
                -1 => None,
                0 => Some(HidePid::Off),
                1 => Some(HidePid::NoAccess),
                2 => Some(HidePid::Invisible),
                4 => Some(HidePid::Ptraceable),
                h => {
                    return Err(invalid(format!(
                        "hidepid must be -1, 0, 1, 2 or 4, not {h}"
                    )))
                }
            };
            let opts = ProcfsMountOptions {
                pidns,
                subset_pid,
                hidepid,
            };
            procroot_runtime::container::mount_procfs(r, dest, &opts).map(|_| 0)
        })
    }
}

/// The C string argument as UTF-8 (sysctl names and values are text).
///
/// # Safety
/// `p` is NULL or NUL-terminated.
unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded contract.
    let p = unsafe { path(p, what) }?;
    p.to_str()
        .ok_or_else(|| invalid(format!("{what} is not UTF-8")))
}

/// Writes `value` to the sysctl `name` (`net.ipv4.ip_forward`, or `net/ipv4/ip_forward`)
/// through an unmasked hardened procfs, refusing a `/proc/sys` file with something mounted on
/// it (`-EXDEV`). Namespaced sysctls are the calling thread's; `pid` > 0 writes in the
/// namespace of that process that owns the sysctl instead, or refuses with `-EINVAL`: only
/// `net.*`, the IPC sysctls and `fs.mqueue.*`, `kernel.hostname`/`kernel.domainname`, `user.*`
/// and `kernel.pid_max` (Linux 6.14+), and only a namespace that process does not share with
/// the caller (a machine-wide name such as `kernel.core_pattern` is refused before anything is
/// opened). Returns 0.
///
/// # Safety
/// `name` and `value` are NUL-terminated; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_write_sysctl(
    pid: u32,
    name: *const c_char,
    value: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        // SAFETY: forwarded contract.
        let name = unsafe { text(name, "name") }?;
        // SAFETY: forwarded contract.
        let value = unsafe { text(value, "value") }?;
        if pid == 0 {
            procroot_runtime::container::write_sysctl(name, value)?;
        } else {
            procroot_runtime::container::write_sysctl_in(pid, name, value)?;
        }
        Ok(0)
    })
}

/// [`procroot_exec`]: keep the caller's own credentials (uid, groups, every capability, no
/// seccomp filter), as `nsenter` does, instead of the target's. The command then holds the
/// caller's (host) root inside the container: the container's binaries must be trusted.
pub const PROCROOT_EXEC_PRIVILEGED: u32 = 1;
/// [`procroot_exec`]: run without the target's seccomp filters (when they cannot be copied,
/// the call is refused without this flag).
pub const PROCROOT_EXEC_NO_SECCOMP: u32 = 2;
/// [`procroot_exec`]: start the command in the target's cgroup (cgroup v2).
pub const PROCROOT_EXEC_JOIN_CGROUP: u32 = 4;
/// [`procroot_exec`]: start the command with an empty environment instead of the target's.
pub const PROCROOT_EXEC_ENV_CLEAR: u32 = 8;
/// [`procroot_exec`]: give the command the caller's environment (as `nsenter` does) instead of
/// the target's: every variable of the caller (tokens, credentials) then reaches the container.
pub const PROCROOT_EXEC_PRESERVE_ENV: u32 = 16;

/// The strings of a NULL-terminated array of C strings, as bytes.
///
/// # Safety
/// `array` is a non-NULL, NULL-terminated array of NUL-terminated strings.
unsafe fn string_array(array: *const *const c_char) -> Vec<OsString> {
    let mut out = Vec::new();
    for i in 0.. {
        // SAFETY: NULL-terminated, by the contract; we stop at the NULL.
        let a = unsafe { *array.add(i) };
        if a.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string, by the contract.
        out.push(OsStr::from_bytes(unsafe { CStr::from_ptr(a) }.to_bytes()).to_owned());
    }
    out
}

/// The credentials of a process, as [`procroot_credentials_of`] fills them: how a command
/// started by [`procroot_exec`] runs by default.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct procroot_credentials {
    /// The effective uid as the target's user namespace numbers it, or -1 when that namespace
    /// maps none of its ids.
    pub uid: i64,
    /// The effective gid, likewise.
    pub gid: i64,
    /// The bounding set (bit N is capability N).
    pub cap_bounding: u64,
    /// The permitted set.
    pub cap_permitted: u64,
    /// The effective set.
    pub cap_effective: u64,
    /// The inheritable set.
    pub cap_inheritable: u64,
    /// The ambient set.
    pub cap_ambient: u64,
    /// 1 when `no_new_privs` is set.
    pub no_new_privs: c_int,
    /// How many seccomp filters were copied out of the target (0: none, or not copyable).
    pub seccomp_filters: u32,
}

/// Reads the credentials of the process `target` names (`exec::credentials_of`): its ids,
/// capability sets, `no_new_privs`, and its seccomp filters (copied with
/// `PTRACE_SECCOMP_GET_FILTER`, which stops the target briefly). Returns 0.
///
/// # Safety
/// `target` is a live pidfd from procroot; `out` points to a writable
/// `procroot_credentials`; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_credentials_of(
    target: *const procroot_pidfd,
    out: *mut procroot_credentials,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        // SAFETY: NULL or a live pidfd, by the contract.
        let target = unsafe { handle(target, "target") }?;
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let c = procroot_runtime::exec::credentials_of(&target.pidfd)?;
        let caps = c.capabilities();
        let creds = procroot_credentials {
            uid: c.uid().map_or(-1, i64::from),
            gid: c.gid().map_or(-1, i64::from),
            cap_bounding: caps.bounding,
            cap_permitted: caps.permitted,
            cap_effective: caps.effective,
            cap_inheritable: caps.inheritable,
            cap_ambient: caps.ambient,
            no_new_privs: c_int::from(c.no_new_privs()),
            seccomp_filters: u32::try_from(c.seccomp_filters()).unwrap_or(u32::MAX),
        };
        // SAFETY: checked non-NULL; writable by the contract.
        unsafe { *out = creds };
        Ok(0)
    })
}

/// Runs `argv` (`argv[0]` is the program, looked up in `PATH` inside the target's root when it
/// has no `/`; NULL-terminated) in every namespace the target does not share with the caller,
/// chrooted in its root, in `cwd` (NULL: `/`) resolved inside it, with only fds 0-2, and waits
/// for it (`exec::spawn_in`).
///
/// The command's environment is the target's own (its `/proc/<pid>/environ`) plus the caller's
/// `TERM`, not the caller's: the caller's environment holds host credentials that must not
/// reach a binary of the container, whose other processes can read the command's environment.
/// If the target's environment cannot be read, the call fails and the command never runs.
/// [`PROCROOT_EXEC_ENV_CLEAR`] starts it empty, [`PROCROOT_EXEC_PRESERVE_ENV`] gives the
/// caller's (not both: `-EINVAL`). `envp` (NULL for none) is a NULL-terminated array of
/// `KEY=VALUE` strings set over that (later ones win); an entry without `=` or with an empty
/// `KEY` is `-EINVAL`.
///
/// The command runs as the target runs (its ids, groups, capability sets, `no_new_privs`,
/// seccomp filters) unless `flags` has [`PROCROOT_EXEC_PRIVILEGED`]; `uid`/`gid` >= 0 override
/// the ids (numbered as in the target's user namespace; -1 keeps the target's). Other flags:
/// [`PROCROOT_EXEC_NO_SECCOMP`], [`PROCROOT_EXEC_JOIN_CGROUP`]. `config` (NULL for none) is
/// the container's OCI `config.json`: when the target's seccomp filter cannot be copied, its
/// `linux.seccomp` section is compiled and installed instead (`exec --config`; a config without
/// that section, or a profile that does not compile, is `-EINVAL` naming the cause, and with
/// [`PROCROOT_EXEC_NO_SECCOMP`] or [`PROCROOT_EXEC_PRIVILEGED`] it is `-EINVAL`). Returns 0 with `*status` the
/// command's wait status (`WIFEXITED`, `WEXITSTATUS`...); a failure before the command ran is
/// `-errno` and the command never runs.
///
/// # Safety
/// `target` is a live pidfd from procroot; `argv` a NULL-terminated array of NUL-terminated
/// strings; `envp` NULL or likewise; `cwd` and `config` NULL or NUL-terminated; `status`
/// writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_exec(
    target: *const procroot_pidfd,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    flags: u32,
    uid: i64,
    gid: i64,
    config: *const c_char,
    status: *mut c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    ffi(err, || {
        // SAFETY: NULL or a live pidfd, by the contract.
        let target = unsafe { handle(target, "target") }?;
        if argv.is_null() || status.is_null() {
            return Err(invalid("argv or status is NULL"));
        }
        let known = PROCROOT_EXEC_PRIVILEGED
            | PROCROOT_EXEC_NO_SECCOMP
            | PROCROOT_EXEC_JOIN_CGROUP
            | PROCROOT_EXEC_ENV_CLEAR
            | PROCROOT_EXEC_PRESERVE_ENV;
        if flags & !known != 0 {
            return Err(invalid(format!(
                "unknown exec flag bits {:#x}",
                flags & !known
            )));
        }
        let id = |v: i64, what: &str| match v {
            -1 => Ok(None),
            0..=0xffff_fffe => Ok(Some(v as u32)),
            _ => Err(invalid(format!(
                "{what} {v} is not an id (-1 keeps the target's)"
            ))),
        };
        let (uid, gid) = (id(uid, "uid")?, id(gid, "gid")?);
        // SAFETY: a NULL-terminated array of NUL-terminated strings, by the contract.
        let args = unsafe { string_array(argv) };
        let mut env = Vec::new();
        if !envp.is_null() {
            // SAFETY: not NULL: a NULL-terminated array of NUL-terminated strings, by the
            // contract.
            for e in unsafe { string_array(envp) } {
                let b = e.as_bytes();
                match b.iter().position(|&c| c == b'=') {
                    Some(i) if i > 0 => env.push((
                        OsStr::from_bytes(&b[..i]).to_owned(),
                        OsStr::from_bytes(&b[i + 1..]).to_owned(),
                    )),
                    _ => {
                        return Err(invalid(format!(
                            "envp entry {e:?} is not KEY=VALUE with a non-empty KEY"
                        )))
                    }
                }
            }
        }
        let Some((program, rest)) = args.split_first() else {
            return Err(invalid("argv is empty"));
        };
        let mut cmd = procroot_runtime::exec::Command::new(program);
        cmd.args(rest);
        if !cwd.is_null() {
            // SAFETY: not NULL, NUL-terminated by the contract.
            cmd.current_dir(unsafe { path(cwd, "cwd") }?);
        }
        if flags & PROCROOT_EXEC_PRIVILEGED != 0 {
            if uid.is_some() || gid.is_some() || flags & PROCROOT_EXEC_NO_SECCOMP != 0 {
                return Err(invalid(
                    "PROCROOT_EXEC_PRIVILEGED keeps the caller's credentials: no uid, gid or \
                     PROCROOT_EXEC_NO_SECCOMP with it",
                ));
            }
            cmd.privileged();
        }
        match (uid, gid) {
            (Some(u), g) => {
                cmd.user(u, g);
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "a gid needs a uid (-1 for both keeps the target's)",
                ))
            }
            (None, None) => {}
        }
        if flags & PROCROOT_EXEC_NO_SECCOMP != 0 {
            cmd.without_seccomp();
        }
        if flags & PROCROOT_EXEC_JOIN_CGROUP != 0 {
            cmd.join_cgroup();
        }
        if !config.is_null() {
            // SAFETY: not NULL, NUL-terminated by the contract.
            let config = unsafe { path(config, "config") }?;
            cmd.seccomp_profile(procroot_runtime::exec::seccomp_profile::load_profile(
                config,
            )?);
        }
        match (
            flags & PROCROOT_EXEC_ENV_CLEAR != 0,
            flags & PROCROOT_EXEC_PRESERVE_ENV != 0,
        ) {
            (true, true) => {
                return Err(invalid(
                    "PROCROOT_EXEC_ENV_CLEAR and PROCROOT_EXEC_PRESERVE_ENV exclude each other",
                ))
            }
            (true, false) => {
                cmd.env_clear();
            }
            (false, true) => {
                cmd.preserve_env();
            }
            (false, false) => {}
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let st = procroot_runtime::exec::spawn_in(
            &target.pidfd,
            procroot_runtime::exec::NsKinds::unshared(),
            &cmd,
        )?;
        use std::os::unix::process::ExitStatusExt;
        // SAFETY: checked non-NULL; writable by the contract.
        unsafe { *status = st.into_raw() };
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside an entry point is an error for C, never an unwind across `extern "C"`.
    #[test]
    fn panic_becomes_enotrecoverable() {
        let mut err: *mut procroot_error = std::ptr::null_mut();
        let ret = ffi(&mut err, || panic!("boom"));
        assert_eq!(ret, -Errno::NOTRECOVERABLE.raw_os_error());
        assert!(!err.is_null());
        // SAFETY: `ffi` stored a valid error; it is read once and freed once.
        unsafe {
            let msg = CStr::from_ptr((*err).message)
                .to_string_lossy()
                .into_owned();
            assert!(msg.contains("boom"), "{msg}");
            assert_eq!((*err).kind, procroot_error_kind::PROCROOT_ERROR_OS);
            procroot_error_free(err);
        }
    }
}
