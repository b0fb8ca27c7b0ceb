//! Race tests for creating and removing: an attacker process rearranges the root while
//! `mkdir_all`, `remove_all` and `create_file` run, and a sentinel tree outside the root proves
//! that nothing outside was created, changed or deleted.
//!
//! ```text
//! top/
//! |-- root/                  <- the Root
//! |   `-- w/...              <- what the operations work on, and the attacker swaps
//! `-- outside/
//!     |-- x, y, z            <- symlinks to sent (and sent/victim) that the attacker exchanges
//!     |                         with directories and files inside the root
//!     `-- sent/              <- the sentinel: files and a subdirectory, snapshotted
//! ```
//!
//! The attacker is a forked process that loops on `renameat2(RENAME_EXCHANGE)` between an
//! in-root path and a symlink outside whose absolute target is the sentinel. After an exchange
//! the in-root path is a symlink to the sentinel (following it escapes), and the in-root
//! directory or file sits outside the root (climbing out of it with `..` escapes). The symlinks'
//! targets are host paths: followed by the kernel they reach the sentinel; resolved inside the
//! root they name nothing.
//!
//! The sentinel snapshot ([`Snapshot::take_with_times`]) records every entry's bytes, mode,
//! owner, link count, identity, mtime and ctime, and so every directory's listing; ctime cannot
//! be set back from userspace, so any write, create, delete or rename in the sentinel shows.
//! The attacker is testutil's [`Racer`]. Errors from the operations are fine (detection is a correct
//! outcome); a changed sentinel is an escape and must never happen.
//!
//! Each test runs [`CI_ITERATIONS`] operations (`PROCROOT_RACE_LONG=1`: [`LONG_ITERATIONS`]),
//! and checks that the attacker really swapped ([`MIN_SWAPS`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use procroot::{Backend, OFlags, Root};
use procroot_testutil::{fd_identity, Racer, Snapshot, Swap};

const CI_ITERATIONS: usize = 10_000;
const LONG_ITERATIONS: usize = 200_000;
/// The attacker must have made at least this many exchanges, or the run proved nothing.
const MIN_SWAPS: u64 = 100;
const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

fn iterations() -> usize {
    procroot_testutil::race_rounds(CI_ITERATIONS, LONG_ITERATIONS)
}

/// The layout (module docs), removed on drop.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        // On tmpfs when there is one: every iteration rebuilds a small tree, and on a busy VM
        // ext4's mkdir alone costs ~250 us.
        let shm = Path::new("/dev/shm");
        let is_tmpfs = rustix::fs::statfs(shm).is_ok_and(|st| st.f_type == 0x0102_1994);
        let dir = tempfile::Builder::new()
            .prefix("procroot-mutrace-")
            .tempdir_in(if is_tmpfs { shm } else { Path::new("/tmp") })
            .expect("tempdir");
        let top = dir.path();
        std::fs::create_dir_all(top.join("root/w")).unwrap();
        std::fs::create_dir_all(top.join("outside/sent/sd")).unwrap();
        for i in 0..4 {
            std::fs::write(top.join(format!("outside/sent/f{i}")), b"SENTINEL").unwrap();
        }
        std::fs::write(top.join("outside/sent/victim"), b"SENTINEL").unwrap();
        std::fs::write(top.join("outside/sent/sd/g"), b"SENTINEL").unwrap();
        Layout { dir }
    }

    fn top(&self) -> &Path {
        self.dir.path()
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.top().join(rel)
    }

    fn root(&self, backend: Backend) -> Root {
        Root::open(self.at("root")).unwrap().with_backend(backend)
    }

    /// The sentinel, with times: ctime cannot be set back from userspace.
    fn snapshot(&self) -> Snapshot {
        Snapshot::take_with_times(self.at("outside/sent"))
    }
}

/// Removes whatever is at `p` (a symlink, a file or a tree) without following symlinks.
fn clear(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(p).unwrap(),
        Ok(_) => std::fs::remove_file(p).unwrap(),
        Err(_) => {}
    }
}

