//! `Root::walk` while an attacker changes the tree (issue 24, section 1): a directory renamed
//! out of the root and back, a directory exchanged with a symlink to the host, a host
//! directory bind-mounted over one. A host decoy whose names and contents say `DECOY` sits
//! where an escaping walker would land; no entry the walk yields, and no file it opens, may
//! ever show it.
//!
//! Each test first runs a naive walker against the same attack until it escapes (the attack
//! lands, or the test fails: a race test whose attack never lands proves nothing), then the
//! same attack against `Root::walk`, which must never escape:
//!
//! - symlink swap: a by-path `std::fs::read_dir` recursion that checks each entry with
//!   `lstat` and then lists it by path, as the scanners of the issue do;
//! - rename: an fd walker that keeps one fd and goes back up with `openat(fd, "..")`, as a
//!   bounded-fd walker that trusts `..` would;
//! - mount: the by-path walker with `find -xdev`'s rule (`st_dev` equal to the start's), which a
//!   bind mount of the same file system passes.
//!
//! Seen in every run: the naive walker escapes within the first rounds of each attack; the
//! walk never does.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procroot::{OFlags, Root};
use procroot_testutil::racer::{Racer, Swap};
use procroot_testutil::{in_private_mount_ns, require_privilege};

const SECRET: &[u8] = b"DECOY-HOST-SECRET";
/// How long the naive walker may take to show the attack lands.
const NAIVE_TIME: Duration = Duration::from_secs(20);
/// Rounds of `Root::walk` under attack (and at most this long).
const WALK_ROUNDS: usize = 40;
const WALK_TIME: Duration = Duration::from_secs(30);

struct Scene {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    host: PathBuf,
}

