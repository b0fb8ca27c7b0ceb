//! `procroot::exec`: entering namespaces by both methods, PID reuse, namespace names, and the
//! child's cwd check (CVE-2024-21626). The CLI tests (`procroot-cli/tests/exec_cli.rs`) cover the
//! sealed binary, fd leaks and the full `unshare` target.
//!
//! Targets are forked processes in a new UTS namespace with their own hostname; every process
//! made here is killed and reaped before its test ends.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};

use procroot::exec::{Command, EnterMethod, Namespaces, NsKind, NsKinds};
use procroot::testing::{self, Feature};
use procroot::{ErrorKind, PidFd};
use procroot_testutil::container::{Attack, Attacker, StandInContainer};
use procroot_testutil::{in_child, in_private_mount_ns, require_privilege};
use rustix::io::Errno;

/// A forked process in a new UTS namespace named `hostname`, waiting until dropped.
struct Target {
    pid: libc::pid_t,
    release: Option<std::io::PipeWriter>,
    reaped: bool,
}

impl Target {
    fn spawn(hostname: &str) -> Target {
        Target::spawn_with(hostname, 0)
    }

    /// [`Target::spawn`] in the namespaces `CLONE_NEWUTS | extra` (`CLONE_NEWUSER` to own it).
    fn spawn_with(hostname: &str, extra: libc::c_int) -> Target {
        Target::spawn_then(hostname, extra, 0)
    }

    /// [`Target::spawn_with`], then, once the hostname is set, `unshare(then)`: with
    /// `CLONE_NEWUSER`, a user namespace that does not own the UTS namespace.
    fn spawn_then(hostname: &str, extra: libc::c_int, then: libc::c_int) -> Target {
        let (mut ready_r, mut ready_w) = std::io::pipe().expect("pipe");
        let (mut release_r, release_w) = std::io::pipe().expect("pipe");
        // SAFETY: fork(2); the child runs only the code below and leaves with _exit(2).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            drop(ready_r);
            drop(release_w);
            // SAFETY: unshare and sethostname on this (forked, single-threaded) process.
            let ok = unsafe {
                libc::unshare(libc::CLONE_NEWUTS | extra) == 0
                    && libc::sethostname(hostname.as_ptr().cast(), hostname.len()) == 0
                    && (then == 0 || libc::unshare(then) == 0)
            };
            let _ = ready_w.write_all(if ok { b"r" } else { b"e" });
            drop(ready_w);
            let mut b = [0u8; 1];
            let _ = release_r.read(&mut b);
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        drop(release_r);
        let mut b = [0u8; 1];
        ready_r.read_exact(&mut b).expect("ready");
        assert_eq!(&b, b"r", "target setup failed");
        Target {
            pid,
            release: Some(release_w),
            reaped: false,
        }
    }

