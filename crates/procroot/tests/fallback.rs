//! The `Backend::Auto` fallback from `openat2(2)` to the emulated walker.
//!
//! A seccomp filter in a forked child takes `openat2` away (with `ENOSYS`, as a kernel before 5.6
//! or a modern profile would, or with `EPERM`, as Docker's old default profile did). `Auto` must
//! then answer correctly through the emulated walker and say so, and `Kernel` must refuse with
//! `ErrorKind::NotSupported`. Without a filter, `Auto` is the kernel.
//!
//! The fd-only fast path (`Root::resolve_fd`) makes its first `openat2` inline and hands any
//! failure to the general resolver: it is held to the same answers here, including when it is
//! the first to meet the filter, and when the filter makes `openat2` answer `EAGAIN`, `ELOOP`,
//! `EXDEV` or `EACCES` for everything (the emulated walker re-examines the first two, never the
//! others).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use procroot::{Backend, BackendUsed, Error, ErrorKind, EvalMode, OFlags, Policy, Root};
use procroot_testutil::{deny_syscalls, fd_identity, in_child, Tree, SYS_OPENAT2};
use rustix::io::Errno;

fn tree() -> Tree {
    Tree::new(
        "
        file a/b/c hello
        symlink abs /a/b/c
        symlink link a/b
        symlink up ../..
        symlink self self
        ",
    )
}

fn ident_of(tree: &Tree, in_root: &str) -> (u64, u64) {
    let md = std::fs::symlink_metadata(tree.join(in_root.trim_start_matches('/')))
        .expect("lstat expected object");
    (md.dev(), md.ino())
}

/// `(policy, path, expected in-root path or errno)`: what `Auto` must give, kernel or not.
fn cases() -> Vec<(Policy, &'static str, Result<&'static str, Errno>)> {
    vec![
        (Policy::InRoot, "a/b/c", Ok("/a/b/c")),
        (Policy::InRoot, "/a/b/c", Ok("/a/b/c")),
        (Policy::InRoot, "abs", Ok("/a/b/c")),
        (Policy::InRoot, "link/", Ok("/a/b")),
        (Policy::InRoot, "up/a", Ok("/a")),
        (Policy::InRoot, "..", Ok("/")),
        (Policy::InRoot, "self", Err(Errno::LOOP)),
        (Policy::InRoot, "missing", Err(Errno::NOENT)),
        (Policy::InRoot, "a/b/c/d", Err(Errno::NOTDIR)),
        (Policy::InRootStrict, "abs", Ok("/a/b/c")),
        (Policy::InRootStrict, "up/a", Err(Errno::XDEV)),
        (Policy::Beneath, "link/c", Ok("/a/b/c")),
        (Policy::Beneath, "abs", Err(Errno::XDEV)),
        (Policy::Beneath, "/a", Err(Errno::XDEV)),
        (Policy::Beneath, "up/a", Err(Errno::XDEV)),
    ]
}

/// Runs `cases()` with `Backend::Auto` and checks each answer and which backend gave it
/// (`want_backend`). Even with the kernel available, a strict-policy `EXDEV` is re-examined by the
/// emulated walker (documented in `resolve`), so the strict absolute-symlink answer comes from it.
fn check_auto(tree: &Tree, want_backend: BackendUsed) {
    let base = Root::open(tree.path()).expect("open root");
    for (policy, path, want) in cases() {
        let root = base.clone().with_policy(policy).with_backend(Backend::Auto);
        let got = root.resolve(path);
        let case = format!("Auto {policy:?} resolve({path:?})");
        match (want, got) {
            (Ok(want), Ok(handle)) => {
                assert_eq!(
                    fd_identity(&handle),
                    ident_of(tree, want),
                    "{case}: wrong object (expected the one at {want})"
                );
                assert_eq!(
                    handle.path_in_root().expect("path_in_root"),
                    Path::new(want),
                    "{case}: path_in_root"
                );
                let strict_via_emulation = policy == Policy::InRootStrict && path == "abs";
                let expected_backend = if strict_via_emulation {
                    BackendUsed::Emulated
                } else {
                    want_backend
                };
                assert_eq!(handle.backend(), expected_backend, "{case}: backend used");
            }
            (Err(want), Err(e)) => {
                assert_eq!(
                    e.errno(),
                    want,
                    "{case}: expected {}, got {e}",
                    procroot::error::errno_name(want)
                );
            }
            (want, got) => panic!("{case}: expected {want:?}, got {got:?}"),
        }
        same_as_handle(&root, path, &case);
    }
    // Operations built on the resolver fall back too.
    let root = base.clone().with_policy(Policy::InRootStrict);
    assert_eq!(
        root.eval_symlinks("/abs", EvalMode::Full)
            .expect("eval_symlinks Full"),
        Path::new("/a/b/c")
    );
    assert_eq!(
        root.eval_symlinks("/link/new", EvalMode::ExceptLast)
            .expect("eval_symlinks ExceptLast"),
        Path::new("/a/b/new")
    );
    let (parent, name) = base.resolve_parent("link/new").expect("resolve_parent");
    assert_eq!(fd_identity(&parent), ident_of(tree, "/a/b"));
    assert_eq!(name.as_deref(), Some(OsStr::from_bytes(b"new")));
    let mut contents = String::new();
    std::io::Read::read_to_string(
        &mut base
            .open_file("abs", OFlags::RDONLY)
            .expect("open_file abs"),
        &mut contents,
    )
    .expect("read");
    assert_eq!(contents, "hello");
}

