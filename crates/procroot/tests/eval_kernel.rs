//! `Root::eval_symlinks`'s path from the kernel (`openat2`, then `d_path` of the fd and of the
//! root, read as `fd/N` on the private procfs; see `root/eval.rs`), and its fallback to the
//! emulated walk.
//!
//! The comparison with the emulated walk on generated trees is in `differential.rs`. Here:
//! - the kernel's path answers the plain cases, and gives the walk's answers;
//! - a root renamed between calls, and renamed to and fro during calls, never gives another
//!   answer (nothing about the root is cached; its path is read on every call);
//! - a directory renamed in and out of the root during calls: every answer is the walk's answer
//!   at some moment, or `ENOENT`;
//! - the fd table read is the calling thread's own: after `fork` (the per-thread directory is
//!   the parent's) and in a thread that unshared its fd table (`self/fd` would be the leader's);
//! - roots whose kernel path is not what a path lookup would give: a bind mount, a detached
//!   mount (`d_path` relative to the detached mount, unmarked), and another mount namespace
//!   (`wormhole.rs` too);
//! - without a detached procfs instance, or without `openat2`, the walk answers;
//! - `Root::eval_symlinks_in` (the root opened by path for one call, its path then known) gives
//!   the same answers and errors, whatever form the root's path has.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use procroot::testing::{disable, eval_symlinks_kernel_answers, Feature};
use procroot::{Backend, EvalMode, Policy, Root};
use procroot_testutil::in_child;
use rustix::io::Errno;

/// `top/root` with `d/sub/file`, `l -> d`, `abs -> /d/sub`, `up -> ../..`, and `top/outside`.
struct Fixture {
    _dir: tempfile::TempDir,
    top: PathBuf,
    root: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("procroot-evalk-")
        .tempdir()
        .expect("tempdir");
    let top = dir.path().to_path_buf();
    let root = top.join("root");
    std::fs::create_dir_all(root.join("d/sub")).expect("mkdir");
    std::fs::create_dir_all(top.join("outside")).expect("mkdir");
    std::fs::write(root.join("d/sub/file"), b"x").expect("write");
    std::fs::write(root.join("decoy"), b"decoy").expect("write");
    std::os::unix::fs::symlink("d", root.join("l")).expect("symlink");
    std::os::unix::fs::symlink("/d/sub", root.join("abs")).expect("symlink");
    std::os::unix::fs::symlink("../..", root.join("d/up")).expect("symlink");
    Fixture {
        _dir: dir,
        top,
        root,
    }
}

/// `root.eval_symlinks(path, mode)`, and whether the kernel's path answered it.
fn eval(root: &Root, path: &str, mode: EvalMode) -> (Result<PathBuf, Errno>, bool) {
    let before = eval_symlinks_kernel_answers();
    let got = root.eval_symlinks(path, mode).map_err(|e| e.errno());
    (got, eval_symlinks_kernel_answers() > before)
}

/// What the tests that expect the kernel's path need: it reads `fd/N` on a private procfs
/// instance (`fsopen`/`fsmount` or `open_tree` of `/proc`, both `CAP_SYS_ADMIN`); without one, the
/// walk answers every call (`no_detached_procfs_means_the_walk`), so these tests, which check
/// that the kernel's path answered, are privileged: skipped in the unprivileged mode.
const KERNEL_PATH: &str = "a private procfs instance for the kernel's path (CAP_SYS_ADMIN)";

/// Paths with their answer, for the default policy.
const CASES: &[(&str, EvalMode, &str)] = &[
    ("l/sub/file", EvalMode::Full, "/d/sub/file"),
    ("/l/sub/../sub/file", EvalMode::Full, "/d/sub/file"),
    ("abs/file", EvalMode::Full, "/d/sub/file"),
    ("d/up/d/up/l", EvalMode::Full, "/d"),
    ("", EvalMode::Full, "/"),
    ("/", EvalMode::Full, "/"),
    ("..", EvalMode::Full, "/"),
    ("l/sub/new", EvalMode::ExceptLast, "/d/sub/new"),
    ("l", EvalMode::ExceptLast, "/l"),
    // A trailing slash resolves the last name too, as procfsroot's EvalExceptLast does.
    ("l/", EvalMode::ExceptLast, "/d"),
    ("l/sub/..", EvalMode::ExceptLast, "/d"),
    ("/", EvalMode::ExceptLast, "/"),
];

