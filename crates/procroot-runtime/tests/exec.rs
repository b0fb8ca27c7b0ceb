//! `procroot_runtime::exec`: entering namespaces by both methods, PID reuse, namespace names, and the
//! child's cwd check (CVE-2024-21626). The CLI tests (`procroot-cli/tests/exec_cli.rs`) cover the
//! sealed binary, fd leaks and the full `unshare` target.
//!
//! Targets are forked processes in a new UTS namespace with their own hostname; every process
//! made here is killed and reaped before its test ends.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};

use procroot::testing::{self, Feature};
use procroot::{ErrorKind, PidFd};
use procroot_runtime::exec::{Command, EnterMethod, Namespaces, NsKind, NsKinds};
use procroot_testutil::container::{Attack, Attacker, StandInContainer};
use procroot_testutil::{in_child, in_private_mount_ns, require_privilege, Target};
use rustix::io::Errno;

/// A target (the kit's [`Target`]) in a new UTS namespace named `hostname`.
fn uts_target(hostname: &str) -> Target {
    uts_target_with(hostname, 0)
}

/// [`uts_target`] in the namespaces `CLONE_NEWUTS | extra` (`CLONE_NEWUSER` to own it).
fn uts_target_with(hostname: &str, extra: libc::c_int) -> Target {
    uts_target_then(hostname, extra, 0)
}

/// [`uts_target_with`], then, once the hostname is set, `unshare(then)`: with
/// `CLONE_NEWUSER`, a user namespace that does not own the UTS namespace.
fn uts_target_then(hostname: &str, extra: libc::c_int, then: libc::c_int) -> Target {
    target_if(|| {
        unshare(libc::CLONE_NEWUTS | extra)
            && rustix::system::sethostname(hostname.as_bytes()).is_ok()
            && (then == 0 || unshare(then))
    })
}

/// A signal set holding exactly `signals`.
fn sigset_of(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data, for which all-zero is a valid value.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a sigset on the stack.
    unsafe { libc::sigemptyset(&mut set) };
    for &signal in signals {
        // SAFETY: as above; an invalid signal number is EINVAL, not a memory hazard.
        unsafe { libc::sigaddset(&mut set, signal) };
    }
    set
}

/// `unshare(2)` of this (forked, single-threaded) process; true when it worked.
fn unshare(flags: libc::c_int) -> bool {
    // SAFETY: unshare(2) takes plain flags; no memory is involved.
    unsafe { libc::unshare(flags) == 0 }
}

/// [`uts_target`] with `no_new_privs` and a seccomp filter that makes `syscalls` fail with
/// `errno` (set after the hostname).
fn filtered_target(hostname: &str, syscalls: &[i64], errno: i32) -> Target {
    target_if(|| {
        let ok =
            unshare(libc::CLONE_NEWUTS) && rustix::system::sethostname(hostname.as_bytes()).is_ok();
        procroot_testutil::deny_syscalls(syscalls, errno);
        ok
    })
}

/// [`uts_target`] with a seccomp filter that makes `syscall` fail with `errno`, installed
/// without `no_new_privs` (with `CAP_SYS_ADMIN`), which is then dropped from every set,
/// the bounding set first.
fn filtered_target_without_nnp(hostname: &str, syscall: i64, errno: i32) -> Target {
    // The filter: load nr, compare, return ERRNO or ALLOW.
    let mut prog = [
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: syscall as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x0005_0000 | errno as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        },
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    target_if(|| {
        let ok = unshare(libc::CLONE_NEWUTS)
            && rustix::system::sethostname(hostname.as_bytes()).is_ok()
            // SAFETY: PR_SET_SECCOMP reads the filter program, which outlives the call (the
            // kernel copies it).
            && unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                )
            } == 0
            // SAFETY: PR_CAPBSET_DROP takes plain integers (21 is CAP_SYS_ADMIN).
            && unsafe { libc::prctl(libc::PR_CAPBSET_DROP, 21, 0, 0, 0) } == 0;
        let sets = rustix::thread::capabilities(None).expect("capget");
        let admin = rustix::thread::CapabilitySet::SYS_ADMIN;
        ok && rustix::thread::set_capabilities(
            None,
            rustix::thread::CapabilitySets {
                effective: sets.effective - admin,
                permitted: sets.permitted - admin,
                inheritable: sets.inheritable - admin,
            },
        )
        .is_ok()
    })
}

/// The kit's [`Target`] running `setup`, which says whether it worked (its `errno`s are the
/// failure's detail).
fn target_if(setup: impl FnOnce() -> bool) -> Target {
    Target::spawn(|| {
        let ok = setup();
        assert!(
            ok,
            "target setup failed: {}",
            std::io::Error::last_os_error()
        );
    })
}

/// Runs `sh -c script` in the target's UTS namespace with `method`, stdout to a pipe.
fn run(pidfd: &PidFd, method: EnterMethod, script: &str) -> (Result<i32, procroot::Error>, String) {
    run_in(pidfd, method, &[NsKind::Uts], script)
}

/// [`run`] in the namespaces `kinds`.
fn run_in(
    pidfd: &PidFd,
    method: EnterMethod,
    kinds: &[NsKind],
    script: &str,
) -> (Result<i32, procroot::Error>, String) {
    let (result, out) = capturing_stdout(|| {
        Namespaces::of(pidfd).and_then(|ns| {
            let mut cmd = Command::new("/bin/sh");
            cmd.args(["-c", script]);
            ns.with_method(method).spawn(NsKinds::of(kinds), &cmd)
        })
    });
    (
        result.map(|s| s.code().unwrap_or(-1)),
        out.trim_end().to_owned(),
    )
}

/// Runs `f` with our fd 1 (which the command's process inherits) redirected to a pipe, and
/// returns its result and what was written there.
fn capturing_stdout<T>(f: impl FnOnce() -> T) -> (T, String) {
    let (result, out) = capturing_stdout_bytes(f);
    (result, String::from_utf8(out).expect("UTF-8 output"))
}

/// [`capturing_stdout`], the output as bytes.
fn capturing_stdout_bytes<T>(f: impl FnOnce() -> T) -> (T, Vec<u8>) {
    let (mut r, w) = std::io::pipe().expect("pipe");
    let saved = rustix::io::dup(std::io::stdout().as_fd()).expect("dup stdout");
    let mut one = unsafe_stdout();
    rustix::io::dup2(&w, &mut one).expect("dup2");
    drop(w);
    let result = f();
    rustix::io::dup2(&saved, &mut one).expect("restore stdout");
    std::mem::forget(one);
    drop(saved);
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    (result, out)
}

/// Runs `sh -c script` in the namespaces `kinds` with the default method, after `setup` adjusted
/// the command; stdout to a pipe.
fn run_with(
    pidfd: &PidFd,
    kinds: &[NsKind],
    script: &str,
    setup: impl FnOnce(&mut Command),
) -> (Result<i32, procroot::Error>, String) {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    setup(&mut cmd);
    let (result, out) =
        capturing_stdout(|| procroot_runtime::exec::spawn_in(pidfd, NsKinds::of(kinds), &cmd));
    (
        result.map(|s| s.code().unwrap_or(-1)),
        out.trim_end().to_owned(),
    )
}

/// fd 1 as an `OwnedFd` for `dup2` (forgotten, never closed).
fn unsafe_stdout() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: fd 1 is open; the caller forgets the OwnedFd, so it is never closed.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(1) }
}

#[test]
fn namespace_names_parse_and_unknown_ones_are_invalid_input() {
    let kinds: NsKinds = "mnt,uts,net".parse().expect("parse");
    assert!(kinds.contains(NsKind::Mnt) && kinds.contains(NsKind::Net));
    assert!(!kinds.contains(NsKind::User));
    assert_eq!(
        "all".parse::<NsKinds>().unwrap(),
        NsKinds::unshared(),
        "all is every unshared namespace"
    );
    for bad in ["mnt,bogus", "", "mount", "MNT"] {
        let e = bad.parse::<NsKinds>().expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        assert_eq!(e.errno(), Errno::INVAL, "{bad}");
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn both_enter_methods_reach_the_targets_uts_namespace() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("lib-target");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
            let (code, out) = run(&pidfd, method, "hostname; exit 3");
            assert_eq!(code.expect("spawn"), 3, "{method:?}");
            assert_eq!(out, "lib-target", "{method:?}");
        }
        // Namespaces the target shares with us are skipped: `unshared` lists only uts.
        let ns = Namespaces::of(&pidfd).expect("namespaces");
        assert_eq!(ns.unshared(), [NsKind::Uts]);
    });
}

