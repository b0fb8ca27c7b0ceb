//! The progress hook of copies and recursive removals (`CopyOptions::progress`,
//! `RemoveAllOptions::progress`): every entry is counted with its path, a large file's bytes
//! arrive in chunks, and a hook that says stop makes the copy fail with `ECANCELED` and leave
//! nothing behind (undone by identity), and the removal stop between two entries.

use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use procroot::{Backend, CopyOptions, Errno, Progress, RemoveAllOptions, Root};
use procroot_testutil::Tree;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];

/// `top/` with 3 directories of 10 files of 100 bytes: 34 entries, 3000 bytes.
fn wide_tree() -> Tree {
    let tree = Tree::new("dir top");
    for d in 0..3 {
        for f in 0..10 {
            tree.write(format!("top/d{d}/f{f}"), &[b'x'; 100]);
        }
    }
    tree
}

const WIDE_ENTRIES: u64 = 1 + 3 + 30;
const WIDE_BYTES: u64 = 3000;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

/// What a hook saw: (entries, bytes, path) per call.
type Seen = Vec<(u64, u64, PathBuf)>;

fn record(seen: &mut Seen) -> impl FnMut(&Progress<'_>) -> ControlFlow<()> + '_ {
    |p| {
        seen.push((p.entries, p.bytes, p.path()));
        ControlFlow::Continue(())
    }
}

#[test]
fn copy_counts_every_entry_and_byte() {
    for backend in BACKENDS {
        let src = wide_tree();
        let inside = Tree::new("dir in");
        let root = Root::open(inside.path()).unwrap().with_backend(backend);
        let mut seen = Seen::new();
        let mut hook = record(&mut seen);
        let opts = CopyOptions::default().with_progress(&mut hook);
        root.copy_in_with(src.join("top"), "/in", opts).unwrap();
        drop(hook);
        let last = seen.last().expect("the hook was called");
        assert_eq!((last.0, last.1), (WIDE_ENTRIES, WIDE_BYTES), "{backend:?}");
        // Counts only grow; every path is inside the copied tree, named from its top.
        for pair in seen.windows(2) {
            assert!(pair[0].0 <= pair[1].0 && pair[0].1 <= pair[1].1, "{pair:?}");
        }
        assert!(seen.iter().all(|s| s.2.starts_with("top")), "{seen:?}");
        assert!(
            seen.iter().any(|s| s.2 == Path::new("top/d1/f7")),
            "{seen:?}"
        );
        assert_eq!(names(&inside.join("in/top/d2")).len(), 10);
    }
}

#[test]
fn a_large_file_reports_its_bytes_in_chunks() {
    let src = Tree::new("dir top");
    let size: u64 = 40 << 20;
    // Data, not a hole: holes are skipped (counted, but in one report each).
    fs::write(src.join("top/big"), vec![7u8; size as usize]).unwrap();
    let inside = Tree::new("dir in");
    let root = Root::open(inside.path()).unwrap();
    let mut seen = Seen::new();
    let mut hook = record(&mut seen);
    let opts = CopyOptions::default().with_progress(&mut hook);
    root.copy_in_with(src.join("top/big"), "/in", opts).unwrap();
    drop(hook);
    let big: Vec<_> = seen.iter().filter(|s| s.2 == Path::new("big")).collect();
    // 40 MiB in 16 MiB chunks: at least three reports before the entry itself is counted.
    assert!(big.len() >= 4, "{seen:?}");
    assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((1, size)));
    assert_eq!(fs::metadata(inside.join("in/big")).unwrap().len(), size);
    // A sparse file's holes are not copied, but count in its bytes.
    fs::File::create(src.join("top/sparse"))
        .unwrap()
        .set_len(size)
        .unwrap();
    let mut seen = Seen::new();
    let mut hook = record(&mut seen);
    let opts = CopyOptions::default().with_progress(&mut hook);
    root.copy_in_with(src.join("top/sparse"), "/in", opts)
        .unwrap();
    drop(hook);
    assert_eq!(seen.last().map(|s| (s.0, s.1)), Some((1, size)));
}

