//! The library's one error type.
//!
//! An [`Error`] carries everything a user needs to act on a failure: the operation, the path as
//! given, the root it was resolved in, the errno and a coarse [`ErrorKind`]. It prints as
//!
//! ```text
//! resolve "etc/passwd" in /var/lib/x/rootfs: Too many levels of symbolic links (ELOOP)
//! ```
//!
//! The description is the C library's text for the errno, so the message does not depend on
//! which resolver backend produced it.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::sys;

/// Errno names and the C library's descriptions, as procroot's messages print them
/// (`No such file or directory (ENOENT)`), for callers that print an errno of their own.
pub use crate::sys::errno::{errno_description, errno_name};

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A path component does not exist (`ENOENT`), or a process does not (`ESRCH`).
    NotFound,
    /// The operation was refused because it would leave the root, cross a mount that was
    /// forbidden, or follow a magic link (`EXDEV`). Under attack this is the *correct* outcome.
    SafetyViolation,
    /// The caller's input cannot be used: a NUL byte in a path, a path longer than `PATH_MAX`,
    /// an open flag this operation does not take.
    InvalidInput,
    /// The kernel lacks something this operation needs (for example a forced kernel backend
    /// without `openat2`).
    NotSupported,
    /// Any other error from the operating system; see [`Error::errno`].
    Os,
}

impl ErrorKind {
    /// Every kind, in [`code`](Self::code) order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::NotFound,
        ErrorKind::SafetyViolation,
        ErrorKind::InvalidInput,
        ErrorKind::NotSupported,
        ErrorKind::Os,
    ];

    /// The kind's stable name, as the CLI's `--json` prints it (`"not_found"`). Part of the
    /// JSON output's format: a kind is never renamed.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::SafetyViolation => "safety_violation",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotSupported => "not_supported",
            ErrorKind::Os => "os",
        }
    }

    /// The kind's stable number: the C header's `procroot_error_kind` (1 `NOT_FOUND` to 5
    /// `OS`), also the sandbox's wire encoding. Part of the C ABI: a kind is never renumbered,
    /// and a new kind gets a new number.
    pub const fn code(self) -> u8 {
        match self {
            ErrorKind::NotFound => 1,
            ErrorKind::SafetyViolation => 2,
            ErrorKind::InvalidInput => 3,
            ErrorKind::NotSupported => 4,
            ErrorKind::Os => 5,
        }
    }

    /// The kind whose [`code`](Self::code) is `code`, or `None` for a number no kind has.
    pub fn from_code(code: u8) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The error type of every fallible procroot operation.
///
/// It is 16 bytes: the kind and errno inline, the context (operation, path, root, detail) boxed
/// and only allocated when there is some, so that `Result<T>` stays small on the fast paths and
/// a bare errno costs no allocation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct Error {
    kind: ErrorKind,
    errno: Errno,
    context: Option<Box<Context>>,
}

/// What an [`Error`] says beyond its errno.
#[derive(Debug, Clone, Default)]
struct Context {
    operation: Cow<'static, str>,
    path: Option<PathBuf>,
    root: Option<PathBuf>,
    detail: Option<Cow<'static, str>>,
    /// The syscall that failed, as its man page names it (`openat`, `statx`).
    /// Borrowed when procroot named it; owned when it came back over the sandbox's pipe.
    syscall: Option<Cow<'static, str>>,
    /// Its key arguments as they print: the directory (its path in the root where known), the
    /// name, the flags.
    args: Option<String>,
    /// Outer contexts added by [`Error::within`], innermost first: what the failed operation
    /// was part of (`exec in "123"`, `working directory "/srv"`).
    outer: Vec<(Cow<'static, str>, Option<PathBuf>)>,
}

impl Error {
    /// An error from an errno, with the kind derived from it. Context is added by the caller with
    /// [`Error::context`].
    pub fn from_errno(errno: Errno) -> Self {
        let kind = match errno {
            Errno::NOENT | Errno::SRCH => ErrorKind::NotFound,
            Errno::XDEV => ErrorKind::SafetyViolation,
            Errno::NOSYS => ErrorKind::NotSupported,
            _ => ErrorKind::Os,
        };
        Error {
            kind,
            errno,
            context: None,
        }
    }