/// `Namespaces::enter` in a single-threaded process: this (forked) process itself moves into the
/// target's UTS namespace.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn enter_moves_the_calling_process() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("entered");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        for method in [EnterMethod::PidFd, EnterMethod::NsFiles] {
            in_child(|| {
                let ns = Namespaces::of(&pidfd).expect("namespaces");
                ns.with_method(method)
                    .enter(NsKinds::of(&[NsKind::Uts]))
                    .expect("enter");
                let name = rustix::system::uname();
                assert_eq!(name.nodename().to_bytes(), b"entered", "{method:?}");
            });
        }
        // Asking for a namespace this kernel has but the target shares is a no-op, not EINVAL
        // (setns into one's own user namespace would be).
        in_child(|| {
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            ns.enter(NsKinds::of(&[NsKind::User]))
                .expect("shared user ns is skipped");
        });
    });
}

/// Forces a PID to be reused (a fresh PID namespace, `ns_last_pid`): a pidfd of the dead target
/// must not enter the new process's namespaces, and the command must not run.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_reused_pid_is_never_entered() {
    require_privilege("PID namespaces, ns_last_pid and setns");
    in_private_mount_ns(|| {
        // SAFETY: unshare(2) only affects this process's future children.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0, "unshare");
        in_child(|| {
            let flag = tempfile::tempdir().expect("tempdir");
            let flag = flag.path().join("ran");
            let first = uts_target("first");
            let pid = first.pid();
            let pidfd = PidFd::open(pid).expect("pidfd");
            first.kill_and_reap();
            let mut second = None;
            for _ in 0..20 {
                std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                    .expect("write ns_last_pid");
                let t = uts_target("second");
                if t.pid() == pid {
                    second = Some(t);
                    break;
                }
            }
            let _second = second.expect("the PID was not reused after 20 tries");
            for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
                let script = format!("hostname; touch {}", flag.display());
                let (result, out) = run(&pidfd, method, &script);
                let e = result.expect_err("entered a reused PID");
                assert_eq!(e.errno(), Errno::SRCH, "{method:?}: {e}");
                assert_eq!(out, "", "{method:?}");
                assert!(!flag.exists(), "{method:?}: the command ran");
            }
            // A fresh pidfd names the new process.
            let fresh = PidFd::open(pid).expect("pidfd");
            let (code, out) = run(&fresh, EnterMethod::Auto, "hostname");
            assert_eq!(code.expect("spawn"), 0);
            assert_eq!(out, "second");
        });
    });
}

/// The child's second wall (CVE-2024-21626): after chroot, a cwd outside the new root is
/// detected (`getcwd` says `(unreachable)`), even though it is the very directory expected.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn verify_cwd_refuses_a_cwd_outside_the_root() {
    require_privilege("chroot");
    in_child(|| {
        let tree = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tree.path().join("root")).unwrap();
        std::fs::create_dir(tree.path().join("host")).unwrap();
        let host = procroot_testutil::open_dir(tree.path().join("host"));
        let inside = procroot_testutil::open_dir(tree.path().join("root"));
        rustix::process::chroot(tree.path().join("root")).expect("chroot");
        rustix::process::fchdir(&host).expect("fchdir host");
        assert_eq!(
            procroot_runtime::testing::verify_cwd(host.as_fd()),
            Err(Errno::XDEV)
        );
        rustix::process::fchdir(&inside).expect("fchdir inside");
        assert_eq!(
            procroot_runtime::testing::verify_cwd(inside.as_fd()),
            Ok(())
        );
        // Inside the root, but not the directory expected.
        assert_eq!(
            procroot_runtime::testing::verify_cwd(host.as_fd()),
            Err(Errno::XDEV)
        );
    });
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = rustix::system::uname();
    let release = release.release().to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let have = (
        parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
    );
    have >= (major, minor)
}

/// The two ways of finding a target's namespaces (the pidfd's `PIDFD_GET_*_NAMESPACE` ioctls, the
/// hardened procfs's `/proc/<pid>/ns/*`) agree, and each of the two ways of starting the
/// children (`CLONE_VM | CLONE_VFORK`, `fork`) reaches the target.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn every_namespace_lookup_and_child_kind_reaches_the_target() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("methods");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        // The first child shares our memory only to enter a PID namespace (a plain fork serves
        // the rest): the CLONE_VM case needs a target that is the init of one.
        let pid_target = Target::spawn_pidns_init(|| {
            // SAFETY: unshare(2) of the UTS namespace in the forked, single-threaded target.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0, "unshare");
            rustix::system::sethostname(b"methods").expect("sethostname");
        });
        let pid_pidfd = PidFd::open(pid_target.pid()).expect("pidfd");
        in_child(|| {
            // "fast == slow" compares two lookups only if they really differ: the first through
            // the pidfd ioctls, the second through procfs.
            let fast = Namespaces::of(&pidfd).expect("namespaces").unshared();
            if kernel_at_least(6, 11) {
                assert!(
                    !testing::known_unavailable(Feature::PidfdNamespaces),
                    "Linux 6.11+ has PIDFD_GET_*_NAMESPACE, but the library fell back"
                );
            } else {
                procroot_testutil::skip_unless_allowed(
                    "pidfd-namespaces",
                    "kernel before 6.11: no PIDFD_GET_*_NAMESPACE, so both lookups are procfs",
                );
            }
            testing::disable(Feature::PidfdNamespaces);
            assert!(testing::known_unavailable(Feature::PidfdNamespaces));
            let slow = Namespaces::of(&pidfd).expect("namespaces").unshared();
            assert_eq!(fast, slow);
            assert_eq!(fast, [NsKind::Uts]);
            let pid_uts = [NsKind::Pid, NsKind::Uts];
            // The command names its PID namespace: the init's.
            let pid_ns = std::fs::read_link(format!("/proc/{}/ns/pid", pid_target.pid()))
                .expect("the init's PID namespace");
            let in_pid_ns = format!("methods\n{}", pid_ns.display());
            let script = "hostname; readlink /proc/self/ns/pid";
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run_in(&pid_pidfd, EnterMethod::Auto, &pid_uts, script);
            assert_eq!(
                (code.expect("spawn"), out.as_str()),
                (0, in_pid_ns.as_str()),
                "procfs, CLONE_VM"
            );
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0 + 1, before.1),
                "the child shared our memory (CLONE_VM)"
            );
            testing::disable(Feature::CloneVfork);
            for (pidfd, kinds, script, want) in [
                (&pid_pidfd, &pid_uts[..], script, in_pid_ns.as_str()),
                (&pidfd, &[NsKind::Uts][..], "hostname", "methods"),
            ] {
                let before = procroot_runtime::testing::child_kinds();
                let (code, out) = run_in(pidfd, EnterMethod::Auto, kinds, script);
                assert_eq!(
                    (code.expect("spawn"), out.as_str()),
                    (0, want),
                    "procfs, fork, {kinds:?}"
                );
                assert_eq!(
                    procroot_runtime::testing::child_kinds(),
                    (before.0, before.1 + 1),
                    "{kinds:?}: the child was a fork"
                );
            }
        });
        in_child(|| {
            testing::disable(Feature::CloneVfork);
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!(
                (code.expect("spawn"), out.as_str()),
                (0, "methods"),
                "pidfd, fork"
            );
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "the child was a fork"
            );
        });
    });
}

/// A user namespace is entered by a child with memory of its own (a fork), and the command runs
/// in it (no uid map was written, so it runs as the overflow uid).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_user_namespace_is_entered_from_a_child_with_its_own_memory() {
    require_privilege("unshare(CLONE_NEWUSER | CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target_with("in-userns", libc::CLONE_NEWUSER);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let ns = Namespaces::of(&pidfd).expect("namespaces");
        assert_eq!(ns.unshared(), [NsKind::User, NsKind::Uts]);
        for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run_in(
                &pidfd,
                method,
                &[NsKind::User, NsKind::Uts],
                "hostname; id -u",
            );
            assert_eq!(code.expect("spawn"), 0, "{method:?}");
            assert_eq!(out, "in-userns\n65534", "{method:?}");
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "{method:?}: the child had memory of its own (a fork)"
            );
        }
    });
}

