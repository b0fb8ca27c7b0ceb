//! Recently opened `/proc/<pid>/root` roots, kept for [`Root::for_pid`]: opening one costs about
//! 20 syscalls (`pidfd_open`, the hardened procfs lookups, liveness and overmount checks), which
//! procfsroot's signature (a root *string* per call) would make every drop-in call pay.
//!
//! # What is kept, and why one `statx` is enough to reuse it
//!
//! Each entry holds, for a PID: the root fd [`Root::for_pid`] opened, that root's (mount id,
//! dev, ino), and an `O_PATH` fd of the process's directory `/proc/<pid>` on the *detached*
//! procfs instance, opened through the pidfd base (so it was that process's directory while the
//! process lived). A procfs process directory is bound to its process, not to the number: once
//! the process exits, every lookup in it fails, even after a new process takes the PID. So
//! before an entry is used, `statx(dir, "root")` (following the magic link, as an open would)
//! asks, in one syscall:
//! - **the process is alive, and is the same process**: a dead one (a zombie included: its
//!   `root` link no longer resolves) fails the lookup; a new process behind the same PID is not
//!   reachable through this directory at all, so it is never mistaken for the old one;
//! - **its root is still the one held**: the link's target must have the held root's (mount id,
//!   dev, ino). A `chroot`, a `pivot_root`, or entering (`setns`) or unsharing a mount namespace
//!   changes the directory or at least the mount (every mount namespace has its own mounts, and
//!   mount ids are unique system-wide), so it does not match.
//!
//! Any failure or mismatch drops the entry, and the root is opened afresh exactly as without
//! the cache. Entries are only kept when procfs is a detached instance (nobody can mount on its
//! `root` links, which the uncached open checks for on a shared `/proc`), and only while the
//! freshly opened root and the directory's `root` link agree.
//!
//! The answer is therefore the same as an uncached [`Root::for_pid`] made at the moment of the
//! check: the root of that very process, as it is then. As with the uncached open, a process
//! that changes its root *after* that moment is not followed by a [`Root`] already returned.
//! One thing is not asked again on reuse: whether something is mounted on the root directory
//! (the check every [`Root`] constructor makes, which sends such a root to the emulated walk);
//! a process that mounts on its own `/` after its root was kept keeps being resolved by the
//! backend chosen then, until the entry is dropped (the root fd is the same directory either
//! way; only the kernel's `..` at the root would step onto the new mount).
//!
//! # Bounds and the off switch
//!
//! The cache is only ever `try_lock`ed on the way to a root: a call that finds it busy opens
//! the root afresh (as does a forked child whose parent held the lock at the fork), so it
//! never waits or deadlocks.
//!
//! At most [`CAPACITY`] entries (two fds each), the least recently used dropped first; nothing
//! is allocated or opened for a process that never asks for a PID root. It is on by default;
//! [`Root::set_pid_root_cache`] turns it off (and empties it), and so does the environment
//! variable `PROCROOT_PID_ROOT_CACHE=0` (read once, at the first [`Root::for_pid`]), for
//! callers through the C, Go and Python bindings.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::AtFlags;

use super::{Root, SpecialFiles};
use crate::resolve::ResolveOptions;
use crate::sys::{self, MountId};

/// The most PID roots kept.
pub(crate) const CAPACITY: usize = 8;

/// A root's identity: (mount id, dev, ino).
type Identity = (MountId, u64, u64);

/// One kept PID root.
struct Entry {
    pid: u32,
    /// `/proc/<pid>` of the process, on the detached instance.
    dir: OwnedFd,
    root: Arc<OwnedFd>,
    identity: Identity,
    overmounted: bool,
    kernel_path: Arc<Mutex<Option<Box<[u8]>>>>,
    /// When it was last used, for the eviction order.
    used: u64,
}

struct Cache {
    entries: Vec<Entry>,
    clock: u64,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: Vec::new(),
    clock: 0,
});

/// 0: not decided yet (the environment variable is read), 1: on, 2: off.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Whether the cache is on; the first call reads `PROCROOT_PID_ROOT_CACHE` (`0`, `off`, `no`
/// or `false` turn it off).
pub(crate) fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let off = std::env::var("PROCROOT_PID_ROOT_CACHE")
                .is_ok_and(|v| matches!(v.as_str(), "0" | "off" | "no" | "false"));
            let _ = ENABLED.compare_exchange(
                0,
                if off { 2 } else { 1 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            ENABLED.load(Ordering::Relaxed) == 1
        }
    }
}

/// Turns the cache on or off; off also drops every entry (their fds are closed once no
/// [`Root`] made from them is left).
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
    if !on {
        if let Ok(mut cache) = CACHE.lock() {
            cache.entries.clear();
        }
    }
}

/// How many entries are kept (for the tests).
pub(crate) fn len() -> usize {
    CACHE.lock().map_or(0, |c| c.entries.len())
}

/// The identity of the file `fd` is, or of `name` under it followed.
fn identity_at(fd: BorrowedFd<'_>, name: &str) -> Option<Identity> {
    let (name, flags) = if name.is_empty() {
        ("", AtFlags::EMPTY_PATH)
    } else {
        (name, AtFlags::empty())
    };
    let info = sys::mount_info_at(fd, name, flags).ok()?;
    Some((info.mount_id, info.dev, info.ino))
}

/// The kept root of `pid`, if there is one and it passes the check of the module
/// documentation; an entry that fails it is dropped.
pub(crate) fn get(pid: u32) -> Option<Root> {
    if !enabled() {
        return None;
    }
    // `try_lock`: another thread using the cache (or, in a forked child, a lock its parent's
    // thread held at the fork) only means opening the root afresh, never waiting.
    let mut cache = CACHE.try_lock().ok()?;
    let at = cache.entries.iter().position(|e| e.pid == pid)?;
    let entry = &cache.entries[at];
    if identity_at(entry.dir.as_fd(), "root") != Some(entry.identity) {
        cache.entries.swap_remove(at);
        return None;
    }
    cache.clock += 1;
    let clock = cache.clock;
    let entry = &mut cache.entries[at];
    entry.used = clock;
    Some(Root {
        fd: Arc::clone(&entry.root),
        opts: ResolveOptions::default(),
        special: SpecialFiles::default(),
        name: PathBuf::from(format!("/proc/{pid}/root")),
        overmounted: entry.overmounted,
        kernel_path: Arc::clone(&entry.kernel_path),
        second_check: true,
    })
}

/// Keeps `root`, just opened for `pid`, with `dir`, the process's directory: only if the
/// directory's `root` link still leads to it (else the process changed its root meanwhile, or
/// died, and nothing is kept).
pub(crate) fn put(pid: u32, dir: OwnedFd, root: &Root) {
    if !enabled() {
        return;
    }
    let Some(identity) = identity_at(root.fd.as_fd(), "") else {
        return;
    };
    if identity_at(dir.as_fd(), "root") != Some(identity) {
        return;
    }
    let Ok(mut cache) = CACHE.try_lock() else {
        return;
    };
    cache.clock += 1;
    let used = cache.clock;
    cache.entries.retain(|e| e.pid != pid);
    if cache.entries.len() >= CAPACITY {
        if let Some(oldest) = (0..cache.entries.len()).min_by_key(|&i| cache.entries[i].used) {
            cache.entries.swap_remove(oldest);
        }
    }
    cache.entries.push(Entry {
        pid,
        dir,
        root: Arc::clone(&root.fd),
        identity,
        overmounted: root.overmounted,
        kernel_path: Arc::clone(&root.kernel_path),
        used,
    });
}
