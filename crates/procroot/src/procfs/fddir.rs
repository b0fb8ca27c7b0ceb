//! This thread's fd table on the hardened procfs (`thread-self/fd`), kept open per thread so that
//! the kernel's path of one of our fds (the target of the magic link `fd/N`, the kernel's
//! `d_path`) costs one `readlinkat`, and so that every user of `fd/N` names it the same way.
//!
//! Why per thread, and why these checks:
//! - `self/fd` is the fd table of the thread-group leader, which is *not* ours in a thread that
//!   unshared its table (`unshare(CLONE_FILES)`), and is gone once the leader has exited
//!   (`pthread_exit` in `main`). `thread-self/fd` is the calling thread's own table, looked up
//!   afresh by the kernel at every access, so it stays right whatever the thread does with its
//!   table later. The price is one `O_PATH` fd per thread that uses it (dropped with the thread).
//! - A forked child inherits the parent's fd and thread-locals, and that directory shows the
//!   *parent's* table: the cache remembers the tid it was opened by and the fork generation
//!   ([`sys::process::fork_generation`], bumped by a `pthread_atfork` child handler), and is
//!   reopened when either differs (the tid alone is not enough: PID 1 of a namespace forking into
//!   a new PID namespace has a child that is tid 1 too). A thread that exits leaves a directory
//!   whose lookups fail with `ENOENT`; [`FdDir::readlink`] then forgets it.
//! - It is only cached for a detached instance ([`Acquisition::is_detached`]): nobody else can
//!   see it, so nobody can mount on `fd/N`, and a plain `readlinkat` needs none of the overmount
//!   checks of [`Procfs::readlink`]. On a `/proc` others can mount on, callers get `None` and do
//!   without (see [`FdDir::current`]).
//! - The instance is verified when the directory is looked up in it, not before every read
//!   (the `fstat` would cost a quarter of what it guards). Its fd number closed and reused
//!   behind its back by other code is beyond what it can defend; a read through a wrong
//!   directory fails, or gives a string [`Root::eval_symlinks`](crate::Root::eval_symlinks)
//!   only uses as a candidate it verifies.
//!
//! [`Acquisition::is_detached`]: super::Acquisition::is_detached

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::thread::Pid;

use super::{ProcBase, Procfs};
use crate::error::Result;
use crate::resolve::Trailing;
use crate::sys;

/// `thread-self/fd` of the process-wide instance ([`Procfs::cached`]), opened by one thread.
pub(crate) struct FdDir {
    procfs: Arc<Procfs>,
    /// Who opened it: the thread, and the fork generation of its process.
    owner: Owner,
    dir: OwnedFd,
}

/// A thread of one process: its tid and the process's fork generation.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Owner {
    tid: Pid,
    generation: u64,
}

/// What a thread kept: nothing yet, its directory, or the fact that there is no detached
/// instance to read it from (so that the walk answers without a new acquisition attempt on
/// every call: [`Procfs::cached`] makes a fresh instance each time it can only open `/proc`).
/// Either is only valid for the thread that found it, in the process that found it.
enum Kept {
    Nothing,
    Dir(Rc<FdDir>),
    Unavailable(Owner),
}

thread_local! {
    static FD_DIR: RefCell<Kept> = const { RefCell::new(Kept::Nothing) };
}

impl Procfs {
    /// Opens `thread-self/fd` of this instance (the calling thread's fd table) with the procfs
    /// lookup rules. The one way the library opens that directory: [`FdDir`] keeps the result
    /// per thread, and [`Procfs::fd_link`] uses it.
    pub(super) fn open_fd_dir(&self) -> Result<OwnedFd> {
        self.lookup(
            ProcBase::ThreadSelf,
            Path::new("fd"),
            Trailing::Follow,
            OFlags::PATH | OFlags::DIRECTORY,
        )
    }
}

