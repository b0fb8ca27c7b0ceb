//! Processes and namespaces: pidfds, namespace types, and a helper process that does one thing
//! inside another PID namespace.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;

use super::last_errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::{Pid, PidfdFlags, WaitOptions};

/// `CLONE_NEWPID`, the namespace type `NS_GET_NSTYPE` reports for a PID namespace.
pub const CLONE_NEWPID: i32 = libc::CLONE_NEWPID;

/// `pidfd_open(pid, 0)`: a handle on a process that stays valid, and keeps naming the same
/// process, even after its PID is reused.
///
/// # References
///  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    pidfd_open_flags(pid, PidfdFlags::empty())
}

/// `pidfd_open(tid, PIDFD_THREAD)` (Linux 6.9): a pidfd of one thread, which may be any thread
/// of its process, not only the leader that plain `pidfd_open` requires. An older kernel, which
/// does not know the flag, answers `EINVAL`.
pub fn pidfd_open_thread(tid: u32) -> Result<OwnedFd, Errno> {
    // PIDFD_THREAD is O_EXCL in the kernel's uapi (include/uapi/linux/pidfd.h), whose value
    // differs between architectures; rustix's PidfdFlags keeps unknown bits.
    pidfd_open_flags(
        tid,
        PidfdFlags::from_bits_retain(rustix::fs::OFlags::EXCL.bits()),
    )
}

fn pidfd_open_flags(pid: u32, flags: PidfdFlags) -> Result<OwnedFd, Errno> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or(Errno::INVAL)?;
    rustix::process::pidfd_open(pid, flags)
}

/// Whether the process a pidfd refers to still holds its PID: `Ok(true)` while it runs or is a
/// zombie not yet reaped (its PID cannot be reused until then), `Ok(false)` once it is gone.
///
/// Two questions, because the obvious one needs a permission the caller may lack:
/// 1. `pidfd_send_signal(pidfd, 0, NULL, 0)`: success means the process exists (a zombie
///    included), `ESRCH` that it was reaped. But an unprivileged caller asking about another
///    user's process gets `EPERM`, and a seccomp filter can answer anything: neither says
///    whether the process lives. Taking them as death reported live processes as exited.
/// 2. Then `poll(pidfd, POLLIN, 0)`, which needs no permission: a pidfd becomes readable when
///    its thread group has exited (Linux 5.3, the same release as `pidfd_open`). Not readable
///    means the process still runs. Readable means it exited; whether it is still a zombie is
///    not knowable here, so it counts as gone: the safe side for a caller that needs the PID
///    to still name this process.
///
/// An error is returned only when neither question could be asked; it is never "gone".
///
/// # References
///  - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
///  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html) ("A PID file
///    descriptor can be monitored using poll(2)")
pub fn pidfd_is_alive<Fd: AsFd>(pidfd: Fd) -> Result<bool, Errno> {
    let fd = pidfd.as_fd().as_raw_fd();
    // Signal 0 ("check only") has no rustix constant, so this is the raw syscall.
    // SAFETY: pidfd_send_signal with signal 0 and a null siginfo reads nothing but the fd number.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd,
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let signal_errno = last_errno();
    if signal_errno == Errno::SRCH {
        return Ok(false);
    }
    let mut poll_fd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, and a count of one; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut poll_fd, 1, 0) };
        match n {
            0 => return Ok(true),
            n if n > 0 => {
                if poll_fd.revents & libc::POLLNVAL != 0 {
                    return Err(Errno::BADF);
                }
                return Ok(poll_fd.revents & (libc::POLLIN | libc::POLLHUP) == 0);
            }
            _ => match last_errno() {
                Errno::INTR => continue,
                // The signal's answer is the more telling one (EPERM from a filter, ENOSYS).
                _ => return Err(signal_errno),
            },
        }
    }
}

/// Whether this thread holds `CAP_SYS_ADMIN` in its effective set (in its own user namespace).
/// Used to say which of "a privilege is missing" and "a filter refused it" an `EPERM` means.
pub fn has_cap_sys_admin() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|caps| {
        caps.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace fd, or `ENOTTY`/`EINVAL`
/// for an fd that is not one.
///
/// # References
///  - [`ioctl_ns(2)`](https://man7.org/linux/man-pages/man2/ioctl_ns.2.html)
pub fn namespace_type<Fd: AsFd>(fd: Fd) -> Result<i32, Errno> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703; // _IO(0xb7, 0x3)
                                                 // SAFETY: NS_GET_NSTYPE takes no argument and returns the type as the result.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), NS_GET_NSTYPE) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc)
    }
}