    /// An [`ErrorKind::InvalidInput`] error with an errno and a sentence saying what is wrong.
    pub fn invalid_input(errno: Errno, detail: impl Into<Cow<'static, str>>) -> Self {
        Error::with_detail(ErrorKind::InvalidInput, errno, detail)
    }

    /// An error of the given kind with an errno and a sentence that replaces the errno's
    /// description.
    pub fn with_detail(
        kind: ErrorKind,
        errno: Errno,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut err = Error::from_errno(errno);
        err.kind = kind;
        err.context_mut().detail = Some(detail.into());
        err
    }

    /// An [`ErrorKind::SafetyViolation`]: the correct outcome under attack. Every one is built
    /// through the named constructors below, so that the kinds of refusal stay few and
    /// consistent; `#[cold]` keeps them out of the hot paths they guard.
    #[cold]
    fn safety_violation(errno: Errno, detail: impl Into<Cow<'static, str>>) -> Self {
        Error::with_detail(ErrorKind::SafetyViolation, errno, detail)
    }

    /// `EXDEV` refusal: the operation would leave the root, cross a mount it must not cross
    /// (`NO_XDEV`, something mounted over a procfs file), or reach a file other than the one it
    /// checked (a rename or mount raced with it). `detail` says which.
    #[cold]
    pub fn escape(detail: impl Into<Cow<'static, str>>) -> Self {
        Error::safety_violation(Errno::XDEV, detail)
    }

    /// `ENXIO` refusal: a FIFO, socket or device node where procroot uses one only when the
    /// caller allowed it. `detail` names the entry and its type.
    #[cold]
    pub(crate) fn special_file(detail: impl Into<Cow<'static, str>>) -> Self {
        Error::safety_violation(Errno::NXIO, detail)
    }

    /// `EAGAIN` refusal: an entry procroot had just created was replaced by someone else before
    /// it was used, so what is there now is not ours.
    #[cold]
    pub(crate) fn replaced(detail: impl Into<Cow<'static, str>>) -> Self {
        Error::safety_violation(Errno::AGAIN, detail)
    }

    /// `EBADF` refusal: a handle's fd was closed or replaced behind procroot's back.
    #[cold]
    pub(crate) fn fd_replaced(detail: impl Into<Cow<'static, str>>) -> Self {
        Error::safety_violation(Errno::BADF, detail)
    }

    /// Adds (or replaces) the operation and the path the error is about.
    pub fn context(mut self, operation: impl Into<Cow<'static, str>>, path: &Path) -> Self {
        let context = self.context_mut();
        context.operation = operation.into();
        context.path = Some(path.to_path_buf());
        self
    }

    /// Adds an outer context: the message then reads `operation "path": <the message so far>`,
    /// so that a caller says what the failed operation was part of without hiding it (an
    /// `--cwd` that does not exist reads `exec in "123": working directory (--cwd) "/srv":
    /// resolve "/srv" in /proc/123/root: ...`). [`Error::operation`], [`Error::path`] and
    /// [`Error::root`] stay the failed operation's. Without an operation yet, this is
    /// [`Error::context`].
    pub fn within(mut self, operation: impl Into<Cow<'static, str>>, path: &Path) -> Self {
        if self.operation().is_empty() {
            return self.context(operation, path);
        }
        self.context_mut()
            .outer
            .push((operation.into(), Some(path.to_path_buf())));
        self
    }

    /// Adds the root the path was resolved in, as it should appear in messages.
    pub fn in_root(mut self, root: &Path) -> Self {
        self.context_mut().root = Some(root.to_path_buf());
        self
    }

