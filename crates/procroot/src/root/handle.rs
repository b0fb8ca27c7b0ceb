//! [`Handle`]: an `O_PATH` fd that was resolved inside a root, and knows its path there.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::eval::PathInRoot;
use super::Root;
use crate::error::{Error, Result};
use crate::fs::{metadata_of, readlink_fd, FileType, ReadDir};
use crate::procfs::{ProcBase, Procfs};
use crate::resolve::{BackendUsed, ResolveOptions, Resolved, Trailing};
use crate::sys;
use crate::sys::{Syscall as _, SyscallErrno as _};

/// How a handle's in-root path can be recomputed when the backend did not report it.
///
/// It lives inline in the handle, and so does a short input path: the kernel backend's
/// resolution then costs no allocation besides the `Arc` count of the root.
#[derive(Debug)]
struct Origin {
    root: Arc<OwnedFd>,
    /// The root's kernel path as last read ([`PathInRoot`]'s fast path), shared with the root.
    kept_root_path: Arc<Mutex<Option<Box<[u8]>>>>,
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

/// What the operations that open a file's *contents* do with FIFOs, sockets and device nodes:
/// [`Root::open_file`](super::Root::open_file), [`Root::create_file`](super::Root::create_file)
/// when the file exists, and [`Handle::reopen`]. Set it on a root with
/// [`Root::with_special_files`](super::Root::with_special_files).
///
/// Whoever controls the root decides what type a name has. A FIFO there blocks an `open(2)`
/// forever (until someone opens the other end), a device node reads or writes the *host's*
/// device (`c 1 9` is the host's urandom, a block node a host disk), and opening some devices
/// has side effects of its own. So by default the file is looked at first through its `O_PATH`
/// handle (`fstat`), and only then opened, through the handle, so that it cannot be swapped in
/// between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpecialFiles {
    /// FIFOs, sockets and device nodes are not opened: an error of kind
    /// [`SafetyViolation`](crate::ErrorKind::SafetyViolation) with errno `ENXIO` (the kernel's
    /// own answer for a special file that cannot be opened as asked, such as a socket), whose
    /// message names the type. The default.
    #[default]
    Refuse,
    /// They are opened, always with `O_NONBLOCK | O_NOCTTY`, so that the open itself never
    /// blocks (a FIFO without a peer: reading opens at once and reads end-of-file while there
    /// is no writer; writing fails with `ENXIO` while there is no reader) and a terminal never
    /// becomes the controlling one. Unless the caller asked for `O_NONBLOCK`, it is cleared
    /// again once the file is open, so reads and writes then behave as usual (they wait for a
    /// peer that is connected).
    Allow,
}

impl SpecialFiles {
    /// Checks a file of type `ft` against this setting, for callers that act on a file they
    /// looked at through a [`Handle`]. `Ok(true)`: a special file that is allowed (open it with
    /// `O_NONBLOCK | O_NOCTTY`); `Ok(false)`: a regular file, directory or symlink. A refused
    /// one is the `ENXIO` error described at [`SpecialFiles::Refuse`].
    pub fn check(self, ft: FileType) -> Result<bool> {
        match (special_refusal(ft, None), self) {
            (None, _) => Ok(false),
            (Some(_), SpecialFiles::Allow) => Ok(true),
            (Some(refusal), SpecialFiles::Refuse) => Err(refusal),
        }
    }
}

