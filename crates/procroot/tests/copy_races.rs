//! A failed copy must never remove what it did not create (issue 8, item 1).
//!
//! The attack: `copy_in(./site, /srv/www)` builds its copy under `/srv/.procroot-copy-*`. While
//! it runs, an attacker who can write `/srv` renames the temporary away, moves a directory of
//! its choice to the temporary's name, and creates `/srv/www`, so that the final
//! `RENAME_NOREPLACE` fails. A cleanup that goes by name then empties the attacker's choice: a
//! host directory bind-mounted into the root, or a root-owned tree that a uid-1000 attacker
//! could not delete itself.
//!
//! The attacker is a forked process that polls `/srv` for the temporary and strikes as soon as
//! it appears; the source tree is large enough that the copy is still running then. Every round
//! checks the victim tree byte for byte, with mode, owner and link count.
//!
//! Two more root attackers strike inside the temporary instead: one swaps a directory of the
//! copy for the victim (the cleanup must remove only what it created), one bind-mounts a host
//! directory on a directory of the copy (the cleanup must not cross into that mount, and the
//! copy must not write into it).
//!
//! Against the code before the fix (`remove_tree`) all four tests fail in the first round in
//! which the attack lands, which is nearly every round (checked: 3 runs of each, all failed in
//! round 1: the victim emptied and chmodded to 0700, or deleted).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procroot::{Errno, Root};
use procroot_testutil::{ForkedChild, Snapshot, Tree};

/// Rounds in which the attack must land before the test is satisfied.
const LANDED_ROUNDS: usize = 8;
/// At most this many rounds, and at most this long, whatever happens.
const MAX_ROUNDS: usize = 40;
const MAX_TIME: Duration = Duration::from_secs(60);
/// Rounds in which the attack must land at least, or the test proves nothing.
const MIN_LANDED: usize = 3;

const ATTACKER: u32 = 1000;

/// A victim tree at `dir`: files with modes and owners, a hard link, a symlink, a subdirectory
/// with a restrictive mode.
fn fill_victim(dir: &Path, tag: &str) {
    fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    for i in 0..8 {
        fs::write(dir.join(format!("file{i}")), format!("{tag} data {i}")).unwrap();
        fs::set_permissions(
            dir.join(format!("file{i}")),
            fs::Permissions::from_mode(0o640 + i),
        )
        .unwrap();
    }
    fs::hard_link(dir.join("file0"), dir.join("sub/hardlink")).unwrap();
    fs::write(dir.join("sub/deeper/precious"), format!("{tag} precious")).unwrap();
    std::os::unix::fs::symlink("../file1", dir.join("sub/link")).unwrap();
    rustix::fs::chown(
        dir.join("file3").as_path(),
        Some(rustix::fs::Uid::from_raw(ATTACKER + 1)),
        Some(rustix::fs::Gid::from_raw(ATTACKER + 1)),
    )
    .unwrap();
    fs::set_permissions(dir.join("sub/deeper"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A source tree big enough that copying it takes a while (hundreds of files).
fn big_source() -> Tree {
    let src = Tree::new("dir site");
    for d in 0..10 {
        for f in 0..50 {
            src.write(format!("site/d{d}/f{f}"), &[b'x'; 2048]);
        }
    }
    src
}

/// What the attacker does when it sees the copy's temporary.
#[derive(Debug, PartialEq)]
enum Strike {
    /// As root: rename it away, put the victim at its name, create the destination.
    Swap,
    /// The same as uid 1000.
    Unprivileged,
    /// As root: rename a directory inside the temporary away, put the victim at its name,
    /// create the destination. The cleanup then finds a directory it did not create inside its
    /// own temporary.
    SwapInside,
    /// As root: bind-mount this host directory on a directory inside the temporary and create
    /// the destination. The cleanup then finds another mount inside its own temporary.
    MountInside(PathBuf),
}

/// [`Strike::MountInside`]: waits for a subdirectory of `temp`, mounts `victim` on it, creates
/// the destination. 0 when it struck, 3 when the copy was over first.
fn mount_inside(temp: &Path, victim: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok(entries) = fs::read_dir(temp) else {
            return 3; // renamed into place already
        };
        let sub = entries
            .filter_map(|e| e.ok())
            .find(|e| e.file_type().is_ok_and(|t| t.is_dir()));
        let Some(sub) = sub else { continue };
        let victim = victim.to_str().unwrap();
        match procroot_testutil::mount_raw(Some(victim), sub.path(), None, libc::MS_BIND, None) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return 3,
            Err(e) => panic!("bind mount: {e}"),
        }
        let www = temp.parent().unwrap().join("www");
        return match fs::create_dir(www) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => 3,
            Err(e) => panic!("create the destination: {e}"),
        };
    }
    3
}

