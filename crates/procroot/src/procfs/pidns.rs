//! procfs for a chosen PID namespace.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;

use super::{new_instance, Acquisition, ProcBase, Procfs};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::sys::features::{self, Feature};
use crate::sys::process::{self, HelperError, HelperStep, CLONE_NEWPID};
use crate::sys::Syscall as _;
use crate::sys::SyscallErrno as _;

/// `NSFS_MAGIC` (`include/uapi/linux/magic.h`): the file system of `/proc/<pid>/ns/*`.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Opens the PID namespace file at `path` (`/proc/<pid>/ns/pid`, or a bind mount of one) for
/// [`Procfs::for_pidns`] and `mount_procfs`, never opening anything else: the path is opened
/// `O_PATH` (which runs no open handler: a FIFO does not block, a device node is not touched),
/// checked to be on nsfs, then reopened read-only through the hardened procfs's
/// `/proc/thread-self/fd/N` (the same inode, whatever the path names by then) and checked to be
/// a PID namespace (`NS_GET_NSTYPE`).
///
/// Errors: `InvalidInput` (`EINVAL`) "not a PID namespace file", naming what it is (a FIFO, a
/// directory, a regular file, another kind of namespace); the path's own errno if it cannot
/// be opened.
pub fn open_pid_namespace(path: &Path) -> Result<std::fs::File> {
    let fail = |e: Error| e.context("open PID namespace", path);
    let not_pidns = |what: &str| {
        fail(Error::invalid_input(
            Errno::INVAL,
            format!("not a PID namespace file (expected /proc/<pid>/ns/pid): {what}"),
        ))
    };
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .syscall("open")
        .map_err(fail)?;
    let st = rustix::fs::fstat(&fd).syscall("fstat").map_err(fail)?;
    let kind = crate::fs::FileType::from_mode(st.st_mode);
    if kind != crate::fs::FileType::File {
        return Err(not_pidns(&format!("it is a {}", kind.description())));
    }
    let fs = rustix::fs::fstatfs(&fd).syscall("fstatfs").map_err(fail)?;
    #[allow(clippy::useless_conversion)] // f_type's width differs between architectures.
    let f_type = i64::from(fs.f_type);
    if f_type != NSFS_MAGIC {
        return Err(not_pidns(
            "it is a regular file, not a namespace file (nsfs)",
        ));
    }
    let procfs = Procfs::cached().map_err(fail)?;
    let file = procfs.open_follow(
        ProcBase::ThreadSelf,
        super::fd_link_name(fd.as_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC,
    )?;
    let again = sys::FileId::of(&file).syscall("fstat").map_err(fail)?;
    if again != sys::FileId::from_stat(&st) {
        return Err(fail(Error::escape(
            "reopening the namespace file through procfs reached another file",
        )));
    }
    match process::namespace_type(&file) {
        Ok(CLONE_NEWPID) => Ok(file),
        Ok(_) => Err(not_pidns("it is another kind of namespace")),
        Err(e) => Err(fail(e.syscall("ioctl"))),
    }
}

impl Procfs {
    /// A new, unmasked procfs instance for the PID namespace `nsfd` (an fd of
    /// `/proc/<pid>/ns/pid`, or a pidfd is *not* accepted): process 1 of that namespace appears
    /// as `1`, and `self` is absent unless the caller is in it.
    ///
    /// Fallback chain:
    /// 1. the `pidns=` mount option (`fsconfig(FSCONFIG_SET_FD)`, Linux 6.18);
    /// 2. a short-lived helper: a child joins the namespace (`setns`), and its child (the first
    ///    process in the namespace) makes the instance and sends the fd back over `SCM_RIGHTS`:
    ///    - with `fsopen("proc")` + `fsmount` (Linux 5.2);
    ///    - where `fsopen` is unavailable (`ENOSYS`, or `EPERM` from a seccomp filter), with
    ///      `mount(2)`: it unshares a private mount namespace of its own, mounts procfs on `/proc`
    ///      there (`nosuid,nodev,noexec`), opens it and checks that `self` is itself. Nobody
    ///      else can see or mount on that mount, and once the helper exits its namespace is gone
    ///      and the instance is as detached as an `fsmount` one.
    ///
    /// **The helper is a copy of the caller.** It makes itself non-dumpable before it joins the
    /// namespace, so a process in the namespace without `CAP_SYS_PTRACE` over the caller's user
    /// namespace cannot open its `/proc/<pid>/exe` or ptrace it (`EACCES`). But while it lives,
    /// that `exe` is the caller's binary: a caller that runs from the on-disk file and shares
    /// the namespace with untrusted processes that hold `CAP_SYS_PTRACE` should run from a
    /// sealed copy first (`procroot_runtime::exec::sealed_exe::ensure`, CVE-2019-5736), as the
    /// `procroot` command does for `proc --pidns` and `mount-proc`.
    ///
    /// Errors: `EINVAL`/`InvalidInput` for an fd that is not a PID namespace; `EINVAL` for a
    /// namespace that is neither the caller's nor a descendant of it; `EPERM` when a privilege
    /// is missing, with a message naming the syscall that was refused and the capability it
    /// needs (`CAP_SYS_ADMIN` in the user namespace that owns the PID namespace, for `setns`
    /// and for mounting procfs), or saying that procroot holds `CAP_SYS_ADMIN` and a seccomp
    /// filter or security module refused the call.
    pub fn for_pidns(nsfd: impl AsFd) -> Result<Procfs> {
        let nsfd = nsfd.as_fd();
        let context = |e: Error| e.context("make procfs", Path::new("for a PID namespace"));
        match process::namespace_type(nsfd) {
            Ok(CLONE_NEWPID) => {}
            Ok(_) | Err(Errno::NOTTY | Errno::INVAL) => {
                return Err(context(Error::invalid_input(
                    Errno::INVAL,
                    "not a PID namespace fd (expected an fd of /proc/<pid>/ns/pid)",
                )))
            }
            Err(e) => return Err(context(e.syscall("ioctl"))),
        }
        if !features::is_disabled(Feature::Fsopen)
            && !features::is_disabled(Feature::ProcPidnsOption)
        {
            match new_instance(false, Some(nsfd)) {
                Ok(fd) => {
                    return Procfs::verified(fd, Acquisition::PidnsOption, false).map_err(context)
                }
                // An older kernel does not know `pidns` (EINVAL, like a bad fd would be);
                // fsopen may be missing (ENOSYS) or filtered (EPERM), or a privilege may be
                // missing (EPERM): the helper below tells these apart by trying for real, one
                // syscall at a time.
                Err(e) if matches!(e.errno, Errno::INVAL | Errno::NOSYS | Errno::PERM) => {}
                Err(e) => {
                    let e = e.errno;
                    return Err(context(Error::with_detail(
                        ErrorKind::Os,
                        e,
                        format!(
                            "fsopen(2) of procfs with pidns= failed ({})",
                            sys::errno_name(e)
                        ),
                    )));
                }
            }
        }
        let fd: OwnedFd =
            process::make_fd_in_pidns(nsfd, make_in_pidns).map_err(|e| context(describe(e)))?;
        Procfs::verified(fd, Acquisition::PidnsHelper, false).map_err(context)
    }
}

// The worker's steps, as it reports them (see `describe`).
const STEP_FSOPEN: u8 = 0;
const STEP_UNSHARE: u8 = 1;
const STEP_MOUNT: u8 = 2;
const STEP_OPEN: u8 = 3;
const STEP_CHECK_SELF: u8 = 4;

/// The helper's worker, the first process inside the PID namespace: `fsopen`, or `mount(2)` in
/// a private mount namespace where `fsopen` is unavailable. Async-signal-safe (see
/// [`process::make_fd_in_pidns`]): syscalls only, no allocation.
fn make_in_pidns() -> std::result::Result<OwnedFd, (u8, Errno)> {
    if !features::is_disabled(Feature::Fsopen) {
        match new_instance(false, None) {
            Ok(fd) => return Ok(fd),
            // Unavailable (an old kernel, or a filter: root has the privilege fsopen needs, and
            // without it the mount below is refused too, with its own errno).
            Err(e) if matches!(e.errno, Errno::NOSYS | Errno::PERM) => {}
            Err(e) => return Err((STEP_FSOPEN, e.errno)),
        }
    }
    process::unshare_private_mount_ns().map_err(|e| (STEP_UNSHARE, e))?;
    rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None::<&std::ffi::CStr>,
    )
    .map_err(|e| (STEP_MOUNT, e))?;
    let fd = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| (STEP_OPEN, e))?;
    // The mount is private to this process, but `/proc` is a name: check that the directory
    // opened is the instance just mounted, for this namespace, by its `self` naming this
    // process with its PID in the namespace (`verified` checks procfs and inode 1 after).
    let mut link = [std::mem::MaybeUninit::<u8>::uninit(); 16];
    let (target, _) =
        rustix::fs::readlinkat_raw(&fd, "self", &mut link).map_err(|e| (STEP_CHECK_SELF, e))?;
    let mut digits = [0u8; 16];
    if !matches_decimal(
        target,
        rustix::process::getpid().as_raw_nonzero().get(),
        &mut digits,
    ) {
        return Err((STEP_CHECK_SELF, Errno::XDEV));
    }
    Ok(fd)
}