/// How many times a call that should have been answered by the kernel's path is made again:
/// with `..` in the path, a rename or mount anywhere on the system (other tests) makes
/// `openat2` answer `EAGAIN`, which after its retries hands the call to the walk. The answer
/// must be right every time.
const KERNEL_TRIES: usize = 50;

fn check_cases(root: &Root, label: &str, want_kernel: bool) {
    for &(path, mode, want) in CASES {
        let mut by_kernel = false;
        for _ in 0..KERNEL_TRIES {
            let got;
            (got, by_kernel) = eval(root, path, mode);
            assert_eq!(
                got.as_deref(),
                Ok(Path::new(want)),
                "{label}: {path:?} {mode:?}"
            );
            if by_kernel || !want_kernel {
                break;
            }
        }
        assert_eq!(
            by_kernel, want_kernel,
            "{label}: {path:?} {mode:?}: answered by the kernel's path"
        );
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn kernel_path_answers_the_plain_cases() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    check_cases(&root, "auto", true);
    check_cases(&root.clone().with_backend(Backend::Kernel), "kernel", true);
    check_cases(
        &root.clone().with_backend(Backend::Emulated),
        "emulated",
        false,
    );
    // Refusals are the walk's, message included; the kernel's path gives no answer for them.
    let strict = root.clone().with_policy(Policy::InRootStrict);
    for (path, errno) in [
        ("d/up/..", Errno::XDEV),
        ("missing/x", Errno::NOENT),
        ("d/sub/file/x", Errno::NOTDIR),
    ] {
        let emulated = strict.clone().with_backend(Backend::Emulated);
        let want = emulated
            .eval_symlinks(path, EvalMode::Full)
            .expect_err(path);
        let got = strict.eval_symlinks(path, EvalMode::Full).expect_err(path);
        assert_eq!(got.errno(), errno, "{path}");
        assert_eq!(got.to_string(), want.to_string(), "{path}");
    }
    // The strict policy asks the kernel with RESOLVE_BENEATH: an absolute symlink is the walk's.
    assert_eq!(
        eval(&strict, "abs/file", EvalMode::Full),
        (Ok(PathBuf::from("/d/sub/file")), false)
    );
    assert_eq!(
        eval(&strict, "l/sub/file", EvalMode::Full),
        (Ok(PathBuf::from("/d/sub/file")), true)
    );
}

/// Nothing about the root is cached: renamed between calls, it is found at its new place, and a
/// decoy at its old place (with the same layout) changes nothing.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn root_renamed_between_calls() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    assert_eq!(
        eval(&root, "l/sub/file", EvalMode::Full),
        (Ok(PathBuf::from("/d/sub/file")), true)
    );
    let moved = f.top.join("moved");
    std::fs::rename(&f.root, &moved).expect("rename root");
    std::fs::create_dir_all(f.root.join("e/sub")).expect("decoy root");
    std::fs::write(f.root.join("e/sub/file"), b"decoy").expect("write");
    std::os::unix::fs::symlink("e", f.root.join("l")).expect("symlink");
    assert_eq!(
        eval(&root, "l/sub/file", EvalMode::Full),
        (Ok(PathBuf::from("/d/sub/file")), true)
    );
    assert_eq!(
        eval(&root, "l/sub/new", EvalMode::ExceptLast),
        (Ok(PathBuf::from("/d/sub/new")), true)
    );
}

