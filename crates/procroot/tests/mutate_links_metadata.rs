//! `Root::rename`, `symlink`, `hardlink`, `hardlink_fd`, `mknod`, and the metadata operations
//! (`set_permissions`, `chown`, `set_times`, `read_xattr`, `set_xattr`), on both backends.
//!
//! - Per-operation tables: every row runs on a fresh tree, once per backend, and must give
//!   exactly the expected result (success plus a check of what changed, or the errno and the
//!   error kind). A failing test lists every failing row.
//! - Containment: symlinks inside the root that point "outside" (absolute, or climbing with
//!   `..`) must lead to the root's own files; a sentinel tree next to the root must stay
//!   untouched (mode, owner, times, xattrs, names).
//! - Fallbacks, each forced in a forked child: `fchmodat2` and `getxattrat`/`setxattrat` taken
//!   away by a seccomp filter (`ENOSYS`, and `EPERM` for `fchmodat2`) or by the feature override;
//!   `linkat(AT_EMPTY_PATH)` refused because `CAP_DAC_READ_SEARCH` was dropped, or disabled by
//!   the override.
//! - Mounts (`EXDEV` across a mount, `NO_XDEV`) run in a private mount namespace.
//!
//! The test process runs as root in CI; the privileged parts (device nodes, whiteouts, chown,
//! mounts) call `require_privilege` and fail loudly without it.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use procroot::testing::{self, Feature};
use procroot::{Backend, ErrorKind, OFlags, Policy, ResolveFlags, Root};
use procroot_testutil::{
    deny_syscalls, in_child, in_private_mount_ns, mount_raw, require_privilege, Tree,
};
use rustix::fs::RenameFlags;
use rustix::io::Errno;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

const SYS_FCHMODAT2: i64 = 452;
const SYS_SETXATTRAT: i64 = 463;
const SYS_GETXATTRAT: i64 = 464;
/// `CAP_DAC_READ_SEARCH` from `linux/capability.h`.
const CAP_DAC_READ_SEARCH: u32 = 2;

/// The tree every table row starts from. `escape` climbs above the root (clamped by `InRoot`,
/// `EXDEV` under `Beneath`); `abs_dir` and `link_abs` are absolute symlinks (re-rooted by
/// `InRoot`, `EXDEV` under `Beneath`).
const SPEC: &str = "
    file d/f hello
    dir d/sub
    file f0 zero
    dir empty
    file notdir x
    symlink link_f d/f
    symlink link_abs /d/f
    symlink abs_dir /d
    symlink dangling nowhere
    symlink loop loop
    symlink escape ../../../../d
";

// ------------------------------------------------------------------------------------------------
// The table model
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Want {
    /// Success, then this check of the tree (which panics with a message on failure).
    Ok(fn(&Tree)),
    /// An error with this errno, of the kind the errno implies.
    Err(Errno),
    /// An `InvalidInput` error with this errno.
    Invalid(Errno),
    /// An error of this kind with this errno.
    Kind(ErrorKind, Errno),
}

struct Row {
    name: &'static str,
    op: fn(&Root) -> procroot::Result<()>,
    want: Want,
}

macro_rules! row {
    ($name:expr, |$r:ident| $op:expr, $want:expr) => {
        Row {
            name: $name,
            op: |$r: &Root| $op,
            want: $want,
        }
    };
}

fn nothing(_: &Tree) {}

fn kind_of(errno: Errno) -> ErrorKind {
    match errno {
        Errno::NOENT => ErrorKind::NotFound,
        Errno::XDEV => ErrorKind::SafetyViolation,
        Errno::NOSYS => ErrorKind::NotSupported,
        _ => ErrorKind::Os,
    }
}

/// Runs every row on a fresh tree per backend; panics listing every failing row.
fn run_table(table: &str, rows: &[Row]) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for backend in BACKENDS {
        for row in rows {
            let tree = Tree::new(SPEC);
            let root = Root::open(tree.path())
                .expect("open root")
                .with_backend(backend);
            let got = (row.op)(&root);
            let problem = match (row.want, got) {
                (Want::Ok(check), Ok(())) => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&tree)))
                        .err()
                        .map(|p| {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            format!("succeeded but the check failed: {msg}")
                        })
                }
                (Want::Ok(_), Err(e)) => Some(format!("wanted success, got {e}")),
                (Want::Err(errno), Ok(())) => Some(format!("wanted {errno:?}, got success")),
                (Want::Kind(kind, errno), Ok(())) => {
                    Some(format!("wanted {kind:?} {errno:?}, got success"))
                }
                (Want::Kind(kind, errno), Err(e)) => (e.errno() != errno || e.kind() != kind)
                    .then(|| format!("wanted {kind:?} {errno:?}, got {e} ({:?})", e.kind())),
                (Want::Invalid(errno), Ok(())) => {
                    Some(format!("wanted InvalidInput {errno:?}, got success"))
                }
                (Want::Err(errno), Err(e)) => (e.errno() != errno || e.kind() != kind_of(errno))
                    .then(|| {
                        format!(
                            "wanted {errno:?} ({:?}), got {e} ({:?})",
                            kind_of(errno),
                            e.kind()
                        )
                    }),
                (Want::Invalid(errno), Err(e)) => (e.errno() != errno
                    || e.kind() != ErrorKind::InvalidInput)
                    .then(|| format!("wanted InvalidInput {errno:?}, got {e} ({:?})", e.kind())),
            };
            ran += 1;
            if let Some(problem) = problem {
                failures.push(format!("[{table}] {} on {backend:?}: {problem}", row.name));
            }
        }
    }
    eprintln!("{table}: ran {ran} cases");
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn lstat(tree: &Tree, path: &str) -> std::fs::Metadata {
    std::fs::symlink_metadata(tree.join(path)).unwrap_or_else(|e| panic!("lstat {path}: {e}"))
}

fn exists(tree: &Tree, path: &str) -> bool {
    std::fs::symlink_metadata(tree.join(path)).is_ok()
}

