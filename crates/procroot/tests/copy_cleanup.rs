//! The undo of a failed copy (issue 20, items 1 and 4): it always ends, whatever the depth,
//! whatever is left behind and however few fds are free; it removes what the copy made even
//! when the copied modes shut the copier out; it says what it left and why; and it can be
//! stopped (Ctrl-C), keeping the temporary and naming it.
//!
//! Every test that could loop (the old cleanup did, forever) runs under a deadline.

use std::ffi::OsString;
use std::fs;
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use procroot::{CopyOptions, Errno, Progress, Root, SpecialFiles};
use procroot_testutil::{in_child, require_privilege, Tree};
use rustix::fs::{Mode, OFlags};

/// Runs `f` on another thread of this (forked) process and panics if it takes longer than
/// `secs`: the looping thread dies with the child.
fn deadline<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(_) => panic!("did not end within {secs} s"),
    }
}

/// The `.procroot-copy-*` entries of `dir`.
fn temporaries(dir: &Path) -> Vec<OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".procroot-copy-"))
        .collect()
}

/// The names of `dir` in the order `getdents64` gives them (`ls -f`), which is the order the
/// copy meets them.
fn listing_order(dir: &Path) -> Vec<OsString> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect()
}

/// A chain `top/d/d/...` of `depth` directories (mode 0755) made one fd at a time; returns the
/// path of the last (fine for the depths here).
fn chain(top: &Path, depth: usize) -> PathBuf {
    let mut path = top.to_path_buf();
    fs::create_dir(&path).unwrap();
    for _ in 0..depth {
        path.push("d");
        fs::create_dir(&path).unwrap();
    }
    path
}

/// Becomes uid and gid 65534 (`nobody`) in this forked, single-threaded child.
fn become_nobody() {
    procroot_testutil::become_user(65534);
}

/// Sets this (forked) process's `RLIMIT_NOFILE` soft limit.
fn limit_fds(limit: u64) {
    let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .unwrap();
}

/// Issue 20 item 1 (a): as uid 65534, a 99-deep chain whose last directory holds `x` (owned by
/// 4242, mode 0055) and, after it in the listing, a FIFO. The copy of `x` is the copier's own,
/// mode 0055: it cannot open it. The FIFO fails the copy (ENXIO); the cleanup used to loop
/// forever at 100% CPU. It must end within 10 s and leave nothing, both ways.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_copy_whose_modes_shut_the_copier_out_is_undone_completely() {
    require_privilege("chown to 4242 and drop to uid 65534");
    let base = tempfile::tempdir().unwrap();
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root_dir = base.path().join("root");
    fs::create_dir(&root_dir).unwrap();
    let last = chain(&root_dir.join("src"), 98);
    let x = last.join("x");
    fs::create_dir(&x).unwrap();
    // A FIFO listed after `x`: try names until the directory's order puts it there.
    let fifo = (0..64)
        .map(|i| last.join(format!("fifo{i}")))
        .find(|fifo| {
            procroot_testutil::mkfifo(fifo);
            let order = listing_order(&last);
            let pos = |name: &Path| order.iter().position(|n| n == name.file_name().unwrap());
            if pos(fifo) > pos(&x) {
                return true;
            }
            fs::remove_file(fifo).unwrap();
            false
        })
        .expect("a FIFO name listed after x");
    assert!(fifo.exists());
    std::os::unix::fs::chown(&x, Some(4242), Some(4242)).unwrap();
    fs::set_permissions(&x, fs::Permissions::from_mode(0o055)).unwrap();
    // The same source on the host side, for the copy in.
    let host_src = base.path().join("host-src");
    std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(root_dir.join("src"))
        .arg(&host_src)
        .status()
        .unwrap();
    let out = base.path().join("out");
    fs::create_dir(&out).unwrap();
    let inside = root_dir.join("in");
    fs::create_dir(&inside).unwrap();
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&inside, Some(65534), Some(65534)).unwrap();
    let (root_path, out2, host2) = (root_dir.clone(), out.clone(), host_src.clone());
    in_child(move || {
        become_nobody();
        let root = Root::open(&root_path).unwrap();
        let err = deadline(10, move || {
            let out_err = root.copy_out("/src", out2.join("copy"));
            let in_err = root.copy_in(&host2, "/in/copy");
            (out_err.unwrap_err(), in_err.unwrap_err())
        });
        for e in [err.0, err.1] {
            assert_eq!(e.errno(), Errno::NXIO, "{e}");
            assert!(!e.to_string().contains("kept"), "{e}");
        }
    });
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "left in out");
    assert_eq!(
        fs::read_dir(&inside).unwrap().count(),
        0,
        "left in the root"
    );
}