/// The root is renamed to and fro while `eval_symlinks` runs: the kernel's path may have to
/// give up (the root moved between the two reads), never give another answer.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn root_renamed_during_calls() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    let other = f.top.join("other");
    let rounds = procroot_testutil::race_rounds(3000, 100_000);
    let mut flip = false;
    let ((kernel, walk), renames) = procroot_testutil::with_racing_thread(
        || {
            flip = !flip;
            let (a, b) = if flip {
                (&f.root, &other)
            } else {
                (&other, &f.root)
            };
            std::fs::rename(a, b).is_ok()
        },
        || {
            let (mut kernel, mut walk) = (0, 0);
            for _ in 0..rounds {
                let (got, by_kernel) = eval(&root, "l/sub/file", EvalMode::Full);
                assert_eq!(got.as_deref(), Ok(Path::new("/d/sub/file")));
                if by_kernel {
                    kernel += 1;
                } else {
                    walk += 1;
                }
            }
            (kernel, walk)
        },
    );
    eprintln!(
        "{rounds} calls, {renames} renames: {kernel} by the kernel's path, {walk} by the walk"
    );
    assert!(renames > 0 && kernel > 0, "the race did not happen");
}

/// A directory is renamed in and out of the root (to a directory beside it) while
/// `eval_symlinks` runs: every answer is the walk's answer at some moment (the path, or
/// `ENOENT` while the directory is out), never a path from outside.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn directory_renamed_in_and_out_of_the_root() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    let inside = f.root.join("d");
    let outside = f.top.join("outside/d");
    let rounds = procroot_testutil::race_rounds(3000, 100_000);
    let mut out = false;
    let (counts, renames) = procroot_testutil::with_racing_thread(
        || {
            out = !out;
            let (a, b) = if out {
                (&inside, &outside)
            } else {
                (&outside, &inside)
            };
            std::fs::rename(a, b).is_ok()
        },
        || {
            let mut counts = [0u32; 3]; // kernel's path, walk, ENOENT
            for i in 0..rounds {
                let (path, mode, want) = match i % 3 {
                    0 => ("d/sub/file", EvalMode::Full, "/d/sub/file"),
                    1 => ("l/sub/file", EvalMode::Full, "/d/sub/file"),
                    _ => ("l/sub/new", EvalMode::ExceptLast, "/d/sub/new"),
                };
                match eval(&root, path, mode) {
                    (Ok(got), by_kernel) => {
                        assert_eq!(got, Path::new(want), "{path:?} {mode:?}");
                        counts[usize::from(!by_kernel)] += 1;
                    }
                    (Err(errno), _) => {
                        assert_eq!(errno, Errno::NOENT, "{path:?} {mode:?}");
                        counts[2] += 1;
                    }
                }
            }
            counts
        },
    );
    eprintln!(
        "{} calls, {renames} renames: {} by the kernel's path, {} by the walk, {} ENOENT",
        counts.iter().sum::<u32>(),
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(renames > 0 && counts[0] > 0, "the race did not happen");
    // Put it back for the cleanup, wherever the racer left it.
    let _ = std::fs::rename(&outside, &inside);
}

/// Makes `fd`'s number the lowest free one of this fd table: closes it, and fills any lower
/// hole with fds that are returned (to be dropped after the check).
fn free_lowest(fd: i32) -> Vec<OwnedFd> {
    // SAFETY: `fd` is a number this thread's table holds and nothing else uses here.
    assert_eq!(unsafe { libc::close(fd) }, 0, "close {fd}");
    let mut fillers = Vec::new();
    loop {
        let probe = rustix::fs::open("/", rustix::fs::OFlags::PATH, rustix::fs::Mode::empty())
            .expect("open /");
        if probe.as_raw_fd() == fd {
            return fillers;
        }
        assert!(probe.as_raw_fd() < fd, "no hole at {fd}");
        fillers.push(probe);
    }
}