/// What `spawn` changes in the caller for the children's sake (every signal blocked, the mm
/// non-dumpable while a child shares it, the forwarded signals blocked while it waits) is back
/// as it was afterwards, and our handlers stay.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn spawn_leaves_the_callers_signals_and_dumpable_state_as_they_were() {
    extern "C" fn on_usr1(_: libc::c_int) {}
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("state");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        in_child(|| {
            // SAFETY: `on_usr1` is an `extern "C"` handler that does nothing, so it is
            // async-signal-safe; this forked child is single-threaded.
            unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
            let mask = sigset_of(&[libc::SIGUSR2]);
            // SAFETY: a valid sigset on the stack; a NULL old-set pointer means "not wanted".
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!((code.expect("spawn"), out.as_str()), (0, "state"));
            // With forwarded signals too (a signalfd while the command runs).
            let mut cmd = Command::new("/bin/true");
            cmd.forward_signals();
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            let status = ns.spawn(NsKinds::of(&[NsKind::Uts]), &cmd).expect("spawn");
            assert_eq!(status.code(), Some(0));
            let mut now = sigset_of(&[]);
            // SAFETY: a NULL new set only reads the mask into `now`, a sigset on the stack.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut now) };
            // SAFETY: `now` is an initialised sigset.
            let usr2 = unsafe { libc::sigismember(&now, libc::SIGUSR2) };
            assert_eq!(usr2, 1, "SIGUSR2 unblocked");
            // SAFETY: as above.
            let int = unsafe { libc::sigismember(&now, libc::SIGINT) };
            assert_eq!(int, 0, "SIGINT left blocked");
            // SAFETY: `sigaction` is plain data, for which all-zero is a valid value.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: a NULL new action only reads the current one into `act`, on the stack.
            unsafe { libc::sigaction(libc::SIGUSR1, std::ptr::null(), &mut act) };
            assert_eq!(
                act.sa_sigaction, on_usr1 as *const () as libc::sighandler_t,
                "handler lost"
            );
            assert_eq!(
                rustix::process::dumpable_behavior().expect("PR_GET_DUMPABLE"),
                rustix::process::DumpableBehavior::Dumpable,
                "left non-dumpable"
            );
        });
    });
}

/// A user namespace that does not own the other namespaces (a Kubernetes pod's: the runtime made
/// the network namespace before the container's user namespace). Entering its file first takes
/// away the capabilities the others need (EPERM), so the one-by-one fallback goes as nsenter:
/// the others first, then the user namespace, then what was refused.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_user_namespace_that_owns_nothing_is_entered_after_the_others() {
    require_privilege("unshare(CLONE_NEWUTS), then unshare(CLONE_NEWUSER), and setns");
    in_private_mount_ns(|| {
        let target = uts_target_then("outer-uts", 0, libc::CLONE_NEWUSER);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let kinds = [NsKind::User, NsKind::Uts];
        // The atomic pidfd call checks each namespace against the caller's own credentials;
        // the files, one by one, need the order.
        for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
            let (code, out) = run_in(&pidfd, method, &kinds, "hostname; id -u");
            assert_eq!(code.expect("spawn"), 0, "{method:?}");
            assert_eq!(out, "outer-uts\n65534", "{method:?}");
        }
    });
}

/// The kernel refuses a time namespace to a process that shares its memory (`EUSERS`): the child
/// entering one must be a real fork. The command sees the target's clock offset.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_time_namespace_is_entered_from_a_child_with_its_own_memory() {
    require_privilege("unshare --time and setns");
    in_private_mount_ns(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready = dir.path().join("ready");
        let script = format!(
            "hostname in-timens && touch {} && exec sleep 60",
            ready.display()
        );
        // Killed and reaped (with unshare) on drop, however the test ends.
        let target = Target::unshare(
            &["--time", "--monotonic", "86400", "--uts"],
            &script,
            &ready,
        );
        let pid = target.pid();
        let pidfd = PidFd::open(pid).expect("pidfd");
        {
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            assert!(ns.unshared().contains(&NsKind::Time), "{:?}", ns.unshared());
            for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
                let before = procroot_runtime::testing::child_kinds();
                let (code, out) = run_in(
                    &pidfd,
                    method,
                    &[NsKind::Time, NsKind::Uts],
                    "hostname; grep monotonic /proc/self/timens_offsets",
                );
                assert_eq!(code.expect("spawn"), 0, "{method:?}");
                assert_eq!(
                    procroot_runtime::testing::child_kinds(),
                    (before.0, before.1 + 1),
                    "{method:?}: the child had memory of its own (a fork)"
                );
                let words: Vec<&str> = out.split_whitespace().collect();
                assert_eq!(
                    words,
                    ["in-timens", "monotonic", "86400", "0"],
                    "{method:?}"
                );
            }
        }
    });
}

/// A target with `no_new_privs` and a seccomp filter (made here: `uname(2)` fails with
/// `EHOSTDOWN`): by default the command runs with both (`NoNewPrivs: 1`, `Seccomp: 2`, one
/// filter, and `uname` fails as in the target); with `privileged()` it has neither.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_command_gets_the_targets_no_new_privs_and_seccomp_filter() {
    require_privilege("unshare(CLONE_NEWUTS), setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let target = filtered_target("filtered", &[libc::SYS_uname], libc::EHOSTDOWN);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        assert!(creds.no_new_privs());
        assert_eq!(creds.seccomp_filters(), 1);
        let script =
            "grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status | tr -d ' \t'; \
                      uname -n 2>/dev/null || echo uname-refused";
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], script, |_| {});
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(
            out, "NoNewPrivs:1\nSeccomp:2\nSeccomp_filters:1\nuname-refused",
            "the command must carry the target's filter"
        );
        // The target is left running, untraced.
        let status = std::fs::read_to_string(format!("/proc/{}/status", target.pid())).unwrap();
        assert!(status.contains("TracerPid:\t0"), "{status}");
        assert!(!status.contains("State:\tt"), "{status}");
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], script, |c| {
            c.privileged();
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "NoNewPrivs:0\nSeccomp:0\nSeccomp_filters:0\nfiltered");
        // privileged() with anything that adjusts the target's credentials is a contradiction.
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], script, |c| {
            c.privileged().user(1, None);
        });
        let err = code.expect_err("privileged() with user()");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(out, "");
    });
}

/// A rootless target (its own user namespace, with a subuid-style uid map) keeps working by
/// default. The target's process is the namespace's uid 1000 (our uid 0 outside), so the
/// command is too, and, being no longer root at its `execve`, has no capability (the kernel
/// clears them, as at the target's own exec). `user(0, Some(0))` makes it the namespace's root
/// (100000 outside), with the target's capability sets there.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_rootless_target_keeps_working_with_its_credentials() {
    require_privilege("unshare(CLONE_NEWUSER | CLONE_NEWUTS), uid maps and setns");
    in_private_mount_ns(|| {
        let target = uts_target_with("rootless", libc::CLONE_NEWUSER);
        for (file, map) in [
            ("setgroups", "deny"),
            ("uid_map", "0 100000 1000\n1000 0 1"),
            ("gid_map", "0 100000 1000\n1000 0 1"),
        ] {
            std::fs::write(format!("/proc/{}/{file}", target.pid()), map).expect(file);
        }
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        assert_eq!((creds.uid(), creds.gid()), (Some(1000), Some(1000)));
        let target_eff = creds.capabilities().effective;
        let script = "hostname; id -u; id -g; grep '^CapEff:' /proc/self/status | cut -f2";
        let (code, out) = run_with(&pidfd, &[NsKind::User, NsKind::Uts], script, |_| {});
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "rootless\n1000\n1000\n0000000000000000");
        let (code, out) = run_with(&pidfd, &[NsKind::User, NsKind::Uts], script, |c| {
            c.user(0, Some(0));
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, format!("rootless\n0\n0\n{target_eff:016x}"));
        // Not entering its user namespace: the target's ids as we number them (1000 inside is
        // our 0), and none of its capabilities, which hold only inside its namespace.
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], script, |c| {
            c.user(0, Some(0));
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "rootless\n100000\n100000\n0000000000000000");
        // A uid the namespace does not map: the kernel refuses setresuid, exec names it, and
        // nothing runs.
        let (code, out) = run_with(&pidfd, &[NsKind::User, NsKind::Uts], "echo ran", |c| {
            c.user(5000, None);
        });
        let err = code.expect_err("an unmapped uid");
        assert_eq!(err.errno(), Errno::INVAL, "{err}");
        assert!(err.to_string().contains("setresuid"), "{err}");
        assert_eq!(out, "");
    });
}

