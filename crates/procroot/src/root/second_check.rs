//! The second check: before a metadata change (`chmod`, `chown`, times, xattr writes), confirm
//! that the file the resolver handed back really is inside the root, by means that share no code
//! with the resolver. Landlock does not mediate those calls, so a resolver bug would otherwise
//! reach a host file.
//!
//! 1. The kernel's path of the fd and of the root fd (`readlink` of `/proc/thread-self/fd/N`,
//!    through the hardened procfs handle): the fd's must lie beneath the root's.
//! 2. That path is opened again from the root fd, one component at a time, with
//!    `openat(O_PATH | O_NOFOLLOW)`: no symlink, no `..`, only down from the root.
//! 3. What the walk reaches must be the fd's file: the same (mount id, device, inode).
//!
//! The printed path only says where to look; the identity comparison decides. A mismatch, an
//! unreadable path or a failed walk is `EACCES` ([`ErrorKind::SafetyViolation`]), naming this
//! check. No false refusal for a root of `/`, a `--pid` root, overlayfs, mounts inside the root, or
//! names with newlines or ending in ` (deleted)`; refused although harmless: a race inside the
//! root, a path over `PATH_MAX`, and no procfs at all. [`Root::with_second_check`] turns it off,
//! which the command does with `--no-sandbox`.
//!
//! The full account: docs/ARCHITECTURE.md, "The second check".

#![forbid(unsafe_code)]

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::Root;
use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{FdDir, Procfs};
use crate::sys;
use crate::sys::Syscall as _;

/// The words every refusal starts with, so that a user (and a test) can tell this check's
/// `EACCES` from the kernel's.
pub(crate) const REFUSED: &str = "refused by the second check (is the file inside the root?)";

impl Root {
    /// Sets whether metadata changes ([`Root::set_permissions`], [`Root::chown`],
    /// [`Root::set_times`], [`Root::set_xattr`], and [`Root::touch`] of an existing file) first
    /// confirm, independently of the resolver, that the file is inside the root (default: on).
    ///
    /// The check reads the file's and the root's kernel paths through the hardened procfs, then
    /// walks from the root fd down to the file one component at a time with `O_NOFOLLOW` and
    /// compares (mount id, device, inode); a file that is not the one reached is `EACCES`
    /// ([`ErrorKind::SafetyViolation`]). It is a second wall behind the resolver for the
    /// operations Landlock does not mediate. Without a usable procfs the check cannot be made
    /// and these changes are refused (`EACCES`, saying why). Turn it off only where the resolver
    /// alone is trusted (the `procroot` command's `--no-sandbox`).
    pub fn with_second_check(mut self, on: bool) -> Self {
        self.second_check = on;
        self
    }

    /// Whether the second check is on; see [`Root::with_second_check`].
    pub fn second_check(&self) -> bool {
        self.second_check
    }

    /// The second check (module docs) of `fd`, which a resolution inside this root returned.
    pub(crate) fn check_inside(&self, fd: BorrowedFd<'_>) -> Result<()> {
        if !self.second_check {
            return Ok(());
        }
        let root_path = kernel_path(self.fd.as_fd())?;
        let path = kernel_path(fd)?;
        let want =
            sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH).map_err(|e| refused(e.into()))?;
        let inside = beneath(&root_path, &path).ok_or_else(|| {
            mismatch(format!(
                "its kernel path {} is not beneath the root's, {}",
                crate::error::Quoted(std::ffi::OsStr::from_bytes(&path)),
                crate::error::Quoted(std::ffi::OsStr::from_bytes(&root_path))
            ))
        })?;
        let mut at: Option<OwnedFd> = None;
        for name in inside.split(|&b| b == b'/').filter(|n| !n.is_empty()) {
            // d_path never prints `.` or `..`; a component that is one would climb.
            if name == b"." || name == b".." {
                return Err(mismatch(
                    "its kernel path has a `.` or `..` component".into(),
                ));
            }
            let dir = at.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            let next = rustix::fs::openat(
                dir,
                std::ffi::OsStr::from_bytes(name),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| {
                mismatch(format!(
                    "the walk from the root to {} failed: {}",
                    crate::error::Quoted(std::ffi::OsStr::from_bytes(inside)),
                    sys::errno_name(errno)
                ))
            })?;
            at = Some(next);
        }
        let reached = at.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
        let got =
            sys::mount_info_at(reached, "", AtFlags::EMPTY_PATH).map_err(|e| refused(e.into()))?;
        if got.identity() != want.identity() {
            return Err(mismatch(format!(
                "the walk from the root to {} reaches another file (mount, device or inode \
                 differ)",
                crate::error::Quoted(std::ffi::OsStr::from_bytes(inside))
            )));
        }
        Ok(())
    }
}

/// The path inside the root of a file whose kernel path is `path`, if it is the root's
/// (`root`) or beneath it: the bytes after the root's, without the leading `/`.
fn beneath<'a>(root: &[u8], path: &'a [u8]) -> Option<&'a [u8]> {
    if root == b"/" {
        return path.strip_prefix(b"/");
    }
    let rest = path.strip_prefix(root)?;
    match rest {
        [] => Some(rest),
        [b'/', inside @ ..] => Some(inside),
        _ => None,
    }
}

