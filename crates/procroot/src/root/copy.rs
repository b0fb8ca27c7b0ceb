//! Copying files and directory trees across the root boundary: [`Root::copy_in`] and
//! [`Root::copy_out`].
//!
//! Both directions share one engine that works only on directory fds: once the source's parent
//! and the destination's parent are held, every entry below them is reached with `*at` calls
//! relative to a held directory fd and `O_NOFOLLOW`, never through a joined path string. The
//! in-root side is found through the resolver, so a symlink inside the root (absolute or `..`)
//! can never make the copy read or write outside it.
//!
//! Nothing is half-written: the copy is built under a temporary name in the destination
//! directory and renamed into place with `RENAME_NOREPLACE` only when complete. On error the
//! temporary copy is removed again.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Dir, Mode, OFlags, RenameFlags, Stat, Timestamps};
use rustix::io::Errno;

use super::Root;
use crate::dir::FileType;
use crate::error::{Error, Result};
use crate::resolve::ResolveFlags;
use crate::sys;

/// How many temporary names are tried before giving up with `EEXIST`.
const TEMP_ATTEMPTS: u32 = 64;

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Root {
    /// Copies the file, symlink or directory tree at `host_path` (an ordinary path on the host)
    /// into the root at `in_root_path`, like `cp -a` without ownership.
    ///
    /// - If `in_root_path` resolves (inside the root, following symlinks there) to an existing
    ///   directory, the copy is made in it under the last name of `host_path`, like `cp -r`.
    ///   Otherwise the copy is made at `in_root_path` itself, whose parent must exist.
    /// - The final destination must not exist (`EEXIST`): nothing is overwritten or merged, and
    ///   a symlink at the destination is never followed.
    /// - Symlinks are copied as symlinks with their target verbatim, including a symlink at
    ///   `host_path` itself; they are never followed on the host. Directories are walked without
    ///   recursion; FIFOs, sockets and device nodes are recreated with `mknodat` (devices need
    ///   `CAP_MKNOD`).
    /// - Permission bits (with setuid, setgid and sticky) and access and modification times are
    ///   preserved; owners are not (the copy belongs to the caller). Special files get their
    ///   mode through `mknodat`, so the umask applies to them.
    /// - Atomic: the copy is built under a temporary name (`.procroot-copy-*`) in the
    ///   destination directory and renamed into place when complete; on error it is removed, so
    ///   a failed copy leaves nothing behind. (A process killed mid-copy leaves the temporary.)
    ///
    /// Hard links inside the tree become separate files. A copy of a directory into itself (the
    /// destination inside the source tree) skips the copy being made. `host_path` must end in a
    /// name (not `.`, `..` or `/`): `InvalidInput`. Each directory level being copied holds two
    /// fds open, so the depth of a tree is bounded by the fd limit (`RLIMIT_NOFILE` / 2).
    pub fn copy_in(
        &self,
        host_path: impl AsRef<Path>,
        in_root_path: impl AsRef<Path>,
    ) -> Result<()> {
        let host_path = host_path.as_ref();
        let in_root_path = in_root_path.as_ref();
        let op = "copy in";
        let host_fail = |e: Error| e.context(op, host_path);
        let (src_parent, src_name) = host_parent_and_name(host_path).map_err(host_fail)?;
        // The source must exist before anything is created in the root.
        rustix::fs::statat(&src_parent, &src_name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| host_fail(e.into()))?;
        let (dst_parent, dst_name) = self.destination_in_root(op, in_root_path, &src_name)?;
        // Everything created is ours and on the destination parent's mount: nothing to check.
        let same_mount = false;
        copy_entry(
            src_parent.as_fd(),
            &src_name,
            dst_parent.as_fd(),
            &dst_name,
            same_mount,
        )
        .map_err(|e| self.annotate_op(e, op, in_root_path))
    }

    /// Copies the file, symlink or directory tree at `in_root_path` (resolved inside the root)
    /// out to `host_path` (an ordinary path on the host), like `cp -a` without ownership.
    ///
    /// The same rules as [`Root::copy_in`], mirrored:
    /// - The directories leading to `in_root_path` are resolved inside the root; its last
    ///   component is not followed: a symlink there is copied as a symlink, target verbatim.
    ///   Nothing below it is ever followed either, so a symlink in the root cannot make the copy
    ///   read a host file.
    /// - If `host_path` is an existing directory (symlinks followed, as on the host), the copy
    ///   is made in it under the last name of `in_root_path`; otherwise at `host_path`, whose
    ///   parent must exist. The final destination must not exist (`EEXIST`).
    /// - Mode and times are preserved, the copy is built under a temporary name and renamed into
    ///   place, and a failed copy leaves nothing behind.
    /// - With [`ResolveFlags::NO_XDEV`], a file or directory in the tree that is on another
    ///   mount than its parent (something mounted inside the tree) is `EXDEV`.
    ///
    /// `in_root_path` must end in a name (not `.`, `..` or `/`): `InvalidInput`. To copy a whole
    /// root, copy its entries one by one.
    pub fn copy_out(
        &self,
        in_root_path: impl AsRef<Path>,
        host_path: impl AsRef<Path>,
    ) -> Result<()> {
        let in_root_path = in_root_path.as_ref();
        let host_path = host_path.as_ref();
        let op = "copy out";
        let (src_parent, src_name) = self.parent_and_name(op, in_root_path)?;
        rustix::fs::statat(&src_parent, &src_name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.annotate_op(e.into(), op, in_root_path))?;
        let (dst_parent, dst_name) =
            host_destination(host_path, &src_name).map_err(|e| e.context(op, host_path))?;
        // NO_XDEV holds for the tree being read too, not only for the path leading to it.
        let same_mount = self.opts.flags.contains(ResolveFlags::NO_XDEV);
        copy_entry(
            src_parent.as_fd(),
            &src_name,
            dst_parent.as_fd(),
            &dst_name,
            same_mount,
        )
        .map_err(|e| e.context(op, host_path))
    }

    /// Writes everything `contents` yields to a new file that then replaces `path` in one
    /// `rename(2)`: readers see the old file or the new one, never a half-written file, and a
    /// failure (or an error from `contents`) leaves `path` as it was and no temporary behind.
    /// Returns the number of bytes written.
    ///
    /// The parent is resolved inside the root; the last component is replaced, never followed:
    /// a symlink at `path` is itself replaced by the file. The new file gets exactly `mode` (the
    /// umask does not apply) and belongs to the caller; the old file's owner, mode, links and
    /// extended attributes are not carried over. An existing directory at `path` is `EISDIR`.
    /// The temporary (`.procroot-copy-*`, in the same directory) is only left behind if the
    /// process is killed mid-write. The data is not `fsync`ed.
    ///
    /// `mode` beyond `0o7777`, or a path that does not end in a name, is `InvalidInput`.
    pub fn replace_file(
        &self,
        path: impl AsRef<Path>,
        mode: u32,
        mut contents: impl std::io::Read,
    ) -> Result<u64> {
        let path = path.as_ref();
        let op = "write";
        let fail = |e: Error| self.annotate_op(e, op, path);
        if mode & !0o7777 != 0 {
            return Err(fail(Error::invalid_input(
                Errno::INVAL,
                format!("mode {mode:#o} has bits beyond 0o7777"),
            )));
        }
        let (parent, name) = self.parent_and_name(op, path)?;
        let (temp, file) = create_temp_file(parent.as_fd()).map_err(fail)?;
        let mut file = File::from(file);
        let written = std::io::copy(&mut contents, &mut file)
            .map_err(Error::from)
            .and_then(|n| {
                rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
                rustix::fs::renameat(&parent, &temp, &parent, &name)?;
                Ok(n)
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&parent, &temp, AtFlags::empty());
        }
        written.map_err(fail)
    }

    /// Where a copy lands inside the root: `(directory, name)`, the `cp -r` way. An existing
    /// directory at `path` (following symlinks inside the root) receives `src_name`; anything
    /// else means the copy is made at `path` itself.
    fn destination_in_root(
        &self,
        op: &'static str,
        path: &Path,
        src_name: &OsStr,
    ) -> Result<(OwnedFd, OsString)> {
        match self.resolve(path) {
            Ok(handle) if handle.file_type().ok() == Some(FileType::Dir) => {
                Ok((handle.into_fd(), src_name.to_owned()))
            }
            // An existing non-directory: let the final no-replace rename report EEXIST, after
            // checking the parent like any other destination.
            Ok(_) | Err(_) => {
                let (parent, name) = self.parent_and_name(op, path)?;
                Ok((parent.into_fd(), name))
            }
        }
    }
}

