//! `Root::walk` (issue 24, section 1): every option, per-entry errors, the entry's on-demand
//! calls, symlinks kept inside the root, and a 10,000-deep tree under `RLIMIT_NOFILE` 128.
//! The races are in `walk_races.rs`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use procroot::{Backend, Errno, ErrorKind, FileType, OFlags, Root, SpecialFiles, WalkEntry};
use procroot_testutil::{in_child, in_private_mount_ns, mkfifo, require_privilege, Tree};
use rustix::fs::Mode;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

/// The layout's root and its entries, sorted.
const TOP_LEVEL: [&str; 9] = [
    "/",
    "/abs",
    "/bin",
    "/dangling",
    "/empty",
    "/etc",
    "/fifo",
    "/up",
    "/usr",
];

/// A small tree with one of each kind of entry, and a host decoy beside the root.
struct Layout {
    tree: Tree,
}

impl Layout {
    fn new() -> Layout {
        let tree = Tree::new(
            "
            file root/etc/passwd root:x:0:0
            file root/etc/hostname web
            dir root/usr/bin
            file root/usr/bin/busybox bb
            symlink root/usr/bin/sh busybox
            symlink root/bin usr/bin
            symlink root/abs /etc
            symlink root/up ../../../..
            symlink root/dangling /nowhere
            dir root/empty
            file host/etc/DECOY-HOST-ONLY host secret
            ",
        );
        mkfifo(&tree.join("root/fifo"));
        Layout { tree }
    }

    fn root_path(&self) -> PathBuf {
        self.tree.join("root")
    }

    fn root(&self, backend: Backend) -> Root {
        Root::open(self.root_path()).unwrap().with_backend(backend)
    }
}

/// Runs `f` in a forked child killed by `SIGALRM` after 30 s: for tests where a regression
/// (opening a FIFO that has no writer) would block forever.
fn with_deadline(f: impl FnOnce()) {
    in_child(|| {
        // SAFETY: alarm(2) only arms a timer for this (forked, single-threaded) child.
        unsafe { libc::alarm(30) };
        f()
    });
}

fn paths(walk: impl Iterator<Item = procroot::Result<WalkEntry>>) -> Vec<String> {
    walk.map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect()
}

fn by_path(walk: impl Iterator<Item = procroot::Result<WalkEntry>>) -> BTreeMap<String, WalkEntry> {
    walk.map(|e| {
        let e = e.unwrap();
        (e.path().to_string_lossy().into_owned(), e)
    })
    .collect()
}

#[test]
fn lists_every_entry_once_with_type_depth_and_path_inside_the_root() {
    let layout = Layout::new();
    for backend in BACKENDS {
        let root = layout.root(backend);
        let all = by_path(root.walk("/"));
        let want: Vec<(&str, FileType, usize)> = vec![
            ("/", FileType::Dir, 0),
            ("/abs", FileType::Symlink, 1),
            ("/bin", FileType::Symlink, 1),
            ("/dangling", FileType::Symlink, 1),
            ("/empty", FileType::Dir, 1),
            ("/etc", FileType::Dir, 1),
            ("/etc/hostname", FileType::File, 2),
            ("/etc/passwd", FileType::File, 2),
            ("/fifo", FileType::Fifo, 1),
            ("/up", FileType::Symlink, 1),
            ("/usr", FileType::Dir, 1),
            ("/usr/bin", FileType::Dir, 2),
            ("/usr/bin/busybox", FileType::File, 3),
            ("/usr/bin/sh", FileType::Symlink, 3),
        ];
        let got: Vec<(&str, FileType, usize)> = all
            .iter()
            .map(|(p, e)| (p.as_str(), e.file_type(), e.depth()))
            .collect();
        assert_eq!(got, want, "{backend:?}");
        assert_eq!(all["/"].file_name(), OsStr::new("/"));
        assert_eq!(all["/usr/bin/sh"].file_name(), OsStr::new("sh"));
        // Pre-order: every directory comes before its contents.
        let order = paths(root.walk("/"));
        let pos = |p: &str| order.iter().position(|x| x == p).unwrap();
        assert!(pos("/usr") < pos("/usr/bin") && pos("/usr/bin") < pos("/usr/bin/busybox"));
        assert_eq!(order[0], "/");
    }
}

