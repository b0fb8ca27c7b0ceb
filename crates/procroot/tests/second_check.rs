//! The second check of metadata changes (`Root::with_second_check`): no false refusal on the
//! roots people use. Its refusals (a file outside the root) are shown with the fault-injected
//! CLI in `procroot-cli`'s tests/sandbox_cli.rs, and on the check itself in the library's unit
//! tests (`root/second_check.rs`).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use procroot::{Errno, Root};
use procroot_testutil::{in_private_mount_ns, mount_raw, require_privilege, Tree};

/// Every metadata change the check guards, on `path` inside `root` (a regular file that the
/// test can see at `host`), each checked on the host side.
fn every_change_works(root: &Root, path: &str, host: &Path) {
    assert!(root.second_check(), "the check is on by default");
    root.set_permissions(path, 0o640).expect("chmod");
    assert_eq!(
        std::fs::metadata(host).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    root.chown(path, Some(4242), Some(4243)).expect("chown");
    let md = std::fs::metadata(host).unwrap();
    assert_eq!((md.uid(), md.gid()), (4242, 4243));
    root.chown_nofollow(path, Some(0), Some(0))
        .expect("chown nofollow");
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    root.set_times(path, Some(then), Some(then))
        .expect("set times");
    assert_eq!(std::fs::metadata(host).unwrap().mtime(), 1_000_000_000);
    root.touch(path).expect("touch");
    assert!(std::fs::metadata(host).unwrap().mtime() > 1_000_000_000);
    match root.set_xattr(path, "user.procroot", b"v") {
        Ok(()) => assert_eq!(root.read_xattr(path, "user.procroot").unwrap(), b"v"),
        // tmpfs before 6.6 and some overlay setups have no user xattrs: not this check's answer.
        Err(e) => assert_eq!(e.errno(), Errno::OPNOTSUPP, "{e}"),
    }
    // The root itself passes too.
    root.set_times("/", Some(then), Some(then))
        .expect("set times of the root");
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_plain_root_and_odd_root_names_pass() {
    require_privilege("chown(2) to another user");
    for name in ["plain", "new\nline", "gone (deleted)", "sp ace"] {
        let tree = Tree::new("");
        tree.mkdir(format!("{name}/etc"));
        tree.write(format!("{name}/etc/f"), b"x");
        let root = Root::open(tree.join(name)).unwrap();
        every_change_works(&root, "/etc/f", &tree.join(name).join("etc/f"));
        // A name with a newline inside the root as well.
        tree.write(format!("{name}/etc/a\nb (deleted)"), b"x");
        root.set_permissions("/etc/a\nb (deleted)", 0o600)
            .expect("odd file name");
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_host_root_passes() {
    require_privilege("chown(2) to another user");
    let tree = Tree::new("file f x");
    let root = Root::open("/").unwrap();
    let path = tree.join("f");
    every_change_works(&root, path.to_str().unwrap(), &path);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_pid_root_in_another_mount_namespace_passes() {
    require_privilege("unshare(CLONE_NEWNS) and chown(2)");
    let tree = Tree::new("file r/etc/f x");
    let top = tree.path().to_owned();
    in_private_mount_ns(|| {
        // The target: a process whose `/` is the tree (pivoted), in its own mount namespace, so
        // that /proc/PID/root prints paths relative to another namespace's root.
        let (ready_r, ready_w) = rustix::pipe::pipe().unwrap();
        let (hold_r, hold_w) = rustix::pipe::pipe().unwrap();
        let child = procroot_testutil::ForkedChild::spawn(|| {
            procroot_testutil::enter_private_mount_ns();
            let r = top.join("r");
            mount_raw(Some(r.to_str().unwrap()), &r, None, libc::MS_BIND, None).unwrap();
            std::env::set_current_dir(&r).unwrap();
            rustix::process::pivot_root(".", ".").unwrap();
            rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH).unwrap();
            // SAFETY: closing the child's copy of the write end, which this process never uses
            // again (it exits below without dropping anything), so that the read ends when the
            // test closes its own.
            unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(&hold_w)) };
            rustix::io::write(&ready_w, b"x").unwrap();
            let mut buf = [0u8; 1];
            let _ = rustix::io::read(&hold_r, &mut buf);
            0
        });
        // Our copy of the write end closed: a child that dies before it is ready ends the read.
        drop(ready_w);
        let mut buf = [0u8; 1];
        let ready = rustix::io::read(&ready_r, &mut buf).unwrap();
        let result = std::panic::catch_unwind(|| {
            assert_eq!(ready, 1, "the target process failed to pivot");
            let root = Root::for_pid(child.pid() as u32).unwrap();
            every_change_works(&root, "/etc/f", &top.join("r/etc/f"));
        });
        drop(hold_w);
        assert_eq!(child.wait(), 0);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn overlayfs_and_bind_mounts_inside_pass() {
    require_privilege("mount(2) in a private mount namespace");
    let tree = Tree::new(
        "file lower/etc/f x\n\
         dir upper\n\
         dir work\n\
         dir merged\n\
         file outside/g y",
    );
    let top = tree.path().to_owned();
    in_private_mount_ns(|| {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            top.join("lower").display(),
            top.join("upper").display(),
            top.join("work").display()
        );
        mount_raw(
            Some("overlay"),
            top.join("merged"),
            Some("overlay"),
            0,
            Some(&opts),
        )
        .expect("mount overlayfs");
        let root = Root::open(top.join("merged")).unwrap();
        every_change_works(&root, "/etc/f", &top.join("merged/etc/f"));
        // A bind mount inside the root, of a directory from outside it: inside by design.
        std::fs::create_dir(top.join("merged/mnt")).unwrap();
        mount_raw(
            Some(top.join("outside").to_str().unwrap()),
            top.join("merged/mnt"),
            None,
            libc::MS_BIND,
            None,
        )
        .expect("bind mount");
        every_change_works(&root, "/mnt/g", &top.join("outside/g"));
    });
}

/// Without a usable procfs (here `/proc` is a tmpfs and the detached acquisitions are disabled)
/// the check cannot be made: the change is refused, saying why, and the file is unchanged;
/// turned off, the change is made (fchmodat2 needs no procfs).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn without_procfs_the_check_refuses_saying_why() {
    require_privilege("mount(2) in a private mount namespace");
    let tree = Tree::new("file r/f x");
    let file = tree.join("r/f");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    in_private_mount_ns(|| {
        use procroot::testing::{disable, Feature};
        disable(Feature::Fsopen);
        disable(Feature::OpenTree);
        mount_raw(Some("tmpfs"), "/proc", Some("tmpfs"), 0, None).expect("tmpfs on /proc");
        let root = Root::open(tree.join("r")).unwrap();
        let err = root.set_permissions("/f", 0o600).unwrap_err();
        assert_eq!(err.errno(), Errno::ACCESS, "{err}");
        assert!(err.to_string().contains("could not be checked"), "{err}");
        let mode = || std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(), 0o644);
        if !procroot::testing::known_unavailable(Feature::Fchmodat2) {
            root.with_second_check(false)
                .set_permissions("/f", 0o600)
                .expect("unchecked chmod by fd");
            assert_eq!(mode(), 0o600);
        }
    });
}
