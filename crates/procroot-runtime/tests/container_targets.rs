//! The container layer acting on the right target (issue 18, second review): sysctls written in
//! the namespace that owns them, helpers that expose nothing of the caller, bind sources that
//! follow no symlink, bind destinations kept out of `/proc`, FIFOs refused by type, the
//! per-CPU default masks, `mount_procfs` of another PID namespace without the new mount API,
//! and OCI parse errors that keep the parser's position.
//!
//! Every test that mounts or unshares runs in a forked child (`in_child`,
//! `in_private_mount_ns`) after `require_privilege`; a test's "host" is a stand-in it makes.

use std::io::{Read, Write};
use std::path::Path;

use procroot::{ErrorKind, Procfs};
use procroot_runtime::container::{self, SysctlNamespace};
use procroot_testutil::{in_child, require_privilege, ForkedChild};
use rustix::io::Errno;

const PRIV: &str = "root: namespaces of its own in a forked child";

/// `(major, minor)` of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Writes `map` to `/proc/self/{uid,gid}_map` after `unshare(CLONE_NEWUSER)`: root inside is
/// our own uid outside (the only map a process may write for itself).
fn map_self_as_root() {
    std::fs::write("/proc/self/setgroups", "deny").unwrap();
    std::fs::write("/proc/self/uid_map", "0 0 1").unwrap();
    std::fs::write("/proc/self/gid_map", "0 0 1").unwrap();
}

fn unshare(flags: libc::c_int) {
    // SAFETY: unshare(2) with namespace flags only changes this (forked, single-threaded)
    // process's namespaces.
    let rc = unsafe { libc::unshare(flags) };
    assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
}

/// Closes, in a forked child, its copy of a pipe end the parent keeps: the child leaves with
/// `_exit`, so the copy's destructor never runs there.
fn close_in_child(fd: &impl std::os::fd::AsRawFd) {
    // SAFETY: closing a descriptor this process owns and never uses again.
    unsafe { libc::close(fd.as_raw_fd()) };
}

/// A forked process that waits until released (or until we die).
struct Waiting {
    child: ForkedChild,
    release: Option<std::io::PipeWriter>,
}

impl Waiting {
    /// Forks a child that runs `setup`, says so, waits for [`Waiting::finish`], then runs
    /// `teardown` with what `setup` returned and exits 0. Only for single-threaded callers
    /// (forked test children).
    fn spawn<T>(setup: impl FnOnce() -> T, teardown: impl FnOnce(T)) -> Waiting {
        let (mut ready_r, ready_w) = std::io::pipe().unwrap();
        let (release_r, release_w) = std::io::pipe().unwrap();
        let child = ForkedChild::spawn(|| {
            close_in_child(&ready_r);
            close_in_child(&release_w);
            let kept = setup();
            (&ready_w).write_all(b"r").unwrap();
            close_in_child(&ready_w);
            let mut b = [0u8; 1];
            let _ = (&release_r).read(&mut b);
            teardown(kept);
            0
        });
        drop(ready_w);
        drop(release_r);
        let mut b = [0u8; 1];
        ready_r.read_exact(&mut b).expect("the child got ready");
        Waiting {
            child,
            release: Some(release_w),
        }
    }

    fn pid(&self) -> u32 {
        self.child.pid() as u32
    }

    fn finish(mut self) {
        drop(self.release.take());
        assert_eq!(self.child.wait(), 0);
    }
}

/// Forks a process that unshares `flags` (with `CLONE_NEWUSER`, it maps itself as root of the
/// new user namespace first) and a new PID namespace, and forks that namespace's init, which
/// runs `setup` and waits. Returns the forked process (finishing it finishes the init) and the
/// init's PID here.
fn spawn_ns_init(flags: libc::c_int, setup: fn()) -> (Waiting, u32) {
    let (mut pid_r, pid_w) = std::io::pipe().unwrap();
    let outer = Waiting::spawn(
        || {
            close_in_child(&pid_r);
            if flags & libc::CLONE_NEWUSER != 0 {
                unshare(libc::CLONE_NEWUSER);
                map_self_as_root();
            }
            unshare((flags & !libc::CLONE_NEWUSER) | libc::CLONE_NEWPID);
            let init = Waiting::spawn(setup, |()| {});
            (&pid_w).write_all(&init.pid().to_ne_bytes()).unwrap();
            init
        },
        Waiting::finish,
    );
    drop(pid_w);
    let mut buf = [0u8; 4];
    pid_r.read_exact(&mut buf).unwrap();
    (outer, u32::from_ne_bytes(buf))
}

