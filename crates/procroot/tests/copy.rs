//! `Root::copy_in` and `Root::copy_out`: files, trees, symlinks verbatim, mode and times, the
//! `cp -r` destination rule, resolution inside the root, and errors that leave nothing behind.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use procroot::{
    Backend, CopyOptions, Errno, ErrorKind, ReplaceMode, ResolveFlags, Root, SpecialFiles,
};
use procroot_testutil::{require_privilege, Tree};

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

fn root_of(tree: &Tree, backend: Backend) -> Root {
    Root::open(tree.path())
        .expect("open root")
        .with_backend(backend)
}

/// Sets `path`'s mode and an old, distinctive modification time (not following symlinks).
fn age(path: &Path, mode: Option<u32>, secs: u64) {
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let file = fs::File::options()
        .read(true)
        .open(path)
        .expect("open to set times");
    file.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
        .expect("set times");
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

/// A host source tree: nested directories, files with modes, a relative and an absolute
/// symlink (which must never be followed on the host).
fn source_tree() -> Tree {
    let src = Tree::new(
        "
        file top/a.txt alpha
        file top/sub/deeper/b.txt beta
        dir top/empty
        symlink top/sub/rel ../a.txt
        symlink top/sub/abs /etc/passwd
        symlink top/dangling /does/not/exist
        ",
    );
    age(&src.join("top/a.txt"), Some(0o640), 1_000_000);
    age(&src.join("top/sub/deeper/b.txt"), Some(0o751), 2_000_000);
    age(&src.join("top/sub/deeper"), Some(0o750), 3_000_000);
    age(&src.join("top"), Some(0o755), 4_000_000);
    src
}

fn assert_tree_copied(copy: &Path) {
    let md = |p: &str| fs::symlink_metadata(copy.join(p)).unwrap();
    // Before anything reads the copies (and updates their access times).
    assert_eq!(md("a.txt").atime(), 1_000_000);
    assert_eq!(md("a.txt").mode() & 0o7777, 0o640);
    assert_eq!(md("a.txt").mtime(), 1_000_000);
    assert_eq!(names(copy), ["a.txt", "dangling", "empty", "sub"]);
    assert_eq!(fs::read(copy.join("a.txt")).unwrap(), b"alpha");
    assert_eq!(fs::read(copy.join("sub/deeper/b.txt")).unwrap(), b"beta");
    assert_eq!(
        fs::read_link(copy.join("sub/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(copy.join("sub/rel")).unwrap(),
        Path::new("../a.txt")
    );
    assert_eq!(
        fs::read_link(copy.join("dangling")).unwrap(),
        Path::new("/does/not/exist")
    );
    assert_eq!(md("sub/deeper/b.txt").mode() & 0o7777, 0o751);
    assert_eq!(md("sub/deeper").mode() & 0o7777, 0o750);
    assert_eq!(md("sub/deeper").mtime(), 3_000_000);
    assert_eq!(md(".").mode() & 0o7777, 0o755);
    assert_eq!(md(".").mtime(), 4_000_000);
    assert!(md("sub/abs").file_type().is_symlink());
}

fn no_temporaries(dir: &Path) {
    for name in names(dir) {
        assert!(
            !name.starts_with(".procroot-copy-"),
            "leftover {name} in {dir:?}"
        );
    }
}

#[test]
fn copy_in_a_file_to_a_new_name() {
    for backend in BACKENDS {
        let src = source_tree();
        let dst = Tree::new("dir etc");
        let root = root_of(&dst, backend);
        root.copy_in(src.join("top/a.txt"), "/etc/a.copy").unwrap();
        let copied = dst.join("etc/a.copy");
        assert_eq!(fs::read(&copied).unwrap(), b"alpha");
        let md = fs::metadata(&copied).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o640);
        assert_eq!(md.mtime(), 1_000_000);
        no_temporaries(&dst.join("etc"));
    }
}

#[test]
fn copy_in_into_an_existing_directory_uses_the_source_name() {
    for backend in BACKENDS {
        let src = source_tree();
        let dst = Tree::new("dir etc");
        let root = root_of(&dst, backend);
        root.copy_in(src.join("top"), "/").unwrap();
        assert_tree_copied(&dst.join("top"));
        root.copy_in(src.join("top/a.txt"), "/etc").unwrap();
        assert_eq!(fs::read(dst.join("etc/a.txt")).unwrap(), b"alpha");
    }
}

#[test]
fn copy_in_a_tree_keeps_symlinks_verbatim_and_metadata() {
    for backend in BACKENDS {
        let src = source_tree();
        let dst = Tree::new("dir srv");
        let root = root_of(&dst, backend);
        root.copy_in(src.join("top"), "srv/copy").unwrap();
        assert_tree_copied(&dst.join("srv/copy"));
        no_temporaries(&dst.join("srv"));
    }
}

#[test]
fn copy_in_through_a_symlink_lands_inside_the_root() {
    for backend in BACKENDS {
        let src = source_tree();
        let outside = tempfile::tempdir().unwrap();
        // `escape` points at a host directory by absolute path; `up` climbs above the root.
        let dst = Tree::new("dir data");
        dst.symlink("/data", "link");
        dst.symlink(outside.path(), "escape");
        dst.symlink("../../../../../data", "up");
        let root = root_of(&dst, backend);
        root.copy_in(src.join("top/a.txt"), "/link/one").unwrap();
        assert_eq!(fs::read(dst.join("data/one")).unwrap(), b"alpha");
        root.copy_in(src.join("top/a.txt"), "/up").unwrap();
        assert_eq!(fs::read(dst.join("data/a.txt")).unwrap(), b"alpha");
        // The host directory `escape` names does not exist inside the root.
        let err = root
            .copy_in(src.join("top/a.txt"), "/escape/two")
            .unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
        assert!(names(outside.path()).is_empty());
    }
}

#[test]
fn copy_in_never_follows_a_symlink_at_the_destination() {
    for backend in BACKENDS {
        let src = source_tree();
        let dst = Tree::new("dir data");
        dst.symlink("/data/new", "dangling");
        let root = root_of(&dst, backend);
        let err = root
            .copy_in(src.join("top/a.txt"), "/dangling")
            .unwrap_err();
        assert_eq!(err.errno(), Errno::EXIST, "{err}");
        assert!(names(&dst.join("data")).is_empty());
        no_temporaries(dst.path());
    }
}

#[test]
fn copy_in_errors() {
    for backend in BACKENDS {
        let src = source_tree();
        let dst = Tree::new("file etc/hosts old\ndir d");
        let root = root_of(&dst, backend);
        // An existing file is not overwritten.
        let err = root
            .copy_in(src.join("top/a.txt"), "/etc/hosts")
            .unwrap_err();
        assert_eq!(err.errno(), Errno::EXIST, "{err}");
        assert!(
            err.to_string().starts_with("copy in \"/etc/hosts\""),
            "{err}"
        );
        assert_eq!(fs::read(dst.join("etc/hosts")).unwrap(), b"old");
        // Missing source, missing destination parent, parent not a directory.
        let err = root.copy_in(src.join("nope"), "/d/x").unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = root
            .copy_in(src.join("top/a.txt"), "/missing/x")
            .unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
        let err = root
            .copy_in(src.join("top/a.txt"), "/etc/hosts/x")
            .unwrap_err();
        assert_eq!(err.errno(), Errno::NOTDIR, "{err}");
        // No name to copy from or to.
        let err = root.copy_in(src.join("top/.."), "/d").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = root.copy_in(src.join("top"), "").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(names(&dst.join("d")).is_empty());
    }
}

#[test]
fn a_failed_tree_copy_leaves_nothing_behind() {
    for backend in BACKENDS {
        let dst = Tree::new("dir d");
        let root = root_of(&dst, backend);
        // Some files of a process's procfs directory cannot be read (`mem` gives EIO,
        // write-only files EACCES or EINVAL), even for root: the copy fails part-way through.
        let own = format!("/proc/{}", std::process::id());
        let err = root.copy_in(own, "/d/copy").unwrap_err();
        assert!(err.to_string().starts_with("copy in \"/d/copy\""), "{err}");
        assert!(
            names(&dst.join("d")).is_empty(),
            "{:?}",
            names(&dst.join("d"))
        );
    }
}

/// Drops to uid and gid 1000 in this (forked, single-threaded) process.
fn become_unprivileged() {
    procroot_testutil::become_user(1000);
}

/// Runs `f` unprivileged: in a forked child that drops to uid 1000 when this process is root
/// (CI runs as root, where reading a file of mode 0 succeeds and the test would prove nothing).
fn unprivileged(f: impl FnOnce()) {
    procroot_testutil::in_child(|| {
        if procroot_testutil::is_privileged() {
            become_unprivileged();
        }
        f()
    });
}

#[test]
fn a_failed_unprivileged_copy_leaves_nothing_behind() {
    unprivileged(|| {
        for backend in BACKENDS {
            let src = source_tree();
            // A read-only directory of the copy that is complete before the copy fails: the
            // cleanup may make its own directory writable again (never anyone else's).
            src.write("top/ro/inside", b"x");
            fs::set_permissions(src.join("top/ro"), fs::Permissions::from_mode(0o555)).unwrap();
            fs::set_permissions(
                src.join("top/sub/deeper/b.txt"),
                fs::Permissions::from_mode(0o000),
            )
            .unwrap();
            let dst = Tree::new("dir d");
            let root = root_of(&dst, backend);
            let err = root.copy_in(src.join("top"), "/d/copy").unwrap_err();
            assert_eq!(err.errno(), Errno::ACCESS, "{err}");
            assert!(
                names(&dst.join("d")).is_empty(),
                "{:?}",
                names(&dst.join("d"))
            );
            fs::set_permissions(src.join("top/ro"), fs::Permissions::from_mode(0o755)).unwrap();
        }
    });
}

#[test]
fn copy_out_never_replaces() {
    for backend in BACKENDS {
        let src = Tree::new("file top/a/b one");
        let root = root_of(&src, backend);
        let host = tempfile::tempdir().unwrap();
        fs::write(host.path().join("top"), b"keep").unwrap();
        let err = root.copy_out("/top", host.path()).unwrap_err();
        assert_eq!(err.errno(), Errno::EXIST, "{err}");
        assert_eq!(names(host.path()), ["top"]);
        assert_eq!(fs::read(host.path().join("top")).unwrap(), b"keep");
    }
}

#[test]
fn copy_out_a_file_and_a_tree() {
    for backend in BACKENDS {
        let src = source_tree();
        let inside = Tree::new("dir srv");
        root_of(&inside, backend)
            .copy_in(src.join("top"), "/srv/top")
            .unwrap();
        let root = root_of(&inside, backend);
        let host = tempfile::tempdir().unwrap();
        // Into an existing directory: under the source's name.
        root.copy_out("/srv/top", host.path()).unwrap();
        assert_tree_copied(&host.path().join("top"));
        root.copy_out("/srv/top/a.txt", host.path().join("a.out"))
            .unwrap();
        assert_eq!(fs::read(host.path().join("a.out")).unwrap(), b"alpha");
        assert_eq!(
            fs::metadata(host.path().join("a.out")).unwrap().mtime(),
            1_000_000
        );
        no_temporaries(host.path());
    }
}

#[test]
fn copy_out_resolves_the_source_inside_the_root() {
    for backend in BACKENDS {
        let inside = Tree::new("file real/etc/hosts in-root\nfile real/etc/passwd in-root");
        inside.symlink("/real/etc", "etc");
        inside.symlink("../../../../real/etc", "up");
        let root = root_of(&inside, backend);
        let host = tempfile::tempdir().unwrap();
        root.copy_out("/etc/hosts", host.path().join("h")).unwrap();
        assert_eq!(fs::read(host.path().join("h")).unwrap(), b"in-root");
        root.copy_out("/up/passwd", host.path().join("p")).unwrap();
        assert_eq!(fs::read(host.path().join("p")).unwrap(), b"in-root");
        // A trailing symlink is copied as a symlink, not followed.
        root.copy_out("/etc", host.path().join("e")).unwrap();
        assert_eq!(
            fs::read_link(host.path().join("e")).unwrap(),
            Path::new("/real/etc")
        );
        // A symlink inside a copied tree is never followed to the host.
        inside.symlink("/etc/shadow", "real/etc/shadow");
        root.copy_out("/real", host.path().join("r")).unwrap();
        assert_eq!(
            fs::read_link(host.path().join("r/etc/shadow")).unwrap(),
            Path::new("/etc/shadow")
        );
        let err = root.copy_out("/nope", host.path().join("n")).unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
        assert!(err.to_string().starts_with("copy out \"/nope\""), "{err}");
        let err = root.copy_out("/", host.path().join("all")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

#[test]
fn deep_trees_are_copied_without_recursion() {
    let depth = 300;
    let src = tempfile::tempdir().unwrap();
    let mut path = src.path().join("deep");
    for _ in 0..depth {
        path.push("d");
    }
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("leaf"), b"leaf").unwrap();
    let dst = Tree::new("dir x");
    let root = root_of(&dst, Backend::Auto);
    root.copy_in(src.path().join("deep"), "/x").unwrap();
    let mut copied = dst.join("x/deep");
    for _ in 0..depth {
        copied.push("d");
    }
    assert_eq!(fs::read(copied.join("leaf")).unwrap(), b"leaf");
}

#[test]
fn copying_a_directory_into_itself_ends() {
    for backend in BACKENDS {
        let tree = Tree::new("file a/f one\nfile a/sub/g two");
        let root = root_of(&tree, backend);
        // The host path and the root's /a are the same directory: the copy lands inside the
        // tree it reads, and must not copy itself.
        root.copy_in(tree.join("a"), "/a").unwrap();
        assert_eq!(names(&tree.join("a")), ["a", "f", "sub"]);
        assert_eq!(names(&tree.join("a/a")), ["f", "sub"]);
        assert_eq!(fs::read(tree.join("a/a/sub/g")).unwrap(), b"two");
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn copy_out_with_no_xdev_refuses_a_mount_inside_the_tree() {
    procroot_testutil::require_privilege("mounting a tmpfs in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let tree = Tree::new("file top/f one\ndir top/mnt");
        procroot_testutil::mount_raw(Some("tmpfs"), tree.join("top/mnt"), Some("tmpfs"), 0, None)
            .expect("mount tmpfs");
        fs::write(tree.join("top/mnt/inner"), b"on another mount").unwrap();
        for backend in BACKENDS {
            let host = tempfile::tempdir().unwrap();
            let flags = procroot::ResolveFlags::NO_MAGICLINKS | procroot::ResolveFlags::NO_XDEV;
            let strict = root_of(&tree, backend).with_flags(flags);
            let err = strict.copy_out("/top", host.path()).unwrap_err();
            assert_eq!(err.errno(), Errno::XDEV, "{err}");
            assert_eq!(err.kind(), ErrorKind::SafetyViolation);
            assert!(names(host.path()).is_empty());
            // Without NO_XDEV the mount's contents are copied like anything else.
            root_of(&tree, backend)
                .copy_out("/top", host.path())
                .unwrap();
            assert_eq!(
                fs::read(host.path().join("top/mnt/inner")).unwrap(),
                b"on another mount"
            );
        }
    });
}

#[test]
fn replace_file_is_all_or_nothing() {
    /// A reader that yields some bytes, then fails.
    struct Broken(bool);
    impl std::io::Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                Err(std::io::Error::from_raw_os_error(5)) // EIO
            } else {
                buf[..4].copy_from_slice(b"half");
                Ok(4)
            }
        }
    }
    for backend in BACKENDS {
        let tree = Tree::new("file data/f old\nfile etc/target keep");
        tree.symlink("/etc/target", "data/link");
        let root = root_of(&tree, backend);
        let n = root.replace_file("/data/f", 0o600, &b"new!"[..]).unwrap();
        assert_eq!(n, 4);
        assert_eq!(fs::read(tree.join("data/f")).unwrap(), b"new!");
        assert_eq!(
            fs::metadata(tree.join("data/f")).unwrap().mode() & 0o7777,
            0o600
        );
        // A failing reader leaves the old file and no temporary.
        let err = root
            .replace_file("/data/f", 0o644, Broken(false))
            .unwrap_err();
        assert_eq!(err.errno(), Errno::IO, "{err}");
        assert!(err.to_string().starts_with("write \"/data/f\""), "{err}");
        assert_eq!(fs::read(tree.join("data/f")).unwrap(), b"new!");
        no_temporaries(&tree.join("data"));
        // A symlink is replaced, not written through.
        root.replace_file("/data/link", 0o644, &b"x"[..]).unwrap();
        assert!(fs::symlink_metadata(tree.join("data/link"))
            .unwrap()
            .is_file());
        assert_eq!(fs::read(tree.join("etc/target")).unwrap(), b"keep");
        let err = root.replace_file("/data", 0o644, &b"x"[..]).unwrap_err();
        assert_eq!(err.errno(), Errno::ISDIR, "{err}");
        let err = root
            .replace_file("/data/g", 0o10000, &b"x"[..])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        no_temporaries(tree.path());
        no_temporaries(&tree.join("data"));
    }
}

/// Builds `top/deep/d/d/.../d/leaf` `depth` levels deep with mkdirat in a loop, holding one fd at
/// a time: no path is ever this long.
fn build_deep(top: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut cur = procroot_testutil::open_dir(top);
    let dir_mode = Mode::from_raw_mode(0o755);
    rustix::fs::mkdirat(&cur, "deep", dir_mode).unwrap();
    cur = rustix::fs::openat(
        &cur,
        "deep",
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .unwrap();
    for i in 0..depth {
        rustix::fs::mkdirat(&cur, "d", dir_mode).unwrap();
        if i % 1000 == 0 {
            let name = format!("file{i}");
            let f = rustix::fs::openat(
                &cur,
                name.as_str(),
                OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .unwrap();
            rustix::io::write(&f, name.as_bytes()).unwrap();
        }
        cur =
            rustix::fs::openat(&cur, "d", OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    rustix::fs::symlinkat("leaf-link", &cur, "leaf").unwrap();
}

/// Checks a copy of [`build_deep`]'s tree, level by level, one fd at a time.
fn check_deep(top: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut cur = rustix::fs::openat(
        procroot_testutil::open_dir(top),
        "deep",
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .unwrap();
    for i in 0..depth {
        if i % 1000 == 0 {
            let name = format!("file{i}");
            let f = rustix::fs::openat(&cur, name.as_str(), OFlags::RDONLY, Mode::empty()).unwrap();
            let mut buf = [0u8; 64];
            let n = rustix::io::read(&f, &mut buf).unwrap();
            assert_eq!(&buf[..n], name.as_bytes(), "level {i}");
        }
        cur = rustix::fs::openat(&cur, "d", OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .unwrap_or_else(|e| panic!("level {i}: {e}"));
    }
    let target = rustix::fs::readlinkat(&cur, "leaf", Vec::new()).unwrap();
    assert_eq!(target.as_bytes(), b"leaf-link");
}

/// Copying holds a bounded number of fds whatever the depth (it used to hold two per level, so
/// the fd limit bounded the depth): a 10,000-deep tree is copied in and out under
/// `RLIMIT_NOFILE` 256.
#[test]
fn copy_10000_deep_under_a_low_fd_limit() {
    const DEPTH: usize = 10_000;
    const FD_LIMIT: u64 = 256;
    let src = tempfile::tempdir().unwrap();
    build_deep(src.path(), DEPTH);
    let inside = Tree::new("dir x");
    let host = tempfile::tempdir().unwrap();
    procroot_testutil::in_child(|| {
        let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(FD_LIMIT),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let root = root_of(&inside, Backend::Auto);
        let start = std::time::Instant::now();
        root.copy_in(src.path().join("deep"), "/x").unwrap();
        let copied_in = start.elapsed();
        root.copy_out("/x/deep", host.path()).unwrap();
        println!(
            "{DEPTH} deep, fd limit {FD_LIMIT}: copy in {copied_in:.2?}, copy out {:.2?}",
            start.elapsed() - copied_in
        );
    });
    check_deep(&inside.join("x"), DEPTH);
    check_deep(host.path(), DEPTH);
    // std's remove_dir_all holds an fd per level; remove_all does not.
    for top in [src.path(), inside.join("x").as_path(), host.path()] {
        Root::open(top).unwrap().remove_all("deep").unwrap();
    }
}

/// Runs `f` on another thread and fails (instead of hanging) if it does not finish in time.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what} hung"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

#[test]
fn special_files_are_refused_unless_asked_for() {
    for backend in BACKENDS {
        // In the root: a FIFO next to a file, copied out; on the host: the same, copied in.
        let inside = Tree::new("file top/a ok\ndir in");
        rustix::fs::mknodat(
            procroot_testutil::open_dir(inside.join("top")),
            "pipe",
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let host = tempfile::tempdir().unwrap();
        let out = host.path().to_path_buf();
        let src = inside.join("top");
        let path = inside.path().to_path_buf();
        let err = within("copy out of a FIFO", move || {
            let root = Root::open(&path).unwrap().with_backend(backend);
            root.copy_out("/top", &out).unwrap_err()
        });
        assert_eq!(err.errno(), Errno::NXIO, "{err}");
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
        assert!(err.to_string().contains("\"top/pipe\" is a FIFO"), "{err}");
        assert!(names(host.path()).is_empty(), "{:?}", names(host.path()));
        // The FIFO itself, and copied in.
        let root = root_of(&inside, backend);
        let err = root.copy_out("/top/pipe", host.path()).unwrap_err();
        assert_eq!(err.errno(), Errno::NXIO, "{err}");
        let err = root.copy_in(src.join("pipe"), "/in").unwrap_err();
        assert_eq!(err.errno(), Errno::NXIO, "{err}");
        let err = root.copy_in(&src, "/in").unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        assert!(names(&inside.join("in")).is_empty());
        assert!(names(host.path()).is_empty());
        // Asked for: recreated (never opened), both ways.
        let opts = || CopyOptions::default().with_special_files(SpecialFiles::Allow);
        root.copy_out_with("/top", host.path(), opts()).unwrap();
        let md = fs::symlink_metadata(host.path().join("top/pipe")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&md.file_type()));
        root.copy_in_with(&src, "/in", opts()).unwrap();
        let md = fs::symlink_metadata(inside.join("in/top/pipe")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&md.file_type()));
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn device_nodes_in_the_root_are_not_recreated_on_the_host() {
    procroot_testutil::require_privilege("mknod of character devices");
    for backend in BACKENDS {
        let inside = Tree::new("dir dev");
        let dev = procroot_testutil::open_dir(inside.join("dev"));
        for (name, minor) in [("urandom", 9), ("null", 3)] {
            rustix::fs::mknodat(
                &dev,
                name,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::from_raw_mode(0o666),
                rustix::fs::makedev(1, minor),
            )
            .unwrap();
        }
        let root = root_of(&inside, backend);
        let host = tempfile::tempdir().unwrap();
        let err = root.copy_out("/dev", host.path()).unwrap_err();
        assert_eq!(err.errno(), Errno::NXIO, "{err}");
        assert!(err.to_string().contains("is a character device"), "{err}");
        let err = root
            .copy_out("/dev/urandom", host.path().join("u"))
            .unwrap_err();
        assert_eq!(err.errno(), Errno::NXIO, "{err}");
        assert!(names(host.path()).is_empty(), "{:?}", names(host.path()));
        let opts = CopyOptions::default().with_special_files(SpecialFiles::Allow);
        root.copy_out_with("/dev", host.path(), opts).unwrap();
        let md = fs::symlink_metadata(host.path().join("dev/null")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &md.file_type()
        ));
        assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn set_id_bits_survive_only_when_the_owner_does() {
    procroot_testutil::require_privilege("chown to another user");
    for backend in BACKENDS {
        let inside = Tree::new("file t/theirs x\nfile t/mine y\nfile t/group z\ndir in");
        let chown = |p: &str, uid: u32, gid: u32| {
            rustix::fs::chown(
                inside.join(p).as_path(),
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .unwrap();
        };
        chown("t/theirs", 1000, 1000);
        chown("t/group", 0, 1000);
        for (name, mode) in [("theirs", 0o4755), ("mine", 0o6755), ("group", 0o2755)] {
            fs::set_permissions(
                inside.join("t").join(name),
                fs::Permissions::from_mode(mode),
            )
            .unwrap();
        }
        let root = root_of(&inside, backend);
        let host = tempfile::tempdir().unwrap();
        root.copy_out("/t", host.path()).unwrap();
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        // uid 1000's setuid program does not become root's.
        assert_eq!(mode(&host.path().join("t/theirs")), 0o755);
        // Root's own keeps its bits; a foreign group loses set-group-ID.
        assert_eq!(mode(&host.path().join("t/mine")), 0o6755);
        assert_eq!(mode(&host.path().join("t/group")), 0o755);
        // The same rule copying in.
        root.copy_in(inside.join("t"), "/in").unwrap();
        assert_eq!(mode(&inside.join("in/t/theirs")), 0o755);
        assert_eq!(mode(&inside.join("in/t/mine")), 0o6755);
        assert_eq!(mode(&inside.join("in/t/group")), 0o755);
    }
}

#[test]
fn replace_file_never_opens_what_it_replaces() {
    for backend in BACKENDS {
        let tree = Tree::new("dir data");
        rustix::fs::mknodat(
            procroot_testutil::open_dir(tree.join("data")),
            "pipe",
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let path = tree.path().to_path_buf();
        let n = within("replace_file over a FIFO", move || {
            let root = Root::open(&path).unwrap().with_backend(backend);
            root.replace_file("/data/pipe", 0o644, &b"file now"[..])
                .unwrap()
        });
        assert_eq!(n, 8);
        assert_eq!(fs::read(tree.join("data/pipe")).unwrap(), b"file now");
        no_temporaries(&tree.join("data"));
    }
}

/// `cp --no-xdev SRC :/mountpoint/`: the EXDEV of resolving the destination is the error, not an
/// EEXIST from treating the mount point as missing.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_destination_error_other_than_missing_is_reported() {
    procroot_testutil::require_privilege("mounting a tmpfs in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let tree = Tree::new("dir mnt\nfile f one");
        procroot_testutil::mount_raw(Some("tmpfs"), tree.join("mnt"), Some("tmpfs"), 0, None)
            .expect("mount tmpfs");
        let src = source_tree();
        for backend in BACKENDS {
            let flags = ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
            let strict = root_of(&tree, backend).with_flags(flags);
            for dst in ["/mnt/", "/mnt"] {
                let err = strict.copy_in(src.join("top/a.txt"), dst).unwrap_err();
                assert_eq!(err.errno(), Errno::XDEV, "{dst}: {err}");
                assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
            }
            // ENOTDIR for the last component still means "make it there" (and then EEXIST).
            let err = strict.copy_in(src.join("top/a.txt"), "/f/").unwrap_err();
            assert!(matches!(err.errno(), Errno::EXIST | Errno::NOTDIR), "{err}");
            assert!(names(&tree.join("mnt")).is_empty());
        }
    });
}

/// A source entry swapped while the copy reads it: the error names the entry, what it was and
/// what it is now (it used to be a bare EINVAL or EAGAIN).
#[test]
fn a_swapped_entry_is_named_in_the_error() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let inside = Tree::new("file swap/f regular");
    rustix::fs::mknodat(
        procroot_testutil::open_dir(inside.join("swap")),
        "p",
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let root = root_of(&inside, Backend::Auto);
    let host = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let start = std::time::Instant::now();
    let (mut attempts, mut seen) = (0, None);
    std::thread::scope(|s| {
        let swapper = s.spawn(|| {
            let dir = procroot_testutil::open_dir(inside.join("swap"));
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(&dir, "f", &dir, "p", rustix::fs::RenameFlags::EXCHANGE)
                    .unwrap();
            }
        });
        // Stops the swapper even if an assertion below panics, so the test fails, not hangs.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        while seen.is_none() && attempts < 200_000 && start.elapsed() < Duration::from_secs(30) {
            attempts += 1;
            let dst = host.path().join("copy");
            match root.copy_out("/swap/f", &dst) {
                Ok(()) => fs::remove_file(&dst).unwrap(),
                Err(e) if e.errno() == Errno::NXIO => assert!(e.to_string().contains("FIFO")),
                Err(e) => seen = Some(e),
            }
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
    });
    let err = seen.unwrap_or_else(|| panic!("no swap was caught in {attempts} attempts"));
    println!("caught after {attempts} attempts: {err}");
    assert_eq!(err.errno(), Errno::AGAIN, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("\"f\" was replaced while it was being copied: it was a regular file")
            && text.contains("now it is a FIFO"),
        "{text}"
    );
    assert!(names(host.path()).is_empty(), "{:?}", names(host.path()));
}

/// `ReplaceMode::KeepOr`: the new file gets the mode of the regular file it replaces, read
/// relative to the same parent fd as the rename (never through a symlink at the name, whose
/// target is not what is replaced); else the default. Set-ID bits survive only if the new
/// file has the old one's owner (and group, for set-group-ID), as for a copy.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn replace_file_keeps_the_mode_of_what_it_replaces() {
    use std::os::unix::fs::chown;
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    for backend in BACKENDS {
        let tree = Tree::new("file data/f old\nfile etc/target keep");
        fs::set_permissions(tree.join("data/f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(tree.join("etc/target"), fs::Permissions::from_mode(0o600)).unwrap();
        tree.symlink("/etc/target", "data/link");
        let root = root_of(&tree, backend);
        let keep = ReplaceMode::KeepOr(0o644);
        root.replace_file_with("/data/f", keep, &b"new"[..])
            .unwrap();
        assert_eq!(fs::read(tree.join("data/f")).unwrap(), b"new");
        assert_eq!(mode(&tree.join("data/f")), 0o640, "{backend:?}");
        // Nothing there: the default.
        root.replace_file_with("/data/g", keep, &b"g"[..]).unwrap();
        assert_eq!(mode(&tree.join("data/g")), 0o644, "{backend:?}");
        // A symlink is what is replaced: its target's mode is not taken.
        root.replace_file_with("/data/link", keep, &b"l"[..])
            .unwrap();
        assert_eq!(mode(&tree.join("data/link")), 0o644, "{backend:?}");
        assert_eq!(mode(&tree.join("etc/target")), 0o600, "{backend:?}");
        assert_eq!(fs::read(tree.join("etc/target")).unwrap(), b"keep");
        // A FIFO's mode is not a file's mode either.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tree.join("data/p"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        root.replace_file_with("/data/p", keep, &b"p"[..]).unwrap();
        assert_eq!(mode(&tree.join("data/p")), 0o644, "{backend:?}");
        // Bad default bits are refused like bad exact bits.
        let err = root
            .replace_file_with("/data/f", ReplaceMode::KeepOr(0o10000), &b"x"[..])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        no_temporaries(&tree.join("data"));
    }
    require_privilege("replace_file_with KeepOr and set-ID bits of another owner");
    let me = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let tree = Tree::new("file s/theirs x\nfile s/group x\nfile s/mine x");
    chown(tree.join("s/theirs"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(tree.join("s/theirs"), fs::Permissions::from_mode(0o4755)).unwrap();
    chown(tree.join("s/group"), Some(me.0), Some(1000)).unwrap();
    fs::set_permissions(tree.join("s/group"), fs::Permissions::from_mode(0o6755)).unwrap();
    chown(tree.join("s/mine"), Some(me.0), Some(me.1)).unwrap();
    fs::set_permissions(tree.join("s/mine"), fs::Permissions::from_mode(0o6755)).unwrap();
    let root = root_of(&tree, Backend::Auto);
    let keep = ReplaceMode::KeepOr(0o644);
    for name in ["theirs", "group", "mine"] {
        root.replace_file_with(format!("/s/{name}"), keep, &b"#!/bin/sh\n"[..])
            .unwrap();
    }
    // uid 1000's set-user-ID bit on a file that is now ours: dropped.
    assert_eq!(mode(&tree.join("s/theirs")), 0o755);
    // Our owner, another group: set-user-ID kept, set-group-ID dropped.
    assert_eq!(mode(&tree.join("s/group")), 0o4755);
    assert_eq!(mode(&tree.join("s/mine")), 0o6755);
}