/// `ioctl(pidfd, PIDFD_GET_<KIND>_NAMESPACE)` (Linux 6.11): an nsfs fd for one namespace of the
/// process `pidfd` refers to, `nstype` a `CLONE_NEW*` bit (the PID and time namespaces are the
/// process's own, as `/proc/<pid>/ns/{pid,time}`, not those for its children).
///
/// Why not `/proc/<pid>/ns/*`: the pidfd names the process itself, so there is no PID to be
/// reused and no procfs to be overmounted, and it is one syscall instead of a verified procfs
/// lookup. The kernel makes the same access check as for the nsfs files (ptrace read
/// access with filesystem credentials: `EACCES` otherwise). `ESRCH` once the process has exited
/// (a zombie has no namespaces left); `ENOTTY` from a kernel without these ioctls, or without
/// that kind of namespace.
///
/// # References
///  - `include/uapi/linux/pidfd.h`, `fs/pidfs.c` (`pidfd_ioctl`)
pub fn pidfd_namespace<Fd: AsFd>(pidfd: Fd, nstype: i32) -> Result<OwnedFd, Errno> {
    // _IO(PIDFS_IOCTL_MAGIC = 0xff, nr)
    let nr: libc::c_ulong = match nstype {
        libc::CLONE_NEWCGROUP => 1,
        libc::CLONE_NEWIPC => 2,
        libc::CLONE_NEWNS => 3,
        libc::CLONE_NEWNET => 4,
        libc::CLONE_NEWPID => 5,
        super::ns::CLONE_NEWTIME => 7,
        libc::CLONE_NEWUSER => 9,
        libc::CLONE_NEWUTS => 10,
        _ => return Err(Errno::INVAL),
    };
    // SAFETY: these ioctls take no argument (the kernel refuses a nonzero one with EINVAL, so
    // it is passed as 0 rather than left to whatever the register holds); on success the result
    // is a new fd that nothing else owns, which the OwnedFd takes.
    let rc = unsafe { libc::ioctl(pidfd.as_fd().as_raw_fd(), 0xff00 | nr, 0 as libc::c_ulong) };
    if rc < 0 {
        Err(last_errno())
    } else {
        // SAFETY: as above: a fresh fd we own.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(rc) })
    }
}

/// Which part of [`make_fd_in_pidns`] (or [`make_fd_in_namespaces`]) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperStep {
    /// `prctl(PR_SET_DUMPABLE, 0)` in the first child, before it joins anything.
    Undumpable,
    /// `setns(2)` in the first child.
    Setns,
    /// `fork(2)` of the worker inside the namespace.
    Fork,
    /// The socket that carries the answer back (the helper died before it spoke).
    Transport,
    /// The caller's `make`, at the step it numbered.
    Make(u8),
}

/// An error from [`make_fd_in_pidns`]: the step that failed and its errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperError {
    /// Where it failed.
    pub step: HelperStep,
    /// The errno of that step.
    pub errno: Errno,
}

impl HelperError {
    fn transport(errno: Errno) -> HelperError {
        HelperError {
            step: HelperStep::Transport,
            errno,
        }
    }
}

// Step numbers on the wire, after the errno: the caller's own steps are 0..=255.
const STEP_SETNS: u32 = 0x100;
const STEP_FORK: u32 = 0x101;
const STEP_UNDUMPABLE: u32 = 0x102;