    fn kill_and_reap(&mut self) {
        // SAFETY: our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
        self.reaped = true;
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.release.take());
        if !self.reaped {
            self.kill_and_reap();
        }
    }
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
    let (mut r, w) = std::io::pipe().expect("pipe");
    // The command's stdout is our fd 1 in the child: redirect it to the pipe for this call.
    let saved = rustix::io::dup(std::io::stdout().as_fd()).expect("dup stdout");
    let mut one = unsafe_stdout();
    rustix::io::dup2(&w, &mut one).expect("dup2");
    drop(w);
    let ns = Namespaces::of(pidfd);
    let result = ns.and_then(|ns| {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]);
        ns.with_method(method).spawn(NsKinds::of(kinds), &cmd)
    });
    rustix::io::dup2(&saved, &mut one).expect("restore stdout");
    std::mem::forget(one);
    let mut out = String::new();
    r.read_to_string(&mut out).expect("read");
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
        let target = Target::spawn("lib-target");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
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
        let target = Target::spawn("entered");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
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
            let mut first = Target::spawn("first");
            let pid = first.pid;
            let pidfd = PidFd::open(pid as u32).expect("pidfd");
            first.kill_and_reap();
            let mut second = None;
            for _ in 0..20 {
                std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                    .expect("write ns_last_pid");
                let t = Target::spawn("second");
                if t.pid == pid {
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
            let fresh = PidFd::open(pid as u32).expect("pidfd");
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
            procroot::testing::verify_cwd(host.as_fd()),
            Err(Errno::XDEV)
        );
        rustix::process::fchdir(&inside).expect("fchdir inside");
        assert_eq!(procroot::testing::verify_cwd(inside.as_fd()), Ok(()));
        // Inside the root, but not the directory expected.
        assert_eq!(
            procroot::testing::verify_cwd(host.as_fd()),
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
        let target = Target::spawn("methods");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
        in_child(|| {
            let fast = Namespaces::of(&pidfd).expect("namespaces").unshared();
            if kernel_at_least(6, 11) {
                assert!(
                    !testing::known_unavailable(Feature::PidfdNamespaces),
                    "Linux 6.11+ has PIDFD_GET_*_NAMESPACE, but the library fell back"
                );
            } else {
                eprintln!("SKIPPED part: kernel before 6.11, no PIDFD_GET_*_NAMESPACE to compare");
            }
            testing::disable(Feature::PidfdNamespaces);
            let slow = Namespaces::of(&pidfd).expect("namespaces").unshared();
            assert_eq!(fast, slow);
            assert_eq!(fast, [NsKind::Uts]);
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!(
                (code.expect("spawn"), out.as_str()),
                (0, "methods"),
                "procfs, CLONE_VM"
            );
            testing::disable(Feature::CloneVfork);
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!(
                (code.expect("spawn"), out.as_str()),
                (0, "methods"),
                "procfs, fork"
            );
        });
        in_child(|| {
            testing::disable(Feature::CloneVfork);
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!(
                (code.expect("spawn"), out.as_str()),
                (0, "methods"),
                "pidfd, fork"
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
        let target = Target::spawn_with("in-userns", libc::CLONE_NEWUSER);
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
        let ns = Namespaces::of(&pidfd).expect("namespaces");
        assert_eq!(ns.unshared(), [NsKind::User, NsKind::Uts]);
        for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
            let (code, out) = run_in(
                &pidfd,
                method,
                &[NsKind::User, NsKind::Uts],
                "hostname; id -u",
            );
            assert_eq!(code.expect("spawn"), 0, "{method:?}");
            assert_eq!(out, "in-userns\n65534", "{method:?}");
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
        let target = Target::spawn("state");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
        in_child(|| {
            // SAFETY: signal-state calls over stack data in this forked, single-threaded child.
            unsafe {
                libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR2);
                libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            }
            let (code, out) = run(&pidfd, EnterMethod::Auto, "hostname");
            assert_eq!((code.expect("spawn"), out.as_str()), (0, "state"));
            // With forwarded signals too (a signalfd while the command runs).
            let mut cmd = Command::new("/bin/true");
            cmd.forward_signals();
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            let status = ns.spawn(NsKinds::of(&[NsKind::Uts]), &cmd).expect("spawn");
            assert_eq!(status.code(), Some(0));
            // SAFETY: as above.
            unsafe {
                let mut now: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut now);
                assert_eq!(
                    libc::sigismember(&now, libc::SIGUSR2),
                    1,
                    "SIGUSR2 unblocked"
                );
                assert_eq!(
                    libc::sigismember(&now, libc::SIGINT),
                    0,
                    "SIGINT left blocked"
                );
                let mut act: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGUSR1, std::ptr::null(), &mut act);
                assert_eq!(
                    act.sa_sigaction, on_usr1 as *const () as libc::sighandler_t,
                    "handler lost"
                );
            }
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
        let target = Target::spawn_then("outer-uts", 0, libc::CLONE_NEWUSER);
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
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
        let mut unshare = std::process::Command::new("unshare")
            .args([
                "--fork",
                "--kill-child",
                "--time",
                "--monotonic",
                "86400",
                "--uts",
            ])
            .args(["sh", "-c"])
            .arg(format!(
                "hostname in-timens && touch {} && exec sleep 60",
                ready.display()
            ))
            .spawn()
            .expect("unshare");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "target never became ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .expect("children");
        let pid: u32 = children
            .split_whitespace()
            .next()
            .expect("child")
            .parse()
            .unwrap();
        let pidfd = PidFd::open(pid).expect("pidfd");
        let result = std::panic::catch_unwind(|| {
            let ns = Namespaces::of(&pidfd).expect("namespaces");
            assert!(ns.unshared().contains(&NsKind::Time), "{:?}", ns.unshared());
            for method in [EnterMethod::Auto, EnterMethod::PidFd, EnterMethod::NsFiles] {
                let (code, out) = run_in(
                    &pidfd,
                    method,
                    &[NsKind::Time, NsKind::Uts],
                    "hostname; grep monotonic /proc/self/timens_offsets",
                );
                assert_eq!(code.expect("spawn"), 0, "{method:?}");
                let words: Vec<&str> = out.split_whitespace().collect();
                assert_eq!(
                    words,
                    ["in-timens", "monotonic", "86400", "0"],
                    "{method:?}"
                );
            }
        });
        let _ = unshare.kill();
        let _ = unshare.wait();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Runs `command` in every namespace `target` does not share, with its stdout to a pipe.
fn spawn_capturing(
    pidfd: &PidFd,
    command: &Command,
) -> (Result<std::process::ExitStatus, procroot::Error>, String) {
    let (mut r, w) = std::io::pipe().expect("pipe");
    let saved = rustix::io::dup(std::io::stdout().as_fd()).expect("dup stdout");
    let mut one = unsafe_stdout();
    rustix::io::dup2(&w, &mut one).expect("dup2");
    drop(w);
    let result = procroot::exec::spawn_in(pidfd, NsKinds::unshared(), command);
    rustix::io::dup2(&saved, &mut one).expect("restore stdout");
    std::mem::forget(one);
    drop(saved);
    let mut out = String::new();
    r.read_to_string(&mut out).expect("read");
    (result, out)
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
        let target = Target::spawn("dumpable");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
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
        let target = Target::spawn("own-fds");
        let pidfd = PidFd::open(target.pid as u32).expect("pidfd");
        let procfs = procroot::Procfs::cached().expect("procfs");
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = dir.path().join("ran");
        for own in [procfs.as_fd().as_raw_fd(), pidfd.as_fd().as_raw_fd()] {
            let mut cmd = Command::new("/bin/touch");
            cmd.arg(&flag).keep_fd(own);
            let err = procroot::exec::spawn_in(&pidfd, NsKinds::of(&[NsKind::Uts]), &cmd)
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
