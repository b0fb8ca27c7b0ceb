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
    let request = super::ns::ns_type(nstype)
        .ok_or(Errno::INVAL)?
        .pidfd_ioctl();
    // SAFETY: these ioctls take no argument (the kernel refuses a nonzero one with EINVAL, so
    // it is passed as 0 rather than left to whatever the register holds); on success the result
    // is a new fd that nothing else owns, which the OwnedFd takes.
    let rc = unsafe { libc::ioctl(pidfd.as_fd().as_raw_fd(), request, 0 as libc::c_ulong) };
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
    // The child closes its copy of our end; the parent keeps its own (the closure only borrows).
    let mut ours = Some(ours);
    // SAFETY: the child runs `helper_child`: raw syscalls over this stack's data and `make`,
    // which this function's contract limits to async-signal-safe calls (no allocation, no
    // lock), so it takes no lock another thread held at the clone; it cannot unwind (nothing on
    // that path panics: the clippy denies there).
    let child = unsafe {
        fork_raw(Fork::Child, || {
            drop(ours.take());
            helper_child(join, theirs.as_fd(), make)
        })
    }
    .map_err(|errno| HelperError {
        step: HelperStep::Fork,
        errno,
    })?;
    drop(theirs);
    let Some(ours) = ours else {
        return Err(HelperError::transport(Errno::BADF));
    };
    let received = receive_result(ours.as_fd());
    // The helper exits right after sending; reap it whatever happened.
    let _ = wait_child(child);
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
/// Async-signal-safe, and nothing here may panic: it runs in a copy of a possibly
/// multithreaded caller.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
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
    // SAFETY: the worker runs `make` (async-signal-safe by `make_fd_in_namespaces`'s contract)
    // and `send_result` (raw syscalls over stack buffers), in a copy of this single-threaded
    // child: no lock can be held by another thread there.
    let worker = match unsafe {
        fork_raw(Fork::Child, || {
            send_result(sock, make().map_err(|(step, e)| (u32::from(step), e)));
            0
        })
    } {
        Ok(worker) => worker,
        Err(e) => {
            send_result(sock, Err((STEP_FORK, e)));
            return 1;
        }
    };
    match wait_child(worker) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Sends `[errno as i32, step as u32]`, with the fd attached on success (errno 0).
/// Async-signal-safe (stack buffers, one `sendmsg`), and it cannot panic.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
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
    let [c0, c1, c2, c3] = code.to_ne_bytes();
    let [s0, s1, s2, s3] = step.to_ne_bytes();
    let payload = [c0, c1, c2, c3, s0, s1, s2, s3];
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

/// A promise, made in an `unsafe` block by the program that is about to fork, that the one fork
/// [`fork_and_run`] makes with it is sound: see [`ForkPermit::new`]. The permit carries the
/// obligation to the one place that knows whether it holds (the program, which knows its
/// threads), so that the code in between (`procroot-runtime`'s `in_sandbox`) needs no `unsafe`.
/// Consumed by the fork: one permit, one fork.
#[derive(Debug)]
pub struct ForkPermit {
    _promise: (),
}

impl ForkPermit {
    /// The promise for one [`fork_and_run`].
    ///
    /// # Safety
    ///
    /// The child of the fork made with this permit is a copy of the calling thread only, made
    /// with the raw `clone` syscall: the C library's `fork` wrapper does not run, so neither the
    /// program's `pthread_atfork` handlers nor the C library's own reset of its allocator's locks
    /// run either. If the process has other threads at that fork, any lock one of them holds (the
    /// allocator's, stdout's, a `Mutex` of the program, a `OnceLock` being initialised) stays
    /// held forever in the child, and data it was changing is half-changed there. The caller
    /// promises that, at that fork, either the process is single-threaded (the usual case: the
    /// CLI, a test in a process of its own, a program before it starts threads), or the child's
    /// closure allocates nothing, takes no lock and reads no state another thread may have been
    /// using. Whoever receives the permit says what its closure does (`in_sandbox`'s allocates:
    /// there, single-threaded).
    pub unsafe fn new() -> ForkPermit {
        ForkPermit { _promise: () }
    }
}

