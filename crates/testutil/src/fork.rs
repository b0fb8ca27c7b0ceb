//! Forked children: the one place the kit calls `fork(2)`. [`in_child`](crate::in_child),
//! the [`Racer`](crate::racer::Racer) and the [`Target`](crate::target::Target) are built on
//! [`ForkedChild`].

use std::io::{Read, Write};

/// A forked child process running a closure. Killed (`SIGKILL`) and reaped on drop unless
/// [`ForkedChild::wait`]ed for, so it never outlives a failing test.
#[derive(Debug)]
pub struct ForkedChild {
    pid: libc::pid_t,
    /// The read end of a pipe on which the child writes its panic message, if it panics.
    report: Option<std::io::PipeReader>,
}

impl ForkedChild {
    /// Forks a child that runs `f` and exits with the code `f` returns, or with 101 and its
    /// panic message (reported by [`ForkedChild::wait`]) if `f` panics. The child dies with the
    /// test process (`PR_SET_PDEATHSIG`).
    ///
    /// # Fork safety
    ///
    /// The child is a copy of the calling process with only the calling thread. In a
    /// multi-threaded process (the test harness), `f` must keep to async-signal-safe calls (raw
    /// syscalls, atomics; no allocation, no locks). In a single-threaded process (a child from
    /// [`in_child`](crate::in_child) or [`in_private_mount_ns`](crate::in_private_mount_ns))
    /// anything goes (glibc's allocator is fork-safe).
    pub fn spawn(f: impl FnOnce() -> i32) -> ForkedChild {
        let (reader, writer) = std::io::pipe().expect("pipe");
        // SAFETY: getpid(2) cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: fork(2) has no memory-safety preconditions; the child only runs `f` and
        // leaves with _exit(2), never returning into the test harness (see # Fork safety).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            drop(reader);
            // If the test process dies without killing us, die too; if it died before the
            // prctl, leave now. A child forked into a new PID namespace (as its init) sees its
            // parent as 0: the parent is outside the namespace, not gone.
            // SAFETY: prctl(2) PR_SET_PDEATHSIG takes plain integers; no memory is involved.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            // SAFETY: getppid(2) takes nothing and cannot fail.
            let ppid = unsafe { libc::getppid() };
            if ppid != parent && ppid != 0 {
                // SAFETY: _exit(2) ends this forked child without running the harness's
                // destructors or atexit handlers, which belong to the parent.
                unsafe { libc::_exit(1) };
            }
            let mut writer = writer;
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(code) => code,
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "child panicked".to_string());
                    let _ = writer.write_all(msg.as_bytes());
                    101
                }
            };
            drop(writer);
            // SAFETY: _exit(2) skips atexit handlers and buffered-IO flushes that belong to the
            // parent's copy of the test harness.
            unsafe { libc::_exit(code) };
        }
        drop(writer);
        ForkedChild {
            pid,
            report: Some(reader),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the child and returns its exit code. Panics, with the child's panic message,
    /// if it panicked or was killed by a signal.
    #[track_caller]
    pub fn wait(mut self) -> i32 {
        let mut msg = String::new();
        if let Some(mut report) = self.report.take() {
            let _ = report.read_to_string(&mut msg);
        }
        let status = self.reap();
        if libc::WIFSIGNALED(status) {
            panic!("child killed by signal {}: {msg}", libc::WTERMSIG(status));
        }
        let code = libc::WEXITSTATUS(status);
        assert!(msg.is_empty(), "child failed (exit {code}): {msg}");
        code
    }

    /// Kills the child (if it still runs) and reaps it; returns its wait status.
    pub(crate) fn kill(mut self) -> i32 {
        assert!(self.pid > 0, "the child was reaped already");
        // SAFETY: kill(2) on our own child, not yet reaped (a positive pid: never a group).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.reap()
    }

    /// Waits for the child to exit, or kills it after `limit`: for a child told to stop that
    /// might not. Returns its wait status.
    pub(crate) fn wait_or_kill(mut self, limit: std::time::Duration) -> i32 {
        let start = std::time::Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: our own child; `status` is a valid out-pointer.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if rc == self.pid {
                self.pid = 0;
                return status;
            }
            if start.elapsed() > limit {
                return self.kill();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Waits for the child (killed or not) and returns its wait status; a no-op returning 0 if
    /// it was reaped already.
    pub(crate) fn reap(&mut self) -> i32 {
        if self.pid == 0 {
            return 0;
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(rc, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        self.pid = 0;
        status
    }
}

impl Drop for ForkedChild {
    fn drop(&mut self) {
        if self.pid > 0 {
            // SAFETY: kill(2) on our own child, not yet reaped, so its PID is not reused.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            // SAFETY: waitpid(2) on that child with a NULL status pointer, which the kernel
            // accepts as "no status wanted".
            unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        }
    }
}