#[test]
fn the_start_path_is_resolved_inside_the_root_and_named_by_where_it_is() {
    let layout = Layout::new();
    for backend in BACKENDS {
        let root = layout.root(backend);
        // `bin` is a symlink to usr/bin: the start follows it, inside the root.
        let got = paths(root.walk("bin").sort_by_name(true));
        assert_eq!(
            got,
            ["/usr/bin", "/usr/bin/busybox", "/usr/bin/sh"],
            "{backend:?}"
        );
        // `/abs` is `/etc`: the root's, not the host's.
        let got = paths(root.walk("/abs").sort_by_name(true));
        assert_eq!(got, ["/etc", "/etc/hostname", "/etc/passwd"], "{backend:?}");
        // A file as the start: just itself.
        assert_eq!(paths(root.walk("/etc/passwd")), ["/etc/passwd"]);
        // A missing start: one error, then the end.
        let mut walk = root.walk("/missing");
        let err = walk.next().unwrap().unwrap_err();
        assert_eq!(err.errno(), Errno::NOENT);
        assert!(err.to_string().contains("/missing"), "{err}");
        assert!(walk.next().is_none());
    }
}

#[test]
fn max_depth_and_min_depth() {
    let layout = Layout::new();
    let root = layout.root(Backend::Auto);
    assert_eq!(paths(root.walk("/").max_depth(0)), ["/"]);
    let one = paths(root.walk("/").max_depth(1).sort_by_name(true));
    assert_eq!(one, TOP_LEVEL);
    let two = paths(root.walk("/usr").min_depth(1).max_depth(1));
    assert_eq!(two, ["/usr/bin"]);
    let deep = paths(root.walk("/").min_depth(3).sort_by_name(true));
    assert_eq!(deep, ["/usr/bin/busybox", "/usr/bin/sh"]);
    // min_depth above max_depth: nothing.
    assert!(paths(root.walk("/").min_depth(2).max_depth(1)).is_empty());
}

#[test]
fn sort_by_name_is_bytewise_and_file_system_order_lists_the_same_set() {
    let tree = Tree::new("dir r");
    let names: [&[u8]; 6] = [b"b", b"B", b"a", b"\xff\xfe", b"_", b"aa"];
    for name in names {
        std::fs::write(tree.join("r").join(OsStr::from_bytes(name)), b"").unwrap();
    }
    let root = Root::open(tree.join("r")).unwrap();
    let sorted: Vec<Vec<u8>> = root
        .walk("/")
        .min_depth(1)
        .sort_by_name(true)
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    let mut want: Vec<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
    want.sort();
    assert_eq!(sorted, want);
    let mut unsorted: Vec<Vec<u8>> = root
        .walk("/")
        .min_depth(1)
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    unsorted.sort();
    assert_eq!(unsorted, want);
    // Non-UTF-8 bytes are kept in the path too.
    let odd = root
        .walk("/")
        .map(Result::unwrap)
        .find(|e| e.file_name().as_bytes() == b"\xff\xfe")
        .unwrap();
    assert_eq!(odd.path().as_os_str().as_bytes(), b"/\xff\xfe");
    assert_eq!(odd.metadata().unwrap().len(), 0);
}

#[test]
fn contents_first_yields_each_directory_after_its_contents() {
    let layout = Layout::new();
    let root = layout.root(Backend::Auto);
    let order = paths(root.walk("/").contents_first(true).sort_by_name(true));
    let pos = |p: &str| order.iter().position(|x| x == p).unwrap();
    assert_eq!(order.last().unwrap(), "/");
    assert!(pos("/usr/bin/busybox") < pos("/usr/bin"));
    assert!(pos("/usr/bin/sh") < pos("/usr/bin"));
    assert!(pos("/usr/bin") < pos("/usr"));
    assert!(pos("/etc/passwd") < pos("/etc"));
    assert_eq!(order.len(), 14);
    // With max_depth, the directories not entered are yielded in place.
    let shallow = paths(root.walk("/usr").contents_first(true).max_depth(1));
    assert_eq!(shallow, ["/usr/bin", "/usr"]);
}

