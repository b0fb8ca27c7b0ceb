//! procfs for another PID namespace (`Procfs::for_pidns`, with the `pidns=` option and with the
//! helper process), its refusals, and PID reuse: a `PidFd` base must never give another
//! process's files, and neither may `Root::for_pid`.
//!
//! Processes are the kit's [`Target`]s; a process that is PID 1 of a new PID namespace is
//! [`Target::spawn_pidns_init`] (`fork` + `unshare(CLONE_NEWPID)` + `fork`). Every process made
//! here is killed and reaped before its test ends.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use procroot::testing::{self, Feature};
use procroot::{Acquisition, Error, ErrorKind, OFlags, PidFd, ProcBase, Procfs, Root};
use procroot_testutil::{
    enter_private_mount_ns, fd_identity, identity, in_child, mount_raw, require_privilege, Target,
    Tree,
};
use rustix::io::Errno;

// --- processes ---------------------------------------------------------------------------------

/// Sets this thread's name (`comm`, the `Name:` of `status`).
fn set_name(name: &str) {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    let rc = unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NAME");
}

/// Runs `f` as PID 1 of a new PID namespace (a grandchild), and waits for it.
fn in_new_pidns(f: impl FnOnce()) {
    in_child(|| {
        // SAFETY: unshare(2) only affects this process's future children.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWPID) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWPID): {}",
            std::io::Error::last_os_error()
        );
        in_child(|| {
            assert_eq!(std::process::id(), 1, "not PID 1 of the new namespace");
            f()
        });
    });
}

// --- helpers -----------------------------------------------------------------------------------

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_gone<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let e = expect_err(result, what);
    assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}");
    assert_eq!(e.errno(), Errno::SRCH, "{what}: {e}");
}

#[track_caller]
fn assert_einval<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let e = expect_err(result, what);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    assert_eq!(e.errno(), Errno::INVAL, "{what}: {e}");
}

fn ns_of(pid: u32) -> File {
    File::open(format!("/proc/{pid}/ns/pid")).expect("open a pid namespace fd")
}

