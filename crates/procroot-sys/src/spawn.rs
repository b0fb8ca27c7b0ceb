//! Process creation and execution: the fork → enter namespaces → fork → exec sequence of
//! `procroot exec`. The namespace table is in [`ns`](super::ns), the sealed self-binary's calls
//! in [`memfd`](super::memfd).
//!
//! # Why the whole child lives here
//!
//! After `fork(2)` in a process that may have other threads, the child owns only a copy of the
//! forking thread, and any lock another thread held (the allocator's, stdio's) stays locked
//! forever. Until `execve` the child may therefore only make async-signal-safe calls: raw
//! syscalls, no allocation, no locks. Keeping every line that runs in the child in this one
//! file (and `ns::setns_file`), over data the parent prepared completely ([`SpawnPlan`],
//! [`CArgs`]), makes that rule checkable by reading a few functions (`first_child`,
//! `command_process`, `last_steps_before_exec`). rustix's Linux backend makes raw syscalls and
//! builds short paths on the stack, so it is safe there.
//!
//! # Nothing on the child path may panic
//!
//! The first child may share the caller's memory (`CLONE_VM`): a panic there would run the
//! caller's panic hook and unwind through copies of the caller's frames, allocating on the
//! caller's heap. So no function the children run calls `unwrap`/`expect`, indexes or slices
//! in a way that can fail, or panics: each carries `#[deny(clippy::unwrap_used,
//! clippy::expect_used, clippy::indexing_slicing, clippy::panic)]` (here, in `ns::setns_file`
//! and in `creds`' child steps), so that `cargo clippy` refuses a new one. The children fork
//! with the raw `clone` syscall, never glibc's `fork(3)`, so that no `pthread_atfork` handler
//! of the caller runs in them either.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::c_char;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};
use rustix::thread::ThreadNameSpaceType;

use super::features::{self, Feature};
use super::ns::{setns_file, NsPlan};
use super::process::{fork_raw, Fork};
use super::{last_errno, SyscallError};

/// A NULL-terminated array of C strings (`argv`, `envp`), built before `fork` so that the child
/// allocates nothing.
#[derive(Debug)]
pub struct CArgs {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArgs {
    /// Owns `strings` and points at them, with the terminating NULL.
    pub fn new(strings: Vec<CString>) -> CArgs {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArgs {
            _strings: strings,
            ptrs,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// Where a forked child failed before it could exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildError {
    /// The failed call, named.
    pub error: SyscallError,
    /// The namespace type it was about (`CLONE_NEW*`), or 0.
    pub nstype: i32,
}

fn child_error(syscall: &'static str, errno: Errno, detail: &'static str) -> ChildError {
    ChildError {
        error: SyscallError {
            syscall,
            errno,
            detail,
        },
        nstype: 0,
    }
}

// Step codes on the error pipe, so that the parent can name the call.
const STEP_SETNS_PIDFD: u32 = 1;
const STEP_SETNS: u32 = 2;
const STEP_FCHDIR_ROOT: u32 = 3;
const STEP_CHROOT: u32 = 4;
const STEP_FCHDIR_CWD: u32 = 5;
const STEP_VERIFY_CWD: u32 = 6;
const STEP_FORK: u32 = 7;
const STEP_CLOSE_RANGE: u32 = 8;
const STEP_KEEP_FD: u32 = 9;
const STEP_EXEC: u32 = 10;
const STEP_VERIFY_ROOT: u32 = 11;
const STEP_CGROUP: u32 = 12;
const STEP_DUMPABLE: u32 = 13;
/// Not a failure: the first child reports the PID of the command's process it forked (in the
/// errno field), before it lets that process go on.
const STEP_PID: u32 = 14;
/// The credential sub-steps ([`super::creds::apply`]) follow from here.
const STEP_CREDS: u32 = 32;

fn step_error(step: u32, errno: Errno, nstype: i32) -> ChildError {
    let (syscall, detail) = match step {
        STEP_SETNS_PIDFD => (
            "setns",
            "entering the namespaces through the target's pidfd",
        ),
        STEP_SETNS => (
            "setns",
            "entering a namespace through its /proc/<pid>/ns file",
        ),
        STEP_FCHDIR_ROOT => ("fchdir", "changing to the target's root directory"),
        STEP_CHROOT => ("chroot", "making the target's root directory the root"),
        STEP_FCHDIR_CWD => (
            "fchdir",
            "changing to the working directory inside the target",
        ),
        STEP_VERIFY_CWD => (
            "getcwd",
            "the working directory is not inside the target's root (CVE-2024-21626)",
        ),
        STEP_VERIFY_ROOT => ("stat", "the root directory is not the target's root"),
        STEP_CGROUP => ("write", "joining the target's cgroup (its cgroup.procs)"),
        STEP_FORK => ("clone", "forking the process that runs the command"),
        STEP_CLOSE_RANGE => (
            "close_range",
            "closing every fd the command must not inherit",
        ),
        STEP_KEEP_FD => ("fcntl", "passing a --keep-fd descriptor on"),
        STEP_DUMPABLE => (
            "prctl",
            "PR_SET_DUMPABLE 0 before entering the target (so that nothing in it can ptrace \
             the child)",
        ),
        s if (STEP_CREDS..STEP_CREDS + super::creds::STEPS).contains(&s) => {
            super::creds::step_name(s - STEP_CREDS)
        }
        _ => ("execve", "running the command"),
    };
    ChildError {
        error: SyscallError {
            syscall,
            errno,
            detail,
        },
        nstype,
    }
}

/// Everything the forked children need, prepared by the parent.
#[derive(Debug)]
pub struct SpawnPlan<'a> {
    /// The namespaces to enter.
    pub ns: NsPlan<'a>,
    /// The target's root directory (`/proc/<pid>/root`, opened before entering anything).
    pub root: BorrowedFd<'a>,
    /// The working directory, resolved inside `root` before the fork.
    pub cwd: BorrowedFd<'a>,
    /// The program: a path (with a `/`) or a name looked up in `path`.
    pub program: &'a CStr,
    /// `PATH` for a program name without `/`, `:`-separated.
    pub path: &'a [u8],
    /// `argv`.
    pub argv: &'a CArgs,
    /// `envp`.
    pub envp: &'a CArgs,
    /// fds ≥ 3 the command keeps at their numbers, sorted by number, without duplicates.
    /// Borrowed for the plan's life, so they are open until the command has executed: the
    /// child passes them on by number, and a number that was closed and reused meanwhile
    /// would hand the target whatever took it.
    pub keep_fds: &'a [BorrowedFd<'a>],
    /// Fork again after entering the namespaces, so that a PID (or time) namespace applies to
    /// the command.
    pub fork_again: bool,
    /// The target's `cgroup.procs` (cgroup v2), opened for writing by the caller: the child
    /// moves itself there first, so the command starts in the target's cgroup.
    pub cgroup_procs: Option<BorrowedFd<'a>>,
    /// The caller's hardened procfs (its root directory). Only read where `close_range(2)` is
    /// missing (before Linux 5.9, or filtered): the child lists its own open fds in
    /// `thread-self/fd` to close them one by one.
    pub procfs: BorrowedFd<'a>,
    /// The credentials the command runs with (the target's), applied last before `execve`;
    /// `None` keeps the caller's (`--privileged`).
    pub creds: Option<&'a super::creds::CredsPlan>,
}

impl SpawnPlan<'_> {
    /// Every fd the plan holds for the children's steps (the pidfd, the namespace files, the
    /// root, the cwd, `cgroup.procs`, the procfs): host fds that the command must never get, so
    /// none of them may be a kept fd, and the first child closes them before the command's
    /// process exists.
    pub fn own_fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self.ns.files().map(|(_, fd)| fd.as_raw_fd()).collect();
        fds.extend(self.ns.pidfd.map(|(fd, _)| fd.as_raw_fd()));
        fds.extend([
            self.root.as_raw_fd(),
            self.cwd.as_raw_fd(),
            self.procfs.as_raw_fd(),
        ]);
        fds.extend(self.cgroup_procs.map(|fd| fd.as_raw_fd()));
        fds.sort_unstable();
        fds.dedup();
        fds
    }
}

