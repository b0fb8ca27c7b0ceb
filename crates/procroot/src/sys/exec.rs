//! Process creation and execution: the fork → enter namespaces → fork → exec sequence of
//! `procroot exec`, `execveat` of a sealed self-binary, and the file calls that build one
//! (`memfd_create`, seals, `copy_file_range`/`sendfile`).
//!
//! # Why the whole child lives here
//!
//! After `fork(2)` in a process that may have other threads, the child owns only a copy of the
//! forking thread, and any lock another thread held (the allocator's, stdio's) stays locked
//! forever. Until `execve` the child may therefore only make async-signal-safe calls: raw
//! syscalls, no allocation, no locks. Keeping every line that runs in the child in this one
//! file, over data the parent prepared completely ([`SpawnPlan`], [`CArgs`]), makes that rule
//! checkable by reading a few functions ([`spawn`]'s `intermediate` and `command_process`). rustix's
//! Linux backend makes raw syscalls and builds short paths on the stack, so it is safe there.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::raw::c_char;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};
use rustix::thread::{LinkNameSpaceType, ThreadNameSpaceType};

use super::features::{self, Feature};
use super::{last_errno, SyscallError};

/// The namespace kinds, as `CLONE_NEW*` bits, in the order procroot enters them one by one
/// (after a pass that tries all but the user namespace first, see `enter_steps`): the user
/// namespace first, as runc's `nsexec` does for rootless containers (joining it is what grants
/// the capabilities the other `setns` calls need there), then the others, the mount namespace
/// last but one, and the PID and time namespaces (which only apply to children) last.
pub const NS_ORDER: [(i32, &str); 8] = [
    (libc::CLONE_NEWUSER, "user"),
    (libc::CLONE_NEWCGROUP, "cgroup"),
    (libc::CLONE_NEWIPC, "ipc"),
    (libc::CLONE_NEWUTS, "uts"),
    (libc::CLONE_NEWNET, "net"),
    (libc::CLONE_NEWNS, "mnt"),
    (libc::CLONE_NEWPID, "pid"),
    (CLONE_NEWTIME, "time"),
];

/// `CLONE_NEWTIME` (Linux 5.6), the time namespace's type.
pub const CLONE_NEWTIME: i32 = 0x80;

/// The `/proc/<pid>/ns/` file name of a `CLONE_NEW*` type.
pub fn ns_name(nstype: i32) -> &'static str {
    NS_ORDER
        .iter()
        .find(|(t, _)| *t == nstype)
        .map_or("unknown", |(_, n)| n)
}

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

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// The namespaces to enter, prepared before `fork`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NsPlan {
    /// A pidfd and the `CLONE_NEW*` bits for one atomic `setns(pidfd, flags)` (Linux 5.8), or
    /// `None` to go straight to the per-namespace files.
    pub pidfd: Option<(RawFd, i32)>,
    /// Per-namespace fds (`/proc/<pid>/ns/*`, already checked to be nsfs files of their type),
    /// in [`NS_ORDER`]; used when the pidfd is `None` or its `setns` failed.
    pub fds: [(i32, RawFd); 8],
    /// How many entries of `fds` are used.
    pub n: usize,
}

