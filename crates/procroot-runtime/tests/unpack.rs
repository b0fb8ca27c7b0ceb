//! `RootUnpackExt::apply_layer`: what a layer makes (every entry type, metadata, whiteouts,
//! opaque directories, hard links, xattrs, sparse files, gzip and zstd) and what it reports.
//! The attacks are in `unpack_attacks.rs`.

pub(crate) mod unpack_common;

use std::ops::ControlFlow;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use procroot::{Root, SpecialFiles};
use procroot_runtime::unpack::{Compression, LayerOptions, SkipReason};
use procroot_testutil::require_privilege;
use unpack_common::Layer;

const PRIV: &str = "root: chown to the archive's owners, device nodes";

fn apply(
    root: &Path,
    layer: &[u8],
    opts: LayerOptions<'_>,
) -> procroot_runtime::unpack::LayerReport {
    let root = Root::open(root).expect("open root");
    unpack_common::apply_bytes(&root, layer, opts).expect("apply layer")
}

fn caller<'a>() -> LayerOptions<'a> {
    LayerOptions::default().with_same_owner(false)
}

#[test]
fn files_dirs_and_symlinks_land_inside_the_root() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .dir("./", 0o755)
        .dir("./etc/", 0o750)
        .file("./etc/hostname", b"box\n", 0o644)
        .file("/usr/bin/tool", b"#!/bin/sh\n", 0o755) // parents made, leading slash dropped
        .symlink("bin", "usr/bin")
        .symlink("etc/abs", "/etc/hostname")
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.entries.dirs, 2);
    assert_eq!(report.entries.files, 2);
    assert_eq!(report.entries.symlinks, 2);
    assert_eq!(report.bytes_written, 4 + 10);
    assert_eq!(report.compression, Compression::None);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(std::fs::read(root.join("etc/hostname")).unwrap(), b"box\n");
    let md = std::fs::metadata(root.join("etc")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o750);
    let md = std::fs::metadata(root.join("usr/bin/tool")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o755);
    assert_eq!(md.mtime(), 1_600_000_000);
    assert_eq!(
        md.atime(),
        1_600_000_000,
        "no atime in the header: the mtime"
    );
    let link = std::fs::symlink_metadata(root.join("bin")).unwrap();
    assert_eq!(link.mtime(), 1_600_000_000, "a symlink's own times");
    assert_eq!(
        std::fs::read_link(root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/abs")).unwrap(),
        Path::new("/etc/hostname")
    );
    // Directory times are set after their contents are written.
    assert_eq!(
        std::fs::metadata(root.join("etc")).unwrap().mtime(),
        1_600_000_000
    );
}

