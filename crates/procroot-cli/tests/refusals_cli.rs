//! The kernel's refusals of a symlink through the `procroot` binary, on every backend: a mount
//! with `MS_NOSYMFOLLOW` (`ELOOP`), `fs.protected_symlinks` (`EACCES`), and what `--json`
//! reports as the backend that answered.
//!
//! Mounting tests run in a forked child in a private mount namespace
//! ([`procroot_testutil::in_private_mount_ns`]); the host's mounts are never touched.

use std::ffi::OsStr;
use std::path::Path;

use procroot_testutil::{in_private_mount_ns, mount_raw, require_privilege, Cli, Run, Tree};
use serde_json::Value;

/// `MS_NOSYMFOLLOW` (Linux 5.10), which the libc crate does not name.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

const BACKENDS: [&str; 3] = ["auto", "kernel", "emulated"];

/// Runs `procroot args... --root root --backend backend`, as `uid` (and the same gid) if given.
fn procroot<S: AsRef<OsStr>>(root: &Path, backend: &str, args: &[S], uid: Option<u32>) -> Run {
    let cli = bin().args(args).root(root).args(["--backend", backend]);
    match uid {
        Some(uid) => cli.uid(uid),
        None => cli,
    }
    .run()
}

/// A run of the binary, to be given arguments.
fn bin() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Asserts a refusal: exit 1, nothing on stdout (not a byte of the target), `errno` on stderr.
fn assert_refused(run: &Run, errno: &str, what: &str) {
    assert_eq!(
        run.code, 1,
        "{what}: expected a refusal, stderr {:?}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{what}: printed {:?}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(
        run.stderr.contains(&format!("({errno})")),
        "{what}: expected {errno}, stderr {:?}",
        run.stderr
    );
}

/// A root on a `nosymfollow` mount: `resolve` and `cat` of a symlink used to follow it on both
/// backends (the kernel's `ELOOP` was handed to the emulated walker to confirm, and it ignored
/// the mount flag), printing the target's bytes. Now `ELOOP` everywhere, and a symlink that is
/// not followed is still there.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn nosymfollow_root_refuses_symlinks_on_every_backend() {
    require_privilege("a nosymfollow bind mount in a private mount namespace");
    let tree = Tree::new(
        "
        file secret SECRET
        symlink link secret
        dir d
        file d/f x
        symlink dl d
        ",
    );
    in_private_mount_ns(|| {
        let root = tree.path();
        let source = root.to_str().expect("temporary paths are UTF-8");
        mount_raw(Some(source), root, None, libc::MS_BIND, None).expect("bind");
        let flags = libc::MS_REMOUNT | libc::MS_BIND | MS_NOSYMFOLLOW;
        mount_raw(None, root, None, flags, None).expect("remount nosymfollow");
        for backend in BACKENDS {
            let what = |cmd: &str| format!("{cmd} --backend {backend}");
            let run = procroot(root, backend, &["resolve", "/link"], None);
            assert_refused(&run, "ELOOP", &what("resolve /link"));
            let run = procroot(root, backend, &["resolve", "--json", "/dl/f"], None);
            assert_eq!(run.code, 1, "{}", what("resolve /dl/f"));
            let value: Value = serde_json::from_slice(&run.stdout).expect("JSON error");
            assert_eq!(
                value["error"]["errno"],
                "ELOOP",
                "{}",
                what("resolve /dl/f")
            );
            let run = procroot(root, backend, &["cat", "/link"], None);
            assert_refused(&run, "ELOOP", &what("cat /link"));
            let run = procroot(root, backend, &["resolve", "--nofollow", "/link"], None);
            assert_eq!(
                (run.code, run.stdout.as_slice()),
                (0, &b"/link\n"[..]),
                "{}: {}",
                what("resolve --nofollow /link"),
                run.stderr
            );
            let run = procroot(root, backend, &["cat", "/secret"], None);
            assert_eq!(run.stdout, b"SECRET", "{}", what("cat /secret"));
        }
    });
}