impl NsPlan {
    /// Whether entering needs a process with memory of its own. The kernel refuses the time
    /// namespace to a process that shares its mm (`EUSERS`, `timens_install`). It allows the
    /// user namespace (`userns_install` only wants no threads and an unshared `fs_struct`), but
    /// a child that joined it carries the container's credentials, and our memory should not be
    /// one ptrace check (the non-dumpable flag) away from them: that child forks too.
    pub fn needs_own_memory(&self) -> bool {
        let own = libc::CLONE_NEWUSER | CLONE_NEWTIME;
        self.pidfd.is_some_and(|(_, flags)| flags & own != 0)
            || self.fds[..self.n].iter().any(|&(t, _)| t & own != 0)
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
        STEP_FORK => ("fork", "forking the process that runs the command"),
        STEP_CLOSE_RANGE => ("close_range", "marking inherited fds close-on-exec"),
        STEP_KEEP_FD => ("fcntl", "passing a --keep-fd descriptor on"),
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
    pub ns: NsPlan,
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
    /// fds ≥ 3 the command keeps, sorted, without duplicates; checked to be open.
    pub keep_fds: &'a [RawFd],
    /// Fork again after entering the namespaces, so that a PID (or time) namespace applies to
    /// the command.
    pub fork_again: bool,
    /// The target's `cgroup.procs` (cgroup v2), opened for writing by the caller: the child
    /// moves itself there first, so the command starts in the target's cgroup.
    pub cgroup_procs: Option<BorrowedFd<'a>>,
    /// The credentials the command runs with (the target's), applied last before `execve`;
    /// `None` keeps the caller's (`--privileged`).
    pub creds: Option<&'a super::creds::CredsPlan>,
}

/// `setns` into every namespace of `plan`, in one call through the pidfd if it has one, else (or
/// if that fails) one file at a time in [`NS_ORDER`]. Async-signal-safe: it allocates nothing.
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
pub fn enter(plan: &NsPlan) -> Result<(), ChildError> {
    enter_steps(plan).map_err(|(step, errno, nstype)| step_error(step, errno, nstype))
}

fn enter_steps(plan: &NsPlan) -> Result<(), (u32, Errno, i32)> {
    let mut pidfd_errno = None;
    if let Some((fd, flags)) = plan.pidfd {
        // SAFETY: the fd number comes from an OwnedFd the caller keeps open for the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
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
    if plan.n == 0 {
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
    let has_user = plan.fds[..plan.n]
        .iter()
        .any(|&(t, _)| t == libc::CLONE_NEWUSER);
    let mut refused = [(0, 0); 8];
    let mut n_refused = 0;
    for &(nstype, fd) in &plan.fds[..plan.n] {
        if nstype == libc::CLONE_NEWUSER {
            continue;
        }
        match setns_file(fd, nstype) {
            Ok(()) => {}
            Err(Errno::PERM) if has_user => {
                refused[n_refused] = (nstype, fd);
                n_refused += 1;
            }
            Err(e) => return Err((STEP_SETNS, e, nstype)),
        }
    }
    for &(nstype, fd) in &plan.fds[..plan.n] {
        if nstype == libc::CLONE_NEWUSER {
            setns_file(fd, nstype).map_err(|e| (STEP_SETNS, e, nstype))?;
        }
    }
    for &(nstype, fd) in &refused[..n_refused] {
        setns_file(fd, nstype).map_err(|e| (STEP_SETNS, e, nstype))?;
    }
    Ok(())
}

/// `setns(fd, nstype)` for one namespace file. Async-signal-safe.
fn setns_file(fd: RawFd, nstype: i32) -> Result<(), Errno> {
    // SAFETY: the fd number comes from an OwnedFd the caller keeps open for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let kind = match nstype {
        libc::CLONE_NEWUSER => LinkNameSpaceType::User,
        libc::CLONE_NEWCGROUP => LinkNameSpaceType::ControlGroup,
        libc::CLONE_NEWIPC => LinkNameSpaceType::InterProcessCommunication,
        libc::CLONE_NEWUTS => LinkNameSpaceType::HostNameAndNISDomainName,
        libc::CLONE_NEWNET => LinkNameSpaceType::Network,
        libc::CLONE_NEWNS => LinkNameSpaceType::Mount,
        libc::CLONE_NEWPID => LinkNameSpaceType::ProcessID,
        _ => LinkNameSpaceType::Time,
    };
    rustix::thread::move_into_link_name_space(fd, Some(kind))
}

/// Starts a child that enters the namespaces of `plan`, makes the target's root its root and
/// the prepared directory its cwd (checked), starts the command's process if asked
/// (`fork_again`), and execs the command with every fd ≥ 3 but `keep_fds` marked close-on-exec.
/// Returns the child's PID once the command was executed (or, when the child shares our memory,
/// once it is done); a failure before the exec is returned with the call that failed.
///
/// The child that entered the namespaces waits for the command and exits as it did: with its
/// exit code, or by the same signal (as `nsenter` does), so [`wait`] on the returned PID gives
/// the command's status.
///
/// # How the children are made
///
/// A `fork` copies our page tables and, on exit, tears them down again: about 0.3 ms each on the
/// VMs we measured, two of them per `exec`, more than `nsenter`'s whole setup. So, as glibc's
/// `posix_spawn`, both children are made with `clone(CLONE_VM | CLONE_VFORK)` on stacks of their
/// own: they borrow our memory while we are suspended, and the kernel gives the command a fresh
/// address space at `execve`. A first child that enters a time namespace (which `setns` refuses
/// to a process sharing its memory, `EUSERS`) or a user namespace (see
/// [`NsPlan::needs_own_memory`]) is a real `fork`, whose own child is again a `CLONE_VM` one.
///
/// Sharing our memory with a process that joins a container is safe only if nothing in the
/// container can reach that memory and nothing of ours runs there:
/// - the first child makes the (shared) mm non-dumpable before its first `setns`, as runc's
///   `nsexec` (CVE-2016-9962): no ptrace, no `/proc/<pid>/mem` or `fd/` from inside the
///   container until the command's `execve` replaces the mm. We restore our own dumpable state
///   once the child is done;
/// - every signal is blocked across the clone, and the child resets every caught signal to its
///   default before unblocking, so none of our handlers ever runs on its stack;
/// - the child touches only its stack and this plan, which we keep alive (we are suspended), and
///   makes raw syscalls only.
pub fn spawn(plan: &SpawnPlan<'_>) -> Result<Pid, ChildError> {
    let (errr, errw) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| child_error("pipe2", e, "the child's error channel"))?;
    // No stacks (mmap refused): every child is a fork, as on a system without CLONE_VM.
    let stacks = if features::known_unavailable(Feature::CloneVfork) {
        None
    } else {
        ChildStacks::new().ok()
    };
    let share_memory = stacks.is_some() && !plan.ns.needs_own_memory();
    let dumpable = rustix::process::dumpable_behavior().ok();
    let saved_mask = block_all_signals();
    let ctx = ChildCtx {
        plan,
        errw: errw.as_raw_fd(),
        stacks: stacks.as_ref(),
        saved_mask,
    };
    let child = if let (true, Some(stacks)) = (share_memory, &stacks) {
        clone_vfork(intermediate_entry, stacks.top(0), &ctx)
    } else {
        // SAFETY: fork(2) has no memory-safety preconditions of its own. The child runs only
        // `intermediate` (and the command's process it clones), which make raw syscalls over
        // data prepared before the fork (no allocation, no locks) and leave with _exit(2) or
        // execve(2).
        match unsafe { libc::fork() } {
            0 => intermediate(&ctx),
            pid if pid < 0 => Err(last_errno()),
            pid => Ok(pid),
        }
    };
    if share_memory {
        // The child made our shared mm non-dumpable; it is done with it now.
        if let Some(d) = dumpable {
            let _ = rustix::process::set_dumpable_behavior(d);
        }
    }
    restore_signals(&saved_mask);
    let child = child
        .map_err(|e| child_error("fork", e, "starting the process that enters the namespaces"))?;
    drop(errw);
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(&errr, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    let pid = Pid::from_raw(child).expect("fork returned a positive PID");
    if got == 0 {
        return Ok(pid);
    }
    let _ = wait(pid);
    if got < buf.len() {
        return Err(child_error(
            "fork",
            Errno::CHILD,
            "the child died before it could run the command",
        ));
    }
    let step = u32::from_ne_bytes(buf[..4].try_into().expect("4 bytes"));
    let errno = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
    let nstype = i32::from_ne_bytes(buf[8..].try_into().expect("4 bytes"));
    Err(step_error(step, Errno::from_raw_os_error(errno), nstype))
}

/// What the children read: the plan, the error channel's write end (as a number: each child
/// has its own copy of the fd table), the stacks for `CLONE_VM` children, and the signal mask
/// to restore once our handlers are gone.
struct ChildCtx<'p, 'a> {
    plan: &'p SpawnPlan<'a>,
    errw: RawFd,
    stacks: Option<&'p ChildStacks>,
    saved_mask: libc::sigset_t,
}

impl ChildCtx<'_, '_> {
    fn errw(&self) -> BorrowedFd<'_> {
        // SAFETY: the parent keeps the pipe's write end open until the child has been started,
        // and each child closes only its own copy.
        unsafe { BorrowedFd::borrow_raw(self.errw) }
    }
}

/// Two stacks for `CLONE_VM` children (the one entering the namespaces, and the command's
/// process it starts), each below a `PROT_NONE` guard page, so that an overflow faults instead
/// of writing into our memory.
struct ChildStacks {
    base: *mut libc::c_void,
    len: usize,
}

/// Each child stack's size. The children's deepest frame is `exec_program` with its
/// `PATH_MAX` buffer; debug builds need a few times the release build's stack.
const CHILD_STACK: usize = 256 * 1024;

impl ChildStacks {
    fn new() -> Result<ChildStacks, Errno> {
        let page = rustix::param::page_size();
        let len = 2 * (page + CHILD_STACK);
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
        let stacks = ChildStacks { base, len };
        for i in 0..2 {
            // SAFETY: the guard page lies inside the mapping made above.
            unsafe {
                rustix::mm::mprotect(stacks.guard(i), page, rustix::mm::MprotectFlags::empty())?
            };
        }
        Ok(stacks)
    }