/// The sorted walk of `/`, calling `skip_current_dir` right after each entry in `at`.
fn walk_skipping_at(root: &Root, at: &[&str]) -> Vec<String> {
    let mut walk = root.walk("/").sort_by_name(true);
    let mut got = Vec::new();
    while let Some(entry) = walk.next() {
        let path = entry.unwrap().path().to_string_lossy().into_owned();
        if at.contains(&path.as_str()) {
            walk.skip_current_dir();
        }
        got.push(path);
    }
    got
}

#[test]
fn skip_current_dir_prunes_a_directory_or_the_rest_of_one() {
    let layout = Layout::new();
    let root = layout.root(Backend::Auto);
    // Skipping right after a directory's entry: it is not entered.
    let got = walk_skipping_at(&root, &["/usr", "/etc"]);
    assert_eq!(got, TOP_LEVEL);
    // Skipping after a file: the rest of its directory goes, the walk goes on above.
    let got = walk_skipping_at(&root, &["/etc/hostname"]);
    assert!(got.contains(&"/etc/hostname".to_string()));
    assert!(!got.contains(&"/etc/passwd".to_string()));
    assert!(got.contains(&"/usr/bin/sh".to_string()));
}

#[test]
fn symlinks_are_not_followed_by_default() {
    let layout = Layout::new();
    for backend in BACKENDS {
        let root = layout.root(backend);
        let got = paths(root.walk("/"));
        assert!(!got
            .iter()
            .any(|p| p.starts_with("/bin/") || p.starts_with("/abs/")));
        assert!(!got.iter().any(|p| p.contains("DECOY")), "{got:?}");
    }
}