/// After `fork`, the thread's directory of the parent (`thread-self/fd` of the parent's thread)
/// shows the parent's table: the child must read its own. The parent holds `decoy` at the
/// number the child's `openat2` gets, so a stale directory would answer `/decoy`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn forked_child_reads_its_own_fd_table() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    // Fill this thread's cache.
    assert!(eval(&root, "l/sub/file", EvalMode::Full).1);
    let decoy = rustix::fs::open(
        f.root.join("decoy"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open decoy");
    let number = decoy.as_raw_fd();
    in_child(|| {
        let _fillers = free_lowest(number);
        // SAFETY: closes the probe that took `number`, so openat2 gets it next.
        unsafe { libc::close(number) };
        let (got, by_kernel) = eval(&root, "l/sub/file", EvalMode::Full);
        assert_eq!(got.as_deref(), Ok(Path::new("/d/sub/file")));
        assert!(by_kernel, "the child's kernel path did not answer");
    });
    drop(decoy);
}

/// A thread that unshared its fd table (`unshare(CLONE_FILES)`) holds other files under the
/// same numbers than the thread-group leader, whose table `self/fd` shows. The leader holds
/// `decoy` at the number the thread's `openat2` gets.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn thread_with_its_own_fd_table() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root).expect("root");
    let decoy = rustix::fs::open(
        f.root.join("decoy"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open decoy");
    let number = decoy.as_raw_fd();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshares only this thread's fd table (a copy of the process's).
            assert_eq!(unsafe { libc::unshare(libc::CLONE_FILES) }, 0, "unshare");
            let fillers = free_lowest(number);
            // SAFETY: closes the probe that took `number` in this thread's table.
            unsafe { libc::close(number) };
            let (got, by_kernel) = eval(&root, "l/sub/file", EvalMode::Full);
            drop(fillers);
            assert_eq!(got.as_deref(), Ok(Path::new("/d/sub/file")));
            assert!(by_kernel, "the kernel's path did not answer");
            done.store(true, Ordering::Relaxed);
        });
    });
    assert!(done.load(Ordering::Relaxed));
    drop(decoy);
}

