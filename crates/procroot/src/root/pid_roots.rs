//! Recently opened `/proc/<pid>/root` roots, kept for [`Root::for_pid`]: opening one costs about
//! 20 syscalls (`pidfd_open`, the hardened procfs lookups, liveness and overmount checks), which
//! procfsroot's signature (a root *string* per call) would make every drop-in call pay.
//!
//! Each entry holds the root fd, its (mount id, dev, ino), and an `O_PATH` fd of `/proc/<pid>` on
//! the *detached* procfs, opened through the pidfd base. A procfs process directory is bound to its
//! process, not to the number, so before reuse one `statx(dir, "root")` proves at once that the
//! process is alive and the same one (a dead or replaced process fails the lookup) and that its
//! root is still the one held (a `chroot`, `pivot_root` or mount-namespace change moves the
//! directory or at least the mount id). Any failure or mismatch drops the entry and opens the root
//! afresh, exactly as without the cache; the answer is the same as an uncached [`Root::for_pid`] at
//! the moment of the check. Entries are kept only on a detached procfs instance.
//!
//! The cache is only ever `try_lock`ed (a busy cache, or a forked child's inherited lock, means an
//! uncached open: never a wait or a deadlock), holds at most [`CAPACITY`] entries (LRU), and is
//! turned off by [`Root::set_pid_root_cache`] or `PROCROOT_PID_ROOT_CACHE=0`.
//!
//! The full account: docs/ARCHITECTURE.md, "The PID-root cache".

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::AtFlags;

use super::{Root, SpecialFiles};
use crate::resolve::ResolveOptions;
use crate::sys;

/// The most PID roots kept.
pub(crate) const CAPACITY: usize = 8;

/// A root's identity: (mount id, dev, ino).
type Identity = sys::MountedFileId;

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
    Some(info.identity())
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
