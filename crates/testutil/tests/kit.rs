//! The kit checks itself: a snapshot sees every kind of change an escape makes, racers and
//! runs stop however the test ends (a failing test fails, it never hangs), a target's failed
//! setup is reported.

use std::os::unix::fs::PermissionsExt;
use std::panic::catch_unwind;
use std::path::Path;
use std::time::{Duration, Instant};

use procroot_testutil::{
    in_child, in_private_mount_ns, require_privilege, with_racing_thread, Cli, ForkedChild, Racer,
    Snapshot, Swap, Target, Tree,
};

/// The message of a caught panic.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn sentinel() -> Tree {
    Tree::new(
        "
        file s/a SENTINEL
        file s/d/b SENTINEL
        symlink s/d/l ../a
        dir s/e
        dir outside
        ",
    )
}

type Change = fn(&Path);

/// Makes `change` in a fresh sentinel tree and checks that its snapshot sees it.
fn assert_snapshot_sees(what: &str, change: Change) {
    let tree = sentinel();
    let before = Snapshot::take(tree.join("s"));
    assert_eq!(before, before.retake(), "{what}: no change yet");
    change(&tree.join("s"));
    let now = before.retake();
    assert_ne!(before, now, "{what}");
    assert!(before.difference(&now).is_some(), "{what}");
    let err = catch_unwind(|| before.assert_unchanged(what)).expect_err(what);
    assert!(message(err).contains("changed"), "{what}");
}

/// A change of owner: only root may give a file away (`chown` is `EPERM` otherwise), so this
/// case is its own privileged test and the unprivileged mode counts it as skipped.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn a_snapshot_sees_an_owner_change() {
    require_privilege("chown to another user");
    assert_snapshot_sees("chown", |t| {
        std::os::unix::fs::lchown(t.join("d/l"), Some(4242), Some(4242)).unwrap()
    });
}

#[test]
fn a_snapshot_sees_every_change() {
    let changes: [(&str, Change); 8] = [
        ("same-size write", |t| {
            std::fs::write(t.join("a"), b"SENTINEX").unwrap()
        }),
        ("chmod", |t| {
            std::fs::set_permissions(t.join("d/b"), std::fs::Permissions::from_mode(0o600)).unwrap()
        }),
        ("hard link outside the tree", |t| {
            std::fs::hard_link(t.join("a"), t.join("../outside/a")).unwrap()
        }),
        ("replaced by a copy", |t| {
            std::fs::copy(t.join("a"), t.join("a.new")).unwrap();
            std::fs::rename(t.join("a.new"), t.join("a")).unwrap();
        }),
        ("symlink retargeted", |t| {
            std::fs::remove_file(t.join("d/l")).unwrap();
            std::os::unix::fs::symlink("../x", t.join("d/l")).unwrap();
        }),
        ("created", |t| std::fs::write(t.join("e/new"), b"").unwrap()),
        ("removed", |t| std::fs::remove_file(t.join("d/b")).unwrap()),
        ("directory removed", |t| {
            std::fs::remove_dir(t.join("e")).unwrap()
        }),
    ];
    for (what, change) in changes {
        assert_snapshot_sees(what, change);
    }
    // A change that leaves bytes, mode, owner and identity alone shows in the times.
    let tree = sentinel();
    let before = Snapshot::take_with_times(tree.join("s"));
    std::thread::sleep(Duration::from_millis(20));
    std::fs::File::options()
        .write(true)
        .open(tree.join("s/a"))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let untimed = Snapshot::take(tree.join("s"));
    assert_eq!(untimed, untimed.retake());
    assert!(before.difference(&before.retake()).is_some(), "times");
}

#[test]
fn a_swapping_racer_swaps_and_stops() {
    let tree = Tree::new("dir a/inner\nfile b x");
    let (a, b) = (tree.join("a"), tree.join("b"));
    let mut racer = Racer::swapping(&[Swap::Exchange(a.clone(), b.clone())]);
    let start = Instant::now();
    while racer.count() < 100 {
        assert!(start.elapsed() < Duration::from_secs(20), "no swaps");
        std::thread::yield_now();
    }
    // Paused, the layout holds still.
    racer.paused(|| {
        let kind = std::fs::symlink_metadata(&a).unwrap().is_dir();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(std::fs::symlink_metadata(&a).unwrap().is_dir(), kind);
    });
    let swaps = racer.finish();
    assert!(swaps >= 100);
    assert_eq!(racer.count_of(0), swaps);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(racer.count(), swaps, "still swapping after finish");
}

#[test]
fn a_failing_test_with_a_racer_fails_at_once() {
    let start = Instant::now();
    let err = catch_unwind(|| {
        let _racer = Racer::spawn(|| {
            // A raw syscall only: this racer is forked from the multi-threaded harness.
            let _ = rustix::process::getpid();
            true
        });
        panic!("an assertion failed");
    })
    .expect_err("the panic propagates");
    assert_eq!(message(err), "an assertion failed");
    let err = catch_unwind(|| with_racing_thread(|| true, || panic!("the body failed")))
        .expect_err("the panic propagates");
    assert_eq!(message(err), "the body failed");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_run_past_its_deadline_is_killed_and_fails() {
    let start = Instant::now();
    let err = catch_unwind(|| {
        Cli::new("/bin/sleep")
            .arg("60")
            .deadline(Duration::from_millis(300))
            .run()
    })
    .expect_err("a hung run fails");
    assert!(message(err).contains("it hung"));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_run_moves_more_than_a_pipe_holds() {
    let input = vec![b'x'; 1 << 20];
    let run = Cli::new("/bin/cat").stdin(&input).run();
    assert_eq!(run.success().stdout, input);
    let run = Cli::new("/bin/sh")
        .args(["-c", "echo \"$KIT\" >&2; exit 1"])
        .env("KIT", "value")
        .run();
    run.failure("value");
}

#[test]
fn a_forked_child_reports_its_code_and_its_panic() {
    assert_eq!(ForkedChild::spawn(|| 3).wait(), 3);
    in_child(|| {
        let err = catch_unwind(|| ForkedChild::spawn(|| panic!("boom")).wait()).unwrap_err();
        assert!(message(err).contains("boom"));
    });
}

#[test]
fn a_target_waits_until_dropped_and_reports_a_failed_setup() {
    in_child(|| {
        let target = Target::spawn(|| {});
        let dir = target.proc_dir();
        assert!(Path::new(&dir).exists());
        drop(target);
        assert!(!Path::new(&dir).exists(), "reaped on drop");
        let err = catch_unwind(|| Target::spawn(|| panic!("no tmpfs here"))).unwrap_err();
        assert!(message(err).contains("no tmpfs here"));
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_target_in_its_own_mount_namespace_and_a_bind_mount_racer() {
    require_privilege("mount namespaces and bind mounts");
    let tree = Tree::new("file src SOURCE\nfile dst DESTINATION");
    in_private_mount_ns(|| {
        let target = Target::spawn_in_mount_ns(|| {});
        assert_ne!(
            std::fs::read_link(format!("{}/ns/mnt", target.proc_dir())).unwrap(),
            std::fs::read_link("/proc/self/ns/mnt").unwrap()
        );
        let mut racer = Racer::swapping(&[Swap::BindMount {
            source: tree.join("src"),
            target: tree.join("dst"),
        }]);
        let start = Instant::now();
        while racer.count() < 10 {
            assert!(start.elapsed() < Duration::from_secs(20), "no mounts");
            std::thread::yield_now();
        }
        racer.finish();
        // The mount left at the stop is detached.
        assert_eq!(std::fs::read(tree.join("dst")).unwrap(), b"DESTINATION");
    });
}
