//! `touch(1)` inside a [`Root`]: [`Root::touch`] and [`Root::touch_nofollow`].
//!
//! "Set the times, creating the file if it is missing" is usually `open(O_CREAT)` then
//! `futimens`. Inside a root that open is an attack surface: whoever controls the root decides
//! what is at the name, and `open(2)` of a FIFO blocks until someone opens its other end (a
//! `touch` that hangs forever), of a device node it reaches the host's device. So nothing that
//! exists is ever opened here: an existing entry's times are set through its `O_PATH` handle
//! (after its type is checked against the root's [`SpecialFiles`](super::SpecialFiles)
//! setting), and a missing one is created with `O_EXCL`, which can only ever create a new
//! regular file. If something appears at the name between the look and the create (`EEXIST`),
//! we go round again and find it, rather than open it.

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::OFlags;
use rustix::io::Errno;

use super::Root;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::FileType;

/// The mode a missing file is created with, before the umask (as `touch(1)`).
const TOUCH_MODE: u32 = 0o666;
/// How often [`Root::touch`] goes round when the name keeps appearing (`EEXIST` from the
/// exclusive create) and disappearing (`ENOENT` from the look) under it.
const TOUCH_RETRIES: usize = 16;

impl Root {
    /// Sets the access and modification times of `path` to now, creating it as an empty regular
    /// file (mode `0o666` minus the umask) if it does not exist, like `touch(1)`. A trailing
    /// symlink is followed, inside the root.
    ///
    /// Nothing that exists at `path` is ever opened (see the module docs): its times are set
    /// through an `O_PATH` handle ([`Handle::set_times`](super::Handle::set_times)), and a
    /// missing file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` relative to its resolved
    /// parent ([`Root::create_file`]), so a FIFO that appears at the name at any moment can
    /// neither block this call nor be opened by it.
    ///
    /// - A FIFO, socket or device node at `path` is refused (`ENXIO`,
    ///   [`ErrorKind::SafetyViolation`], the type named) unless the root allows special files
    ///   ([`Root::with_special_files`]); then its times are set, still without opening it.
    /// - A dangling symlink at `path` is never followed to create its target: `ELOOP`, as
    ///   `open(O_CREAT | O_NOFOLLOW)` answers.
    /// - A missing parent is `ENOENT`; a path ending in `/` that does not exist is `EISDIR`.
    /// - If the name keeps appearing and disappearing while this call looks and creates (16
    ///   rounds), the answer is `EAGAIN`, never a blocking open.
    /// - An existing file must pass the second check ([`Root::with_second_check`]): one that is
    ///   not inside the root is refused with `EACCES`, its times unchanged (Landlock does not
    ///   mediate `utimensat`).
    ///
    /// Errors carry the operation `touch`.
    pub fn touch(&self, path: impl AsRef<Path>) -> Result<()> {
        self.touch_impl(path.as_ref(), false)
    }

    /// [`Root::touch`] without following a trailing symlink: an existing symlink's own times
    /// are set (as `touch -h`); a missing name is still created.
    pub fn touch_nofollow(&self, path: impl AsRef<Path>) -> Result<()> {
        self.touch_impl(path.as_ref(), true)
    }

    fn touch_impl(&self, path: &Path, nofollow: bool) -> Result<()> {
        const OP: &str = "touch";
        let fail = |e: Error| self.annotate_op(e, OP, path);
        let now = SystemTime::now();
        for _ in 0..TOUCH_RETRIES {
            let found = if nofollow {
                self.resolve_nofollow(path)
            } else {
                self.resolve(path)
            };
            match found {
                Ok(handle) => {
                    // The handle pins the inode: the type checked is the type of what the times
                    // are set on.
                    self.special
                        .check(handle.file_type().map_err(fail)?)
                        .map_err(fail)?;
                    // Landlock does not mediate utimensat: the second check stands in for it.
                    self.check_inside(handle.as_fd()).map_err(fail)?;
                    return handle.set_times(Some(now), Some(now)).map_err(fail);
                }
                Err(e) if e.errno() == Errno::NOENT => {}
                Err(e) => return Err(fail(e)),
            }
            // O_EXCL: never opens what is there, so the root's special-file setting is moot.
            match self.create_file(path, OFlags::RDONLY | OFlags::EXCL, TOUCH_MODE) {
                Ok(file) => {
                    let times = std::fs::FileTimes::new()
                        .set_accessed(now)
                        .set_modified(now);
                    return file.set_times(times).map_err(|e| fail(e.into()));
                }
                Err(e) if e.errno() == Errno::EXIST => {
                    // Something appeared, or a dangling symlink is there: its target is never
                    // created (ELOOP, as open(O_CREAT | O_NOFOLLOW) says).
                    if !nofollow && self.is_dangling_symlink(path) {
                        return Err(fail(Error::from_errno(Errno::LOOP)));
                    }
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Err(fail(Error::with_detail(
            ErrorKind::Os,
            Errno::AGAIN,
            "something kept appearing and disappearing at the name",
        )))
    }

    /// Whether `path`'s last component is a symlink whose target does not exist (inside the
    /// root).
    fn is_dangling_symlink(&self, path: &Path) -> bool {
        self.resolve_nofollow(path)
            .and_then(|h| h.file_type())
            .is_ok_and(|t| t == FileType::Symlink)
            && self.resolve(path).is_err_and(|e| e.errno() == Errno::NOENT)
    }
}