/// A root that is a bind mount, a root inside a bind mount, and a root on a detached mount
/// (`open_tree(OPEN_TREE_CLONE)`, whose `d_path` is relative to the detached mount and unmarked):
/// the prefix logic holds for all three.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn roots_on_other_mounts() {
    procroot_testutil::require_privilege("bind mounts in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let f = fixture();
        let bound = f.top.join("bound");
        std::fs::create_dir(&bound).expect("mkdir");
        procroot_testutil::mount_raw(
            Some(f.top.to_str().expect("utf-8")),
            &bound,
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind mount");
        check_cases(
            &Root::open(bound.join("root")).expect("root"),
            "in a bind mount",
            true,
        );
        let bound_root = f.top.join("bound_root");
        std::fs::create_dir(&bound_root).expect("mkdir");
        procroot_testutil::mount_raw(
            Some(f.root.to_str().expect("utf-8")),
            &bound_root,
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind mount");
        check_cases(
            &Root::open(&bound_root).expect("root"),
            "a bind mount",
            true,
        );
        let detached: OwnedFd = rustix::mount::open_tree(
            rustix::fs::CWD,
            &f.root,
            rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
                | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .expect("open_tree");
        check_cases(
            &Root::from_fd(detached).expect("root"),
            "a detached mount",
            true,
        );
    });
}

/// Without a detached procfs instance (only a plain `open("/proc")` left), the kernel's path is
/// not read (a `/proc` others can mount on could serve a fake link): the walk answers.
#[test]
fn no_detached_procfs_means_the_walk() {
    in_child(|| {
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        let f = fixture();
        check_cases(&Root::open(&f.root).expect("root"), "plain /proc", false);
    });
}

/// Without `openat2`, the walk answers.
#[test]
fn no_openat2_means_the_walk() {
    in_child(|| {
        disable(Feature::Openat2);
        let f = fixture();
        check_cases(&Root::open(&f.root).expect("root"), "no openat2", false);
    });
}

/// `Root::eval_symlinks_in` gives `Root::open` + `eval_symlinks`'s answers and errors, for a
/// plain absolute root path (whose kernel path is then known) and for the others (relative,
/// with a symlink, with `..`, `/proc/self/root`-style), which are opened as `Root::open` does.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn eval_symlinks_in_agrees() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let link = f.top.join("rootlink");
    std::os::unix::fs::symlink("root", &link).expect("symlink");
    let cwd_relative = f.root.strip_prefix("/").expect("absolute").to_path_buf();
    let roots: Vec<(PathBuf, &str)> = vec![
        (f.root.clone(), "plain"),
        (
            PathBuf::from(format!("{}///", f.root.display())),
            "trailing slashes",
        ),
        (link.clone(), "symlink"),
        (f.top.join("outside/../root"), "dotdot"),
        (
            PathBuf::from(format!("/proc/self/root{}", f.root.display())),
            "magic link",
        ),
        (PathBuf::from("/").join(&cwd_relative), "plain again"),
    ];
    for (dir, label) in &roots {
        for policy in [Policy::InRoot, Policy::InRootStrict, Policy::Beneath] {
            let held = Root::open(dir).expect("root").with_policy(policy);
            for &(path, mode, _) in CASES.iter().chain(&[
                ("missing/x", EvalMode::Full, ""),
                ("d/up/..", EvalMode::Full, ""),
                ("d/sub/file/x", EvalMode::ExceptLast, ""),
            ]) {
                let want = held.eval_symlinks(path, mode).map_err(|e| e.to_string());
                let want_kernel = policy == Policy::InRoot && want.is_ok();
                let mut by_kernel = false;
                for _ in 0..KERNEL_TRIES {
                    let before = eval_symlinks_kernel_answers();
                    let got =
                        Root::eval_symlinks_in(dir, path, policy, mode).map_err(|e| e.to_string());
                    by_kernel = eval_symlinks_kernel_answers() > before;
                    assert_eq!(got, want, "{label} {policy:?}: {path:?} {mode:?}");
                    if by_kernel || !want_kernel {
                        break;
                    }
                }
                assert!(
                    by_kernel || !want_kernel,
                    "{label}: {path:?} {mode:?}: not the kernel's path"
                );
            }
        }
    }
    // A root that cannot be opened: Root::open's error.
    let missing = f.top.join("missing");
    assert_eq!(
        Root::eval_symlinks_in(&missing, "a", Policy::InRoot, EvalMode::Full)
            .map_err(|e| e.to_string()),
        Root::open(&missing)
            .map(|_| PathBuf::new())
            .map_err(|e| e.to_string())
    );
}

/// `Root::eval_symlinks_in` while the root is renamed to and fro: the root's path it knows from
/// the open may be stale by the time the file's is read; that must show as a mismatch (the walk
/// answers), never as another answer. `ENOENT` when the root was away at the open.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn eval_symlinks_in_with_the_root_renamed() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let other = f.top.join("other");
    let rounds = procroot_testutil::race_rounds(3000, 100_000);
    let mut flip = false;
    let (counts, renames) = procroot_testutil::with_racing_thread(
        || {
            flip = !flip;
            let (a, b) = if flip {
                (&f.root, &other)
            } else {
                (&other, &f.root)
            };
            std::fs::rename(a, b).is_ok()
        },
        || {
            let mut counts = [0u32; 3]; // kernel's path, walk, ENOENT
                                        // On a loaded machine a whole batch of fast ENOENT calls can fit in one time slice
                                        // while the renaming thread waits for a CPU with the root away: go on (bounded)
                                        // until a call has met the root in place, so the race is really exercised.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let mut calls = 0;
            while calls < rounds || (counts[0] == 0 && std::time::Instant::now() < deadline) {
                calls += 1;
                let before = eval_symlinks_kernel_answers();
                match Root::eval_symlinks_in(&f.root, "l/sub/file", Policy::InRoot, EvalMode::Full)
                {
                    Ok(got) => {
                        assert_eq!(got, Path::new("/d/sub/file"));
                        counts[usize::from(eval_symlinks_kernel_answers() == before)] += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.errno(), Errno::NOENT, "{e}");
                        counts[2] += 1;
                    }
                }
            }
            counts
        },
    );
    eprintln!(
        "{rounds} calls, {renames} renames: {} by the kernel's path, {} by the walk, {} ENOENT",
        counts[0], counts[1], counts[2]
    );
    assert!(renames > 0 && counts[0] > 0, "the race did not happen");
}

