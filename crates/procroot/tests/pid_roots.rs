//! The cache of `/proc/<pid>/root` roots behind `Root::for_pid` (issue 26): a kept root is used
//! only while its process is the same, alive, and has not changed its root. Between two calls
//! the target exits and a new process takes its PID (`ns_last_pid`), the target `chroot`s, or
//! it enters another mount namespace: the second call answers for the new state or fails, never
//! from the old root. Many PIDs keep the cache bounded and the fds too; the off switch works.
//!
//! Targets are forked children driven over a pipe, each test in its own forked process so that
//! the process-wide cache starts empty.

use std::io::{Read, Write};
use std::path::Path;

use procroot::testing::pid_root_cache_len;
use procroot::Root;
use procroot_testutil::{in_child, in_private_mount_ns, require_privilege, ForkedChild, Tree};
use rustix::io::Errno;

/// A forked target that runs `steps` in order, one per command byte from the test (the first
/// at once), acknowledging each with a byte, then waits until the test drops it.
struct Target {
    child: ForkedChild,
    cmd: std::io::PipeWriter,
    ack: std::io::PipeReader,
}

impl Target {
    fn spawn(steps: Vec<Box<dyn FnOnce()>>) -> Target {
        let (mut cmd_r, cmd) = std::io::pipe().unwrap();
        let (ack, mut ack_w) = std::io::pipe().unwrap();
        let child = ForkedChild::spawn(move || {
            for (i, step) in steps.into_iter().enumerate() {
                if i > 0 {
                    let mut b = [0u8];
                    if cmd_r.read_exact(&mut b).is_err() {
                        return 0;
                    }
                }
                step();
                ack_w.write_all(b"k").unwrap();
            }
            let mut rest = Vec::new();
            let _ = cmd_r.read_to_end(&mut rest);
            0
        });
        let mut t = Target { child, cmd, ack };
        t.wait_ack();
        t
    }

    fn wait_ack(&mut self) {
        let mut b = [0u8];
        self.ack
            .read_exact(&mut b)
            .expect("the target acknowledged");
    }

    /// Runs the target's next step and waits for it.
    fn next(&mut self) {
        self.cmd.write_all(b"n").unwrap();
        self.wait_ack();
    }

    fn pid(&self) -> u32 {
        self.child.pid() as u32
    }
}

/// `chroot` into the directory `fd` (opened before an earlier `chroot` hid its path).
fn chroot_into_fd(fd: &std::os::fd::OwnedFd) {
    rustix::process::fchdir(fd).expect("fchdir");
    rustix::process::chroot(".").expect("chroot");
    rustix::process::chdir("/").expect("chdir");
}

fn chroot_into(dir: &Path) {
    rustix::process::chroot(dir).expect("chroot");
    rustix::process::chdir("/").expect("chdir");
}

/// Whether `path` exists in the root of `pid`, as `Root::for_pid` finds it now.
fn sees(pid: u32, path: &str) -> Result<bool, Errno> {
    let root = Root::for_pid(pid).map_err(|e| e.errno())?;
    match root.resolve(path) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == Errno::NOENT => Ok(false),
        Err(e) => Err(e.errno()),
    }
}

fn jails() -> Tree {
    Tree::new(
        "
        file one/only1 1
        file two/only2 2
        ",
    )
}

/// The target `chroot`s from `one` to `two` between two calls.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (chroot)")]
fn chroot_between_calls() {
    require_privilege("chroot");
    let tree = jails();
    in_child(|| {
        let one = tree.join("one");
        let two = procroot_testutil::open_dir(tree.join("two"));
        let mut target = Target::spawn(vec![
            Box::new(move || chroot_into(&one)),
            Box::new(move || chroot_into_fd(&two)),
        ]);
        let pid = target.pid();
        assert_eq!(sees(pid, "only1"), Ok(true));
        assert_eq!(sees(pid, "only1"), Ok(true), "from the cache");
        assert_eq!(pid_root_cache_len(), 1);
        target.next();
        assert_eq!(sees(pid, "only2"), Ok(true), "the new root");
        assert_eq!(sees(pid, "only1"), Ok(false), "never the old root");
    });
}

