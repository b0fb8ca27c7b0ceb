//! A process's credentials for `procroot exec`: copying a target's seccomp filters out of it
//! ([`seccomp_filters`], a `PTRACE_SECCOMP_GET_FILTER` helper), and applying a prepared set of
//! credentials in exec's child right before `execve` ([`apply`]).
//!
//! # Why a prepared plan and one `apply`
//!
//! [`apply`] runs in a forked (possibly `CLONE_VM`) child of a process that may have other
//! threads: it may only make raw syscalls over data prepared before the fork ([`CredsPlan`]),
//! never allocate or take a lock. It uses per-thread raw syscalls for ids (`setresuid(2)` as the
//! kernel offers it, not the C library's wrapper, which signals every thread of a process that
//! may share our memory).
//!
//! # Order of operations
//!
//! The kernel checks each step against the credentials left by the previous one, so the order is
//! fixed (as in runc's `finalizeNamespace`):
//! 1. the seccomp filters, when they cannot come last (the target has neither `no_new_privs` nor
//!    `CAP_SYS_ADMIN`: installing a filter then needs the `CAP_SYS_ADMIN` we still hold; the
//!    steps below then pass through the target's own filter, as they do in runc);
//! 2. the bounding set, while we still hold `CAP_SETPCAP`;
//! 3. `PR_SET_KEEPCAPS`, so that the uid change keeps the permitted set for step 5;
//! 4. supplementary groups, gids, uids (groups and gids need `CAP_SETGID`, so before uids);
//! 5. `capset` (effective, permitted, inheritable), then the ambient set (each ambient
//!    capability must be permitted and inheritable first);
//! 6. `no_new_privs`;
//! 7. the seccomp filters, last, so that nothing procroot itself does is filtered.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Gid, Pid, Uid, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::last_errno;

/// One classic-BPF instruction (`struct sock_filter`), as a seccomp filter is made of.
pub type BpfInsn = libc::sock_filter;

/// `CAP_SYS_ADMIN`'s bit: with it in the effective set a filter may be installed without
/// `no_new_privs`.
const CAP_SYS_ADMIN: u32 = 21;

/// Credentials to give exec's child, prepared completely before the fork.
#[derive(Debug, Clone)]
pub struct CredsPlan {
    /// Real, effective and saved uid, in the user namespace the child is in when it applies
    /// them; `None` keeps the child's.
    pub uid: Option<[u32; 3]>,
    /// Real, effective and saved gid, likewise.
    pub gid: Option<[u32; 3]>,
    /// Supplementary groups, or `None` to leave them (the target's user namespace denies
    /// `setgroups(2)` and ours already equal the target's).
    pub groups: Option<Vec<Gid>>,
    /// Capability sets as bit masks (bit N is capability N).
    pub bounding: u64,
    /// The permitted set.
    pub permitted: u64,
    /// The effective set.
    pub effective: u64,
    /// The inheritable set.
    pub inheritable: u64,
    /// The ambient set.
    pub ambient: u64,
    /// The highest capability number the kernel knows (`/proc/sys/kernel/cap_last_cap`).
    pub last_cap: u32,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// Seccomp filters, in the order they are to be installed (oldest first).
    pub seccomp: Vec<Vec<BpfInsn>>,
    /// The LSM label for the command's `execve`: the file under the caller's hardened procfs
    /// (`thread-self/attr/exec` or `thread-self/attr/apparmor/exec`) and what to write there
    /// (see [`write_exec_label`]).
    pub exec_label: Option<(CString, Vec<u8>)>,
}

// Sub-steps of [`apply`], reported on exec's error pipe (added to a base step code of exec's).
/// Installing a seccomp filter.
pub const STEP_SECCOMP: u32 = 0;
/// Dropping a capability from the bounding set.
pub const STEP_BOUNDING: u32 = 1;
/// `PR_SET_KEEPCAPS`.
pub const STEP_KEEPCAPS: u32 = 2;
/// `setgroups`.
pub const STEP_SETGROUPS: u32 = 3;
/// `setresgid`.
pub const STEP_SETRESGID: u32 = 4;
/// `setresuid`.
pub const STEP_SETRESUID: u32 = 5;
/// `capset`.
pub const STEP_CAPSET: u32 = 6;
/// The ambient set.
pub const STEP_AMBIENT: u32 = 7;
/// `PR_SET_NO_NEW_PRIVS`.
pub const STEP_NO_NEW_PRIVS: u32 = 8;
/// Writing the LSM exec label ([`write_exec_label`]).
pub const STEP_EXEC_LABEL: u32 = 9;
/// How many sub-steps there are.
pub const STEPS: u32 = 10;