/// `Root::resolve_fd` and `resolve_fd_nofollow` give what `resolve` and `resolve_nofollow` give:
/// the same object, or the same errno, kind and message.
fn same_as_handle(root: &Root, path: &str, case: &str) {
    fn outcome<T: std::os::fd::AsFd>(r: Result<T, Error>) -> Result<(u64, u64), String> {
        r.map(|fd| fd_identity(fd))
            .map_err(|e| format!("{} {:?} {e}", e.errno_name(), e.kind()))
    }
    assert_eq!(
        outcome(root.resolve_fd(path)),
        outcome(root.resolve(path)),
        "{case}: resolve_fd differs from resolve"
    );
    assert_eq!(
        outcome(root.resolve_fd_nofollow(path)),
        outcome(root.resolve_nofollow(path)),
        "{case}: resolve_fd_nofollow differs from resolve_nofollow"
    );
}

/// `Backend::Kernel` with `openat2` filtered away with `errno`: `NotSupported` with that errno
/// (a filter's `EPERM` is not reported as `ENOSYS`) and a message naming openat2, never a wrong
/// answer and never a silent fallback.
fn check_kernel_refuses(tree: &Tree, errno: i32) {
    let root = Root::open(tree.path())
        .expect("open root")
        .with_backend(Backend::Kernel);
    for policy in [Policy::InRoot, Policy::InRootStrict, Policy::Beneath] {
        let err = root
            .clone()
            .with_policy(policy)
            .resolve("a/b/c")
            .expect_err("the kernel backend cannot work without openat2");
        assert_eq!(
            err.kind(),
            ErrorKind::NotSupported,
            "Kernel {policy:?}: expected NotSupported, got {err}"
        );
        assert_eq!(
            err.errno(),
            Errno::from_raw_os_error(errno),
            "Kernel {policy:?}: the real errno, got {err}"
        );
        assert!(err.to_string().contains("openat2"), "{err}");
        let err = root
            .clone()
            .with_policy(policy)
            .resolve_fd("a/b/c")
            .expect_err("the kernel backend cannot work without openat2");
        assert_eq!(
            err.kind(),
            ErrorKind::NotSupported,
            "Kernel {policy:?} resolve_fd: expected NotSupported, got {err}"
        );
        assert_eq!(
            err.errno(),
            Errno::from_raw_os_error(errno),
            "Kernel {policy:?} resolve_fd: the real errno, got {err}"
        );
    }
    let err = root
        .open_file("a/b/c", OFlags::RDONLY)
        .expect_err("open_file on the kernel backend");
    assert_eq!(err.kind(), ErrorKind::NotSupported, "open_file: got {err}");
    // `eval_symlinks`' kernel answer is a shortcut the walk checks, not a backend of its own:
    // the kernel refused, so the walk answers, on this backend too.
    assert_eq!(
        root.eval_symlinks("/abs", EvalMode::Full)
            .expect("eval_symlinks on the kernel backend without openat2"),
        Path::new("/a/b/c")
    );
    assert_eq!(
        Root::eval_symlinks_in(
            tree.path(),
            "/link/new",
            Policy::InRoot,
            EvalMode::ExceptLast
        )
        .expect("eval_symlinks_in without openat2"),
        Path::new("/a/b/new")
    );
}

