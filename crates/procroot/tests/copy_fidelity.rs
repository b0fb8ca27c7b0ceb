//! A copy is what `cp -a` makes (issue 20, items 2 and 3): holes stay holes, hard links within
//! the copied tree stay hard links, extended attributes and ACLs come along.

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use procroot::Root;
use procroot_testutil::Tree;
use rustix::fs::SeekFrom;
use rustix::io::Errno;

const GIB: u64 = 1 << 30;
/// 4 KiB in `st_blocks` units (512 bytes).
const EXTENT_BLOCKS: u64 = 8;

/// The data extents of `path` (`SEEK_DATA` / `SEEK_HOLE`), as `(start, end)`.
fn extents(path: &Path) -> Vec<(u64, u64)> {
    let file = fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut extents = Vec::new();
    let mut pos = 0;
    while pos < size {
        let data = match rustix::fs::seek(&file, SeekFrom::Data(pos)) {
            Ok(data) => data,
            Err(Errno::NXIO) => break,
            Err(e) => panic!("SEEK_DATA: {e}"),
        };
        let hole = rustix::fs::seek(&file, SeekFrom::Hole(data)).unwrap();
        extents.push((data, hole));
        pos = hole;
    }
    extents
}

/// Sparse files of 1 GiB: 4 KiB of data at the start, the middle and the end; holes only.
fn sparse_sources(dir: &Path) {
    let file = fs::File::create(dir.join("three")).unwrap();
    file.set_len(GIB).unwrap();
    for (i, at) in [0, GIB / 2, GIB - 4096].into_iter().enumerate() {
        file.write_all_at(&[b'a' + i as u8; 4096], at).unwrap();
    }
    fs::File::create(dir.join("holes"))
        .unwrap()
        .set_len(GIB)
        .unwrap();
    // lastlog: a 1 GiB hole, then one byte.
    let file = fs::File::create(dir.join("lastlog")).unwrap();
    file.set_len(GIB).unwrap();
    file.write_all_at(b"x", 0).unwrap();
}

/// The copy has the source's bytes (its data where the source has data, zeros elsewhere: its own
/// data extents lie within the source's) and at most 4 KiB more per extent on disk.
fn assert_sparse_copy(src: &Path, copy: &Path) {
    let (s, c) = (fs::metadata(src).unwrap(), fs::metadata(copy).unwrap());
    assert_eq!(s.len(), c.len(), "{copy:?}: size");
    let src_extents = extents(src);
    let blocks_allowed = s.blocks() + EXTENT_BLOCKS * (src_extents.len() as u64 + 1);
    assert!(
        c.blocks() <= blocks_allowed,
        "{copy:?}: {} blocks, the source {} ({} extents)",
        c.blocks(),
        s.blocks(),
        src_extents.len()
    );
    for (start, end) in extents(copy) {
        assert!(
            src_extents.iter().any(|&(a, b)| a <= start && end <= b),
            "{copy:?}: data at {start}..{end}, a hole in the source"
        );
    }
    let (sf, cf) = (fs::File::open(src).unwrap(), fs::File::open(copy).unwrap());
    for (start, end) in src_extents {
        let mut a = vec![0; (end - start) as usize];
        let mut b = vec![0; (end - start) as usize];
        sf.read_exact_at(&mut a, start).unwrap();
        cf.read_exact_at(&mut b, start).unwrap();
        assert!(a == b, "{copy:?}: bytes at {start}..{end}");
    }
}

#[test]
fn holes_are_kept_both_ways() {
    let host = tempfile::tempdir().unwrap();
    fs::create_dir(host.path().join("src")).unwrap();
    sparse_sources(&host.path().join("src"));
    let tree = Tree::new("dir var/log\ndir in");
    sparse_sources(&tree.join("var/log"));
    let root = Root::open(tree.path()).unwrap();
    // Out: the directory and a single file.
    root.copy_out("/var/log", host.path().join("out")).unwrap();
    root.copy_out("/var/log/lastlog", host.path().join("lastlog"))
        .unwrap();
    // In.
    root.copy_in(host.path().join("src"), "/in/copy").unwrap();
    for name in ["three", "holes", "lastlog"] {
        assert_sparse_copy(
            &tree.join("var/log").join(name),
            &host.path().join("out").join(name),
        );
        assert_sparse_copy(
            &host.path().join("src").join(name),
            &tree.join("in/copy").join(name),
        );
    }
    assert_sparse_copy(&tree.join("var/log/lastlog"), &host.path().join("lastlog"));
}