/// A host path's parent directory (opened `O_PATH`, following symlinks as the host does) and
/// its last name, which is not looked up.
fn host_parent_and_name(path: &Path) -> Result<(OwnedFd, OsString)> {
    let name = last_name(path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fd = rustix::fs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((fd, name))
}

/// Where a copy lands on the host, the `cp -r` way (see [`Root::copy_out`]).
fn host_destination(path: &Path, src_name: &OsStr) -> Result<(OwnedFd, OsString)> {
    match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => Ok((dir, src_name.to_owned())),
        Err(Errno::NOENT | Errno::NOTDIR) => host_parent_and_name(path),
        Err(e) => Err(e.into()),
    }
}

/// The last component of `path`, which must be a name.
fn last_name(path: &Path) -> Result<OsString> {
    let bytes = path.as_os_str().as_bytes();
    let trimmed = {
        let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        &bytes[..end]
    };
    let name = trimmed.rsplit(|&b| b == b'/').next().unwrap_or(b"");
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "the path must end in a name, not `.`, `..` or `/`",
        ));
    }
    Ok(OsStr::from_bytes(name).to_owned())
}

/// Copies `src_dir/src_name` to `dst_dir/dst_name`, atomically: built under a temporary name,
/// renamed into place without replacing anything, removed again on error.
fn copy_entry(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    same_mount: bool,
) -> Result<()> {
    let (temp, built) = build_temp(src_dir, src_name, dst_dir, same_mount);
    let result = built.and_then(|()| {
        rustix::fs::renameat_with(dst_dir, &temp, dst_dir, dst_name, RenameFlags::NOREPLACE)
            .map_err(Error::from)
    });
    if result.is_err() {
        remove_tree(dst_dir, &temp);
    }
    result
}