// --- item 1: sysctls in the namespace that owns them ------------------------------------------

#[test]
fn sysctl_names_are_sorted_by_owning_namespace() {
    use SysctlNamespace::*;
    for (name, owner) in [
        ("kernel.msgmax", Ipc),
        ("kernel/shm_rmid_forced", Ipc),
        ("fs.mqueue.msg_max", Ipc),
        ("net.ipv4.ip_forward", Net),
        ("net/ipv4/conf/eth0.100/forwarding", Net),
        ("kernel.hostname", Uts),
        ("kernel.domainname", Uts),
        ("user.max_user_namespaces", User),
        ("kernel.pid_max", Pid),
    ] {
        assert_eq!(container::sysctl_namespace(name).unwrap(), owner, "{name}");
    }
    for name in [
        "kernel.core_pattern",
        "vm.swappiness",
        "fs.file-max",
        "fs.mqueue",
        "net",
        "kernel.msgmax.x",
        "kernel",
        "user",
    ] {
        let err = container::sysctl_namespace(name).unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::InvalidInput, Errno::INVAL),
            "{name}: {err}"
        );
        assert!(
            err.to_string()
                .contains("not in a separate kernel namespace"),
            "{err}"
        );
    }
}

/// A machine-wide name is refused before anything is opened: even for a PID that does not
/// exist, the answer is `EINVAL`, not `ESRCH`.
#[test]
fn sysctl_in_refuses_machine_wide_names_before_opening_anything() {
    let nobody = 0x3fff_fff0;
    for name in ["kernel.core_pattern", "vm.swappiness", "fs.file-max"] {
        let err = container::write_sysctl_in(nobody, name, "x").unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::InvalidInput, Errno::INVAL),
            "{err}"
        );
        let err = container::read_sysctl_in(nobody, name).unwrap_err();
        assert_eq!(err.errno(), Errno::INVAL, "{err}");
    }
}

/// A target that shares the caller's network (or IPC) namespace: `net.*` (the IPC sysctls)
/// refused, and refused before the sysctl is opened (a name that does not exist gives the same
/// `EINVAL`, not `ENOENT`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_in_refuses_a_namespace_the_target_shares() {
    require_privilege(PRIV);
    in_child(|| {
        let target = Waiting::spawn(|| unshare(libc::CLONE_NEWUTS), |()| {});
        for name in [
            "net.ipv4.ip_forward",
            "net.no_such.knob",
            "kernel.msgmax",
            "fs.mqueue.msg_max",
            "user.max_user_namespaces",
            "kernel.pid_max",
        ] {
            let err = container::write_sysctl_in(target.pid(), name, "1").unwrap_err();
            assert_eq!(
                (err.kind(), err.errno()),
                (ErrorKind::InvalidInput, Errno::INVAL),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("shares procroot's"), "{err}");
            let err = container::read_sysctl_in(target.pid(), name).unwrap_err();
            assert_eq!(err.errno(), Errno::INVAL, "{name}: {err}");
        }
        // Its own UTS namespace: kernel.hostname is accepted, and is its own.
        let ours = container::read_sysctl("kernel.hostname").unwrap();
        container::write_sysctl_in(target.pid(), "kernel.hostname", "ctr").unwrap();
        assert_eq!(
            container::read_sysctl_in(target.pid(), "kernel.hostname").unwrap(),
            "ctr"
        );
        assert_eq!(container::read_sysctl("kernel.hostname").unwrap(), ours);
        target.finish();
    });
}