/// `setns` into every namespace of `plan`, in one call through the pidfd if it has one, else (or
/// if that fails) one file at a time in [`NS_TYPES`](super::ns::NS_TYPES) order. Async-signal-safe: it allocates nothing.
///
/// The atomic pidfd call leaves nothing half-entered when it fails; the per-file fallback then
/// runs so that a refusal names the namespace it is about (`EPERM` for `net`), and so that
/// kernels before 5.8 (`EINVAL` for a pidfd) work.
///
/// Callers must be single-threaded for the user and mount namespaces (the kernel refuses
/// otherwise with `EINVAL`).
///
/// # References
///  - [`setns(2)`](https://man7.org/linux/man-pages/man2/setns.2.html)
pub fn enter(plan: &NsPlan<'_>) -> Result<(), ChildError> {
    enter_steps(plan).map_err(|(step, errno, nstype)| step_error(step, errno, nstype))
}

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn enter_steps(plan: &NsPlan<'_>) -> Result<(), (u32, Errno, i32)> {
    let mut pidfd_errno = None;
    if let Some((fd, flags)) = plan.pidfd {
        match rustix::thread::move_into_thread_name_spaces(
            fd,
            ThreadNameSpaceType::from_bits_retain(flags as u32),
        ) {
            Ok(()) => return Ok(()),
            // The target is gone: its namespace files (opened earlier) must not be entered
            // either, whatever now holds its PID.
            Err(Errno::SRCH) => return Err((STEP_SETNS_PIDFD, Errno::SRCH, 0)),
            Err(e) => pidfd_errno = Some(e),
        }
    }
    let fds = || plan.files();
    if fds().next().is_none() {
        if let Some(e) = pidfd_errno {
            return Err((STEP_SETNS_PIDFD, e, 0));
        }
    }
    // One file at a time, in two passes as util-linux's nsenter: every namespace but the user
    // one first, keeping those refused with EPERM, then the user namespace, then the refused
    // ones again with the credentials it gave. Either order alone fails somewhere: a rootless
    // container's namespaces are only ours to enter once we are in its user namespace, while a
    // namespace owned by an outer user namespace (a Kubernetes pod's network namespace, made by
    // the runtime before the container's own user namespace) is only ours to enter before.
    // (The atomic pidfd call above checks each namespace against our credentials as they were
    // before the call, so it needs no order.)
    let has_user = fds().any(|(t, _)| t == libc::CLONE_NEWUSER);
    let mut refused: [Option<(i32, BorrowedFd<'_>)>; 8] = [None; 8];
    let mut n_refused = 0;
    for (nstype, fd) in fds() {
        if nstype == libc::CLONE_NEWUSER {
            continue;
        }
        match setns_file(fd, nstype) {
            Ok(()) => {}
            Err(Errno::PERM) if has_user => {
                // As many slots as `fds` has: never full.
                let Some(slot) = refused.get_mut(n_refused) else {
                    return Err((STEP_SETNS, Errno::PERM, nstype));
                };
                *slot = Some((nstype, fd));
                n_refused += 1;
            }
            Err(e) => return Err((STEP_SETNS, e, nstype)),
        }
    }
    for (nstype, fd) in fds() {
        if nstype == libc::CLONE_NEWUSER {
            setns_file(fd, nstype).map_err(|e| (STEP_SETNS, e, nstype))?;
        }
    }
    for &(nstype, fd) in refused.iter().flatten() {
        setns_file(fd, nstype).map_err(|e| (STEP_SETNS, e, nstype))?;
    }
    Ok(())
}

/// How [`spawn`] ended without the command running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// A child failed before the exec: the call, named.
    Child(ChildError),
    /// A signal of [`FORWARDED`] (but `SIGWINCH`) reached the caller, which waits with a
    /// [`SignalForwarder`], before the command's exec: the processes being prepared were
    /// killed (`SIGKILL`: the target may have stopped them) and reaped.
    Interrupted(i32),
}

/// Starts the process that becomes the command: a child enters the namespaces of `plan`, makes
/// the target's root its root and the prepared directory its cwd (checked), forks the command's
/// process if asked (`fork_again`), and that process execs the command holding only fds 0-2,
/// `keep_fds` and the error channel. Returns the command's PID, a child of the caller, once it
/// has executed the command (wait for it with [`wait`] or [`wait_forwarding`]); a failure before
/// the exec is returned with the call that failed.
///
/// # What the target can reach, and when
///
/// - **No host fd at the exec, closed and not just marked.** The kernel closes `O_CLOEXEC` fds
///   only after it has looked up the program and its `#!` interpreter, in the target's root
///   and with the target's `/proc`: a `#!/proc/self/fd/4/<host pid>/root/<host binary>` script
///   (or a symlink as the command, or a `PATH` entry) would run a host binary through an fd of
///   ours (a procfs of the host's PID namespace, a library caller's directory) and let the
///   container's script rewrite it (the CVE-2019-5736 outcome). So the first child closes
///   every fd the steps do not use first thing (`close_range(2)` around the kept ones), and the
///   plan's own fds once it has entered; at the `execve` only 0-2, `keep_fds` and the error
///   pipe (`O_CLOEXEC`) are open.
/// - **No shared memory with the caller in the target's PID namespace.** A process the target
///   can see (`kill(next PID, SIGSTOP)`, then `/proc/<pid>/mem` and `pidfd_getfd` with
///   `CAP_SYS_PTRACE`, which the non-dumpable flag does not stop in the initial user
///   namespace) must not be the caller's address space. The first child borrows our memory
///   (`clone(CLONE_VM | CLONE_VFORK)`, no page-table copy) only when it stays outside the
///   target's PID namespace (a PID namespace is entered, which applies to its children only),
///   joins no user or time namespace and no cgroup (see [`NsPlan::needs_own_memory`]; a frozen
///   cgroup would freeze it while we are suspended). Otherwise it is a `fork`. The command's
///   process is always a fork (`clone(CLONE_PARENT)`, so that it is our child and we wait for it,
///   not the first child), made after the first child closed the host fds.
/// - **Non-dumpable until the exec**, from before the first `setns` (CVE-2016-9962, as runc's
///   `nsexec`); a failure of `PR_SET_DUMPABLE` is fatal. We restore our own dumpable state once
///   a child that shared our memory is gone.
/// - **No handler of ours in a child**: every signal is blocked across the clone, and the child
///   resets every caught signal to its default before the command's process unblocks them.
/// - **Never suspended for the command's life**: the first child exits as soon as the command's
///   process is released, and a caller that passes a [`SignalForwarder`] reacts to its signals
///   while the command starts (a stopped or frozen process being prepared cannot hold it).
///
/// The children touch only their stack and `plan` (kept alive by us), and make raw syscalls:
/// no allocation, no locks.
pub fn spawn(plan: &SpawnPlan<'_>, signals: Option<&SignalForwarder>) -> Result<Pid, StartError> {
    let pipe = |what| {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| StartError::Child(child_error("pipe2", e, what)))
    };
    let (errr, errw) = pipe("the child's error channel")?;
    // The first child tells the command's process to go on once its PID was reported, so that a
    // process we do not know of never runs the command (if we kill the first child before the
    // report, the other one sees EOF and exits).
    let gate = if plan.fork_again {
        Some(pipe("the command process's start signal")?)
    } else {
        None
    };
    let mut channel = vec![errw.as_raw_fd()];
    if let Some((r, w)) = &gate {
        channel.extend([r.as_raw_fd(), w.as_raw_fd()]);
    }
    // A kept fd is borrowed, so open, and cannot be the number our pipes just got; checked all
    // the same, because a kept end of our own channel would keep it open past the exec (the
    // caller would wait forever) and only code that closes fds it does not own could get here.
    if plan.keep_fds.iter().any(|k| {
        let k = k.as_raw_fd();
        channel.contains(&k) || k == errr.as_raw_fd()
    }) {
        return Err(StartError::Child(child_error(
            "fcntl",
            Errno::BADF,
            "a fd to keep was closed while the command was being started",
        )));
    }
    let mut late: Vec<RawFd> = plan
        .keep_fds
        .iter()
        .map(AsRawFd::as_raw_fd)
        .chain(channel)
        .collect();
    late.sort_unstable();
    late.dedup();
    let mut early = late.clone();
    early.extend(plan.own_fds());
    early.sort_unstable();
    early.dedup();

    // A child that shares our memory makes our whole mm non-dumpable, and we restore the state
    // afterwards: a state we could not read could not be restored, so such a child is a fork
    // (which makes only its own mm non-dumpable).
    let dumpable = rustix::process::dumpable_behavior().ok();
    let may_share = plan.ns.enters(libc::CLONE_NEWPID)
        && !plan.ns.needs_own_memory()
        && plan.cgroup_procs.is_none()
        && dumpable.is_some()
        && !features::known_unavailable(Feature::CloneVfork);
    // No stack (mmap refused): the first child is a fork, this time and every later time, as
    // `Feature::CloneVfork` promises (the registry records the failure once).
    let stack = if may_share {
        ChildStack::new()
            .map_err(|_| features::mark_unavailable(Feature::CloneVfork))
            .ok()
    } else {
        None
    };
    let saved_mask = block_all_signals();
    let ctx = ChildCtx {
        plan,
        errw: errw.as_fd(),
        gate: gate.as_ref().map(|(r, w)| (r.as_fd(), w.as_fd())),
        early: &early,
        late: &late,
    };
    CHILD_KINDS.with(|k| k.set(count_child_kind(k.get(), stack.is_some())));
    let first = if let Some(stack) = &stack {
        clone_vfork(first_entry, stack.top(), &ctx)
    } else {
        // A raw clone, not glibc's fork(3): that one runs the caller's `pthread_atfork` child
        // handlers in the child, arbitrary code that may allocate or lock (as glibc's own
        // posix_spawn avoids them).
        // SAFETY: the child runs only `first_child`: raw syscalls (rustix's Linux backend,
        // `sigaction`, `sigprocmask`, `execve`, `_exit`, all async-signal-safe per
        // signal-safety(7)) over stack buffers and `ctx`, prepared before the fork; no
        // allocation, no lock, no panic (the clippy denies on every child function), and it
        // leaves with execve(2) or _exit(2).
        unsafe { fork_raw(Fork::Child, || first_child(&ctx)) }
    };
    if stack.is_some() {
        // The child made our shared mm non-dumpable; it is gone now.
        if let Some(d) = dumpable {
            let _ = rustix::process::set_dumpable_behavior(d);
        }
    }
    restore_signals(&saved_mask);
    let first = first.map_err(|e| {
        StartError::Child(child_error(
            "fork",
            e,
            "starting the process that enters the namespaces",
        ))
    })?;
    drop(errw);
    drop(gate);
    collect(first, plan.fork_again, errr, signals)
}

