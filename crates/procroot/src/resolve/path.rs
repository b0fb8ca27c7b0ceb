//! Path bytes: validation and splitting into components. The crate's one path grammar: the
//! resolver, `Root`'s operations and the procfs handle all split paths with these functions.
//!
//! Paths are bytes, not strings: a Linux file name is any sequence of bytes without `/` or NUL,
//! and a container image is free to use names that are not UTF-8.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::sys::PATH_MAX;

/// Checks what the kernel would check before looking at the file system, but with errors that
/// say what is wrong: a NUL byte (which C would silently truncate at) is `InvalidInput`/`EINVAL`,
/// a path of `PATH_MAX` bytes or more is `InvalidInput`/`ENAMETOOLONG`, and an empty path is
/// `ENOENT`, exactly as `openat2(2)` reports it.
pub(crate) fn validate(path: &[u8]) -> Result<()> {
    if path.contains(&0) {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "path contains a NUL byte",
        ));
    }
    if path.len() >= PATH_MAX {
        return Err(Error::invalid_input(
            Errno::NAMETOOLONG,
            format!(
                "path is {} bytes long; the limit is {} including the terminating NUL",
                path.len(),
                PATH_MAX
            ),
        ));
    }
    if path.is_empty() {
        return Err(Error::from_errno(Errno::NOENT));
    }
    Ok(())
}

/// One component of a path, with what the rest of the path says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Component<'a> {
    /// The name: never empty, never contains `/`.
    pub name: &'a [u8],
    /// Where the name ends in the path (the index just after it).
    pub end: usize,
    /// Nothing but slashes follows.
    pub is_last: bool,
    /// At least one slash follows. On the last component this forces the kernel to follow a
    /// symlink and to require a directory.
    pub trailing_slash: bool,
}

/// The next component of `path` at or after `pos`, skipping slashes (empty components), or
/// `None` if only slashes remain.
pub(crate) fn next_component(path: &[u8], pos: usize) -> Option<Component<'_>> {
    let start = pos + path[pos..].iter().position(|&b| b != b'/')?;
    let end = path[start..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(path.len(), |i| start + i);
    let is_last = path[end..].iter().all(|&b| b == b'/');
    Some(Component {
        name: &path[start..end],
        end,
        is_last,
        trailing_slash: end < path.len(),
    })
}

/// The components of `path`, in order, without empty ones (repeated slashes).
pub(crate) fn components(path: &[u8]) -> impl Iterator<Item = Component<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let c = next_component(path, pos)?;
        pos = c.end;
        Some(c)
    })
}