/// The kernel's path of our own `fd`: the target of its magic link `fd/N` in this thread's
/// directory of the hardened, detached procfs instance ([`FdDir`]: one `readlinkat`), or, where
/// there is no such instance, looked up with the procfs overmount checks. The string is only a
/// guide for the walk: a forged one cannot make the identity comparison pass.
fn kernel_path(fd: BorrowedFd<'_>) -> Result<Vec<u8>> {
    if let Ok(Some(dir)) = FdDir::current() {
        let mut buf = [MaybeUninit::<u8>::uninit(); PATH_MAX];
        // Any failure (a directory of a thread that is gone: ENOENT) tries the checked lookup,
        // which reports its own errors.
        if let Ok(path) = dir.readlink(fd, &mut buf) {
            return Ok(path.to_vec());
        }
    }
    let procfs = Procfs::cached().map_err(refused)?;
    let link = procfs.fd_link(fd).map_err(refused)?;
    let target = rustix::fs::readlinkat(link.dir(), link.name(), Vec::new())
        .syscall("readlinkat")
        .map_err(refused)?;
    link.recheck().map_err(refused)?;
    Ok(target.into_bytes())
}

/// The longest path `readlink` of an fd link gives (`PATH_MAX`; `d_path` fails beyond).
const PATH_MAX: usize = 4096;

/// The check could not be made: refused, saying why.
fn refused(e: Error) -> Error {
    Error::with_detail(
        ErrorKind::SafetyViolation,
        Errno::ACCESS,
        format!("{REFUSED}: it could not be checked: {e}"),
    )
}

/// The check was made and failed.
fn mismatch(why: String) -> Error {
    Error::with_detail(
        ErrorKind::SafetyViolation,
        Errno::ACCESS,
        format!("{REFUSED}: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opath(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    fn assert_refused(root: &Root, fd: &OwnedFd, what: &str) {
        let err = root.check_inside(fd.as_fd()).expect_err(what);
        assert_eq!(err.errno(), Errno::ACCESS, "{what}: {err}");
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{what}");
        assert!(err.to_string().contains(REFUSED), "{what}: {err}");
    }

    /// What a broken resolver could hand back: a host file, the host's `/`, a sibling of the
    /// root reached through `..`, a file whose path inside the root now goes through a
    /// symlink. Each is refused; files inside pass; with the check off, nothing is refused.
    #[test]
    fn files_outside_the_root_are_refused() {
        let top = tempfile::tempdir().unwrap();
        let t = top.path();
        for dir in ["r/d", "r/e", "rx", "host"] {
            std::fs::create_dir_all(t.join(dir)).unwrap();
        }
        for file in ["r/d/f", "rx/f", "host/secret"] {
            std::fs::write(t.join(file), b"x").unwrap();
        }
        let root = Root::open(t.join("r")).unwrap();
        root.check_inside(opath(&t.join("r/d/f")).as_fd())
            .expect("a file inside");
        root.check_inside(opath(&t.join("r")).as_fd())
            .expect("the root itself");
        assert_refused(&root, &opath(&t.join("host/secret")), "a host file");
        assert_refused(&root, &opath(std::path::Path::new("/")), "the host's /");
        assert_refused(&root, &opath(t), "the root's parent");
        assert_refused(&root, &opath(&t.join("rx/f")), "a sibling sharing a prefix");
        // The kernel path of a file inside now names a symlink on the way: the walk does not
        // follow it, so the check fails rather than trusting the name.
        let inside = opath(&t.join("r/d/f"));
        std::fs::rename(t.join("r/d"), t.join("r/e/d")).unwrap();
        std::os::unix::fs::symlink(t.join("r/e/d"), t.join("r/d")).unwrap();
        root.check_inside(inside.as_fd())
            .expect("moved, still inside: its kernel path follows it");
        let root_off = root.clone().with_second_check(false);
        root_off
            .check_inside(opath(&t.join("host/secret")).as_fd())
            .expect("off: not checked");
    }

    /// A file of the same name under a different root is not the same file.
    #[test]
    fn the_identity_decides_not_the_name() {
        let top = tempfile::tempdir().unwrap();
        let t = top.path();
        std::fs::create_dir_all(t.join("r/etc")).unwrap();
        std::fs::write(t.join("r/etc/f"), b"x").unwrap();
        let fd = opath(&t.join("r/etc/f"));
        // Replace the file by another at the same name: the fd's kernel path now prints
        // " (deleted)" after it, and the name reaches the new file.
        std::fs::remove_file(t.join("r/etc/f")).unwrap();
        std::fs::write(t.join("r/etc/f"), b"y").unwrap();
        std::fs::write(t.join("r/etc/f (deleted)"), b"z").unwrap();
        let root = Root::open(t.join("r")).unwrap();
        assert_refused(&root, &fd, "an unlinked file whose name was taken");
    }

    #[test]
    fn beneath_compares_whole_components() {
        assert_eq!(beneath(b"/", b"/etc/passwd"), Some(&b"etc/passwd"[..]));
        assert_eq!(beneath(b"/", b"/"), Some(&b""[..]));
        assert_eq!(beneath(b"/r", b"/r"), Some(&b""[..]));
        assert_eq!(beneath(b"/r", b"/r/a/b"), Some(&b"a/b"[..]));
        assert_eq!(beneath(b"/r", b"/rx/a"), None);
        assert_eq!(beneath(b"/r", b"/h/a"), None);
        assert_eq!(
            beneath(b"/t/r (deleted)", b"/t/r (deleted)/a"),
            Some(&b"a"[..])
        );
        assert_eq!(beneath(b"/t/r\n", b"/t/r\n/a\n"), Some(&b"a\n"[..]));
    }
}