/// A target whose seccomp filter cannot be copied (procroot itself runs under a filter, so the
/// kernel refuses `PTRACE_SECCOMP_GET_FILTER` with `EACCES`): the command is refused, the
/// message names `--no-seccomp`, and nothing runs; `without_seccomp()` runs it unfiltered.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn an_uncopyable_seccomp_filter_refuses_and_names_no_seccomp() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = filtered_target("filtered", &[libc::SYS_uname], libc::EHOSTDOWN);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        // A filter on ourselves that refuses nothing the test needs.
        procroot_testutil::deny_syscalls(&[libc::SYS_acct], libc::EPERM);
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let script = format!("touch {}; uname -n || true", ran.display());
        let (code, _) = run_with(&pidfd, &[NsKind::Uts], &script, |_| {});
        let err = code.expect_err("an uncopyable filter must be refused");
        assert_eq!(err.errno(), Errno::PERM, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("--no-seccomp"), "{msg}");
        assert!(msg.contains("PTRACE_SECCOMP_GET_FILTER"), "{msg}");
        assert!(!ran.exists(), "the command ran");
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.without_seccomp();
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "filtered");
        assert!(ran.exists());
    });
}

/// A target under a seccomp filter without `no_new_privs` (installed while it held
/// `CAP_SYS_ADMIN`, which it then dropped, as a runtime without `noNewPrivileges` does): the
/// command gets the filter, no `no_new_privs`, and not `CAP_SYS_ADMIN`. The filter is installed
/// before the capability drop, which it must let through.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_filter_without_no_new_privs_is_copied_too() {
    require_privilege("unshare(CLONE_NEWUTS), setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let target = filtered_target_without_nnp("no-nnp", libc::SYS_uname, libc::EHOSTDOWN);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        assert!(!creds.no_new_privs());
        assert_eq!(creds.seccomp_filters(), 1);
        assert_eq!(creds.capabilities().effective & (1 << 21), 0);
        let script = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -d ' \t'; \
                      grep '^CapEff:' /proc/self/status | cut -f2; \
                      uname -n 2>/dev/null || echo uname-refused";
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], script, |_| {});
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(
            out,
            format!(
                "NoNewPrivs:0\nSeccomp:2\n{:016x}\nuname-refused",
                creds.capabilities().effective
            )
        );
    });
}

/// Copying the filters of a target that cannot stop (its cgroup is frozen) never hangs: within
/// the helper's deadline `credentials_of` either has the copy or reports that it could not
/// make one, and the target is left untraced (and, once thawed, running).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn copying_the_filter_of_a_frozen_target_does_not_hang() {
    require_privilege("a test cgroup, cgroup.freeze and PTRACE_SECCOMP_GET_FILTER");
    // cgroup v2, or its hierarchy of a hybrid system (the freezer is built into v2).
    let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find(|d| {
            std::path::Path::new(d)
                .join("cgroup.subtree_control")
                .exists()
        })
        .expect("this test needs cgroup v2 at /sys/fs/cgroup or /sys/fs/cgroup/unified");
    let cgroup =
        std::path::Path::new(mount).join(format!("procroot-test-{}-frozen", std::process::id()));
    std::fs::create_dir(&cgroup).expect("mkdir the test cgroup");
    in_private_mount_ns(|| {
        let target = filtered_target("frozen", &[libc::SYS_uname], libc::EHOSTDOWN);
        std::fs::write(cgroup.join("cgroup.procs"), target.pid().to_string()).expect("move");
        std::fs::write(cgroup.join("cgroup.freeze"), "1").expect("freeze");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(cgroup.join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
        {
            assert!(std::time::Instant::now() < deadline, "never frozen");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let start = std::time::Instant::now();
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
        std::fs::write(cgroup.join("cgroup.freeze"), "0").expect("thaw");
        let status = std::fs::read_to_string(format!("/proc/{}/status", target.pid())).unwrap();
        assert!(status.contains("TracerPid:\t0"), "{status}");
        eprintln!("frozen target: {creds:?} after {took:?}");
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::remove_dir(&cgroup).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "test cgroup not removable"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A target that cannot reach a ptrace stop (it waits in `clone(CLONE_VFORK)` for a child that
/// never execs: an uninterruptible, killable sleep) is given up after the copy helper's deadline: no
/// hang, a refusal that names `--no-seccomp` when a command is run, and the target is left
/// untraced.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn copying_the_filter_of_a_target_that_never_stops_gives_up() {
    require_privilege("unshare(CLONE_NEWUTS), setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let (mut ready_r, mut ready_w) = std::io::pipe().expect("pipe");
        // SAFETY: fork(2); the child runs only the code below and leaves with _exit(2).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            drop(ready_r);
            procroot_testutil::deny_syscalls(&[libc::SYS_uname], libc::EHOSTDOWN);
            let _ = ready_w.write_all(b"r");
            extern "C" fn sleeper(_: *mut libc::c_void) -> libc::c_int {
                // SAFETY: PR_SET_PDEATHSIG takes plain integers; no memory is involved.
                unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                // SAFETY: pause(2) takes nothing; it returns only on a signal.
                unsafe { libc::pause() };
                // SAFETY: _exit(2) leaves without touching the memory shared with the
                // suspended parent (CLONE_VM): no destructors, no atexit handlers.
                unsafe { libc::_exit(0) }
            }
            let mut stack = vec![0u8; 256 * 1024];
            let top = stack.as_mut_ptr_range().end.cast();
            // SAFETY: the child runs `sleeper` on a stack of its own (the top of `stack`, which
            // outlives it: we are suspended until it execs or exits, CLONE_VFORK); this process
            // sleeps in clone, killably but not interruptibly, until it is killed.
            unsafe {
                libc::clone(
                    sleeper,
                    top,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    std::ptr::null_mut(),
                )
            };
            // SAFETY: _exit(2) ends this forked child without the harness's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        let mut b = [0u8; 1];
        ready_r.read_exact(&mut b).expect("ready");
        // Wait until it sleeps in vfork (state D).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let state = || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("State:").map(|s| s.trim().to_owned()))
                .unwrap_or_default()
        };
        while !state().starts_with('D') {
            assert!(
                std::time::Instant::now() < deadline,
                "never in vfork: {}",
                state()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pidfd = PidFd::open(pid as u32).expect("pidfd");
        let start = std::time::Instant::now();
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
        assert_eq!(creds.seccomp_filters(), 0, "no copy was possible");
        let (code, _) = run_with(&pidfd, &[], "true", |_| {});
        let err = code.expect_err("an uncopyable filter is refused");
        assert!(err.to_string().contains("--no-seccomp"), "{err}");
        assert!(err.to_string().contains("never stopped"), "{err}");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.contains("TracerPid:\t0"), "{status}");
        // SAFETY: kill(2) of our own child, not yet reaped; its vfork child dies with it
        // (PR_SET_PDEATHSIG).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        // SAFETY: waitpid(2) on our own child; a NULL status pointer means "not wanted".
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    });
}

/// Runs `command` in every namespace `target` does not share, with its stdout to a pipe.
fn spawn_capturing(
    pidfd: &PidFd,
    command: &Command,
) -> (Result<std::process::ExitStatus, procroot::Error>, String) {
    capturing_stdout(|| procroot_runtime::exec::spawn_in(pidfd, NsKinds::unshared(), command))
}

/// Issue 19 item 1, for a library caller: the kernel looks up the program, a symlink's target
/// and a `#!` interpreter before it closes `O_CLOEXEC` fds. A container whose command is a
/// symlink to, or a script interpreted by, `/proc/self/fd/K/victim`, where K is a directory fd
/// the caller has open (`O_CLOEXEC`, as a careful caller opens it), must not reach the host
/// binary: the exec fails with `ENOENT`, nothing runs, the binary is unchanged.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_library_callers_directory_fd_is_not_reachable_during_the_lookup() {
    require_privilege("unshare of pid/mnt/uts/ipc/net namespaces, mounts, chroot and setns");
    in_private_mount_ns(callers_fd_is_unreachable);
}

/// The same without `close_range(2)` (before Linux 5.9, or filtered: `ENOSYS`): the child lists
/// its fds in the hardened procfs and closes them one by one.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_library_callers_directory_fd_is_not_reachable_without_close_range() {
    require_privilege("unshare of pid/mnt/uts/ipc/net namespaces, mounts, chroot and setns");
    in_private_mount_ns(|| {
        procroot_testutil::deny_syscalls(&[libc::SYS_close_range], libc::ENOSYS);
        callers_fd_is_unreachable();
    });
}

fn callers_fd_is_unreachable() {
    {
        let c = StandInContainer::start();
        let (victim, original) = c.host_binary();
        let dir = rustix::fs::open(
            c.host_dir(),
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open the host directory");
        let k = dir.as_raw_fd();
        let root = c.rootfs();
        std::os::unix::fs::symlink(format!("/proc/self/fd/{k}/victim"), root.join("cmd")).unwrap();
        std::fs::write(
            root.join("script"),
            format!(
                "#!/proc/self/fd/{k}/victim\necho ESCAPED\nexec 3</proc/self/exe\n\
                 /bin/sh -c 'sleep 0.5; echo pwned >/proc/self/fd/3' &\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("script"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let pidfd = PidFd::open(c.pid()).expect("pidfd");
        for program in ["/cmd", "/script"] {
            let mut cmd = Command::new(program);
            // Without close_range, this process and so the container inherit the test's
            // filter, which procroot under a filter itself cannot copy (refused otherwise).
            cmd.without_seccomp();
            if program == "/cmd" {
                cmd.args(["-c", "echo ESCAPED"]);
            }
            let (result, out) = spawn_capturing(&pidfd, &cmd);
            assert!(
                !out.contains("ESCAPED"),
                "{program}: ran the host binary: {out}"
            );
            let err = result.expect_err(program);
            assert_eq!(err.errno(), Errno::NOENT, "{program}: {err}");
            assert!(err.to_string().contains("execve"), "{program}: {err}");
        }
        // Whatever the script left running had time to write.
        std::thread::sleep(std::time::Duration::from_millis(800));
        assert!(
            std::fs::read(&victim).unwrap() == original,
            "the stand-in host binary was changed"
        );
        drop(dir);
    }
}

/// The first child makes itself non-dumpable before it touches the target, and a refusal is
/// fatal (runc aborts too): with `prctl(2)` refused, nothing runs and the error names it.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_refused_pr_set_dumpable_is_fatal() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("dumpable");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let ns = Namespaces::of(&pidfd).expect("namespaces");
        procroot_testutil::deny_syscalls(&[libc::SYS_prctl], libc::EPERM);
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = dir.path().join("ran");
        let mut cmd = Command::new("/bin/touch");
        cmd.arg(&flag);
        let err = ns
            .spawn(NsKinds::of(&[NsKind::Uts]), &cmd)
            .expect_err("ran although PR_SET_DUMPABLE failed");
        assert!(err.to_string().contains("prctl"), "{err}");
        assert_eq!(err.errno(), Errno::PERM, "{err}");
        assert!(!flag.exists());
    });
}

/// Where the attacker writes: a fork of this process has it at the same address.
static CANARY: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x1122_3344_5566_7788);

