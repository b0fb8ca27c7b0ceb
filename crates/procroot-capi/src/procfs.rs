//! The hardened procfs: instances, pidfds, and opening, reading and writing under a base.

use std::ffi::{c_char, c_int, CStr};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use procroot::{Error, PidFd, ProcBase, Procfs};

// The glob also brings `procroot_readlink`, which the docs here link to.
use crate::core::*;
use crate::error::{ffi, invalid, procroot_error, ErrOut};
use crate::util::{
    buffer, bytes, copy_out, cstr, free_box, handle, oflags, out, owned, path_arg, CBorrowedFd,
};

/// A procfs instance (opaque): from [`procroot_procfs_for_pidns`]. Where a function takes a
/// `const procroot_procfs *`, NULL means procroot's cached hardened instance.
pub struct procroot_procfs {
    procfs: Procfs,
}

/// A pidfd with the PID it was opened for (opaque), for the `PROCROOT_BASE_PIDFD` base.
pub struct procroot_pidfd {
    pub(crate) pidfd: PidFd,
}

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
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `out` points to a writable `procroot_pidfd *` (contract); NULL is refused.
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        let pidfd = PidFd::open(pid)?;
        *out = Box::into_raw(Box::new(procroot_pidfd { pidfd }));
        Ok(0)
    })
}

/// Frees a pidfd. NULL is allowed.
///
/// # Safety
/// `p` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_pidfd_free(p: *mut procroot_pidfd) {
    // SAFETY: `p` is NULL or made with `Box::into_raw` by `procroot_pidfd_open`, not freed
    // yet and used by no other thread (this function's contract): `free_box`'s contract.
    unsafe { free_box(p) };
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
    nsfd: CBorrowedFd<'_>,
    out: *mut *mut procroot_procfs,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `out` points to a writable `procroot_procfs *` (contract); NULL is refused.
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        let procfs = Procfs::for_pidns(nsfd.try_as_borrowed_fd()?)?;
        *out = Box::into_raw(Box::new(procroot_procfs { procfs }));
        Ok(0)
    })
}

/// Frees a procfs instance. NULL is allowed.
///
/// # Safety
/// `p` is NULL or from procroot and not freed yet; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn procroot_procfs_free(p: *mut procroot_procfs) {
    // SAFETY: `p` is NULL or made with `Box::into_raw` by `procroot_procfs_for_pidns`, not
    // freed yet and used by no other thread (this function's contract): `free_box`'s contract.
    unsafe { free_box(p) };
}

/// The instance, base and subpath arguments of a procfs call, as references.
struct ProcfsArgs<'a> {
    procfs: Option<&'a procroot_procfs>,
    base: c_int,
    pid: u32,
    pidfd: Option<&'a procroot_pidfd>,
    subpath: Option<&'a CStr>,
    err: ErrOut<'a>,
}

impl<'a> ProcfsArgs<'a> {
    /// The arguments of a procfs call.
    ///
    /// # Safety
    /// As [`procroot_procfs_open`]: `procfs` and `pidfd` NULL or live for `'a`, `subpath` NULL
    /// or NUL-terminated and alive for `'a`, `err` NULL or writable.
    unsafe fn from_raw(
        procfs: *const procroot_procfs,
        base: c_int,
        pid: u32,
        pidfd: *const procroot_pidfd,
        subpath: *const c_char,
        err: *mut *mut procroot_error,
    ) -> Self {
        ProcfsArgs {
            // SAFETY: `procfs` is NULL or a live instance for 'a (this fn's contract).
            procfs: unsafe { handle(procfs) },
            base,
            pid,
            // SAFETY: `pidfd` is NULL or a live pidfd for 'a (this fn's contract).
            pidfd: unsafe { handle(pidfd) },
            // SAFETY: `subpath` is NULL or NUL-terminated, alive for 'a (this fn's contract).
            subpath: unsafe { cstr(subpath) },
            // SAFETY: `err` is NULL or writable (this fn's contract).
            err: unsafe { ErrOut::from_raw(err) },
        }
    }

    /// Checks the base against `pid` and `pidfd` and runs `f` with the instance (the cached
    /// one for NULL), the base and the subpath.
    fn run(self, f: impl FnOnce(&Procfs, ProcBase<'_>, &Path) -> Result<c_int, Error>) -> c_int {
        let ProcfsArgs {
            procfs,
            base,
            pid,
            pidfd,
            subpath,
            err,
        } = self;
        ffi(err, || {
            let cached: Arc<Procfs>;
            let procfs = match procfs {
                Some(p) => &p.procfs,
                None => {
                    cached = Procfs::cached()?;
                    &*cached
                }
            };
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
            let subpath = path_arg(subpath, "subpath")?;
            f(procfs, base, subpath)
        })
    }
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
    // SAFETY: this function's contract is `ProcfsArgs::from_raw`'s.
    let args = unsafe { ProcfsArgs::from_raw(procfs, base, pid, pidfd, subpath, err) };
    args.run(|p, b, s| Ok(owned(p.open(b, s, oflags(flags)?)?)))
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
    // SAFETY: "as procroot_procfs_open": `ProcfsArgs::from_raw`'s contract.
    let args = unsafe { ProcfsArgs::from_raw(procfs, base, pid, pidfd, subpath, err) };
    args.run(|p, b, s| Ok(owned(p.open_follow(b, s, oflags(flags)?)?)))
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
    // SAFETY: "as procroot_procfs_open": `ProcfsArgs::from_raw`'s contract.
    let args = unsafe { ProcfsArgs::from_raw(procfs, base, pid, pidfd, subpath, err) };
    // SAFETY: `buf` is NULL or has `size` writable bytes, shared with no other argument
    // (contract).
    let buf: Option<&mut [MaybeUninit<u8>]> = unsafe { buffer(buf, size) };
    args.run(|p, b, s| copy_out(p.readlink(b, s)?.as_os_str().as_bytes(), buf))
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
    // SAFETY: "as procroot_procfs_open": `ProcfsArgs::from_raw`'s contract.
    let args = unsafe { ProcfsArgs::from_raw(procfs, base, pid, pidfd, subpath, err) };
    // SAFETY: `data` has `len` readable bytes, not written during the call (contract).
    let data = unsafe { bytes(data, len) };
    args.run(|p, b, s| {
        let data = data.ok_or_else(|| invalid("data is NULL with a non-zero len"))?;
        p.write(b, s, data).map(|()| 0)
    })
}