/// A directory's mode and times are set when the layer leaves it (through the fd it made it
/// with); one that the layer changes again afterwards (an entry made in it, a whiteout in it, a
/// missing parent made in it, a hard link into it) gets them again at the end. A read-only
/// one waits for the end, so that coming back to it cannot fail.
#[test]
fn directories_left_and_changed_again_end_with_the_archives_times() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    // A lower layer's file, for the whiteout.
    std::fs::create_dir(root.join("e")).unwrap();
    std::fs::write(root.join("e/lower"), b"lower").unwrap();
    let layer = Layer::new()
        .dir("d/", 0o755)
        .file("d/a", b"a", 0o644)
        .dir("e/", 0o750)
        .file("e/x", b"x", 0o644)
        .dir("f/", 0o700)
        .dir("r/", 0o555)
        .file("r/in", b"r", 0o644)
        .dir("q/", 0o755)
        // Back to each directory left above, each changed a different way.
        .file("d/b", b"b", 0o644)
        .whiteout("e/.wh.lower")
        .file("f/new/deep/g", b"g", 0o644)
        .hardlink("q/hard", "d/a")
        .file("r/again", b"r", 0o644)
        .bytes();
    let report = apply(root, &layer, caller());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(!root.join("e/lower").exists());
    for (dir, mode) in [
        ("d", 0o755),
        ("e", 0o750),
        ("f", 0o700),
        ("r", 0o555),
        ("q", 0o755),
    ] {
        let md = std::fs::metadata(root.join(dir)).unwrap();
        assert_eq!(md.mode() & 0o7777, mode, "{dir}'s mode");
        assert_eq!(md.mtime(), 1_600_000_000, "{dir}'s mtime");
        assert_eq!(md.atime(), 1_600_000_000, "{dir}'s atime");
    }
    // An unprivileged owner could not empty the read-only directory when the temp dir goes.
    std::fs::set_permissions(root.join("r"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A tree deeper than the directories kept open (64): the outermost are closed as the layer
/// goes down, and found again (resolved in the root) when it comes back up.
#[test]
fn a_tree_deeper_than_the_open_directories_lands_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    const DEPTH: usize = 100;
    let dir = |depth: usize| "a/".repeat(depth);
    let mut layer = Layer::new();
    for depth in 1..=DEPTH {
        let path = dir(depth);
        layer = layer
            .pax(&[("path", path.as_bytes())])
            .dir("placeholder/", 0o751);
        let file = format!("{path}f");
        layer = layer
            .pax(&[("path", file.as_bytes())])
            .file("placeholder", file.as_bytes(), 0o644);
    }
    // Back up, to each level from the deepest.
    for depth in (1..=DEPTH).rev() {
        let file = format!("{}g", dir(depth));
        layer = layer
            .pax(&[("path", file.as_bytes())])
            .file("placeholder", b"g", 0o644);
    }
    let report = apply(root, &layer.bytes(), caller());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.entries.dirs, DEPTH as u64);
    for depth in 1..=DEPTH {
        let path = root.join(dir(depth));
        let file = format!("{}f", dir(depth));
        assert_eq!(std::fs::read(path.join("f")).unwrap(), file.as_bytes());
        assert_eq!(std::fs::read(path.join("g")).unwrap(), b"g");
        let md = std::fs::metadata(&path).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o751, "depth {depth}");
        assert_eq!(md.mtime(), 1_600_000_000, "depth {depth}");
    }
}

#[test]
fn parents_are_resolved_through_symlinks_inside_the_root() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    // A lower layer's absolute symlink: followed inside the root.
    std::fs::create_dir_all(root.join("real/lib")).unwrap();
    std::os::unix::fs::symlink("/real/lib", root.join("lib")).unwrap();
    let layer = Layer::new().file("lib/libc.so", b"elf", 0o644).bytes();
    let report = apply(&root, &layer, caller());
    assert_eq!(report.entries.files, 1);
    assert_eq!(
        std::fs::read(root.join("real/lib/libc.so")).unwrap(),
        b"elf"
    );
}

#[test]
fn no_dirlinks_refuses_a_parent_path_through_a_symlink() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("real")).unwrap();
    std::os::unix::fs::symlink("real", root.join("lib")).unwrap();
    std::fs::write(root.join("real/lower"), b"x").unwrap();
    let layer = Layer::new()
        .file("lib/a", b"a", 0o644)
        .file("real/b", b"b", 0o644)
        .whiteout("lib/.wh.lower")
        .bytes();
    let report = apply(root, &layer, caller().with_no_dirlinks(true));
    assert_eq!(report.entries.files, 1);
    assert_eq!(report.skipped.len(), 2);
    assert_eq!(report.skipped[0].path, b"lib/a");
    assert_eq!(report.skipped[0].reason, SkipReason::ParentCrossesSymlink);
    assert_eq!(report.skipped[1].path, b"lib/.wh.lower");
    assert_eq!(report.skipped[1].reason, SkipReason::ParentCrossesSymlink);
    assert!(!root.join("real/a").exists());
    assert!(root.join("real/b").exists());
    assert!(root.join("real/lower").exists());
}