fn numeric_entries(p: &Procfs) -> Vec<u32> {
    let mut pids: Vec<u32> = p
        .read_dir(ProcBase::Root, "")
        .expect("read_dir of the root")
        .filter_map(|e| e.expect("entry").file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

// --- instances for a PID namespace -------------------------------------------------------------

const INIT_NAME: &str = "pidns-init";

/// `p` is an instance of the namespace whose init is `init`: that process is `1`, the caller is
/// not in it.
fn check_pidns_instance(p: &Procfs, init: &Target) {
    let what = p.acquisition().as_str();
    assert!(!p.is_masked(), "{what}");
    p.verify().expect("verify");
    let status = p
        .read_to_string(ProcBase::Root, "1/status")
        .unwrap_or_else(|e| panic!("{what}: read 1/status: {e}"));
    assert_eq!(
        status_field(&status, "Name"),
        Some(INIT_NAME),
        "{what}: {status}"
    );
    assert_eq!(status_field(&status, "Pid"), Some("1"), "{what}");
    // NSpid starts at the instance's namespace: just "1".
    assert_eq!(
        status_field(&status, "NSpid"),
        Some("1"),
        "{what}: {status}"
    );
    let s = p
        .read_to_string(ProcBase::Pid(1), "status")
        .expect("Pid(1) base");
    assert_eq!(status_field(&s, "Name"), Some(INIT_NAME), "{what}");
    let exe = p
        .readlink(ProcBase::Root, "1/exe")
        .unwrap_or_else(|e| panic!("{what}: readlink 1/exe: {e}"));
    assert_eq!(exe, std::env::current_exe().expect("current_exe"), "{what}");
    // The caller is not in that namespace: no `self`, no `thread-self`.
    for link in ["self", "thread-self"] {
        let e = expect_err(p.readlink(ProcBase::Root, link), &format!("{what}: {link}"));
        assert_eq!(e.errno(), Errno::NOENT, "{what}: readlink {link}: {e}");
        assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}");
    }
    let e = expect_err(
        p.read_to_string(ProcBase::SelfProcess, "status"),
        &format!("{what}: self/status"),
    );
    assert_eq!(e.kind(), ErrorKind::NotFound, "{what}: {e}");
    // Only the init lives there.
    assert_eq!(numeric_entries(p), [1], "{what}");
    // The same process, seen from our own namespace, has both numbers.
    let outer = Procfs::acquire(Acquisition::PlainOpen, false).expect("plain /proc");
    let s = outer
        .read_to_string(ProcBase::Pid(init.pid()), "status")
        .expect("outer status");
    assert_eq!(
        status_field(&s, "NSpid"),
        Some(&*format!("{}\t1", init.pid())),
        "{what}"
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_instance_with_the_option() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    let init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let ns = ns_of(init.pid());
    let p = Procfs::for_pidns(&ns).unwrap_or_else(|e| panic!("for_pidns: {e}"));
    assert_eq!(p.acquisition(), Acquisition::PidnsOption);
    check_pidns_instance(&p, &init);
    // Two instances for the same namespace are separate mounts of the same view.
    let q = Procfs::for_pidns(&ns).expect("for_pidns again");
    assert_eq!(numeric_entries(&q), [1]);
    drop(init);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_instance_with_the_helper() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    let init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let ns = ns_of(init.pid());
    in_child(|| {
        testing::disable(Feature::ProcPidnsOption);
        let p = Procfs::for_pidns(&ns).unwrap_or_else(|e| panic!("for_pidns (helper): {e}"));
        assert_eq!(p.acquisition(), Acquisition::PidnsHelper);
        check_pidns_instance(&p, &init);
    });
    // The helper's processes are gone: only the init is left in the namespace.
    let p = Procfs::for_pidns(&ns).expect("for_pidns");
    assert_eq!(numeric_entries(&p), [1]);
    drop(init);
}

/// Without `fsopen` (a kernel before 5.2, or a seccomp filter answering `ENOSYS` or `EPERM`),
/// the helper mounts procfs with `mount(2)` in a private mount namespace instead. It used to fail
/// outright (`ENOSYS`), or blame a missing `CAP_SYS_ADMIN` while running as root (`EPERM`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_instance_without_fsopen() {
    require_privilege("PID namespaces and mount(2) of procfs (CAP_SYS_ADMIN)");
    let init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let ns = ns_of(init.pid());
    for errno in [libc::ENOSYS, libc::EPERM] {
        in_child(|| {
            procroot_testutil::deny_syscalls(&[libc::SYS_fsopen], errno);
            let p = Procfs::for_pidns(&ns)
                .unwrap_or_else(|e| panic!("for_pidns with fsopen denied ({errno}): {e}"));
            assert_eq!(p.acquisition(), Acquisition::PidnsHelper);
            check_pidns_instance(&p, &init);
            // The helper's mount namespace is gone with it; the instance lives on, unreachable
            // by path: nothing of it shows in ours.
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
            assert_eq!(
                mountinfo.lines().filter(|l| l.contains(" /proc ")).count(),
                1,
                "{mountinfo}"
            );
        });
    }
    // The helpers are gone: only the init is left in the namespace.
    let p = Procfs::for_pidns(&ns).expect("for_pidns");
    assert_eq!(numeric_entries(&p), [1]);
    drop(init);
}

/// When the fallback is refused too, the error keeps the real errno and says what was refused
/// and why: as root, a filter (not a missing capability); as uid 1000, the capability.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_instance_refusals_name_the_syscall_and_the_privilege() {
    require_privilege("PID namespaces, setresuid (CAP_SYS_ADMIN, CAP_SETUID)");
    let init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let ns = ns_of(init.pid());
    in_child(|| {
        procroot_testutil::deny_syscalls(&[libc::SYS_fsopen, libc::SYS_mount], libc::EPERM);
        let e = expect_err(Procfs::for_pidns(&ns), "fsopen and mount denied");
        assert_eq!(e.errno(), Errno::PERM, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("mount(2)"), "{msg}");
        assert!(msg.contains("seccomp"), "{msg}");
    });
    in_child(|| {
        procroot_testutil::deny_syscalls(&[libc::SYS_fsopen], libc::ENOSYS);
        procroot_testutil::deny_syscalls(&[libc::SYS_mount], libc::ENOSYS);
        let e = expect_err(Procfs::for_pidns(&ns), "fsopen and mount unavailable");
        assert_eq!(e.errno(), Errno::NOSYS, "{e}");
        assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
        assert!(e.to_string().contains("mount(2)"), "{e}");
    });
    in_child(|| {
        procroot_testutil::become_user(1000);
        let e = expect_err(Procfs::for_pidns(&ns), "for_pidns as uid 1000");
        assert_eq!(e.errno(), Errno::PERM, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("setns(2)"), "{msg}");
        assert!(
            msg.contains("CAP_SYS_ADMIN in the user namespace that owns"),
            "{msg}"
        );
    });
    drop(init);
}