/// Issue 19 item 2: an attacker in the container with `CAP_SYS_PTRACE` (`kill(next PID,
/// SIGSTOP)`, `pidfd_getfd`, `/proc/<pid>/mem`) catches the process that appears in its PID
/// namespace before its exec: it finds no fd but pipes above 2, and its memory write does not
/// reach the caller (the canary is unchanged, the result is the command's).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_ptracing_container_finds_no_host_fd_and_cannot_write_the_callers_memory() {
    use std::sync::atomic::Ordering;
    require_privilege("unshare of pid/mnt/uts/ipc/net namespaces, mounts, chroot and setns");
    in_private_mount_ns(|| {
        let c = StandInContainer::start();
        let pidfd = PidFd::open(c.pid()).expect("pidfd");
        let original = CANARY.load(Ordering::SeqCst);
        let address = &CANARY as *const _ as usize;
        let mut before_exec = 0;
        for _ in 0..10 {
            let attacker = Attacker::start(
                &c,
                Attack::Inspect { address },
                std::time::Duration::from_secs(30),
            );
            let mut cmd = Command::new("true");
            cmd.env("PATH", procroot_testutil::container::slow_path());
            let (result, _) = spawn_capturing(&pidfd, &cmd);
            let report = attacker.report().expect("the attacker caught nothing");
            assert_eq!(
                CANARY.load(Ordering::SeqCst),
                original,
                "the container wrote into the caller's memory: {report:?}"
            );
            assert!(report.host_fds.is_empty(), "host fds reachable: {report:?}");
            // The first child shared our memory (a PID namespace is entered) and made it
            // non-dumpable: that is undone.
            assert_eq!(
                rustix::process::dumpable_behavior().expect("PR_GET_DUMPABLE"),
                rustix::process::DumpableBehavior::Dumpable,
                "left non-dumpable"
            );
            assert_eq!(result.expect("spawn").code(), Some(0), "{report:?}");
            if report.comm != "true" {
                before_exec += 1;
                if before_exec == 3 {
                    break;
                }
            }
        }
        assert!(
            before_exec > 0,
            "the attacker never caught the process before its exec: the test proved nothing"
        );
    });
}

/// Issue 19 item 4, for a library caller: an fd the library holds for the call (its procfs of
/// the host's PID namespace, the target's pidfd) is never passed on, even when the caller names
/// it: `EBADF`, "fd N to keep is not open in the caller", and nothing runs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_library_refuses_to_pass_on_an_fd_of_its_own() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("own-fds");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let procfs = procroot::Procfs::cached().expect("procfs");
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = dir.path().join("ran");
        for own in [procfs.as_fd(), pidfd.as_fd()] {
            let mut cmd = Command::new("/bin/touch");
            cmd.arg(&flag).keep_fd(own);
            let own = own.as_raw_fd();
            let err = procroot_runtime::exec::spawn_in(&pidfd, NsKinds::of(&[NsKind::Uts]), &cmd)
                .expect_err("passed on an fd of the library's");
            assert_eq!(err.errno(), Errno::BADF, "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("fd {own} to keep is not open in the caller")),
                "{err}"
            );
            assert!(!flag.exists());
        }
    });
}

/// A target whose user namespace refuses `setgroups(2)` (`deny`): the command would keep the
/// caller's supplementary groups, which is refused when they are not the target's; with the
/// same groups as the target, it runs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn setgroups_denied_refuses_groups_that_are_not_the_targets() {
    require_privilege("unshare(CLONE_NEWUSER | CLONE_NEWUTS), uid maps and setns");
    in_private_mount_ns(|| {
        // SAFETY: setgroups(0) on this forked, single-threaded test child, before any target.
        assert_eq!(unsafe { libc::setgroups(0, std::ptr::null()) }, 0);
        let target = uts_target_with("nogroups", libc::CLONE_NEWUSER);
        for (file, map) in [
            ("setgroups", "deny"),
            ("uid_map", "0 0 1"),
            ("gid_map", "0 0 1"),
        ] {
            std::fs::write(format!("/proc/{}/{file}", target.pid()), map).expect(file);
        }
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        // Our groups are the target's (none): it runs.
        let (code, out) = run_with(&pidfd, &[NsKind::User, NsKind::Uts], "id -G", |_| {});
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "0");
        // Now we hold group 4242, which the target does not: refused, nothing runs.
        let groups = [4242 as libc::gid_t];
        // SAFETY: setgroups on this forked, single-threaded test child, with a live array.
        assert_eq!(unsafe { libc::setgroups(1, groups.as_ptr()) }, 0);
        let (code, out) = run_with(&pidfd, &[NsKind::User, NsKind::Uts], "echo ran", |_| {});
        let err = code.expect_err("groups that are not the target's");
        assert_eq!(err.errno(), Errno::PERM, "{err}");
        assert!(err.to_string().contains("refuses setgroups"), "{err}");
        assert_eq!(out, "");
    });
}

/// A target started as `env -i FOO=target sleep 60` in a new UTS namespace (`unshare --uts`):
/// its `/proc/<pid>/environ` is `FOO=target` only.
struct EnvTarget(std::process::Child);

