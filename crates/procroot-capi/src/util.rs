//! Turning what C hands in (raw pointers, `int` fds, flag words) into Rust types, and results
//! back into what C expects.
//!
//! Only the `unsafe fn`s here (and the `*_free` functions, which take back what procroot made)
//! dereference a raw pointer: each entry point calls them once per argument, under that
//! argument's contract in the header, and works with references and [`CBorrowedFd`] from then
//! on. A NULL pointer becomes `None` here and `-EINVAL` (with the argument's name) inside
//! [`crate::error::ffi`], never a dereference.

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use procroot::{Errno, Error, OFlags};

use crate::error::invalid;

/// A caller's fd, borrowed for one call: `int` in the header (cbindgen.toml renames it).
///
/// It only ever exists as the parameter of an `extern "C"` function, whose contract says that
/// the fd stays open for the call; `'fd` is that call. So, unlike `BorrowedFd::borrow_raw` on
/// a bare `c_int`, [`CBorrowedFd::try_as_borrowed_fd`] cannot mint a `BorrowedFd` that
/// outlives the call: Rust code can only make one with the `unsafe` [`CBorrowedFd::from_raw`].
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct CBorrowedFd<'fd> {
    fd: c_int,
    _borrow: PhantomData<BorrowedFd<'fd>>,
}

impl<'fd> CBorrowedFd<'fd> {
    /// Wraps `fd`, as C does when it passes an `int` to a procroot function.
    ///
    /// # Safety
    /// `fd` is negative, or an fd that stays open for `'fd`.
    pub unsafe fn from_raw(fd: c_int) -> Self {
        Self {
            fd,
            _borrow: PhantomData,
        }
    }

    /// The number as C passed it.
    pub fn raw(self) -> c_int {
        self.fd
    }

    /// The fd, borrowed for the call. A negative fd is `-EBADF` (with the number in the
    /// message); a closed one is the kernel's `EBADF` from the first syscall made on it.
    pub fn try_as_borrowed_fd(self) -> Result<BorrowedFd<'fd>, Error> {
        if self.fd < 0 {
            return Err(Error::invalid_input(
                Errno::BADF,
                format!("{} is not a file descriptor", self.fd),
            ));
        }
        // SAFETY: `self.fd` is non-negative, and a `CBorrowedFd<'fd>` is either the argument of
        // an `extern "C"` function whose header contract keeps the fd open for the call (`'fd`),
        // or made by `from_raw`, whose caller promised the same. An fd number that is not open
        // is no memory hazard: the kernel answers EBADF, reported as such.
        Ok(unsafe { BorrowedFd::borrow_raw(self.fd) })
    }
}

/// Frees a handle made with `Box::into_raw` (a `*_free` function's body). NULL is allowed.
///
/// # Safety
/// `p` is NULL, or came from `Box::into_raw` of a `Box<T>`, was not freed yet, and no other
/// thread uses it (every `*_free` function's contract in the header).
pub(crate) unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: not NULL; by this fn's contract made with `Box::into_raw`, not freed yet and
        // unused elsewhere: the Box is taken back exactly once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A C string argument: `None` for NULL.
///
/// # Safety
/// `p` is NULL, or a NUL-terminated string that stays alive and unchanged for `'a`.
pub(crate) unsafe fn cstr<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        return None;
    }
    // SAFETY: not NULL; NUL-terminated, alive and unchanged for 'a by this fn's contract.
    Some(unsafe { CStr::from_ptr(p) })
}

/// A C string as a path; NULL (`None`) is `-EINVAL` naming the argument.
pub(crate) fn path_arg<'a>(s: Option<&'a CStr>, what: &str) -> Result<&'a Path, Error> {
    let s = s.ok_or_else(|| invalid(format!("{what} is NULL")))?;
    Ok(Path::new(OsStr::from_bytes(s.to_bytes())))
}

/// A C string as UTF-8 text (sysctl names and values); NULL is `-EINVAL`.
pub(crate) fn text_arg<'a>(s: Option<&'a CStr>, what: &str) -> Result<&'a str, Error> {
    path_arg(s, what)?
        .to_str()
        .ok_or_else(|| invalid(format!("{what} is not UTF-8")))
}

