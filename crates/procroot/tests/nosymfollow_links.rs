//! `MS_NOSYMFOLLOW` is a property of the symlink's *own* mount (the kernel's `pick_link` asks
//! `link->mnt`), which differs from its directory's when the symlink itself is bind-mounted
//! (libpathrs's `symlink_itself_nosymfollow` and `symlink_itself_nested_clear_symfollow`, issue
//! 21 section 3). Both backends, through `resolve`, `resolve_fd`, `eval_symlinks` and a handle's
//! path, in a private mount namespace; the CLI's side is in procroot-cli's `refusals_cli.rs`.

use std::path::Path;

use procroot::testing::rebind_symfollow;
use procroot::{Backend, EvalMode, Root};
use procroot_testutil::{fd_identity, identity, in_private_mount_ns, mount_raw, require_privilege};
use rustix::io::Errno;

const BACKENDS: [Backend; 3] = [Backend::Emulated, Backend::Kernel, Backend::Auto];

fn errno<T>(r: procroot::Result<T>) -> Result<(), Errno> {
    r.map(|_| ()).map_err(|e| e.errno())
}

/// A tmpfs on `top` with `target/x`; `a/badlink -> ../target` bind-mounted onto itself with
/// nosymfollow (on a mount without it); `b/dir` a nosymfollow mount holding
/// `goodlink -> ../../target`, bind-mounted onto itself with nosymfollow cleared, and
/// `plainlink`, the same link left on the nosymfollow mount.
fn build(top: &Path) {
    mount_raw(Some("tmpfs"), top, Some("tmpfs"), 0, None).expect("tmpfs");
    std::fs::create_dir_all(top.join("target")).unwrap();
    std::fs::write(top.join("target/x"), b"x").unwrap();
    std::fs::create_dir_all(top.join("a")).unwrap();
    std::os::unix::fs::symlink("../target", top.join("a/badlink")).unwrap();
    rebind_symfollow(top.join("a/badlink"), true).expect("bind badlink");
    std::fs::create_dir_all(top.join("b/dir")).unwrap();
    rebind_symfollow(top.join("b/dir"), true).expect("bind b/dir");
    std::os::unix::fs::symlink("../../target", top.join("b/dir/goodlink")).unwrap();
    std::os::unix::fs::symlink("../../target", top.join("b/dir/plainlink")).unwrap();
    rebind_symfollow(top.join("b/dir/goodlink"), false).expect("bind goodlink");
}

#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn the_links_own_mount_decides() {
    require_privilege("mounts in a private mount namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let top = dir.path().join("top");
    std::fs::create_dir(&top).unwrap();
    in_private_mount_ns(|| {
        build(&top);
        let x = identity(top.join("target/x"));
        let base = Root::open(&top).expect("root");
        for backend in BACKENDS {
            let root = base.clone().with_backend(backend);
            // symlink_itself_nosymfollow: refused, though its directory's mount follows links.
            for path in ["a/badlink", "a/badlink/x", "a/badlink/"] {
                assert_eq!(
                    errno(root.resolve(path)),
                    Err(Errno::LOOP),
                    "{backend:?} {path}"
                );
                assert_eq!(
                    errno(root.resolve_fd(path)),
                    Err(Errno::LOOP),
                    "{backend:?} {path}"
                );
                assert_eq!(
                    errno(root.eval_symlinks(path, EvalMode::Full)),
                    Err(Errno::LOOP),
                    "{backend:?} eval {path}"
                );
            }
            // Not following it is fine: the link itself.
            root.resolve_nofollow("a/badlink").expect("the link itself");
            // symlink_itself_nested_clear_symfollow: followed, though its directory's mount
            // has nosymfollow; the same link left on that mount is refused.
            let h = root.resolve("b/dir/goodlink/x").expect("goodlink/x");
            assert_eq!(fd_identity(&h), x, "{backend:?}");
            assert_eq!(h.path_in_root().expect("path"), Path::new("/target/x"));
            let fd = root.resolve_fd("b/dir/goodlink").expect("goodlink");
            assert_eq!(
                fd_identity(&fd),
                identity(top.join("target")),
                "{backend:?}"
            );
            assert_eq!(
                root.eval_symlinks("b/dir/goodlink/x", EvalMode::Full)
                    .expect("eval goodlink/x"),
                Path::new("/target/x"),
                "{backend:?}"
            );
            assert_eq!(
                errno(root.resolve("b/dir/plainlink/x")),
                Err(Errno::LOOP),
                "{backend:?} plainlink"
            );
        }
    });
}