/// `root/t/{a,b,c}` with enough files that a walk is still inside `a` when the attacker
/// strikes; the host beside it has the decoy: `host/decoy/` and `host/x/b/` (the sibling an
/// escaped `..` walker would open next).
fn scene() -> Scene {
    let tmp = tempfile::Builder::new()
        .prefix("procroot-walk-race-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("root");
    let host = tmp.path().join("host");
    for dir in ["a", "b", "c"] {
        let d = root.join("t").join(dir);
        fs::create_dir_all(d.join("sub")).unwrap();
        for i in 0..150 {
            fs::write(d.join(format!("f{i}")), b"inside").unwrap();
        }
        for i in 0..30 {
            fs::write(d.join("sub").join(format!("g{i}")), b"inside").unwrap();
        }
    }
    for decoy in ["decoy", "x/b", "x/c"] {
        let d = host.join(decoy);
        fs::create_dir_all(d.join("DECOY-DIR")).unwrap();
        fs::write(d.join("DECOY-FILE"), SECRET).unwrap();
        fs::write(d.join("f0"), SECRET).unwrap();
        fs::write(d.join("DECOY-DIR/f1"), SECRET).unwrap();
    }
    // The symlink the swap attack exchanges with t/a: an absolute path to the host decoy.
    std::os::unix::fs::symlink(host.join("decoy"), root.join("t/alink")).unwrap();
    Scene {
        _tmp: tmp,
        root,
        host,
    }
}

fn is_decoy_name(name: &[u8]) -> bool {
    name.windows(5).any(|w| w == b"DECOY")
}

fn has_secret(data: &[u8]) -> bool {
    data.windows(SECRET.len()).any(|w| w == SECRET)
}

/// One `Root::walk` of the root, opening every regular file it yields through the entry.
/// Returns what escaped, if anything.
fn procroot_walk(root: &Path, follow: bool) -> Option<String> {
    let root = Root::open(root).unwrap();
    for entry in root.walk("/").follow_links(follow) {
        let Ok(entry) = entry else { continue };
        if is_decoy_name(entry.path().as_os_str().as_bytes()) {
            return Some(format!("yielded {:?}", entry.path()));
        }
        if entry.file_type() == procroot::FileType::File {
            let mut data = Vec::new();
            if let Ok(mut f) = entry.open(OFlags::RDONLY) {
                let _ = f.read_to_end(&mut data);
            }
            if has_secret(&data) {
                return Some(format!(
                    "opened {:?} and read the host's secret",
                    entry.path()
                ));
            }
        }
    }
    None
}

/// The by-path walker of the scanners: `read_dir` recursion that does not follow symlinks
/// (it asks `lstat`), but then lists and reads by path, so a directory swapped for a symlink
/// between the `lstat` and the `read_dir` is followed. With `xdev`, skips directories whose
/// `st_dev` differs from the start's (`find -xdev`).
fn naive_by_path(dir: &Path, xdev: Option<u64>) -> Option<String> {
    let Ok(list) = fs::read_dir(dir) else {
        return None;
    };
    for entry in list.flatten() {
        let path = entry.path();
        if is_decoy_name(entry.file_name().as_bytes()) {
            return Some(format!("yielded {path:?}"));
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if xdev.is_some_and(|dev| meta.dev() != dev) {
                continue;
            }
            if let Some(escape) = naive_by_path(&path, xdev) {
                return Some(escape);
            }
        } else if meta.is_file() && fs::read(&path).is_ok_and(|data| has_secret(&data)) {
            return Some(format!("opened {path:?} and read the host's secret"));
        }
    }
    None
}

/// A walker that keeps one directory fd and climbs back with `openat(fd, "..")`, each
/// directory's names listed (sorted) when it is entered.
fn naive_dotdot(root: &Path) -> Option<String> {
    use rustix::fs::{openat, Mode, OFlags as O};
    let list = |fd: &std::os::fd::OwnedFd| -> Vec<(Vec<u8>, bool)> {
        let Ok(dup) = openat(fd, ".", O::RDONLY | O::DIRECTORY, Mode::empty()) else {
            return Vec::new();
        };
        let Ok(mut dir) = rustix::fs::Dir::new(dup) else {
            return Vec::new();
        };
        let mut names: Vec<(Vec<u8>, bool)> = std::iter::from_fn(|| dir.read())
            .flatten()
            .map(|e| {
                let is_dir = e.file_type() == rustix::fs::FileType::Directory;
                (e.file_name().to_bytes().to_vec(), is_dir)
            })
            .filter(|(n, _)| n != b"." && n != b"..")
            .collect();
        names.sort();
        names
    };
    let mut cur = openat(
        rustix::fs::CWD,
        root,
        O::RDONLY | O::DIRECTORY,
        Mode::empty(),
    )
    .ok()?;
    let mut stack = vec![(list(&cur), 0usize)];
    while let Some((names, next)) = stack.last_mut() {
        let Some((name, is_dir)) = names.get(*next).cloned() else {
            stack.pop();
            if stack.is_empty() {
                break;
            }
            cur = openat(&cur, "..", O::RDONLY | O::DIRECTORY, Mode::empty()).ok()?;
            continue;
        };
        *next += 1;
        if is_decoy_name(&name) {
            return Some(format!("yielded {:?}", String::from_utf8_lossy(&name)));
        }
        if is_dir {
            if let Ok(fd) = openat(
                &cur,
                name.as_slice(),
                O::RDONLY | O::DIRECTORY,
                Mode::empty(),
            ) {
                cur = fd;
                stack.push((list(&cur), 0));
            }
        } else if let Ok(fd) = openat(
            &cur,
            name.as_slice(),
            O::RDONLY | O::NONBLOCK,
            Mode::empty(),
        ) {
            let mut data = Vec::new();
            let _ = fs::File::from(fd).read_to_end(&mut data);
            if has_secret(&data) {
                return Some("opened a file and read the host's secret".to_string());
            }
        }
    }
    None
}

/// Runs `naive` under `racer` until it escapes (it must, within [`NAIVE_TIME`]), then
/// `Root::walk` (with and without `follow_links`) for [`WALK_ROUNDS`] or three times the
/// naive walker's rounds (at most [`WALK_TIME`]), which must never escape while the attack
/// keeps landing.
fn race(racer: &Racer, naive: impl Fn() -> Option<String>, walk: impl Fn(bool) -> Option<String>) {
    let start = Instant::now();
    let mut naive_rounds = 0;
    let escape = loop {
        naive_rounds += 1;
        if let Some(escape) = naive() {
            break escape;
        }
        assert!(
            start.elapsed() < NAIVE_TIME,
            "the naive walker never escaped in {naive_rounds} rounds ({} attacks landed): the \
             attack does not land, so this test would prove nothing",
            racer.count()
        );
    };
    eprintln!("naive walker escaped in round {naive_rounds}: {escape}");
    let before = racer.count();
    let start = Instant::now();
    let mut rounds = 0;
    // At least three times the rounds the naive walker needed to be caught once: the walk
    // meets the attack as often as it did.
    let want = WALK_ROUNDS.max(3 * naive_rounds);
    while rounds < want && start.elapsed() < WALK_TIME {
        let follow = rounds % 2 == 1;
        if let Some(escape) = walk(follow) {
            panic!("Root::walk escaped in round {rounds} (follow_links {follow}): {escape}");
        }
        rounds += 1;
    }
    let landed = racer.count() - before;
    eprintln!("Root::walk: {rounds} rounds, {landed} attacks landed meanwhile, no escape");
    assert!(landed > 0, "no attack landed while Root::walk ran");
}

#[test]
fn a_directory_swapped_for_a_symlink_to_the_host_is_never_followed() {
    let s = scene();
    let mut racer = Racer::swapping(&[Swap::Exchange(s.root.join("t/a"), s.root.join("t/alink"))]);
    race(
        &racer,
        || naive_by_path(&s.root, None),
        |follow| procroot_walk(&s.root, follow),
    );
    racer.finish();
}

#[test]
fn a_directory_renamed_out_of_the_root_does_not_lead_the_walk_out() {
    let s = scene();
    let (inside, outside) = (s.root.join("t/a"), s.host.join("x/a"));
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap();
    let (inside, outside) = (cstr(&inside), cstr(&outside));
    let mut racer = Racer::spawn(|| {
        // SAFETY: rename(2) with NUL-terminated paths made before the fork.
        let out = unsafe { libc::rename(inside.as_ptr(), outside.as_ptr()) } == 0;
        // Out for a moment, then back, so that every walk finds it in the root first.
        std::thread::sleep(Duration::from_micros(200));
        // SAFETY: as above.
        let back = unsafe { libc::rename(outside.as_ptr(), inside.as_ptr()) } == 0;
        out && back
    });
    race(
        &racer,
        || naive_dotdot(&s.root),
        |follow| procroot_walk(&s.root, follow),
    );
    racer.finish();
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn a_host_directory_mounted_over_one_is_not_entered() {
    require_privilege("bind mounts in a private mount namespace");
    let s = scene();
    in_private_mount_ns(|| {
        let dev = fs::metadata(&s.root).unwrap().dev();
        let mut racer = Racer::swapping(&[Swap::BindMount {
            source: s.host.join("decoy"),
            target: s.root.join("t/b"),
        }]);
        race(
            &racer,
            || naive_by_path(&s.root, Some(dev)),
            |follow| procroot_walk(&s.root, follow),
        );
        racer.finish();
    });
}
