//! [`Handle`]: an `O_PATH` fd that was resolved inside a root, and knows its path there.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::dir::{FileType, ReadDir};
use crate::error::{Error, Result};
use crate::procfs::{ProcBase, Procfs};
use crate::resolve::{self, Backend, BackendUsed, ResolveOptions, Resolved, Trailing};
use crate::sys;

/// How a handle's in-root path can be recomputed when the backend did not report it.
///
/// It lives inline in the handle, and so does a short input path: the kernel backend's
/// resolution then costs no allocation besides the `Arc` count of the root.
#[derive(Debug)]
struct Origin {
    root: Arc<OwnedFd>,
    input: InputPath,
    opts: ResolveOptions,
    trailing: Trailing,
}

/// The path a handle was resolved from: inline up to [`InputPath::INLINE`] bytes, else boxed.
#[derive(Debug)]
enum InputPath {
    Inline {
        len: u8,
        bytes: [u8; InputPath::INLINE],
    },
    Boxed(Box<[u8]>),
}

impl InputPath {
    /// Most container paths (`/etc/os-release`, `/var/run/app.sock.conf`) fit.
    const INLINE: usize = 62;

    fn new(path: &[u8]) -> Self {
        match u8::try_from(path.len()) {
            Ok(len) if path.len() <= Self::INLINE => {
                let mut bytes = [0u8; Self::INLINE];
                bytes[..path.len()].copy_from_slice(path);
                InputPath::Inline { len, bytes }
            }
            _ => InputPath::Boxed(path.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            InputPath::Inline { len, bytes } => &bytes[..usize::from(*len)],
            InputPath::Boxed(bytes) => bytes,
        }
    }
}

/// An `O_PATH` file descriptor resolved inside a [`Root`](super::Root).
///
/// A handle pins the object it was resolved to: later renames inside the root cannot make it
/// refer to something else. Use [`AsFd`] to run `*at` syscalls on it.
#[derive(Debug)]
pub struct Handle {
    fd: OwnedFd,
    backend: BackendUsed,
    path: OnceLock<PathBuf>,
    origin: Option<Origin>,
}

impl Handle {
    /// Wraps a resolution result. `input`, `opts` and `trailing` describe how the handle's
    /// object was reached, to compute its path later if the backend did not report it.
    pub(crate) fn new(
        resolved: Resolved,
        root: &Arc<OwnedFd>,
        input: &[u8],
        opts: &ResolveOptions,
        trailing: Trailing,
    ) -> Self {
        let path = OnceLock::new();
        let origin = match resolved.path {
            Some(known) => {
                let _ = path.set(PathBuf::from(OsString::from_vec(known)));
                None
            }
            None => Some(Origin {
                root: Arc::clone(root),
                input: InputPath::new(input),
                opts: *opts,
                trailing,
            }),
        };
        Handle {
            fd: resolved.fd,
            backend: resolved.backend,
            path,
            origin,
        }
    }

    /// The absolute path of this object inside the root, such as `/etc/passwd` (`/` for the root
    /// itself). For a handle from a `/proc/<pid>/root` wormhole this is the path *inside that
    /// process's mount namespace*.
    ///
    /// The emulated walker reports the path as it walks: it is the names of the directories it
    /// held. A kernel-backend handle computes it on first use by walking the same input again in
    /// userspace and checking that the walk arrived at the same inode; if a concurrent rename
    /// keeps moving it, this gives up with `EAGAIN` rather than return a path that names
    /// something else.
    pub fn path_in_root(&self) -> Result<&Path> {
        if let Some(path) = self.path.get() {
            return Ok(path);
        }
        let origin = self.origin.as_ref().ok_or(Errno::INVAL)?;
        let path = recompute_path(&self.fd, origin)?;
        Ok(self.path.get_or_init(|| path))
    }

    /// The file's metadata (`statx(fd, "", AT_EMPTY_PATH)`). For a handle that was not followed
    /// and is a symlink, this describes the symlink.
    pub fn metadata(&self) -> Result<Metadata> {
        metadata_of(self.fd.as_fd())
    }

    /// The file's type.
    pub fn file_type(&self) -> Result<FileType> {
        let st = rustix::fs::fstat(&self.fd)?;
        Ok(FileType::from_mode(st.st_mode))
    }