/// `ACL_UNDEFINED_ID`: the id field of the owner, owning group, mask and other entries.
const NO_ID: u32 = u32::MAX;

/// A `system.posix_acl_*` value (version 2): `(tag, perm, id)` entries, in the kernel's order.
fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut value = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        value.extend(tag.to_le_bytes());
        value.extend(perm.to_le_bytes());
        value.extend(id.to_le_bytes());
    }
    value
}

/// `u::rw-,u:65534:---,g::r--,m::r--,o::r--`: mode 0644, refusing uid 65534.
fn refusing_nobody() -> Vec<u8> {
    acl(&[
        (0x01, 6, NO_ID),
        (0x02, 0, 65534),
        (0x04, 4, NO_ID),
        (0x10, 4, NO_ID),
        (0x20, 4, NO_ID),
    ])
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(Errno::NODATA) => None,
        Err(e) => panic!("{path:?} {name}: {e}"),
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::setxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .unwrap_or_else(|e| panic!("{path:?} {name}: {e}"));
}

/// Whether uid 65534 can open `path` for reading (in a forked child).
fn nobody_can_read(path: &Path) -> bool {
    let path = path.to_path_buf();
    procroot_testutil::ForkedChild::spawn(move || {
        procroot_testutil::become_user(65534);
        match rustix::fs::open(&path, rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()) {
            Ok(_) => 0,
            Err(_) => 1,
        }
    })
    .wait()
        == 0
}

/// `etc/app.conf` (0644, an ACL refusing uid 65534, `user.origin`) and `etc/d` with a default
/// ACL, under `dir`.
fn attributed_sources(dir: &Path) {
    fs::create_dir_all(dir.join("etc/d")).unwrap();
    let conf = dir.join("etc/app.conf");
    fs::write(&conf, b"secret=1\n").unwrap();
    set_xattr(&conf, "system.posix_acl_access", &refusing_nobody());
    set_xattr(&conf, "user.origin", b"x");
    set_xattr(
        &dir.join("etc/d"),
        "system.posix_acl_default",
        &refusing_nobody(),
    );
}

/// Issue 20 item 3: `user.*` and ACLs (access and default) are copied both ways: uid 65534,
/// refused on the source, is refused on the copy.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn xattrs_and_acls_are_kept_both_ways() {
    procroot_testutil::require_privilege("switch to uid 65534 to check the ACL");
    let host = tempfile::tempdir().unwrap();
    attributed_sources(&host.path().join("src"));
    let tree = Tree::new("dir in");
    attributed_sources(tree.path());
    // The directories on the way must let 65534 through, so that only the ACL refuses.
    for dir in [host.path(), tree.path()] {
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let root = Root::open(tree.path()).unwrap();
    root.copy_out("/etc", host.path().join("out")).unwrap();
    root.copy_in(host.path().join("src/etc"), "/in/etc")
        .unwrap();
    for (src, copy) in [
        (tree.join("etc"), host.path().join("out")),
        (host.path().join("src/etc"), tree.join("in/etc")),
    ] {
        assert!(
            !nobody_can_read(&src.join("app.conf")),
            "the test's premise"
        );
        let conf = copy.join("app.conf");
        assert_eq!(xattr(&conf, "user.origin").as_deref(), Some(&b"x"[..]));
        assert_eq!(
            xattr(&conf, "system.posix_acl_access"),
            xattr(&src.join("app.conf"), "system.posix_acl_access")
        );
        assert!(
            !nobody_can_read(&conf),
            "{conf:?}: uid 65534 reads the copy"
        );
        assert_eq!(
            xattr(&copy.join("d"), "system.posix_acl_default"),
            Some(refusing_nobody())
        );
    }
}

/// A `security.capability` value (VFS_CAP_REVISION_2, `cap_net_raw+ep`).
fn net_raw_capability() -> Vec<u8> {
    let mut value = (0x0200_0000u32 | 1).to_le_bytes().to_vec(); // revision 2, effective
    value.extend((1u32 << 13).to_le_bytes()); // permitted: CAP_NET_RAW
    value.extend(0u32.to_le_bytes()); // inheritable
    value.extend(0u32.to_le_bytes()); // permitted, high word
    value.extend(0u32.to_le_bytes()); // inheritable, high word
    value
}