/// A root with `tmp/link` (to `target`, owned by uid 2000) and `tmp/target` in a root-owned
/// 1777 `tmp`, and whether this machine's `fs.protected_symlinks` protects such a link.
fn protected_link_tree(target: &str) -> (Tree, bool) {
    use std::os::unix::fs::PermissionsExt;
    let sysctl = std::fs::read_to_string("/proc/sys/fs/protected_symlinks")
        .expect("read fs.protected_symlinks");
    eprintln!("fs.protected_symlinks = {}", sysctl.trim());
    let tree = Tree::new(&format!(
        "file tmp/target TARGET\nsymlink tmp/link {target}"
    ));
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    chmod(tree.path(), 0o755);
    chmod(&tree.join("tmp"), 0o1777);
    chmod(&tree.join("tmp/target"), 0o644);
    std::os::unix::fs::lchown(tree.join("tmp/link"), Some(2000), Some(2000)).expect("lchown");
    (tree, sysctl.trim() != "0")
}

/// `fs.protected_symlinks`: uid 1000 following uid 2000's symlink in a root-owned 1777
/// directory. The kernel refuses with `EACCES` when the sysctl is 1; every backend must give
/// the kernel's answer for this machine's setting (the emulated walker used to follow).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn protected_symlinks_agree_on_every_backend() {
    require_privilege("a link owned by another user, and uid 1000");
    let (tree, protected) = protected_link_tree("target");
    for backend in BACKENDS {
        let what = |cmd: &str| format!("{cmd} --backend {backend} as uid 1000");
        let resolve = procroot(tree.path(), backend, &["resolve", "/tmp/link"], Some(1000));
        let cat = procroot(tree.path(), backend, &["cat", "/tmp/link"], Some(1000));
        if protected {
            assert_refused(&resolve, "EACCES", &what("resolve /tmp/link"));
            assert_refused(&cat, "EACCES", &what("cat /tmp/link"));
        } else {
            assert_eq!(resolve.stdout, b"/tmp/target\n", "{}", what("resolve"));
            assert_eq!(cat.stdout, b"TARGET", "{}", what("cat"));
        }
        // Not followed: always fine.
        let run = procroot(
            tree.path(),
            backend,
            &["resolve", "--nofollow", "/tmp/link"],
            Some(1000),
        );
        assert_eq!(run.stdout, b"/tmp/link\n", "{}", what("resolve --nofollow"));
    }
}

/// The same under the sandbox (the default) with `--policy in-root-strict` and an absolute
/// symlink: the kernel's `EXDEV` hands every backend's lookup to the emulated walker, so the
/// confined command must have read the sysctl before confining, as it does with `--backend
/// emulated`; skipping that read (the walker would then assume 1) would refuse the link where
/// the sysctl is 0. And `--backend auto` without a strict policy, which does not read it, still
/// gives the kernel's answer.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn protected_symlinks_agree_when_the_walker_answers_under_the_sandbox() {
    require_privilege("a link owned by another user, and uid 1000");
    let (tree, protected) = protected_link_tree("/tmp/target");
    let runs = BACKENDS
        .iter()
        .map(|backend| (*backend, &["--policy", "in-root-strict"][..]))
        .chain([("auto", &[][..])]);
    for (backend, policy) in runs {
        let what = format!("cat {policy:?} --backend {backend} /tmp/link as uid 1000");
        let mut args = vec!["cat"];
        args.extend(policy);
        args.push("/tmp/link");
        let cat = procroot(tree.path(), backend, &args, Some(1000));
        if protected {
            assert_refused(&cat, "EACCES", &what);
        } else {
            assert_eq!(cat.stdout, b"TARGET", "{what}: {}", cat.stderr);
        }
    }
}