    /// Opens the handle's file for real (`O_RDONLY`, `O_WRONLY`, ...), through
    /// `/proc/thread-self/fd/N` on the hardened procfs handle, with its overmount checks.
    ///
    /// The file reopened is the one the handle pins, whatever has been renamed since. A symlink
    /// handle gives `ELOOP` (there is nothing to open but the link). `O_CREAT` and `O_TMPFILE`
    /// are `InvalidInput`.
    pub fn reopen(&self, flags: OFlags) -> Result<File> {
        let link = crate::procfs::fd_link_name(self.fd.as_fd());
        let fail = |e: Error| e.context("reopen", Path::new(&link));
        if flags.contains(OFlags::CREATE) || flags.contains(OFlags::TMPFILE) {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                "O_CREAT and O_TMPFILE make no sense when reopening",
            )));
        }
        if self.file_type().map_err(fail)? == FileType::Symlink {
            return Err(fail(Error::from_errno(Errno::LOOP)));
        }
        let procfs = Procfs::cached().map_err(fail)?;
        let file = procfs.open_follow(ProcBase::ThreadSelf, &link, flags)?;
        // open_follow re-checks the link after opening, but on an instance that is not
        // detached a mount can come and go in between. We know what the link must lead to: the
        // handle's own file, on the handle's own mount.
        let want =
            sys::mount_info_at(&self.fd, "", AtFlags::EMPTY_PATH).map_err(|e| fail(e.into()))?;
        let got = sys::mount_info_at(&file, "", AtFlags::EMPTY_PATH).map_err(|e| fail(e.into()))?;
        if (got.dev, got.ino, got.mount_id) != (want.dev, want.ino, want.mount_id) {
            return Err(fail(Error::with_detail(
                crate::ErrorKind::SafetyViolation,
                Errno::XDEV,
                "reopening through procfs reached another file (a mount raced with the open)",
            )));
        }
        Ok(file)
    }

    /// Reads the target of the symlink this handle is (from [`Root::resolve_nofollow`]). Not a
    /// symlink: `EINVAL`, as with `readlink(2)`.
    ///
    /// [`Root::resolve_nofollow`]: super::Root::resolve_nofollow
    pub fn readlink(&self) -> Result<PathBuf> {
        resolve::readlink_fd(self.fd.as_fd())
    }

    /// Lists the directory this handle is. `.` and `..` are left out.
    pub fn read_dir(&self) -> Result<ReadDir> {
        let dir = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        ReadDir::new(dir)
    }

    /// The type of the entry `name` in the directory this handle is, without following it, or
    /// `None` if there is no such entry. `name` must be one component: not empty, not `.` or
    /// `..`, without `/` (`InvalidInput` otherwise). This is how to look at the last component
    /// that [`Root::resolve_parent`](super::Root::resolve_parent) left alone.
    pub fn entry_type(&self, name: impl AsRef<OsStr>) -> Result<Option<FileType>> {
        let name = name.as_ref().as_bytes();
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Err(Error::invalid_input(
                Errno::INVAL,
                "an entry name must be a single component",
            ));
        }
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Which resolver backend produced this handle.
    pub fn backend(&self) -> BackendUsed {
        self.backend
    }

    /// Gives up the handle, returning its fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for Handle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Handle> for OwnedFd {
    fn from(handle: Handle) -> OwnedFd {
        handle.fd
    }
}

/// `statx(fd, "", AT_EMPTY_PATH)` as a [`std::fs::Metadata`], which works on `O_PATH` fds.
pub(crate) fn metadata_of(fd: BorrowedFd<'_>) -> Result<Metadata> {
    let file = File::from(fd.try_clone_to_owned().map_err(errno_of)?);
    file.metadata().map_err(errno_of)
}

fn errno_of(err: std::io::Error) -> Error {
    Error::from_errno(Errno::from_io_error(&err).unwrap_or(Errno::IO))
}

/// How often the emulated re-walk may land on a different inode (a rename race) before
/// [`Handle::path_in_root`] gives up.
const PATH_RETRIES: usize = 8;

fn recompute_path(fd: &OwnedFd, origin: &Origin) -> Result<PathBuf> {
    let want = rustix::fs::fstat(fd)?;
    let opts = ResolveOptions {
        backend: Backend::Emulated,
        ..origin.opts
    };
    for _ in 0..PATH_RETRIES {
        let again = resolve::resolve(
            origin.root.as_fd(),
            origin.input.as_bytes(),
            &opts,
            origin.trailing,
            OFlags::PATH,
        )?;
        let got = rustix::fs::fstat(&again.fd)?;
        if (got.st_dev, got.st_ino) == (want.st_dev, want.st_ino) {
            let path = again.path.ok_or(Errno::INVAL)?;
            return Ok(PathBuf::from(OsString::from_vec(path)));
        }
    }
    Err(Error::from_errno(Errno::AGAIN))
}

#[cfg(test)]
mod tests {
    use super::InputPath;

    #[test]
    fn input_path_keeps_every_length() {
        for len in [
            0,
            1,
            InputPath::INLINE - 1,
            InputPath::INLINE,
            InputPath::INLINE + 1,
            255,
            256,
            4000,
        ] {
            let path: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let stored = InputPath::new(&path);
            assert_eq!(stored.as_bytes(), &path[..], "length {len}");
            assert_eq!(
                matches!(stored, InputPath::Inline { .. }),
                len <= InputPath::INLINE,
                "length {len}"
            );
        }
    }
}