/// The parent's side of [`spawn`]: reads the children's reports until the channel closes (every
/// writer exited or exec'd), reaps the first child, and returns the command's PID.
fn collect(
    first: Pid,
    fork_again: bool,
    errr: OwnedFd,
    signals: Option<&SignalForwarder>,
) -> Result<Pid, StartError> {
    let mut command = (!fork_again).then_some(first);
    let mut error = None;
    let mut buf = [0u8; RECORD * 4];
    let mut got = 0;
    loop {
        if let Some(signals) = signals {
            if let Some(sig) = signals.wait_readable(errr.as_fd()) {
                abort(first, command, &errr);
                return Err(StartError::Interrupted(sig));
            }
        }
        match rustix::io::read(&errr, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(_) => break,
        }
        got = parse_records(&mut buf, got, |step, value, nstype| {
            if step == STEP_PID {
                command = Pid::from_raw(value);
            } else {
                error.get_or_insert(step_error(step, Errno::from_raw_os_error(value), nstype));
            }
        });
    }
    if fork_again {
        // It exited: the channel is closed only once every copy of its write end is.
        let _ = wait(first);
    }
    if let Some(error) = error {
        if let Some(command) = command {
            let _ = wait(command);
        }
        return Err(StartError::Child(error));
    }
    command.ok_or(StartError::Child(child_error(
        "fork",
        Errno::CHILD,
        "the child died before it could run the command",
    )))
}