/// The attack of issue 18 item 1, `user.*` half. A stand-in host H (its own user and PID
/// namespaces) sets `user.max_user_namespaces=1000`; its container CTR (a user namespace of its
/// own) sets 77. From H: reading CTR's gives 77, a write reaches CTR, and H keeps 1000.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_in_reaches_the_containers_user_namespace() {
    require_privilege(PRIV);
    in_stand_in_host(|| {
        container::write_sysctl("user.max_user_namespaces", "1000").unwrap();
        let (ctr, init) = spawn_ns_init(libc::CLONE_NEWUSER, || {
            container::write_sysctl("user.max_user_namespaces", "77").unwrap();
        });
        assert_eq!(
            container::read_sysctl_in(init, "user.max_user_namespaces").unwrap(),
            "77"
        );
        container::write_sysctl_in(init, "user.max_user_namespaces", "55").unwrap();
        assert_eq!(
            container::read_sysctl_in(init, "user.max_user_namespaces").unwrap(),
            "55"
        );
        assert_eq!(
            container::read_sysctl("user.max_user_namespaces").unwrap(),
            "1000",
            "the stand-in host's own"
        );
        ctr.finish();
    });
}

/// The attack of issue 18 item 1, `kernel.pid_max` half. H sets `kernel.pid_max=31000`, CTR (user
/// and PID namespaces of its own) 5000. From H: reading CTR's gives 5000, a write reaches CTR,
/// and H keeps 31000. `kernel.pid_max` is per PID namespace only since Linux 6.14: on an older
/// kernel this test cannot run, and fails unless `PROCROOT_ALLOW_SKIP=pid-max-per-pidns` allows
/// the skip (then it prints `SKIPPED`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_in_reaches_the_containers_pid_namespace() {
    require_privilege(PRIV);
    if kernel_version() < (6, 14) {
        procroot_testutil::skip_unless_allowed(
            "pid-max-per-pidns",
            "kernel before 6.14: kernel.pid_max is machine-wide, not per PID namespace",
        );
        return;
    }
    in_stand_in_host(|| {
        container::write_sysctl("kernel.pid_max", "31000").unwrap();
        let (ctr, init) = spawn_ns_init(libc::CLONE_NEWUSER, || {
            container::write_sysctl("kernel.pid_max", "5000").unwrap();
        });
        assert_eq!(
            container::read_sysctl_in(init, "kernel.pid_max").unwrap(),
            "5000"
        );
        container::write_sysctl_in(init, "kernel.pid_max", "4000").unwrap();
        assert_eq!(
            container::read_sysctl_in(init, "kernel.pid_max").unwrap(),
            "4000"
        );
        assert_eq!(
            container::read_sysctl("kernel.pid_max").unwrap(),
            "31000",
            "the stand-in host's own"
        );
        ctr.finish();
    });
}

/// Runs `body` as PID 1 of a stand-in host: a forked child in user and PID namespaces of its own
/// (root of its user namespace), with procroot's procfs handles made while still root of the
/// machine (a procfs mount needs that); the stand-in host and its containers inherit them.
fn in_stand_in_host(body: fn()) {
    in_child(move || {
        Procfs::cached().unwrap();
        Procfs::cached_unmasked().unwrap();
        unshare(libc::CLONE_NEWUSER);
        map_self_as_root();
        unshare(libc::CLONE_NEWPID);
        let host = ForkedChild::spawn(move || {
            body();
            0
        });
        assert_eq!(host.wait(), 0, "the stand-in host's checks");
    });
}

// --- item 3: the helper in another PID namespace exposes nothing of the caller ------------------

/// The parent PID of process `pid`, from `/proc/<pid>/status` (readable without ptrace access).
fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether `pid` is in a PID namespace below ours (its `NSpid:` line has more than one number):
/// only such a process is visible to the target's processes.
fn in_a_child_pidns(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let nspid = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    Some(nspid.split_whitespace().count() > 1)
}