#[test]
fn an_existing_entry_is_replaced_never_written_through() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::write(&outside, b"keep").unwrap();
    // A symlink at the name (to a file outside), a file to replace, a hard-linked file.
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    std::fs::write(root.join("file"), b"old").unwrap();
    std::fs::hard_link(root.join("file"), root.join("other")).unwrap();
    let layer = Layer::new()
        .file("link", b"new", 0o644)
        .file("file", b"new", 0o600)
        .bytes();
    let report = apply(&root, &layer, caller());
    assert_eq!(report.entries.files, 2);
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    let link = std::fs::symlink_metadata(root.join("link")).unwrap();
    assert!(link.is_file());
    assert_eq!(std::fs::read(root.join("link")).unwrap(), b"new");
    // A new inode: the other name of the old file still has the old bytes.
    assert_eq!(std::fs::read(root.join("file")).unwrap(), b"new");
    assert_eq!(std::fs::read(root.join("other")).unwrap(), b"old");
    // No temporary left behind.
    let names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_directory_is_replaced_only_with_overwrite_dirs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("d/sub")).unwrap();
    std::fs::write(root.join("d/sub/f"), b"x").unwrap();
    let layer = Layer::new().file("d", b"file now", 0o644).bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, SkipReason::DirectoryInTheWay);
    assert!(root.join("d/sub/f").exists());
    let report = apply(root, &layer, caller().with_overwrite_dirs(true));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(std::fs::read(root.join("d")).unwrap(), b"file now");
    assert_eq!(std::fs::read_dir(root).unwrap().count(), 1);
}

#[test]
fn a_directory_entry_keeps_an_existing_directory_and_replaces_a_symlink() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("keep")).unwrap();
    std::fs::write(root.join("keep/old"), b"x").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::os::unix::fs::symlink("target", root.join("was_link")).unwrap();
    std::fs::write(root.join("was_file"), b"x").unwrap();
    let layer = Layer::new()
        .dir("keep", 0o700)
        .dir("was_link", 0o711)
        .dir("was_file", 0o755)
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.entries.dirs, 3);
    assert!(std::fs::symlink_metadata(root.join("was_file"))
        .unwrap()
        .is_dir());
    assert!(root.join("keep/old").exists());
    assert_eq!(
        std::fs::metadata(root.join("keep")).unwrap().mode() & 0o7777,
        0o700
    );
    let md = std::fs::symlink_metadata(root.join("was_link")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o7777, 0o711);
    assert_eq!(
        std::fs::metadata(root.join("target")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn whiteouts_remove_lower_entries_and_trees() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/deep/er")).unwrap();
    std::fs::write(root.join("etc/deep/er/f"), b"x").unwrap();
    std::fs::write(root.join("etc/gone"), b"x").unwrap();
    std::fs::write(root.join("etc/stays"), b"x").unwrap();
    let layer = Layer::new()
        .whiteout("etc/.wh.gone")
        .whiteout("etc/.wh.deep")
        .whiteout("etc/.wh.never-there")
        .whiteout("missing/dir/.wh.x")
        .whiteout("etc/.wh..wh.plnk")
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.whiteouts, 4);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, SkipReason::BadWhiteout);
    assert_eq!(report.entries.files, 0, "a whiteout is not a file");
    assert!(!root.join("etc/gone").exists());
    assert!(!root.join("etc/deep").exists());
    assert!(root.join("etc/stays").exists());
    assert!(!root.join("etc/.wh.gone").exists());
    assert!(!root.join("missing").exists(), "a whiteout makes no parent");
}

#[test]
fn whiteouts_and_opaque_markers_spare_the_same_layers_entries() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("opq/lowerdir")).unwrap();
    std::fs::write(root.join("opq/lowerdir/f"), b"x").unwrap();
    std::fs::write(root.join("opq/lower"), b"x").unwrap();
    let layer = Layer::new()
        .file("new", b"this layer", 0o644)
        .whiteout(".wh.new")
        .dir("opq", 0o755)
        .file("opq/mine", b"this layer", 0o644)
        .whiteout("opq/.wh..wh..opq")
        .file("opq/after", b"this layer", 0o644)
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.opaque_dirs, 1);
    assert_eq!(std::fs::read(root.join("new")).unwrap(), b"this layer");
    let mut left: Vec<_> = std::fs::read_dir(root.join("opq"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["after", "mine"]);
}

