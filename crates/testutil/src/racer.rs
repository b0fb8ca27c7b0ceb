//! The racer kit: an attacker that changes the file system over and over while a test works,
//! and stops however the test ends.
//!
//! - [`Racer`]: a forked attacker process running a step in a loop (or a list of [`Swap`]s
//!   round-robin), counting the steps that took effect in a page shared with the test. Stopped
//!   by [`Racer::finish`], paused by [`Racer::paused`], killed and reaped on drop.
//! - [`with_racing_thread`]: the same on a thread, for attacks that need the test's memory;
//!   a [`StopOnDrop`] guard stops it on every way out, a failed assertion included.
//! - [`exchange`]: `renameat2(RENAME_EXCHANGE)` as the forked attacker makes it.

use std::cell::Cell;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fork::ForkedChild;

/// How long [`Racer::finish`] and [`Racer::paused`] wait for the attacker before they fail
/// the test (or kill it): far longer than one step takes.
const ANSWER_LIMIT: Duration = Duration::from_secs(20);

/// Words of the shared page.
const COUNT: usize = 0;
const STOP: usize = 1;
const PAUSE: usize = 2;
const PAUSED: usize = 3;
/// Per-action counters of [`Racer::swapping`] start here.
const ACTION_COUNTS: usize = 8;
const SHARED_LEN: usize = 4096;
const WORDS: usize = SHARED_LEN / 8;

/// One thing a [`Racer::swapping`] attacker does, round-robin with the others. Each is made
/// with raw syscalls on paths prepared before the fork, so it is async-signal-safe.
#[derive(Clone, Debug)]
pub enum Swap {
    /// `renameat2(a, b, RENAME_EXCHANGE)`: the two entries trade places (the kernel's openat2
    /// rename-attack selftest). Counts when the exchange succeeded.
    Exchange(PathBuf, PathBuf),
    /// `rmdir(dir)`, then `symlink(target, dir)`: a directory, once it is empty (just made, not
    /// yet entered), becomes a symlink to `target`. Counts when both succeeded.
    ReplaceWithSymlink {
        /// The directory replaced.
        dir: PathBuf,
        /// The symlink's target, verbatim.
        target: PathBuf,
    },
    /// Bind-mounts `source` on `target` on one turn and detaches it
    /// (`MNT_DETACH | UMOUNT_NOFOLLOW`) on the next. Counts the mounts made. A mount left at the
    /// stop is detached. Run the test in a private mount namespace.
    BindMount {
        /// What is mounted.
        source: PathBuf,
        /// Where.
        target: PathBuf,
    },
}

/// A forked attacker process (module docs).
#[derive(Debug)]
pub struct Racer {
    child: Option<ForkedChild>,
    /// A `MAP_SHARED | MAP_ANONYMOUS` page of `AtomicU64` words shared with the child.
    shared: *mut libc::c_void,
    finished: Option<u64>,
}

fn map_shared() -> *mut libc::c_void {
    // SAFETY: an anonymous shared mapping; no existing memory is touched.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SHARED_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(
        shared,
        libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    shared
}

/// Word `i` of a shared page from [`map_shared`].
fn word<'a>(shared: *mut libc::c_void, i: usize) -> &'a AtomicU64 {
    assert!(i < WORDS);
    // SAFETY: `i < WORDS`, so word `i` is inside the one mapped page: the offset stays in
    // the same allocation.
    let p = unsafe { (shared as *const AtomicU64).add(i) };
    // SAFETY: the page is mapped for the racer's lifetime (unmapped in its drop, after the
    // child is reaped), zero-initialised, and aligned for AtomicU64.
    unsafe { &*p }
}

impl Racer {
    /// Forks an attacker that calls `step` until stopped; every call that returns `true`
    /// counts (see [`Racer::count`]). The attacker dies with the test process.
    ///
    /// `step` runs in the forked child: see [`ForkedChild::spawn`]'s fork-safety rules (from
    /// the multi-threaded test harness, raw syscalls only; from a single-threaded forked test
    /// child, anything).
    pub fn spawn(mut step: impl FnMut() -> bool) -> Racer {
        Racer::spawn_loop(|_| step(), || {})
    }