fn read(tree: &Tree, path: &str) -> String {
    std::fs::read_to_string(tree.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn link_target(tree: &Tree, path: &str) -> PathBuf {
    std::fs::read_link(tree.join(path)).unwrap_or_else(|e| panic!("readlink {path}: {e}"))
}

fn mode(tree: &Tree, path: &str) -> u32 {
    lstat(tree, path).mode() & 0o7777
}

fn beneath(root: &Root) -> Root {
    root.clone().with_policy(Policy::Beneath)
}

/// The `InvalidInput` rows every operation that needs a last name shares.
macro_rules! bad_names {
    ($op:ident) => {
        [
            row!("`.`", |r| $op(r, "."), Want::Invalid(Errno::INVAL)),
            row!("`..`", |r| $op(r, ".."), Want::Invalid(Errno::INVAL)),
            row!("`/`", |r| $op(r, "/"), Want::Invalid(Errno::INVAL)),
            row!("empty", |r| $op(r, ""), Want::Invalid(Errno::INVAL)),
            row!("`d/.`", |r| $op(r, "d/."), Want::Invalid(Errno::INVAL)),
            row!("`d/..`", |r| $op(r, "d/.."), Want::Invalid(Errno::INVAL)),
        ]
    };
}

/// The rows for a new name whose parent cannot be used.
macro_rules! bad_parents {
    ($op:ident) => {
        [
            row!(
                "parent missing",
                |r| $op(r, "nope/x"),
                Want::Err(Errno::NOENT)
            ),
            row!(
                "parent a file",
                |r| $op(r, "notdir/x"),
                Want::Err(Errno::NOTDIR)
            ),
            row!(
                "parent a loop",
                |r| $op(r, "loop/x"),
                Want::Err(Errno::LOOP)
            ),
            row!(
                "parent dangling",
                |r| $op(r, "dangling/x"),
                Want::Err(Errno::NOENT)
            ),
            row!(
                "parent escapes, Beneath",
                |r| $op(&beneath(r), "escape/x"),
                Want::Err(Errno::XDEV)
            ),
            row!(
                "parent absolute symlink, Beneath",
                |r| $op(&beneath(r), "abs_dir/x"),
                Want::Err(Errno::XDEV)
            ),
            row!(
                "absolute path, Beneath",
                |r| $op(&beneath(r), "/d/x"),
                Want::Err(Errno::XDEV)
            ),
            row!(
                "parent through a symlink, NO_SYMLINKS",
                |r| $op(
                    &r.clone()
                        .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS),
                    "abs_dir/x"
                ),
                Want::Err(Errno::LOOP)
            ),
        ]
    };
}

// ------------------------------------------------------------------------------------------------
// rename
// ------------------------------------------------------------------------------------------------

fn rename_from(r: &Root, from: &str) -> procroot::Result<()> {
    r.rename(from, "new", RenameFlags::empty())
}

fn rename_to(r: &Root, to: &str) -> procroot::Result<()> {
    r.rename("f0", to, RenameFlags::empty())
}

#[test]
fn rename_table() {
    let mut rows = vec![
        row!(
            "file",
            |r| r.rename("d/f", "d/g", RenameFlags::empty()),
            Want::Ok(|t| {
                assert!(!exists(t, "d/f"));
                assert_eq!(read(t, "d/g"), "hello");
            })
        ),
        row!(
            "absolute paths",
            |r| r.rename("/d/f", "/g", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(read(t, "g"), "hello"))
        ),
        row!(
            "through an absolute symlink parent (re-rooted)",
            |r| r.rename("abs_dir/f", "escape/g", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(read(t, "d/g"), "hello"))
        ),
        row!(
            "a trailing symlink is renamed, not followed",
            |r| r.rename("link_f", "moved", RenameFlags::empty()),
            Want::Ok(|t| {
                assert!(lstat(t, "moved").file_type().is_symlink());
                assert_eq!(read(t, "d/f"), "hello");
            })
        ),
        row!(
            "a dangling symlink is renamed",
            |r| r.rename("dangling", "moved", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(link_target(t, "moved"), Path::new("nowhere")))
        ),
        row!(
            "onto an existing symlink replaces the symlink",
            |r| r.rename("f0", "link_f", RenameFlags::empty()),
            Want::Ok(|t| {
                assert_eq!(read(t, "link_f"), "zero");
                assert!(lstat(t, "link_f").file_type().is_file());
                assert_eq!(read(t, "d/f"), "hello");
            })
        ),
        row!(
            "directory with trailing slashes",
            |r| r.rename("d/", "e/", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(read(t, "e/f"), "hello"))
        ),
        row!(
            "replace a file",
            |r| r.rename("d/f", "f0", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(read(t, "f0"), "hello"))
        ),
        row!(
            "NOREPLACE onto a new name",
            |r| r.rename("d/f", "new", RenameFlags::NOREPLACE),
            Want::Ok(|t| assert_eq!(read(t, "new"), "hello"))
        ),
        row!(
            "NOREPLACE onto an existing file",
            |r| r.rename("d/f", "f0", RenameFlags::NOREPLACE),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "NOREPLACE onto a dangling symlink",
            |r| r.rename("d/f", "dangling", RenameFlags::NOREPLACE),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "EXCHANGE",
            |r| r.rename("d/f", "f0", RenameFlags::EXCHANGE),
            Want::Ok(|t| {
                assert_eq!(read(t, "d/f"), "zero");
                assert_eq!(read(t, "f0"), "hello");
            })
        ),
        row!(
            "EXCHANGE a file and a directory",
            |r| r.rename("f0", "empty", RenameFlags::EXCHANGE),
            Want::Ok(|t| {
                assert!(lstat(t, "f0").is_dir());
                assert_eq!(read(t, "empty"), "zero");
            })
        ),
        row!(
            "EXCHANGE with a missing name",
            |r| r.rename("d/f", "new", RenameFlags::EXCHANGE),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "EXCHANGE and NOREPLACE together",
            |r| r.rename("d/f", "f0", RenameFlags::EXCHANGE | RenameFlags::NOREPLACE),
            Want::Err(Errno::INVAL)
        ),
        row!(
            "missing source",
            |r| r.rename("missing", "new", RenameFlags::empty()),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "file with a trailing slash",
            |r| r.rename("d/f/", "new", RenameFlags::empty()),
            Want::Err(Errno::NOTDIR)
        ),
        row!(
            "directory onto a file",
            |r| r.rename("empty", "f0", RenameFlags::empty()),
            Want::Err(Errno::NOTDIR)
        ),
        row!(
            "file onto a directory",
            |r| r.rename("f0", "empty", RenameFlags::empty()),
            Want::Err(Errno::ISDIR)
        ),
        row!(
            "directory onto a non-empty directory",
            |r| r.rename("empty", "d", RenameFlags::empty()),
            Want::Err(Errno::NOTEMPTY)
        ),
        row!(
            "directory into itself",
            |r| r.rename("d", "d/sub/x", RenameFlags::empty()),
            Want::Err(Errno::INVAL)
        ),
        row!(
            "source parent escapes, InRoot (clamped, so /d/f)",
            |r| r.rename("escape/f", "new", RenameFlags::empty()),
            Want::Ok(|t| assert_eq!(read(t, "new"), "hello"))
        ),
    ];
    rows.extend(bad_names!(rename_from));
    rows.extend(bad_names!(rename_to));
    rows.extend(bad_parents!(rename_from));
    rows.extend(bad_parents!(rename_to));
    run_table("rename", &rows);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn rename_whiteout() {
    require_privilege("CAP_MKNOD for RENAME_WHITEOUT");
    for backend in BACKENDS {
        let tree = Tree::new(SPEC);
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        root.rename("d/f", "d/g", RenameFlags::WHITEOUT)
            .expect("rename with WHITEOUT");
        assert_eq!(read(&tree, "d/g"), "hello");
        let md = lstat(&tree, "d/f");
        assert!(md.file_type().is_char_device(), "{backend:?}: no whiteout");
        assert_eq!(md.rdev(), 0, "a whiteout is the char device 0:0");
    }
}

// ------------------------------------------------------------------------------------------------
// symlink
// ------------------------------------------------------------------------------------------------

fn symlink_at(r: &Root, path: &str) -> procroot::Result<()> {
    r.symlink("target", path)
}

#[test]
fn symlink_table() {
    let mut rows = vec![
        row!(
            "absolute target, stored verbatim",
            |r| r.symlink("/etc/passwd", "s"),
            Want::Ok(|t| assert_eq!(link_target(t, "s"), Path::new("/etc/passwd")))
        ),
        row!(
            "relative target climbing, stored verbatim",
            |r| r.symlink("../../x/./y/", "d/s"),
            Want::Ok(|t| assert_eq!(link_target(t, "d/s"), Path::new("../../x/./y/")))
        ),
        row!(
            "non-UTF-8 target",
            |r| r.symlink(OsStr::from_bytes(b"\xff\xfe/x"), "s"),
            Want::Ok(|t| assert_eq!(link_target(t, "s").as_os_str().as_bytes(), b"\xff\xfe/x"))
        ),
        row!(
            "non-UTF-8 link name",
            |r| r.symlink("t", OsStr::from_bytes(b"d/\xff")),
            Want::Ok(|t| assert!(std::fs::symlink_metadata(
                t.path().join(OsStr::from_bytes(b"d/\xff"))
            )
            .unwrap()
            .file_type()
            .is_symlink()))
        ),
        row!(
            "under an absolute symlink parent (re-rooted)",
            |r| r.symlink("t", "abs_dir/s"),
            Want::Ok(|t| assert_eq!(link_target(t, "d/s"), Path::new("t")))
        ),
        row!(
            "the new link resolves inside the root",
            |r| {
                r.symlink("/d/f", "s")?;
                let h = r.resolve("s")?;
                assert_eq!(h.path_in_root()?, Path::new("/d/f"));
                Ok(())
            },
            Want::Ok(nothing)
        ),
        row!(
            "empty target",
            |r| r.symlink("", "s"),
            Want::Invalid(Errno::NOENT)
        ),
        row!(
            "NUL in the target",
            |r| r.symlink("a\0b", "s"),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "existing file",
            |r| r.symlink("t", "f0"),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "existing directory",
            |r| r.symlink("t", "d"),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "existing dangling symlink (not followed)",
            |r| r.symlink("t", "dangling"),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "new name with a trailing slash",
            |r| r.symlink("t", "s/"),
            Want::Invalid(Errno::INVAL)
        ),
    ];
    rows.extend(bad_names!(symlink_at));
    rows.extend(bad_parents!(symlink_at));
    run_table("symlink", &rows);
}

// ------------------------------------------------------------------------------------------------
// hardlink
// ------------------------------------------------------------------------------------------------

fn hardlink_to(r: &Root, new: &str) -> procroot::Result<()> {
    r.hardlink("f0", new)
}

fn hardlink_from(r: &Root, existing: &str) -> procroot::Result<()> {
    r.hardlink(existing, "new")
}

fn same_inode(t: &Tree, a: &str, b: &str) {
    assert_eq!(lstat(t, a).ino(), lstat(t, b).ino(), "{a} and {b} differ");
}

fn table_hardlink() -> Vec<Row> {
    let mut rows = vec![
        row!(
            "file",
            |r| r.hardlink("d/f", "d/h"),
            Want::Ok(|t| {
                same_inode(t, "d/f", "d/h");
                assert_eq!(lstat(t, "d/f").nlink(), 2);
            })
        ),
        row!(
            "absolute paths through absolute symlinks",
            |r| r.hardlink("/abs_dir/f", "/abs_dir/h"),
            Want::Ok(|t| same_inode(t, "d/f", "d/h"))
        ),
        row!(
            "a trailing symlink is linked, not followed",
            |r| r.hardlink("link_f", "h"),
            Want::Ok(|t| {
                same_inode(t, "link_f", "h");
                assert!(lstat(t, "h").file_type().is_symlink());
            })
        ),
        row!(
            "a dangling symlink is linked",
            |r| r.hardlink("dangling", "h"),
            Want::Ok(|t| same_inode(t, "dangling", "h"))
        ),
        row!(
            "an absolute symlink, Beneath (not followed, so no escape)",
            |r| beneath(r).hardlink("link_abs", "h"),
            Want::Ok(|t| same_inode(t, "link_abs", "h"))
        ),
        row!(
            "a directory",
            |r| r.hardlink("d", "h"),
            Want::Err(Errno::PERM)
        ),
        row!(
            "missing",
            |r| r.hardlink("missing", "h"),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "existing through a loop",
            |r| r.hardlink("loop/x", "h"),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "existing escapes, Beneath",
            |r| beneath(r).hardlink("escape/f", "h"),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "existing escapes, InRoot (clamped, so /d/f)",
            |r| r.hardlink("escape/f", "h"),
            Want::Ok(|t| same_inode(t, "d/f", "h"))
        ),
        row!(
            "onto an existing file",
            |r| r.hardlink("d/f", "f0"),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "onto a dangling symlink (not followed)",
            |r| r.hardlink("d/f", "dangling"),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "empty existing",
            |r| r.hardlink("", "h"),
            Want::Err(Errno::NOENT)
        ),
    ];
    rows.extend(bad_names!(hardlink_to));
    rows.extend(bad_parents!(hardlink_to));
    // A missing or unusable parent of `existing` fails the same way. (The name rows do not
    // apply: `existing` is looked up, and `.` or `/` name directories, which are EPERM.)
    rows.extend(bad_parents!(hardlink_from));
    rows
}

#[test]
fn hardlink_table() {
    run_table("hardlink", &table_hardlink());
}

/// The same table with `linkat(AT_EMPTY_PATH)` disabled: every link goes through the procfs
/// magic link, and must give the same answers.
#[test]
fn hardlink_table_procfs_fallback() {
    in_child(|| {
        testing::disable(Feature::LinkatEmptyPath);
        run_table("hardlink (procfs fallback)", &table_hardlink());
    });
}

fn tmpfile(tree: &Tree, dir: &str, excl: bool) -> std::fs::File {
    let dirfd = std::fs::File::open(tree.join(dir)).unwrap();
    let mut flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    if excl {
        flags |= OFlags::EXCL;
    }
    let fd = rustix::fs::openat(&dirfd, ".", flags, rustix::fs::Mode::from_raw_mode(0o600))
        .expect("O_TMPFILE");
    std::fs::File::from(fd)
}

fn check_hardlink_fd() {
    use std::io::Write;
    for backend in BACKENDS {
        let tree = Tree::new(SPEC);
        let root = Root::open(tree.path()).unwrap().with_backend(backend);

        let mut tmp = tmpfile(&tree, "d", false);
        tmp.write_all(b"tmp contents").unwrap();
        root.hardlink_fd(&tmp, "abs_dir/published")
            .expect("link an O_TMPFILE");
        assert_eq!(read(&tree, "d/published"), "tmp contents");
        let err = root
            .hardlink_fd(&tmp, "f0")
            .expect_err("onto an existing file");
        assert_eq!(err.errno(), Errno::EXIST, "{err}");

        let excl = tmpfile(&tree, "d", true);
        let err = root
            .hardlink_fd(&excl, "never")
            .expect_err("O_TMPFILE|O_EXCL cannot be linked");
        assert_eq!(err.errno(), Errno::NOENT, "{err}");
        assert!(!exists(&tree, "never"));

        // A handle is an fd too; a directory cannot be linked.
        let handle = root.resolve("d/f").unwrap();
        root.hardlink_fd(&handle, "via_handle").unwrap();
        same_inode(&tree, "d/f", "via_handle");
        let dir = root.resolve("d").unwrap();
        let err = root.hardlink_fd(&dir, "dirlink").expect_err("a directory");
        assert_eq!(err.errno(), Errno::PERM, "{err}");

        let err = beneath(&root)
            .hardlink_fd(&tmp, "escape/x")
            .expect_err("escaping parent");
        assert_eq!(err.errno(), Errno::XDEV, "{err}");
        let err = root.hardlink_fd(&tmp, "..").expect_err("bad name");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

#[test]
fn hardlink_fd_tmpfile() {
    check_hardlink_fd();
}

#[test]
fn hardlink_fd_tmpfile_procfs_fallback() {
    in_child(|| {
        testing::disable(Feature::LinkatEmptyPath);
        check_hardlink_fd();
    });
}

/// Without `CAP_DAC_READ_SEARCH`, `linkat(AT_EMPTY_PATH)` refuses an fd opened with other
/// credentials (`ENOENT`); the procfs fallback must still link it, with nothing disabled.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn hardlink_fd_without_cap_dac_read_search() {
    require_privilege("CAP_DAC_READ_SEARCH to drop");
    use std::io::Write;
    let tree = Tree::new(SPEC);
    let mut tmps: Vec<_> = BACKENDS
        .iter()
        .map(|_| tmpfile(&tree, "d", false))
        .collect();
    for tmp in &mut tmps {
        tmp.write_all(b"mine").unwrap();
    }
    in_child(|| {
        drop_effective_cap(CAP_DAC_READ_SEARCH);
        // The kernel now refuses the direct way for these fds (opened before the drop)...
        let parent = std::fs::File::open(tree.join("d")).unwrap();
        let direct = rustix::fs::linkat(
            &tmps[0],
            "",
            &parent,
            "direct",
            rustix::fs::AtFlags::EMPTY_PATH,
        );
        assert_eq!(
            direct,
            Err(Errno::NOENT),
            "the direct way must be refused here"
        );
        // ... and the library still links them.
        for (backend, tmp) in BACKENDS.iter().zip(&tmps) {
            let root = Root::open(tree.path()).unwrap().with_backend(*backend);
            let name = format!("linked-{backend:?}");
            root.hardlink_fd(tmp, &name)
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            assert_eq!(read(&tree, &name), "mine");
        }
    });
}

/// Clears one capability from this process's effective set (capset(2), v3).
fn drop_effective_cap(cap: u32) {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget takes a valid v3 header and an array of two data structs to fill.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0);
    data[(cap / 32) as usize].effective &= !(1 << (cap % 32));
    // SAFETY: capset reads the same v3 header and two data structs.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

// ------------------------------------------------------------------------------------------------
// mknod
// ------------------------------------------------------------------------------------------------

fn mknod_at(r: &Root, path: &str) -> procroot::Result<()> {
    r.mknod(path, "p".parse()?, 0o600)
}

#[test]
fn mknod_table() {
    let mut rows = vec![
        row!(
            "fifo",
            |r| r.mknod("d/p", "p".parse()?, 0o600),
            Want::Ok(|t| {
                let md = lstat(t, "d/p");
                assert!(md.file_type().is_fifo());
                assert_eq!(md.mode() & 0o7777, 0o600);
            })
        ),
        row!(
            "fifo under an absolute symlink parent",
            |r| r.mknod("abs_dir/p", "fifo".parse()?, 0o644),
            Want::Ok(|t| assert!(lstat(t, "d/p").file_type().is_fifo()))
        ),
        row!(
            "mode beyond 0o7777",
            |r| r.mknod("p", "p".parse()?, 0o10644),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "file type bits in the mode",
            |r| r.mknod("p", "p".parse()?, libc::S_IFREG | 0o644),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "existing file",
            |r| r.mknod("f0", "p".parse()?, 0o600),
            Want::Err(Errno::EXIST)
        ),
        row!(
            "existing dangling symlink (not followed)",
            |r| r.mknod("dangling", "p".parse()?, 0o600),
            Want::Err(Errno::EXIST)
        ),
    ];
    rows.extend(bad_names!(mknod_at));
    rows.extend(bad_parents!(mknod_at));
    run_table("mknod", &rows);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mknod_devices() {
    require_privilege("CAP_MKNOD");
    for backend in BACKENDS {
        let tree = Tree::new(SPEC);
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        root.mknod("null", "c:1:3".parse().unwrap(), 0o666).unwrap();
        let md = lstat(&tree, "null");
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
        root.mknod("/abs_dir/loop0", "b:7:0".parse().unwrap(), 0o660)
            .unwrap();
        let md = lstat(&tree, "d/loop0");
        assert!(md.file_type().is_block_device());
        assert_eq!(md.rdev(), rustix::fs::makedev(7, 0));
        let err = root
            .mknod("null", "c:1:3".parse().unwrap(), 0o666)
            .expect_err("exists");
        assert_eq!(err.errno(), Errno::EXIST);
    }
}

/// Device numbers the kernel cannot store are refused before any syscall: `mknod(2)` would keep
/// only the low bits, so `b:8:1048576` made `8:0` (a whole disk) and `c:1:1048579` made `1:3`
/// (`/dev/null`) while reporting success. The largest numbers that fit still work.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mknod_device_numbers_at_the_kernel_limits() {
    require_privilege("CAP_MKNOD");
    use procroot::NodeKind;
    let (max_major, max_minor) = (NodeKind::MAX_MAJOR, NodeKind::MAX_MINOR);
    assert_eq!((max_major, max_minor), (4095, 1_048_575));
    let tree = Tree::new("");
    let root = Root::open(tree.path()).unwrap();
    let fits = [
        (
            "c",
            NodeKind::CharDevice {
                major: max_major,
                minor: max_minor,
            },
        ),
        (
            "b",
            NodeKind::BlockDevice {
                major: max_major,
                minor: 0,
            },
        ),
        (
            "b0",
            NodeKind::BlockDevice {
                major: 8,
                minor: max_minor,
            },
        ),
    ];
    for (name, kind) in fits {
        root.mknod(name, kind, 0o600)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let (NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor }) = kind
        else {
            unreachable!()
        };
        assert_eq!(
            lstat(&tree, name).rdev(),
            rustix::fs::makedev(major, minor),
            "{kind}"
        );
    }
    let too_big = [
        NodeKind::CharDevice {
            major: max_major + 1,
            minor: 0,
        },
        NodeKind::BlockDevice {
            major: 8,
            minor: max_minor + 1,
        },
        NodeKind::CharDevice {
            major: 1,
            minor: 1_048_579,
        },
        NodeKind::BlockDevice {
            major: u32::MAX,
            minor: u32::MAX,
        },
    ];
    for kind in too_big {
        let err = root.mknod("bad", kind, 0o600).expect_err("out of range");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{kind}: {err}");
        assert_eq!(err.errno(), Errno::INVAL, "{kind}");
        assert!(!tree.join("bad").exists(), "{kind}: nothing may be created");
        // The parser refuses the same numbers.
        let err = kind.to_string().parse::<NodeKind>().expect_err("parse");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{kind}");
    }
}

/// `NodeKind` parses the forms the CLI takes and prints the canonical one. (The type is reached
/// through `mknod`'s parameter, so this test does not depend on how it is re-exported.)
#[test]
fn node_kind_parses_and_prints() {
    let tree = Tree::new("");
    let root = Root::open(tree.path()).unwrap();
    let parse = |s: &str| -> procroot::Result<String> {
        let kind = s.parse()?;
        // Only to pin the type: devices fail with EPERM without CAP_MKNOD, which is fine.
        let _ = root.mknod("x", kind, 0o600);
        let _ = std::fs::remove_file(tree.join("x"));
        Ok(format!("{kind}"))
    };
    for (s, canonical) in [
        ("p", "p"),
        ("fifo", "p"),
        ("c:1:3", "c:1:3"),
        ("char:1:3", "c:1:3"),
        ("u:5:1", "c:5:1"),
        ("b:8:0", "b:8:0"),
        ("block:8:16", "b:8:16"),
    ] {
        assert_eq!(parse(s).unwrap(), canonical, "{s}");
    }
    for bad in [
        "", "x", "c", "c:1", "c:1:", "c:1:3:4", "p:1", "c:-1:3", "b:a:b",
    ] {
        let err = parse(bad).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(err.errno(), Errno::INVAL, "{bad:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// set_permissions, chown, set_times
// ------------------------------------------------------------------------------------------------

fn chmod_at(r: &Root, path: &str) -> procroot::Result<()> {
    r.set_permissions(path, 0o600)
}

fn table_chmod() -> Vec<Row> {
    let mut rows = vec![
        row!(
            "file",
            |r| r.set_permissions("d/f", 0o600),
            Want::Ok(|t| assert_eq!(mode(t, "d/f"), 0o600))
        ),
        row!(
            "setuid and sticky bits are kept",
            |r| r.set_permissions("d/f", 0o5755),
            Want::Ok(|t| assert_eq!(mode(t, "d/f"), 0o5755))
        ),
        row!(
            "directory",
            |r| r.set_permissions("d", 0o700),
            Want::Ok(|t| assert_eq!(mode(t, "d"), 0o700))
        ),
        row!(
            "follows a trailing symlink",
            |r| r.set_permissions("link_f", 0o640),
            Want::Ok(|t| {
                assert_eq!(mode(t, "d/f"), 0o640);
                assert_eq!(mode(t, "link_f"), 0o777);
            })
        ),
        row!(
            "follows an absolute symlink inside the root",
            |r| r.set_permissions("link_abs", 0o604),
            Want::Ok(|t| assert_eq!(mode(t, "d/f"), 0o604))
        ),
        row!(
            "a fifo (no open, so no blocking)",
            |r| {
                r.mknod("p", "p".parse()?, 0o600)?;
                r.set_permissions("p", 0o644)
            },
            Want::Ok(|t| assert_eq!(mode(t, "p"), 0o644))
        ),
        row!(
            "mode beyond 0o7777",
            |r| r.set_permissions("d/f", 0o10000),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "dangling symlink",
            |r| r.set_permissions("dangling", 0o600),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "loop",
            |r| r.set_permissions("loop", 0o600),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "missing",
            |r| r.set_permissions("missing", 0o600),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "empty path",
            |r| r.set_permissions("", 0o600),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "through a file",
            |r| r.set_permissions("notdir/x", 0o600),
            Want::Err(Errno::NOTDIR)
        ),
        row!(
            "absolute symlink, Beneath",
            |r| beneath(r).set_permissions("link_abs", 0o600),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "escape, Beneath",
            |r| beneath(r).set_permissions("escape/f", 0o600),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "trailing symlink, NO_SYMLINKS",
            |r| r
                .clone()
                .with_flags(ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS)
                .set_permissions("link_f", 0o600),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "a symlink handle has no mode",
            |r| r.resolve_nofollow("link_f")?.set_permissions(0o600),
            Want::Err(Errno::OPNOTSUPP)
        ),
        row!(
            "the root itself",
            |r| r.set_permissions("/", 0o750),
            Want::Ok(|t| assert_eq!(mode(t, "."), 0o750))
        ),
    ];
    rows.extend(bad_parents!(chmod_at));
    rows
}

#[test]
fn set_permissions_table() {
    run_table("set_permissions", &table_chmod());
}

#[test]
fn set_permissions_without_fchmodat2_seccomp_enosys() {
    in_child(|| {
        deny_syscalls(&[SYS_FCHMODAT2], libc::ENOSYS);
        run_table("set_permissions (fchmodat2 ENOSYS)", &table_chmod());
        assert!(testing::known_unavailable(Feature::Fchmodat2));
    });
}

#[test]
fn set_permissions_without_fchmodat2_seccomp_eperm() {
    in_child(|| {
        deny_syscalls(&[SYS_FCHMODAT2], libc::EPERM);
        run_table("set_permissions (fchmodat2 EPERM)", &table_chmod());
        // EPERM is not taken as "missing": it is usually a real refusal.
        assert!(!testing::known_unavailable(Feature::Fchmodat2));
    });
}

#[test]
fn set_permissions_without_fchmodat2_override() {
    in_child(|| {
        testing::disable(Feature::Fchmodat2);
        // With the override and the syscall filtered, only the fallback can succeed.
        deny_syscalls(&[SYS_FCHMODAT2], libc::EACCES);
        run_table("set_permissions (fchmodat2 disabled)", &table_chmod());
    });
}

fn table_chown() -> Vec<Row> {
    vec![
        row!(
            "file",
            |r| r.chown("d/f", Some(1), Some(2)),
            Want::Ok(|t| {
                let md = lstat(t, "d/f");
                assert_eq!((md.uid(), md.gid()), (1, 2));
            })
        ),
        row!(
            "only the group",
            |r| r.chown("d/f", None, Some(3)),
            Want::Ok(|t| {
                let md = lstat(t, "d/f");
                assert_eq!((md.uid(), md.gid()), (0, 3));
            })
        ),
        row!(
            "nothing",
            |r| r.chown("d/f", None, None),
            Want::Ok(|t| assert_eq!(lstat(t, "d/f").uid(), 0))
        ),
        row!(
            "follows a trailing symlink",
            |r| r.chown("link_abs", Some(5), None),
            Want::Ok(|t| {
                assert_eq!(lstat(t, "d/f").uid(), 5);
                assert_eq!(lstat(t, "link_abs").uid(), 0);
            })
        ),
        row!(
            "nofollow changes the symlink",
            |r| r.chown_nofollow("link_abs", Some(5), Some(6)),
            Want::Ok(|t| {
                assert_eq!(lstat(t, "d/f").uid(), 0);
                let md = lstat(t, "link_abs");
                assert_eq!((md.uid(), md.gid()), (5, 6));
            })
        ),
        row!(
            "nofollow on a dangling symlink",
            |r| r.chown_nofollow("dangling", Some(7), None),
            Want::Ok(|t| assert_eq!(lstat(t, "dangling").uid(), 7))
        ),
        row!(
            "dangling symlink",
            |r| r.chown("dangling", Some(7), None),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "loop",
            |r| r.chown("loop", Some(7), None),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "nofollow on a loop changes it",
            |r| r.chown_nofollow("loop", Some(7), None),
            Want::Ok(|t| assert_eq!(lstat(t, "loop").uid(), 7))
        ),
        row!(
            "uid -1",
            |r| r.chown("d/f", Some(u32::MAX), None),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "gid -1",
            |r| r.chown_nofollow("d/f", None, Some(u32::MAX)),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "escape, Beneath",
            |r| beneath(r).chown("escape/f", Some(1), None),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "through a file",
            |r| r.chown_nofollow("notdir/x", Some(1), None),
            Want::Err(Errno::NOTDIR)
        ),
    ]
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn chown_table() {
    require_privilege("CAP_CHOWN");
    run_table("chown", &table_chown());
}

fn at(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::new((-secs) as u64, 0) + Duration::new(0, nanos)
    }
}

fn times(t: &Tree, path: &str) -> ((i64, i64), (i64, i64)) {
    let md = lstat(t, path);
    ((md.atime(), md.atime_nsec()), (md.mtime(), md.mtime_nsec()))
}

fn table_times() -> Vec<Row> {
    vec![
        row!(
            "both",
            |r| r.set_times("d/f", Some(at(1000, 5)), Some(at(2000, 500_000_000))),
            Want::Ok(|t| assert_eq!(times(t, "d/f"), ((1000, 5), (2000, 500_000_000))))
        ),
        row!(
            "only mtime (atime left alone)",
            |r| {
                r.set_times("d/f", Some(at(1000, 0)), Some(at(1000, 0)))?;
                r.set_times("d/f", None, Some(at(3000, 0)))
            },
            Want::Ok(|t| assert_eq!(times(t, "d/f"), ((1000, 0), (3000, 0))))
        ),
        row!(
            "neither",
            |r| {
                r.set_times("d/f", Some(at(1000, 0)), Some(at(1000, 0)))?;
                r.set_times("d/f", None, None)
            },
            Want::Ok(|t| assert_eq!(times(t, "d/f"), ((1000, 0), (1000, 0))))
        ),
        row!(
            "before 1970",
            |r| r.set_times("d/f", Some(at(-1, 250_000_000)), Some(at(-100, 0))),
            Want::Ok(|t| assert_eq!(times(t, "d/f"), ((-1, 250_000_000), (-100, 0))))
        ),
        row!(
            "follows a trailing symlink",
            |r| r.set_times("link_abs", None, Some(at(4000, 0))),
            Want::Ok(|t| {
                assert_eq!(times(t, "d/f").1, (4000, 0));
                assert_ne!(times(t, "link_abs").1, (4000, 0));
            })
        ),
        row!(
            "nofollow changes the symlink",
            |r| r.set_times_nofollow("link_abs", None, Some(at(4000, 0))),
            Want::Ok(|t| {
                assert_eq!(times(t, "link_abs").1, (4000, 0));
                assert_ne!(times(t, "d/f").1, (4000, 0));
            })
        ),
        row!(
            "nofollow on a dangling symlink",
            |r| r.set_times_nofollow("dangling", None, Some(at(4000, 0))),
            Want::Ok(|t| assert_eq!(times(t, "dangling").1, (4000, 0)))
        ),
        row!(
            "a fifo",
            |r| {
                r.mknod("p", "p".parse()?, 0o600)?;
                r.set_times("p", None, Some(at(4000, 0)))
            },
            Want::Ok(|t| assert_eq!(times(t, "p").1, (4000, 0)))
        ),
        row!(
            "dangling symlink",
            |r| r.set_times("dangling", None, Some(at(1, 0))),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "loop",
            |r| r.set_times("loop", None, Some(at(1, 0))),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "escape, Beneath",
            |r| beneath(r).set_times("escape/f", None, Some(at(1, 0))),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "through a file",
            |r| r.set_times_nofollow("notdir/x", None, Some(at(1, 0))),
            Want::Err(Errno::NOTDIR)
        ),
    ]
}

#[test]
fn set_times_table() {
    run_table("set_times", &table_times());
}

/// Without `utimensat(AT_EMPTY_PATH)`: the same answers through the procfs magic link, except
/// for a symlink's own times, which cannot be reached that way (`NotSupported`).
#[test]
fn set_times_without_at_empty_path() {
    in_child(|| {
        testing::disable(Feature::UtimensatEmptyPath);
        let mut rows: Vec<Row> = table_times()
            .into_iter()
            .filter(|r| !r.name.starts_with("nofollow"))
            .collect();
        rows.push(row!(
            "nofollow on a symlink",
            |r| r.set_times_nofollow("link_abs", None, Some(at(4000, 0))),
            Want::Kind(ErrorKind::NotSupported, Errno::OPNOTSUPP)
        ));
        rows.push(row!(
            "nofollow on a file is fine",
            |r| r.set_times_nofollow("d/f", None, Some(at(4000, 0))),
            Want::Ok(|t| assert_eq!(times(t, "d/f").1, (4000, 0)))
        ));
        run_table("set_times (no AT_EMPTY_PATH)", &rows);
    });
}

// ------------------------------------------------------------------------------------------------
// xattrs
// ------------------------------------------------------------------------------------------------

/// Whether the test file system takes `user.*` xattrs; if not, says so loudly.
fn user_xattrs_supported() -> bool {
    let tree = Tree::new("file probe x");
    let path = tree.join("probe");
    match rustix::fs::setxattr(
        &path,
        "user.procroot",
        b"1",
        rustix::fs::XattrFlags::empty(),
    ) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "SKIPPED: the test file system ({}) does not support user.* xattrs: {e}",
                std::env::temp_dir().display()
            );
            false
        }
    }
}

fn host_xattr(t: &Tree, path: &str, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    match rustix::fs::lgetxattr(t.join(path), name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(Errno::NODATA) => None,
        Err(e) => panic!("lgetxattr {path} {name}: {e}"),
    }
}

fn table_xattr() -> Vec<Row> {
    vec![
        row!(
            "set and read back",
            |r| {
                r.set_xattr("d/f", "user.a", b"value")?;
                assert_eq!(r.read_xattr("d/f", "user.a")?, b"value");
                Ok(())
            },
            Want::Ok(|t| assert_eq!(host_xattr(t, "d/f", "user.a").unwrap(), b"value"))
        ),
        row!(
            "empty and large values",
            |r| {
                r.set_xattr("d/f", "user.empty", b"")?;
                assert_eq!(r.read_xattr("d/f", "user.empty")?, b"");
                let big = vec![0xa5u8; 3000];
                r.set_xattr("d/f", "user.big", &big)?;
                assert_eq!(r.read_xattr("d/f", "user.big")?, big);
                Ok(())
            },
            Want::Ok(nothing)
        ),
        row!(
            "replace",
            |r| {
                r.set_xattr("d/f", "user.a", b"one")?;
                r.set_xattr("d/f", "user.a", b"two")
            },
            Want::Ok(|t| assert_eq!(host_xattr(t, "d/f", "user.a").unwrap(), b"two"))
        ),
        row!(
            "a directory",
            |r| r.set_xattr("abs_dir", "user.d", b"dir"),
            Want::Ok(|t| assert_eq!(host_xattr(t, "d", "user.d").unwrap(), b"dir"))
        ),
        row!(
            "follows a trailing symlink inside the root",
            |r| {
                r.set_xattr("link_abs", "user.l", b"via link")?;
                assert_eq!(r.read_xattr("link_f", "user.l")?, b"via link");
                Ok(())
            },
            Want::Ok(|t| assert_eq!(host_xattr(t, "d/f", "user.l").unwrap(), b"via link"))
        ),
        row!(
            "missing attribute",
            |r| r.read_xattr("d/f", "user.missing").map(drop),
            Want::Err(Errno::NODATA)
        ),
        row!(
            "empty name (read)",
            |r| r.read_xattr("d/f", "").map(drop),
            Want::Invalid(Errno::RANGE)
        ),
        row!(
            "empty name (set)",
            |r| r.set_xattr("d/f", "", b"x"),
            Want::Invalid(Errno::RANGE)
        ),
        row!(
            "NUL in the name",
            |r| r.set_xattr("d/f", "user.a\0b", b"x"),
            Want::Invalid(Errno::INVAL)
        ),
        row!(
            "name too long",
            |r| r.set_xattr("d/f", format!("user.{}", "n".repeat(300)), b"x"),
            Want::Invalid(Errno::RANGE)
        ),
        row!(
            "value too large",
            |r| r.set_xattr("d/f", "user.a", &vec![0; 65537]),
            Want::Invalid(Errno::TOOBIG)
        ),
        row!(
            "unknown namespace",
            |r| r.set_xattr("d/f", "bogus.a", b"x"),
            Want::Err(Errno::NOTSUP)
        ),
        row!(
            "dangling symlink",
            |r| r.read_xattr("dangling", "user.a").map(drop),
            Want::Err(Errno::NOENT)
        ),
        row!(
            "loop",
            |r| r.set_xattr("loop", "user.a", b"x"),
            Want::Err(Errno::LOOP)
        ),
        row!(
            "escape, Beneath",
            |r| beneath(r).set_xattr("escape/f", "user.a", b"x"),
            Want::Err(Errno::XDEV)
        ),
        row!(
            "absolute symlink, Beneath",
            |r| beneath(r).read_xattr("link_abs", "user.a").map(drop),
            Want::Err(Errno::XDEV)
        ),
    ]
}

#[test]
fn xattr_table() {
    if !user_xattrs_supported() {
        return;
    }
    run_table("xattr", &table_xattr());
}

#[test]
fn xattr_without_xattrat_seccomp_enosys() {
    if !user_xattrs_supported() {
        return;
    }
    in_child(|| {
        deny_syscalls(&[SYS_GETXATTRAT, SYS_SETXATTRAT], libc::ENOSYS);
        run_table("xattr (xattrat ENOSYS)", &table_xattr());
        assert!(testing::known_unavailable(Feature::Xattrat));
        check_xattr_fallback_special_files();
    });
}

#[test]
fn xattr_without_xattrat_override() {
    if !user_xattrs_supported() {
        return;
    }
    in_child(|| {
        testing::disable(Feature::Xattrat);
        deny_syscalls(&[SYS_GETXATTRAT, SYS_SETXATTRAT], libc::EACCES);
        run_table("xattr (xattrat disabled)", &table_xattr());
        check_xattr_fallback_special_files();
    });
}

/// The reopen fallback must not block on a FIFO without a writer, and must refuse devices
/// (whose open could have side effects) with `NotSupported`, never open them.
fn check_xattr_fallback_special_files() {
    for backend in BACKENDS {
        let tree = Tree::new(SPEC);
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        root.mknod("p", "p".parse().unwrap(), 0o600).unwrap();
        // user.* is not allowed on FIFOs (EPERM): the point is that we get an answer at all.
        let err = root
            .set_xattr("p", "user.a", b"x")
            .expect_err("user.* on a fifo");
        assert_eq!(err.errno(), Errno::PERM, "{backend:?}: {err}");
        let err = root
            .read_xattr("p", "user.a")
            .expect_err("no user.* on a fifo");
        assert_eq!(err.errno(), Errno::NODATA, "{backend:?}: {err}");
        if procroot_testutil::is_privileged() {
            root.mknod("null", "c:1:3".parse().unwrap(), 0o666).unwrap();
            let err = root
                .read_xattr("null", "security.x")
                .expect_err("device in fallback");
            assert_eq!(err.kind(), ErrorKind::NotSupported, "{backend:?}: {err}");
            assert_eq!(err.errno(), Errno::OPNOTSUPP, "{backend:?}: {err}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Containment: nothing outside the root is touched
// ------------------------------------------------------------------------------------------------

/// `outer/root` is the root; `outer/outside` a sentinel tree with the same names as the root's
/// `outside`, which every link inside the root points at in some way.
const CONTAINMENT: &str = "
    file root/outside/secret inside
    dir root/outside/dir
    symlink root/abs /outside/secret
    symlink root/rel ../../outside/secret
    symlink root/absdir /outside/dir
    symlink root/reldir ../../../outside/dir
    file outside/secret host
    dir outside/dir
";

/// What the sentinel looks like: names, modes, owners, times and xattrs of everything in
/// `outer/outside`.
fn snapshot(tree: &Tree) -> Vec<String> {
    // The listing comes first: reading the directory may update its atime (relatime), which the
    // lstat below must see in both snapshots alike.
    let mut names: Vec<_> = std::fs::read_dir(tree.join("outside/dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut out = vec![format!("outside/dir: {names:?}")];
    for entry in ["outside", "outside/secret", "outside/dir"] {
        let md = lstat(tree, entry);
        out.push(format!(
            "{entry} {:o} {}:{} {}.{} {}.{} xattr={:?}",
            md.mode(),
            md.uid(),
            md.gid(),
            md.atime(),
            md.atime_nsec(),
            md.mtime(),
            md.mtime_nsec(),
            host_xattr(tree, entry, "user.c"),
        ));
    }
    out
}

#[test]
fn nothing_outside_the_root_is_touched() {
    let xattrs = user_xattrs_supported();
    let privileged = procroot_testutil::is_privileged();
    for backend in BACKENDS {
        for policy in [Policy::InRoot, Policy::InRootStrict] {
            let tree = Tree::new(CONTAINMENT);
            let before = snapshot(&tree);
            let root = Root::open(tree.join("root"))
                .unwrap()
                .with_backend(backend)
                .with_policy(policy);
            let ctx = format!("{backend:?} {policy:?}");
            let strict = policy == Policy::InRootStrict;
            // `rel` and `reldir` climb above the root: clamped by InRoot, EXDEV by InRootStrict.
            for link in ["abs", "rel"] {
                let climbs = link == "rel";
                let res = root.set_permissions(link, 0o600);
                assert_eq!(
                    res.is_err(),
                    strict && climbs,
                    "{ctx} chmod {link}: {res:?}"
                );
                let res = root.set_times(link, None, Some(at(12345, 0)));
                assert_eq!(
                    res.is_err(),
                    strict && climbs,
                    "{ctx} touch {link}: {res:?}"
                );
                if privileged {
                    let res = root.chown(link, Some(9), Some(9));
                    assert_eq!(
                        res.is_err(),
                        strict && climbs,
                        "{ctx} chown {link}: {res:?}"
                    );
                }
                if xattrs {
                    let res = root.set_xattr(link, "user.c", b"x");
                    assert_eq!(
                        res.is_err(),
                        strict && climbs,
                        "{ctx} xattr {link}: {res:?}"
                    );
                }
            }
            for dir in ["absdir", "reldir"] {
                let climbs = dir == "reldir";
                let results = [
                    root.symlink("t", format!("{dir}/s-{dir}")),
                    root.mknod(format!("{dir}/p-{dir}"), "p".parse().unwrap(), 0o600),
                    root.hardlink("outside/secret", format!("{dir}/h-{dir}")),
                    root.rename(
                        "outside/secret",
                        format!("{dir}/moved"),
                        RenameFlags::empty(),
                    ),
                    root.rename(
                        format!("{dir}/moved"),
                        "outside/secret",
                        RenameFlags::empty(),
                    ),
                    root.rename(
                        format!("{dir}/s-{dir}"),
                        format!("{dir}/s2-{dir}"),
                        RenameFlags::empty(),
                    ),
                    root.set_permissions(format!("{dir}/"), 0o700),
                ];
                for (i, res) in results.iter().enumerate() {
                    if !(strict && climbs) {
                        res.as_ref()
                            .unwrap_or_else(|e| panic!("{ctx} {dir} op {i}: {e}"));
                    } else {
                        let err = res.as_ref().expect_err("strict climbs out");
                        assert_eq!(err.errno(), Errno::XDEV, "{ctx} {dir} op {i}: {err}");
                    }
                }
            }
            assert_eq!(
                snapshot(&tree),
                before,
                "{ctx}: the sentinel outside changed"
            );
            assert_eq!(
                mode(&tree, "root/outside/secret"),
                0o600,
                "{ctx}: the root's own file was not changed"
            );
            for name in ["s2-absdir", "p-absdir", "h-absdir"] {
                assert!(
                    exists(&tree, &format!("root/outside/dir/{name}")),
                    "{ctx} {name}"
                );
            }
            assert_eq!(
                exists(&tree, "root/outside/dir/s2-reldir"),
                !strict,
                "{ctx}: reldir is clamped to the root's /outside/dir unless strict"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Mounts: EXDEV across a mount, NO_XDEV
// ------------------------------------------------------------------------------------------------

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mounts_exdev_and_no_xdev() {
    require_privilege("a private mount namespace and a tmpfs mount");
    let tree = Tree::new(SPEC);
    tree.mkdir("mnt");
    in_private_mount_ns(|| {
        mount_raw(Some("tmpfs"), tree.join("mnt"), Some("tmpfs"), 0, None).expect("mount tmpfs");
        std::fs::write(tree.join("mnt/x"), "on tmpfs").unwrap();
        for backend in BACKENDS {
            let root = Root::open(tree.path()).unwrap().with_backend(backend);
            let ctx = format!("{backend:?}");
            let exdev = |what: &str, res: procroot::Result<()>| {
                let err = res.expect_err(what);
                assert_eq!(err.errno(), Errno::XDEV, "{ctx} {what}: {err}");
            };
            // The kernel's own EXDEV: the operations cross a mount.
            exdev(
                "rename across",
                root.rename("mnt/x", "y", RenameFlags::empty()),
            );
            exdev("hardlink across", root.hardlink("mnt/x", "y"));
            exdev("hardlink_fd across", {
                let f = std::fs::File::open(tree.join("mnt/x")).unwrap();
                root.hardlink_fd(f.as_fd(), "y")
            });
            // Inside the mount everything works.
            root.rename("mnt/x", "mnt/y", RenameFlags::empty()).unwrap();
            root.hardlink("mnt/y", "mnt/z").unwrap();
            root.symlink("/d", "mnt/s").unwrap();
            root.mknod("mnt/p", "p".parse().unwrap(), 0o600).unwrap();
            root.set_permissions("mnt/y", 0o640).unwrap();
            root.set_xattr("mnt/y", "user.t", b"tmpfs").unwrap();
            assert_eq!(root.read_xattr("mnt/z", "user.t").unwrap(), b"tmpfs");
            // NO_XDEV: the resolver refuses to enter the mount at all.
            let no_xdev = root
                .clone()
                .with_flags(ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS);
            exdev(
                "NO_XDEV rename",
                no_xdev.rename("mnt/y", "mnt/w", RenameFlags::empty()),
            );
            exdev("NO_XDEV symlink", no_xdev.symlink("t", "mnt/t"));
            exdev(
                "NO_XDEV mknod",
                no_xdev.mknod("mnt/q", "p".parse().unwrap(), 0o600),
            );
            exdev("NO_XDEV hardlink", no_xdev.hardlink("mnt/y", "mnt/w"));
            exdev("NO_XDEV chmod", no_xdev.set_permissions("mnt/y", 0o600));
            exdev("NO_XDEV chown", no_xdev.chown("mnt/y", Some(1), None));
            exdev("NO_XDEV touch", no_xdev.set_times("mnt/y", None, None));
            exdev("NO_XDEV xattr", no_xdev.set_xattr("mnt/y", "user.t", b"x"));
            // Clean up for the next backend.
            for name in ["y", "z", "s", "p"] {
                std::fs::remove_file(tree.join("mnt").join(name)).unwrap();
            }
            std::fs::write(tree.join("mnt/x"), "on tmpfs").unwrap();
        }
    });
}

// ------------------------------------------------------------------------------------------------
// Unprivileged callers: the kernel's own refusals come through unchanged
// ------------------------------------------------------------------------------------------------

/// Becomes `nobody` (uid and gid 65534) in this process. The process becomes non-dumpable, so
/// its own `/proc/self/fd` is no longer searchable: the procfs fallbacks meet that too.
fn become_nobody() {
    procroot_testutil::become_user(65534);
}

/// `symlink_times`: whether a symlink's own times can be set (not without
/// `utimensat(AT_EMPTY_PATH)`).
fn check_unprivileged(tree: &Tree, symlink_times: bool) {
    for backend in BACKENDS {
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        let ctx = format!("{backend:?}");
        let errno = |what: &str, res: procroot::Result<()>, want: Errno| {
            let err = res.expect_err(what);
            assert_eq!(err.errno(), want, "{ctx} {what}: {err}");
        };
        errno("chmod", root.set_permissions("d/f", 0o600), Errno::PERM);
        errno("chown", root.chown("d/f", Some(65534), None), Errno::PERM);
        errno(
            "touch with a time",
            root.set_times("d/f", None, Some(at(1, 0))),
            Errno::PERM,
        );
        errno(
            "symlink in a root-owned directory",
            root.symlink("t", "d/s"),
            Errno::ACCESS,
        );
        // fs.protected_hardlinks: linking a file one does not own and cannot write.
        if std::fs::read_to_string("/proc/sys/fs/protected_hardlinks")
            .is_ok_and(|v| v.trim() == "1")
        {
            errno("hardlink", root.hardlink("d/f", "mine/h"), Errno::PERM);
        }
        // What nobody owns works.
        root.set_permissions("mine", 0o700).unwrap();
        root.symlink("/d/f", "mine/s").unwrap();
        root.hardlink("mine/s", "mine/s2").unwrap();
        root.rename("mine/s2", "mine/s3", RenameFlags::NOREPLACE)
            .unwrap();
        let res = root.set_times_nofollow("mine/s", None, Some(at(7, 0)));
        if symlink_times {
            res.unwrap();
        } else {
            assert_eq!(res.unwrap_err().kind(), ErrorKind::NotSupported, "{ctx}");
        }
        root.mknod("mine/p", "p".parse().unwrap(), 0o600).unwrap();
        root.set_times("mine/p", Some(at(8, 0)), Some(at(9, 0)))
            .unwrap();
        assert_eq!(times(tree, "mine/p"), ((8, 0), (9, 0)), "{ctx}");
        for name in ["s", "s3", "p"] {
            std::fs::remove_file(tree.join("mine").join(name)).unwrap();
        }
        root.set_permissions("mine", 0o755).unwrap();
    }
    assert_eq!(mode(tree, "d/f"), 0o644);
}

fn unprivileged_tree() -> Tree {
    let tree = Tree::new(SPEC);
    tree.mkdir("mine");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    rustix::fs::chown(
        tree.join("mine").as_path(),
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .unwrap();
    tree
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unprivileged_refusals_are_the_kernels() {
    require_privilege("setuid to nobody");
    let tree = unprivileged_tree();
    in_child(|| {
        become_nobody();
        check_unprivileged(&tree, true);
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unprivileged_refusals_are_the_kernels_in_the_fallbacks() {
    require_privilege("setuid to nobody");
    let tree = unprivileged_tree();
    in_child(|| {
        become_nobody();
        testing::disable(Feature::LinkatEmptyPath);
        testing::disable(Feature::UtimensatEmptyPath);
        deny_syscalls(&[SYS_FCHMODAT2], libc::EPERM);
        check_unprivileged(&tree, false);
    });
}