/// Forks (the raw `clone` syscall, as [`spawn`](super::spawn)'s children); the child runs
/// `child` and leaves with `_exit` and its return value, without running the parent's exit
/// handlers or destructors. Returns the child's PID in the parent, where `child` is dropped
/// without running. Reap it with [`wait_child`].
///
/// Unlike the other forked helpers here, `child` is not limited to async-signal-safe calls:
/// it is `procroot-runtime`'s `in_sandbox` closure, which does ordinary file work and
/// allocates. What makes that sound is the `permit`'s promise (see [`ForkPermit::new`]). No
/// `pthread_atfork` handler runs in the child (arbitrary code of the program, which may allocate
/// or lock); [`fork_generation`] is bumped there all the same, so that per-process state kept
/// per thread is not taken for the parent's.
///
/// A panic that escapes `child` aborts the child (it dies of `SIGABRT`): it never unwinds into
/// the child's frames below `child`, which are copies of the caller's.
pub fn fork_and_run(permit: ForkPermit, child: impl FnOnce() -> i32) -> Result<Pid, Errno> {
    let ForkPermit { _promise: () } = permit;
    // SAFETY: what the child may touch is the promise `permit` carries (single-threaded, or
    // `child` takes no lock); `fork_raw` aborts the child if `child` unwinds, so it never returns
    // into copies of the caller's frames.
    unsafe { fork_raw(Fork::Child, child) }
}

/// Who a [`fork_raw`] child's parent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fork {
    /// The caller's child: `clone(SIGCHLD)`, a plain `fork`.
    Child,
    /// The caller's sibling: `clone(CLONE_PARENT | SIGCHLD)`, so that the caller's parent waits
    /// for it (`spawn`'s command process).
    Sibling,
}

/// The crate's one fork: the raw `clone` syscall with no new stack, never glibc's `fork(3)`, so
/// that no `pthread_atfork` handler of the caller runs in the child (arbitrary code, which may
/// allocate or take a lock another thread held at the fork; glibc's `posix_spawn` avoids them
/// the same way). The child bumps [`fork_generation`], runs `child` and leaves with `_exit(2)`
/// and its value; the parent gets the child's PID. A panic that escapes `child` aborts the
/// child, never unwinding into copies of the caller's frames.
///
/// Nothing here allocates or can panic, so the child path is `child`'s alone.
///
/// # Safety
///
/// The child is a copy of the calling thread only; locks other threads held stay held there,
/// and the C library's allocator is not reset (that is what glibc's `fork` does in its own
/// handlers). The caller guarantees that `child` takes no lock another thread may hold at the
/// clone: it is async-signal-safe, or the process is single-threaded.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub(crate) unsafe fn fork_raw(fork: Fork, child: impl FnOnce() -> i32) -> Result<Pid, Errno> {
    let flags = match fork {
        Fork::Child => libc::SIGCHLD as libc::c_ulong,
        Fork::Sibling => (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
    };
    // SAFETY: without CLONE_VM the child gets a copy of our memory and continues here on its
    // copy of this stack; the stack, TID and TLS arguments are 0, so the kernel writes nothing
    // of ours, and no flag here needs a pointer. What the child runs is this function's
    // contract. glibc's cached TID of the thread is not updated in such a child; glibc's own
    // `raise` and `abort` ask the kernel for the TID of the calling thread, and nothing of ours
    // uses pthreads there.
    let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if rc < 0 {
        return Err(super::last_errno());
    }
    if rc == 0 {
        // An atomic increment: async-signal-safe.
        bump_fork_generation();
        // An unwinding panic stops at this guard, whose drop runs only while unwinding: the
        // child leaves by abort (which allocates nothing) instead of returning into copies of
        // the caller's frames.
        let guard = AbortOnUnwind;
        let code = child();
        std::mem::forget(guard);
        // SAFETY: _exit(2) leaves the child without running the parent's exit handlers or
        // flushing its copies of the parent's buffers.
        unsafe { libc::_exit(code) }
    }
    Pid::from_raw(rc as i32).ok_or(Errno::CHILD)
}

/// Aborts when dropped: held across a forked child's closure, so that a panic unwinding out of
/// it ends the child there.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort()
    }
}

