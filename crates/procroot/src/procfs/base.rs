//! Where a procfs lookup starts: [`ProcBase`], and [`PidFd`] for PID-reuse-safe bases.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use rustix::io::Errno;

use super::Procfs;
use crate::error::{Error, ErrorKind, Result};
use crate::resolve::path::components;
use crate::resolve::Trailing;
use crate::sys;

/// The directory inside a procfs that a subpath is relative to.
#[derive(Clone, Copy, Debug)]
pub enum ProcBase<'a> {
    /// The procfs root (`/proc`).
    Root,
    /// This process (`/proc/self`).
    SelfProcess,
    /// This thread (`/proc/thread-self`): the right base for `fd/N` and `attr/*`, which are
    /// per-thread.
    ThreadSelf,
    /// A process by PID (`/proc/<pid>`). The PID may be reused by another process between the
    /// moment it was chosen and the lookup; use [`ProcBase::PidFd`] when that matters.
    Pid(u32),
    /// A process by pidfd. After `/proc/<pid>` is opened, the pidfd is asked whether its process
    /// is still alive: if it is, the directory cannot belong to a newer process with the same
    /// PID; if it is not, the lookup fails with `ESRCH` rather than risk another process's
    /// files. The PID is the one in the caller's PID namespace, so this base is for an instance
    /// of the caller's namespace, not one made by [`Procfs::for_pidns`].
    PidFd(&'a PidFd),
}

impl ProcBase<'_> {
    /// The directory name under the procfs root, for bases that need no extra check.
    pub(super) fn prefix(&self) -> Option<Cow<'static, str>> {
        match self {
            ProcBase::Root => Some(Cow::Borrowed("")),
            ProcBase::SelfProcess => Some(Cow::Borrowed("self")),
            ProcBase::ThreadSelf => Some(Cow::Borrowed("thread-self")),
            ProcBase::Pid(pid) => Some(Cow::Owned(pid.to_string())),
            ProcBase::PidFd(_) => None,
        }
    }

    /// How `subpath` under this base appears in messages: `self/status`, `1234/root`.
    pub(super) fn display(&self, subpath: &Path) -> PathBuf {
        let prefix = match self {
            ProcBase::PidFd(pidfd) => pidfd.pid.to_string(),
            other => other.prefix().unwrap_or_default().into_owned(),
        };
        if prefix.is_empty() {
            subpath.to_path_buf()
        } else {
            Path::new(&prefix).join(subpath)
        }
    }
}

/// Checks a procfs subpath: relative, and without `..` (a procfs lookup never needs to climb,
/// and refusing it up front keeps every lookup strictly beneath its base).
pub(super) fn check_subpath(subpath: &Path) -> Result<&[u8]> {
    let bytes = subpath.as_os_str().as_bytes();
    if bytes.first() == Some(&b'/') {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "procfs subpaths are relative to their base",
        ));
    }
    if components(bytes).any(|c| c.name == b"..") {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "`..` is not allowed in a procfs subpath",
        ));
    }
    Ok(bytes)
}

/// `prefix/subpath`, or just one of them if the other is empty.
pub(super) fn join(prefix: &str, subpath: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(prefix.len() + 1 + subpath.len());
    path.extend_from_slice(prefix.as_bytes());
    // `self/` even for an empty subpath: the trailing slash makes `self` the directory it
    // points to, also when the last component is not followed.
    if !prefix.is_empty() {
        path.push(b'/');
    }
    path.extend_from_slice(subpath);
    if path.is_empty() {
        path.push(b'.');
    }
    path
}

/// A pidfd with the PID it was opened for.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: u32,
}

impl PidFd {
    /// `pidfd_open(pid, 0)`. A process that does not exist is `ESRCH`.
    ///
    /// `pid` may also be the id of a thread that is not its process's leader (the id in
    /// `/proc/<tid>`, which procfs serves though it does not list it): plain `pidfd_open`
    /// refuses those (`ENOENT` since Linux 6.9, `EINVAL` before), and they are opened with
    /// `PIDFD_THREAD` (Linux 6.9). The pidfd then stands for that thread: its `/proc/<tid>`
    /// directory, alive while the thread runs.
    ///
    /// Every other refusal names its real cause: `ENOSYS` a kernel before 5.3
    /// ([`ErrorKind::NotSupported`]); `EMFILE`/`ENFILE` no file descriptor left (this process's
    /// `RLIMIT_NOFILE`, or the system's limit); anything else (often `EPERM`) a seccomp filter
    /// or security module. Without a pidfd procroot cannot address a process safely against
    /// PID reuse, and it does not try to.
    pub fn open(pid: u32) -> Result<PidFd> {
        let shown = PathBuf::from(pid.to_string());
        let fd = match sys::process::pidfd_open(pid) {
            // A thread id that is not a leader: ENOENT on 6.9+, EINVAL on older kernels (which
            // also answer EINVAL for PIDFD_THREAD itself, so the retry reports that).
            Err(Errno::NOENT | Errno::INVAL) if pid != 0 && pid <= i32::MAX as u32 => {
                sys::process::pidfd_open_thread(pid)
            }
            other => other,
        }
        .map_err(|e| Self::open_error(pid, e).context("open pidfd", &shown))?;
        Ok(PidFd { fd, pid })
    }