/// The size of one report on the error channel: `(step, errno or PID, nstype)`.
const RECORD: usize = 12;

/// Calls `f` for every whole record in `buf[..got]`, and moves a partial one to the front;
/// returns its length.
fn parse_records(buf: &mut [u8], got: usize, mut f: impl FnMut(u32, i32, i32)) -> usize {
    let whole = got - got % RECORD;
    for r in buf[..whole].chunks_exact(RECORD) {
        let word = |i: usize| <[u8; 4]>::try_from(&r[i..i + 4]).expect("4 bytes");
        f(
            u32::from_ne_bytes(word(0)),
            i32::from_ne_bytes(word(4)),
            i32::from_ne_bytes(word(8)),
        );
    }
    buf.copy_within(whole..got, 0);
    got - whole
}

/// Kills and reaps the processes [`spawn`] started (a signal came before the exec): the first
/// child, and the command's process if it was reported, even just now.
fn abort(first: Pid, command: Option<Pid>, errr: &OwnedFd) {
    let kill = |pid: Pid| {
        // SAFETY: kill(2) of our own unreaped child: its PID cannot have been reused.
        unsafe { libc::kill(pid.as_raw_nonzero().get(), libc::SIGKILL) };
        let _ = wait(pid);
    };
    kill(first);
    let mut command = command.filter(|&c| c != first);
    // Whatever the first child reported before it died is in the pipe now.
    let _ = rustix::fs::fcntl_setfl(errr, rustix::fs::OFlags::NONBLOCK);
    let mut buf = [0u8; RECORD * 4];
    let mut got = 0;
    while let Ok(n @ 1..) = rustix::io::read(errr, &mut buf[got..]) {
        got = parse_records(&mut buf, got + n, |step, value, _| {
            if step == STEP_PID {
                command = Pid::from_raw(value);
            }
        });
    }
    if let Some(command) = command {
        kill(command);
    }
}

/// The signals a caller waiting with a [`SignalForwarder`] passes on to the command.
pub const FORWARDED: [i32; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// `si_code` of a signal the kernel sent (a terminal's ^C, ^\, window size change).
const SI_KERNEL: i32 = 0x80;

/// [`FORWARDED`] and `SIGCHLD`, blocked in the calling thread and read from a `signalfd`, so
/// that a caller waiting for the command stays responsive without a handler (which could not run
/// safely in our children). Dropping it restores the thread's signal mask; signals it has read
/// are not delivered again.
///
/// Signals sent to the process are only caught this way if every thread blocks them: use it in
/// a single-threaded process (the `procroot` CLI), or block them in every thread first.
pub struct SignalForwarder {
    fd: OwnedFd,
    saved: libc::sigset_t,
}

impl std::fmt::Debug for SignalForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalForwarder")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl SignalForwarder {
    /// Blocks the signals and opens the `signalfd`.
    ///
    /// # References
    ///  - [`signalfd(2)`](https://man7.org/linux/man-pages/man2/signalfd.2.html)
    pub fn new() -> Result<SignalForwarder, SyscallError> {
        // rustix has no signalfd: the sigset calls are libc's.
        // SAFETY: `sigset_t` is plain data, for which all-zero is a valid value.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a sigset on the stack.
        unsafe { libc::sigemptyset(&mut set) };
        for sig in FORWARDED.into_iter().chain([libc::SIGCHLD]) {
            // SAFETY: as above; every signal number here is valid.
            unsafe { libc::sigaddset(&mut set, sig) };
        }
        // SAFETY: plain data, as `set`.
        let mut saved: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` and `saved` are sigsets on the stack; the kernel reads one and writes
        // the other.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut saved) };
        // SAFETY: fd -1 asks for a new signalfd; the kernel only reads `set`.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            let errno = last_errno();
            // SAFETY: restores the mask saved above from a sigset on the stack; a NULL old-set
            // pointer means "not wanted".
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) };
            return Err(SyscallError {
                syscall: "signalfd",
                errno,
                detail: "receiving the signals to pass on to the command",
            });
        }
        Ok(SignalForwarder {
            // SAFETY: signalfd returned a new fd that nothing else owns: the OwnedFd takes it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            saved,
        })
    }

    /// The next signal read, as `(signo, si_code)`, or `None` if none is pending.
    fn take(&self) -> Option<(i32, i32)> {
        let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        // SAFETY: the buffer is as large as the record the kernel writes.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                info.as_mut_ptr().cast::<u8>(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        let want = bytes.len();
        match rustix::io::read(&self.fd, bytes) {
            Ok(n) if n == want => {
                // SAFETY: zero-initialised, and the kernel wrote a whole record.
                let info = unsafe { info.assume_init() };
                Some((info.ssi_signo as i32, info.ssi_code))
            }
            _ => None,
        }
    }

    /// Blocks until a signal is pending and returns it.
    fn next(&self) -> (i32, i32) {
        loop {
            if let Some(s) = self.take() {
                return s;
            }
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            let _ = rustix::event::poll(&mut fds, None);
        }
    }

    /// Blocks until `fd` is readable (`None`) or a signal that ends the start arrives (it is
    /// returned); other signals (`SIGWINCH`, `SIGCHLD`) are dropped: the command reads the
    /// terminal's size when it starts. A readable `fd` comes first: a report or the end of the
    /// channel (the command has exec'd) is read before a signal that came at the same time, so
    /// that a command that already runs gets the signal instead of being killed.
    fn wait_readable(&self, fd: BorrowedFd<'_>) -> Option<i32> {
        loop {
            let mut fds = [
                PollFd::new(&fd, PollFlags::IN),
                PollFd::new(&self.fd, PollFlags::IN),
            ];
            match rustix::event::poll(&mut fds, None) {
                Ok(_) if !fds[0].revents().is_empty() => return None,
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => return None,
            }
            while let Some((sig, _)) = self.take() {
                if sig != libc::SIGWINCH && sig != libc::SIGCHLD {
                    return Some(sig);
                }
            }
        }
    }
}

impl Drop for SignalForwarder {
    fn drop(&mut self) {
        // SAFETY: pthread_sigmask with the mask saved by `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.saved, std::ptr::null_mut()) };
    }
}

