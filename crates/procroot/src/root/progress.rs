//! Watching, and stopping, the long tree operations: [`Progress`] and the hook that
//! [`CopyOptions::progress`](super::CopyOptions::progress) and
//! [`RemoveAllOptions::progress`](super::RemoveAllOptions::progress) take.
//!
//! The library draws nothing: a caller (the `procroot` command's progress bar, a GUI, a test)
//! gets the counts after every entry and decides what to show, and whether to go on. Stopping
//! goes through the operation's own error path, so a copy that is stopped is undone by identity
//! like any failed copy (never by name), and a removal stops between two entries.

#![forbid(unsafe_code)]

use std::ops::ControlFlow;
use std::path::PathBuf;

use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};

/// How far a copy or a recursive removal has come, handed to its progress hook after each
/// entry (and, for a large file being copied, after each chunk of it).
///
/// ```no_run
/// use std::ops::ControlFlow;
/// use procroot::{CopyOptions, Progress, Root};
///
/// let root = Root::open("/srv/rootfs")?;
/// // Give up (and leave nothing behind) past 1 GiB.
/// let mut hook = |p: &Progress<'_>| {
///     eprint!("\r{} entries, {} bytes: {:?}", p.entries, p.bytes, p.path());
///     if p.bytes > 1 << 30 {
///         ControlFlow::Break(())
///     } else {
///         ControlFlow::Continue(())
///     }
/// };
/// let opts = CopyOptions::default().with_progress(&mut hook);
/// match root.copy_in_with("./site", "/srv/www", opts) {
///     Err(e) if e.errno() == procroot::Errno::CANCELED => eprintln!("\ntoo big"),
///     other => other?,
/// }
/// # Ok::<(), procroot::Error>(())
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// Entries completed so far: files, symlinks, special files and directories copied, or
    /// entries removed.
    pub entries: u64,
    /// File contents copied so far, in bytes. Always 0 for a removal: it reads no metadata for
    /// most entries (the directory listing's type is enough), and counting bytes would cost a
    /// `stat` per file.
    pub bytes: u64,
    /// Whether a failed copy is being undone: `entries` then counts the entries of the copy
    /// removed so far (from 0), and [`ControlFlow::Break`] stops the undo, which keeps the
    /// temporary with what is left in it; the error names it. Always `false` for a removal.
    pub undoing: bool,
    /// Builds [`Progress::path`], only when asked: its cost grows with the depth.
    path: &'a dyn Fn() -> PathBuf,
}

impl Progress<'_> {
    /// The entry just handled, relative to the directory that holds the top of the operation
    /// (it starts with the copied or removed tree's own name). For messages only: nothing is
    /// ever looked up by it. Built on each call, from the names the walk recorded (a hook that
    /// runs per entry but shows a path ten times a second asks only then).
    pub fn path(&self) -> PathBuf {
        (self.path)()
    }
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("entries", &self.entries)
            .field("bytes", &self.bytes)
            .field("undoing", &self.undoing)
            .field("path", &self.path())
            .finish()
    }
}

/// The progress hook: called with the counts after every entry; [`ControlFlow::Break`] stops
/// the operation, which then fails with `ECANCELED` ([`ErrorKind::Os`]). A copy stopped this way
/// removes what it created, as any failed copy; what a removal removed before stays removed.
pub type ProgressFn<'a> = dyn FnMut(&Progress<'_>) -> ControlFlow<()> + 'a;

/// Something a copy could not carry over for one entry, and what it did instead: handed to
/// [`CopyOptions::warnings`](super::CopyOptions::warnings). The copy goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyWarning {
    /// The source entry, relative to the directory holding the copied tree's top, as
    /// [`Progress::path`]. For messages only.
    pub path: PathBuf,
    /// What was not carried over: `extended attribute "user.origin"`, `hard link to "a"`.
    pub what: String,
    /// What the copy has instead: `not copied`, `copied as a separate file`,
    /// `not copied; mode narrowed to 0640`.
    pub outcome: String,
    /// Why.
    pub errno: Errno,
}

impl std::fmt::Display for CopyWarning {
    /// `"etc/app.conf": extended attribute "user.origin": not copied: Operation not permitted
    /// (EPERM)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: {}: {}: {} ({})",
            self.path,
            self.what,
            self.outcome,
            crate::sys::errno_description(self.errno),
            crate::sys::errno_name(self.errno)
        )
    }
}

/// The warnings hook of a copy: called once per [`CopyWarning`].
pub type WarningFn<'a> = dyn FnMut(&CopyWarning) + 'a;

/// The error of an operation stopped by its hook.
#[cold]
fn stopped() -> Error {
    Error::with_detail(
        ErrorKind::Os,
        Errno::CANCELED,
        "stopped by the caller's progress hook",
    )
}

/// The counts of one operation, and its hook. Without a hook each step is a branch on `None`;
/// with one, the path is built only if the hook asks for it.
pub(super) struct Watch<'h, 'a> {
    hook: Option<&'h mut ProgressFn<'a>>,
    /// Where a copy's [`CopyWarning`]s go; `None`: nowhere.
    warnings: Option<&'h mut WarningFn<'a>>,
    entries: u64,
    bytes: u64,
    /// [`Progress::undoing`].
    undoing: bool,
}

impl<'h, 'a> Watch<'h, 'a> {
    /// Counts for `hook`, if any.
    pub fn new(hook: Option<&'h mut ProgressFn<'a>>) -> Self {
        Watch {
            hook,
            warnings: None,
            entries: 0,
            bytes: 0,
            undoing: false,
        }
    }

    /// The same, with a hook for a copy's warnings.
    pub fn with_warnings(mut self, warnings: Option<&'h mut WarningFn<'a>>) -> Self {
        self.warnings = warnings;
        self
    }

    /// Hands a warning to the warnings hook, if there is one.
    pub fn warn(&mut self, warning: impl FnOnce() -> CopyWarning) {
        if let Some(hook) = self.warnings.as_mut() {
            hook(&warning());
        }
    }

    /// New counts for the same hook, for undoing what was counted so far (a failed copy):
    /// [`Progress::undoing`] is set.
    pub fn undoing(&mut self) -> Watch<'_, 'a> {
        Watch {
            hook: self.hook.as_deref_mut(),
            warnings: None,
            entries: 0,
            bytes: 0,
            undoing: true,
        }
    }

    /// Whether anyone is watching: callers that would do extra work only for the hook (copying
    /// a file in chunks) ask first.
    pub fn is_watched(&self) -> bool {
        self.hook.is_some()
    }

    /// One more entry is done; `path` (computed only if the hook asks) names it.
    #[inline]
    pub fn entry(&mut self, path: impl Fn() -> PathBuf) -> Result<()> {
        self.entries += 1;
        self.report(path)
    }

    /// `n` more bytes of the current file are copied.
    #[inline]
    pub fn bytes(&mut self, n: u64, path: impl Fn() -> PathBuf) -> Result<()> {
        self.bytes += n;
        self.report(path)
    }

    #[inline]
    fn report(&mut self, path: impl Fn() -> PathBuf) -> Result<()> {
        let Some(hook) = self.hook.as_mut() else {
            return Ok(());
        };
        let progress = Progress {
            entries: self.entries,
            bytes: self.bytes,
            undoing: self.undoing,
            path: &path,
        };
        match hook(&progress) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(stopped()),
        }
    }
}