/// The syscall and the reason of a sub-step, for messages.
pub fn step_name(step: u32) -> (&'static str, &'static str) {
    match step {
        STEP_SECCOMP => (
            "prctl",
            "installing the target's seccomp filter (PR_SET_SECCOMP)",
        ),
        STEP_BOUNDING => (
            "prctl",
            "dropping capabilities from the bounding set (PR_CAPBSET_DROP)",
        ),
        STEP_KEEPCAPS => ("prctl", "keeping capabilities across the uid change"),
        STEP_SETGROUPS => ("setgroups", "setting the target's supplementary groups"),
        STEP_SETRESGID => ("setresgid", "setting the target's gids"),
        STEP_SETRESUID => ("setresuid", "setting the target's uids"),
        STEP_CAPSET => ("capset", "setting the target's capability sets"),
        STEP_AMBIENT => ("prctl", "setting the target's ambient capabilities"),
        STEP_EXEC_LABEL => (
            "write",
            "setting the target's LSM label for the exec (attr/exec, through procroot's procfs \
             with openat2: Linux 5.6)",
        ),
        _ => ("prctl", "setting no_new_privs"),
    }
}

/// Applies `plan` to the calling thread (see the module's order of operations). Returns the
/// failed sub-step and its errno. Async-signal-safe: raw syscalls over `plan`, no allocation.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub fn apply(plan: &CredsPlan) -> Result<(), (u32, Errno)> {
    let seccomp_last = plan.no_new_privs || plan.effective & (1 << CAP_SYS_ADMIN) != 0;
    if !seccomp_last {
        install_filters(&plan.seccomp).map_err(|e| (STEP_SECCOMP, e))?;
    }
    for cap in 0..=plan.last_cap.min(63) {
        if plan.bounding & (1 << cap) == 0 {
            // SAFETY: prctl(PR_CAPBSET_DROP) takes plain integers.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                return Err((STEP_BOUNDING, last_errno()));
            }
        }
    }
    rustix::thread::set_keep_capabilities(true).map_err(|e| (STEP_KEEPCAPS, e))?;
    if let Some(groups) = &plan.groups {
        rustix::thread::set_thread_groups(groups).map_err(|e| (STEP_SETGROUPS, e))?;
    }
    if let Some(gid) = plan.gid {
        let [r, e, s] = gid.map(Gid::from_raw);
        rustix::thread::set_thread_res_gid(r, e, s).map_err(|e| (STEP_SETRESGID, e))?;
    }
    if let Some(uid) = plan.uid {
        let [r, e, s] = uid.map(Uid::from_raw);
        rustix::thread::set_thread_res_uid(r, e, s).map_err(|e| (STEP_SETRESUID, e))?;
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::from_bits_retain(plan.effective),
            permitted: CapabilitySet::from_bits_retain(plan.permitted),
            inheritable: CapabilitySet::from_bits_retain(plan.inheritable),
        },
    )
    .map_err(|e| (STEP_CAPSET, e))?;
    rustix::thread::clear_ambient_capability_set().map_err(|e| (STEP_AMBIENT, e))?;
    for cap in 0..=plan.last_cap.min(63) {
        if plan.ambient & (1 << cap) != 0 {
            // SAFETY: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap) takes plain integers.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if rc != 0 {
                return Err((STEP_AMBIENT, last_errno()));
            }
        }
    }
    rustix::thread::set_keep_capabilities(false).map_err(|e| (STEP_KEEPCAPS, e))?;
    if plan.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| (STEP_NO_NEW_PRIVS, e))?;
    }
    if seccomp_last {
        install_filters(&plan.seccomp).map_err(|e| (STEP_SECCOMP, e))?;
    }
    Ok(())
}