/// Waits for the command `pid` (our child, from [`spawn`]) as a shell's job, and returns its raw
/// wait status:
/// - [`FORWARDED`] signals are passed on with `kill(2)`, but those the terminal sent to our
///   whole process group while the command is still in it (`si_code` `SI_KERNEL`: ^C, ^\, a
///   window size change), which it got already;
/// - job control: when the command stops (^Z reaches the whole group, or someone stopped it
///   alone), we stop too, with its signal (`SIGSTOP` if we ignore that one), so that the shell
///   gets its prompt back; once continued (`fg`), we continue the command as well.
pub fn wait_forwarding(pid: Pid, signals: &SignalForwarder) -> Result<i32, SyscallError> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG | WaitOptions::UNTRACED) {
            Ok(Some((_, status))) if status.stopped() => {
                let sig = status.stopping_signal().unwrap_or(libc::SIGSTOP);
                stop_as_the_command(pid, sig);
                continue;
            }
            Ok(Some((_, status))) => return Ok(status.as_raw()),
            Ok(None) | Err(Errno::INTR) => {}
            Err(errno) => {
                return Err(SyscallError {
                    syscall: "waitpid",
                    errno,
                    detail: "",
                })
            }
        }
        // A SIGCHLD that comes between the waitpid above and this read stays pending in the
        // signalfd: no wake-up is lost.
        let (sig, code) = signals.next();
        if sig == libc::SIGCHLD {
            continue;
        }
        let same_group =
            rustix::process::getpgid(Some(pid)).ok() == Some(rustix::process::getpgrp());
        if code == SI_KERNEL && same_group {
            continue;
        }
        // SAFETY: kill(2) of our own unreaped child: its PID cannot have been reused.
        unsafe { libc::kill(pid.as_raw_nonzero().get(), sig) };
    }
}

/// The command stopped with `sig`: stop ourselves the same way, then continue it.
fn stop_as_the_command(pid: Pid, sig: i32) {
    // SAFETY: `sigaction` is plain data, for which all-zero is a valid value.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a NULL new action only reads the current one into `act`, on the stack.
    let ignored = unsafe { libc::sigaction(sig, std::ptr::null(), &mut act) } != 0
        || act.sa_sigaction != libc::SIG_DFL;
    // SAFETY: getpid(2) takes nothing and cannot fail.
    let me = unsafe { libc::getpid() };
    // SAFETY: kill(2) of ourselves with a plain signal number; no memory is involved.
    unsafe { libc::kill(me, if ignored { libc::SIGSTOP } else { sig }) };
    // SAFETY: kill(2) of our own unreaped child: its PID cannot have been reused.
    unsafe { libc::kill(pid.as_raw_nonzero().get(), libc::SIGCONT) };
}

/// What the children read: the plan, the error channel's write end and the start gate (as
/// numbers: each child has its own copy of the fd table), and the fds each closing step keeps.
struct ChildCtx<'p, 'a> {
    plan: &'p SpawnPlan<'a>,
    errw: BorrowedFd<'p>,
    /// The start gate's read and write ends (only with `fork_again`).
    gate: Option<(BorrowedFd<'p>, BorrowedFd<'p>)>,
    /// fds ≥ 3 open until the first child has entered: the kept ones, the channel, the plan's.
    early: &'p [RawFd],
    /// fds ≥ 3 open at the exec: the kept ones and the channel.
    late: &'p [RawFd],
}

impl ChildCtx<'_, '_> {
    #[deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    fn errw(&self) -> BorrowedFd<'_> {
        // Borrowed from the parent's OwnedFd, which outlives the children's use: each child has
        // its own copy of the fd table and closes only its own copy.
        self.errw
    }
}

/// A stack for the `CLONE_VM` first child, below a `PROT_NONE` guard page, so that an overflow
/// faults instead of writing into our memory.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

/// The child stack's size. The deepest frame is `exec_program` with its `PATH_MAX` buffer (in
/// the command's process, a fork, which inherits this stack); debug builds need a few times the
/// release build's stack.
const CHILD_STACK: usize = 256 * 1024;