    /// Forks an attacker that does `swaps` round-robin until stopped. [`Racer::count`] counts
    /// every swap that took effect, [`Racer::count_of`] those of one entry of `swaps`. Safe to
    /// start from the multi-threaded test harness.
    pub fn swapping(swaps: &[Swap]) -> Racer {
        assert!(swaps.len() <= WORDS - ACTION_COUNTS, "too many swaps");
        let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in a path");
        // (kind, a, b): 0 exchange a b, 1 rmdir a + symlink b a, 2 mount b on a.
        let prepared: Vec<(u8, CString, CString)> = swaps
            .iter()
            .map(|s| match s {
                Swap::Exchange(a, b) => (0, cstr(a), cstr(b)),
                Swap::ReplaceWithSymlink { dir, target } => (1, cstr(dir), cstr(target)),
                Swap::BindMount { source, target } => (2, cstr(target), cstr(source)),
            })
            .collect();
        // Which bind mounts are in place (the child's copy).
        let mounted: Vec<Cell<bool>> = prepared.iter().map(|_| Cell::new(false)).collect();
        let (prepared, mounted) = (&prepared, &mounted);
        let detach = |target: &CString| {
            // SAFETY: a NUL-terminated path prepared before the fork.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
        };
        let step = move |shared: *mut libc::c_void| {
            let mut any = false;
            for (i, (kind, a, b)) in prepared.iter().enumerate() {
                let done = match kind {
                    // SAFETY: raw syscalls with NUL-terminated strings prepared before the fork.
                    0 => unsafe {
                        libc::syscall(
                            libc::SYS_renameat2,
                            libc::AT_FDCWD,
                            a.as_ptr(),
                            libc::AT_FDCWD,
                            b.as_ptr(),
                            libc::RENAME_EXCHANGE,
                        ) == 0
                    },
                    // rmdir only succeeds on a directory that is still empty: one just made and
                    // not yet descended into.
                    1 => {
                        // SAFETY: as above: `a` is a NUL-terminated C string that outlives the
                        // call.
                        let removed = unsafe { libc::rmdir(a.as_ptr()) } == 0;
                        // SAFETY: as above, `a` and `b` are NUL-terminated and outlive the call.
                        removed && unsafe { libc::symlink(b.as_ptr(), a.as_ptr()) } == 0
                    }
                    _ if mounted[i].get() => {
                        detach(a);
                        mounted[i].set(false);
                        false
                    }
                    _ => {
                        // SAFETY: as above; null fstype and data are allowed for MS_BIND.
                        let rc = unsafe {
                            libc::mount(
                                b.as_ptr(),
                                a.as_ptr(),
                                std::ptr::null(),
                                libc::MS_BIND,
                                std::ptr::null(),
                            )
                        };
                        mounted[i].set(rc == 0);
                        rc == 0
                    }
                };
                if done {
                    word(shared, ACTION_COUNTS + i).fetch_add(1, Ordering::Relaxed);
                    any = true;
                }
            }
            any
        };
        Racer::spawn_loop(step, || {
            for ((_, target, _), mounted) in prepared.iter().zip(mounted) {
                if mounted.get() {
                    detach(target);
                }
            }
        })
    }