/// `PROC_SUPER_MAGIC` (`include/uapi/linux/magic.h`).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Writes `label` to `path` (this thread's `attr/exec`, or AppArmor's `attr/apparmor/exec`)
/// under `procfs`, the caller's hardened procfs root, in one `write(2)`. Async-signal-safe.
///
/// The file is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS)`,
/// so nothing mounted on it or on the way (another procfs file bound over `attr/exec`, as in
/// CVE-2025-52881) is written, and checked to be on procfs. The kernel lets a thread write
/// only its own `attr/*` files, so the process that needs the label opens it itself; the label
/// is kept across `fork` and used by the next `execve`. Without `openat2` (before Linux 5.6, or
/// filtered) this fails (`ENOSYS`): the label is never written through an unchecked path.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub fn write_exec_label(procfs: BorrowedFd<'_>, path: &CStr, label: &[u8]) -> Result<(), Errno> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let fd = rustix::fs::openat2(
        procfs,
        path,
        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
    )?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures.
    if rustix::fs::fstatfs(&fd)?.f_type as i64 != PROC_SUPER_MAGIC {
        return Err(Errno::XDEV);
    }
    let written = rustix::io::write(&fd, label)?;
    if written != label.len() {
        return Err(Errno::IO);
    }
    Ok(())
}