impl ChildStack {
    fn new() -> Result<ChildStack, Errno> {
        let page = rustix::param::page_size();
        let len = page + CHILD_STACK;
        // SAFETY: a fresh anonymous private mapping, owned by the returned value (munmap'd in
        // Drop); nothing else refers to it.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::STACK,
            )?
        };
        let stack = ChildStack { base, len };
        // SAFETY: the guard page is the first page of the mapping made above.
        unsafe { rustix::mm::mprotect(base, page, rustix::mm::MprotectFlags::empty())? };
        Ok(stack)
    }

    /// The top (highest address, 16-byte aligned) of the stack.
    fn top(&self) -> *mut libc::c_void {
        self.base.wrapping_byte_add(self.len)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the child that used it has exited (CLONE_VFORK returns only
        // then: it never execs), and the command's process has a copy of its own.
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

/// `clone(entry, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, ctx)`: returns once the child has
/// exec'd or exited.
fn clone_vfork(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack_top: *mut libc::c_void,
    ctx: &ChildCtx<'_, '_>,
) -> Result<Pid, Errno> {
    // SAFETY: the child runs `entry` on its own stack (mapped, with a guard page) and shares our
    // memory; we are suspended until it execs or exits (CLONE_VFORK), so `ctx` outlives its
    // use. It shares our heap and our locks' memory, with only this thread's state: so it may
    // only make async-signal-safe calls, and it does: `first_child` makes raw syscalls through
    // rustix's Linux backend or libc's syscall wrappers (`sigaction`, `sigprocmask`, `execve`,
    // `_exit`, all async-signal-safe per signal-safety(7)) over stack buffers and the data in
    // `ctx` prepared before the clone, allocates nothing, takes no lock, cannot panic (the
    // clippy denies on every child function), and never returns (`_exit` or `execve`). Every
    // signal is blocked across the clone, and the child resets our handlers before unblocking.
    let pid = unsafe {
        libc::clone(
            entry,
            stack_top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (ctx as *const ChildCtx<'_, '_>).cast_mut().cast(),
        )
    };
    if pid < 0 {
        Err(last_errno())
    } else {
        Pid::from_raw(pid).ok_or(Errno::CHILD)
    }
}

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
extern "C" fn first_entry(ctx: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `clone_vfork` passes a `ChildCtx` that outlives this child (its parent is
    // suspended until we exit).
    first_child(unsafe { &*(ctx as *const ChildCtx<'_, '_>) })
}

/// Blocks every signal in the calling thread; returns the mask to restore.
fn block_all_signals() -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data, for which all-zero is a valid value.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `all` is a sigset on the stack.
    unsafe { libc::sigfillset(&mut all) };
    // SAFETY: `all` and `old` are sigsets on the stack; the kernel reads one, writes the other.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    old
}

fn restore_signals(mask: &libc::sigset_t) {
    // SAFETY: pthread_sigmask with a mask obtained from `block_all_signals`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// Every caught signal of this process back to its default action (ignored ones stay ignored,
/// as across `execve`), `SIGRTMAX` included. The children of [`spawn`] call it with every signal
/// blocked, so that no handler of ours can run in a process that shares our memory or has
/// joined a container. Async-signal-safe: `sigaction(2)` over stack data.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub fn reset_signal_handlers() {
    // `..=`: SIGRTMAX is a valid signal number, and a handler a caller installed for it would
    // otherwise run in the CLONE_VM child, on our heap, once the command's process unblocks
    // signals before its exec.
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: `sigaction` is plain data, for which all-zero is a valid value.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a NULL new action only reads the current one into `old`, on the stack.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0
            && old.sa_sigaction != libc::SIG_IGN
            && old.sa_sigaction != libc::SIG_DFL
        {
            // SAFETY: plain data, as `old`.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: sets the default action from a struct on the stack; a NULL old-action
            // pointer means "not wanted".
            unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        }
    }
}

/// Writes `(step, value, nstype)` to the error pipe. Async-signal-safe.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn report(ctx: &ChildCtx<'_, '_>, step: u32, value: i32, nstype: i32) {
    let mut buf = [0u8; RECORD];
    buf[..4].copy_from_slice(&step.to_ne_bytes());
    buf[4..8].copy_from_slice(&value.to_ne_bytes());
    buf[8..].copy_from_slice(&nstype.to_ne_bytes());
    let _ = rustix::io::write(ctx.errw(), &buf);
}

/// Reports a failed step and leaves. Async-signal-safe.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn fail(ctx: &ChildCtx<'_, '_>, step: u32, errno: Errno, nstype: i32) -> ! {
    report(ctx, step, errno.raw_os_error(), nstype);
    exit_now(127)
}

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) leaves the child without running the parent's exit handlers or
    // flushing its copies of the parent's buffers.
    unsafe { libc::_exit(code) }
}

/// `close(fd)` on a number of this process's own fd table. Async-signal-safe.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn close_raw(fd: RawFd) {
    // SAFETY: the child's own copy of the fd table; nothing in it uses `fd` afterwards.
    unsafe { libc::close(fd) };
}