/// The caller's own namespace is allowed, and then `self` is there.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_instance_of_the_callers_own_namespace() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    in_new_pidns(|| {
        for helper in [false, true] {
            in_child(|| {
                if helper {
                    testing::disable(Feature::ProcPidnsOption);
                }
                let me = std::process::id();
                let own = File::open("/proc/thread-self/ns/pid").expect("own ns");
                let p = Procfs::for_pidns(&own).unwrap_or_else(|e| panic!("own ns: {e}"));
                let want = if helper {
                    Acquisition::PidnsHelper
                } else {
                    Acquisition::PidnsOption
                };
                assert_eq!(p.acquisition(), want);
                let target = p.readlink(ProcBase::Root, "self").expect("self");
                assert_eq!(target, Path::new(&me.to_string()), "{want:?}");
                let s = p
                    .read_to_string(ProcBase::SelfProcess, "status")
                    .expect("self/status");
                assert_eq!(status_field(&s, "Pid"), Some(&*me.to_string()));
                assert_eq!(status_field(&s, "NSpid"), Some(&*me.to_string()));
            });
        }
    });
}

// --- refusals ------------------------------------------------------------------------------------

fn check_not_a_pidns(helper: bool) {
    if helper {
        testing::disable(Feature::ProcPidnsOption);
    }
    let tree = Tree::new("file plain not a namespace");
    let pidfd = PidFd::open(std::process::id()).expect("pidfd of self");
    let candidates: Vec<(&str, File)> = vec![
        ("ns/net", File::open("/proc/self/ns/net").expect("net ns")),
        ("ns/mnt", File::open("/proc/self/ns/mnt").expect("mnt ns")),
        (
            "ns/user",
            File::open("/proc/self/ns/user").expect("user ns"),
        ),
        (
            "a regular file",
            File::open(tree.join("plain")).expect("file"),
        ),
        ("a directory", File::open("/proc/self/ns").expect("ns dir")),
        ("/dev/null", File::open("/dev/null").expect("/dev/null")),
    ];
    for (what, fd) in &candidates {
        assert_einval(
            Procfs::for_pidns(fd),
            &format!("for_pidns({what}), helper={helper}"),
        );
    }
    assert_einval(
        Procfs::for_pidns(&pidfd),
        &format!("for_pidns(a pidfd), helper={helper}"),
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn refuses_what_is_not_a_pid_namespace() {
    require_privilege("fsopen (CAP_SYS_ADMIN)");
    in_child(|| check_not_a_pidns(false));
    in_child(|| check_not_a_pidns(true));
}

/// From inside a descendant namespace, the ancestor's namespace (and a sibling's) is neither the
/// caller's nor a descendant: `EINVAL`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn refuses_a_namespace_that_is_not_a_descendant() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    let ancestor = File::open("/proc/self/ns/pid").expect("our pid ns");
    let sibling_init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let sibling = ns_of(sibling_init.pid());
    in_new_pidns(|| {
        for helper in [false, true] {
            in_child(|| {
                if helper {
                    testing::disable(Feature::ProcPidnsOption);
                }
                assert_einval(
                    Procfs::for_pidns(&ancestor),
                    &format!("the ancestor's namespace, helper={helper}"),
                );
                assert_einval(
                    Procfs::for_pidns(&sibling),
                    &format!("a sibling's namespace, helper={helper}"),
                );
            });
        }
    });
    // From the ancestor, the same namespaces are fine.
    Procfs::for_pidns(&sibling).expect("the sibling's namespace from the ancestor");
    Procfs::for_pidns(&ancestor).expect("our own namespace");
    drop(sibling_init);
}

// --- PidFd bases and PID reuse -------------------------------------------------------------------

/// Every operation through a `PidFd` base of a process that is gone: `ESRCH`.
fn assert_pidfd_base_gone(p: &Procfs, pidfd: &PidFd, what: &str) {
    let base = ProcBase::PidFd(pidfd);
    assert_gone(
        p.open(base, "status", OFlags::RDONLY),
        &format!("{what}: open"),
    );
    assert_gone(p.read_to_string(base, "status"), &format!("{what}: read"));
    assert_gone(p.readlink(base, "exe"), &format!("{what}: readlink exe"));
    assert_gone(
        p.open_follow(base, "root", OFlags::PATH | OFlags::DIRECTORY),
        &format!("{what}: open_follow root"),
    );
    assert_gone(p.symlink_metadata(base, ""), &format!("{what}: stat"));
    assert_gone(
        p.read_dir(base, "").map(|_| ()),
        &format!("{what}: read_dir"),
    );
    assert_gone(p.write(base, "comm", b"x"), &format!("{what}: write"));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidfd_base_of_a_dead_process() {
    require_privilege("fsopen/open_tree of procfs (CAP_SYS_ADMIN)");
    let instances: Vec<Procfs> = [
        (Acquisition::Fsmount, true),
        (Acquisition::Fsmount, false),
        (Acquisition::OpenTreeClone, false),
        (Acquisition::PlainOpen, false),
    ]
    .into_iter()
    .map(|(m, masked)| Procfs::acquire(m, masked).expect("acquire"))
    .collect();
    let mut child = Target::spawn(|| set_name("pidfd-target"));
    let pid = child.pid();
    let pidfd = PidFd::open(pid).expect("pidfd_open");
    assert_eq!(pidfd.pid(), pid);
    assert!(pidfd.is_alive());
    for p in &instances {
        let s = p
            .read_to_string(ProcBase::PidFd(&pidfd), "status")
            .unwrap_or_else(|e| panic!("{:?}: live: {e}", p.acquisition()));
        assert_eq!(status_field(&s, "Name"), Some("pidfd-target"));
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()));
    }
    // A zombie is still that process: its PID cannot be reused until it is reaped.
    child.kill();
    let zombie = |p: &Procfs| -> bool {
        p.read_to_string(ProcBase::Pid(pid), "status")
            .map(|s| status_field(&s, "State").is_some_and(|st| st.starts_with('Z')))
            .unwrap_or(false)
    };
    for _ in 0..1000 {
        if zombie(&instances[0]) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(pidfd.is_alive(), "a zombie counts as alive");
    for p in &instances {
        let s = p
            .read_to_string(ProcBase::PidFd(&pidfd), "status")
            .unwrap_or_else(|e| panic!("{:?}: zombie: {e}", p.acquisition()));
        assert_eq!(status_field(&s, "Pid"), Some(&*pid.to_string()));
        assert!(
            status_field(&s, "State").is_some_and(|st| st.starts_with('Z')),
            "{s}"
        );
    }
    child.reap();
    assert!(!pidfd.is_alive());
    for p in &instances {
        assert_pidfd_base_gone(p, &pidfd, &format!("{:?} (reaped)", p.acquisition()));
    }
    assert_gone(PidFd::open(pid), "pidfd_open of a reaped process");
}

/// Forces a PID to be reused: inside a fresh PID namespace PIDs are small, and
/// `ns_last_pid` makes the next one exactly the dead process's PID.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidfd_base_after_pid_reuse() {
    require_privilege("PID namespaces, ns_last_pid and fsopen (CAP_SYS_ADMIN)");
    in_new_pidns(|| {
        // Instances of this (new) namespace: fsmount here is for the caller's namespace.
        let own = File::open("/proc/thread-self/ns/pid").expect("own ns");
        let instances = [
            Procfs::acquire(Acquisition::Fsmount, true).expect("fsmount masked"),
            Procfs::acquire(Acquisition::Fsmount, false).expect("fsmount"),
            Procfs::for_pidns(&own).expect("for_pidns(own)"),
        ];
        for p in &instances {
            assert_eq!(
                p.readlink(ProcBase::Root, "self").expect("self"),
                Path::new("1")
            );
        }
        let first = Target::spawn(|| set_name("first"));
        let pid = first.pid();
        let pidfd = PidFd::open(pid).expect("pidfd_open");
        for p in &instances {
            let s = p
                .read_to_string(ProcBase::PidFd(&pidfd), "status")
                .expect("live status");
            assert_eq!(status_field(&s, "Name"), Some("first"));
        }
        first.kill_and_reap();

        // Make the next PID the same number.
        let mut second = None;
        for _ in 0..20 {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
                .expect("write ns_last_pid");
            let w = Target::spawn(|| set_name("second"));
            if w.pid() == pid {
                second = Some(w);
                break;
            }
            w.kill_and_reap();
        }
        let second = second.expect("the PID was not reused after 20 tries");
        assert!(!pidfd.is_alive(), "the old pidfd sees the new process");
        for p in &instances {
            let what = format!("{:?}", p.acquisition());
            // The number now names the new process...
            let s = p
                .read_to_string(ProcBase::Pid(pid), "status")
                .unwrap_or_else(|e| panic!("{what}: /proc/{pid} of the new process: {e}"));
            assert_eq!(status_field(&s, "Name"), Some("second"), "{what}");
            // ...and the old pidfd refuses it.
            assert_pidfd_base_gone(p, &pidfd, &format!("{what}: PID {pid} reused"));
        }
        // A new pidfd for the number is the new process.
        let fresh = PidFd::open(pid).expect("pidfd of the new process");
        let s = instances[0]
            .read_to_string(ProcBase::PidFd(&fresh), "status")
            .expect("status of the new process");
        assert_eq!(status_field(&s, "Name"), Some("second"));
        second.kill_and_reap();
    });
}