impl EnvTarget {
    fn start() -> EnvTarget {
        let child = std::process::Command::new("unshare")
            .args(["--uts", "env", "-i", "FOO=target", "sleep", "60"])
            .env_clear()
            .spawn()
            .expect("spawn unshare");
        // `unshare` execs env, which execs sleep: wait until it is sleep, with FOO=target.
        let environ = format!("/proc/{}/environ", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap_or_default();
            let env = std::fs::read(&environ).unwrap_or_default();
            if exe.ends_with("sleep") && env == b"FOO=target\0" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "target never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        EnvTarget(child)
    }
}

impl Drop for EnvTarget {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command's environment is by default the target's (read from `/proc/<pid>/environ`) plus
/// the caller's TERM, never the caller's secrets; `env` overrides, `env_clear` starts empty,
/// `preserve_env` keeps the caller's; values are bytes (not UTF-8 here).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_command_gets_the_targets_environment_not_the_callers() {
    use std::os::unix::ffi::OsStrExt;
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        // This forked child is single-threaded: its environment can be changed.
        std::env::set_var("PROCROOT_TEST_SECRET", "hunter2");
        std::env::set_var("TERM", "xterm-test");
        let target = EnvTarget::start();
        let pidfd = PidFd::open(target.0.id()).expect("pidfd");
        let env_of = |setup: &dyn Fn(&mut Command)| {
            let mut cmd = Command::new("env");
            setup(&mut cmd);
            let (status, out) = spawn_capturing(&pidfd, &cmd);
            assert!(status.expect("spawn").success(), "{out}");
            let mut lines: Vec<String> = out.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        assert_eq!(env_of(&|_| {}), ["FOO=target", "TERM=xterm-test"]);
        assert_eq!(
            env_of(&|c| {
                c.env("FOO", "x");
            }),
            ["FOO=x", "TERM=xterm-test"]
        );
        assert_eq!(
            env_of(&|c| {
                c.env("B", "1").env_clear().env("A", "1");
            }),
            ["A=1"]
        );
        let caller = env_of(&|c| {
            c.preserve_env();
        });
        assert!(
            caller.iter().any(|l| l == "PROCROOT_TEST_SECRET=hunter2"),
            "{caller:?}"
        );
        // Bytes that are not UTF-8 pass as they are.
        let mut cmd = Command::new("env");
        cmd.env_clear()
            .env("RAW", std::ffi::OsStr::from_bytes(b"\xff\xfe"));
        let (status, raw) = capturing_stdout_bytes(|| {
            procroot_runtime::exec::spawn_in(&pidfd, NsKinds::unshared(), &cmd)
        });
        assert!(status.expect("spawn").success());
        assert_eq!(raw, b"RAW=\xff\xfe\n");
        // A name that is empty or holds `=`, or a NUL anywhere: EINVAL, and nothing runs.
        for (k, v) in [("", "x"), ("A=B", "x"), ("A\0", "x"), ("A", "x\0y")] {
            let mut cmd = Command::new("env");
            cmd.env(k, v);
            let (result, out) = spawn_capturing(&pidfd, &cmd);
            let err = result.expect_err(k);
            assert_eq!(err.errno(), Errno::INVAL, "{k:?}={v:?}: {err}");
            assert!(out.is_empty(), "{out}");
        }
    });
}

/// A command that is not found or not executable fails naming the command, `execve` and the
/// target's root, and [`procroot_runtime::exec::not_run_status`] gives 127 and 126 as a shell does.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_command_not_found_or_not_executable_is_named_with_127_or_126() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("lib-notrun");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let root = format!("/proc/{}/root", target.pid());
        for (program, errno, status) in [
            ("no-such-command-h23b", Errno::NOENT, 127),
            ("/etc/passwd", Errno::ACCESS, 126),
        ] {
            let err = procroot_runtime::exec::spawn_in(
                &pidfd,
                NsKinds::unshared(),
                &Command::new(program),
            )
            .expect_err(program);
            assert_eq!(err.errno(), errno, "{err}");
            assert_eq!(err.syscall(), Some("execve"), "{err}");
            assert_eq!(
                procroot_runtime::exec::not_run_status(&err),
                Some(status),
                "{err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("\"{program}\"")) && msg.contains(&root),
                "{msg}"
            );
        }
        // Any other failure is not the command's: no 126/127.
        let mut cmd = Command::new("true");
        cmd.current_dir("/no/such/dir");
        let err =
            procroot_runtime::exec::spawn_in(&pidfd, NsKinds::unshared(), &cmd).expect_err("cwd");
        assert_eq!(procroot_runtime::exec::not_run_status(&err), None, "{err}");
    });
}

/// When the target's environment cannot be read (here: a file mounted over its
/// `/proc/<pid>/environ`, seen by a procfs that is not a detached instance), the command does
/// not run and the error names the file: it never falls back to the caller's environment.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn an_unreadable_target_environment_fails_and_nothing_runs() {
    require_privilege("unshare(CLONE_NEWUTS), setns and mounts in a private mount namespace");
    in_private_mount_ns(|| {
        // A procfs from /proc itself, which sees our (private) mounts.
        testing::disable(Feature::Fsopen);
        testing::disable(Feature::OpenTree);
        let target = EnvTarget::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("environ");
        std::fs::write(&fake, "PROCROOT_FAKE=1\0").expect("write");
        let environ = format!("/proc/{}/environ", target.0.id());
        rustix::mount::mount_bind(&fake, &environ).expect("bind over environ");
        let pidfd = PidFd::open(target.0.id()).expect("pidfd");
        let flag = dir.path().join("ran");
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", &format!("touch {}", flag.display())]);
        let err = procroot_runtime::exec::spawn_in(&pidfd, NsKinds::unshared(), &cmd)
            .expect_err("the environment cannot be read");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("read the target's environment \"{environ}\"")),
            "{msg}"
        );
        assert!(!flag.exists(), "the command ran: {msg}");
        // The caller's environment is never the fallback: with it the command runs.
        cmd.preserve_env();
        let status =
            procroot_runtime::exec::spawn_in(&pidfd, NsKinds::unshared(), &cmd).expect("spawn");
        assert!(status.success() && flag.exists());
    });
}

// --- the OCI seccomp profile (`--config`), when the target's filter cannot be copied ---------

/// `getppid` with arguments: it ignores them, but the filter sees them. Ok(ppid) or the errno.
fn getppid_with(args: [u64; 3]) -> Result<i64, i32> {
    // SAFETY: getppid reads no argument; any value is harmless.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_getppid,
            args[0],
            args[1],
            args[2],
            0u64,
            0u64,
            0u64,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(rc)
    }
}

fn seccomp_profile(json: &str) -> oci_spec::runtime::LinuxSeccomp {
    serde_json::from_str(json).expect("a linux.seccomp section")
}

/// The compiler against the kernel: for every comparison operator, a rule on argument 2 of
/// `getppid` with a value whose two 32-bit halves both matter, and arguments around it (equal,
/// one above and below, the high half one above and below with the low half equal, the low
/// half's top bit flipped, 0 and all ones). The installed filter refuses exactly the calls whose
/// 64-bit comparison holds (computed here in Rust), with the rule's errno.
#[test]
fn the_compiled_profile_compares_64_bit_arguments_as_the_kernel_runs_them() {
    const V: u64 = 0x0000_0001_8000_0005;
    const MASK: u64 = 0xffff_0000_0000_00ff;
    const MASKED: u64 = 0x1234_0000_0000_0005;
    let xs = [
        0,
        1,
        5,
        V - 1,
        V,
        V + 1,
        V - (1 << 32),
        V + (1 << 32),
        V ^ 0x8000_0000,
        0x8000_0005,
        0x1_0000_0000,
        0xffff_ffff,
        u64::MAX,
        0x1234_5678_0000_0005,
        0x1234_0000_9999_0005,
        0x1235_0000_0000_0005,
    ];
    type Holds = fn(u64) -> bool;
    let ops: [(&str, Holds); 7] = [
        ("SCMP_CMP_EQ", |x| x == V),
        ("SCMP_CMP_NE", |x| x != V),
        ("SCMP_CMP_LT", |x| x < V),
        ("SCMP_CMP_LE", |x| x <= V),
        ("SCMP_CMP_GE", |x| x >= V),
        ("SCMP_CMP_GT", |x| x > V),
        ("SCMP_CMP_MASKED_EQ", |x| x & MASK == MASKED),
    ];
    for (op, holds) in ops {
        let (value, two) = if op == "SCMP_CMP_MASKED_EQ" {
            (MASK, format!(",\"valueTwo\":{MASKED}"))
        } else {
            (V, String::new())
        };
        let prog = procroot_runtime::exec::seccomp_profile::compile(&seccomp_profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getppid"],
                "action":"SCMP_ACT_ERRNO","errnoRet":77,
                "args":[{{"index":2,"value":{value}{two},"op":"{op}"}}]}}]}}"#
        )))
        .expect(op);
        in_child(|| {
            procroot_testutil::install_seccomp_filter(&prog);
            for x in xs {
                let got = getppid_with([0, 0, x]);
                let want_refused = holds(x);
                assert_eq!(got.is_err(), want_refused, "{op} {x:#x}: {got:?}");
                if want_refused {
                    assert_eq!(got, Err(77), "{op} {x:#x}");
                }
            }
        });
    }
}