/// A caller without `CAP_SYS_PTRACE` makes procfs instances of a child PID namespace with the
/// helper (the `pidns=` option disabled); a watcher thread with the same capabilities tries to
/// open `/proc/<helper>/exe` of every helper process that the target's processes can see (one in
/// the target's PID namespace): always `EACCES` (the helper made itself non-dumpable before
/// `setns`, and its worker inherits that), never the caller's binary. The first child, in the
/// caller's PID namespace, is dumpable for the few instructions before its `prctl`; only the
/// caller's own PID namespace can see it then, so it is not counted.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn pidns_helper_is_not_dumpable() {
    require_privilege(PRIV);
    in_child(|| {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        procroot::testing::disable(procroot::testing::Feature::ProcPidnsOption);
        Procfs::cached().unwrap();
        let (outer, init) = spawn_ns_init(0, || {});
        let ns = std::fs::File::open(format!("/proc/{init}/ns/pid")).unwrap();
        // Drop CAP_SYS_PTRACE from this thread; the watcher thread inherits that.
        let mut caps = rustix::thread::capabilities(None).unwrap();
        caps.effective -= rustix::thread::CapabilitySet::SYS_PTRACE;
        caps.permitted -= rustix::thread::CapabilitySet::SYS_PTRACE;
        rustix::thread::set_capabilities(None, caps).unwrap();
        let me = std::process::id();
        let not_helper = outer.pid();
        let stop = AtomicBool::new(false);
        let (refused, opened) = (AtomicU32::new(0), AtomicU32::new(0));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut helpers = std::collections::BTreeSet::new();
                let mut done = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                            continue;
                        };
                        if pid == not_helper || done.contains(&pid) {
                            continue;
                        }
                        let Some(ppid) = parent_of(pid) else { continue };
                        if ppid != me && !helpers.contains(&ppid) {
                            continue;
                        }
                        helpers.insert(pid);
                        match in_a_child_pidns(pid) {
                            Some(true) => {}
                            Some(false) => continue, // the first child: look at its worker
                            None => continue,        // gone already
                        }
                        match std::fs::metadata(format!("/proc/{pid}/exe")) {
                            Ok(_) => {
                                opened.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => continue, // gone already: try the next one
                        }
                        done.insert(pid);
                    }
                }
            });
            for _ in 0..2000 {
                Procfs::for_pidns(&ns).unwrap();
                if refused.load(Ordering::Relaxed) + opened.load(Ordering::Relaxed) >= 3 {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        let (refused, opened) = (refused.into_inner(), opened.into_inner());
        assert_eq!(opened, 0, "helpers whose exe opened ({refused} refused)");
        assert!(
            refused > 0,
            "the watcher never caught a helper in 2000 rounds"
        );
        outer.finish();
    });
}

// --- items 8 and 15: files opened by type; OCI parse errors keep their position ----------------

/// Runs `f` on a thread and fails the test if it has not returned within 5 s (a blocked open
/// of a FIFO would otherwise hang the test; the test process exits with the failure).
fn within_5s(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(5)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("still blocked after 5 s (an open of the FIFO?)"),
    }
}

/// `OciHardening::load` and `open_pid_namespace` on a FIFO: refused at once, the type named.
#[test]
fn fifos_and_devices_are_refused_by_type_unopened() {
    within_5s(fifos_and_devices_body);
}

fn fifos_and_devices_body() {
    let tree = procroot_testutil::Tree::new("file plain x\n");
    let fifo = tree.join("F");
    procroot_testutil::mkfifo(&fifo);
    let err = container::OciHardening::load(&fifo).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("not a FIFO"), "{err}");
    let err = container::OciHardening::load(std::path::Path::new("/dev/null")).unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");
    let err = procroot::procfs::open_pid_namespace(&fifo).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("FIFO"), "{err}");
    let err = procroot::procfs::open_pid_namespace(&tree.join("plain")).unwrap_err();
    assert!(
        err.to_string().contains("not a PID namespace file"),
        "{err}"
    );
    let err = procroot::procfs::open_pid_namespace(std::path::Path::new("/proc/self/ns/net"))
        .unwrap_err();
    assert!(
        err.to_string().contains("another kind of namespace"),
        "{err}"
    );
    procroot::procfs::open_pid_namespace(std::path::Path::new("/proc/self/ns/pid")).unwrap();
}