/// A `PidFd` base holds a PID in the caller's namespace. Used with an instance of another
/// namespace, the same number names another process there: the lookup must fail rather than
/// return that process's files.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidfd_base_never_reads_a_child_namespaces_process() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    // An instance of a child namespace, a pidfd of our PID 1: in that instance `1` is the
    // child namespace's init.
    let init = Target::spawn_pidns_init(|| set_name(INIT_NAME));
    let ns = ns_of(init.pid());
    let child_ns = Procfs::for_pidns(&ns).expect("for_pidns");
    let our_init = PidFd::open(1).expect("pidfd of PID 1");
    let got = child_ns.read_to_string(ProcBase::PidFd(&our_init), "status");
    if let Ok(s) = &got {
        assert_ne!(
            status_field(s, "Name"),
            Some(INIT_NAME),
            "PidFd(pid 1 of our namespace) read the child namespace's PID 1: {s}"
        );
    }
    drop(init);
}

/// The other direction: inside a new namespace, an instance of the parent namespace (the global
/// `/proc`, or a handle made before the fork), and a pidfd of our own child, PID 2 here: `2` in
/// the parent namespace is another process (usually `kthreadd`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidfd_base_never_reads_the_parent_namespaces_process() {
    require_privilege("PID namespaces and fsopen (CAP_SYS_ADMIN)");
    // Made before the fork, in the parent namespace (as a cached handle would be).
    let inherited = Procfs::acquire(Acquisition::Fsmount, false).expect("fsmount");
    in_new_pidns(|| {
        let plain = Procfs::acquire(Acquisition::PlainOpen, false).expect("plain /proc");
        let child = Target::spawn(|| set_name("inner-child"));
        let pidfd = PidFd::open(child.pid()).expect("pidfd_open");
        let mut failures = Vec::new();
        for (what, outer) in [("global /proc", &plain), ("inherited fsmount", &inherited)] {
            match outer.read_to_string(ProcBase::PidFd(&pidfd), "status") {
                Ok(s) if status_field(&s, "Name") != Some("inner-child") => failures.push(format!(
                    "{what}: PidFd(pid {}) read another process of the parent namespace: \
                     Name {:?}, Pid {:?}",
                    child.pid(),
                    status_field(&s, "Name"),
                    status_field(&s, "Pid"),
                )),
                Ok(_) => {}
                Err(e) => eprintln!("{what}: refused: {e}"),
            }
        }
        child.kill_and_reap();
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

// --- Root::for_pid -------------------------------------------------------------------------------

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn root_for_pid_of_a_live_and_a_dead_process() {
    require_privilege("fsopen of procfs (CAP_SYS_ADMIN), for the cached handle");
    let child = Target::spawn(|| {});
    let root = Root::for_pid(child.pid()).unwrap_or_else(|e| panic!("Root::for_pid: {e}"));
    assert_eq!(fd_identity(&root), identity("/"));
    assert_eq!(
        root.display_name(),
        Path::new(&format!("/proc/{}/root", child.pid()))
    );
    let pid = child.pid();
    child.kill_and_reap();
    let e = expect_err(Root::for_pid(pid), "Root::for_pid of a reaped process");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.errno(), Errno::SRCH, "{e}");
    assert!(e.to_string().contains(&format!("/proc/{pid}/root")), "{e}");
}

/// The wormhole: a process in another mount namespace sees other files at the same path.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn root_for_pid_enters_the_processs_mount_namespace() {
    require_privilege("a mount namespace for the child (CAP_SYS_ADMIN)");
    let tree = Tree::new("file dir/marker host view");
    let dir = tree.join("dir");
    let child = Target::spawn(|| {
        // The child's own private mount namespace: its tmpfs never reaches the host.
        enter_private_mount_ns();
        mount_raw(Some("tmpfs"), &dir, Some("tmpfs"), 0, Some("size=1m")).expect("tmpfs");
        std::fs::write(dir.join("marker"), "child view").expect("write marker");
    });
    let root = Root::for_pid(child.pid()).expect("Root::for_pid");
    let mut s = String::new();
    root.open_file(dir.join("marker"), OFlags::RDONLY)
        .expect("open marker in the child's view")
        .read_to_string(&mut s)
        .expect("read");
    assert_eq!(s, "child view");
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).expect("host view"),
        "host view"
    );
    let pid = child.pid();
    child.kill_and_reap();
    assert_gone(Root::for_pid(pid), "Root::for_pid after exit");
    // (The root fd stays valid, but the dead namespace's mounts are torn down, so what it shows
    // then is the kernel's business, not procroot's.)
    drop(root);
}
