//! Errno names and descriptions.
//!
//! Scripts match on errno *names* (`ENOENT`), people read descriptions (`No such file or
//! directory`). Both come from here so that the library and the CLI print them the same way.

use rustix::io::Errno;

/// The symbolic name of an errno value, such as `"ENOENT"`, or `"E?"` for a value Linux does not
/// define. `EWOULDBLOCK`, `EDEADLOCK` and `ENOTSUP` are aliases and print as `EAGAIN`, `EDEADLK`
/// and `EOPNOTSUPP`.
pub fn errno_name(errno: Errno) -> &'static str {
    match errno.raw_os_error() {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::ENOTBLK => "ENOTBLK",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::EDOM => "EDOM",
        libc::ERANGE => "ERANGE",
        libc::EDEADLK => "EDEADLK",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOLCK => "ENOLCK",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENOMSG => "ENOMSG",
        libc::EIDRM => "EIDRM",
        libc::ECHRNG => "ECHRNG",
        libc::EL2NSYNC => "EL2NSYNC",
        libc::EL3HLT => "EL3HLT",
        libc::EL3RST => "EL3RST",
        libc::ELNRNG => "ELNRNG",
        libc::EUNATCH => "EUNATCH",
        libc::ENOCSI => "ENOCSI",
        libc::EL2HLT => "EL2HLT",
        libc::EBADE => "EBADE",
        libc::EBADR => "EBADR",
        libc::EXFULL => "EXFULL",
        libc::ENOANO => "ENOANO",
        libc::EBADRQC => "EBADRQC",
        libc::EBADSLT => "EBADSLT",
        libc::EBFONT => "EBFONT",
        libc::ENOSTR => "ENOSTR",
        libc::ENODATA => "ENODATA",
        libc::ETIME => "ETIME",
        libc::ENOSR => "ENOSR",
        libc::ENONET => "ENONET",
        libc::ENOPKG => "ENOPKG",
        libc::EREMOTE => "EREMOTE",
        libc::ENOLINK => "ENOLINK",
        libc::EADV => "EADV",
        libc::ESRMNT => "ESRMNT",
        libc::ECOMM => "ECOMM",
        libc::EPROTO => "EPROTO",
        libc::EMULTIHOP => "EMULTIHOP",
        libc::EDOTDOT => "EDOTDOT",
        libc::EBADMSG => "EBADMSG",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENOTUNIQ => "ENOTUNIQ",
        libc::EBADFD => "EBADFD",
        libc::EREMCHG => "EREMCHG",
        libc::ELIBACC => "ELIBACC",
        libc::ELIBBAD => "ELIBBAD",
        libc::ELIBSCN => "ELIBSCN",
        libc::ELIBMAX => "ELIBMAX",
        libc::ELIBEXEC => "ELIBEXEC",
        libc::EILSEQ => "EILSEQ",
        libc::ERESTART => "ERESTART",
        libc::ESTRPIPE => "ESTRPIPE",
        libc::EUSERS => "EUSERS",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EPFNOSUPPORT => "EPFNOSUPPORT",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENETRESET => "ENETRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::ETOOMANYREFS => "ETOOMANYREFS",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTDOWN => "EHOSTDOWN",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ESTALE => "ESTALE",
        libc::EUCLEAN => "EUCLEAN",
        libc::ENOTNAM => "ENOTNAM",
        libc::ENAVAIL => "ENAVAIL",
        libc::EISNAM => "EISNAM",
        libc::EREMOTEIO => "EREMOTEIO",
        libc::EDQUOT => "EDQUOT",
        libc::ENOMEDIUM => "ENOMEDIUM",
        libc::EMEDIUMTYPE => "EMEDIUMTYPE",
        libc::ECANCELED => "ECANCELED",
        libc::ENOKEY => "ENOKEY",
        libc::EKEYEXPIRED => "EKEYEXPIRED",
        libc::EKEYREVOKED => "EKEYREVOKED",
        libc::EKEYREJECTED => "EKEYREJECTED",
        libc::EOWNERDEAD => "EOWNERDEAD",
        libc::ENOTRECOVERABLE => "ENOTRECOVERABLE",
        libc::ERFKILL => "ERFKILL",
        libc::EHWPOISON => "EHWPOISON",
        _ => "E?",
    }
}

/// The C library's description of an errno value (`strerror_r(3)`), such as
/// `"No such file or directory"`.
///
/// # References
///  - [`strerror(3)`](https://man7.org/linux/man-pages/man3/strerror.3.html)
pub fn errno_description(errno: Errno) -> String {
    let mut buf = [0u8; 128];
    // SAFETY: `buf` is writable for `buf.len()` bytes, and the XSI `strerror_r` that the libc
    // crate binds writes at most that many bytes, NUL terminator included.
    let rc = unsafe {
        libc::strerror_r(
            errno.raw_os_error(),
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
        )
    };
    if rc != 0 {
        return format!("unknown error {}", errno.raw_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions() {
        assert_eq!(errno_name(Errno::NOENT), "ENOENT");
        assert_eq!(errno_name(Errno::XDEV), "EXDEV");
        assert_eq!(errno_name(Errno::LOOP), "ELOOP");
        assert_eq!(errno_name(Errno::from_raw_os_error(4000)), "E?");
        assert_eq!(errno_description(Errno::NOENT), "No such file or directory");
        assert_eq!(
            errno_description(Errno::LOOP),
            "Too many levels of symbolic links"
        );
    }
}