/// Conditions on different arguments must all hold; several on the same index are separate
/// rules (any one matches, as runc makes them); the first matching rule decides; syscalls no
/// rule names get `defaultAction`'s errno (`defaultErrnoRet`).
#[test]
fn the_compiled_profile_ands_arguments_ors_repeated_indices_and_keeps_rule_order() {
    let prog = procroot_runtime::exec::seccomp_profile::compile(&seccomp_profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":11,
             "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
            {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":12,
             "args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"},{"index":0,"value":4,"op":"SCMP_CMP_EQ"}]},
            {"names":["getppid"],"action":"SCMP_ACT_ALLOW",
             "args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]},
            {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["exit_group","exit","write","futex","sigaltstack","munmap","rt_sigprocmask",
                      "mmap","brk","madvise","close","getpid","gettid","tgkill","rt_sigaction"],
             "action":"SCMP_ACT_ALLOW"}]}"#,
    ))
    .expect("compiles");
    in_child(|| {
        procroot_testutil::install_seccomp_filter(&prog);
        assert_eq!(getppid_with([1, 2, 0]), Err(11));
        assert_eq!(
            getppid_with([1, 3, 0]),
            Err(13),
            "AND: one condition is not enough"
        );
        assert_eq!(getppid_with([3, 0, 0]), Err(12));
        assert_eq!(getppid_with([4, 9, 0]), Err(12), "OR on a repeated index");
        assert!(getppid_with([5, 0, 0]).is_ok(), "an ALLOW rule");
        assert_eq!(getppid_with([6, 0, 0]), Err(13));
        // SAFETY: getuid takes no argument.
        let rc = unsafe { libc::syscall(libc::SYS_getuid) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        assert_eq!(
            (rc, errno),
            (-1, Some(38)),
            "defaultAction with defaultErrnoRet"
        );
    });
}

/// A syscall through the x32 ABI (the x86-64 arch with bit 30 of the number set) or the 32-bit
/// entry (`int 0x80`, arch `AUDIT_ARCH_I386`) is not the native table's: the compiled filter
/// kills the process, whatever the rules allow. (The `int 0x80` half is checked where the
/// kernel runs 32-bit syscalls at all: without the filter, it returns our pid.)
#[cfg(target_arch = "x86_64")]
#[test]
fn the_compiled_profile_kills_the_x32_and_i386_abis() {
    let prog = procroot_runtime::exec::seccomp_profile::compile(&seccomp_profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]}"#,
    ))
    .expect("compiles");
    /// getpid (20) through the 32-bit entry.
    fn getpid_i386() -> i64 {
        let mut ret: i64 = 20;
        // SAFETY: `int 0x80` with eax = 20 (i386 getpid) takes no argument and touches no
        // memory; the kernel clobbers only eax (and r8-r11 are preserved by this entry).
        unsafe { std::arch::asm!("int 0x80", inlateout("rax") ret, options(nostack)) };
        ret
    }
    in_child(|| {
        let run = |filtered: bool, call: fn() -> i64| -> i32 {
            // SAFETY: fork in a single-threaded child; the grandchild makes raw syscalls and
            // exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                if filtered {
                    procroot_testutil::install_seccomp_filter(&prog);
                }
                let ok = call() == i64::from(std::process::id());
                // SAFETY: leaving the grandchild.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waits for our own child into a stack variable.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            status
        };
        let x32 = || {
            // SAFETY: getpid through the x32 entry; it takes no argument.
            unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) as i64 }
        };
        let killed =
            |status: i32| libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS;
        let st = run(true, x32);
        assert!(killed(st), "x32: status {st:#x}");
        if run(false, getpid_i386) == 0 {
            let st = run(true, getpid_i386);
            assert!(killed(st), "int 0x80: status {st:#x}");
        }
    });
}

/// The profile stands in for a filter procroot cannot copy (procroot itself runs under a
/// filter: the kernel refuses `PTRACE_SECCOMP_GET_FILTER`): the command runs under the compiled
/// profile (`Seccomp: 2`), `mkdir` fails with the profile's `EPERM` (errnoRet 1), `personality`
/// with `ADDR_NO_RANDOMIZE` (an argument rule) with `EACCES`, while `personality(PER_LINUX)` and
/// `uname` (which the target's own filter refuses, and the profile does not) work. Without the
/// profile the refusal names both `--config` and `--no-seccomp`, and nothing runs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_config_profile_stands_in_for_an_uncopyable_filter() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = filtered_target("profiled", &[libc::SYS_uname], libc::EHOSTDOWN);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        // A filter on ourselves that refuses nothing the test needs: the copy is impossible.
        procroot_testutil::deny_syscalls(&[libc::SYS_acct], libc::EPERM);
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let made = dir.path().join("made");
        let script = format!(
            "touch {ran}; grep '^Seccomp:' /proc/self/status | tr -d ' \\t'; \
             mkdir {made} 2>/dev/null || echo mkdir-refused; \
             setarch $(uname -m) -R true 2>/dev/null || echo personality-refused; \
             setarch $(uname -m) true && echo personality-ok; uname -n",
            ran = ran.display(),
            made = made.display()
        );
        let (code, _) = run_with(&pidfd, &[NsKind::Uts], &script, |_| {});
        let err = code.expect_err("an uncopyable filter without a profile");
        let msg = err.to_string();
        assert!(
            msg.contains("--config") && msg.contains("--no-seccomp"),
            "{msg}"
        );
        assert!(!ran.exists(), "the command ran");
        let profile = seccomp_profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"],
                "syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":13,
                 "args":[{"index":0,"value":262144,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.seccomp_profile(profile.clone());
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(
            out,
            "Seccomp:2\nmkdir-refused\npersonality-refused\npersonality-ok\nprofiled"
        );
        assert!(ran.exists() && !made.exists());
        // A profile that does not compile is refused by name, and nothing runs.
        std::fs::remove_file(&ran).unwrap();
        let bad = seccomp_profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","no_such_call"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let (code, _) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.seccomp_profile(bad);
        });
        let err = code.expect_err("an unknown syscall name");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("\"no_such_call\""), "{err}");
        assert!(!ran.exists(), "the command ran");
    });
}

// --- the LSM label (AppArmor, SELinux) ------------------------------------------------------

/// Whether this kernel has an LSM that labels processes (`attr/current` readable).
fn lsm_with_labels() -> bool {
    std::fs::read("/proc/thread-self/attr/current").is_ok()
}

/// An exec label the kernel refuses (here no LSM takes `attr/exec`: `EINVAL`; on an LSM host, a
/// profile that does not exist): the start fails naming the label write, and nothing runs. This
/// is the child's write really happening, and its refusal never becoming a success.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn an_exec_label_the_kernel_refuses_fails_the_start_and_nothing_runs() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("labelled");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        if !lsm_with_labels() {
            assert_eq!(creds.exec_label(), None, "no LSM, no label");
        }
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let script = format!("touch {}", ran.display());
        for kinds in [&[NsKind::Uts][..], &[]] {
            let creds = creds
                .clone()
                .with_exec_label("procroot-no-such-profile-3d1f (enforce)");
            let (code, _) = run_with(&pidfd, kinds, &script, |c| {
                c.credentials(creds);
            });
            let err = code.expect_err("a refused exec label");
            let msg = err.to_string();
            assert!(msg.contains("attr/exec"), "{msg}");
            if !lsm_with_labels() {
                assert_eq!(err.errno(), Errno::INVAL, "{msg}");
            }
            assert!(!ran.exists(), "the command ran: {msg}");
        }
        // With the target's own label (none here), the same command runs.
        let (code, _) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.credentials(creds.clone());
        });
        assert_eq!(code.expect("spawn"), 0);
        assert!(ran.exists());
        // Without openat2 the label is never written through an unchecked path: ENOSYS.
        std::fs::remove_file(&ran).expect("remove");
        procroot_testutil::deny_syscalls(&[procroot_testutil::SYS_OPENAT2], libc::ENOSYS);
        let labelled = creds
            .clone()
            .with_exec_label("procroot-no-such-profile-3d1f");
        let (code, _) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.credentials(labelled).without_seccomp();
        });
        let err = code.expect_err("a label without openat2");
        assert_eq!(err.errno(), Errno::NOSYS, "{err}");
        assert!(err.to_string().contains("openat2"), "{err}");
        assert!(!ran.exists(), "the command ran: {err}");
    });
}

/// On a host with AppArmor or SELinux: the command runs under the target's label
/// (`attr/current` of the command equals the target's). Cannot run without such an LSM (this
/// test machine has none: `attr/current` gives `EINVAL`), so it is ignored; run it with
/// `--ignored` on an LSM host, where it fails rather than pass without checking anything.
#[test]
#[ignore = "needs an LSM that labels processes (AppArmor or SELinux): /proc/self/attr/current \
            must be readable; run with --ignored on such a host"]