#[test]
fn hard_links_link_inside_the_root() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .file("bin/busybox", b"elf", 0o755)
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("/bin/ls", "/bin/busybox")
        .symlink("bin/link", "busybox")
        .hardlink("bin/link2", "bin/link")
        .hardlink("bin/missing", "bin/nothing")
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.entries.hardlinks, 3);
    assert_eq!(
        std::fs::metadata(root.join("bin/busybox")).unwrap().nlink(),
        3
    );
    assert_eq!(
        std::fs::metadata(root.join("bin/sh")).unwrap().ino(),
        std::fs::metadata(root.join("bin/busybox")).unwrap().ino()
    );
    // A link to a symlink links the symlink itself, never its target.
    let link2 = std::fs::symlink_metadata(root.join("bin/link2")).unwrap();
    assert!(link2.file_type().is_symlink());
    assert_eq!(report.skipped.len(), 1);
    assert!(matches!(
        report.skipped[0].reason,
        SkipReason::HardLinkTarget(_)
    ));
}

#[test]
fn fifos_are_made_and_devices_skipped_by_default() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .fifo("run/pipe")
        .device("dev/null", false, 1, 3)
        .device("dev/vda", true, 252, 0)
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.entries.fifos, 1);
    assert!(std::fs::symlink_metadata(root.join("run/pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        std::fs::symlink_metadata(root.join("run/pipe"))
            .unwrap()
            .mode()
            & 0o7777,
        0o640
    );
    let fifo = std::fs::symlink_metadata(root.join("run/pipe")).unwrap();
    assert_eq!(fifo.mtime(), 1_600_000_000);
    assert_eq!(report.skipped.len(), 2);
    assert!(report
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::DeviceNode));
    assert!(!root.join("dev/null").exists());
}

#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root")]
fn owners_set_id_bits_and_devices_as_root() {
    require_privilege(PRIV);
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .file_owned("usr/bin/su", b"elf", 0o4755, (0, 0))
        .file_owned("home/user/prog", b"elf", 0o6755, (1000, 1000))
        .device("dev/null", false, 1, 3)
        .raw(
            tar::EntryType::Symlink,
            b"home/user/link",
            b"prog",
            0o777,
            (1000, 1001),
            b"",
            None,
        )
        .raw(
            tar::EntryType::Directory,
            b"home/user/d",
            b"",
            0o2750,
            (1000, 1001),
            b"",
            None,
        )
        .bytes();
    let report = apply(
        root,
        &layer,
        LayerOptions::default().with_special_files(SpecialFiles::Allow),
    );
    assert_eq!(report.entries.char_devices, 1, "{:?}", report.skipped);
    let md = std::fs::metadata(root.join("home/user/prog")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1000, 1000, 0o6755)
    );
    let md = std::fs::metadata(root.join("usr/bin/su")).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o4755));
    let link = std::fs::symlink_metadata(root.join("home/user/link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (1000, 1001));
    let dir = std::fs::symlink_metadata(root.join("home/user/d")).unwrap();
    assert_eq!(
        (dir.uid(), dir.gid(), dir.mode() & 0o7777),
        (1000, 1001, 0o2750)
    );
    let dev = std::fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(dev.file_type().is_char_device());
    assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
}

#[test]
fn gzip_and_zstd_layers_are_detected() {
    use std::io::Write;
    let layer = Layer::new().file("a", b"compressed", 0o644).bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::stream::encode_all(&layer[..], 3).unwrap();
    for (bytes, want) in [
        (gz, Compression::Gzip),
        (zst, Compression::Zstd),
        (layer, Compression::None),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        let report = apply(tmp.path(), &bytes, caller());
        assert_eq!(report.compression, want);
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"compressed");
    }
}

