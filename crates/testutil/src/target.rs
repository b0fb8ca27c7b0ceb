//! A target process: a forked child that sets itself up (its own mount namespace, mounts, a
//! `chroot`, an fd at some number), says it is ready, and sits there until the test is done with
//! it, so that the test can reach it through `/proc/<pid>` (the wormhole tests, procfs attacks,
//! and later the container and exec layers).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use crate::fork::ForkedChild;

/// How a [`Target`] was started, and what to reap.
#[derive(Debug)]
enum Started {
    /// Forked from the test: [`Target::spawn`], [`Target::spawn_pidns_init`].
    Forked(ForkedChild),
    /// By `unshare(1)`, whose first child is the target: [`Target::unshare`].
    Unshare(std::process::Child),
}

/// A target process (module docs). Told to exit, killed and reaped on drop.
#[derive(Debug)]
pub struct Target {
    child: Started,
    /// Dropping this, the write end of a pipe the target reads, tells it to exit.
    exit: Option<std::io::PipeWriter>,
    /// For [`Target::spawn_pidns_init`]: the target, PID 1 of its namespace, is `child`'s child,
    /// with this PID in ours.
    init: Option<libc::pid_t>,
}

impl Target {
    /// Forks a target that runs `setup`, then waits until dropped. Panics (with the target's
    /// message) if `setup` panics.
    ///
    /// `setup` runs in the forked child and may allocate only if the caller is single-threaded
    /// (a child from [`in_child`](crate::in_child) or
    /// [`in_private_mount_ns`](crate::in_private_mount_ns)); see [`ForkedChild::spawn`].
    #[track_caller]
    pub fn spawn(setup: impl FnOnce()) -> Target {
        Target::spawn_with(|exit_r, ready_w| {
            setup();
            target_body(exit_r, ready_w)
        })
    }

    /// Forks a child that runs `body` with the target's ends of the two pipes (`exit`, `ready`)
    /// and waits until the target reports ready (`ok` on `ready`).
    #[track_caller]
    fn spawn_with(body: impl FnOnce(std::io::PipeReader, std::io::PipeWriter) -> i32) -> Target {
        let (mut ready_r, ready_w) = std::io::pipe().expect("pipe");
        let (exit_r, exit_w) = std::io::pipe().expect("pipe");
        let (ready_r_fd, exit_w_fd) = (ready_r.as_raw_fd(), exit_w.as_raw_fd());
        // The closure owns the child's ends (the parent's copies close when it is dropped
        // unused); the parent's ends are closed in the child by number.
        let child = ForkedChild::spawn(move || {
            // SAFETY: closing the child's copy of the parent's read end, which nothing in the
            // child owns or uses (the parent's `OwnedFd` is in the other process).
            unsafe { libc::close(ready_r_fd) };
            // SAFETY: likewise for the parent's write end of the exit pipe.
            unsafe { libc::close(exit_w_fd) };
            body(exit_r, ready_w)
        });
        let mut report = String::new();
        let _ = ready_r.read_to_string(&mut report);
        if report != "ok" {
            // The setup failed and the target is gone: wait() panics with its message.
            drop(exit_w);
            let code = child.wait();
            panic!("the target exited during its setup (exit {code})");
        }
        Target {
            child: Started::Forked(child),
            exit: Some(exit_w),
            init: None,
        }
    }