/// The first child: non-dumpable, every fd it does not need closed, then cgroup, namespaces,
/// root and cwd, the plan's fds closed, and the command's process forked (or the command
/// executed here).
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn first_child(ctx: &ChildCtx<'_, '_>) -> ! {
    let plan = ctx.plan;
    reset_signal_handlers();
    // Before the first setns: nothing in the container may ptrace us or open our /proc files
    // until the command's execve (CVE-2016-9962). runc aborts when this fails; so do we.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        fail(ctx, STEP_DUMPABLE, e, 0);
    }
    // Whatever the caller had open (a library caller's directories, procroot's own procfs)
    // goes now, before anything of the target is touched.
    if let Err(e) = close_all_but(ctx.early, plan.procfs) {
        fail(ctx, STEP_CLOSE_RANGE, e, 0);
    }
    // "0" moves the writer (only this process, even when it shares our memory: it is a thread
    // group of its own); the command inherits the cgroup. The kernel checks the permission
    // against the credentials the file was opened with, so before or after setns is the same.
    if let Some(procs) = plan.cgroup_procs {
        if let Err(e) = rustix::io::write(procs, b"0") {
            fail(ctx, STEP_CGROUP, e, 0);
        }
    }
    // The target's LSM label for the exec (AppArmor, SELinux), written here, while procroot's
    // procfs is still open, and before entering anything (a user namespace would change how
    // that procfs's files see us): the command's process never holds that host fd, and
    // inherits the label across its fork (it lives in the credentials), to apply at its execve.
    if let Some((path, label)) = plan.creds.and_then(|c| c.exec_label.as_ref()) {
        if let Err(e) = super::creds::write_exec_label(plan.procfs, path, label) {
            fail(ctx, STEP_CREDS + super::creds::STEP_EXEC_LABEL, e, 0);
        }
    }
    if let Err((step, errno, nstype)) = enter_steps(&plan.ns) {
        fail(ctx, step, errno, nstype);
    }
    // The target's root, opened before entering anything, becomes ours (`setns` into a mount
    // namespace moved us to that namespace's root, which is not the target's root if it
    // chrooted or pivoted), then the cwd resolved inside it.
    if let Err(e) = rustix::process::fchdir(plan.root) {
        fail(ctx, STEP_FCHDIR_ROOT, e, 0);
    }
    if let Err(e) = rustix::process::chroot(".") {
        fail(ctx, STEP_CHROOT, e, 0);
    }
    match same_file_at(".", plan.root) {
        Ok(true) => {}
        Ok(false) => fail(ctx, STEP_VERIFY_ROOT, Errno::XDEV, 0),
        Err(e) => fail(ctx, STEP_VERIFY_ROOT, e, 0),
    }
    if let Err(e) = rustix::process::fchdir(plan.cwd) {
        fail(ctx, STEP_FCHDIR_CWD, e, 0);
    }
    // CVE-2024-21626: a cwd that is not below our root (a leaked host directory) makes getcwd
    // answer "(unreachable)/...". It must be the directory prepared, and reachable from "/".
    if let Err(e) = verify_cwd(plan.cwd) {
        fail(ctx, STEP_VERIFY_CWD, e, 0);
    }
    // The plan's fds (the target's root, the namespaces, the pidfd, the host's procfs) are done
    // with: the command's process is born without them.
    if let Err(e) = close_all_but(ctx.late, plan.procfs) {
        fail(ctx, STEP_CLOSE_RANGE, e, 0);
    }
    let Some((gate_r, gate_w)) = ctx.gate else {
        command_process(ctx)
    };
    // The command's process: our parent's child (`CLONE_PARENT`), so that the caller of
    // [`spawn`] waits for the command, not us.
    // SAFETY: it runs the gate loop and `command_process`: raw syscalls over stack buffers and
    // `ctx`, no allocation, no lock, no panic, and it leaves with execve(2) or _exit(2); this
    // process is a single-threaded child already.
    let command = unsafe {
        fork_raw(Fork::Sibling, || {
            close_raw(gate_w.as_raw_fd());
            let mut go = [0u8; 1];
            loop {
                match rustix::io::read(gate_r, &mut go) {
                    Ok(1) if go == [b'g'] => break,
                    Err(Errno::INTR) => {}
                    // The first child died before it reported us: nobody would wait for us.
                    _ => exit_now(127),
                }
            }
            close_raw(gate_r.as_raw_fd());
            command_process(ctx)
        })
    };
    match command {
        Ok(pid) => {
            close_raw(gate_r.as_raw_fd());
            report(ctx, STEP_PID, pid.as_raw_pid(), 0);
            let _ = rustix::io::write(gate_w, b"g");
            exit_now(0)
        }
        Err(e) => fail(ctx, STEP_FORK, e, 0),
    }
}

/// The process that becomes the command: [`last_steps_before_exec`], then the exec.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn command_process(ctx: &ChildCtx<'_, '_>) -> ! {
    if let Err((step, errno)) = last_steps_before_exec(ctx) {
        fail(ctx, step, errno, 0);
    }
    let plan = ctx.plan;
    let errno = exec_program(plan.program, plan.path, plan.argv, plan.envp);
    fail(ctx, STEP_EXEC, errno, 0)
}

/// The last steps before `execve`, in the process that becomes the command, which holds only
/// fds 0-2, the kept ones and the error channel, is non-dumpable and is inside the target
/// (namespaces, root, cwd): what the command inherits of its process state is set here, and only
/// here. Async-signal-safe.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn last_steps_before_exec(ctx: &ChildCtx<'_, '_>) -> Result<(), (u32, Errno)> {
    // The kept fds pass the exec.
    // (Borrowed by the plan, so open in the caller at the clone; every closing step keeps them.)
    for &keep in ctx.plan.keep_fds {
        rustix::io::fcntl_setfd(keep, rustix::io::FdFlags::empty())
            .map_err(|e| (STEP_KEEP_FD, e))?;
    }
    // Rust ignores SIGPIPE in its programs; the command gets the default back, and no blocked
    // signal, as from a shell.
    // SAFETY: signal(2) to the default action installs no handler of ours; async-signal-safe.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: `sigset_t` is plain data, for which all-zero is a valid value.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a sigset on the stack; sigemptyset is async-signal-safe.
    unsafe { libc::sigemptyset(&mut set) };
    // SAFETY: the kernel reads `set` from the stack; a NULL old-set pointer means "not wanted".
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
    // The target's credentials, last: seccomp (when it can come last) must filter nothing of
    // ours but the execve.
    if let Some(creds) = ctx.plan.creds {
        super::creds::apply(creds).map_err(|(step, e)| (STEP_CREDS + step, e))?;
    }
    Ok(())
}

/// `execve` of `program`, or of each `PATH` entry joined with it (as `execvp`, but on a stack
/// buffer: no allocation). Returns only on failure, with the most telling errno.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn exec_program(program: &CStr, path: &[u8], argv: &CArgs, envp: &CArgs) -> Errno {
    let name = program.to_bytes();
    if name.contains(&b'/') || name.is_empty() {
        return execve(program.as_ptr(), argv, envp);
    }
    let mut buf = [0u8; super::PATH_MAX];
    let mut best = Errno::NOENT;
    for dir in path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        // `dir/name\0`, or skipped when longer than the buffer (no slicing that could panic).
        let Some(dst) = buf.get_mut(..dir.len() + name.len() + 2) else {
            continue;
        };
        let src = dir.iter().chain(b"/").chain(name).chain(b"\0");
        for (d, &b) in dst.iter_mut().zip(src) {
            *d = b;
        }
        match execve(buf.as_ptr().cast(), argv, envp) {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => best = Errno::ACCESS,
            other => return other,
        }
    }
    best
}

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn execve(path: *const c_char, argv: &CArgs, envp: &CArgs) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
    // NUL-terminated strings that outlive the call. execve returns only on failure.
    unsafe { libc::execve(path, argv.as_ptr(), envp.as_ptr()) };
    last_errno()
}