/// Whether `text` is `n` in decimal, without allocating.
fn matches_decimal(text: &[u8], n: i32, scratch: &mut [u8; 16]) -> bool {
    let mut n = n.unsigned_abs();
    let mut at = scratch.len();
    loop {
        at -= 1;
        scratch[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &scratch[at..] == text
}

fn describe(e: HelperError) -> Error {
    let errno = e.errno;
    let (syscall, needs) = match e.step {
        HelperStep::Setns => (
            "setns(2) into the PID namespace",
            "CAP_SYS_ADMIN in the user namespace that owns the PID namespace (and in procroot's \
             own)",
        ),
        HelperStep::Make(STEP_FSOPEN) => (
            "fsopen(2)/fsmount(2) of procfs inside the PID namespace",
            "CAP_SYS_ADMIN in the user namespace that owns the PID namespace",
        ),
        HelperStep::Make(STEP_UNSHARE) => (
            "unshare(CLONE_NEWNS) for the mount(2) fallback (fsopen(2) is unavailable)",
            "CAP_SYS_ADMIN",
        ),
        HelperStep::Make(STEP_MOUNT) => (
            "mount(2) of procfs inside the PID namespace (fsopen(2) is unavailable)",
            "CAP_SYS_ADMIN in the user namespace that owns the PID namespace (inside a user \
             namespace, also a /proc that is fully visible, with nothing mounted over its files)",
        ),
        HelperStep::Make(STEP_OPEN) => ("open(2) of the procfs just mounted on /proc", ""),
        HelperStep::Make(STEP_CHECK_SELF) => (
            "the check that the procfs just mounted on /proc is this PID namespace's",
            "",
        ),
        HelperStep::Make(_) | HelperStep::Fork | HelperStep::Transport | HelperStep::Undumpable => {
            ("the helper process in the PID namespace", "")
        }
    };
    match (e.step, errno) {
        (HelperStep::Setns, Errno::INVAL) => Error::with_detail(
            ErrorKind::InvalidInput,
            Errno::INVAL,
            "the PID namespace is neither the caller's nor a descendant of it",
        ),
        (_, Errno::PERM) if !needs.is_empty() => {
            let why = if process::has_cap_sys_admin() {
                "procroot has CAP_SYS_ADMIN, so a seccomp filter or security module refused it"
                    .to_owned()
            } else {
                format!("it needs {needs}")
            };
            Error::with_detail(
                ErrorKind::Os,
                Errno::PERM,
                format!("{syscall} was refused (EPERM): {why}"),
            )
        }
        (HelperStep::Make(STEP_CHECK_SELF), Errno::XDEV) => Error::escape(
            "the procfs mounted on /proc by the helper does not show the helper as `self`: \
             /proc was replaced while it was being mounted",
        ),
        (_, errno) => Error::with_detail(
            if errno == Errno::NOSYS {
                ErrorKind::NotSupported
            } else {
                ErrorKind::Os
            },
            errno,
            format!("{syscall} failed ({})", sys::errno_name(errno)),
        ),
    }
}
