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
