//! A target process: a forked child that sets itself up (its own mount namespace, mounts, a
//! `chroot`, an fd at some number), says it is ready, and sits there until the test is done with
//! it, so that the test can reach it through `/proc/<pid>` (the wormhole tests, procfs attacks,
//! and later the container and exec layers).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use crate::fork::ForkedChild;

/// A target process (module docs). Told to exit, killed and reaped on drop.
#[derive(Debug)]
pub struct Target {
    child: ForkedChild,
    /// Dropping this, the write end of a pipe the target reads, tells it to exit.
    exit: Option<std::io::PipeWriter>,
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
        let (mut ready_r, mut ready_w) = std::io::pipe().expect("pipe");
        let (mut exit_r, exit_w) = std::io::pipe().expect("pipe");
        let (ready_r_fd, exit_w_fd) = (ready_r.as_raw_fd(), exit_w.as_raw_fd());
        // The closure owns the child's ends (the parent's copies close when it is dropped
        // unused); the parent's ends are closed in the child by number.
        let child = ForkedChild::spawn(move || {
            // SAFETY: closing the child's copies of the parent's ends, which nothing here uses.
            unsafe {
                libc::close(ready_r_fd);
                libc::close(exit_w_fd);
            }
            setup();
            let _ = ready_w.write_all(b"ok");
            drop(ready_w);
            // EOF when the test drops its end.
            let _ = exit_r.read(&mut [0u8; 1]);
            0
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
            child,
            exit: Some(exit_w),
        }
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

    /// The target's process id.
    pub fn pid(&self) -> u32 {
        self.child.pid() as u32
    }

    /// `/proc/<pid>` of the target.
    pub fn proc_dir(&self) -> String {
        format!("/proc/{}", self.pid())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        drop(self.exit.take());
        // The child is killed and reaped by its own drop.
    }
}
