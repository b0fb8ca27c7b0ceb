//! `Root::eval_symlinks` never trusts `d_path`: every case where the kernel prints a path that is
//! not the file's path in our root, without marking it, must give the emulated walk's answer
//! (issue 21, section 2). Each case runs on every backend (`Auto`, `Kernel`, `Emulated`) and
//! expects the walk's answer, written out literally:
//! - an escaped bind mount (a root whose directory was moved out of the bind mount's subtree),
//!   and its race form (a thread swaps the directory in and out);
//! - a detached mount under a root `/`, mounted and detached by a thread;
//! - a chrooted caller whose root fd is outside its chroot;
//! - a fork into a new PID namespace whose child has the parent's tid (1), covering
//!   `Procfs::fd_link` too (an xattr set through it);
//! - an overmounted root (a root fd kept, then something mounted on its directory).
//!
//! Everything that mounts runs in a private mount namespace.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procroot::testing::eval_symlinks_kernel_answers;
use procroot::{Backend, EvalMode, ResolveFlags, Root};
use procroot_testutil::{
    fd_identity, identity, in_child, in_private_mount_ns, mount_raw, require_privilege,
    with_racing_thread,
};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

const BACKENDS: [Backend; 3] = [Backend::Auto, Backend::Kernel, Backend::Emulated];

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("procroot-evalv-")
        .tempdir()
        .expect("tempdir")
}

fn open_path(path: &Path) -> OwnedFd {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("open")
}

fn eval(root: &Root, path: &str, mode: EvalMode) -> Result<PathBuf, Errno> {
    root.eval_symlinks(path, mode).map_err(|e| e.errno())
}

/// Checks `cases` (path, mode, the walk's answer) on every backend of `root`.
fn check(root: &Root, label: &str, cases: &[(&str, EvalMode, Result<&str, Errno>)]) {
    for backend in BACKENDS {
        let root = root.clone().with_backend(backend);
        for &(path, mode, want) in cases {
            let got = eval(&root, path, mode);
            assert_eq!(
                got.as_deref().map_err(|e| *e),
                want.map(Path::new),
                "{label}, {backend:?}: {path:?} {mode:?}"
            );
        }
    }
}

/// The string `path` as `&str` (tests use UTF-8 temp paths).
fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Bind-mounts `top/src/sub` on `top/m`.
fn bind_sub_on_m(top: &Path) {
    let source = top.join("src/sub");
    mount_raw(Some(s(&source)), top.join("m"), None, libc::MS_BIND, None).expect("bind mount");
}

/// A bind mount of `src/sub` on `m`; the root is an fd of `m/d`, whose directory is then moved
/// to `src/moved`, out of the bind mount's subtree: `d_path` of the root and of every file below
/// it is then relative to the file system, unmarked (the issue saw `/` for all of them).
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn escaped_bind_mount() {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        let dir = tempdir();
        let top = dir.path();
        std::fs::create_dir_all(top.join("src/sub/d/a/b")).unwrap();
        std::fs::write(top.join("src/sub/d/a/b/f"), b"f").unwrap();
        std::os::unix::fs::symlink("a/b", top.join("src/sub/d/link")).unwrap();
        std::fs::create_dir(top.join("m")).unwrap();
        bind_sub_on_m(top);
        let fd = open_path(&top.join("m/d"));
        std::fs::rename(top.join("src/sub/d"), top.join("src/moved")).unwrap();
        let root = Root::from_fd(fd).expect("root");
        check(
            &root,
            "escaped bind mount",
            &[
                ("a/b/f", EvalMode::Full, Ok("/a/b/f")),
                ("link", EvalMode::Full, Ok("/a/b")),
                ("a", EvalMode::Full, Ok("/a")),
                ("", EvalMode::Full, Ok("/")),
                ("link/new", EvalMode::ExceptLast, Ok("/a/b/new")),
                ("a/b/f", EvalMode::ExceptLast, Ok("/a/b/f")),
            ],
        );
    });
}