fn symlink_to(target: &Path, link: &Path) {
    clear(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Tallies results and prints a summary line.
#[derive(Default)]
struct Tally {
    ok: usize,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn record<T>(&mut self, r: &Result<T, procroot::Error>) {
        match r {
            Ok(_) => self.ok += 1,
            Err(e) => *self.errors.entry(e.errno_name().to_string()).or_default() += 1,
        }
    }
}

/// Stops the attacker and checks the run: the sentinel unchanged, enough swaps, some operation
/// succeeded, and, when the attacker's swap number `replace_at` is an rmdir+symlink, that it
/// happened.
fn finish(
    label: &str,
    before: &Snapshot,
    mut attacker: Racer,
    replace_at: Option<usize>,
    tally: Tally,
    n: usize,
    start: Instant,
) {
    let swaps = attacker.finish();
    let replaces = replace_at.map_or(0, |i| attacker.count_of(i));
    drop(attacker);
    let after = before.retake();
    println!(
        "{label}: {n} iterations in {:.2?}, {swaps} swaps ({replaces} rmdir+symlink), {} ok, errors {:?}, sentinel {}",
        start.elapsed(),
        tally.ok,
        tally.errors,
        if &after == before {
            "intact"
        } else {
            "CHANGED"
        }
    );
    if let Some(change) = before.difference(&after) {
        panic!("{label}: the sentinel outside the root changed (an escape): {change}");
    }
    assert!(
        swaps >= MIN_SWAPS,
        "{label}: the attacker only swapped {swaps} times"
    );
    // A run in which every operation failed proves nothing about the operation under attack:
    // it may have been refused before it did anything.
    assert!(
        tally.ok > 0,
        "{label}: no operation succeeded in {n} iterations (errors {:?})",
        tally.errors
    );
    if replace_at.is_some() {
        assert!(
            replaces > 0,
            "{label}: the attacker never managed an rmdir+symlink replacement"
        );
    }
}

/// 1. The attacker swaps a directory `mkdir_all` is creating (`w/p/q`) with a symlink to the
///    sentinel, and back; and replaces another one (`w/p/q/r`) right after it is made
///    (`rmdir` + `symlink` to the sentinel).
#[test]
fn mkdir_all_under_exchange() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let sent = layout.at("outside/sent");
        let (q, x) = (layout.at("root/w/p/q"), layout.at("outside/x"));
        symlink_to(&sent, &x);
        let before = layout.snapshot();
        let sentinel = before.identities();
        let r = layout.at("root/w/p/q/r");
        let attacker = Racer::swapping(&[
            Swap::Exchange(q.clone(), x.clone()),
            Swap::ReplaceWithSymlink {
                dir: r,
                target: sent.clone(),
            },
        ]);
        let mut tally = Tally::default();
        let n = iterations();
        let start = Instant::now();
        for i in 0..n {
            attacker.paused(|| {
                clear(&layout.at("root/w/p"));
                symlink_to(&sent, &x);
            });
            let r = root.mkdir_all("w/p/q/r/s", 0o755);
            if let Ok(h) = &r {
                let id = fd_identity(h);
                assert!(
                    !sentinel.contains(&id),
                    "iteration {i}: the handle is in the sentinel"
                );
            }
            tally.record(&r);
        }
        finish(
            &format!("mkdir_all {backend:?}"),
            &before,
            attacker,
            Some(1),
            tally,
            n,
            start,
        );
    }
}

/// 2. The attacker swaps a subtree `remove_all` is deleting (`w/b/c`) with a symlink to the
///    sentinel: the symlink must be unlinked, not followed, and the directory moved out must
///    not be climbed out of.
#[test]
fn remove_all_under_exchange() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let sent = layout.at("outside/sent");
        let (c, x) = (layout.at("root/w/b/c"), layout.at("outside/x"));
        let (b, y) = (layout.at("root/w/b"), layout.at("outside/y"));
        symlink_to(&sent, &x);
        symlink_to(&sent, &y);
        let before = layout.snapshot();
        let attacker = Racer::swapping(&[
            Swap::Exchange(c.clone(), x.clone()),
            Swap::Exchange(b.clone(), y.clone()),
        ]);
        let mut tally = Tally::default();
        let n = iterations();
        let start = Instant::now();
        for _ in 0..n {
            attacker.paused(|| {
                clear(&b);
                symlink_to(&sent, &x);
                symlink_to(&sent, &y);
                for d in ["c/d/e", "c/f", "g"] {
                    std::fs::create_dir_all(b.join(d)).unwrap();
                }
                for f in ["c/d/e/1", "c/d/2", "c/3", "4"] {
                    std::fs::write(b.join(f), b"in the root").unwrap();
                }
            });
            let r = root.remove_all("w/b");
            tally.record(&r);
        }
        finish(
            &format!("remove_all {backend:?}"),
            &before,
            attacker,
            None,
            tally,
            n,
            start,
        );
    }
}