/// A handle (or other read-only struct) argument: `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a live `T` that is not freed or written for `'a`.
pub(crate) unsafe fn handle<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: NULL (then `None`) or a live, unaliased-by-writers `T` for 'a, by this fn's
    // contract.
    unsafe { p.as_ref() }
}

/// A handle argument that must be there: NULL is `-EINVAL` naming it.
pub(crate) fn required<'a, T>(h: Option<&'a T>, what: &str) -> Result<&'a T, Error> {
    h.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// An out-parameter: `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a writable `T` that nothing else reads or writes for `'a`.
pub(crate) unsafe fn out<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: NULL (then `None`) or writable and exclusively ours for 'a, by this fn's contract.
    unsafe { p.as_mut() }
}

/// A caller's output buffer of `size` bytes: `None` when `buf` is NULL with a non-zero size
/// (the caller's mistake, `-EINVAL` later); NULL with size 0 is an empty buffer (a length
/// query). Bytes, possibly uninitialised: C need not clear its buffer.
///
/// # Safety
/// `buf` is NULL, or points to `size` writable bytes that nothing else touches for `'a`.
pub(crate) unsafe fn buffer<'a>(
    buf: *mut c_char,
    size: usize,
) -> Option<&'a mut [MaybeUninit<u8>]> {
    if buf.is_null() {
        return (size == 0).then_some(&mut []);
    }
    // SAFETY: not NULL; `size` writable bytes, exclusively ours for 'a, by this fn's contract.
    // `MaybeUninit<u8>` makes no claim that they are initialised.
    Some(unsafe { std::slice::from_raw_parts_mut(buf.cast::<MaybeUninit<u8>>(), size) })
}

/// A caller's input bytes: `None` when `data` is NULL with a non-zero `len`.
///
/// # Safety
/// `data` is NULL, or points to `len` readable bytes not written for `'a`.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        return (len == 0).then_some(&[]);
    }
    // SAFETY: not NULL; `len` readable bytes, unchanged for 'a, by this fn's contract.
    Some(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The C array of `n` strings: `None` when `array` is NULL with a non-zero `n`; a NULL entry
/// stays `None` (the caller names it in the error).
///
/// # Safety
/// `array` is NULL, or points to `n` pointers each NULL or NUL-terminated, all alive and
/// unchanged for `'a`.
pub(crate) unsafe fn cstr_array<'a>(
    array: *const *const c_char,
    n: usize,
) -> Option<Vec<Option<&'a CStr>>> {
    if array.is_null() {
        return (n == 0).then(Vec::new);
    }
    // SAFETY: not NULL; `n` readable pointers, unchanged for 'a, by this fn's contract.
    let ptrs = unsafe { std::slice::from_raw_parts(array, n) };
    Some(
        ptrs.iter()
            // SAFETY: each entry is NULL or NUL-terminated and alive for 'a (this fn's contract).
            .map(|&p| unsafe { cstr(p) })
            .collect(),
    )
}

/// The strings of a NULL-terminated array (`argv`, `envp`): `None` for a NULL array.
///
/// # Safety
/// `array` is NULL, or a NULL-terminated array of NUL-terminated strings, all alive and
/// unchanged for `'a`.
pub(crate) unsafe fn cstr_list<'a>(array: *const *const c_char) -> Option<Vec<&'a CStr>> {
    if array.is_null() {
        return None;
    }
    let mut list = Vec::new();
    for i in 0.. {
        // SAFETY: the array is NULL-terminated (this fn's contract) and the loop stops at the
        // NULL, so entry `i` is inside the array: the offset stays in its allocation.
        let slot = unsafe { array.add(i) };
        // SAFETY: `slot` points to entry `i` of the caller's array, readable for the call.
        let entry = unsafe { *slot };
        // SAFETY: a non-NULL entry is NUL-terminated and alive for 'a (this fn's contract).
        match unsafe { cstr(entry) } {
            Some(s) => list.push(s),
            None => break,
        }
    }
    Some(list)
}