/// The filter really is in place: a raw `openat2` fails with `errno`.
fn assert_openat2_denied(errno: i32) {
    let raw = rustix::fs::openat2(
        rustix::fs::CWD,
        "/",
        OFlags::PATH | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        rustix::fs::ResolveFlags::IN_ROOT,
    );
    assert_eq!(
        raw.map(drop),
        Err(Errno::from_raw_os_error(errno)),
        "the seccomp filter should make openat2 fail"
    );
}

fn falls_back(errno: i32, kernel_first: bool) {
    let tree = tree();
    in_child(|| {
        // Before the filter, Auto is the kernel (and nothing about that success is cached).
        let root = Root::open(tree.path()).expect("open root");
        assert_eq!(
            root.resolve("a/b/c").expect("resolve").backend(),
            BackendUsed::Kernel
        );
        deny_syscalls(&[SYS_OPENAT2], errno);
        assert_openat2_denied(errno);
        if kernel_first {
            check_kernel_refuses(&tree, errno);
            check_auto(&tree, BackendUsed::Emulated);
        } else {
            check_auto(&tree, BackendUsed::Emulated);
            check_kernel_refuses(&tree, errno);
        }
        // Again, now that the failure is remembered.
        check_auto(&tree, BackendUsed::Emulated);
        check_kernel_refuses(&tree, errno);
    });
}

#[test]
fn auto_uses_the_kernel_without_a_filter() {
    let tree = tree();
    check_auto(&tree, BackendUsed::Kernel);
    let root = Root::open(tree.path())
        .expect("open root")
        .with_backend(Backend::Kernel);
    assert_eq!(
        root.resolve("a/b/c").expect("resolve").backend(),
        BackendUsed::Kernel
    );
}

#[test]
fn enosys_falls_back_to_emulated() {
    falls_back(libc::ENOSYS, false);
}

#[test]
fn enosys_kernel_backend_refuses_first() {
    falls_back(libc::ENOSYS, true);
}

#[test]
fn seccomp_eperm_falls_back_to_emulated() {
    falls_back(libc::EPERM, false);
}

#[test]
fn seccomp_eperm_kernel_backend_refuses_first() {
    falls_back(libc::EPERM, true);
}

/// Only `ENOSYS` and a filter's `EPERM` mean "unavailable" (docs/ARCHITECTURE.md). Any other errno
/// from `openat2` is the answer, reported as is, not papered over by the emulated walker.
#[test]
fn other_errnos_are_not_a_fallback() {
    let tree = tree();
    in_child(|| {
        deny_syscalls(&[SYS_OPENAT2], libc::EACCES);
        assert_openat2_denied(libc::EACCES);
        let root = Root::open(tree.path()).expect("open root");
        for backend in [Backend::Auto, Backend::Kernel] {
            let err = root
                .clone()
                .with_backend(backend)
                .resolve("a/b/c")
                .expect_err("EACCES is reported");
            assert_eq!(err.errno(), Errno::ACCESS, "{backend:?}: got {err}");
        }
        // The emulated backend does not use openat2 at all.
        let handle = root
            .clone()
            .with_backend(Backend::Emulated)
            .resolve("a/b/c")
            .expect("emulated resolve");
        assert_eq!(handle.backend(), BackendUsed::Emulated);
        assert_eq!(fd_identity(&handle), ident_of(&tree, "/a/b/c"));
    });
}

// ---- pidfds -------------------------------------------------------------------------------

/// `pidfd_open` refused (a kernel before 5.3 has none; a filter may answer `EPERM`): the error
/// keeps the real errno and names `pidfd_open`, instead of a bare `EPERM`/`ENOSYS`.
#[test]
fn pidfd_open_refused_is_named() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        in_child(|| {
            deny_syscalls(&[libc::SYS_pidfd_open], errno);
            let err = procroot::PidFd::open(std::process::id()).expect_err("pidfd_open denied");
            assert_eq!(err.errno(), Errno::from_raw_os_error(errno), "{err}");
            assert!(err.to_string().contains("pidfd_open"), "{err}");
            let err = Root::for_pid(std::process::id()).expect_err("for_pid without pidfds");
            assert_eq!(err.errno(), Errno::from_raw_os_error(errno), "{err}");
            assert!(err.to_string().contains("pidfd_open"), "{err}");
        });
    }
}

