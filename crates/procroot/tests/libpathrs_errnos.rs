//! Errno parity with libpathrs (issue 21 section 7): the 14 rows of libpathrs's own operation
//! tables (`src/tests/test_root_ops.rs`) where procroot answered otherwise, one test per row,
//! each on both backends. The `EINVAL` rows are decided from the path alone, before any
//! syscall: nothing is created, and the parent is not even looked up (`missing/x/` is
//! `EINVAL` too, not `ENOENT`). The CLI's side is in procroot-cli's `mutate_cli.rs`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use procroot::{Backend, ErrorKind, NodeKind, OFlags, Root};
use procroot_testutil::Tree;
use rustix::io::Errno;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

/// libpathrs's fixture, the parts these rows use: `a/` (empty), `b/c/file`.
fn tree() -> Tree {
    Tree::new(
        "
        dir a
        file b/c/file F
        ",
    )
}

fn roots(tree: &Tree) -> impl Iterator<Item = (Backend, Root)> + '_ {
    BACKENDS
        .into_iter()
        .map(|b| (b, Root::open(tree.path()).unwrap().with_backend(b)))
}

fn errno<T>(r: procroot::Result<T>) -> Result<(), (Errno, ErrorKind)> {
    r.map(|_| ()).map_err(|e| (e.errno(), e.kind()))
}

const EINVAL: Result<(), (Errno, ErrorKind)> = Err((Errno::INVAL, ErrorKind::InvalidInput));

/// Row 1: a trailing slash on a new non-directory (`create_file`, `ln`, `ln -s`, `mknod`) is
/// `EINVAL` (procroot said `EISDIR` for `create_file`, `ENOENT` for the others).
#[test]
fn trailing_slash_on_a_new_non_directory() {
    let tree = tree();
    for (backend, root) in roots(&tree) {
        for new in ["foobar/", "foobar///", "missing/x/"] {
            let what = format!("{backend:?} {new:?}");
            assert_eq!(
                errno(root.create_file(new, OFlags::RDONLY, 0o644)),
                EINVAL,
                "create_file {what}"
            );
            assert_eq!(errno(root.symlink("/x", new)), EINVAL, "symlink {what}");
            assert_eq!(
                errno(root.hardlink("b/c/file", new)),
                EINVAL,
                "hardlink {what}"
            );
            assert_eq!(
                errno(root.mknod(new, NodeKind::Fifo, 0o644)),
                EINVAL,
                "mknod {what}"
            );
        }
        assert!(
            !tree.join("foobar").exists(),
            "{backend:?}: something was made"
        );
    }
}

/// Rows 2-3: `ln EXISTING NEW` where EXISTING does not end in a name, or ends in a slash
/// (`foobar/`, `foobar/.`, `foobar/..`: procroot said `ENOENT`; `/`, `//`, `.`, `./`, `..`,
/// `../`: procroot accepted them), and the same as NEW: `EINVAL`.
#[test]
fn hardlink_operands_that_name_no_entry() {
    let tree = tree();
    let bad = [
        "foobar/",
        "foobar/.",
        "foobar/..",
        "b/c/file/",
        "/",
        "//",
        ".",
        "./",
        "..",
        "../",
    ];
    for (backend, root) in roots(&tree) {
        for path in bad {
            let what = format!("{backend:?} {path:?}");
            assert_eq!(errno(root.hardlink(path, "new")), EINVAL, "existing {what}");
            assert_eq!(errno(root.hardlink("b/c/file", path)), EINVAL, "new {what}");
        }
        assert!(!tree.join("new").exists(), "{backend:?}");
        assert_eq!(std::fs::metadata(tree.join("b/c/file")).unwrap().nlink(), 1);
    }
}

/// Row 4: `open_file` with `O_EXCL` but no `O_CREAT` is `EINVAL` (procroot opened the file).
#[test]
fn open_with_o_excl_alone() {
    let tree = tree();
    for (backend, root) in roots(&tree) {
        for flags in [OFlags::EXCL | OFlags::RDONLY, OFlags::EXCL | OFlags::PATH] {
            assert_eq!(
                errno(root.open_file("b/c/file", flags)),
                EINVAL,
                "{backend:?} {flags:?}"
            );
        }
    }
}

/// Rows 5-6: `remove_file` of a path with a trailing slash is `ENOTDIR` whatever is there: a
/// missing `abc/` (procroot: `ENOENT`), a directory `a/`, `a///` (procroot: `EISDIR`), a file
/// `b/c/file/`. Nothing is removed.
#[test]
fn remove_file_with_a_trailing_slash() {
    let tree = tree();
    for (backend, root) in roots(&tree) {
        for path in ["abc/", "a/", "a///", "b/c/file/"] {
            let got = root.remove_file(path).map_err(|e| e.errno());
            assert_eq!(got, Err(Errno::NOTDIR), "{backend:?} {path:?}");
        }
        assert!(tree.join("a").is_dir() && tree.join("b/c/file").is_file());
    }
}

/// Row 7: `remove_all` of `b/c/file/` removes the file (procroot: `ENOTDIR`).
#[test]
fn remove_all_of_a_file_with_a_trailing_slash() {
    for backend in BACKENDS {
        let tree = tree();
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        root.remove_all("b/c/file/").expect("remove_all b/c/file/");
        assert!(!tree.join("b/c/file").exists(), "{backend:?}");
        assert!(Path::new(&tree.join("b/c")).is_dir());
    }
}