/// `open(2)` flags from C. A bit that is not an `open(2)` flag is `-EINVAL`, never passed on:
/// rustix's `OFlags` keeps unknown bits, and the kernel ignores unknown bits in `open(2)`, so a
/// caller's typo would otherwise be silently dropped.
pub(crate) fn oflags(flags: c_int) -> Result<OFlags, Error> {
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

/// An fd handed to C: from then on the caller's to close.
pub(crate) fn owned(fd: impl Into<OwnedFd>) -> c_int {
    fd.into().into_raw_fd()
}

/// Copies `bytes` and a NUL into `buf` when they fit; returns the length without the NUL, as
/// `snprintf(3)` does, so a return value `>= size` means "call again with `ret + 1` bytes".
/// `None` (NULL with a non-zero size, see [`buffer`]) is `-EINVAL`.
pub(crate) fn copy_out(bytes: &[u8], buf: Option<&mut [MaybeUninit<u8>]>) -> Result<c_int, Error> {
    let n = c_int::try_from(bytes.len())
        .map_err(|_| Error::invalid_input(Errno::NAMETOOLONG, "path too long"))?;
    let buf = buf.ok_or_else(|| invalid("buf is NULL with a non-zero size"))?;
    if bytes.len() < buf.len() {
        for (slot, &b) in buf.iter_mut().zip(bytes) {
            slot.write(b);
        }
        buf[bytes.len()].write(0);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C passes an `int` where Rust sees a `CBorrowedFd`: same size and alignment, and a
    /// negative number is `-EBADF` (input), never `borrow_raw(-1)`.
    #[test]
    fn cborrowedfd_is_an_int_and_refuses_negative_fds() {
        assert_eq!(size_of::<CBorrowedFd<'_>>(), size_of::<c_int>());
        assert_eq!(align_of::<CBorrowedFd<'_>>(), align_of::<c_int>());
        // SAFETY: a negative number, which `from_raw` allows.
        let fd = unsafe { CBorrowedFd::from_raw(-1) };
        let e = fd.try_as_borrowed_fd().unwrap_err();
        assert_eq!(e.errno(), Errno::BADF, "{e}");
        assert_eq!(e.kind(), procroot::ErrorKind::InvalidInput, "{e}");
    }

    /// `copy_out` is `snprintf`-like: a fit gets the bytes and a NUL, a buffer without room for
    /// the NUL is left untouched, and NULL with a non-zero size is `-EINVAL`.
    #[test]
    fn copy_out_fits_or_writes_nothing() {
        let mut buf = [b'#' as c_char; 4];
        // SAFETY: `buf` has 4 writable bytes, used only through this slice below.
        let out = unsafe { buffer(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(copy_out(b"abc", out).unwrap(), 3);
        assert_eq!(buf.map(|c| c as u8), *b"abc\0");
        let mut small = [b'#' as c_char; 3];
        // SAFETY: as above, 3 bytes.
        let out = unsafe { buffer(small.as_mut_ptr(), small.len()) };
        assert_eq!(copy_out(b"abc", out).unwrap(), 3);
        assert_eq!(small.map(|c| c as u8), *b"###");
        // SAFETY: NULL is allowed.
        let query = unsafe { buffer(std::ptr::null_mut(), 0) };
        assert_eq!(copy_out(b"abc", query).unwrap(), 3);
        // SAFETY: NULL is allowed (a non-zero size makes it `None`).
        let bad = unsafe { buffer(std::ptr::null_mut(), 8) };
        assert_eq!(copy_out(b"abc", bad).unwrap_err().errno(), Errno::INVAL);
    }

    /// `argv`-style arrays end at the first NULL; a NULL array is `None`.
    #[test]
    fn cstr_list_stops_at_the_null() {
        let (a, b) = (c"a", c"bc");
        let array = [a.as_ptr(), b.as_ptr(), std::ptr::null()];
        // SAFETY: a NULL-terminated array of literals, alive for the test.
        let list = unsafe { cstr_list(array.as_ptr()) }.unwrap();
        assert_eq!(list, [a, b]);
        // SAFETY: NULL is allowed.
        assert!(unsafe { cstr_list(std::ptr::null()) }.is_none());
    }
}