/// Liveness without signal permission: with `pidfd_send_signal` refused (as `EPERM`, which is
/// also what an unprivileged caller gets for another user's process), a live process is alive
/// and a reaped one is gone. Never "exited" for a live process.
#[test]
fn liveness_needs_no_signal_permission() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        let mut live = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let mut dead = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let live_pidfd = procroot::PidFd::open(live.id()).expect("pidfd of sleep");
        let dead_pidfd = procroot::PidFd::open(dead.id()).expect("pidfd of true");
        dead.wait().expect("wait true");
        in_child(|| {
            deny_syscalls(&[libc::SYS_pidfd_send_signal], errno);
            assert!(live_pidfd.is_alive(), "a live process reported as exited");
            assert!(!dead_pidfd.is_alive(), "a reaped process reported as alive");
            let procfs = procroot::Procfs::cached().expect("procfs");
            let status = procfs
                .read_to_string(procroot::ProcBase::PidFd(&live_pidfd), "status")
                .expect("status of a live process");
            assert!(status.starts_with("Name:\tsleep\n"), "{status}");
            let err = procfs
                .read_to_string(procroot::ProcBase::PidFd(&dead_pidfd), "status")
                .expect_err("status of a reaped process");
            assert_eq!(err.errno(), Errno::SRCH, "{err}");
        });
        live.kill().expect("kill sleep");
        live.wait().expect("wait sleep");
    }
}

// ---- statx --------------------------------------------------------------------------------

/// With `statx` refused (`ENOSYS` as before Linux 4.11, or a filter's `EPERM`), mount ids come
/// from `fdinfo` (`mnt_id:`) read through the hardened procfs: the procfs handle, `NO_XDEV`
/// walks and `remove_all` keep working. They used to fail with a bare `ENOSYS`, even under
/// `EPERM`.
#[test]
fn statx_refused_falls_back_to_fdinfo() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let tree = tree();
        tree.write("doomed/x/y", b"y");
        tree.write("doomed/z", b"z");
        // std's metadata calls use statx too: look before the filter.
        let want = ident_of(&tree, "/a/b/c");
        in_child(|| {
            deny_syscalls(&[libc::SYS_statx], errno);
            // The procfs handle, with a magic link (which needs the mount-id checks).
            let procfs = procroot::Procfs::new().expect("Procfs::new without statx");
            let status = procfs
                .read_to_string(procroot::ProcBase::SelfProcess, "status")
                .expect("self/status");
            assert!(status.starts_with("Name:"), "{status}");
            let exe = procfs
                .readlink(procroot::ProcBase::SelfProcess, "exe")
                .expect("readlink self/exe without statx");
            assert_eq!(exe, std::env::current_exe().unwrap());
            // NO_XDEV on the emulated walker: a mount id per component.
            let root = Root::open(tree.path()).expect("open root");
            let handle = root
                .clone()
                .with_backend(Backend::Emulated)
                .with_flags(procroot::ResolveFlags::NO_XDEV)
                .resolve("link/c")
                .expect("emulated NO_XDEV without statx");
            assert_eq!(fd_identity(&handle), want);
            // remove_all stays on its mount by mount id.
            root.remove_all("doomed").expect("remove_all without statx");
            assert_eq!(
                rustix::fs::access(tree.join("doomed"), rustix::fs::Access::EXISTS),
                Err(Errno::NOENT)
            );
        });
    }
}

/// With both `statx` and `openat2` refused there is no safe way to learn mount ids (the
/// `fdinfo` read needs a `NO_XDEV` walk itself): the error keeps `statx`'s real errno and, where
/// the library reports it directly, names `statx`.
#[test]
fn statx_and_openat2_refused_is_named() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let tree = tree();
        tree.mkdir("doomed/x");
        in_child(|| {
            deny_syscalls(&[libc::SYS_statx, SYS_OPENAT2], errno);
            let want = Errno::from_raw_os_error(errno);
            let root = Root::open(tree.path()).expect("open root");
            let err = root
                .clone()
                .with_backend(Backend::Emulated)
                .with_flags(procroot::ResolveFlags::NO_XDEV)
                .resolve("a/b/c")
                .expect_err("no mount ids at all");
            assert_eq!(err.errno(), want, "errno {errno}: {err}");
            assert_eq!(err.syscall(), Some("statx"), "{err}");
            let err = root
                .remove_all("doomed")
                .expect_err("remove_all without mount ids");
            assert_eq!(err.errno(), want, "{err}");
            assert!(err.to_string().contains("statx(2)"), "{err}");
            assert_eq!(err.syscall(), Some("statx"), "{err}");
        });
    }
}