/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog)` for each filter, in order.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn install_filters(filters: &[Vec<BpfInsn>]) -> Result<(), Errno> {
    for f in filters {
        let prog = libc::sock_fprog {
            len: f.len() as u16,
            filter: f.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `f`, which outlives the call; the kernel copies the program
        // and never writes through the pointer.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// The highest capability number the running kernel knows (what
/// `/proc/sys/kernel/cap_last_cap` says), found without procfs: `PR_CAPBSET_READ` of a number
/// the kernel does not know is `EINVAL` (a binary search, six calls).
pub fn last_cap() -> u32 {
    let known = |cap: u32| {
        // SAFETY: prctl(PR_CAPBSET_READ, cap) takes plain integers and only reads.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) >= 0 }
    };
    let (mut lo, mut hi) = (0u32, 64u32); // known(lo); !known(hi)
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if known(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `PTRACE_SECCOMP_GET_FILTER` (`include/uapi/linux/ptrace.h`).
const PTRACE_SECCOMP_GET_FILTER: libc::c_long = 0x420c;
const PTRACE_SEIZE: libc::c_long = 0x4206;
const PTRACE_INTERRUPT: libc::c_long = 0x4207;
const PTRACE_DETACH: libc::c_long = 17;

/// The kernel's limit on the instructions of all of a process's filters together
/// (`MAX_INSNS_PER_PATH`, 256 KiB of instructions), which bounds the copy.
const MAX_INSNS: usize = (1 << 18) / std::mem::size_of::<BpfInsn>();
/// At most this many filters (each costs at least 5 of [`MAX_INSNS`]).
const MAX_FILTERS: usize = MAX_INSNS / 5;

/// The shared page the helper writes its answer into.
#[repr(C)]
struct Answer {
    /// 0 when done, else the failed call: 1 seize, 2 interrupt, 3 wait, 4 get filter, 5 too big.
    step: u32,
    errno: i32,
    n: u32,
    lens: [u32; MAX_FILTERS],
    insns: [BpfInsn; MAX_INSNS],
}

/// Which call of the helper failed, for messages.
pub fn seccomp_step_name(step: u32) -> &'static str {
    match step {
        1 => "ptrace(PTRACE_SEIZE)",
        2 => "ptrace(PTRACE_INTERRUPT)",
        3 => "waitpid (the target never stopped)",
        4 => "ptrace(PTRACE_SECCOMP_GET_FILTER)",
        5 => "the target's filters exceed the kernel's own size limit",
        _ => "fork",
    }
}

/// The seccomp filters of process `pid` (which `pidfd` names), oldest first, copied with
/// `PTRACE_SECCOMP_GET_FILTER` (needs `CAP_SYS_ADMIN` in the initial user namespace, and a
/// caller under no seccomp filter of its own).
///
/// The target must be ptrace-stopped for the copy. A forked helper, not the caller, is the
/// tracer: it seizes the target (`PTRACE_SEIZE`: no signal is sent, nothing the target sees
/// but a short stop), stops it with `PTRACE_INTERRUPT`, copies every filter into memory shared
/// with the caller, and detaches. If the target never stops (a frozen cgroup, an uninterruptible
/// sleep), the caller kills the helper after `deadline`, and the kernel detaches it: the target is
/// never left stopped or traced. The helper makes raw syscalls only (fork-safe in a threaded
/// caller) and holds nothing a target could use: it is not in the target's PID namespace.
///
/// Returns `(step, errno)` of the failed call (see [`seccomp_step_name`]); `ESRCH` once the
/// pidfd says the target exited (a reused PID's filters are never returned: the pidfd is checked
/// after the copy, and a live pidfd means the PID named the target throughout).
pub fn seccomp_filters(
    pid: u32,
    pidfd: BorrowedFd<'_>,
    deadline: Duration,
) -> Result<Vec<Vec<BpfInsn>>, (u32, Errno)> {
    let size = std::mem::size_of::<Answer>();
    // SAFETY: a fresh anonymous shared mapping, unmapped below; nothing else refers to it. Shared,
    // so that the forked helper's writes reach us.
    let map = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            size,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::SHARED,
        )
    }
    .map_err(|e| (0, e))?;
    let answer = map.cast::<Answer>();
    // SAFETY: the mapping is zero-filled and large enough; `step` starts as "not done".
    unsafe { (*answer).step = u32::MAX };
    // The raw clone of `process::fork_raw`, as every fork of this crate: no `pthread_atfork`
    // handler of the caller runs in the helper.
    let helper = || {
        // SAFETY: the mapping is ours for the helper's life; the parent reads it only after the
        // helper exited.
        copy_filters(pid as libc::pid_t, unsafe { &mut *answer })
    };
    // SAFETY: the child runs `copy_filters`, raw syscalls over the shared mapping and its stack
    // only (no allocation, no lock, no panic: the clippy denies there), so it is fork-safe in a
    // threaded caller.
    let child = unsafe { super::process::fork_raw(super::process::Fork::Child, helper) };
    let result = match child {
        Err(e) => Err((0, e)),
        Ok(helper) => wait_helper(helper, deadline).and_then(|()| {
            // SAFETY: the helper has exited; the mapping is ours alone again.
            read_answer(unsafe { &*answer })
        }),
    };
    // SAFETY: our own mapping, no longer used.
    let _ = unsafe { rustix::mm::munmap(map, size) };
    let filters = result?;
    match super::process::pidfd_is_alive(pidfd.as_fd()) {
        Ok(true) => Ok(filters),
        Ok(false) => Err((1, Errno::SRCH)),
        Err(e) => Err((1, e)),
    }
}

/// Waits for the helper until `deadline`, then kills it (which detaches it from the target).
fn wait_helper(helper: Pid, deadline: Duration) -> Result<(), (u32, Errno)> {
    let end = Instant::now() + deadline;
    loop {
        match rustix::process::waitpid(Some(helper), WaitOptions::NOHANG) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) | Err(Errno::INTR) => {}
            Err(e) => return Err((0, e)),
        }
        if Instant::now() >= end {
            let _ = rustix::process::kill_process(helper, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(helper), WaitOptions::empty());
            return Err((3, Errno::TIMEDOUT));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn read_answer(a: &Answer) -> Result<Vec<Vec<BpfInsn>>, (u32, Errno)> {
    if a.step != 0 {
        let errno = if a.step == u32::MAX {
            Errno::CHILD
        } else {
            Errno::from_raw_os_error(a.errno)
        };
        return Err((a.step.min(5), errno));
    }
    let mut out = Vec::with_capacity(a.n as usize);
    let mut at = 0usize;
    for &len in &a.lens[..a.n as usize] {
        let len = len as usize;
        out.push(a.insns[at..at + len].to_vec());
        at += len;
    }
    // The kernel numbers filters from the newest (index 0); they are installed oldest first.
    out.reverse();
    Ok(out)
}

/// The helper: seize, interrupt, wait for the stop, copy every filter, detach. Raw syscalls only,
/// and nothing here may panic (it runs in a copy of a possibly multithreaded caller).
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
fn copy_filters(pid: libc::pid_t, a: &mut Answer) -> i32 {
    let ptrace = |req: libc::c_long, addr: libc::c_long, data: *mut libc::c_void| {
        // SAFETY: ptrace requests on the target with integer arguments, or for
        // GET_FILTER a buffer that is large enough (checked against the returned count).
        unsafe { libc::syscall(libc::SYS_ptrace, req, pid, addr, data) }
    };
    let fail = |a: &mut Answer, step: u32| {
        a.errno = last_errno().raw_os_error();
        a.step = step;
        1
    };
    if ptrace(PTRACE_SEIZE, 0, std::ptr::null_mut()) < 0 {
        return fail(a, 1);
    }
    if ptrace(PTRACE_INTERRUPT, 0, std::ptr::null_mut()) < 0 {
        return fail(a, 2);
    }
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a stack variable.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if rc == pid {
            break;
        }
        if rc < 0 && last_errno() != Errno::INTR {
            return fail(a, 3);
        }
    }
    if !libc::WIFSTOPPED(status) {
        a.errno = Errno::SRCH.raw_os_error();
        a.step = 3;
        return 1;
    }
    let mut at = 0usize;
    let mut n = 0usize;
    loop {
        let count = ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            n as libc::c_long,
            std::ptr::null_mut(),
        );
        if count < 0 {
            if last_errno() == Errno::NOENT {
                break;
            }
            return fail(a, 4);
        }
        let count = count as usize;
        // Room for `count` more instructions and one more length, or too big.
        let room = a
            .insns
            .get_mut(at..at.saturating_add(count))
            .map(|r| r.as_mut_ptr());
        let (Some(buf), true) = (room, n < MAX_FILTERS) else {
            a.errno = Errno::TOOBIG.raw_os_error();
            a.step = 5;
            return 1;
        };
        let got = ptrace(PTRACE_SECCOMP_GET_FILTER, n as libc::c_long, buf.cast());
        if got < 0 || got as usize != count {
            return fail(a, 4);
        }
        if let Some(len) = a.lens.get_mut(n) {
            *len = count as u32;
        }
        at += count;
        n += 1;
    }
    a.n = n as u32;
    // Detach resumes the target; were this to fail, our exit detaches it all the same.
    let _ = ptrace(PTRACE_DETACH, 0, std::ptr::null_mut());
    a.step = 0;
    0
}

#[cfg(test)]
mod tests {
    /// The filter-copying helper is a raw clone: no `pthread_atfork` child handler runs in it.
    #[cfg_attr(
        procroot_unprivileged,
        ignore = "needs root: built with --cfg procroot_unprivileged"
    )]
    #[test]
    fn the_seccomp_helper_runs_no_pthread_atfork_handler() {
        // A target with one allow-all filter (PTRACE_SECCOMP_GET_FILTER is EINVAL for a process
        // without one), forked before the marking handler exists; copying needs CAP_SYS_ADMIN.
        // SAFETY: the child makes raw syscalls only (prctl, seccomp, pause, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let mut allow = [libc::sock_filter {
                code: 0x06, // BPF_RET | BPF_K
                jt: 0,
                jf: 0,
                k: 0x7fff_0000, // SECCOMP_RET_ALLOW
            }];
            let prog = libc::sock_fprog {
                len: 1,
                filter: allow.as_mut_ptr(),
            };
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            // SAFETY: the program is on the stack and outlives the call.
            unsafe { libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const libc::sock_fprog) };
            loop {
                // SAFETY: pause(2) only waits; the test kills us.
                unsafe { libc::pause() };
            }
        }
        struct Kill(i32);
        impl Drop for Kill {
            fn drop(&mut self) {
                // SAFETY: kill and waitpid of our own unreaped child.
                unsafe { libc::kill(self.0, libc::SIGKILL) };
                // SAFETY: as above; a NULL status pointer means "not wanted".
                unsafe { libc::waitpid(self.0, std::ptr::null_mut(), 0) };
            }
        }
        let target = Kill(pid);
        let pid = target.0 as u32;
        // Until the target has its filter.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("status")
            .contains("Seccomp:\t2")
        {
            assert!(std::time::Instant::now() < deadline, "no filter installed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pidfd = crate::process::pidfd_open(pid).expect("pidfd_open");
        let marker = crate::process::tests::mark_atfork_children();
        let got = super::seccomp_filters(
            pid,
            std::os::fd::AsFd::as_fd(&pidfd),
            std::time::Duration::from_secs(10),
        );
        let ran = crate::process::tests::handler_ran(marker);
        drop(target);
        match got {
            Ok(filters) => assert_eq!(filters.len(), 1, "the target's one filter"),
            Err((step, e)) => panic!("{}: {e}", super::seccomp_step_name(step)),
        }
        assert!(
            !ran,
            "a pthread_atfork child handler ran in the seccomp helper"
        );
    }

    /// The binary search agrees with what the kernel prints.
    #[test]
    fn last_cap_is_the_kernels() {
        let printed: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .expect("cap_last_cap")
            .trim()
            .parse()
            .expect("a number");
        assert_eq!(super::last_cap(), printed);
    }
}