    fn guard(&self, i: usize) -> *mut libc::c_void {
        let page = rustix::param::page_size();
        self.base.wrapping_byte_add(i * (page + CHILD_STACK))
    }

    /// The top (highest address, 16-byte aligned) of stack `i`.
    fn top(&self, i: usize) -> *mut libc::c_void {
        let page = rustix::param::page_size();
        self.guard(i).wrapping_byte_add(page + CHILD_STACK)
    }
}

impl Drop for ChildStacks {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the children that used it have exited or exec'd (CLONE_VFORK
        // returns only then).
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

/// `clone(entry, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, ctx)`: returns once the child has
/// exec'd or exited.
fn clone_vfork(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack_top: *mut libc::c_void,
    ctx: &ChildCtx<'_, '_>,
) -> Result<i32, Errno> {
    // SAFETY: the child runs `entry` on its own stack (mapped, with a guard page) and shares our
    // memory; we are suspended until it execs or exits (CLONE_VFORK), so `ctx` outlives its
    // use. The entry points make raw syscalls only and never return (see `spawn`).
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
        Ok(pid)
    }
}

extern "C" fn intermediate_entry(ctx: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `clone_vfork` passes a `ChildCtx` that outlives this child (its parent is
    // suspended until we exec or exit).
    intermediate(unsafe { &*(ctx as *const ChildCtx<'_, '_>) })
}

extern "C" fn command_entry(ctx: *mut libc::c_void) -> libc::c_int {
    // SAFETY: as in `intermediate_entry`.
    command_process(unsafe { &*(ctx as *const ChildCtx<'_, '_>) })
}

/// Blocks every signal in the calling thread; returns the mask to restore.
fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigfillset and pthread_sigmask over stack-allocated sets.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

fn restore_signals(mask: &libc::sigset_t) {
    // SAFETY: pthread_sigmask with a mask obtained from `block_all_signals`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// In a child, with every signal blocked: every caught signal back to its default action (ignored
/// ones stay ignored, as across `execve`), so that no handler of ours can run in a process that
/// shares our memory or has joined a container. Async-signal-safe.
fn reset_signal_handlers() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction reads and writes stack-allocated structs only.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_IGN
                && old.sa_sigaction != libc::SIG_DFL
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// Writes `(step, errno, nstype)` to the error pipe and leaves. Async-signal-safe.
fn fail(ctx: &ChildCtx<'_, '_>, step: u32, errno: Errno, nstype: i32) -> ! {
    let mut buf = [0u8; 12];
    buf[..4].copy_from_slice(&step.to_ne_bytes());
    buf[4..8].copy_from_slice(&errno.raw_os_error().to_ne_bytes());
    buf[8..].copy_from_slice(&nstype.to_ne_bytes());
    let _ = rustix::io::write(ctx.errw(), &buf);
    exit_now(127)
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) leaves the child without running the parent's exit handlers or
    // flushing its copies of the parent's buffers.
    unsafe { libc::_exit(code) }
}

/// The first child: enter, root and cwd, then start the command's process (or exec the command
/// directly).
fn intermediate(ctx: &ChildCtx<'_, '_>) -> ! {
    let plan = ctx.plan;
    reset_signal_handlers();
    // Before the first setns: nothing in the container may ptrace us or open our /proc files
    // (our fds, and with CLONE_VM our parent's memory) until the command's execve.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    // "0" moves the writer (only this process, even when it shares our memory: it is a thread
    // group of its own); the command inherits the cgroup. The kernel checks the permission
    // against the credentials the file was opened with, so before or after setns is the same.
    if let Some(procs) = plan.cgroup_procs {
        if let Err(e) = rustix::io::write(procs, b"0") {
            fail(ctx, STEP_CGROUP, e, 0);
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
    if !plan.fork_again {
        command_process(ctx)
    }
    let pid = match ctx.stacks {
        // The command's process borrows our memory until its execve (we are single-threaded
        // and suspended meanwhile): no page-table copy.
        Some(stacks) => clone_vfork(command_entry, stacks.top(1), ctx),
        None => {
            // SAFETY: as in `spawn`: this process is single-threaded, and the new one runs
            // only `command_process`.
            match unsafe { libc::fork() } {
                0 => command_process(ctx),
                pid if pid < 0 => Err(last_errno()),
                pid => Ok(pid),
            }
        }
    };
    let pid = match pid {
        Ok(pid) => pid,
        Err(e) => fail(ctx, STEP_FORK, e, 0),
    };
    // Only the command may hold the error channel now: the parent's read ends at its exec.
    // SAFETY: our own copy of the write end, not used again in this process.
    unsafe { libc::close(ctx.errw) };
    // Signals may reach us again (a ^C kills us as it kills the command), with default actions.
    restore_signals(&ctx.saved_mask);
    let status = match wait(Pid::from_raw(pid).expect("positive PID")) {
        Ok(status) => status,
        Err(_) => exit_now(127),
    };
    propagate(status)
}

/// Exits as the command did: the same exit code, or death by the same signal (`nsenter`'s
/// behaviour), without a core dump of our own.
fn propagate(status: i32) -> ! {
    if libc::WIFEXITED(status) {
        exit_now(libc::WEXITSTATUS(status))
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit, signal, sigprocmask and kill are async-signal-safe syscalls over
        // stack data; they make this process die of the command's signal.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
        }
        exit_now(128 + sig)
    }
    exit_now(127)
}

/// The process that becomes the command.
fn command_process(ctx: &ChildCtx<'_, '_>) -> ! {
    let plan = ctx.plan;
    // Rust ignores SIGPIPE in its programs; the command gets the default back, and no blocked
    // signal, as from a shell.
    // SAFETY: signal and sigprocmask over stack data are async-signal-safe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
    // CVE-2024-21626: every fd ≥ 3 we did not mean to pass on is closed at exec, whatever
    // leaked into this process (a host directory, the target's root, the pidfd).
    let mut from: u32 = 3;
    for &keep in plan.keep_fds {
        let keep = keep as u32;
        if keep > from {
            if let Err(e) = close_range_cloexec(from, keep - 1) {
                fail(ctx, STEP_CLOSE_RANGE, e, 0);
            }
        }
        // SAFETY: checked open by the parent; we only change its fd flags.
        let fd = unsafe { BorrowedFd::borrow_raw(keep as RawFd) };
        if let Err(e) = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()) {
            fail(ctx, STEP_KEEP_FD, e, 0);
        }
        from = keep + 1;
    }
    if let Err(e) = close_range_cloexec(from, u32::MAX) {
        fail(ctx, STEP_CLOSE_RANGE, e, 0);
    }
    if let Some(creds) = plan.creds {
        if let Err((step, e)) = super::creds::apply(creds) {
            fail(ctx, STEP_CREDS + step, e, 0);
        }
    }
    let errno = exec_program(plan.program, plan.path, plan.argv, plan.envp);
    fail(ctx, STEP_EXEC, errno, 0)
}

/// `execve` of `program`, or of each `PATH` entry joined with it (as `execvp`, but on a stack
/// buffer: no allocation). Returns only on failure, with the most telling errno.
fn exec_program(program: &CStr, path: &[u8], argv: &CArgs, envp: &CArgs) -> Errno {
    let name = program.to_bytes();
    if name.contains(&b'/') || name.is_empty() {
        return execve(program.as_ptr(), argv, envp);
    }
    let mut buf = [0u8; super::PATH_MAX];
    let mut best = Errno::NOENT;
    for dir in path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let len = dir.len() + 1 + name.len();
        if len + 1 > buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name);
        buf[len] = 0;
        match execve(buf.as_ptr().cast(), argv, envp) {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => best = Errno::ACCESS,
            other => return other,
        }
    }
    best
}