    /// Names the syscall the errno came from, and its key arguments if known, unless an
    /// earlier (deeper) call already named one. The extension traits [`Syscall`] and
    /// [`SyscallErrno`] and the conversion from [`SyscallError`](procroot_sys::SyscallError) all
    /// end here. `args` is how the call's arguments print (`"/data", "x", AT_REMOVEDIR`): it is
    /// shown as given, so quote paths in it as [`Quoted`] does.
    #[cold]
    pub fn with_syscall(
        mut self,
        syscall: impl Into<Cow<'static, str>>,
        args: Option<String>,
    ) -> Self {
        let context = self.context_mut();
        if context.syscall.is_none() {
            context.syscall = Some(syscall.into());
            context.args = args;
        }
        self
    }

    /// The syscall that failed, as its man page names it (`"openat"`, `"statx"`,
    /// `"unlinkat"`), if the error came from one. Errors procroot raises itself (bad input, a
    /// safety violation it detected) name none.
    pub fn syscall(&self) -> Option<&str> {
        self.context.as_ref()?.syscall.as_deref()
    }

    /// The failed syscall's key arguments as they print in the message, such as
    /// `"/etc", "passwd", O_PATH|O_NOFOLLOW`: the directory fd's path in the root where known,
    /// the name and the flags. `None` if not recorded.
    pub fn syscall_args(&self) -> Option<&str> {
        self.context.as_ref()?.args.as_deref()
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno. Errors that did not come from a syscall carry the errno the kernel would have
    /// used for the same problem (`EINVAL` for a NUL byte, `ENAMETOOLONG` for an over-long
    /// path).
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The symbolic errno name, such as `"ENOENT"`.
    pub fn errno_name(&self) -> &'static str {
        sys::errno_name(self.errno)
    }

    /// The operation that failed, such as `"resolve"` or `"open"`. Empty if no context was added.
    pub fn operation(&self) -> &str {
        self.context.as_ref().map_or("", |c| &c.operation)
    }

    /// The path the operation was given, if any.
    pub fn path(&self) -> Option<&Path> {
        self.context.as_ref()?.path.as_deref()
    }

    /// The root the path was resolved in, as it appears in messages.
    pub fn root(&self) -> Option<&Path> {
        self.context.as_ref()?.root.as_deref()
    }

    /// What went wrong, without the context: the detail sentence if there is one, else the C
    /// library's description of the errno (`No such file or directory`).
    pub fn description(&self) -> Cow<'_, str> {
        match self.context.as_ref().and_then(|c| c.detail.as_ref()) {
            Some(detail) => Cow::Borrowed(detail),
            None => Cow::Owned(sys::errno_description(self.errno)),
        }
    }

    fn context_mut(&mut self) -> &mut Context {
        self.context.get_or_insert_with(Box::default)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (operation, path) in self.context.iter().flat_map(|c| c.outer.iter().rev()) {
            out.push_str(operation);
            if let Some(path) = path {
                out.push_str(&format!(" {}", Quoted(path.as_os_str())));
            }
            out.push_str(": ");
        }
        if !self.operation().is_empty() {
            out.push_str(self.operation());
            if let Some(path) = self.path() {
                out.push_str(&format!(" {}", Quoted(path.as_os_str())));
            }
            if let Some(root) = self.root() {
                out.push_str(&format!(" in {}", Escaped(root.as_os_str())));
            }
            out.push_str(": ");
        }
        if let Some(syscall) = self.syscall() {
            match self.syscall_args() {
                Some(args) => out.push_str(&format!("{syscall}({args}): ")),
                None => out.push_str(&format!("{syscall}(2): ")),
            }
        }
        out.push_str(&format!("{} ({})", self.description(), self.errno_name()));
        out
    }
}

impl From<Errno> for Error {
    fn from(errno: Errno) -> Self {
        Error::from_errno(errno)
    }
}

impl From<sys::SyscallError> for Error {
    /// A named syscall failure: `statx(2): Operation not permitted; why it matters (EPERM)`,
    /// with the real errno and the kind it implies.
    fn from(err: sys::SyscallError) -> Self {
        let mut error = Error::from_errno(err.errno);
        if !err.detail.is_empty() {
            error.context_mut().detail =
                Some(format!("{}; {}", sys::errno_description(err.errno), err.detail).into());
        }
        error.with_syscall(err.syscall, None)
    }
}