/// Reaps a child made by [`fork_and_run`] (or the crate's other forks), retrying on `EINTR`.
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
/// `pthread_atfork` child handlers there) and in every child of this crate's own raw clones
/// ([`fork_and_run`], the namespace helper, `spawn`'s forks), which run no such handler.
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
/// the C library runs no handler: this crate's raw clones bump it themselves ([`fork_and_run`]'s
/// child does file work); other code's are beyond what it can see.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// Where the `pthread_atfork` child handler writes, or -1.
    static ATFORK_MARKER: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn atfork_child_marks() {
        let fd = ATFORK_MARKER.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: write(2) of a static byte to a pipe the test opened; async-signal-safe.
            unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
        }
    }

    /// Registers the marking handler (each test runs in a process of its own under nextest;
    /// elsewhere the handler only writes while a marker is set) and returns the marker pipe's
    /// read end; [`handler_ran`] reads it.
    pub(crate) fn mark_atfork_children() -> (OwnedFd, OwnedFd) {
        let (r, w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )
        .expect("pipe");
        ATFORK_MARKER.store(w.as_raw_fd(), Ordering::Relaxed);
        // SAFETY: registers a child handler that only makes an async-signal-safe write.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(atfork_child_marks)) };
        assert_eq!(rc, 0, "pthread_atfork");
        (r, w)
    }

    pub(crate) fn handler_ran((r, w): (OwnedFd, OwnedFd)) -> bool {
        ATFORK_MARKER.store(-1, Ordering::Relaxed);
        drop(w);
        let mut buf = [0u8; 16];
        matches!(rustix::io::read(&r, &mut buf), Ok(1..))
    }

    /// `fork_and_run`'s child is a raw clone: a `pthread_atfork` child handler of the program
    /// (arbitrary code, which may allocate or lock) never runs in it, and the fork generation
    /// still differs there, so that per-thread state describing the parent is not reused.
    #[test]
    fn fork_and_run_runs_no_pthread_atfork_handler_and_bumps_the_generation() {
        let before = fork_generation().expect("the handler registers");
        let marker = mark_atfork_children();
        // SAFETY: the child only reads an atomic and returns; no lock, no allocation.
        let permit = unsafe { ForkPermit::new() };
        let child =
            fork_and_run(permit, || i32::from(fork_generation() == Some(before))).expect("fork");
        let (_, status) = rustix::process::waitpid(Some(child), WaitOptions::empty())
            .expect("waitpid")
            .expect("a status");
        assert!(
            !handler_ran(marker),
            "a pthread_atfork child handler ran in fork_and_run's child"
        );
        assert_eq!(
            status.exit_status(),
            Some(0),
            "the generation was not bumped"
        );
        assert_eq!(fork_generation(), Some(before), "the parent's is unchanged");
    }

    /// A panic that escapes the closure ends the child (abort), never unwinding into copies of
    /// the caller's frames (where it would run the test harness's code a second time).
    #[test]
    fn a_panic_in_fork_and_run_aborts_the_child() {
        // SAFETY: the child panics at once, before it could take any lock of another thread
        // (the panic message goes to stderr, which nobody else writes at that moment).
        let permit = unsafe { ForkPermit::new() };
        let child = fork_and_run(permit, || panic!("in the child")).expect("fork");
        let (_, status) = rustix::process::waitpid(Some(child), WaitOptions::empty())
            .expect("waitpid")
            .expect("a status");
        assert_eq!(
            status.terminating_signal(),
            Some(libc::SIGABRT),
            "{status:?}"
        );
    }

    fn open_dev_null() -> Result<OwnedFd, (u8, Errno)> {
        rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| (1, e))
    }

    /// The namespace helper's two forks are raw clones: no `pthread_atfork` child handler runs
    /// in the process that joins the target's namespaces nor in the worker inside them.
    #[cfg_attr(
        procroot_unprivileged,
        ignore = "needs root: built with --cfg procroot_unprivileged"
    )]
    #[test]
    fn the_namespace_helper_runs_no_pthread_atfork_handler() {
        // Our own PID namespace: setns into it needs CAP_SYS_ADMIN (a failure fails the test).
        let pidns = rustix::fs::open(
            "/proc/self/ns/pid",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open /proc/self/ns/pid");
        let marker = mark_atfork_children();
        let fd = make_fd_in_pidns(pidns.as_fd(), open_dev_null).expect("the helper");
        assert!(rustix::fs::fstat(&fd).is_ok());
        assert!(
            !handler_ran(marker),
            "a pthread_atfork child handler ran in the namespace helper"
        );
    }
}