/// Builds `top/deep/d/.../d` `depth` levels deep one fd at a time (no path is this long).
fn build_deep(top: &Path, depth: usize) {
    let dir_mode = Mode::from_raw_mode(0o755);
    let mut cur = procroot_testutil::open_dir(top);
    rustix::fs::mkdirat(&cur, "deep", dir_mode).unwrap();
    cur = rustix::fs::openat(
        &cur,
        "deep",
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&cur, "d", dir_mode).unwrap();
        cur =
            rustix::fs::openat(&cur, "d", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
}

/// Issue 20 item 1 (b) and item 4: a deep copy under a low `RLIMIT_NOFILE` fails with `EMFILE`
/// (the copy holds up to about 150 fds, see docs/GUIDE.md), in and out, at limits 32, 48, 64, 100
/// (300 levels) and 128 (600 levels: `EMFILE` near depth 480). The cleanup ends, leaves no
/// temporary, and never says it found entries it did not create: it made them all (it used to
/// lose the directories whose open after `mkdirat` failed, and loop on what it left).
#[test]
fn a_copy_failing_with_emfile_leaves_no_temporary() {
    let src = tempfile::tempdir().unwrap();
    build_deep(src.path(), 600);
    let short = tempfile::tempdir().unwrap();
    build_deep(short.path(), 300);
    for (limit, from) in [
        (32, short.path()),
        (48, short.path()),
        (64, short.path()),
        (100, short.path()),
        (128, src.path()),
    ] {
        let inside = Tree::new("dir x");
        let host = tempfile::tempdir().unwrap();
        let (root_path, from) = (inside.path().to_path_buf(), from.join("deep"));
        in_child(move || {
            limit_fds(limit);
            let root = Root::open(&root_path).unwrap();
            let e = deadline(60, move || root.copy_in(&from, "/x").unwrap_err());
            assert_eq!(e.errno(), Errno::MFILE, "limit {limit}, in: {e}");
            assert!(!e.to_string().contains("not created"), "limit {limit}: {e}");
            assert!(!e.to_string().contains("kept"), "limit {limit}: {e}");
        });
        assert!(
            temporaries(&inside.join("x")).is_empty(),
            "limit {limit}: {:?}",
            temporaries(&inside.join("x"))
        );
        // Out: the tree is in the root (copied without a limit), copied out under the limit.
        let root = Root::open(inside.path()).unwrap();
        let deep = if limit == 128 {
            src.path()
        } else {
            short.path()
        };
        root.copy_in(deep.join("deep"), "/x").unwrap();
        let (root_path, host_path) = (inside.path().to_path_buf(), host.path().to_path_buf());
        in_child(move || {
            limit_fds(limit);
            let root = Root::open(&root_path).unwrap();
            let e = deadline(60, move || {
                root.copy_out("/x/deep", &host_path).unwrap_err()
            });
            assert_eq!(e.errno(), Errno::MFILE, "limit {limit}, out: {e}");
            assert!(!e.to_string().contains("not created"), "limit {limit}: {e}");
            assert!(!e.to_string().contains("kept"), "limit {limit}: {e}");
        });
        assert_eq!(
            fs::read_dir(host.path()).unwrap().count(),
            0,
            "limit {limit}: left on the host"
        );
        root.remove_all("/x/deep").unwrap();
    }
}

/// Issue 20 item 1: a file planted 100 levels down in the copy (by the progress hook, as soon as
/// the copy is that deep), and the final name taken: the copy fails with `EEXIST`, and its undo
/// ends, removing everything else, leaving the file and its parents, and saying so (one entry
/// not created by the copy, named; its parents not removable, `ENOTEMPTY`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_planted_file_deep_in_the_copy_is_left_and_reported() {
    require_privilege("write into the copy's owner-only directories");
    const DEPTH: usize = 150;
    const PLANT_AT: usize = 100;
    let src = tempfile::tempdir().unwrap();
    build_deep(src.path(), DEPTH);
    // Siblings all along the way, which the undo must remove.
    let mut p = src.path().join("deep");
    for _ in 0..DEPTH {
        fs::write(p.join("sibling"), b"s").unwrap();
        p.push("d");
    }
    let out = tempfile::tempdir().unwrap();
    fs::create_dir(out.path().join("deep")).unwrap(); // the final name, taken
    let root = Root::open(src.path()).unwrap();
    let out_path = out.path().to_path_buf();
    let (err, planted) = deadline(30, move || {
        let mut planted: Option<PathBuf> = None;
        let mut hook = |p: &Progress<'_>| {
            if planted.is_none() && !p.undoing && p.path().components().count() > PLANT_AT + 1 {
                let temp = temporaries(&out_path).pop().expect("the temporary");
                let mut dir = out_path.join(temp);
                for _ in 0..PLANT_AT {
                    dir.push("d");
                }
                let file = dir.join("planted");
                fs::write(&file, b"not the copy's").unwrap();
                planted = Some(file);
            }
            ControlFlow::Continue(())
        };
        let opts = CopyOptions::default().with_progress(&mut hook);
        let err = root.copy_out_with("/deep", &out_path, opts).unwrap_err();
        (err, planted.expect("planted"))
    });
    assert_eq!(err.errno(), Errno::EXIST, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("1 not created by the copy"), "{msg}");
    assert!(msg.contains("planted"), "{msg}");
    // The temporary and the 100 directories below it down to the file.
    assert!(
        msg.contains(&format!(
            "{} created by the copy that it could not check or remove (ENOTEMPTY: {0})",
            PLANT_AT + 1
        )),
        "{msg}"
    );
    assert!(planted.exists());
    // Only the chain down to the planted file is left.
    let temp = temporaries(out.path())
        .pop()
        .expect("the temporary is kept");
    assert!(msg.contains(&*temp.to_string_lossy()), "{msg}");
    let mut dir = out.path().join(&temp);
    for level in 0..PLANT_AT {
        let mut names: Vec<_> = listing_order(&dir);
        names.sort();
        assert_eq!(names, ["d"], "level {level}");
        dir.push("d");
    }
    assert_eq!(listing_order(&dir), ["planted"]);
    Root::open(out.path()).unwrap().remove_all(&temp).unwrap();
}