    /// The loop in the child: the stop flag, the pause protocol, `step`, the count. `at_stop`
    /// runs once, after the last step.
    fn spawn_loop(
        mut step: impl FnMut(*mut libc::c_void) -> bool,
        at_stop: impl FnOnce(),
    ) -> Racer {
        let shared = map_shared();
        let child = ForkedChild::spawn(|| {
            let w = |i| word(shared, i);
            while w(STOP).load(Ordering::SeqCst) == 0 {
                if w(PAUSE).load(Ordering::SeqCst) == 1 {
                    w(PAUSED).store(1, Ordering::SeqCst);
                    while w(PAUSE).load(Ordering::SeqCst) == 1
                        && w(STOP).load(Ordering::SeqCst) == 0
                    {
                        // SAFETY: sched_yield(2) has no preconditions.
                        unsafe { libc::sched_yield() };
                    }
                    w(PAUSED).store(0, Ordering::SeqCst);
                }
                if step(shared) {
                    w(COUNT).fetch_add(1, Ordering::Relaxed);
                }
            }
            at_stop();
            0
        });
        Racer {
            child: Some(child),
            shared,
            finished: None,
        }
    }

    /// How many steps (swaps) took effect so far.
    pub fn count(&self) -> u64 {
        word(self.shared, COUNT).load(Ordering::Relaxed)
    }

    /// How many times entry `i` of [`Racer::swapping`]'s list took effect so far.
    pub fn count_of(&self, i: usize) -> u64 {
        word(self.shared, ACTION_COUNTS + i).load(Ordering::Relaxed)
    }

    /// Holds the attacker between two steps, runs `f` (to reset the layout), and lets it go
    /// again. Fails the test if the attacker does not stop within a long limit.
    #[track_caller]
    pub fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let (pause, paused) = (word(self.shared, PAUSE), word(self.shared, PAUSED));
        pause.store(1, Ordering::SeqCst);
        let start = Instant::now();
        while paused.load(Ordering::SeqCst) != 1 {
            assert!(
                start.elapsed() < ANSWER_LIMIT,
                "the attacker did not pause within {ANSWER_LIMIT:?}"
            );
            std::thread::yield_now();
        }
        let out = f();
        pause.store(0, Ordering::SeqCst);
        out
    }

    /// Stops the attacker after its current step, waits for it (killing it if it does not
    /// stop within a long limit) and returns [`Racer::count`]. The counters stay readable.
    pub fn finish(&mut self) -> u64 {
        if let Some(count) = self.finished {
            return count;
        }
        word(self.shared, STOP).store(1, Ordering::SeqCst);
        if let Some(child) = self.child.take() {
            child.wait_or_kill(ANSWER_LIMIT);
        }
        let count = self.count();
        self.finished = Some(count);
        count
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        // Killed (not stopped): a failing test must not wait for the attacker.
        drop(self.child.take());
        // SAFETY: our own mapping; the child that shared it is dead and reaped.
        unsafe { libc::munmap(self.shared, SHARED_LEN) };
    }
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: what the attacker does, once (to check that the file
/// system supports it, or to put a layout back).
pub fn exchange(a: impl AsRef<Path>, b: impl AsRef<Path>) -> std::io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a.as_ref(),
        rustix::fs::CWD,
        b.as_ref(),
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(Into::into)
}

/// How many rounds a race test runs: `ci` by default, `long` with `PROCROOT_RACE_LONG=1` (a
/// soak run).
pub fn race_rounds(ci: usize, long: usize) -> usize {
    if std::env::var_os("PROCROOT_RACE_LONG").is_some_and(|v| v == "1") {
        long
    } else {
        ci
    }
}

/// Sets a stop flag when dropped, so that a helper thread stops however its test ends (a failed
/// assertion unwinds through the guard).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `step` in a loop on a scoped thread while `body` runs, and returns `body`'s result and
/// how many steps returned `true`. The thread is stopped when `body` returns or panics (a
/// failing test fails instead of hanging in the scope's join); a panic in `step` fails the
/// test.
pub fn with_racing_thread<T>(
    mut step: impl FnMut() -> bool + Send,
    body: impl FnOnce() -> T,
) -> (T, u64) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        let racer = s.spawn(|| {
            let mut count = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if step() {
                    count += 1;
                }
            }
            count
        });
        let out = body();
        stop.store(true, Ordering::Relaxed);
        let count = racer.join().expect("the racing thread panicked");
        (out, count)
    })
}
