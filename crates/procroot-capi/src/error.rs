//! How a failure reaches C: `-errno` as the return value and, when the caller asked for it, a
//! heap [`procroot_error`] in `*err`; and [`ffi`], which every entry point runs its body in so
//! that a panic never unwinds into C.

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use procroot::{Errno, Error, ErrorKind};

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

impl procroot_error_kind {
    /// The C value of a library kind: the numbers are the library's [`ErrorKind::code`], so
    /// the C ABI and the library cannot drift apart. A kind the C header does not know yet is
    /// `PROCROOT_ERROR_OS`.
    pub fn of(kind: ErrorKind) -> Self {
        use procroot_error_kind::*;
        [
            PROCROOT_ERROR_NOT_FOUND,
            PROCROOT_ERROR_SAFETY_VIOLATION,
            PROCROOT_ERROR_INVALID_INPUT,
            PROCROOT_ERROR_NOT_SUPPORTED,
        ]
        .into_iter()
        .find(|&c| c as u8 == kind.code())
        .unwrap_or(PROCROOT_ERROR_OS)
    }
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
    // SAFETY: not NULL; by this function's contract `err` came from `set_error`, which made it
    // with `Box::into_raw`, and was not freed yet: the Box is taken back exactly once.
    let err = unsafe { Box::from_raw(err) };
    if !err.syscall.is_null() {
        // SAFETY: `set_error` made a non-NULL `syscall` with `CString::into_raw`; the error is
        // freed once, so the string is too.
        drop(unsafe { CString::from_raw(err.syscall.cast_mut()) });
    }
    if !err.message.is_null() {
        // SAFETY: as `syscall`: `set_error` made `message` with `CString::into_raw`.
        drop(unsafe { CString::from_raw(err.message.cast_mut()) });
    }
}

/// `-EINVAL` with a message: the C caller passed something wrong.
pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid_input(Errno::INVAL, msg.into())
}

fn cstring_lossy(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Where a function's error goes: the caller's `err` out-parameter, or nowhere (NULL).
pub(crate) struct ErrOut<'a>(Option<&'a mut *mut procroot_error>);

impl<'a> ErrOut<'a> {
    /// The `err` parameter of an entry point.
    ///
    /// # Safety
    /// `err` is NULL, or points to a writable `procroot_error *` that nothing else touches for
    /// `'a` (every function's `err` contract in the header).
    pub(crate) unsafe fn from_raw(err: *mut *mut procroot_error) -> Self {
        // SAFETY: NULL (then nowhere) or writable and exclusively ours for 'a, by this fn's
        // contract.
        Self(unsafe { err.as_mut() })
    }
}

/// Stores `e` in the caller's `*err` (if it gave one) and returns `-errno`.
fn set_error(err: ErrOut<'_>, e: &Error) -> c_int {
    let errno = e.errno().raw_os_error();
    if let Some(slot) = err.0 {
        let syscall = e.syscall().map_or(std::ptr::null(), |s| {
            cstring_lossy(s).into_raw().cast_const()
        });
        *slot = Box::into_raw(Box::new(procroot_error {
            saved_errno: errno,
            kind: procroot_error_kind::of(e.kind()),
            syscall,
            message: cstring_lossy(&e.to_string()).into_raw(),
        }));
    }
    -errno
}

/// Every entry point: runs `f`, maps its error to `-errno` (and `*err`), and never lets a panic
/// unwind into C, where unwinding is undefined behaviour.
pub(crate) fn ffi(err: ErrOut<'_>, f: impl FnOnce() -> Result<c_int, Error>) -> c_int {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside an entry point is an error for C, never an unwind across `extern "C"`.
    #[test]
    fn panic_becomes_enotrecoverable() {
        let mut err: *mut procroot_error = std::ptr::null_mut();
        // SAFETY: `err` is a local pointer, writable and untouched elsewhere during the call.
        let ret = ffi(unsafe { ErrOut::from_raw(&mut err) }, || panic!("boom"));
        assert_eq!(ret, -Errno::NOTRECOVERABLE.raw_os_error());
        assert!(!err.is_null());
        // SAFETY: `ffi` stored an error made by `set_error`, alive until freed below.
        let e = unsafe { &*err };
        // SAFETY: `set_error` made `message` from a `CString`, alive until the error is freed.
        let msg = unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains("boom"), "{msg}");
        assert_eq!(e.kind, procroot_error_kind::PROCROOT_ERROR_OS);
        // SAFETY: made by `set_error`, freed once.
        unsafe { procroot_error_free(err) };
    }

    /// The C enum's numbers are the library's codes, so a renumbered kind on either side
    /// fails here (the header's values are pinned by `tests/header.rs`).
    #[test]
    fn c_kind_is_the_library_code() {
        use procroot_error_kind::*;
        let pairs = [
            (ErrorKind::NotFound, PROCROOT_ERROR_NOT_FOUND),
            (ErrorKind::SafetyViolation, PROCROOT_ERROR_SAFETY_VIOLATION),
            (ErrorKind::InvalidInput, PROCROOT_ERROR_INVALID_INPUT),
            (ErrorKind::NotSupported, PROCROOT_ERROR_NOT_SUPPORTED),
            (ErrorKind::Os, PROCROOT_ERROR_OS),
        ];
        assert_eq!(pairs.len(), ErrorKind::ALL.len());
        for (kind, c) in pairs {
            assert_eq!(procroot_error_kind::of(kind), c, "{kind:?}");
            assert_eq!(c as u8, kind.code(), "{kind:?}");
        }
    }
}