/// The fast path is the first to meet the filter: its failed `openat2` must be classified (and
/// remembered) as the general resolver would, so that `Auto` falls back and `Kernel` refuses.
fn fast_path_meets_the_filter_first(errno: i32) {
    let tree = tree();
    in_child(|| {
        deny_syscalls(&[SYS_OPENAT2], errno);
        assert_openat2_denied(errno);
        let root = Root::open(tree.path()).expect("open root");
        let err = root
            .clone()
            .with_backend(Backend::Kernel)
            .resolve_fd("abs")
            .expect_err("the kernel backend cannot work without openat2");
        assert_eq!(err.kind(), ErrorKind::NotSupported, "Kernel: got {err}");
        let fd = root.resolve_fd("abs").expect("Auto resolve_fd falls back");
        assert_eq!(fd_identity(&fd), ident_of(&tree, "/a/b/c"));
        let fd = root
            .resolve_fd_nofollow("abs")
            .expect("Auto resolve_fd_nofollow");
        assert_eq!(fd_identity(&fd), ident_of(&tree, "/abs"));
        check_auto(&tree, BackendUsed::Emulated);
    });
}

#[test]
fn enosys_fast_path_falls_back() {
    fast_path_meets_the_filter_first(libc::ENOSYS);
}

#[test]
fn seccomp_eperm_fast_path_falls_back() {
    fast_path_meets_the_filter_first(libc::EPERM);
}

/// A filter makes every `openat2` answer `errno`. The fast path must hand that answer to the
/// general resolver exactly as `resolve` treats its own: `EAGAIN` (after the retries) goes to
/// the emulated walker, which answers (`self` is a real loop); `ELOOP`, `EXDEV` and `EACCES`
/// under these policies are the kernel's final word, never turned into a success.
fn fast_path_hands_on(errno: i32, want: &[(&str, Result<&str, Errno>)]) {
    let tree = tree();
    in_child(|| {
        deny_syscalls(&[SYS_OPENAT2], errno);
        assert_openat2_denied(errno);
        let base = Root::open(tree.path()).expect("open root");
        for backend in [Backend::Kernel, Backend::Auto] {
            for policy in [Policy::InRoot, Policy::Beneath] {
                let root = base.clone().with_backend(backend).with_policy(policy);
                for &(path, want) in want {
                    let case = format!("openat2 -> errno {errno}: {backend:?} {policy:?} {path:?}");
                    match (want, root.resolve_fd(path)) {
                        (Ok(want), Ok(fd)) => {
                            assert_eq!(fd_identity(&fd), ident_of(&tree, want), "{case}");
                        }
                        (Err(want), Err(e)) => assert_eq!(e.errno(), want, "{case}: got {e}"),
                        (want, got) => panic!("{case}: expected {want:?}, got {got:?}"),
                    }
                    same_as_handle(&root, path, &case);
                }
            }
        }
    });
}

#[test]
fn fast_path_eagain_goes_to_the_walker() {
    fast_path_hands_on(
        libc::EAGAIN,
        &[
            ("a/b/c", Ok("/a/b/c")),
            ("self", Err(Errno::LOOP)),
            ("missing", Err(Errno::NOENT)),
        ],
    );
}

#[test]
fn fast_path_kernel_refusals_stay_refusals() {
    // ELOOP too: the walker once "confirmed" it, and so turned a kernel refusal it judged
    // differently (a symlink bind-mounted onto itself with MS_NOSYMFOLLOW) into a success.
    for errno in [libc::ELOOP, libc::EXDEV, libc::EACCES] {
        let refused = Errno::from_raw_os_error(errno);
        fast_path_hands_on(errno, &[("a/b/c", Err(refused)), ("missing", Err(refused))]);
    }
}