fn execve(path: *const c_char, argv: &CArgs, envp: &CArgs) -> Errno {
    // SAFETY: `path` is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
    // NUL-terminated strings that outlive the call. execve returns only on failure.
    unsafe { libc::execve(path, argv.as_ptr(), envp.as_ptr()) };
    last_errno()
}

/// Whether `path` (relative to the cwd) is the same file as `fd`.
fn same_file_at(path: &str, fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let a = rustix::fs::statat(rustix::fs::CWD, path, rustix::fs::AtFlags::empty())?;
    let b = rustix::fs::fstat(fd)?;
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// The cwd is `want` and is reachable from our root: the kernel's `getcwd` prefixes a cwd
/// outside the root with `(unreachable)` (Linux 2.6.36), so a path that does not start with `/`
/// means the cwd escaped. Async-signal-safe (a stack buffer, raw syscalls).
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

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)` (Linux 5.11): marks the fds close-on-exec
/// without closing them, so nothing still in use before the exec breaks. rustix has no wrapper.
/// Before 5.11 (`EINVAL`/`ENOSYS`), every open fd in the range is marked one by one, as far as
/// the fd table goes (`RLIMIT_NOFILE`).
///
/// # References
///  - [`close_range(2)`](https://man7.org/linux/man-pages/man2/close_range.2.html)
pub fn close_range_cloexec(first: u32, last: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags; no fd is closed, so no
    // owner of an fd in the range is invalidated.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) };
    if rc == 0 {
        return Ok(());
    }
    match last_errno() {
        Errno::INVAL | Errno::NOSYS => {}
        e => return Err(e),
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20)
        .min(u64::from(last) + 1);
    for fd in u64::from(first)..limit {
        // SAFETY: only the flags of an fd that may or may not be open are changed; EBADF is
        // ignored.
        let fd = unsafe { BorrowedFd::borrow_raw(fd as RawFd) };
        match rustix::io::fcntl_getfd(fd) {
            Ok(flags) => rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)?,
            Err(Errno::BADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the file `fd` is open on, with no path and
/// no `/proc` needed. Returns only on failure.
///
/// # References
///  - [`execveat(2)`](https://man7.org/linux/man-pages/man2/execveat.2.html)
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &CArgs, envp: &CArgs) -> SyscallError {
    let empty = c"";
    // SAFETY: the empty path is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
    // NUL-terminated strings that outlive the call; the fd is open. execveat returns only on
    // failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    SyscallError {
        syscall: "execveat",
        errno: last_errno(),
        detail: "re-executing procroot from its sealed copy",
    }
}

/// `memfd_create(name, MFD_EXEC | MFD_ALLOW_SEALING | MFD_CLOEXEC)`, retried without `MFD_EXEC`
/// on `EINVAL` (before Linux 6.3 the flag does not exist; executable is then the default).
/// `EACCES` (`vm.memfd_noexec=2`) is returned as is.
///
/// # References
///  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub fn memfd_create_exec(name: &str) -> Result<OwnedFd, SyscallError> {
    let base = MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC;
    rustix::fs::memfd_create(name, base | MemfdFlags::EXEC)
        .or_else(|e| match e {
            Errno::INVAL => rustix::fs::memfd_create(name, base),
            e => Err(e),
        })
        .map_err(|errno| SyscallError {
            syscall: "memfd_create",
            errno,
            detail: "",
        })
}

/// The seals of a sealed self-binary: no more seals, no shrinking, growing or writing, and (Linux
/// 6.3) no change of its exec bits.
pub const EXE_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Adds [`EXE_SEALS`] and `F_SEAL_EXEC` where the kernel knows it (`EINVAL` before 6.3: then
/// without it).
///
/// # References
///  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html), "File
///    sealing"
pub fn seal_exe(fd: BorrowedFd<'_>) -> Result<(), SyscallError> {
    let add = || {
        rustix::fs::fcntl_add_seals(fd, EXE_SEALS | SealFlags::EXEC).or_else(|e| match e {
            Errno::INVAL => rustix::fs::fcntl_add_seals(fd, EXE_SEALS),
            e => Err(e),
        })
    };
    // F_SEAL_WRITE fails with EBUSY while any page of the file still has an extra reference.
    // Right after the copy, pages can sit in another CPU's LRU batch (the kernel drains only
    // the calling CPU's before it gives up), which the kernel counts as a pin: seen as a
    // flaky EBUSY under load. Nothing else holds them, so a short wait and a retry (possibly
    // on the other CPU, whose batch it then drains) succeeds.
    let mut result = add();
    for _ in 0..SEAL_RETRIES {
        if result != Err(Errno::BUSY) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        result = add();
    }
    result.map_err(|errno| SyscallError {
        syscall: "fcntl",
        errno,
        detail: "F_ADD_SEALS on the memfd copy",
    })
}

/// How often [`seal_exe`] retries a sealing refused with `EBUSY` (10 ms apart).
const SEAL_RETRIES: u32 = 20;

/// The seals of `fd` (`F_GET_SEALS`), or `EINVAL` if it is not a sealable file.
pub fn seals(fd: BorrowedFd<'_>) -> Result<SealFlags, Errno> {
    rustix::fs::fcntl_get_seals(fd)
}

/// Copies all of `src` (from its offset 0) to `dst`, with `copy_file_range(2)`, falling back to
/// `sendfile(2)` where the kernel refuses a copy across file systems (`EXDEV` before 5.19,
/// `EINVAL`, `ENOSYS`, `EOPNOTSUPP`). Returns the number of bytes copied.
pub fn copy_all(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<u64, SyscallError> {
    let mut copied: u64 = 0;
    let mut use_sendfile = false;
    loop {
        let chunk = 1 << 30;
        let n = if use_sendfile {
            let mut off = copied;
            rustix::fs::sendfile(dst, src, Some(&mut off), chunk).map_err(|errno| SyscallError {
                syscall: "sendfile",
                errno,
                detail: "copying procroot into its sealed copy",
            })?
        } else {
            let mut off_in = copied;
            match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, None, chunk) {
                Ok(n) => n,
                Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                    if copied == 0 =>
                {
                    use_sendfile = true;
                    continue;
                }
                Err(errno) => {
                    return Err(SyscallError {
                        syscall: "copy_file_range",
                        errno,
                        detail: "copying procroot into its sealed copy",
                    })
                }
            }
        };
        if n == 0 {
            return Ok(copied);
        }
        copied += n as u64;
    }
}

/// Whether `fd` is open (`fcntl(F_GETFD)` succeeds).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number only reads the fd table; EBADF if it is not open.
    rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_ok()
}