/// A wrong type, invalid UTF-8 and a duplicate key: the parser's message with line and column,
/// and `maskedPaths` named for the wrong type.
#[test]
fn oci_parse_errors_keep_the_parsers_position() {
    let tree = procroot_testutil::Tree::new("");
    let write = |name: &str, text: &[u8]| {
        let path = tree.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let wrong_type = write(
        "wrong.json",
        b"{\"ociVersion\": \"1.0.2\",\n \"linux\": {\n  \"maskedPaths\": \"/proc/kcore\"}}",
    );
    let err = container::OciHardening::load(&wrong_type).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{msg}");
    assert!(msg.contains("line 3 column"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");
    assert!(msg.contains("maskedPaths"), "{msg}");
    let utf8 = write(
        "utf8.json",
        b"{\"ociVersion\": \"1.0.2\",\n \"hostname\": \"\xff\xfe\"}",
    );
    let msg = container::OciHardening::load(&utf8)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2 column"), "{msg}");
    assert!(msg.contains("invalid unicode"), "{msg}");
    let dup = write(
        "dup.json",
        b"{\"ociVersion\": \"1.0.2\",\n \"ociVersion\": \"1.0.2\"}",
    );
    let msg = container::OciHardening::load(&dup).unwrap_err().to_string();
    assert!(msg.contains("duplicate field"), "{msg}");
    assert!(msg.contains("line 2 column"), "{msg}");
    assert!(!msg.contains("serde failed"), "{msg}");
}

// --- items 4 and 13: bind sources follow no symlink; destinations stay out of /proc ------------

use procroot::Root;
use procroot_runtime::container::{
    bind_from, bind_into, mount_procfs, BindOptions, ProcfsMountOptions,
};
use procroot_testutil::{in_private_mount_ns, mount_raw, Tree};

fn mount_lines() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// The attack of item 4, its race (300 rounds exchanging `sub` with a symlink to the host
/// directory), and the opt-in; run with and without `openat2` (refused with `ENOSYS` by a
/// seccomp filter, as on a kernel before 5.6, so the emulated walker resolves).
fn bind_source_symlinks(without_openat2: bool) {
    require_privilege(PRIV);
    in_private_mount_ns(move || {
        if without_openat2 {
            procroot_testutil::deny_syscalls(&[procroot_testutil::SYS_OPENAT2], libc::ENOSYS);
        }
        let host = Tree::new("dir V/sub\nfile V/sub/file REAL\nfile H/file HOST\n");
        let ctr = Tree::new("dir app\n");
        let root = Root::open(ctr.path()).unwrap();
        // The container replaced `sub` with a link to a host directory.
        std::fs::rename(host.join("V/sub"), host.join("V/real-sub")).unwrap();
        host.symlink(host.join("H"), "V/sub");
        let before = mount_lines();
        let err = bind_into(
            &root,
            &host.join("V/sub/file"),
            Path::new("/app/file"),
            false,
        )
        .unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::SafetyViolation, Errno::LOOP),
            "{err}"
        );
        assert_eq!(mount_lines(), before, "nothing mounted");
        // A relative link in a parent is refused the same way.
        std::fs::remove_file(host.join("V/sub")).unwrap();
        host.symlink("real-sub", "V/sub");
        let err =
            bind_into(&root, &host.join("V/sub/file"), Path::new("/app/f2"), false).unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");
        // Opting in follows it, inside the source root only.
        let volume = Root::open(host.join("V")).unwrap();
        let opts = BindOptions {
            readonly: true,
            follow_source_symlinks: true,
        };
        bind_from(
            &root,
            &volume,
            Path::new("sub/file"),
            Path::new("/app/f3"),
            &opts,
        )
        .unwrap();
        assert_eq!(std::fs::read(ctr.join("app/f3")).unwrap(), b"REAL");
        // Without opting in, through a source root too.
        let err = bind_from(
            &root,
            &volume,
            Path::new("sub/file"),
            Path::new("/app/f4"),
            &BindOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");

        // The race: `sub` is a directory and a link to H in turn.
        std::fs::remove_file(host.join("V/sub")).unwrap();
        std::fs::rename(host.join("V/real-sub"), host.join("V/sub")).unwrap();
        host.symlink(host.join("H"), "V/link");
        let mut racer = procroot_testutil::Racer::swapping(&[procroot_testutil::Swap::Exchange(
            host.join("V/sub"),
            host.join("V/link"),
        )]);
        let (mut bound, mut refused) = (0, 0);
        for _ in 0..300 {
            match bind_into(
                &root,
                &host.join("V/sub/file"),
                Path::new("/app/race"),
                false,
            ) {
                Ok(_) => {
                    bound += 1;
                    let seen = std::fs::read(ctr.join("app/race")).unwrap();
                    assert_eq!(seen, b"REAL", "the host directory was bound");
                    rustix::mount::unmount(
                        ctr.join("app/race"),
                        rustix::mount::UnmountFlags::DETACH,
                    )
                    .unwrap();
                }
                // ELOOP; or, for the emulated walker, ENOTDIR when `sub` was a link at the
                // `openat(O_DIRECTORY | O_NOFOLLOW)` and a directory again at the look after.
                Err(e) => {
                    assert!(matches!(e.errno(), Errno::LOOP | Errno::NOTDIR), "{e}");
                    refused += 1;
                }
            }
        }
        let swaps = racer.finish();
        assert!(swaps > 0, "the racer never swapped");
        eprintln!("300 rounds: {bound} bound (the real file), {refused} refused, {swaps} swaps");
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn bind_source_never_follows_a_symlink_with_openat2() {
    bind_source_symlinks(false);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn bind_source_never_follows_a_symlink_without_openat2() {
    bind_source_symlinks(true);
}

/// Item 13: procfs at `R/proc`. A host file onto `/proc/sys/kernel/core_pattern`, a host
/// directory onto `/proc`, a procfs onto `/proc/sys`, a sysfs onto `/proc`, and a path that a
/// symlink inside the root leads into `/proc`: all refused, nothing mounted, nothing created
/// under `/proc`. `/proc/meminfo` (lxcfs) is accepted, and so is a procfs on `/proc`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mounts_on_and_inside_proc_are_refused() {
    require_privilege(PRIV);
    let host = Tree::new("file meminfo FAKE\ndir hostdir\nfile hostdir/x X\n");
    in_private_mount_ns(|| {
        let ctr = Tree::new("dir proc\ndir etc\ndir plainproc\n");
        mount_raw(Some("proc"), ctr.join("proc"), Some("proc"), 0, None).unwrap();
        ctr.symlink("/proc/sys/kernel", "etc/k");
        let root = Root::open(ctr.path()).unwrap();
        let before = mount_lines();
        let file = host.join("meminfo");
        let refused = |r: procroot::Result<procroot_runtime::container::Report>| {
            let err = r.unwrap_err();
            assert_eq!(
                (err.kind(), err.errno()),
                (ErrorKind::SafetyViolation, Errno::PERM),
                "{err}"
            );
        };
        refused(bind_into(
            &root,
            &file,
            Path::new("/proc/sys/kernel/core_pattern"),
            false,
        ));
        refused(bind_into(
            &root,
            &file,
            Path::new("/etc/k/core_pattern"),
            false,
        ));
        refused(bind_into(
            &root,
            &host.join("hostdir"),
            Path::new("/proc"),
            false,
        ));
        refused(bind_into(
            &root,
            &host.join("hostdir"),
            Path::new("/proc/x/y"),
            false,
        ));
        refused(mount_procfs(
            &root,
            Path::new("/proc/sys"),
            &ProcfsMountOptions::default(),
        ));
        // (A symlink on the way to a procfs destination is refused on its own, ELOOP.)
        let err =
            mount_procfs(&root, Path::new("/etc/k"), &ProcfsMountOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
        refused(procroot_runtime::container::mount_sysfs(
            &root,
            Path::new("/proc"),
        ));
        assert_eq!(mount_lines(), before, "nothing mounted");
        // Accepted: lxcfs's files, and a procfs on /proc.
        bind_into(&root, &file, Path::new("/proc/meminfo"), true).unwrap();
        assert_eq!(std::fs::read(ctr.join("proc/meminfo")).unwrap(), b"FAKE");
        mount_procfs(&root, Path::new("/proc"), &ProcfsMountOptions::default()).unwrap();
        // A bind of a procfs directory onto /proc is a procfs too.
        bind_into(&root, Path::new("/proc"), Path::new("/proc"), true).unwrap();
        assert!(ctr.join("proc/self/stat").exists());
        // Below a /proc that is not (yet) a procfs: still /proc.
        let plain = Tree::new("dir proc\n");
        let plain_root = Root::open(plain.path()).unwrap();
        refused(bind_into(
            &plain_root,
            &file,
            Path::new("/proc/sys/kernel/core_pattern"),
            false,
        ));
        assert!(
            !plain.join("proc/sys").exists(),
            "nothing created below /proc"
        );
    });
}

// --- item 11: a procfs of another PID namespace without the new mount API -----------------------

/// With `fsopen` (and the `pidns=` option) unavailable, `mount_procfs` of a child PID namespace
/// is refused up front with `NotSupported` naming what is missing (never `EINVAL`), and nothing
/// is mounted; the caller's own PID namespace still falls back to `mount(2)`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_procfs_pidns_without_the_new_mount_api_is_not_supported() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        procroot::testing::disable(procroot::testing::Feature::Fsopen);
        procroot::testing::disable(procroot::testing::Feature::ProcPidnsOption);
        let (outer, init) = spawn_ns_init(0, || {});
        let ns = std::fs::File::open(format!("/proc/{init}/ns/pid")).unwrap();
        let ctr = Tree::new("dir p1\ndir p2\n");
        let root = Root::open(ctr.path()).unwrap();
        let before = mount_lines();
        let opts = ProcfsMountOptions {
            pidns: Some(std::os::fd::AsFd::as_fd(&ns)),
            ..ProcfsMountOptions::default()
        };
        let err = mount_procfs(&root, Path::new("/p2"), &opts).unwrap_err();
        assert_eq!(
            (err.kind(), err.errno()),
            (ErrorKind::NotSupported, Errno::NOSYS),
            "{err}"
        );
        assert!(err.to_string().contains("fsopen(2)"), "{err}");
        assert_eq!(mount_lines(), before, "nothing mounted");
        let report = mount_procfs(&root, Path::new("/p1"), &ProcfsMountOptions::default()).unwrap();
        assert_eq!(report.fallback.len(), 1, "{report:?}");
        outer.finish();
    });
}

// --- item 9: Docker's per-CPU thermal_throttle masks ----------------------------------------------

/// `harden --defaults` on a rootfs whose `/sys/devices/system/cpu` has `cpu0`, `cpu1` and
/// `cpu12` with `thermal_throttle/`, and `cpufreq/`: every `cpuN/thermal_throttle` is masked
/// (an empty read-only tmpfs) and reported; `cpufreq` is untouched.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn defaults_mask_every_cpus_thermal_throttle() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let cpus = ["cpu0", "cpu1", "cpu12"];
        let mut spec = String::from("file sys/devices/system/cpu/cpufreq/policy0/x F\n");
        for cpu in cpus {
            spec.push_str(&format!(
                "file sys/devices/system/cpu/{cpu}/thermal_throttle/core_throttle_count 7\n"
            ));
        }
        let ctr = Tree::new(&spec);
        let root = Root::open(ctr.path()).unwrap();
        let report = container::harden(&root, &container::HardenOptions::defaults()).unwrap();
        assert!(report.is_ok(), "{:?}", report.refused);
        for cpu in cpus {
            let path = format!("/sys/devices/system/cpu/{cpu}/thermal_throttle");
            assert!(
                report.masked.contains(&std::path::PathBuf::from(&path)),
                "{path} not reported masked: {:?}",
                report.masked
            );
            let listed = std::fs::read_dir(ctr.join(&path[1..])).unwrap().count();
            assert_eq!(listed, 0, "{path} still lists its files");
        }
        assert_eq!(
            std::fs::read(ctr.join("sys/devices/system/cpu/cpufreq/policy0/x")).unwrap(),
            b"F"
        );
        assert!(
            !report
                .masked
                .iter()
                .chain(report.skipped.iter().map(|(p, _)| p))
                .any(|p| p.to_string_lossy().contains("cpufreq")),
            "{report:?}"
        );
    });
}