/// The namespaces a [`make_fd_in_namespaces`] helper joins, with one `setns(2)`.
#[derive(Clone, Copy, Debug)]
pub enum Join<'a> {
    /// A PID namespace fd (`/proc/<pid>/ns/pid`): `setns(fd, CLONE_NEWPID)`.
    PidNs(BorrowedFd<'a>),
    /// Some namespaces of the process a pidfd names: `setns(pidfd, flags)` (Linux 5.8), which
    /// joins them all or none, the user namespace first. A namespace the caller already is in
    /// must be left out (`EINVAL` for the user namespace).
    Process(BorrowedFd<'a>, rustix::thread::ThreadNameSpaceType),
}

/// Runs `make` in a short-lived process inside the PID namespace `pidns`, and returns the fd it
/// made, passed back over `SCM_RIGHTS`: [`make_fd_in_namespaces`] without a user namespace.
pub fn make_fd_in_pidns(
    pidns: BorrowedFd<'_>,
    make: fn() -> Result<OwnedFd, (u8, Errno)>,
) -> Result<OwnedFd, HelperError> {
    make_fd_in_namespaces(Join::PidNs(pidns), &make)
}

/// Runs `make` in a short-lived process that joined the namespaces `join` names, and returns
/// the fd it made, passed back over `SCM_RIGHTS`.
///
/// `setns(fd, CLONE_NEWPID)` only changes the namespace of the caller's future children, and a
/// user namespace can only be joined by a single-threaded process, so this takes two forks: a
/// child joins the namespaces, and its child — the first process *in* `pidns` — runs `make`.
/// Only the forking thread exists in the children, so `make` must be async-signal-safe:
/// plain syscalls through rustix (which builds C strings on the stack), no allocation, no locks.
/// `make` may change its own process freely (unshare a mount namespace, mount): the worker exits
/// right after sending the fd. It reports a failure as `(step, errno)`, with steps it numbers
/// itself, so that the caller can say which syscall failed.
///
/// The first child makes itself non-dumpable (`PR_SET_DUMPABLE` 0) before it joins anything,
/// and the worker inherits that: both are copies of the caller, whose `/proc/<pid>/exe` is the
/// caller's binary, and once they are in the target's PID namespace a process there could open
/// it (CVE-2019-5736) or ptrace them. Non-dumpable, both need `CAP_SYS_PTRACE` over the caller's
/// user namespace for that, which a container process does not have. The caller's binary is
/// still the one on disk: only a sealed copy (`exec::sealed_exe::ensure`) removes the target.
pub fn make_fd_in_namespaces(
    join: Join<'_>,
    make: &dyn Fn() -> Result<OwnedFd, (u8, Errno)>,
) -> Result<OwnedFd, HelperError> {
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(HelperError::transport)?;
    // SAFETY: fork(2) has no memory-safety preconditions. The child runs only async-signal-safe
    // code (see above) and leaves with _exit(2).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(HelperError {
            step: HelperStep::Fork,
            errno: last_errno(),
        });
    }
    if child == 0 {
        drop(ours);
        let code = helper_child(join, theirs.as_fd(), make);
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(theirs);
    let received = receive_result(ours.as_fd());
    // The helper exits right after sending; reap it whatever happened.
    let _ = rustix::process::waitpid(Pid::from_raw(child), WaitOptions::empty());
    received
}

/// `unshare(CLONE_NEWNS)`, then `/` recursively `MS_PRIVATE`: a mount namespace of the calling
/// process's own, whose mounts nobody else sees and from which none propagate back. For
/// [`make_fd_in_pidns`] workers, which exit right after.
///
/// # References
///  - [`unshare(2)`](https://man7.org/linux/man-pages/man2/unshare.2.html)
///  - [`mount_namespaces(7)`](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)
pub fn unshare_private_mount_ns() -> Result<(), Errno> {
    // SAFETY: CLONE_NEWNS does not touch the fd table (the only unsafety of unshare, see
    // rustix's `unshare_unsafe`), and the callers are single-threaded forked workers.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::REC | rustix::mount::MountPropagationFlags::PRIVATE,
    )
}

/// The first child: become non-dumpable, join the namespaces, fork the worker, wait for it.
fn helper_child(
    join: Join<'_>,
    sock: BorrowedFd<'_>,
    make: &dyn Fn() -> Result<OwnedFd, (u8, Errno)>,
) -> i32 {
    // Before setns: from the moment this process is in the target's namespaces, nothing of it
    // (its exe, its memory) may be reachable by the target's processes.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        send_result(sock, Err((STEP_UNDUMPABLE, e)));
        return 1;
    }
    let joined = match join {
        Join::PidNs(fd) => rustix::thread::move_into_link_name_space(
            fd,
            Some(rustix::thread::LinkNameSpaceType::ProcessID),
        ),
        Join::Process(pidfd, kinds) => rustix::thread::move_into_thread_name_spaces(pidfd, kinds),
    };
    if let Err(e) = joined {
        send_result(sock, Err((STEP_SETNS, e)));
        return 1;
    }
    // SAFETY: as in `make_fd_in_pidns`.
    let worker = unsafe { libc::fork() };
    if worker < 0 {
        send_result(sock, Err((STEP_FORK, last_errno())));
        return 1;
    }
    if worker == 0 {
        send_result(sock, make().map_err(|(step, e)| (u32::from(step), e)));
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    match rustix::process::waitpid(Pid::from_raw(worker), WaitOptions::empty()) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

/// Sends `[errno as i32, step as u32]`, with the fd attached on success (errno 0).
fn send_result(sock: BorrowedFd<'_>, result: Result<OwnedFd, (u32, Errno)>) {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let (code, step, fd) = match &result {
        Ok(fd) => (0i32, 0u32, Some(fd.as_fd())),
        Err((step, e)) => (e.raw_os_error(), *step, None),
    };
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let mut payload = [0u8; 8];
    payload[..4].copy_from_slice(&code.to_ne_bytes());
    payload[4..].copy_from_slice(&step.to_ne_bytes());
    let _ = rustix::net::sendmsg(
        sock,
        &[std::io::IoSlice::new(&payload)],
        &mut control,
        SendFlags::empty(),
    );
}