/// `--json`'s `backend` is what produced the answer. With `--backend kernel` that is the
/// kernel, except where its answer is re-examined by the userspace walker, as `--help` says:
/// `--policy in-root-strict` through an absolute symlink (the kernel's `EXDEV` cannot tell it
/// from an escape), which then says `emulated`.
#[test]
fn json_backend_says_what_answered() {
    let tree = Tree::new(
        "
        file run/app/data hello
        symlink var/run /run
        ",
    );
    let backend_of = |backend: &str, args: &[&str]| -> Value {
        let mut all = vec!["resolve", "--json"];
        all.extend(args);
        let run = procroot(tree.path(), backend, &all, None);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let value: Value = serde_json::from_slice(&run.stdout).expect("JSON");
        value["backend"].clone()
    };
    assert_eq!(backend_of("kernel", &["/run/app/data"]), "kernel");
    assert_eq!(backend_of("kernel", &["/var/run/app/data"]), "kernel");
    assert_eq!(
        backend_of(
            "kernel",
            &["--policy", "in-root-strict", "/var/run/app/data"]
        ),
        "emulated"
    );
    assert_eq!(backend_of("emulated", &["/run/app/data"]), "emulated");

    // And --help says when and why.
    let run = bin().args(["resolve", "--help"]).run();
    let help = run.success().text();
    for needle in [
        "ELOOP",
        "EAGAIN",
        "in-root-strict",
        "nosymfollow",
        "protected_symlinks",
    ] {
        assert!(
            help.contains(needle),
            "resolve --help does not mention {needle}:\n{help}"
        );
    }
}

/// `MS_NOSYMFOLLOW` is the symlink's *own* mount's (libpathrs's `symlink_itself_nosymfollow`
/// and `symlink_itself_nested_clear_symfollow`): `a/badlink`, bind-mounted onto itself with
/// nosymfollow on a mount without it, is `ELOOP` (both backends used to follow it: the walker
/// judged it by its directory's mount and overrode the kernel's `ELOOP`); `b/dir/goodlink`,
/// bind-mounted with nosymfollow cleared inside a nosymfollow mount, is followed (both used to
/// give `ELOOP`, or the kernel's fd with a path the walker could not recompute).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn nosymfollow_is_the_links_own_mounts() {
    use procroot::testing::rebind_symfollow;
    require_privilege("bind mounts of symlinks in a private mount namespace");
    let tree = Tree::new(
        "
        file target/x X
        dir a
        symlink a/badlink ../target
        dir b/dir
        ",
    );
    in_private_mount_ns(|| {
        let root = tree.path();
        rebind_symfollow(root.join("a/badlink"), true).expect("badlink");
        rebind_symfollow(root.join("b/dir"), true).expect("b/dir");
        std::os::unix::fs::symlink("../../target", root.join("b/dir/goodlink")).unwrap();
        rebind_symfollow(root.join("b/dir/goodlink"), false).expect("goodlink");
        for backend in BACKENDS {
            let what = |cmd: &str| format!("{cmd} --backend {backend}");
            for path in ["/a/badlink", "/a/badlink/x"] {
                let run = procroot(root, backend, &["resolve", path], None);
                assert_refused(&run, "ELOOP", &what(&format!("resolve {path}")));
                let run = procroot(root, backend, &["cat", path], None);
                assert_refused(&run, "ELOOP", &what(&format!("cat {path}")));
            }
            let run = procroot(root, backend, &["resolve", "/b/dir/goodlink/x"], None);
            assert_eq!(
                (run.code, run.stdout.as_slice()),
                (0, &b"/target/x\n"[..]),
                "{}: {}",
                what("resolve /b/dir/goodlink/x"),
                run.stderr
            );
            let run = procroot(root, backend, &["cat", "/b/dir/goodlink/x"], None);
            assert_eq!(run.stdout, b"X", "{}: {}", what("cat"), run.stderr);
        }
    });
}
