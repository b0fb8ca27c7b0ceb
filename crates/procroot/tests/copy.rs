//! `Root::copy_in` and `Root::copy_out`: files, trees, symlinks verbatim, mode and times, the
//! `cp -r` destination rule, resolution inside the root, and errors that leave nothing behind.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use procroot::{Backend, Errno, ErrorKind, Root};
use procroot_testutil::Tree;

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

#[test]
fn a_failed_unprivileged_copy_leaves_nothing_behind() {
    if procroot_testutil::is_privileged() {
        eprintln!("SKIPPED: root reads files of mode 0 anyway");
        return;
    }
    for backend in BACKENDS {
        let src = source_tree();
        fs::set_permissions(
            src.join("top/sub/deeper/b.txt"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        let dst = Tree::new("dir d");
        let root = root_of(&dst, backend);
        let err = root.copy_in(src.join("top"), "/d/copy").unwrap_err();
        assert_eq!(err.errno(), Errno::ACCESS, "{err}");
        assert!(names(&dst.join("d")).is_empty());
    }
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

#[test]
fn copy_out_with_no_xdev_refuses_a_mount_inside_the_tree() {
    if !procroot_testutil::require_privilege("mounting a tmpfs in a private mount namespace") {
        return;
    }
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