fn receive_result(sock: BorrowedFd<'_>) -> Result<OwnedFd, HelperError> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut payload = [0u8; 8];
    let msg = rustix::net::recvmsg(
        sock,
        &mut [std::io::IoSliceMut::new(&mut payload)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(HelperError::transport)?;
    if msg.bytes != payload.len() {
        // The helper died before it could say anything.
        return Err(HelperError::transport(Errno::CHILD));
    }
    let code = i32::from_ne_bytes(payload[..4].try_into().expect("4 bytes"));
    let step = u32::from_ne_bytes(payload[4..].try_into().expect("4 bytes"));
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            fd = fds.next();
        }
    }
    match (code, fd) {
        (0, Some(fd)) => Ok(fd),
        (0, None) => Err(HelperError::transport(Errno::IO)),
        (code, _) => Err(HelperError {
            step: match step {
                STEP_SETNS => HelperStep::Setns,
                STEP_UNDUMPABLE => HelperStep::Undumpable,
                STEP_FORK => HelperStep::Fork,
                n => HelperStep::Make(u8::try_from(n).unwrap_or(u8::MAX)),
            },
            errno: Errno::from_raw_os_error(code),
        }),
    }
}

/// Forks; the child runs `child` and leaves with `_exit` and its return value, without
/// running the parent's exit handlers or destructors. Returns the child's PID in the parent,
/// where `child` is dropped without running.
///
/// Unlike the other forked helpers here, `child` is not limited to async-signal-safe calls:
/// it is `procroot-runtime`'s `in_sandbox` closure, which does ordinary file work. The C
/// library's `fork` (this calls `libc::fork`, not the raw syscall) takes and resets its
/// allocator's locks, so allocation works in the child.
///
/// # Safety
///
/// The child is a copy of the calling thread only. If the caller has other threads, any lock
/// one of them held at the fork (stdout's, a `Mutex` of the program, a lazily initialised
/// static being initialised) stays held forever in the child, and state it was changing is
/// half-changed there. The caller must make sure `child` takes no such lock and reads no such
/// state: either the process is single-threaded, or `child` limits itself to syscalls and to
/// data only the calling thread touches. `child` must not unwind out of itself (a panic in it
/// must be caught inside it): the child's frames below it are copies of the caller's.
pub unsafe fn fork_and_run(child: impl FnOnce() -> i32) -> Result<Pid, Errno> {
    // SAFETY: fork(2) has no memory-safety preconditions; the child owns a copy of this
    // thread's memory and leaves with _exit(2), never returning into the caller's frames.
    // What `child` may touch there is this function's own contract (see `# Safety`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_errno());
    }
    if pid == 0 {
        let code = child();
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    Ok(Pid::from_raw(pid).expect("fork returned a positive PID"))
}

/// Reaps a child made by [`fork_and_run`], retrying on `EINTR`.
pub fn wait_child(pid: Pid) -> Result<(), Errno> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Err(Errno::INTR) => continue,
            other => return other.map(|_| ()),
        }
    }
}

/// How many times a process forked from this one's ancestry since the library first asked: 0
/// in the process that registered, bumped in every child made by `fork(2)` (glibc and musl run
/// `pthread_atfork` child handlers there).
static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs in the child of every `fork(2)`: only an atomic increment, which is async-signal-safe.
extern "C" fn bump_fork_generation() {
    FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A number that differs in a forked child from its value in the parent, for state kept per
/// thread that describes the process (an fd of `/proc/thread-self/fd` shows the table of the
/// process that opened it). `None` when forks cannot be seen (the handler could not be
/// registered): then nothing may be kept across calls.
///
/// Why not the tid alone: a child forked into a new PID namespace is PID 1 there, and so is a
/// parent that was PID 1 of its own namespace; `gettid()` is then 1 on both sides of the fork.
/// The generation is bumped by a `pthread_atfork` child handler, registered on the first call
/// (so before anything that depends on it was kept). A child made by a raw `clone(2)` without
/// the C library runs no handler; the library makes such children only to `exec`.
///
/// # References
///  - [`pthread_atfork(3)`](https://man7.org/linux/man-pages/man3/pthread_atfork.3.html)
pub fn fork_generation() -> Option<u64> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        // SAFETY: registers a child handler that only touches an atomic; the handler is a
        // plain `extern "C" fn` that lives for the whole program. The prepare and parent
        // handlers are null, which pthread_atfork allows.
        unsafe { libc::pthread_atfork(None, None, Some(bump_fork_generation)) == 0 }
    });
    registered.then(|| FORK_GENERATION.load(std::sync::atomic::Ordering::Relaxed))
}