/// Creates a fresh temporary entry in `dst_dir` and copies the source into it. Returns the
/// temporary name (to rename or remove) and whether the copy worked.
fn build_temp(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    same_mount: bool,
) -> (OsString, Result<()>) {
    let mut last = Errno::EXIST;
    for _ in 0..TEMP_ATTEMPTS {
        let temp = temp_name();
        match copy_one(src_dir, src_name, dst_dir, &temp, same_mount) {
            // Someone else has this name: it is not ours to remove; try another.
            Err(CopyError::NameTaken) => last = Errno::EXIST,
            Err(CopyError::Failed(e)) => return (temp, Err(e)),
            Ok(()) => return (temp, Ok(())),
        }
    }
    (
        OsString::new(),
        Err(Error::with_detail(
            crate::ErrorKind::Os,
            last,
            "no free temporary name in the destination directory",
        )),
    )
}

/// Creates an empty, owner-only regular file under a fresh temporary name in `dir`.
fn create_temp_file(dir: BorrowedFd<'_>) -> Result<(OsString, OwnedFd)> {
    for _ in 0..TEMP_ATTEMPTS {
        let temp = temp_name();
        match rustix::fs::openat(
            dir,
            &temp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => return Ok((temp, fd)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::with_detail(
        crate::ErrorKind::Os,
        Errno::EXIST,
        "no free temporary name in the destination directory",
    ))
}

/// `.procroot-copy-<pid>-<counter>-<nanoseconds>`: unlikely to collide, and collisions are
/// detected (`O_EXCL`, `mkdirat`) anyway.
fn temp_name() -> OsString {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    OsString::from(format!(".procroot-copy-{}-{n}-{nanos}", std::process::id()))
}

/// Why copying one top-level entry failed.
enum CopyError {
    /// The destination name already existed before we created anything.
    NameTaken,
    /// Anything else; whatever was created under the name must be removed.
    Failed(Error),
}

impl From<Error> for CopyError {
    fn from(e: Error) -> Self {
        CopyError::Failed(e)
    }
}

impl From<Errno> for CopyError {
    fn from(e: Errno) -> Self {
        CopyError::Failed(e.into())
    }
}

/// A directory being copied: the source (open for reading entries) and the copy.
struct Frame {
    /// The source directory's entries; its fd is the base for opening them.
    src: Dir,
    /// The copy, open so that its metadata can be set by fd when it is complete.
    dst: OwnedFd,
    /// The source directory's metadata, applied to the copy at the end.
    stat: Stat,
}

/// What the walk over the source must watch for.
#[derive(Clone, Copy, Default)]
struct Walk {
    /// Refuse (`EXDEV`) a source file or directory on another mount than its parent directory:
    /// the root's `NO_XDEV`, applied to the tree being copied out.
    same_mount: bool,
    /// The `(st_dev, st_ino)` of the copy's top directory, skipped if the walk over the source
    /// meets it (copying a directory into itself would otherwise never end).
    skip: Option<(u64, u64)>,
}

/// Copies `src_dir/src_name` (not followed) to the new name `dst_dir/dst_name`, a directory
/// tree level by level with an explicit stack instead of recursion.
fn copy_one(
    src_dir: BorrowedFd<'_>,
    src_name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    same_mount: bool,
) -> std::result::Result<(), CopyError> {
    let mut walk = Walk {
        same_mount,
        skip: None,
    };
    let top = match create_copy(src_dir, src_name, dst_dir, dst_name, walk) {
        Err(CopyError::Failed(e)) if e.errno() == Errno::EXIST => return Err(CopyError::NameTaken),
        other => other?,
    };
    let Some(top) = top else {
        return Ok(());
    };
    let st = rustix::fs::fstat(&top.dst)?;
    walk.skip = Some((st.st_dev, st.st_ino));
    let mut stack = vec![top];
    while let Some(frame) = stack.last_mut() {
        match frame.src.read() {
            Some(entry) => {
                let entry = entry?;
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." {
                    continue;
                }
                let name = name.to_owned();
                let src_fd = frame.src.fd()?;
                if let Some(child) = create_copy(src_fd, &name, frame.dst.as_fd(), &name, walk)? {
                    stack.push(child);
                }
            }
            None => {
                // Complete: its mode and times go on last, since adding entries changes the
                // modification time and the mode may forbid writing.
                let Some(frame) = stack.pop() else { break };
                rustix::fs::fchmod(&frame.dst, mode_of(&frame.stat))?;
                rustix::fs::futimens(&frame.dst, &times_of(&frame.stat))?;
            }
        }
    }
    Ok(())
}

/// Creates the copy of one entry. A regular file, symlink or special file is copied completely;
/// a directory is created empty and returned as a [`Frame`] to fill.
fn create_copy(
    src_dir: BorrowedFd<'_>,
    name: &OsStr,
    dst_dir: BorrowedFd<'_>,
    dst_name: &OsStr,
    walk: Walk,
) -> std::result::Result<Option<Frame>, CopyError> {
    let st = rustix::fs::statat(src_dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if walk.skip == Some((st.st_dev, st.st_ino)) {
        return Ok(None);
    }
    // Only what is opened can be a mount point we would read through.
    let check_mount = |opened: &OwnedFd| -> Result<()> {
        if walk.same_mount && sys::mount_id(opened)? != sys::mount_id(src_dir)? {
            return Err(Error::with_detail(
                crate::ErrorKind::SafetyViolation,
                Errno::XDEV,
                "the tree being copied crosses a mount point (NO_XDEV)",
            ));
        }
        Ok(())
    };
    match FileType::from_mode(st.st_mode) {
        FileType::Dir => {
            let src = rustix::fs::openat(
                src_dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            check_mount(&src)?;
            let stat = rustix::fs::fstat(&src)?;
            // Owner-only while it is filled: nobody else can add to it, and a read-only source
            // mode does not stop us from filling it.
            rustix::fs::mkdirat(dst_dir, dst_name, Mode::RWXU)?;
            let dst = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(Some(Frame {
                src: Dir::new(src)?,
                dst,
                stat,
            }))
        }
        FileType::File => {
            // O_NONBLOCK: if the entry was swapped for a FIFO, opening must not hang.
            let src = rustix::fs::openat(
                src_dir,
                name,
                OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            check_mount(&src)?;
            let stat = rustix::fs::fstat(&src)?;
            if FileType::from_mode(stat.st_mode) != FileType::File {
                return Err(Error::with_detail(
                    crate::ErrorKind::Os,
                    Errno::AGAIN,
                    "a file was replaced during the copy",
                )
                .into());
            }
            let dst = rustix::fs::openat(
                dst_dir,
                dst_name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::RUSR | Mode::WUSR,
            )?;
            let mut src = File::from(src);
            let mut dst = File::from(dst);
            std::io::copy(&mut src, &mut dst).map_err(Error::from)?;
            rustix::fs::fchmod(&dst, mode_of(&stat))?;
            rustix::fs::futimens(&dst, &times_of(&stat))?;
            Ok(None)
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src_dir, name, Vec::new())?;
            rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name)?;
            rustix::fs::utimensat(dst_dir, dst_name, &times_of(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(None)
        }
        _ => {
            rustix::fs::mknodat(
                dst_dir,
                dst_name,
                rustix::fs::FileType::from_raw_mode(st.st_mode),
                mode_of(&st),
                st.st_rdev,
            )?;
            rustix::fs::utimensat(dst_dir, dst_name, &times_of(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(None)
        }
    }
}

/// The permission bits of `st`, with setuid, setgid and sticky.
fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

/// The access and modification times of `st`.
fn times_of(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Removes the temporary entry `dir/name` and everything below it, without recursion and
/// without following symlinks. Best effort: this runs on the error path, after the error that
/// matters; what cannot be removed stays.
fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) {
    if name.is_empty() {
        return;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Err(Errno::ISDIR | Errno::PERM) => {}
        _ => return,
    }
    let Some(top) = open_for_removal(dir, name) else {
        return;
    };
    // Each directory being emptied, with its name in the directory below it on the stack.
    let mut stack: Vec<(Dir, OsString)> = vec![(top, name.to_owned())];
    loop {
        let Some((current, _)) = stack.last_mut() else {
            return;
        };
        let next = current.read();
        let Ok(fd) = current.fd() else {
            return;
        };
        match next {
            Some(Ok(entry)) => {
                let child = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
                if child == "." || child == ".." {
                    continue;
                }
                if rustix::fs::unlinkat(fd, &child, AtFlags::empty()).is_ok() {
                    continue;
                }
                // A directory (or something we cannot remove: then removing its parent fails
                // too, and that is all).
                if let Some(sub) = open_for_removal(fd, &child) {
                    stack.push((sub, child));
                }
            }
            Some(Err(_)) | None => {
                let Some((_, done)) = stack.pop() else {
                    return;
                };
                let parent = stack.last().and_then(|(d, _)| d.fd().ok()).unwrap_or(dir);
                let _ = rustix::fs::unlinkat(parent, &done, AtFlags::REMOVEDIR);
            }
        }
    }
}

/// Opens the directory `parent/name` (not following a symlink) to empty it, making it writable
/// first: a completed subdirectory of the copy already has its final, maybe read-only, mode.
fn open_for_removal(parent: BorrowedFd<'_>, name: &OsStr) -> Option<Dir> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let _ = rustix::fs::fchmod(&fd, Mode::RWXU);
    Dir::new(fd).ok()
}