#[test]
fn a_stopped_copy_fails_with_ecanceled_and_leaves_nothing() {
    for backend in BACKENDS {
        for stop_at in [1, 5, WIDE_ENTRIES - 1, WIDE_ENTRIES] {
            let src = wide_tree();
            // Copy in: the destination directory is inside the root.
            let inside = Tree::new("dir in");
            let root = Root::open(inside.path()).unwrap().with_backend(backend);
            let mut calls = 0;
            let mut hook = |p: &Progress<'_>| {
                calls += 1;
                if p.entries >= stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            let opts = CopyOptions::default().with_progress(&mut hook);
            let err = root.copy_in_with(src.join("top"), "/in", opts).unwrap_err();
            assert_eq!(err.errno(), Errno::CANCELED, "{backend:?} {stop_at}: {err}");
            assert!(err.to_string().contains("stopped"), "{err}");
            // No temporary (`.procroot-copy-*`) and no copy: everything created was undone.
            assert!(names(&inside.join("in")).is_empty(), "{stop_at}");
            assert!(calls >= 1);

            // Copy out: the destination is on the host.
            let host = tempfile::tempdir().unwrap();
            let src_root = Root::open(src.path()).unwrap().with_backend(backend);
            let mut hook = |p: &Progress<'_>| {
                if p.entries >= stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            let opts = CopyOptions::default().with_progress(&mut hook);
            let err = src_root
                .copy_out_with("/top", host.path(), opts)
                .unwrap_err();
            assert_eq!(err.errno(), Errno::CANCELED, "{err}");
            assert!(names(host.path()).is_empty(), "{stop_at}");
            // The source is untouched.
            assert_eq!(names(&src.join("top/d0")).len(), 10);
        }
    }
}

#[test]
fn remove_all_counts_every_entry() {
    for backend in BACKENDS {
        let tree = wide_tree();
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        let mut seen = Seen::new();
        let mut hook = record(&mut seen);
        let opts = RemoveAllOptions::default().with_progress(&mut hook);
        root.remove_all_with("top", opts).unwrap();
        drop(hook);
        assert!(!tree.join("top").exists());
        let counts: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(
            counts,
            (1..=WIDE_ENTRIES).collect::<Vec<_>>(),
            "{backend:?}"
        );
        assert!(seen.iter().all(|s| s.1 == 0 && s.2.starts_with("top")));
        assert_eq!(seen.last().unwrap().2, Path::new("top"));
        assert!(
            seen.iter().any(|s| s.2 == Path::new("top/d2/f3")),
            "{seen:?}"
        );
    }
    // A single file is one entry.
    let tree = Tree::new("file lone x");
    let root = Root::open(tree.path()).unwrap();
    let mut seen = Seen::new();
    let mut hook = record(&mut seen);
    root.remove_all_with("lone", RemoveAllOptions::default().with_progress(&mut hook))
        .unwrap();
    drop(hook);
    assert_eq!(seen, vec![(1, 0, PathBuf::from("lone"))]);
}

#[test]
fn a_stopped_removal_stops_between_two_entries() {
    for backend in BACKENDS {
        let tree = wide_tree();
        let root = Root::open(tree.path()).unwrap().with_backend(backend);
        let mut hook = |p: &Progress<'_>| {
            if p.entries >= 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let opts = RemoveAllOptions::default().with_progress(&mut hook);
        let err = root.remove_all_with("top", opts).unwrap_err();
        assert_eq!(err.errno(), Errno::CANCELED, "{err}");
        assert!(err.to_string().contains("remove_all \"top\""), "{err}");
        // Exactly 7 entries are gone (all files: no directory is emptied by then); the rest
        // is there.
        let left: usize = (0..3)
            .map(|d| names(&tree.join(format!("top/d{d}"))).len())
            .sum();
        assert_eq!(left, 30 - 7, "{backend:?}");
    }
}