/// Issue 20 item 3: `security.capability` follows the set-ID rule: kept on a root-owned file
/// copied by root, dropped on uid 1000's (the copy would be a root-owned privileged program
/// whose capabilities uid 1000 chose). `trusted.*` is copied by root; a symlink's xattrs are
/// not copied.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn file_capabilities_are_kept_only_with_the_owner() {
    procroot_testutil::require_privilege("set security.capability and chown");
    let tree = Tree::new("file bin/root-ping x\nfile bin/user-ping x\ndir in");
    for name in ["root-ping", "user-ping"] {
        set_xattr(
            &tree.join("bin").join(name),
            "security.capability",
            &net_raw_capability(),
        );
    }
    // trusted.* (root only: copied, as root) and a symlink's security.* (symlinks get none).
    set_xattr(&tree.join("bin/root-ping"), "trusted.origin", b"t");
    std::os::unix::fs::symlink("root-ping", tree.join("bin/link")).unwrap();
    rustix::fs::lsetxattr(
        tree.join("bin/link"),
        "security.procroot-test",
        b"s",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::os::unix::fs::lchown(tree.join("bin/user-ping"), Some(1000), Some(1000)).unwrap();
    // chown clears file capabilities: set it again.
    set_xattr(
        &tree.join("bin/user-ping"),
        "security.capability",
        &net_raw_capability(),
    );
    let host = tempfile::tempdir().unwrap();
    let root = Root::open(tree.path()).unwrap();
    root.copy_out("/bin", host.path().join("out")).unwrap();
    root.copy_in(host.path().join("out"), "/in/bin").unwrap();
    for copy in [host.path().join("out"), tree.join("in/bin")] {
        assert_eq!(
            xattr(&copy.join("root-ping"), "security.capability"),
            Some(net_raw_capability()),
            "{copy:?}"
        );
    }
    assert_eq!(
        xattr(&host.path().join("out/user-ping"), "security.capability"),
        None
    );
    for copy in [host.path().join("out"), tree.join("in/bin")] {
        assert_eq!(
            xattr(&copy.join("root-ping"), "trusted.origin").as_deref(),
            Some(&b"t"[..])
        );
        assert_eq!(xattr(&copy.join("link"), "security.procroot-test"), None);
    }
}

/// Issue 20 item 3: a seccomp filter failing every xattr write (EPERM): the copy is done, with
/// a warning per entry, and the copy of a file whose ACL named a user has no "other" bits;
/// with `Xattrs::Strict` the copy fails and leaves nothing.
#[test]
fn a_refused_xattr_write_is_a_warning_and_never_widens_the_mode() {
    use procroot::{CopyOptions, CopyWarning, Xattrs};
    let tree = Tree::new("dir in");
    attributed_sources(tree.path());
    let host = tempfile::tempdir().unwrap();
    let (root_path, out) = (tree.path().to_path_buf(), host.path().to_path_buf());
    procroot_testutil::in_child(move || {
        procroot_testutil::deny_syscalls(&[libc::SYS_fsetxattr], libc::EPERM);
        let root = Root::open(&root_path).unwrap();
        let mut warnings: Vec<CopyWarning> = Vec::new();
        let mut warn = |w: &CopyWarning| warnings.push(w.clone());
        let opts = CopyOptions::default().with_warnings(&mut warn);
        root.copy_out_with("/etc", out.join("copy"), opts).unwrap();
        let mut seen: Vec<String> = warnings
            .iter()
            .map(|w| {
                assert_eq!(w.errno, Errno::PERM, "{w}");
                format!("{} {}: {}", w.path.display(), w.what, w.outcome)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                "etc/app.conf extended attribute \"system.posix_acl_access\": not copied; mode \
                 narrowed to 0640",
                "etc/app.conf extended attribute \"user.origin\": not copied",
                "etc/d extended attribute \"system.posix_acl_default\": not copied",
            ]
        );
        let mode = fs::metadata(out.join("copy/app.conf")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o640);
        // Strict: fails, leaves nothing.
        let opts = CopyOptions::default().with_xattrs(Xattrs::Strict);
        let err = root
            .copy_out_with("/etc", out.join("strict"), opts)
            .unwrap_err();
        assert_eq!(err.errno(), Errno::PERM, "{err}");
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["copy"], "{err}");
    });
}

/// `top/a` and `top/d/b` are one file; `top/c` has its other name outside `top`.
fn linked_sources(dir: &Path) {
    fs::create_dir_all(dir.join("top/d")).unwrap();
    fs::write(dir.join("top/a"), b"shared").unwrap();
    fs::hard_link(dir.join("top/a"), dir.join("top/d/b")).unwrap();
    fs::write(dir.join("top/c"), b"outside").unwrap();
    fs::hard_link(dir.join("top/c"), dir.join("outside")).unwrap();
}