/// procfsroot's `EvalExceptLast` leaves only a last name with nothing after it unresolved: a
/// trailing slash makes it a directory to resolve, on both backends, and through
/// `resolve_except_last` and `eval_symlinks_in` alike (issue 21, item 4).
#[test]
fn except_last_with_a_trailing_slash_resolves_the_name() {
    let f = fixture();
    std::fs::write(f.root.join("d/plain"), b"").expect("write");
    for backend in [Backend::Auto, Backend::Emulated] {
        let root = Root::open(&f.root).expect("root").with_backend(backend);
        let cases: [(&str, Result<&str, Errno>); 6] = [
            ("d/plain/", Err(Errno::NOTDIR)),
            ("d/missing/", Err(Errno::NOENT)),
            ("l/", Ok("/d")),
            ("l/sub//", Ok("/d/sub")),
            ("d/missing", Ok("/d/missing")),
            ("l", Ok("/l")),
        ];
        for (path, want) in cases {
            let want = want.map(PathBuf::from);
            let got = root
                .eval_symlinks(path, EvalMode::ExceptLast)
                .map_err(|e| e.errno());
            assert_eq!(
                got, want,
                "{backend:?}: eval_symlinks({path:?}, ExceptLast)"
            );
            let got = root
                .resolve_except_last(path)
                .and_then(|x| x.path_in_root())
                .map_err(|e| e.errno());
            assert_eq!(got, want, "{backend:?}: resolve_except_last({path:?})");
            let got = Root::eval_symlinks_in(&f.root, path, Policy::InRoot, EvalMode::ExceptLast)
                .map_err(|e| e.errno());
            assert_eq!(got, want, "eval_symlinks_in({path:?}, ExceptLast)");
        }
    }
}

/// A kernel-backend handle's `Handle::path_in_root` comes from the same service as
/// `eval_symlinks`: the kernel's path of the file the handle holds, verified by (mount id, dev,
/// ino), so it names that file wherever it has been moved since. The old input now leads to a
/// decoy (same layout, another inode): the walk alone could never answer (`EAGAIN` after its
/// retries), and must never name the decoy.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn handle_path_is_the_held_files_path() {
    procroot_testutil::require_privilege(KERNEL_PATH);
    let f = fixture();
    let root = Root::open(&f.root)
        .expect("root")
        .with_backend(Backend::Kernel);
    let handle = root.resolve("l/sub/file").expect("resolve");
    std::fs::rename(f.root.join("d"), f.root.join("moved")).expect("rename");
    std::fs::create_dir_all(f.root.join("d/sub")).expect("mkdir");
    std::fs::write(f.root.join("d/sub/file"), b"decoy").expect("write");
    assert_eq!(
        handle.path_in_root().expect("path_in_root"),
        Path::new("/moved/sub/file")
    );
}

/// Without a detached procfs the handle's path is the walk's, which must reach the very file
/// the handle holds: the same input leading to a decoy is `EAGAIN`, never the decoy's path.
#[test]
fn handle_path_without_the_kernels_path_is_the_pinned_walk() {
    in_child(|| {
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        let f = fixture();
        let root = Root::open(&f.root)
            .expect("root")
            .with_backend(Backend::Kernel);
        let kept = root.resolve("l/sub/file").expect("resolve");
        assert_eq!(kept.path_in_root().expect("path"), Path::new("/d/sub/file"));
        let moved = root.resolve("l/sub/file").expect("resolve");
        std::fs::rename(f.root.join("d"), f.root.join("moved")).expect("rename");
        std::fs::create_dir_all(f.root.join("d/sub")).expect("mkdir");
        std::fs::write(f.root.join("d/sub/file"), b"decoy").expect("write");
        assert_eq!(
            moved.path_in_root().map_err(|e| e.errno()),
            Err(Errno::AGAIN)
        );
    });
}