/// Issue 20 item 1: the undo of a failed copy can be stopped by the progress hook (the CLI's
/// Ctrl-C): it stops between two entries and keeps the temporary, which the error names.
#[test]
fn stopping_the_undo_keeps_the_temporary_and_names_it() {
    let src = Tree::new("dir top");
    for i in 0..50 {
        src.write(format!("top/f{i}"), b"x");
    }
    procroot_testutil::mkfifo(&src.join("top/zz-fifo"));
    let out = tempfile::tempdir().unwrap();
    let root = Root::open(src.path()).unwrap();
    let mut undo_calls = 0;
    let mut hook = |p: &Progress<'_>| {
        if p.undoing {
            undo_calls += 1;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    let opts = CopyOptions::default()
        .with_special_files(SpecialFiles::Refuse)
        .with_progress(&mut hook);
    let err = root.copy_out_with("/top", out.path(), opts).unwrap_err();
    assert_eq!(err.errno(), Errno::NXIO, "{err}");
    let temp = temporaries(out.path())
        .pop()
        .expect("the temporary is kept");
    let msg = err.to_string();
    assert!(msg.contains("was stopped"), "{msg}");
    assert!(msg.contains(&*temp.to_string_lossy()), "{msg}");
    assert_eq!(undo_calls, 1, "stopped at the first entry removed");
    let left = fs::read_dir(out.path().join(&temp)).unwrap().count();
    assert!(left > 0, "something is left to keep");
    Root::open(out.path()).unwrap().remove_all(&temp).unwrap();
}

/// Issue 20, Performance: a 10,000-deep `remove_all` (`rm -r`) works at `RLIMIT_NOFILE` 128,
/// and, since the walker fits itself to the fds that are free, a 3,000-deep one at 32
/// (docs/GUIDE.md: "work at any depth under `ulimit -n 32`"). The CLI's `rm -r` at 128: `progress_cli.rs`.
#[test]
fn remove_all_10000_deep_under_low_fd_limits() {
    // 3,000 deep at 32: a window of a dozen fds re-walks often; enough to show it ends.
    for (limit, depth) in [(128u64, 10_000), (32, 3_000)] {
        let tree = tempfile::tempdir().unwrap();
        build_deep(tree.path(), depth);
        let top = tree.path().to_path_buf();
        in_child(move || {
            limit_fds(limit);
            let root = Root::open(&top).unwrap();
            deadline(120, move || root.remove_all("/deep"))
                .unwrap_or_else(|e| panic!("limit {limit}: {e}"));
        });
        assert!(!tree.path().join("deep").exists(), "limit {limit}");
    }
}

/// docs/GUIDE.md: a copy holds at most about 150 fds whatever the depth, so `RLIMIT_NOFILE` 160 is
/// enough: a 3,000-deep tree (deep enough for both chains to hold all their anchors) is copied
/// in and out at 160.
#[test]
fn a_deep_copy_works_at_fd_limit_160() {
    let src = tempfile::tempdir().unwrap();
    build_deep(src.path(), 3_000);
    let inside = Tree::new("dir x");
    let host = tempfile::tempdir().unwrap();
    let (root_path, from, to) = (
        inside.path().to_path_buf(),
        src.path().join("deep"),
        host.path().to_path_buf(),
    );
    in_child(move || {
        limit_fds(160);
        let root = Root::open(&root_path).unwrap();
        deadline(120, move || {
            root.copy_in(&from, "/x").unwrap();
            root.copy_out("/x/deep", &to).unwrap();
        });
    });
    let mut dir = host.path().join("deep");
    for _ in 0..3_000 {
        dir.push("d");
        if dir.as_os_str().len() > 3000 {
            break;
        }
    }
    assert!(dir.exists());
    Root::open(host.path()).unwrap().remove_all("deep").unwrap();
}