/// The error [`SpecialFiles::Refuse`] gives for a file of type `ft`, or `None` if `ft` is not a
/// special file. `entry` names the file inside a tree (a copy) where the operation's own path
/// is not enough to tell which one it was.
pub(crate) fn special_refusal(ft: FileType, entry: Option<&Path>) -> Option<Error> {
    if matches!(ft, FileType::File | FileType::Dir | FileType::Symlink) {
        return None;
    }
    let what = format!("a {}", ft.description());
    let entry = entry.map_or(String::new(), |p| format!("{p:?} is {what}; "));
    Some(Error::special_file(format!(
        "{entry}refusing {what}: FIFOs, sockets and device nodes are used only when allowed \
             (--special-files)"
    )))
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
    /// Wraps a resolution result in `root`. `input` and `trailing` (with the root's options)
    /// describe how the handle's object was reached, to compute its path later if the backend
    /// did not report it.
    #[inline(always)]
    pub(crate) fn new(resolved: Resolved, root: &Root, input: &[u8], trailing: Trailing) -> Self {
        let path = OnceLock::new();
        let origin = match resolved.path {
            Some(known) => {
                let _ = path.set(PathBuf::from(OsString::from_vec(known)));
                None
            }
            None => Some(Origin {
                root: Arc::clone(&root.fd),
                kept_root_path: Arc::clone(&root.kernel_path),
                input: InputPath::new(input),
                opts: root.resolve_opts(),
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
    /// held. A kernel-backend handle computes it on first use, as [`Root::eval_symlinks`]
    /// computes its answer (one service for both): the kernel's path of the handle's file,
    /// returned only if its names, opened again beneath the root without symlinks or `..`,
    /// reach this very file by (mount id, dev, ino); otherwise the same input is walked again in
    /// userspace, and the walk must arrive at the same inode. If a concurrent rename keeps
    /// moving it, this gives up with `EAGAIN` rather than return a path that names something
    /// else.
    ///
    /// [`Root::eval_symlinks`]: super::Root::eval_symlinks
    pub fn path_in_root(&self) -> Result<&Path> {
        if let Some(path) = self.path.get() {
            return Ok(path);
        }
        let origin = self.origin.as_ref().ok_or(Errno::INVAL)?;
        let query = PathInRoot {
            root: origin.root.as_fd(),
            kept_root_path: &origin.kept_root_path,
            input: origin.input.as_bytes(),
            opts: origin.opts,
            trailing: origin.trailing,
        };
        let path = match query.kernel_answer(self.fd.as_fd(), None, None) {
            Some(path) => path,
            None => query.walk(Some(self.fd.as_fd()))?,
        };
        Ok(self.path.get_or_init(|| path))
    }

    /// The file's metadata (`statx(fd, "", AT_EMPTY_PATH)`). For a handle that was not followed
    /// and is a symlink, this describes the symlink.
    pub fn metadata(&self) -> Result<Metadata> {
        metadata_of(self.fd.as_fd())
    }

    /// The file's type.
    pub fn file_type(&self) -> Result<FileType> {
        let st = rustix::fs::fstat(&self.fd).syscall("fstat")?;
        Ok(FileType::from_mode(st.st_mode))
    }

    /// Opens the handle's file for real (`O_RDONLY`, `O_WRONLY`, ...), through
    /// `/proc/thread-self/fd/N` on the hardened procfs handle, with its overmount checks.
    ///
    /// The file reopened is the one the handle pins, whatever has been renamed since. A symlink
    /// handle gives `ELOOP` (there is nothing to open but the link). `O_CREAT` and `O_TMPFILE`
    /// are `InvalidInput`. A FIFO, socket or device node is refused (`ENXIO`, see
    /// [`SpecialFiles::Refuse`]); use [`Handle::reopen_with`] to open one.
    pub fn reopen(&self, flags: OFlags) -> Result<File> {
        self.reopen_with(flags, SpecialFiles::Refuse)
    }

    /// [`Handle::reopen`], opening FIFOs, sockets and device nodes too if `special` is
    /// [`SpecialFiles::Allow`] (without blocking; see there). With `O_PATH` in `flags` the
    /// result is another `O_PATH` fd of the same file (same dev and inode) for every type,
    /// special files included: nothing is opened for contents.
    pub fn reopen_with(&self, flags: OFlags, special: SpecialFiles) -> Result<File> {
        reopen_fd(self.fd.as_fd(), flags, special)
    }

    /// Reads the target of the symlink this handle is (from [`Root::resolve_nofollow`]). Not a
    /// symlink: `EINVAL`, as with `readlink(2)`.
    ///
    /// [`Root::resolve_nofollow`]: super::Root::resolve_nofollow
    pub fn readlink(&self) -> Result<PathBuf> {
        readlink_fd(self.fd.as_fd())
    }

    /// Lists the directory this handle is. `.` and `..` are left out.
    pub fn read_dir(&self) -> Result<ReadDir> {
        let dir = rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .syscall("openat")?;
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
            Err(e) => Err(e.syscall("fstatat")),
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

/// Opens the file the `O_PATH` fd `fd` pins with `flags`: its type is checked first (a symlink
/// is `ELOOP`; FIFOs, sockets and devices go by `special`), then it is opened through
/// `/proc/thread-self/fd/N` on the hardened procfs and checked to be the same file on the same
/// mount. The one way every operation that reads or writes contents opens an entry of the root.
///
/// Public for callers that hold only the fd of a [`Handle`] (the C API's `procroot_reopen`).
pub fn reopen_fd(fd: BorrowedFd<'_>, flags: OFlags, special: SpecialFiles) -> Result<File> {
    let link = crate::procfs::fd_link_name(fd);
    let fail = |e: Error| e.context("reopen", Path::new(&link));
    if flags.contains(OFlags::CREATE) || flags.contains(OFlags::TMPFILE) {
        return Err(fail(Error::invalid_input(
            Errno::INVAL,
            "O_CREAT and O_TMPFILE make no sense when reopening",
        )));
    }
    // The type cannot change under us: the fd pins the inode, and the open below goes to that
    // inode, not to a name.
    let st = rustix::fs::fstat(fd).syscall("fstat").map_err(fail)?;
    let ft = FileType::from_mode(st.st_mode);
    if ft == FileType::Symlink {
        return Err(fail(Error::from_errno(Errno::LOOP)));
    }
    let is_special = special.check(ft).map_err(fail)?;
    // An O_PATH open touches no contents and never blocks, and an O_PATH fd takes no F_SETFL
    // (EBADF): nothing below is needed for it.
    let is_special = is_special && !flags.contains(OFlags::PATH);
    let open_flags = if is_special {
        flags | OFlags::NONBLOCK | OFlags::NOCTTY
    } else {
        flags
    };
    let procfs = Procfs::cached().map_err(fail)?;
    let file = procfs.open_follow(ProcBase::ThreadSelf, &link, open_flags)?;
    // open_follow re-checks the link after opening, but on an instance that is not
    // detached a mount can come and go in between. We know what the link must lead to: the
    // handle's own file, on the handle's own mount.
    let want = sys::mount_info_at(fd, "", AtFlags::EMPTY_PATH).map_err(|e| fail(e.into()))?;
    let got = sys::mount_info_at(&file, "", AtFlags::EMPTY_PATH).map_err(|e| fail(e.into()))?;
    if got.identity() != want.identity() {
        return Err(fail(Error::escape(
            "reopening through procfs reached another file (a mount raced with the open)",
        )));
    }
    if is_special && !flags.contains(OFlags::NONBLOCK) {
        // The open could not block; the reads and writes the caller asked for may.
        let now = rustix::fs::fcntl_getfl(&file)
            .syscall("fcntl")
            .map_err(fail)?;
        rustix::fs::fcntl_setfl(&file, now - OFlags::NONBLOCK)
            .syscall("fcntl")
            .map_err(fail)?;
    }
    Ok(file)
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