#[test]
fn a_failure_names_the_entry_and_what_was_applied() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layer = Layer::new()
        .file("one", b"1", 0o644)
        .file("two", b"2", 0o644)
        .file("three", &[7u8; 4096], 0o644)
        .bytes();
    // Cut inside the third file's data.
    let cut = &layer[..512 * 5 + 100];
    let root = Root::open(tmp.path()).unwrap();
    let err = unpack_common::apply_bytes(&root, cut, caller()).expect_err("truncated");
    let msg = err.to_string();
    assert!(
        msg.contains("layer entry #3 (2 applied before it)"),
        "{msg}"
    );
    assert!(msg.contains("three"), "{msg}");
    assert_eq!(std::fs::read(tmp.path().join("two")).unwrap(), b"2");
    // The half-written file is not left behind.
    assert!(!tmp.path().join("three").exists());
}

/// A large file's data is reported every 16 MiB as it is written, and the hook can stop the
/// layer there (Ctrl-C within a 1 GiB file): the half-written file is removed.
#[test]
fn progress_is_told_within_a_large_file_and_can_stop_it() {
    const MIB: u64 = 1 << 20;
    let big = vec![0x5a_u8; (40 * MIB) as usize];
    let layer = Layer::new()
        .file("big", &big, 0o644)
        .file("after", b"x", 0o644)
        .bytes();
    for stop in [false, true] {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut seen = Vec::new();
        let mut hook = |p: &procroot_runtime::unpack::UnpackProgress| {
            seen.push((p.entries, p.bytes_written, p.path.clone()));
            if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let root = Root::open(tmp.path()).unwrap();
        let applied = unpack_common::apply_bytes(&root, &layer, caller().with_progress(&mut hook));
        let within: Vec<u64> = seen
            .iter()
            .filter(|(entries, written, path)| {
                *entries == 1 && *written < 40 * MIB && path == Path::new("big")
            })
            .map(|&(_, written, _)| written)
            .collect();
        if stop {
            let err = applied.expect_err("stopped");
            assert_eq!(err.errno(), procroot::Errno::CANCELED);
            assert!(err.to_string().contains("layer entry #1"), "{err}");
            assert_eq!(seen.len(), 1, "{seen:?}");
            assert!(within.len() == 1 && within[0] >= 16 * MIB, "{seen:?}");
            let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
            assert!(left.is_empty(), "left behind: {left:?}");
        } else {
            applied.expect("applied");
            assert_eq!(within.len(), 2, "{seen:?}");
            assert!(
                within[0] >= 16 * MIB && within[1] >= within[0] + 16 * MIB,
                "{seen:?}"
            );
            assert_eq!(seen[2], (1, 40 * MIB, "big".into()));
            assert_eq!(seen[3], (2, 40 * MIB + 1, "after".into()));
            assert_eq!(std::fs::read(tmp.path().join("big")).unwrap(), big);
        }
    }
}

#[test]
fn progress_sees_every_entry_and_can_stop() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layer = Layer::new()
        .file("one", b"1", 0o644)
        .file("two", b"22", 0o644)
        .file("three", b"333", 0o644)
        .bytes();
    let mut seen = Vec::new();
    let mut hook = |p: &procroot_runtime::unpack::UnpackProgress| {
        seen.push((p.entries, p.bytes_written, p.path.clone()));
        if p.entries == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let root = Root::open(tmp.path()).unwrap();
    let err = unpack_common::apply_bytes(&root, &layer, caller().with_progress(&mut hook))
        .expect_err("stopped");
    assert_eq!(err.errno(), procroot::Errno::CANCELED);
    assert_eq!(seen, [(1, 1, "one".into()), (2, 3, "two".into())]);
    assert!(!tmp.path().join("three").exists());
}

#[test]
fn pax_xattrs_are_applied() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.user.origin", b"layer")])
        .file("f", b"x", 0o644)
        .bytes();
    let report = apply(root, &layer, caller());
    if let Some(s) = report.skipped.first() {
        if s.reason
            == (SkipReason::Xattr {
                name: "user.origin".into(),
                errno: procroot::Errno::OPNOTSUPP,
            })
        {
            procroot_testutil::skip_unless_allowed(
                "xattr",
                "the temp dir's file system has no user xattrs",
            );
            return;
        }
    }
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let value = Root::open(root)
        .unwrap()
        .read_xattr("f", "user.origin")
        .unwrap();
    assert_eq!(value, b"layer");
    assert_eq!(
        std::fs::metadata(root.join("f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
}

#[test]
fn directories_a_layer_makes_implicitly_are_its_own() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("opt")).unwrap();
    std::fs::write(root.join("opt/lower"), b"x").unwrap();
    // No entry for opt/new/deep: made as a parent, then the opaque marker of opt comes.
    let layer = Layer::new()
        .file("opt/new/deep/file", b"this layer", 0o644)
        .whiteout("opt/.wh..wh..opq")
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!(report.opaque_dirs, 1);
    assert!(!root.join("opt/lower").exists());
    assert_eq!(
        std::fs::read(root.join("opt/new/deep/file")).unwrap(),
        b"this layer"
    );
    assert_eq!(
        std::fs::metadata(root.join("opt/new")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn gnu_sparse_entries_stay_sparse() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    // 64 MiB with 4 KiB of data at the start and at 32 MiB: two small extents.
    let file = std::fs::File::create(src.join("sparse")).unwrap();
    file.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[1u8; 4096], 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[2u8; 4096], 32 << 20).unwrap();
    drop(file);
    let layer = tmp.path().join("layer.tar");
    let status = std::process::Command::new("tar")
        .args(["--sparse", "--format=gnu", "-cf"])
        .arg(&layer)
        .arg("-C")
        .arg(&src)
        .arg("sparse")
        .status()
        .expect("GNU tar");
    assert!(status.success());
    let bytes = std::fs::read(&layer).unwrap();
    assert!(bytes.len() < 1 << 20, "tar did not store it sparse");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let report = apply(&root, &bytes, caller());
    assert_eq!(report.entries.files, 1);
    let out = root.join("sparse");
    let md = std::fs::metadata(&out).unwrap();
    assert_eq!(md.len(), 64 << 20);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{} bytes allocated",
        md.blocks() * 512
    );
    let data = std::fs::read(&out).unwrap();
    assert!(data[..4096].iter().all(|&b| b == 1));
    assert!(data[32 << 20..(32 << 20) + 4096].iter().all(|&b| b == 2));
    assert!(data[4096..32 << 20].iter().all(|&b| b == 0));
}

#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root")]
fn security_capability_is_kept_with_the_owner() {
    require_privilege(PRIV);
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    // VFS_CAP_REVISION_2, CAP_NET_RAW (13) permitted and effective.
    let cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.security.capability", &cap[..])])
        .file_owned("ping", b"elf", 0o755, (0, 0))
        .bytes();
    let report = apply(root, &layer, LayerOptions::default());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let got = Root::open(root)
        .unwrap()
        .read_xattr("ping", "security.capability")
        .unwrap();
    assert_eq!(got, cap);
}

#[test]
fn empty_symlinks_and_impossible_device_numbers_are_skipped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    let layer = Layer::new()
        .raw(
            tar::EntryType::Symlink,
            b"empty",
            b"",
            0o777,
            (0, 0),
            b"",
            None,
        )
        .device("dev/wrapped", true, 8, 1 << 20)
        .file("after", b"x", 0o644)
        .bytes();
    let report = apply(
        root,
        &layer,
        caller().with_special_files(SpecialFiles::Allow),
    );
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].reason, SkipReason::EmptySymlink);
    assert_eq!(report.skipped[1].reason, SkipReason::BadDeviceNumbers);
    assert!(std::fs::symlink_metadata(root.join("empty")).is_err());
    assert!(std::fs::symlink_metadata(root.join("dev/wrapped")).is_err());
    assert!(root.join("after").exists());
}