/// Whether `path` (relative to the cwd) is the same file as `fd`.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn same_file_at(path: &str, fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let a = rustix::fs::statat(rustix::fs::CWD, path, rustix::fs::AtFlags::empty())?;
    Ok(super::FileId::from_stat(&a) == super::FileId::of(fd)?)
}

/// The cwd is `want` and is reachable from our root: the kernel's `getcwd` prefixes a cwd
/// outside the root with `(unreachable)` (Linux 2.6.36), so a path that does not start with `/`
/// means the cwd escaped. Async-signal-safe (a stack buffer, raw syscalls).
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub fn verify_cwd(want: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut buf = [0u8; super::PATH_MAX];
    // SAFETY: the buffer is writable for its whole length, which is passed along.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if rc < 0 {
        return Err(last_errno());
    }
    if buf[0] != b'/' {
        return Err(Errno::XDEV);
    }
    if !same_file_at(".", want)? {
        return Err(Errno::XDEV);
    }
    Ok(())
}

/// Closes every fd ≥ 3 of this process but `keep` (sorted): `close_range(first, last, 0)`
/// (Linux 5.9) over the gaps. Without it (`ENOSYS`, `EINVAL`: an older kernel or a filter), the
/// open fds are listed in `thread-self/fd` of `procfs` (the caller's hardened procfs, by fd: no
/// path of the target's) and closed one by one, so the cost is bounded by the fds really open,
/// not by `RLIMIT_NOFILE`. Async-signal-safe: a stack buffer, raw syscalls.
///
/// Closed, not marked close-on-exec: the kernel looks up the program and its `#!` interpreter
/// before it closes `O_CLOEXEC` fds, and a `/proc/self/fd/N/...` path in that lookup must not
/// find one of ours.
///
/// # References
///  - [`close_range(2)`](https://man7.org/linux/man-pages/man2/close_range.2.html)
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub fn close_all_but(keep: &[RawFd], procfs: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut from: u32 = 3;
    for &k in keep {
        let k = k as u32;
        if k > from {
            match close_range(from, k - 1) {
                Ok(()) => {}
                Err(Errno::NOSYS | Errno::INVAL) => return close_listed_but(keep, procfs),
                Err(e) => return Err(e),
            }
        }
        from = from.max(k + 1);
    }
    match close_range(from, u32::MAX) {
        Err(Errno::NOSYS | Errno::INVAL) => close_listed_but(keep, procfs),
        other => other,
    }
}

#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range closes fds of this process's own table; the callers own every fd in
    // the range (children about to exec, which use none of them again).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_errno())
    }
}

/// [`close_all_but`] without `close_range`: passes over `thread-self/fd` until one closes nothing.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn close_listed_but(keep: &[RawFd], procfs: BorrowedFd<'_>) -> Result<(), Errno> {
    use rustix::fs::{Mode, OFlags};
    let dir = rustix::fs::openat(
        procfs,
        c"thread-self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    loop {
        rustix::fs::seek(&dir, rustix::fs::SeekFrom::Start(0))?;
        let mut closed = false;
        let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let Some(fd) = parse_fd(entry.file_name().to_bytes()) else {
                continue;
            };
            if fd < 3 || fd == dir.as_raw_fd() || keep.contains(&fd) {
                continue;
            }
            close_raw(fd);
            closed = true;
        }
        if !closed {
            return Ok(());
        }
    }
}

/// A decimal fd number (`thread-self/fd` entry names), or `None` (`.`, `..`).
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    RawFd::try_from(n).ok()
}
/// `waitpid(pid, &status, 0)`, retried on `EINTR`: the raw wait status.
pub fn wait(pid: Pid) -> Result<i32, SyscallError> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status.as_raw()),
            Ok(None) => continue,
            Err(Errno::INTR) => continue,
            Err(errno) => {
                return Err(SyscallError {
                    syscall: "waitpid",
                    errno,
                    detail: "",
                })
            }
        }
    }
}

/// Whether `fd` is open (`fcntl(F_GETFD)` succeeds).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number only reads the fd table; EBADF if it is not open.
    rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok()
}

thread_local! {
    /// Test-only counters of [`child_kinds`]: (shared memory, own memory).
    static CHILD_KINDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

fn count_child_kind((shared, own): (u64, u64), shares_memory: bool) -> (u64, u64) {
    if shares_memory {
        (shared + 1, own)
    } else {
        (shared, own + 1)
    }
}

/// Test-only: how many first children `spawn` on the calling thread started sharing the
/// caller's memory (`CLONE_VM | CLONE_VFORK`), and how many with memory of their own (a fork),
/// so that a test claiming one kind can check that it ran.
pub fn child_kinds() -> (u64, u64) {
    CHILD_KINDS.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full plan is entered as far as the table goes and fails with the kernel's answer:
    /// nothing on the child path may panic.
    #[test]
    fn an_overlong_ns_plan_fails_without_panicking() {
        let file = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open /dev/null");
        let plan = NsPlan {
            pidfd: None,
            fds: [Some((libc::CLONE_NEWUTS, file.as_fd())); 8],
        };
        let err = enter(&plan).expect_err("/dev/null is no namespace");
        assert_eq!(err.error.errno, Errno::INVAL, "{err:?}");
        assert_eq!(err.nstype, libc::CLONE_NEWUTS);
    }

    /// A program name and `PATH` entry longer than the stack buffer are skipped, not a panic.
    #[test]
    fn an_overlong_path_entry_is_skipped() {
        let long = vec![b'x'; super::super::PATH_MAX * 2];
        let argv = CArgs::new(vec![c"x".to_owned()]);
        let envp = CArgs::new(Vec::new());
        let errno = exec_program(c"no-such-program", &long, &argv, &envp);
        assert_eq!(errno, Errno::NOENT);
    }
}