/// 3. The attacker exchanges the file `create_file` opens (`w/target`) with a symlink to a
///    sentinel file, and the parent directory of a new file (`w/dir`) with a symlink to the
///    sentinel directory.
#[test]
fn create_file_under_exchange() {
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let sent = layout.at("outside/sent");
        std::fs::write(layout.at("root/w/target"), b"in the root").unwrap();
        std::fs::create_dir(layout.at("root/w/dir")).unwrap();
        let (target, x) = (layout.at("root/w/target"), layout.at("outside/x"));
        let (dir, y) = (layout.at("root/w/dir"), layout.at("outside/y"));
        symlink_to(&sent.join("victim"), &x);
        symlink_to(&sent, &y);
        let before = layout.snapshot();
        let attacker = Racer::swapping(&[Swap::Exchange(target, x), Swap::Exchange(dir, y)]);
        let mut tally = Tally::default();
        let n = iterations();
        let start = Instant::now();
        for i in 0..n {
            let r = if i % 2 == 0 {
                root.create_file("w/target", OFlags::WRONLY | OFlags::TRUNC, 0o644)
            } else {
                let name = format!("w/dir/new{i}");
                let r = root.create_file(&name, OFlags::WRONLY | OFlags::EXCL, 0o644);
                if r.is_ok() {
                    let _ = root.remove_file(&name);
                }
                r
            };
            if let Ok(mut f) = r.as_ref().map(|f| f.try_clone().unwrap()) {
                std::io::Write::write_all(&mut f, b"written by create_file").unwrap();
            }
            tally.record(&r);
        }
        finish(
            &format!("create_file {backend:?}"),
            &before,
            attacker,
            None,
            tally,
            n,
            start,
        );
    }
}

/// 2b. The same attack on a tree deeper than `remove_all`'s window of open fds (64), swapping a
///     directory near the top: going back up, the walker must re-walk names from the held
///     parent and notice that the directory it recorded is no longer there (`EXDEV`), instead of
///     climbing out of the moved-out subtree. Each iteration builds a 100-deep tree, so this runs
///     fewer iterations ([`DEEP_ITERATIONS`], ×20 in long mode).
#[test]
fn remove_all_deep_under_exchange() {
    const DEEP_ITERATIONS: usize = 200;
    const DEPTH: usize = 100;
    let n = if iterations() == LONG_ITERATIONS {
        DEEP_ITERATIONS * 20
    } else {
        DEEP_ITERATIONS
    };
    for backend in BACKENDS {
        let layout = Layout::new();
        let root = layout.root(backend);
        let sent = layout.at("outside/sent");
        let b = layout.at("root/w/b");
        let swapped = b.join("c0/c1/c2/c3/c4");
        let x = layout.at("outside/x");
        symlink_to(&sent, &x);
        let before = layout.snapshot();
        let attacker = Racer::swapping(&[Swap::Exchange(swapped.clone(), x.clone())]);
        let mut tally = Tally::default();
        let start = Instant::now();
        for _ in 0..n {
            attacker.paused(|| {
                clear(&b);
                symlink_to(&sent, &x);
                let mut dir = b.clone();
                for i in 0..DEPTH {
                    dir.push(format!("c{i}"));
                }
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("leaf"), b"in the root").unwrap();
            });
            let r = root.remove_all("w/b");
            tally.record(&r);
        }
        finish(
            &format!("remove_all deep {backend:?}"),
            &before,
            attacker,
            None,
            tally,
            n,
            start,
        );
    }
}