#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (to drop to another user)")]
fn devices_without_cap_mknod_are_skipped_not_fatal() {
    require_privilege(PRIV);
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().to_path_buf();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let layer = Layer::new()
        .device("null", false, 1, 3)
        .file("after", b"x", 0o644)
        .bytes();
    procroot_testutil::in_child(|| {
        procroot_testutil::become_user(65534);
        let report = apply(
            &root,
            &layer,
            caller().with_special_files(SpecialFiles::Allow),
        );
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        assert_eq!(report.skipped[0].reason, SkipReason::DeviceNotPermitted);
        assert!(root.join("after").exists());
    });
}

#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (to drop to another user)")]
fn a_read_only_directory_is_filled_before_its_mode_is_set() {
    require_privilege(PRIV);
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().to_path_buf();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let layer = Layer::new()
        .dir("ro", 0o555)
        .file("ro/file", b"x", 0o444)
        .bytes();
    procroot_testutil::in_child(|| {
        procroot_testutil::become_user(65534);
        let report = apply(&root, &layer, caller());
        assert_eq!(report.entries.files, 1, "{:?}", report.skipped);
    });
    let md = std::fs::metadata(root.join("ro")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o555);
    assert_eq!(md.uid(), 65534);
    assert_eq!(std::fs::read(root.join("ro/file")).unwrap(), b"x");
}