/// Runs `call` until `calls` calls are made or `limit` passes (a loaded machine), and returns
/// how many were made.
fn bounded(calls: usize, limit: Duration, mut call: impl FnMut()) -> usize {
    let start = Instant::now();
    let mut made = 0;
    while made < calls && start.elapsed() < limit {
        call();
        made += 1;
    }
    made
}

/// The race form: root `/`; a thread swaps `src/sub/d` and `src/d` (`RENAME_EXCHANGE`), so that
/// the directory found through `m/d` (`m` a bind mount of `src/sub`) is at times outside the
/// bind mount's subtree. Every answer must be `m/d/e/f`, the walk's; the issue saw `/`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn escaped_bind_mount_race() {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        let dir = tempdir();
        let top = dir.path().to_path_buf();
        for d in ["src/sub/d/e", "src/d/e", "m"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("src/sub/d/e/f"), b"1").unwrap();
        std::fs::write(top.join("src/d/e/f"), b"2").unwrap();
        bind_sub_on_m(&top);
        let want = top.join("m/d/e/f");
        let (a, b) = (top.join("src/sub/d"), top.join("src/d"));
        for backend in [Backend::Auto, Backend::Kernel] {
            let root = Root::open("/").expect("root").with_backend(backend);
            let before = eval_symlinks_kernel_answers();
            let ((made, wrong), swaps) = with_racing_thread(
                || {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &a,
                        rustix::fs::CWD,
                        &b,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .is_ok()
                },
                || {
                    let mut wrong = Vec::new();
                    let made = bounded(20_000, Duration::from_secs(10), || {
                        let got = eval(&root, s(&want), EvalMode::Full);
                        if got.as_deref() != Ok(want.as_path()) {
                            wrong.push(got);
                        }
                    });
                    (made, wrong)
                },
            );
            assert!(swaps > 0, "the race did not happen");
            assert!(
                wrong.is_empty(),
                "{backend:?}: {} of {made} answers were not {want:?}: {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(5)]
            );
            // The verification must not cost the fast path its use: most calls are still the
            // kernel's (the swap makes some of them walks).
            let by_kernel = eval_symlinks_kernel_answers() - before;
            assert!(
                by_kernel > 0,
                "{backend:?}: the kernel's path never answered"
            );
        }
    });
}

/// A detached mount under root `/` (`NO_SYMLINKS|NO_MAGICLINKS`): a thread mounts a tmpfs on
/// `m`, creates `d1/d2/x` in it and detaches it (`MNT_DETACH`); `d_path` of a file opened just
/// before is then relative to the detached mount (`/d1/d2/x`). Every answer must be `m/d1/d2/x`
/// or `ENOENT` (nothing mounted at that moment).
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn detached_mount_race() {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        let dir = tempdir();
        let m = dir.path().join("m");
        std::fs::create_dir(&m).unwrap();
        let want = m.join("d1/d2/x");
        let flags = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        for backend in [Backend::Auto, Backend::Kernel] {
            let root = Root::open("/")
                .expect("root")
                .with_flags(flags)
                .with_backend(backend);
            let ((made, wrong, found), cycles) = with_racing_thread(
                || {
                    if mount_raw(Some("tmpfs"), &m, Some("tmpfs"), 0, None).is_err() {
                        return false;
                    }
                    let _ = std::fs::create_dir_all(m.join("d1/d2"));
                    let _ = std::fs::write(m.join("d1/d2/x"), b"x");
                    let c = std::ffi::CString::new(s(&m)).unwrap();
                    // SAFETY: umount2 of a NUL-terminated path in this private namespace.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
                },
                || {
                    let (mut wrong, mut found) = (Vec::new(), 0usize);
                    let made = bounded(40_000, Duration::from_secs(5), || {
                        match eval(&root, s(&want), EvalMode::Full) {
                            Ok(p) if p == want => found += 1,
                            Err(Errno::NOENT) => {}
                            other => wrong.push(other),
                        }
                    });
                    (made, wrong, found)
                },
            );
            assert!(cycles > 0 && found > 0, "the race did not happen");
            assert!(
                wrong.is_empty(),
                "{backend:?}: {} of {made} answers were neither {want:?} nor ENOENT: {:?}",
                wrong.len(),
                &wrong[..wrong.len().min(5)]
            );
        }
    });
}