fn assert_linked_copy(copy: &Path) {
    let md = |p: &str| fs::symlink_metadata(copy.join(p)).unwrap();
    assert_eq!(md("a").ino(), md("d/b").ino(), "{copy:?}: a and d/b");
    assert_eq!(md("a").nlink(), 2, "{copy:?}");
    assert_eq!(md("c").nlink(), 1, "{copy:?}: c");
    assert_eq!(fs::read(copy.join("d/b")).unwrap(), b"shared");
    assert_eq!(fs::read(copy.join("c")).unwrap(), b"outside");
}

/// Issue 20 item 2: hard links within the copied tree stay hard links, both ways; a file
/// whose other name is outside the tree is copied as a file.
#[test]
fn hard_links_within_the_tree_stay_hard_links() {
    let host = tempfile::tempdir().unwrap();
    linked_sources(host.path());
    let tree = Tree::new("dir in");
    linked_sources(tree.path());
    let root = Root::open(tree.path()).unwrap();
    root.copy_out("/top", host.path().join("out")).unwrap();
    root.copy_in(host.path().join("top"), "/in/top").unwrap();
    assert_linked_copy(&host.path().join("out"));
    assert_linked_copy(&tree.join("in/top"));
}

/// Issue 20 item 2: a link that cannot be made (here a seccomp filter failing `linkat`) is
/// copied as a separate file, and a warning says so.
#[test]
fn a_refused_hard_link_is_a_separate_file_and_a_warning() {
    use procroot::{CopyOptions, CopyWarning};
    let tree = Tree::new("dir in");
    linked_sources(tree.path());
    let host = tempfile::tempdir().unwrap();
    let (root_path, out) = (tree.path().to_path_buf(), host.path().to_path_buf());
    procroot_testutil::in_child(move || {
        procroot_testutil::deny_syscalls(&[libc::SYS_linkat, libc::SYS_link], libc::EMLINK);
        let root = Root::open(&root_path).unwrap();
        let mut warnings: Vec<CopyWarning> = Vec::new();
        let mut warn = |w: &CopyWarning| warnings.push(w.clone());
        let opts = CopyOptions::default().with_warnings(&mut warn);
        root.copy_out_with("/top", out.join("copy"), opts).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert_eq!(w.errno, Errno::MLINK);
        assert_eq!(w.outcome, "copied as a separate file");
        assert!(w.what.starts_with("hard link to \"top/"), "{w}");
        let md = |p: &str| fs::symlink_metadata(out.join("copy").join(p)).unwrap();
        assert_ne!(md("a").ino(), md("d/b").ino());
        assert_eq!(fs::read(out.join("copy/d/b")).unwrap(), b"shared");
        assert_eq!(fs::read(out.join("copy/a")).unwrap(), b"shared");
    });
}

/// Issue 20 item 3, unprivileged (uid 65534): the xattrs of a read-only file and directory
/// are copied too (they are set before the copy gets its read-only mode, which would forbid
/// its owner to write `user.*`).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn xattrs_of_read_only_entries_are_copied_unprivileged() {
    procroot_testutil::require_privilege("drop to uid 65534");
    let tree = Tree::new("file ro/f x\nfile ro/sub/g y");
    let base = tree.path().to_path_buf();
    let host = tempfile::tempdir().unwrap();
    let out = host.path().to_path_buf();
    for p in ["", "ro", "ro/f", "ro/sub", "ro/sub/g"] {
        std::os::unix::fs::lchown(base.join(p), Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
    procroot_testutil::in_child(move || {
        procroot_testutil::become_user(65534);
        for (p, mode) in [
            ("ro/f", 0o444),
            ("ro/sub/g", 0o444),
            ("ro/sub", 0o555),
            ("ro", 0o555),
        ] {
            set_xattr(&base.join(p), "user.origin", p.as_bytes());
            let perm = std::os::unix::fs::PermissionsExt::from_mode(mode);
            fs::set_permissions(base.join(p), perm).unwrap();
        }
        let root = Root::open(&base).unwrap();
        root.copy_out("/ro", out.join("copy")).unwrap();
        for (p, copy) in [
            ("ro", ""),
            ("ro/f", "f"),
            ("ro/sub", "sub"),
            ("ro/sub/g", "sub/g"),
        ] {
            let copy = out.join("copy").join(copy);
            assert_eq!(
                xattr(&copy, "user.origin").as_deref(),
                Some(p.as_bytes()),
                "{copy:?}"
            );
        }
    });
}