#[test]
fn a_corrupt_stream_says_what_the_reader_found() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layer = Layer::new().file("a", b"x", 0o644).bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &layer).unwrap();
    let mut gz = gz.finish().unwrap();
    let middle = gz.len() / 2;
    gz[middle] ^= 0xff;
    gz[middle + 1] ^= 0xff;
    let root = Root::open(tmp.path()).unwrap();
    let err = unpack_common::apply_bytes(&root, &gz, caller()).expect_err("corrupt");
    let msg = err.to_string();
    assert!(
        msg.contains("the layer is not a valid tar stream:"),
        "{msg}"
    );
}

#[test]
fn the_layers_own_entries_are_known_through_a_symlinked_path_too() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir(root.join("real")).unwrap();
    std::fs::write(root.join("real/lower"), b"x").unwrap();
    std::os::unix::fs::symlink("real", root.join("link")).unwrap();
    let layer = Layer::new()
        .file("real/mine", b"this layer", 0o644)
        .whiteout("link/.wh.mine")
        .whiteout("link/.wh..wh..opq")
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!((report.whiteouts, report.opaque_dirs), (1, 1));
    assert_eq!(
        std::fs::read(root.join("real/mine")).unwrap(),
        b"this layer"
    );
    assert!(!root.join("real/lower").exists());
}

#[test]
fn whiteouts_under_a_file_or_a_symlink_loop_do_not_stop_the_layer() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::write(root.join("file"), b"x").unwrap();
    std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
    let layer = Layer::new()
        .whiteout("file/.wh.x")
        .whiteout("file/.wh..wh..opq")
        .whiteout("loop/.wh.x")
        .file("after", b"x", 0o644)
        .bytes();
    let report = apply(root, &layer, caller());
    assert_eq!((report.whiteouts, report.opaque_dirs), (1, 1));
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(
        report.skipped[0].reason,
        SkipReason::BadParent(procroot::Errno::LOOP)
    );
    assert!(root.join("after").exists());
    assert_eq!(std::fs::read(root.join("file")).unwrap(), b"x");
}

#[test]
fn modes_are_the_archives_whatever_the_umask() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().to_path_buf();
    let layer = Layer::new()
        .dir("d", 0o775)
        .file("d/f", b"x", 0o666)
        .file("d/g", b"x", 0o600)
        .fifo("d/p")
        .bytes();
    procroot_testutil::in_child(|| {
        // In a forked child: the umask is the process's.
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        apply(&root, &layer, caller());
    });
    for (name, mode) in [("d", 0o775), ("d/f", 0o666), ("d/g", 0o600), ("d/p", 0o640)] {
        let md = std::fs::symlink_metadata(root.join(name)).unwrap();
        assert_eq!(md.mode() & 0o7777, mode, "{name}");
    }
}