    /// The error of a `pidfd_open` that failed with `e` (see [`PidFd::open`]).
    fn open_error(pid: u32, e: Errno) -> Error {
        let cause = match e {
            Errno::INVAL if pid == 0 || pid > i32::MAX as u32 => {
                return Error::invalid_input(
                    Errno::INVAL,
                    format!("{pid} is not a valid process id"),
                )
            }
            // A valid number, refused also with PIDFD_THREAD: a kernel before 6.9, which knows
            // neither threads here nor the flag.
            Errno::INVAL => {
                return Error::invalid_input(
                    Errno::INVAL,
                    format!(
                        "{pid} names no process that pidfd_open(2) accepts (a thread that is \
                         not its process's leader needs Linux 6.9, for PIDFD_THREAD)"
                    ),
                )
            }
            Errno::SRCH => return Error::from_errno(Errno::SRCH),
            // Only after the PIDFD_THREAD retry, which should not give it: say what ENOENT
            // means to pidfd_open rather than "no such file".
            Errno::NOENT => {
                "the id names a thread that is not its process's leader, and PIDFD_THREAD did \
                 not open it either"
            }
            Errno::NOSYS => "the kernel has no pidfd_open(2) (it came in Linux 5.3)",
            Errno::MFILE => {
                "this process has no file descriptor left (its RLIMIT_NOFILE is reached: \
                 close some, or raise `ulimit -n`)"
            }
            Errno::NFILE => "the system has no file descriptor left (fs.file-max is reached)",
            Errno::NOMEM => "the kernel is out of memory",
            // pidfd_open has no permission check of its own: anything else is a filter
            // refusing it.
            _ => "refused by a seccomp filter or a security module",
        };
        Error::with_detail(
            match e {
                Errno::NOSYS => ErrorKind::NotSupported,
                _ => ErrorKind::Os,
            },
            e,
            format!(
                "pidfd_open(2) failed ({}): {cause}; procroot needs a pidfd to address a process \
                 safely against PID reuse",
                sys::errno_name(e)
            ),
        )
    }

    /// The PID, in the caller's PID namespace.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process still exists. A zombie counts while procroot may signal the process
    /// (it cannot be reused until reaped); for an unprivileged caller asking about another
    /// user's process, a zombie counts as exited (see `pidfd_is_alive` in the syscall layer). If
    /// liveness cannot be determined at all, this says `true`: it is never a reason to report
    /// a live process as exited, and [`ProcBase::PidFd`] lookups refuse such a process anyway.
    pub fn is_alive(&self) -> bool {
        sys::process::pidfd_is_alive(&self.fd).unwrap_or(true)
    }

    /// The liveness check of every lookup: `Ok` if the process still holds its PID, `ESRCH` if
    /// it is gone, and an error naming the problem if that could not be determined (never
    /// "exited" for a process that may be alive).
    fn check_alive(&self) -> Result<()> {
        match sys::process::pidfd_is_alive(&self.fd) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.gone()),
            Err(e) => Err(Error::with_detail(
                ErrorKind::Os,
                e,
                format!(
                    "cannot tell whether process {} is still alive: pidfd_send_signal(2) and \
                     poll(2) on its pidfd both failed ({})",
                    self.pid,
                    sys::errno_name(e)
                ),
            )),
        }
    }

    /// Opens the process's directory in `procfs` and checks that it is this process's.
    pub(super) fn open_dir(&self, procfs: &Procfs) -> Result<OwnedFd> {
        let pid = self.pid_in(procfs)?;
        let dir = procfs
            .resolve_beneath(
                procfs.as_fd(),
                pid.to_string().as_bytes(),
                Trailing::Follow,
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .map_err(|e| match e.errno() {
                // Missing from procfs: either gone, or hidden from us by hidepid=ptraceable (the
                // masked instance), which only shows processes the caller may ptrace.
                Errno::NOENT => match self.check_alive() {
                    Ok(()) => Error::with_detail(
                        ErrorKind::Os,
                        Errno::ACCESS,
                        format!(
                            "process {} is not visible: procroot may not inspect it (ptrace \
                             access)",
                            self.pid
                        ),
                    ),
                    Err(e) => e,
                },
                _ => e,
            })?;
        // Alive now means alive when the directory was opened: a PID is only reused after its
        // process is gone, so the directory is this process's.
        self.check_alive()?;
        Ok(dir)
    }

    /// The process's PID as `procfs` numbers it, which differs from [`PidFd::pid`] when the
    /// instance belongs to another PID namespace. The kernel prints a pidfd's `fdinfo` in the
    /// PID namespace of the procfs it is read through, so our own `fdinfo/<pidfd>`, read through
    /// `procfs`, translates.
    fn pid_in(&self, procfs: &Procfs) -> Result<u32> {
        let fdinfo = format!("fdinfo/{}", self.fd.as_raw_fd());
        let text = procfs
            .lookup_bytes(
                ProcBase::ThreadSelf,
                fdinfo.as_bytes(),
                Trailing::Follow,
                OFlags::RDONLY,
            )
            .and_then(|fd| {
                let mut text = String::new();
                std::fs::File::from(fd).read_to_string(&mut text)?;
                Ok(text)
            })
            .map_err(|e| match e.errno() {
                Errno::NOENT => Error::invalid_input(
                    Errno::INVAL,
                    "a PidFd base needs a procfs of this process's PID namespace or an ancestor \
                     of it (this process is not in that instance)",
                ),
                _ => e,
            })?;
        let nr = text
            .lines()
            .find_map(|line| line.strip_prefix("Pid:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| Error::from_errno(Errno::NOSYS))?;
        match u32::try_from(nr) {
            Ok(nr) if nr > 0 => Ok(nr),
            // -1: exited; 0: not in the instance's PID namespace.
            _ => {
                self.check_alive()?;
                Err(Error::with_detail(
                    ErrorKind::NotFound,
                    Errno::SRCH,
                    format!(
                        "process {} is not in this procfs instance's PID namespace",
                        self.pid
                    ),
                ))
            }
        }
    }

    fn gone(&self) -> Error {
        Error::with_detail(
            ErrorKind::NotFound,
            Errno::SRCH,
            format!(
                "process {} has exited; its PID may already belong to another process",
                self.pid
            ),
        )
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