impl From<std::io::Error> for Error {
    /// An I/O error from reading or writing a file procroot opened. Errors without an OS error
    /// code become `EIO`.
    fn from(err: std::io::Error) -> Self {
        Error::from_errno(Errno::from_io_error(&err).unwrap_or(Errno::IO))
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match err.kind {
            ErrorKind::InvalidInput => std::io::ErrorKind::InvalidInput,
            ErrorKind::NotSupported => std::io::ErrorKind::Unsupported,
            _ => std::io::Error::from_raw_os_error(err.errno.raw_os_error()).kind(),
        };
        std::io::Error::new(kind, err)
    }
}

/// A path in double quotes, with everything that could forge or disguise a message escaped: bytes
/// that are not UTF-8 as `\xNN`, and as `\u{..}` every control character and every character
/// Rust's `char::escape_debug` would escape (the progress line's rule): format characters (Cf)
/// such as the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) that can make
/// `gpj.<U+202E>exe.sh` read as `hs.exe.jpg`, zero-width characters (U+200B-U+200F, U+FEFF), the
/// line and paragraph separators (U+2028, U+2029), unassigned and private-use characters. A
/// combining mark is kept after a base character (an accent in a name is fine) and escaped
/// where it has none to attach to. How every message of the library shows a path, and how the
/// `procroot` command shows one in its text reports.
pub struct Quoted<'a>(pub &'a OsStr);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt;
        f.write_str("\"")?;
        escape_into(f, self.0.as_bytes())?;
        f.write_str("\"")
    }
}

/// Text shown unquoted in a message (the root's name), escaped as [`Quoted`] escapes.
pub(crate) struct Escaped<'a>(pub &'a OsStr);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt;
        escape_into(f, self.0.as_bytes())
    }
}

fn escape_into(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut after_base = false;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if needs_escape(c, after_base) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => write!(f, "{c}")?,
            }
            after_base = !c.is_control();
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
            after_base = false;
        }
    }
    Ok(())
}

/// Whether `c` is shown as `\u{..}`: a control character, or one that `escape_debug` escapes
/// in the middle of a string (so a combining mark after a base character is not: `str`'s
/// `escape_debug` escapes grapheme extenders only at the start). Quotes and backslashes are
/// handled by the caller.
fn needs_escape(c: char, after_base: bool) -> bool {
    if c.is_control() {
        return true;
    }
    if c == '\'' {
        return false;
    }
    let mut buf = [0u8; 8];
    buf[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buf[1..]).len();
    let Ok(text) = std::str::from_utf8(&buf[..len]) else {
        return true;
    };
    // After a base character `a`: escaped only if not printable (Cf, Zl, Zp, unassigned, ...).
    let escaped_mid = text.escape_debug().count() != 2;
    if escaped_mid {
        return true;
    }
    // A grapheme extender with nothing to attach to is escaped too (as at a string's start).
    !after_base && c.escape_debug().count() != 1
}