#[test]
fn follow_links_resolves_inside_the_root_and_stops_at_cycles() {
    let layout = Layout::new();
    // A cycle: loop/self -> .. (the directory `loop` itself).
    layout.tree.symlink("..", "root/loop/self");
    for backend in BACKENDS {
        let root = layout.root(backend);
        let mut errors = Vec::new();
        let mut got = BTreeMap::new();
        for entry in root.walk("/").follow_links(true) {
            match entry {
                Ok(entry) => {
                    got.insert(entry.path().to_string_lossy().into_owned(), entry);
                }
                Err(e) => errors.push(e),
            }
        }
        // /abs -> /etc is the root's /etc; /up climbs to the root, never above it.
        assert_eq!(got["/abs"].file_type(), FileType::Dir, "{backend:?}");
        assert!(got["/abs"].is_followed_link());
        assert!(got.contains_key("/abs/passwd"));
        assert!(got.contains_key("/bin/busybox"));
        assert_eq!(got["/bin/sh"].file_type(), FileType::File);
        // The link's own target is still readable, and its metadata is the target's.
        assert_eq!(got["/bin/sh"].link_target().unwrap(), Path::new("busybox"));
        assert!(got["/bin/sh"].metadata().unwrap().is_file());
        let mut text = String::new();
        got["/abs/passwd"]
            .open(OFlags::RDONLY)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "root:x:0:0");
        // A dangling link is yielded as itself.
        assert_eq!(got["/dangling"].file_type(), FileType::Symlink);
        // Nothing of the host.
        assert!(!got.keys().any(|p| p.contains("DECOY")), "{backend:?}");
        // /up leads to the root itself and /loop/self to /loop: cycles, one error each.
        let loops: Vec<String> = errors
            .iter()
            .map(|e| {
                assert_eq!(e.errno(), Errno::LOOP, "{e}");
                e.path().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert!(loops.contains(&"/up".to_string()), "{loops:?}");
        assert!(loops.contains(&"/loop/self".to_string()), "{loops:?}");
        assert!(!got.contains_key("/up"));
    }
}

#[test]
fn entries_open_stat_and_read_links_through_their_parent() {
    let layout = Layout::new();
    with_deadline(|| {
        for backend in BACKENDS {
            let root = layout.root(backend);
            let all = by_path(root.walk("/"));
            let mut text = String::new();
            all["/etc/passwd"]
                .open(OFlags::RDONLY)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, "root:x:0:0");
            // A symlink entry is the link: its metadata, its target; opening it is ELOOP.
            assert!(all["/abs"].metadata().unwrap().file_type().is_symlink());
            assert_eq!(all["/abs"].link_target().unwrap(), Path::new("/etc"));
            assert_eq!(
                all["/abs"].open(OFlags::RDONLY).unwrap_err().errno(),
                Errno::LOOP
            );
            assert_eq!(
                all["/etc/passwd"].link_target().unwrap_err().errno(),
                Errno::INVAL
            );
            // A FIFO is refused without blocking, as open_file refuses it.
            let err = all["/fifo"].open(OFlags::RDONLY).unwrap_err();
            assert_eq!(err.errno(), Errno::NXIO, "{err}");
            assert_eq!(err.kind(), ErrorKind::SafetyViolation);
            // A handle knows its path.
            let handle = all["/usr/bin/sh"].open_handle().unwrap();
            assert_eq!(handle.path_in_root().unwrap(), Path::new("/usr/bin/sh"));
            assert_eq!(handle.file_type().unwrap(), FileType::Symlink);
            // O_CREAT is refused.
            let err = all["/etc/passwd"]
                .open(OFlags::RDWR | OFlags::CREATE)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        // With special files allowed, the FIFO opens (without blocking).
        let root = layout
            .root(Backend::Auto)
            .with_special_files(SpecialFiles::Allow);
        let fifo = root
            .walk("/fifo")
            .next()
            .unwrap()
            .unwrap()
            .open(OFlags::RDONLY)
            .unwrap();
        drop(fifo);
    });
}

#[test]
fn entries_stay_usable_after_the_walk_and_refuse_a_replaced_parent() {
    let layout = Layout::new();
    let root = layout.root(Backend::Auto);
    let all: Vec<WalkEntry> = root.walk("/").map(Result::unwrap).collect();
    let passwd = all
        .iter()
        .find(|e| e.path() == Path::new("/etc/passwd"))
        .unwrap();
    // The walk is over: the parent is resolved again inside the root, and is the same dir.
    assert_eq!(passwd.metadata().unwrap().len(), 10);
    // Now the parent is replaced by another directory of the same name: not used.
    std::fs::rename(
        layout.tree.join("root/etc"),
        layout.tree.join("root/etc.old"),
    )
    .unwrap();
    std::fs::create_dir(layout.tree.join("root/etc")).unwrap();
    std::fs::write(layout.tree.join("root/etc/passwd"), "planted").unwrap();
    let err = passwd.open(OFlags::RDONLY).unwrap_err();
    assert_eq!(err.errno(), Errno::XDEV, "{err}");
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn read_xattr_never_follows_a_link_nor_opens_a_fifo() {
    require_privilege("trusted.* xattrs (CAP_SYS_ADMIN)");
    with_deadline(|| {
        let layout = Layout::new();
        let set = |path: &str, value: &[u8]| {
            rustix::fs::lsetxattr(
                layout.tree.join(path).as_path(),
                "trusted.walk",
                value,
                rustix::fs::XattrFlags::empty(),
            )
        };
        set("root/etc/passwd", b"file").unwrap();
        set("root/abs", b"link").unwrap();
        set("root/etc", b"dir").unwrap();
        let fifo_has_xattr = set("root/fifo", b"fifo").is_ok();
        let root = layout.root(Backend::Auto);
        let all = by_path(root.walk("/"));
        assert_eq!(
            all["/etc/passwd"].read_xattr("trusted.walk").unwrap(),
            Some(b"file".to_vec())
        );
        // The link's own attribute, not its target's (/etc, which has "dir").
        assert_eq!(
            all["/abs"].read_xattr("trusted.walk").unwrap(),
            Some(b"link".to_vec())
        );
        assert_eq!(
            all["/etc/hostname"].read_xattr("trusted.walk").unwrap(),
            None
        );
        // A FIFO with no writer: opening it would block; this must answer at once.
        let fifo = all["/fifo"].read_xattr("trusted.walk").unwrap();
        assert_eq!(fifo.is_some(), fifo_has_xattr);
        // The start entry (its own O_PATH fd).
        let etc = root.walk("/etc").next().unwrap().unwrap();
        assert_eq!(
            etc.read_xattr("trusted.walk").unwrap(),
            Some(b"dir".to_vec())
        );
        assert_eq!(
            all["/etc/passwd"].read_xattr("").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn an_unreadable_directory_is_an_error_for_it_and_the_walk_goes_on() {
    require_privilege("switching to an unprivileged uid");
    let layout = Layout::new();
    layout.tree.write("root/locked/secret", b"x");
    layout.tree.write("root/zz/after", b"x");
    for dir in ["", "root"] {
        std::fs::set_permissions(
            layout.tree.join(dir),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    std::fs::set_permissions(
        layout.tree.join("root/locked"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let root_path = layout.root_path();
    in_child(|| {
        procroot_testutil::become_user(1000);
        let root = Root::open(&root_path).unwrap();
        let mut got = Vec::new();
        let mut errors = Vec::new();
        for entry in root.walk("/").sort_by_name(true) {
            match entry {
                Ok(e) => got.push(e.path().to_string_lossy().into_owned()),
                Err(e) => errors.push(e),
            }
        }
        assert!(got.contains(&"/locked".to_string()), "{got:?}");
        assert!(!got.contains(&"/locked/secret".to_string()));
        assert!(
            got.contains(&"/zz/after".to_string()),
            "the walk went on: {got:?}"
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].errno(), Errno::ACCESS);
        assert_eq!(errors[0].path(), Some(Path::new("/locked")));
        let msg = errors[0].to_string();
        assert!(msg.contains("/locked"), "{msg}");
    });
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn same_mount_lists_a_mount_point_without_entering_it() {
    require_privilege("mounting a tmpfs in a private mount namespace");
    let layout = Layout::new();
    layout.tree.mkdir("root/mnt");
    layout.tree.write("root/mnt/under", b"hidden by the mount");
    let root_path = layout.root_path();
    in_private_mount_ns(|| {
        rustix::mount::mount(
            "tmpfs",
            root_path.join("mnt").as_path(),
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None::<&std::ffi::CStr>,
        )
        .unwrap();
        std::fs::write(root_path.join("mnt/on-tmpfs"), b"x").unwrap();
        // A bind mount of a directory of the same file system: same st_dev, another mount.
        std::fs::create_dir(root_path.join("bound")).unwrap();
        rustix::mount::mount_bind(
            root_path.join("usr").as_path(),
            root_path.join("bound").as_path(),
        )
        .unwrap();
        for backend in BACKENDS {
            let root = Root::open(&root_path).unwrap().with_backend(backend);
            let all = by_path(root.walk("/"));
            assert!(all["/mnt"].is_mount_point());
            assert!(
                all["/bound"].is_mount_point(),
                "a bind mount is told by mount id"
            );
            assert!(!all["/usr"].is_mount_point());
            assert!(!all.contains_key("/mnt/on-tmpfs"));
            assert!(!all.contains_key("/bound/bin"));
            let all = by_path(root.walk("/").same_mount(false));
            assert!(all.contains_key("/mnt/on-tmpfs"));
            assert!(!all.contains_key("/mnt/under"));
            assert!(all.contains_key("/bound/bin/busybox"));
            assert!(all["/mnt"].is_mount_point());
        }
    });
}

/// Builds `top/deep/d/d/.../d` (`depth` levels) with a file every 100 levels, one fd at a time.
fn build_deep(top: &Path, depth: usize) {
    use rustix::fs::OFlags as O;
    let mut cur = procroot_testutil::open_dir(top);
    rustix::fs::mkdirat(&cur, "deep", Mode::from_raw_mode(0o755)).unwrap();
    cur = rustix::fs::openat(&cur, "deep", O::PATH | O::DIRECTORY, Mode::empty()).unwrap();
    for i in 0..depth {
        rustix::fs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).unwrap();
        if i % 100 == 0 {
            rustix::fs::openat(
                &cur,
                "file",
                O::CREATE | O::WRONLY | O::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
            .unwrap();
        }
        cur = rustix::fs::openat(&cur, "d", O::PATH | O::DIRECTORY, Mode::empty()).unwrap();
    }
}

#[test]
fn a_10000_deep_tree_walks_under_rlimit_nofile_128() {
    const DEPTH: usize = 10_000;
    const FD_LIMIT: u64 = 128;
    let tree = Tree::new("dir root");
    build_deep(&tree.join("root"), DEPTH);
    for backend in BACKENDS {
        for contents_first in [false, true] {
            let root = Root::open(tree.join("root")).unwrap().with_backend(backend);
            in_child(|| {
                procroot_testutil::limit_open_files(FD_LIMIT);
                let (mut dirs, mut files, mut max_depth) = (0, 0, 0);
                let mut kept = Vec::new();
                for entry in root.walk("/deep").contents_first(contents_first) {
                    let entry = entry.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
                    match entry.file_type() {
                        FileType::Dir => dirs += 1,
                        FileType::File => files += 1,
                        other => panic!("{other:?}"),
                    }
                    max_depth = max_depth.max(entry.depth());
                    // Entries kept by the caller hold no fd of their own.
                    if entry.file_type() == FileType::Dir
                        && [0, 1, 50, 5000].contains(&entry.depth())
                    {
                        kept.push(entry);
                    }
                }
                assert_eq!((dirs, files, max_depth), (DEPTH + 1, DEPTH / 100, DEPTH));
                // Each kept entry still works once the walk has closed its parent (the parent
                // is resolved again by its path inside the root), as long as that path fits
                // in PATH_MAX; beyond it the entry says so (documented), never guesses. (Not
                // 1000 deep: the emulated resolver holds an fd per component, over 128.)
                for entry in &kept {
                    let fits = entry.path().as_os_str().len() < 4096;
                    match entry.metadata() {
                        Ok(meta) => assert!(
                            fits && meta.is_dir(),
                            "{backend:?} {contents_first} depth {}",
                            entry.depth()
                        ),
                        Err(e) => assert!(
                            !fits && e.kind() == ErrorKind::InvalidInput,
                            "{backend:?} depth {}: {:?} {:?}",
                            entry.depth(),
                            e.kind(),
                            e.errno()
                        ),
                    }
                }
            });
        }
    }
}

#[test]
fn entry_paths_join_names_under_the_start() {
    let tree = Tree::new("file r/a/b/c x");
    let root = Root::open(tree.join("r")).unwrap();
    let names: Vec<OsString> = root
        .walk("/a/")
        .map(|e| e.unwrap().path().as_os_str().to_os_string())
        .collect();
    assert_eq!(
        names,
        [
            OsString::from_vec(b"/a".to_vec()),
            OsString::from("/a/b"),
            OsString::from("/a/b/c")
        ]
    );
}

/// A directory entered through a followed symlink, then left far below (deeper than the fd
/// window, so that the walker closes it and must find it again on the way up): it is found
/// again through the resolver, from the root, not by `openat` of the symlink's name (which
/// `O_NOFOLLOW` refuses, and which must never be followed by `openat`).
#[test]
fn a_followed_directory_is_found_again_after_a_deep_descent() {
    const DEPTH: usize = 100;
    let tree = Tree::new("dir root");
    build_deep(&tree.join("root"), DEPTH);
    // /link -> deep (relative) and /abs -> /deep (absolute: the root's, never the host's).
    tree.symlink("deep", "root/link");
    tree.symlink("/deep", "root/abs");
    for backend in BACKENDS {
        let root = Root::open(tree.join("root")).unwrap().with_backend(backend);
        let mut count = BTreeMap::new();
        for entry in root.walk("/").follow_links(true) {
            let entry = entry.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            let top = entry.path().iter().nth(1).map(|c| c.to_os_string());
            *count.entry(top).or_insert(0usize) += 1;
        }
        let of = |name: &str| count[&Some(OsString::from(name))];
        // Each way in lists the whole tree: DEPTH + 1 directories and a file every 100 levels.
        assert_eq!(of("deep"), DEPTH + 1 + DEPTH / 100, "{backend:?}");
        assert_eq!(of("link"), of("deep"), "{backend:?}");
        assert_eq!(of("abs"), of("deep"), "{backend:?}");
    }
}

/// Names and types cost no syscall per entry when the file system gives `d_type`: once the
/// walk is inside a directory of 2,000 files, every way to stat a file is refused by a seccomp
/// filter (`stat`, `lstat`, `fstat`, `newfstatat`, `statx`, `readlink*`) and the walk still
/// lists every entry with its type. (What it does per directory is not under the filter: the
/// directory is opened and `statx`ed before the filter goes on.)
#[test]
fn names_and_types_cost_no_syscall_per_entry() {
    // x86_64 and aarch64 numbers differ: the test names x86_64's.
    #[cfg(target_arch = "x86_64")]
    const STATS: [i64; 7] = [4, 5, 6, 262, 332, 89, 267];
    #[cfg(not(target_arch = "x86_64"))]
    const STATS: [i64; 4] = [79, 80, 291, 78];
    let tree = Tree::new("dir r");
    for i in 0..2000 {
        std::fs::write(tree.join(format!("r/f{i}")), b"").unwrap();
    }
    std::os::unix::fs::symlink("f0", tree.join("r/link")).unwrap();
    mkfifo(&tree.join("r/fifo"));
    let root = Root::open(tree.join("r")).unwrap();
    in_child(|| {
        let mut walk = root.walk("/");
        // The start: resolved, opened and statx'ed here, entered at the next call.
        assert_eq!(walk.next().unwrap().unwrap().path(), Path::new("/"));
        procroot_testutil::deny_syscalls(&STATS, libc::EPERM);
        let mut types = BTreeMap::new();
        for entry in walk {
            let entry = entry.unwrap_or_else(|e| panic!("a syscall per entry: {e}"));
            *types.entry(format!("{:?}", entry.file_type())).or_insert(0) += 1;
        }
        let want: BTreeMap<String, i32> = [("File", 2000), ("Symlink", 1), ("Fifo", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(types, want);
        // The filter is on: the same walk's on-demand calls are refused.
        assert!(std::fs::symlink_metadata("/").is_err());
    });
}

/// A directory replaced (renamed away, another made in its place) while the walk is far below
/// it, beyond the fd window: climbing back up finds another directory under the recorded
/// name, which is an `EXDEV` error, never a reason to list the newcomer; the walk then goes on
/// with what is above it.
#[test]
fn a_parent_replaced_while_the_walk_is_deep_below_it_is_an_error_and_the_walk_goes_on() {
    const DEPTH: usize = 60;
    let tree = Tree::new("file root/zz after");
    build_deep(&tree.join("root"), DEPTH);
    for backend in BACKENDS {
        let root = Root::open(tree.join("root")).unwrap().with_backend(backend);
        let mut walk = root.walk("/").sort_by_name(true);
        for entry in walk.by_ref() {
            if entry.unwrap().depth() == DEPTH - 5 {
                break;
            }
        }
        let old = tree.join("root/deep/d");
        let aside = tree.join(format!("root/aside-{backend:?}"));
        std::fs::rename(&old, &aside).unwrap();
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("NEWCOMER"), b"").unwrap();
        let (mut errors, mut paths) = (Vec::new(), Vec::new());
        for entry in walk {
            match entry {
                Ok(e) => paths.push(e.path().to_string_lossy().into_owned()),
                Err(e) => errors.push(e),
            }
        }
        assert!(
            !errors.is_empty(),
            "{backend:?}: the replacement went unnoticed"
        );
        for e in &errors {
            assert_eq!(e.errno(), Errno::XDEV, "{backend:?}: {e}");
        }
        assert!(
            paths.contains(&"/zz".to_string()),
            "{backend:?}: the walk went on"
        );
        assert!(
            !paths.iter().any(|p| p.contains("NEWCOMER")),
            "{backend:?}: {paths:?}"
        );
        // Put back for the next backend.
        std::fs::remove_dir_all(&old).unwrap();
        std::fs::rename(&aside, &old).unwrap();
    }
}

/// Without `getxattrat` (before Linux 6.13, here disabled): a regular file's and a directory's
/// xattrs are read through a procfs reopen; a FIFO or a symlink is `NotSupported`, never opened
/// (the FIFO has no writer: an open would block).
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn read_xattr_without_getxattrat_never_opens_a_fifo() {
    require_privilege("trusted.* xattrs (CAP_SYS_ADMIN)");
    let layout = Layout::new();
    for path in ["root/etc/passwd", "root/etc"] {
        rustix::fs::lsetxattr(
            layout.tree.join(path).as_path(),
            "trusted.walk",
            b"v",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
    let root_path = layout.root_path();
    with_deadline(|| {
        procroot::testing::disable(procroot::testing::Feature::Xattrat);
        let root = Root::open(&root_path).unwrap();
        let all = by_path(root.walk("/"));
        let v = Some(b"v".to_vec());
        assert_eq!(all["/etc/passwd"].read_xattr("trusted.walk").unwrap(), v);
        assert_eq!(all["/etc"].read_xattr("trusted.walk").unwrap(), v);
        assert_eq!(
            all["/etc/hostname"].read_xattr("trusted.walk").unwrap(),
            None
        );
        for special in ["/fifo", "/abs"] {
            let err = all[special].read_xattr("trusted.walk").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotSupported, "{special}: {err}");
        }
    });
}