impl FdDir {
    /// This thread's directory on the process-wide instance, opened on first use. `Ok(None)`
    /// when that instance is not detached ([`Acquisition::PlainOpen`]: a `/proc` others can
    /// mount on, where a bare `readlinkat` of `fd/N` could read a link mounted over it), when
    /// there is no procfs at all, and while the thread's thread-locals are being destroyed.
    /// A thread that found no detached instance does not look again (a forked child does):
    /// callers then do without, as they must anyway.
    ///
    /// [`Acquisition::PlainOpen`]: super::Acquisition::PlainOpen
    pub(crate) fn current() -> Result<Option<Rc<FdDir>>> {
        // Forks that cannot be seen: keep nothing (callers do without, as they must anyway).
        let Some(generation) = sys::process::fork_generation() else {
            return Ok(None);
        };
        let me = Owner {
            tid: rustix::thread::gettid(),
            generation,
        };
        let kept = FD_DIR.try_with(|slot| match &*slot.borrow() {
            Kept::Dir(dir) => Some(Some(Rc::clone(dir))),
            Kept::Unavailable(when) if *when == me => Some(None),
            _ => None,
        });
        let Ok(kept) = kept else {
            return Ok(None);
        };
        match kept {
            // `is_allowed`: the instance is the one `Procfs::cached` still hands out (it is
            // replaced only when its acquisition method was disabled since).
            Some(Some(dir)) if dir.owner == me && dir.procfs.acquisition.is_allowed() => {
                return Ok(Some(dir))
            }
            Some(None) => return Ok(None),
            _ => {}
        }
        let found = match Procfs::cached() {
            Ok(procfs) if procfs.acquisition.is_detached() => {
                let dir = procfs.open_fd_dir()?;
                Kept::Dir(Rc::new(FdDir {
                    procfs,
                    owner: me,
                    dir,
                }))
            }
            _ => Kept::Unavailable(me),
        };
        let dir = match &found {
            Kept::Dir(dir) => Some(Rc::clone(dir)),
            _ => None,
        };
        let _ = FD_DIR.try_with(|slot| *slot.borrow_mut() = found);
        Ok(dir)
    }

    /// Whether this directory is on the instance `procfs`.
    pub(super) fn is_on(&self, procfs: &Procfs) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.procfs), procfs)
    }

    /// The kernel's path of our own `fd` (`readlinkat(dir, "N")`), read into `buf`: one syscall.
    ///
    /// It is whatever the kernel prints, unchecked: `/a/b` (relative to this thread's root, or
    /// to the root of the mount namespace or detached mount the file is in, which `d_path`
    /// does not mark), `/a/b (deleted)`, `anon_inode:[eventfd]`, `pipe:[123]`. A path that fills
    /// `buf` is `ENAMETOOLONG` (it may have been cut).
    pub(crate) fn readlink<'b>(
        &self,
        fd: BorrowedFd<'_>,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> std::result::Result<&'b [u8], Errno> {
        let mut name = [0u8; 12];
        let name = fd_number(fd.as_raw_fd().unsigned_abs(), &mut name);
        match rustix::fs::readlinkat_raw(&self.dir, name, &mut *buf) {
            Ok((read, rest)) if !rest.is_empty() => Ok(read),
            Ok(_) => Err(Errno::NAMETOOLONG),
            Err(errno) => {
                if errno == Errno::NOENT {
                    // The fd is not open in this table, or the directory belongs to a thread
                    // that is gone: open it afresh next time.
                    let _ = FD_DIR.try_with(|slot| {
                        let mut slot = slot.borrow_mut();
                        if matches!(&*slot, Kept::Dir(d) if std::ptr::eq(&**d, self)) {
                            *slot = Kept::Nothing;
                        }
                    });
                }
                Err(errno)
            }
        }
    }
}

impl AsFd for FdDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

/// The fd number `n` as a NUL-terminated decimal name in `buf`, without allocating.
fn fd_number(mut n: u32, buf: &mut [u8; 12]) -> &std::ffi::CStr {
    let mut start = buf.len() - 1; // buf[11] stays the NUL
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::ffi::CStr::from_bytes_with_nul(&buf[start..]).expect("digits and one NUL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_numbers() {
        for n in [0, 7, 10, 12345, u32::MAX] {
            let mut buf = [0u8; 12];
            assert_eq!(fd_number(n, &mut buf).to_bytes(), n.to_string().as_bytes());
        }
    }
}