    /// Like [`Target::spawn`], but the target is PID 1 (the init) of a new PID namespace: a
    /// forked intermediate unshares `CLONE_NEWPID` and forks the target, which runs `setup`
    /// there. [`Target::pid`] is the init's PID in the caller's namespace. On drop the init
    /// exits; if the intermediate is killed first, the init dies with it (`PR_SET_PDEATHSIG`),
    /// and the namespace with it. Fork safety as for [`Target::spawn`].
    #[track_caller]
    pub fn spawn_pidns_init(setup: impl FnOnce()) -> Target {
        let (mut pid_r, pid_w) = std::io::pipe().expect("pipe");
        let pid_r_fd = pid_r.as_raw_fd();
        let mut target = Target::spawn_with(move |exit_r, ready_w| {
            // SAFETY: closing the child's copy of the parent's end, which nothing here uses.
            unsafe { libc::close(pid_r_fd) };
            // SAFETY: unshare(2) only affects this process's future children.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWPID) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWPID): {}",
                std::io::Error::last_os_error()
            );
            let init = ForkedChild::spawn(move || {
                setup();
                target_body(exit_r, ready_w)
            });
            let mut pid_w = pid_w;
            pid_w
                .write_all(&init.pid().to_ne_bytes())
                .expect("report the init's PID");
            drop(pid_w);
            // The init's panic, if any, becomes ours (and the test's, through the report pipe).
            init.wait()
        });
        let mut buf = [0u8; 4];
        pid_r
            .read_exact(&mut buf)
            .expect("the intermediate reports the init's PID");
        target.init = Some(libc::pid_t::from_ne_bytes(buf));
        target
    }

    /// Like [`Target::spawn`], in a new private mount namespace of the target's own
    /// (`unshare(CLONE_NEWNS)`, then `/` recursively `MS_PRIVATE`): nothing it mounts is seen by
    /// the test.
    #[track_caller]
    pub fn spawn_in_mount_ns(setup: impl FnOnce()) -> Target {
        Target::spawn(|| {
            crate::enter_private_mount_ns();
            setup()
        })
    }

    /// A target started by util-linux `unshare --fork --kill-child ARGS sh -c SCRIPT` (`args`:
    /// its namespaces and credentials), for a target that must be a program of its own (its
    /// environment, its capabilities set by a wrapper such as `setpriv`). `script` must create
    /// `ready` once the target is set up, and end in the process that stays (`exec sleep 120`):
    /// the target is `unshare`'s child. Waits up to 20 s for `ready`. On drop the target and
    /// `unshare` are killed and reaped.
    #[track_caller]
    pub fn unshare(args: &[&str], script: &str, ready: &std::path::Path) -> Target {
        let mut unshare = std::process::Command::new("unshare")
            .args(["--fork", "--kill-child"])
            .args(args)
            .args(["sh", "-c", script])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ready.exists() {
            if let Ok(Some(status)) = unshare.try_wait() {
                panic!("the target exited during its setup ({status}): {script}");
            }
            if std::time::Instant::now() > deadline {
                let _ = unshare.kill();
                let _ = unshare.wait();
                panic!("the target never became ready: {script}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .expect("children of unshare");
        let pid = children
            .split_whitespace()
            .next()
            .expect("unshare has a child")
            .parse()
            .expect("a pid");
        Target {
            child: Started::Unshare(unshare),
            exit: None,
            init: Some(pid),
        }
    }

    /// The target's process id.
    pub fn pid(&self) -> u32 {
        match (&self.child, self.init) {
            (_, Some(pid)) => pid as u32,
            (Started::Forked(child), None) => child.pid() as u32,
            (Started::Unshare(_), None) => unreachable!("an unshare target has its pid"),
        }
    }

    /// Sends `SIGKILL` to the target without reaping it: a plain target stays a zombie, its PID
    /// taken, until [`Target::reap`] (or drop); a PID namespace's init is reaped at once by
    /// its intermediate, which then exits.
    pub fn kill(&self) {
        // SAFETY: kill(2) of a process we made (a positive pid: never a group).
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGKILL) };
    }

    /// Reaps the process we forked (the target, or a PID namespace init's intermediate) once it
    /// has exited, killed or not: after [`Target::kill`], the PID is free again.
    pub fn reap(&mut self) {
        match &mut self.child {
            Started::Forked(child) => {
                child.reap();
            }
            Started::Unshare(unshare) => {
                let _ = unshare.wait();
            }
        }
    }

    /// [`Target::kill`], then [`Target::reap`].
    pub fn kill_and_reap(mut self) {
        self.kill();
        self.reap();
    }

    /// `/proc/<pid>` of the target.
    pub fn proc_dir(&self) -> String {
        format!("/proc/{}", self.pid())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.exit.take());
        // A forked child is killed and reaped by its own drop; unshare's is killed here (it is
        // reaped by unshare, which we kill and reap).
        let pid = self.pid();
        if let Started::Unshare(unshare) = &mut self.child {
            if let Ok(None) = unshare.try_wait() {
                // SAFETY: kill(2) of the target we started (a positive pid: never a group),
                // not yet reaped: unshare, its parent, still runs.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                let _ = unshare.kill();
                let _ = unshare.wait();
            }
        }
    }
}

/// The target after its setup: says it is ready, then waits for EOF on `exit` (the test dropped
/// its end), and exits 0.
fn target_body(mut exit: std::io::PipeReader, mut ready: std::io::PipeWriter) -> i32 {
    let _ = ready.write_all(b"ok");
    drop(ready);
    let _ = exit.read(&mut [0u8; 1]);
    0
}