/// Names the syscall an errno came from, so that the error says which call failed and with
/// what (`unlinkat("/data", "x", AT_REMOVEDIR)`), as libpathrs's errors do.
///
/// The success path is a plain match; the name and arguments are only formatted, and the
/// context only allocated, when the call failed, so that hot paths stay as cheap as a bare
/// errno. Code that uses an errno for control flow (`ENOTDIR` means "try readlink") keeps the
/// bare `Result<T, Errno>` and names the call where the errno leaves it.
///
/// Public so that crates built on procroot (`procroot-runtime`) report their own syscalls the
/// way the library does; `?` on a [`SyscallError`](procroot_sys::SyscallError) does the same
/// without the arguments.
pub trait Syscall<T> {
    /// The errno as an [`Error`] naming `syscall`.
    fn syscall(self, syscall: &'static str) -> crate::Result<T>;
    /// The same, with the call's key arguments (`"/data", "x", AT_REMOVEDIR`), formatted only
    /// on failure.
    fn syscall_with(self, syscall: &'static str, args: impl FnOnce() -> String)
        -> crate::Result<T>;
}

impl<T> Syscall<T> for Result<T, Errno> {
    #[inline]
    fn syscall(self, syscall: &'static str) -> crate::Result<T> {
        match self {
            Ok(value) => Ok(value),
            Err(errno) => Err(named(errno, syscall, None)),
        }
    }

    #[inline]
    fn syscall_with(
        self,
        syscall: &'static str,
        args: impl FnOnce() -> String,
    ) -> crate::Result<T> {
        match self {
            Ok(value) => Ok(value),
            Err(errno) => Err(named(errno, syscall, Some(args()))),
        }
    }
}

#[cold]
fn named(errno: Errno, syscall: &'static str, args: Option<String>) -> crate::Error {
    crate::Error::from_errno(errno).with_syscall(syscall, args)
}

/// A syscall's key arguments as they print: the directory (its path in the root, where the
/// caller knows it), the name (quoted, hostile bytes escaped) and the flags
/// (`O_PATH|O_NOFOLLOW`, `0` for none).
pub(crate) fn args<F: bitflags::Flags>(
    dir: Option<&std::path::Path>,
    name: impl AsRef<std::ffi::OsStr>,
    flags: F,
) -> String {
    let mut out = String::new();
    if let Some(dir) = dir {
        out.push_str(&format!("{}, ", Quoted(dir.as_os_str())));
    }
    out.push_str(&format!("{}, {}", Quoted(name.as_ref()), flag_names(flags)));
    out
}

/// `O_PATH|O_NOFOLLOW`: the flags' C names (rustix names them without the prefix), or `0`.
pub(crate) fn flag_names<F: bitflags::Flags>(flags: F) -> String {
    let prefix = match std::any::type_name::<F>().rsplit("::").next() {
        Some("OFlags") => "O_",
        Some("AtFlags") => "AT_",
        Some("RenameFlags") => "RENAME_",
        Some("ResolveFlags") => "RESOLVE_",
        _ => "",
    };
    let names: Vec<String> = flags
        .iter_names()
        .map(|(name, _)| format!("{prefix}{name}"))
        .collect();
    if names.is_empty() {
        "0".to_string()
    } else {
        names.join("|")
    }
}

/// [`Syscall`] for a bare errno, in the arm of a `match` on a syscall's result.
pub trait SyscallErrno {
    /// The errno as an [`Error`] naming `syscall`.
    fn syscall(self, syscall: &'static str) -> crate::Error;
    /// The same, with the call's key arguments, formatted only on failure.
    fn syscall_with(self, syscall: &'static str, args: impl FnOnce() -> String) -> crate::Error;
}

impl SyscallErrno for Errno {
    #[inline]
    fn syscall(self, syscall: &'static str) -> crate::Error {
        named(self, syscall, None)
    }

    #[inline]
    fn syscall_with(self, syscall: &'static str, args: impl FnOnce() -> String) -> crate::Error {
        named(self, syscall, Some(args()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind's name and number are pinned: the name is the CLI's `--json` `kind`, the
    /// number the C header's `procroot_error_kind` and the sandbox's wire byte. Changing either
    /// breaks JSON consumers or the C ABI, so it must fail a test.
    #[test]
    fn error_kind_names_and_codes_are_stable() {
        let pinned = [
            (ErrorKind::NotFound, "not_found", 1),
            (ErrorKind::SafetyViolation, "safety_violation", 2),
            (ErrorKind::InvalidInput, "invalid_input", 3),
            (ErrorKind::NotSupported, "not_supported", 4),
            (ErrorKind::Os, "os", 5),
        ];
        assert_eq!(ErrorKind::ALL.len(), pinned.len());
        for (kind, name, code) in pinned {
            assert_eq!(kind.as_str(), name, "{kind:?}");
            assert_eq!(kind.code(), code, "{kind:?}");
            assert_eq!(ErrorKind::from_code(code), Some(kind));
        }
        for code in [0, 6, u8::MAX] {
            assert_eq!(ErrorKind::from_code(code), None, "{code}");
        }
    }

    #[test]
    fn display_has_context_description_and_errno_name() {
        let err = Error::from_errno(Errno::LOOP)
            .context("resolve", Path::new("etc/passwd"))
            .in_root(Path::new("/var/lib/x/rootfs"));
        assert_eq!(
            err.to_string(),
            "resolve \"etc/passwd\" in /var/lib/x/rootfs: Too many levels of symbolic links (ELOOP)"
        );
        assert_eq!(err.kind(), ErrorKind::Os);
        assert_eq!(Error::from(Errno::XDEV).kind(), ErrorKind::SafetyViolation);
    }

    /// `Error` stays 16 bytes (kind and errno inline, everything else boxed), so that
    /// `Result<T>` is small on the hot paths; naming the syscall must not grow it.
    #[test]
    fn error_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Error>(), 16);
        assert_eq!(std::mem::size_of::<Result<()>>(), 16);
    }

    #[test]
    fn the_failed_syscall_is_named_on_one_line() {
        let err = Error::from_errno(Errno::NOENT)
            .with_syscall("unlinkat", Some("\"/data\", \"x\", 0".into()))
            .with_syscall("ignored", None)
            .context("rm", Path::new("/data/x"))
            .in_root(Path::new("/r"));
        assert_eq!(err.syscall(), Some("unlinkat"));
        assert_eq!(
            err.to_string(),
            "rm \"/data/x\" in /r: unlinkat(\"/data\", \"x\", 0): No such file or directory (ENOENT)"
        );
        assert!(!err.to_string().contains('\n'));
        let named: Error = sys::SyscallError {
            syscall: "statx",
            errno: Errno::PERM,
            detail: "procroot needs it",
        }
        .into();
        assert_eq!(named.syscall(), Some("statx"));
        assert_eq!(
            named.to_string(),
            "statx(2): Operation not permitted; procroot needs it (EPERM)"
        );
        assert_eq!(Error::from_errno(Errno::NOENT).syscall(), None);
    }

    #[test]
    fn hostile_names_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"a\"b\n\xff");
        let err = Error::from_errno(Errno::NOENT).context("open", Path::new(name));
        assert_eq!(
            err.to_string(),
            "open \"a\\\"b\\u{a}\\xff\": No such file or directory (ENOENT)"
        );
    }

    /// Bidirectional overrides and isolates, zero-width characters and line separators in a
    /// name or in the root's name are escaped, as the progress line escapes them; an accent
    /// after a letter is not.
    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        for (c, shown) in [
            ('\u{202e}', "\\u{202e}"),
            ('\u{2067}', "\\u{2067}"),
            ('\u{200b}', "\\u{200b}"),
            ('\u{200f}', "\\u{200f}"),
            ('\u{202a}', "\\u{202a}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{feff}', "\\u{feff}"),
        ] {
            let name = format!("gpj.{c}exe.sh");
            let err = Error::from_errno(Errno::NOENT)
                .context("open", Path::new(&name))
                .in_root(Path::new(&format!("/srv/r{c}oot")));
            let text = err.to_string();
            assert!(!text.contains(c), "{c:?} printed raw: {text}");
            assert!(
                text.starts_with(&format!("open \"gpj.{shown}exe.sh\" in /srv/r{shown}oot: ")),
                "{text}"
            );
        }
        // A combining mark with no base character to attach to (at the start) is escaped.
        let accented = "\u{301}x caf\u{e9} cafe\u{301}";
        assert_eq!(
            Quoted(OsStr::from_bytes(accented.as_bytes())).to_string(),
            "\"\\u{301}x caf\u{e9} cafe\u{301}\""
        );
    }

    #[test]
    fn invalid_input_maps_to_io_invalid_input() {
        let err = Error::invalid_input(Errno::INVAL, "path contains a NUL byte");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    }
}