/// The part of `path` up to and including the first `k` of its `components` (keeping a leading
/// `/`, which matters under `Policy::Beneath`): `/` or `.` for none.
pub(crate) fn prefix<'a>(path: &'a [u8], components: &[Component<'_>], k: usize) -> &'a [u8] {
    match k {
        0 if path.starts_with(b"/") => b"/",
        0 => b".",
        k => &path[..components[k - 1].end],
    }
}

/// Whether `path` ends in a slash: on its last component, the kernel then requires a directory.
pub(crate) fn has_trailing_slash(path: &[u8]) -> bool {
    path.ends_with(b"/")
}

/// The name to hand to an `*at` syscall for the last component of `path`: `name` with a `/`
/// appended if `path` ended in one, so that the kernel applies its own rules for a trailing
/// slash on the one component it looks up (`EISDIR` for `open(O_CREAT)`, `ENOTDIR` for `unlink`
/// or `rename` of a non-directory, `ENOENT` when creating `new/`). None of these syscalls follows
/// its last component, slash or not.
pub(crate) fn with_trailing_slash(path: &Path, name: OsString) -> OsString {
    if has_trailing_slash(path.as_os_str().as_bytes()) {
        let mut bytes = name.into_vec();
        bytes.push(b'/');
        OsString::from_vec(bytes)
    } else {
        name
    }
}

/// The directory part of `path` as [`split_last`] gives it (`a/` for `a/b`, `.` for `b`), for
/// naming a syscall's directory fd in messages.
pub(crate) fn parent_of(path: &Path) -> Option<&Path> {
    let (parent, _) = split_last(path.as_os_str().as_bytes())?;
    Some(Path::new(std::ffi::OsStr::from_bytes(parent)))
}

/// Splits off the last component when it is a real name (not `.` or `..`): `(parent, name)`.
/// The parent keeps its leading slash, so `/x` gives `("/", "x")`; a bare name gives
/// `(".", name)`. Trailing slashes after the name are dropped. `None` for a path of slashes
/// only, or one whose last component is `.` or `..`.
///
/// Every procroot call that makes, removes or copies an entry by name splits its path so,
/// including [`Root::copy_in_with`](crate::Root::copy_in_with) and
/// [`Root::copy_out_with`](crate::Root::copy_out_with) on a host path: code that must open the
/// very parent such a call opens (a sandbox rule for it) splits with this.
pub fn split_last(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let trimmed_len = path.iter().rposition(|&b| b != b'/')? + 1;
    let trimmed = &path[..trimmed_len];
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let name = &trimmed[start..];
    if name == b"." || name == b".." {
        return None;
    }
    let parent = match &trimmed[..start] {
        b"" => &b"."[..],
        parent if parent.iter().all(|&b| b == b'/') => &b"/"[..],
        parent => parent,
    };
    Some((parent, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(path: &[u8]) -> Vec<(&[u8], bool, bool)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(c) = next_component(path, pos) {
            out.push((c.name, c.is_last, c.trailing_slash));
            pos = c.end;
        }
        out
    }

    #[test]
    fn splits_components() {
        assert_eq!(
            components(b"//a//b/"),
            vec![(&b"a"[..], false, true), (&b"b"[..], true, true)]
        );
        assert_eq!(components(b"a"), vec![(&b"a"[..], true, false)]);
        assert!(components(b"///").is_empty());
    }

    #[test]
    fn components_and_prefixes() {
        let p = b"/a//b/./c/";
        let c: Vec<_> = super::components(p).collect();
        assert_eq!(c.len(), 4);
        assert_eq!(prefix(p, &c, 0), b"/");
        assert_eq!(prefix(p, &c, 2), b"/a//b");
        assert_eq!(prefix(p, &c, 4), b"/a//b/./c");
        let rel: Vec<_> = super::components(b"x/y").collect();
        assert_eq!(prefix(b"x/y", &rel, 0), b".");
    }

    #[test]
    fn trailing_slash_is_kept_on_the_name() {
        let slashed = with_trailing_slash(Path::new("a/b/"), "b".into());
        assert_eq!(slashed, OsString::from("b/"));
        assert_eq!(
            with_trailing_slash(Path::new("a/b"), "b".into()),
            OsString::from("b")
        );
    }

    #[test]
    fn splits_last() {
        assert_eq!(split_last(b"a/b"), Some((&b"a/"[..], &b"b"[..])));
        assert_eq!(split_last(b"/x//"), Some((&b"/"[..], &b"x"[..])));
        assert_eq!(split_last(b"x"), Some((&b"."[..], &b"x"[..])));
        assert_eq!(split_last(b"a/.."), None);
        assert_eq!(split_last(b"/"), None);
    }

    #[test]
    fn validation_errors_are_clear() {
        let nul = validate(b"a\0b").unwrap_err();
        assert_eq!(nul.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(nul.errno(), Errno::INVAL);
        let long = validate(&vec![b'a'; PATH_MAX]).unwrap_err();
        assert_eq!(long.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(long.errno(), Errno::NAMETOOLONG);
        assert!(validate(&vec![b'a'; PATH_MAX - 1]).is_ok());
        assert_eq!(validate(b"").unwrap_err().errno(), Errno::NOENT);
    }
}