/// A caller that opened `/` and then `chroot`ed into `JAIL`: `d_path` is relative to the
/// caller's root, so `JAIL/etc/hostname` prints as `/etc/hostname` (a host path, another file)
/// and `JAIL` as `/`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (chroot)")]
fn chrooted_caller() {
    require_privilege("chroot");
    let dir = tempdir();
    let jail = dir.path().join("jail");
    std::fs::create_dir_all(jail.join("etc")).unwrap();
    std::fs::write(jail.join("etc/hostname"), b"jail\n").unwrap();
    in_child(|| {
        let fd = open_path(Path::new("/"));
        // An unchrooted process in the same mount namespace: its root is the real `/` too.
        let other = procroot_testutil::ForkedChild::spawn(|| {
            // SAFETY: pause(2) until the test kills this child.
            unsafe { libc::pause() };
            0
        });
        let c = std::ffi::CString::new(s(&jail)).unwrap();
        // SAFETY: chroot(2) with a NUL-terminated path that outlives the call, in a forked
        // child.
        assert_eq!(unsafe { libc::chroot(c.as_ptr()) }, 0, "chroot");
        // SAFETY: chdir(2) with a NUL-terminated literal.
        assert_eq!(unsafe { libc::chdir(c"/".as_ptr()) }, 0, "chdir");
        let from_fd = Root::from_fd(fd).expect("root");
        let for_pid = Root::for_pid(other.pid() as u32).expect("root of the other process");
        let hostname = jail.join("etc/hostname");
        for (label, root) in [("for_pid", &for_pid), ("from_fd", &from_fd)] {
            chrooted_cases(root, label, &jail, &hostname);
        }
        drop(other);
    });
}

/// [`chrooted_caller`]'s cases for one root.
fn chrooted_cases(root: &Root, label: &str, jail: &Path, hostname: &Path) {
    check(
        root,
        &format!("chrooted caller, {label}"),
        &[
            (s(hostname), EvalMode::Full, Ok(s(hostname))),
            (s(jail), EvalMode::Full, Ok(s(jail))),
            (
                s(&jail.join("etc")),
                EvalMode::Full,
                Ok(s(&jail.join("etc"))),
            ),
            (s(hostname), EvalMode::ExceptLast, Ok(s(hostname))),
        ],
    );
}

/// `unshare(CLONE_NEWPID)` and a fork (by the C library, so `pthread_atfork` handlers run).
fn in_new_pid_ns(f: impl FnOnce()) {
    // SAFETY: unshare(2) with CLONE_NEWPID only affects children forked after it.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0, "unshare");
    in_child(f);
}

/// Makes `fd`'s number the lowest free one of this fd table: closes it, and fills any lower
/// hole with fds that are returned (to be dropped after the check).
fn free_lowest(fd: i32) -> Vec<OwnedFd> {
    // SAFETY: `fd` is a number this table holds and nothing else uses here.
    assert_eq!(unsafe { libc::close(fd) }, 0, "close {fd}");
    let mut fillers = Vec::new();
    loop {
        let probe = rustix::fs::open("/", OFlags::PATH, Mode::empty()).expect("open /");
        if probe.as_raw_fd() == fd {
            return fillers;
        }
        assert!(probe.as_raw_fd() < fd, "no hole at {fd}");
        fillers.push(probe);
    }
}