/// [`Strike::SwapInside`]: waits for a subdirectory of `temp`, renames it away, puts the victim
/// at its name, creates the destination. 0 when it struck, 3 when the copy was over first.
fn swap_inside(temp: &Path) -> i32 {
    let srv = temp.parent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok(entries) = fs::read_dir(temp) else {
            return 3; // renamed into place already
        };
        let sub = entries
            .filter_map(|e| e.ok())
            .find(|e| e.file_type().is_ok_and(|t| t.is_dir()));
        let Some(sub) = sub else { continue };
        if fs::rename(sub.path(), srv.join("moved")).is_err() {
            return 3;
        }
        fs::rename(srv.join("victim"), sub.path()).expect("move the victim in");
        return match fs::create_dir(srv.join("www")) {
            Ok(()) => 0,
            // The copy (with the victim inside) was renamed into place first: missed.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => 3,
            Err(e) => panic!("create the destination: {e}"),
        };
    }
    3
}

/// How one round went, from the attacker's side.
#[derive(Debug, PartialEq)]
enum Attack {
    /// It renamed the temporary away, put the victim at its name and created the destination.
    Landed,
    /// The copy was over before it saw the temporary.
    Missed,
}

/// Forks the attacker: optionally as `ATTACKER`, it polls `srv` for the copy's temporary, then
/// renames it to `srv/moved`, the victim `srv/victim` to the temporary's name, and creates
/// `srv/www`. Exits 0 when it struck, 3 when the copy was over first.
///
/// Called in a single-threaded process (a child of the test harness, from in_private_mount_ns /
/// in_child), so the attacker may allocate.
fn spawn_attacker(srv: &Path, strike: &Strike) -> ForkedChild {
    let unprivileged = *strike == Strike::Unprivileged;
    ForkedChild::spawn(|| {
        if unprivileged {
            procroot_testutil::become_user(ATTACKER);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let dir = rustix::fs::open(
            srv,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        loop {
            let mut entries = rustix::fs::Dir::read_from(&dir).unwrap();
            while let Some(entry) = entries.read() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_bytes();
                if !name.starts_with(b".procroot-copy-") {
                    continue;
                }
                let temp = std::ffi::OsStr::from_bytes(name);
                if let Strike::MountInside(victim) = strike {
                    return mount_inside(&srv.join(temp), victim);
                }
                if *strike == Strike::SwapInside {
                    return swap_inside(&srv.join(temp));
                }
                if rustix::fs::renameat(&dir, temp, &dir, "moved").is_err() {
                    continue;
                }
                rustix::fs::renameat(&dir, "victim", &dir, temp).expect("move the victim");
                // EEXIST: the copy renamed what it took for its temporary (the victim) into
                // place just before; it must notice that is not its copy.
                match rustix::fs::mkdirat(&dir, "www", rustix::fs::Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => return 0,
                    Err(e) => panic!("create the destination: {e}"),
                }
            }
            // The copy is over (renamed into place) before the attacker saw its temporary.
            let done = rustix::fs::statat(&dir, "www", rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
            if done.is_ok() || Instant::now() > deadline {
                return 3;
            }
        }
    })
}

/// Waits for the attacker; a panic in it fails the test with its message.
fn wait_attacker(attacker: ForkedChild) -> Attack {
    match attacker.wait() {
        0 => Attack::Landed,
        3 => Attack::Missed,
        code => panic!("the attacker failed (exit {code})"),
    }
}

/// Puts `srv` back as it was before a round: the victim at `srv/victim`, no destination, no
/// copies. Returns whether the victim directory was found.
fn restore(srv: &Path, victim_id: (u64, u64)) -> bool {
    let mut found = false;
    let is_ours = |name: &std::ffi::OsStr| {
        name == "www" || name == "moved" || name.to_string_lossy().starts_with(".procroot-copy-")
    };
    for entry in fs::read_dir(srv).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name();
        if procroot_testutil::identity(&path) == victim_id {
            found = true;
            if name != "victim" {
                fs::rename(&path, srv.join("victim")).unwrap();
            }
            continue;
        }
        if !is_ours(&name) || !path.is_dir() {
            continue;
        }
        // Our own copies and the attacker's destination. The victim may be inside one
        // (Strike::SwapInside), and the attacker's mount (Strike::MountInside), detached first.
        for sub in fs::read_dir(&path).unwrap() {
            let sub = sub.unwrap().path();
            if procroot_testutil::identity(&sub) == victim_id {
                found = true;
                fs::rename(&sub, srv.join("victim")).unwrap();
                continue;
            }
            let c = std::ffi::CString::new(sub.as_os_str().as_bytes()).unwrap();
            // SAFETY: a NUL-terminated path; EINVAL (not a mount point) is ignored.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        fs::remove_dir_all(&path).unwrap();
    }
    found
}

/// Runs rounds of the attack against `copy_in` of a big tree to `/srv/www`, checking `victims`
/// (host paths) after each.
fn race(root: &Root, src: &Path, srv: &Path, victims: &[&Path], strike: Strike) {
    let before: Vec<Snapshot> = victims.iter().map(Snapshot::take).collect();
    let victim_id = procroot_testutil::identity(srv.join("victim"));
    let start = Instant::now();
    let (mut landed, mut rounds, mut notes) = (0, 0, 0);
    while landed < LANDED_ROUNDS && rounds < MAX_ROUNDS && start.elapsed() < MAX_TIME {
        rounds += 1;
        let attacker = spawn_attacker(srv, &strike);
        let result = root.copy_in(src, "/srv/www");
        let attack = wait_attacker(attacker);
        // The victim first: that is what the old code destroyed.
        assert!(
            restore(srv, victim_id),
            "round {rounds} ({attack:?}): the victim directory is gone"
        );
        for before in &before {
            before.assert_unchanged(&format!("round {rounds} ({attack:?}): the victim"));
        }
        if attack == Attack::Landed {
            landed += 1;
            // Which error depends on the moment the attacker struck (EEXIST at the final rename,
            // EAGAIN when the copy sees its temporary replaced, ENOENT when it was renamed away
            // right after mkdirat); the victim's state is what matters.
            let err = result.expect_err("the destination was created meanwhile: the copy fails");
            let text = err.to_string();
            let noted = text.contains("left alone") || text.contains("left in place");
            if err.errno() == Errno::EXIST {
                assert!(noted, "{err}");
            }
            if noted {
                notes += 1;
            }
        }
    }
    println!(
        "{strike:?}: {rounds} rounds in {:.1?}: the attack landed in {landed}, {notes} errors \
         said what the cleanup left",
        start.elapsed()
    );
    assert!(
        landed >= MIN_LANDED,
        "the attack landed in only {landed} of {rounds} rounds: the test proves nothing"
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_failed_copy_never_empties_a_bind_mounted_victim() {
    bind_mounted_victim_race(Strike::Swap);
}

/// The same attacker swaps a directory inside the temporary for the victim: the cleanup removes
/// only what it created, by identity (the old one emptied the victim).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_failed_copy_never_empties_a_victim_moved_inside_its_temporary() {
    bind_mounted_victim_race(Strike::SwapInside);
}

/// The race of `strike` against a victim in the root with a host directory bind-mounted inside
/// it: neither the in-root tree nor the host directory may change.
fn bind_mounted_victim_race(strike: Strike) {
    procroot_testutil::require_privilege("bind mounts in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let host = tempfile::tempdir().unwrap();
        let host_victim = host.path().join("data");
        fill_victim(&host_victim, "host");
        let tree = Tree::new("dir srv");
        let srv = tree.join("srv");
        fill_victim(&srv.join("victim"), "in-root");
        fs::create_dir(srv.join("victim/mnt")).unwrap();
        procroot_testutil::mount_raw(
            Some(host_victim.to_str().unwrap()),
            srv.join("victim/mnt"),
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind mount");
        let src = big_source();
        let root = Root::open(tree.path()).unwrap();
        race(
            &root,
            &src.join("site"),
            &srv,
            &[&srv.join("victim"), &host_victim],
            strike,
        );
    });
}

/// The same attacker mounts a host directory on a directory inside the temporary: the cleanup
/// must not cross into that mount (the old one emptied it and chmodded it to 0700).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_failed_copy_never_enters_a_mount_inside_its_temporary() {
    procroot_testutil::require_privilege("bind mounts in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let host = tempfile::tempdir().unwrap();
        let host_victim = host.path().join("data");
        fill_victim(&host_victim, "host");
        let tree = Tree::new("dir srv/victim");
        let srv = tree.join("srv");
        let src = big_source();
        let root = Root::open(tree.path()).unwrap();
        race(
            &root,
            &src.join("site"),
            &srv,
            &[&host_victim],
            Strike::MountInside(host_victim.clone()),
        );
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_failed_copy_never_empties_a_tree_an_unprivileged_attacker_moved() {
    procroot_testutil::require_privilege("chown and an unprivileged attacker process");
    procroot_testutil::in_private_mount_ns(|| {
        let tree = Tree::new("dir srv");
        // uid 1000 can reach and write /srv, and nothing in the victim.
        fs::set_permissions(tree.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let srv = tree.join("srv");
        rustix::fs::chown(
            srv.as_path(),
            Some(rustix::fs::Uid::from_raw(ATTACKER)),
            Some(rustix::fs::Gid::from_raw(ATTACKER)),
        )
        .unwrap();
        fill_victim(&srv.join("victim"), "root-owned");
        let src = big_source();
        let root = Root::open(tree.path()).unwrap();
        race(
            &root,
            &src.join("site"),
            &srv,
            &[&srv.join("victim")],
            Strike::Unprivileged,
        );
    });
}