/// The target enters a new mount namespace (`unshare(CLONE_NEWNS)`, which moves its root to
/// the new namespace's copy of the mount) and mounts a tmpfs with `nsonly` there: the second
/// call must see it.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn mount_namespace_change_between_calls() {
    require_privilege("mount namespaces");
    let tree = Tree::new("dir one/sub");
    in_private_mount_ns(|| {
        let one = tree.join("one");
        let sub = one.join("sub");
        let mut target = Target::spawn(vec![
            Box::new(move || chroot_into(&one)),
            Box::new(move || {
                // SAFETY: unshare in the forked target.
                assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0, "unshare");
                // The test's namespace is private, so the copy's mounts are too: nothing
                // mounted here propagates anywhere.
                procroot_testutil::mount_raw(Some("tmpfs"), "/sub", Some("tmpfs"), 0, None)
                    .expect("tmpfs");
                std::fs::write("/sub/nsonly", b"x").unwrap();
            }),
        ]);
        let pid = target.pid();
        assert_eq!(sees(pid, "sub/nsonly"), Ok(false));
        assert_eq!(pid_root_cache_len(), 1);
        target.next();
        assert!(
            !sub.join("nsonly").exists(),
            "the tmpfs is only in the target's namespace"
        );
        assert_eq!(
            sees(pid, "sub/nsonly"),
            Ok(true),
            "the new namespace's root"
        );
    });
}

/// The target exits and a new process takes its PID (`ns_last_pid`, in a new PID namespace
/// where this test is PID 1): the second call must answer for the new process.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root (PID namespaces, ns_last_pid)"
)]
fn pid_reused_between_calls() {
    require_privilege("PID namespaces and ns_last_pid");
    let tree = jails();
    in_child(|| {
        // SAFETY: unshare(CLONE_NEWPID) affects only children forked after it.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0, "unshare");
        in_child(|| {
            let one = tree.join("one");
            let first = Target::spawn(vec![Box::new(move || chroot_into(&one))]);
            let pid = first.pid();
            assert_eq!(sees(pid, "only1"), Ok(true));
            assert_eq!(pid_root_cache_len(), 1);
            drop(first); // killed and reaped
            std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1))
                .expect("write ns_last_pid");
            let two = tree.join("two");
            let second = Target::spawn(vec![Box::new(move || chroot_into(&two))]);
            assert_eq!(second.pid(), pid, "the PID was not reused");
            assert_eq!(
                sees(pid, "only1"),
                Ok(false),
                "never the dead process's root"
            );
            assert_eq!(sees(pid, "only2"), Ok(true), "the new process's root");
            drop(second);
            // Gone, and the PID free: an error, not a kept root.
            assert_eq!(sees(pid, "only2"), Err(Errno::SRCH));
        });
    });
}

/// The number of fds this process holds.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Many distinct PIDs: at most 8 roots are kept, and fds do not grow with the number of PIDs.
/// The off switch empties the cache and keeps it empty.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn bounded_and_switchable() {
    // Entries are kept only with a detached procfs instance (CAP_SYS_ADMIN): unprivileged, the
    // cache stays empty by design.
    procroot_testutil::require_privilege("a private procfs instance for the PID-root cache");
    let tree = jails();
    in_child(|| {
        let before = fd_count();
        let targets: Vec<Target> = (0..24)
            .map(|_| Target::spawn(vec![Box::new(|| {})]))
            .collect();
        let with_targets = fd_count(); // two pipe ends per target
        for t in &targets {
            let root = Root::for_pid(t.pid()).expect("for_pid");
            root.resolve(tree.path()).expect("resolve");
            assert!(pid_root_cache_len() <= 8, "{}", pid_root_cache_len());
        }
        assert_eq!(pid_root_cache_len(), 8);
        let after = fd_count();
        assert!(
            after <= with_targets + 2 * 8 + 4,
            "fds grew from {with_targets} to {after} for {} PIDs",
            targets.len()
        );
        Root::set_pid_root_cache(false);
        assert_eq!(pid_root_cache_len(), 0);
        for t in &targets {
            Root::for_pid(t.pid()).expect("for_pid");
        }
        assert_eq!(pid_root_cache_len(), 0, "off means off");
        assert!(fd_count() <= with_targets + 4, "the kept fds were closed");
        drop(targets);
        assert!(fd_count() <= before + 4);
    });
}