/// PID 1 of a PID namespace evaluates once (keeping its `thread-self/fd`), then forks into a
/// new PID namespace: the child is PID 1, tid 1, too. The parent holds `victim` at the number
/// the child's next fd gets; a kept directory that survived the fork would read the parent's
/// fd there: `eval_symlinks` would answer `/victim`, and `set_xattr` (through
/// `Procfs::fd_link`) would set the parent's file's attribute.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (PID namespaces)")]
fn fork_with_the_same_tid() {
    require_privilege("PID namespaces");
    let dir = tempdir();
    let top = dir.path().to_path_buf();
    std::fs::create_dir(top.join("d")).unwrap();
    std::fs::write(top.join("d/file"), b"file").unwrap();
    std::fs::write(top.join("victim"), b"victim").unwrap();
    std::os::unix::fs::symlink("d", top.join("l")).unwrap();
    in_child(|| {
        in_new_pid_ns(|| {
            assert_eq!(rustix::process::getpid().as_raw_nonzero().get(), 1);
            let root = Root::open(&top).expect("root");
            let before = eval_symlinks_kernel_answers();
            assert_eq!(
                eval(&root, "l/file", EvalMode::Full).as_deref(),
                Ok(Path::new("/d/file"))
            );
            assert!(
                eval_symlinks_kernel_answers() > before,
                "the kernel's path never answered"
            );
            let victim = rustix::fs::open(
                top.join("victim"),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .expect("open victim");
            let number = victim.as_raw_fd();
            in_new_pid_ns(|| {
                assert_eq!(rustix::thread::gettid().as_raw_nonzero().get(), 1);
                let _fillers = free_lowest(number);
                for backend in BACKENDS {
                    let root = root.clone().with_backend(backend);
                    assert_eq!(
                        eval(&root, "l/file", EvalMode::Full).as_deref(),
                        Ok(Path::new("/d/file")),
                        "{backend:?}"
                    );
                }
                let before = eval_symlinks_kernel_answers();
                eval(&root, "l/file", EvalMode::Full).expect("eval");
                assert!(
                    eval_symlinks_kernel_answers() > before,
                    "the child's kernel path did not answer (its own directory was not opened)"
                );
                root.set_xattr("l/file", "user.procroot", b"child")
                    .expect("set_xattr");
                let mut buf = [0u8; 16];
                let got = rustix::fs::getxattr(top.join("victim"), "user.procroot", &mut buf);
                assert_eq!(got, Err(Errno::NODATA), "the parent's file was changed");
                let n = rustix::fs::getxattr(top.join("d/file"), "user.procroot", &mut buf)
                    .expect("the file's own xattr");
                assert_eq!(&buf[..n], b"child");
            });
            drop(victim);
        });
    });
}

/// An overmounted root: an fd of `r` is kept, then a tmpfs with `a/`, `d -> /z` and `onlyover`
/// is mounted on `r`. The kernel's `..` at the root steps onto the tmpfs (`a/../onlyover` found
/// it, `a/../d/f` went through its `d` to `r`'s `z/f`); the walker stays under the fd. Both
/// backends must give the walker's answers, for `eval_symlinks` and for `resolve`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn overmounted_root() {
    require_privilege("mounts in a private mount namespace");
    in_private_mount_ns(|| {
        let dir = tempdir();
        let r = dir.path().join("r");
        for d in ["a", "d", "z"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("d/f"), b"d").unwrap();
        std::fs::write(r.join("z/f"), b"z").unwrap();
        let under_df = identity(r.join("d/f"));
        let fd = open_path(&r);
        mount_raw(Some("tmpfs"), &r, Some("tmpfs"), 0, None).expect("mount tmpfs");
        std::fs::create_dir(r.join("a")).unwrap();
        std::os::unix::fs::symlink("/z", r.join("d")).unwrap();
        std::fs::write(r.join("onlyover"), b"over").unwrap();
        let root = Root::from_fd(fd).expect("root");
        check(
            &root,
            "overmounted root",
            &[
                ("a/../onlyover", EvalMode::Full, Err(Errno::NOENT)),
                ("a/../d/f", EvalMode::Full, Ok("/d/f")),
                ("..", EvalMode::Full, Ok("/")),
                ("a/../d/new", EvalMode::ExceptLast, Ok("/d/new")),
            ],
        );
        for backend in BACKENDS {
            let root = root.clone().with_backend(backend);
            let got = root.resolve("a/../d/f").expect("resolve");
            assert_eq!(fd_identity(&got), under_df, "{backend:?}: resolve");
            assert_eq!(
                root.resolve("a/../onlyover").map_err(|e| e.errno()).err(),
                Some(Errno::NOENT),
                "{backend:?}: resolve"
            );
        }
    });
}