fn the_command_runs_under_the_targets_lsm_label() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    assert!(
        lsm_with_labels(),
        "SKIPPED would be a lie: no LSM with labels here (/proc/self/attr/current is unreadable)"
    );
    in_private_mount_ns(|| {
        let target = uts_target("labelled");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let theirs = std::fs::read_to_string(format!("/proc/{}/attr/current", target.pid()))
            .expect("the target's label");
        let creds = procroot_runtime::exec::credentials_of(&pidfd).expect("credentials");
        assert_eq!(
            creds.exec_label(),
            Some(theirs.trim_end_matches(['\0', '\n']))
        );
        let (code, out) = run_with(
            &pidfd,
            &[NsKind::Uts],
            "cat /proc/self/attr/current",
            |_| {},
        );
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(
            out.trim_end_matches(['\0', '\n']),
            theirs.trim_end_matches(['\0', '\n'])
        );
    });
}

/// A filter that can be copied wins over the profile: the command runs under the target's own
/// filter (`uname` refused), not the profile's (`mkdir` works).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_copied_filter_wins_over_the_config_profile() {
    require_privilege("unshare(CLONE_NEWUTS), setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let target = filtered_target("copied", &[libc::SYS_uname], libc::EHOSTDOWN);
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let script = format!(
            "mkdir {} && echo mkdir-ok; uname -n 2>/dev/null || echo uname-refused",
            made.display()
        );
        let profile = seccomp_profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        );
        let (code, out) = run_with(&pidfd, &[NsKind::Uts], &script, |c| {
            c.seccomp_profile(profile);
        });
        assert_eq!(code.expect("spawn"), 0);
        assert_eq!(out, "mkdir-ok\nuname-refused");
        assert!(made.exists());
    });
}

/// The signals whose handler is caught, from `SigCgt` in `/proc/self/status` (bit `n - 1` for
/// signal `n`).
fn caught_signals() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .expect("a SigCgt line")
        .trim();
    u64::from_str_radix(hex, 16).expect("SigCgt in hex")
}

/// The children of `spawn` reset every caught signal before anything of the target runs, up to
/// and including `SIGRTMAX`: a caller's handler for the last signal number must not survive in
/// the child that shares the caller's memory (it would run on the caller's heap once the
/// command's process unblocks signals before its exec).
#[test]
fn the_childs_signal_reset_covers_sigrtmax() {
    extern "C" fn on_signal(_: libc::c_int) {}
    in_child(|| {
        let signals = [
            libc::SIGUSR1,
            libc::SIGRTMIN(),
            libc::SIGRTMAX() - 1,
            libc::SIGRTMAX(),
        ];
        let mut mask = 0u64;
        for sig in signals {
            // SAFETY: installs a handler that does nothing, in this forked, single-threaded
            // child.
            let old = unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
            assert_ne!(old, libc::SIG_ERR, "signal({sig})");
            mask |= 1 << (sig - 1);
        }
        assert_eq!(caught_signals() & mask, mask, "the handlers are installed");
        procroot_runtime::testing::reset_signal_handlers();
        let left = caught_signals() & mask;
        assert_eq!(
            left,
            0,
            "still caught after the reset: {left:#x} (SIGRTMAX is bit {:#x})",
            1u64 << (libc::SIGRTMAX() - 1)
        );
    });
}

/// Where the `pthread_atfork` child handler of the next test writes, or -1.
static ATFORK_MARKER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn atfork_child_marks() {
    let fd = ATFORK_MARKER.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) of a static byte to a pipe this test opened; async-signal-safe.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// The first child made without `CLONE_VM` is a raw clone, as glibc's `posix_spawn` makes it:
/// glibc's `fork(3)` would run the caller's `pthread_atfork` child handlers in it (arbitrary
/// code, which may allocate or take a lock another thread held), so a handler registered here
/// must never run.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_fork_fallback_runs_no_pthread_atfork_handler() {
    require_privilege("unshare(CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = uts_target("atfork");
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        in_child(|| {
            testing::disable(Feature::CloneVfork);
            let (r, w) = rustix::pipe::pipe_with(
                rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
            )
            .expect("pipe");
            ATFORK_MARKER.store(w.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
            // SAFETY: registers a child handler that only makes an async-signal-safe write.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(atfork_child_marks)) };
            assert_eq!(rc, 0, "pthread_atfork");
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            ATFORK_MARKER.store(-1, std::sync::atomic::Ordering::Relaxed);
            assert_eq!((code.expect("spawn"), out.as_str()), (0, "atfork"));
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "the child was a fork"
            );
            drop(w);
            let mut buf = [0u8; 16];
            let got = rustix::io::read(&r, &mut buf);
            assert!(
                !matches!(got, Ok(1..)),
                "a pthread_atfork child handler ran in spawn's child: {got:?}"
            );
        });
    });
}

/// Where reading our dumpable state fails (here a filter refuses `PR_GET_DUMPABLE`), the first
/// child does not share our memory: it makes its mm non-dumpable, and a state we could not read
/// could not be restored afterwards. The command still runs, from a fork.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn an_unreadable_dumpable_state_makes_the_child_a_fork() {
    require_privilege("unshare(CLONE_NEWPID | CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = Target::spawn_pidns_init(|| {
            // SAFETY: unshare(2) of the UTS namespace in the forked, single-threaded target.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0, "unshare");
            rustix::system::sethostname(b"undumpable").expect("sethostname");
        });
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let kinds = [NsKind::Pid, NsKind::Uts];
        in_child(|| {
            // Shares our memory while the state can be read (the precondition).
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run_in(&pidfd, EnterMethod::Auto, &kinds, "hostname");
            assert_eq!((code.expect("spawn"), out.as_str()), (0, "undumpable"));
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0 + 1, before.1),
                "precondition: the child shares our memory (CLONE_VM)"
            );
            deny_prctl_get_dumpable();
            assert_eq!(
                rustix::process::dumpable_behavior(),
                Err(Errno::PERM),
                "the filter refuses PR_GET_DUMPABLE"
            );
            let before = procroot_runtime::testing::child_kinds();
            let (code, out) = run_with(&pidfd, &kinds, "hostname", |c| {
                c.without_seccomp();
            });
            assert_eq!((code.expect("spawn"), out.as_str()), (0, "undumpable"));
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "the child was a fork"
            );
        });
    });
}

/// A filter that makes `prctl(PR_GET_DUMPABLE)` fail with `EPERM` and allows everything else.
fn deny_prctl_get_dumpable() {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    procroot_testutil::install_seccomp_filter(&[
        op(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        op(JEQ_K, 0, 3, libc::SYS_prctl as u32),
        op(LD_W_ABS, 0, 0, 16), // the low word of args[0] (little-endian)
        op(JEQ_K, 0, 1, libc::PR_GET_DUMPABLE as u32),
        op(RET_K, 0, 0, ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, ALLOW),
    ]);
}

/// `Feature::CloneVfork` promises "without it, `fork(2)` every time": when the `CLONE_VM`
/// child's stack cannot be mapped (here an address-space limit just above what the process
/// uses), the failure is recorded once, and later starts fork even once memory is back.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_child_stack_that_cannot_be_mapped_disables_clone_vfork_for_good() {
    require_privilege("unshare(CLONE_NEWPID | CLONE_NEWUTS) and setns");
    in_private_mount_ns(|| {
        let target = Target::spawn_pidns_init(|| {
            // SAFETY: unshare(2) of the UTS namespace in the forked, single-threaded target.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUTS) }, 0, "unshare");
            rustix::system::sethostname(b"nostack").expect("sethostname");
        });
        let pidfd = PidFd::open(target.pid()).expect("pidfd");
        let kinds = [NsKind::Pid, NsKind::Uts];
        in_child(|| {
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            let cmd = Command::new("/bin/true");
            assert!(!testing::known_unavailable(Feature::CloneVfork));
            // Room for the parent's small allocations, not for a 256 KiB stack.
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            let vm_kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmSize");
            let limit = (vm_kib + 128) * 1024;
            let set = |cur: u64| {
                rustix::process::setrlimit(
                    rustix::process::Resource::As,
                    rustix::process::Rlimit {
                        current: Some(cur),
                        maximum: None,
                    },
                )
                .expect("setrlimit")
            };
            let before = procroot_runtime::testing::child_kinds();
            set(limit);
            let result = ns.spawn(NsKinds::of(&kinds), &cmd);
            set(u64::MAX);
            assert_eq!(result.expect("spawn").code(), Some(0));
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "without a stack, the child was a fork"
            );
            assert!(
                testing::known_unavailable(Feature::CloneVfork),
                "the failure was recorded in the registry"
            );
            let before = procroot_runtime::testing::child_kinds();
            let status = ns.spawn(NsKinds::of(&kinds), &cmd).expect("spawn");
            assert_eq!(status.code(), Some(0));
            assert_eq!(
                procroot_runtime::testing::child_kinds(),
                (before.0, before.1 + 1),
                "a fork again, with memory back"
            );
        });
    });
}
