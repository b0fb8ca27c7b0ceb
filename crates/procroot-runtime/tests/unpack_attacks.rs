//! The attacks of issue 25 section 3 on `RootUnpackExt::apply_layer`: each layer is built with
//! the `tar` crate and applied to a root at `<tmp>/a/root`, beside a host stand-in
//! (`<tmp>/sentinel`, and everything else under `<tmp>`) that must come out unchanged in bytes,
//! mode, owner and link count (the kit's `Snapshot`), the root itself still there.
//!
//! Each test fails against the naive unpacker of `unpack_common` (names joined to the root's
//! path as strings, as Go's `filepath.Join` does): run
//! `PROCROOT_NAIVE_UNPACK=1 cargo nextest run -p procroot-runtime --test unpack_attacks`.

mod unpack_common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use procroot_runtime::unpack::{LayerOptions, LayerReport, SkipReason};
use procroot_testutil::racer::{Racer, Swap};
use procroot_testutil::Snapshot;
use unpack_common::{naive, unpack, Layer};

/// A root beside a host stand-in, and the stand-in's snapshot.
struct Scene {
    /// Removed on drop.
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sentinel: PathBuf,
    before: Snapshot,
}

/// Where the root is under the temp dir: `../../sentinel` from it is the sentinel.
const ROOT: &str = "a/root";

impl Scene {
    fn new() -> Scene {
        Scene::with(|_| {})
    }

    /// A scene whose root is prepared by `prepare` (a lower layer, planted entries) before the
    /// snapshot.
    fn with(prepare: impl FnOnce(&Path)) -> Scene {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join(ROOT);
        let sentinel = tmp.path().join("sentinel");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(sentinel.join("dir")).expect("sentinel");
        std::fs::write(sentinel.join("file"), b"host secret").expect("file");
        std::fs::write(sentinel.join("dir/inner"), b"host data").expect("inner");
        std::fs::write(root.join("keep"), b"lower layer").expect("keep");
        prepare(&root);
        let before = Snapshot::take_with_times(tmp.path());
        Scene {
            _tmp: tmp,
            root,
            sentinel,
            before,
        }
    }

    /// The sentinel's absolute path, as an attacker who knows the host writes it.
    fn abs(&self, rel: &str) -> String {
        let base = self.sentinel.to_str().expect("utf-8 temp path");
        if rel.is_empty() {
            base.to_owned()
        } else {
            format!("{base}/{rel}")
        }
    }

    /// Applies `layer` with `opts`: procroot's must succeed (refusals are in the report); the
    /// naive one may fail half way, which is no excuse for what it did before.
    fn apply(&self, layer: &[u8], opts: LayerOptions<'_>) -> Option<LayerReport> {
        match unpack(&self.root, layer, opts) {
            Ok(report) => Some(report).filter(|_| !naive()),
            Err(e) if naive() => {
                eprintln!("naive unpacker: {e}");
                None
            }
            Err(e) => panic!("apply_layer: {e}"),
        }
    }

    /// Nothing outside the root changed, and the root is still the directory it was, with the
    /// lower layer's file.
    #[track_caller]
    fn assert_host_unchanged(&self) {
        self.assert_host_unchanged_but_the_root();
        assert_eq!(
            std::fs::read(self.root.join("keep")).ok().as_deref(),
            Some(&b"lower layer"[..]),
            "the lower layer's file in the root is gone"
        );
    }

    /// Nothing outside the root changed, and the root is still a directory (what is in it is
    /// the layers' business).
    #[track_caller]
    fn assert_host_unchanged_but_the_root(&self) {
        let outside = |s: &Snapshot| -> BTreeMap<PathBuf, procroot_testutil::Entry> {
            s.entries()
                .iter()
                .filter(|(p, _)| !p.starts_with(ROOT))
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect()
        };
        let (was, now) = (outside(&self.before), outside(&self.before.retake()));
        for (path, entry) in &was {
            assert_eq!(
                now.get(path),
                Some(entry),
                "{path:?} outside the root changed"
            );
        }
        for path in now.keys() {
            assert!(was.contains_key(path), "{path:?} appeared outside the root");
        }
        let root = std::fs::symlink_metadata(&self.root).expect("the root is gone");
        assert!(root.is_dir(), "the root is no longer a directory");
    }
}

fn caller<'a>() -> LayerOptions<'a> {
    LayerOptions::default().with_same_owner(false)
}

/// Whether `report` lists `name` as skipped for `reason`.
fn skipped(report: &LayerReport, name: &str, reason: &SkipReason) -> bool {
    report
        .skipped
        .iter()
        .any(|s| s.path == name.as_bytes() && &s.reason == reason)
}

/// Runs `run` on every case, each in its own scene, and fails naming every case that failed
/// (not only the first): run against the naive unpacker, each attack shows on its own.
fn each<T: std::fmt::Debug>(cases: &[T], run: impl Fn(&T)) {
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)));
            outcome.err().map(|e| {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("{case:?}: {msg}")
            })
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// umoci's CVE-2021-29136: a symlink entry for the root itself (`/.`, `.`) pointing at the
/// host, then a second layer's files. The root is never replaced, so they land in it.
#[test]
fn cve_2021_29136_root_symlink_then_a_second_layer() {
    each(&["/.", ".", "./", "/"], |&name| {
        let scene = Scene::new();
        let first = Layer::new().symlink(name, &scene.abs("")).bytes();
        let second = Layer::new()
            .file("x", b"pwned", 0o644)
            .file("dir/inner", b"pwned", 0o644)
            .bytes();
        let report = scene.apply(&first, caller());
        scene.apply(&second, caller());
        scene.assert_host_unchanged();
        let report = report.expect("report");
        assert!(
            skipped(&report, name, &SkipReason::ReplacesRoot),
            "{report:?}"
        );
        assert_eq!(std::fs::read(scene.root.join("x")).unwrap(), b"pwned");
    });
}

/// Zip slip: names that climb out with `..`, however they are spelt (`//`, `/./` included),
/// and the same through a PAX `path` record, which overrides the header's harmless name.
#[test]
fn dotdot_names_are_refused() {
    let climbing = [
        "../../sentinel/x",
        "/../../sentinel/x",
        ".//..//..//sentinel/x",
        "/./../.././sentinel/file",
        "etc/../../../sentinel/dir/inner",
        "pax:../../sentinel/pax",
    ];
    each(&climbing, |&name| {
        let scene = Scene::new();
        let (layer, shown) = match name.strip_prefix("pax:") {
            Some(path) => (
                Layer::new()
                    .pax(&[("path", path.as_bytes())])
                    .file("harmless", b"pwned", 0o644),
                path,
            ),
            None => (Layer::new().file(name, b"pwned", 0o644), name),
        };
        let report = scene.apply(&layer.bytes(), caller());
        scene.assert_host_unchanged();
        let report = report.expect("report");
        assert!(
            skipped(&report, shown, &SkipReason::OutsideRoot),
            "{report:?}"
        );
        assert!(!scene.root.join("harmless").exists());
    });
}

/// `//` and `/./` in a name that stays inside: the entry lands where the cleaned name says.
#[test]
fn doubled_slashes_and_dots_stay_inside() {
    let scene = Scene::new();
    let layer = Layer::new()
        .file("//etc//hosts", b"inside", 0o644)
        .file("/./etc/./motd", b"inside", 0o644)
        .bytes();
    scene.apply(&layer, caller());
    scene.assert_host_unchanged();
    for name in ["etc/hosts", "etc/motd"] {
        assert_eq!(std::fs::read(scene.root.join(name)).unwrap(), b"inside");
    }
}

/// `etc -> /SENTINEL` and `etc -> ../../sentinel`, then `etc/...` entries, in the same layer
/// or the next: the symlink is followed inside the root only, where it leads nowhere.
#[test]
fn symlinked_parent_to_the_host_then_files_through_it() {
    each(
        &[("absolute", false), ("relative", false), ("absolute", true)],
        |&(kind, next_layer)| {
            let scene = Scene::new();
            let target = match kind {
                "relative" => "../../sentinel".to_owned(),
                _ => scene.abs(""),
            };
            let link = Layer::new().symlink("etc", &target);
            let files = |layer: Layer| {
                layer
                    .file("etc/file", b"pwned", 0o644)
                    .file("etc/dir/inner", b"pwned", 0o644)
                    .dir("etc/newdir", 0o777)
            };
            let report = if next_layer {
                scene.apply(&link.bytes(), caller());
                scene.apply(&files(Layer::new()).bytes(), caller())
            } else {
                scene.apply(&files(link).bytes(), caller())
            };
            scene.assert_host_unchanged();
            let report = report.expect("report");
            assert_eq!(report.entries.files + report.entries.dirs, 0, "{report:?}");
            assert_eq!(report.skipped.len(), 3, "{report:?}");
        },
    );
}

/// Hard links to `../../sentinel/file`, to the host's absolute path, through a symlinked
/// directory, and to a symlink to the host file; then a second layer writes to the name.
#[test]
fn hard_links_never_reach_a_host_file() {
    each(&["up", "abs", "via", "to_symlink"], |&case| {
        let scene = Scene::new();
        let layer = match case {
            "up" => Layer::new().hardlink("h", "../../sentinel/file"),
            "abs" => Layer::new().hardlink("h", &scene.abs("file")),
            "via" => Layer::new()
                .symlink("l", &scene.abs(""))
                .hardlink("h", "l/file"),
            _ => Layer::new()
                .symlink("s", &scene.abs("file"))
                .hardlink("h", "s"),
        };
        let report = scene.apply(&layer.bytes(), caller());
        let overwrite = Layer::new().file("h", b"pwned", 0o644).bytes();
        scene.apply(&overwrite, caller());
        scene.assert_host_unchanged();
        let report = report.expect("report");
        let noent = SkipReason::HardLinkTarget(procroot::Errno::NOENT);
        match case {
            "up" => assert!(skipped(&report, "h", &SkipReason::HardLinkOutside)),
            "abs" | "via" => assert!(skipped(&report, "h", &noent), "{report:?}"),
            _ => assert_eq!(report.entries.hardlinks, 1),
        }
    });
    // A link to a symlink is a second name of the symlink, never of its target.
    let scene = Scene::new();
    let layer = Layer::new()
        .symlink("s", &scene.abs("file"))
        .hardlink("h", "s")
        .bytes();
    scene.apply(&layer, caller());
    let md = std::fs::symlink_metadata(scene.root.join("h")).unwrap();
    assert!(md.file_type().is_symlink());
    let s = std::fs::symlink_metadata(scene.root.join("s")).unwrap();
    assert_eq!(md.ino(), s.ino());
}

/// Whiteouts `.wh..`, `.wh.` (no name), `a/.wh.NAME` with `a` a symlink to the host, an
/// opaque marker in such a directory, and a whiteout whose directory climbs out.
#[test]
fn whiteouts_never_remove_outside_their_directory() {
    let cases = [
        (".wh..", Some(SkipReason::BadWhiteout)),
        ("sub/.wh..", Some(SkipReason::BadWhiteout)),
        (".wh.", Some(SkipReason::BadWhiteout)),
        ("a/.wh.file", None),
        ("a/.wh.dir", None),
        ("a/.wh..wh..opq", None),
        ("../../sentinel/.wh.file", Some(SkipReason::OutsideRoot)),
    ];
    each(&cases, |(name, refused)| {
        let scene = Scene::with(|root| {
            std::os::unix::fs::symlink("../../sentinel", root.join("a")).unwrap();
            std::fs::create_dir(root.join("sub")).unwrap();
            std::fs::write(root.join("sub/lower"), b"x").unwrap();
        });
        let report = scene.apply(&Layer::new().whiteout(name).bytes(), caller());
        scene.assert_host_unchanged();
        assert!(scene.root.join("sub/lower").exists());
        let report = report.expect("report");
        match refused {
            Some(reason) => assert!(skipped(&report, name, reason), "{report:?}"),
            None => assert!(report.skipped.is_empty(), "{report:?}"),
        }
    });
}

/// Device nodes with a host disk's numbers, without special files: skipped, listed, not made.
#[test]
fn device_nodes_are_not_made_without_special_files() {
    let scene = Scene::new();
    let disk = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (rustix::fs::major(disk), rustix::fs::minor(disk));
    let layer = Layer::new()
        .device("dev/disk", true, major, minor)
        .device("dev/mem", false, 1, 1)
        .bytes();
    let report = scene.apply(&layer, caller());
    scene.assert_host_unchanged();
    for name in ["dev/disk", "dev/mem"] {
        let made = std::fs::symlink_metadata(scene.root.join(name));
        assert!(
            !made.is_ok_and(|m| m.file_type().is_block_device() || m.file_type().is_char_device()),
            "{name} was made"
        );
    }
    let report = report.expect("report");
    assert!(skipped(&report, "dev/disk", &SkipReason::DeviceNode));
    assert!(skipped(&report, "dev/mem", &SkipReason::DeviceNode));
}

/// A set-ID file of another owner with `same_owner` off: the caller's file, without the bits.
#[test]
fn set_id_bits_need_the_archives_owner() {
    let scene = Scene::new();
    let layer = Layer::new()
        .file_owned("suid", b"elf", 0o4755, (1000, 1000))
        .file_owned("sgid", b"elf", 0o2755, (1000, 1000))
        .pax(&[(
            "SCHILY.xattr.security.capability",
            b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        )])
        .file_owned("cap", b"elf", 0o755, (1000, 1000))
        .bytes();
    let report = scene.apply(&layer, caller());
    scene.assert_host_unchanged();
    let me = rustix::process::geteuid().as_raw();
    for name in ["suid", "sgid"] {
        let md = std::fs::metadata(scene.root.join(name)).unwrap();
        assert_eq!(md.uid(), me, "{name}");
        assert_eq!(md.mode() & 0o7777, 0o755, "{name} kept a set-ID bit");
    }
    let caps = rustix::fs::getxattr(
        scene.root.join("cap"),
        "security.capability",
        &mut [0u8; 64],
    );
    assert!(
        caps.is_err(),
        "security.capability given to the caller's file"
    );
    let report = report.expect("report");
    assert!(skipped(&report, "cap", &SkipReason::CapabilityNotKept));
}

/// A FIFO planted at a file's name, and a symlink to a host file at another: both replaced by
/// the layer's files, never opened (no hang on the FIFO, no write through the link).
#[test]
fn planted_fifo_and_symlink_at_a_files_name_are_replaced() {
    let scene = Scene::with(|root| {
        std::fs::create_dir(root.join("etc")).unwrap();
        procroot_testutil::mkfifo(&root.join("etc/passwd"));
    });
    std::os::unix::fs::symlink(scene.abs("file"), scene.root.join("etc/shadow")).unwrap();
    let layer = Layer::new()
        .file("etc/shadow", b"pwned", 0o600)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .bytes();
    let (tx, rx) = mpsc::channel();
    let root = scene.root.clone();
    let worker = std::thread::spawn(move || {
        let naive = naive();
        let result = unpack(
            &root,
            &layer,
            LayerOptions::default().with_same_owner(false),
        );
        let _ = tx.send(());
        result.map_err(|e| (naive, e))
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        // Unblock the writer (open the FIFO's other end) before failing.
        let _ = std::fs::File::open(scene.root.join("etc/passwd"));
        let _ = worker.join();
        panic!("the unpacker blocked on the FIFO planted at etc/passwd");
    }
    let result = worker.join().expect("worker");
    if let Err((false, e)) = result {
        panic!("apply_layer: {e}");
    }
    scene.assert_host_unchanged();
    let passwd = std::fs::symlink_metadata(scene.root.join("etc/passwd")).unwrap();
    assert!(passwd.is_file());
    let shadow = std::fs::symlink_metadata(scene.root.join("etc/shadow")).unwrap();
    assert!(shadow.is_file());
    assert_eq!(
        std::fs::read(scene.root.join("etc/shadow")).unwrap(),
        b"pwned"
    );
}

/// While a large layer unpacks into `d/`, another process swaps `d` for a symlink to the
/// sentinel and back, over and over: nothing outside the root changes.
#[test]
fn a_directory_swapped_for_a_host_symlink_during_the_unpack() {
    let rounds = procroot_testutil::racer::race_rounds(3, 30);
    for _ in 0..rounds {
        let scene = Scene::with(|root| {
            std::fs::create_dir(root.join("d")).unwrap();
        });
        std::os::unix::fs::symlink(scene.abs(""), scene.root.join("evil")).unwrap();
        let mut layer = Layer::new();
        for i in 0..400 {
            layer = layer
                .dir(&format!("d/sub{i}"), 0o755)
                .file(&format!("d/sub{i}/f"), b"data", 0o644)
                .file(&format!("d/file{i}"), b"data", 0o644)
                .whiteout(&format!("d/.wh.dir{i}"));
        }
        let layer = layer.bytes();
        let mut racer = Racer::swapping(&[Swap::Exchange(
            scene.root.join("d"),
            scene.root.join("evil"),
        )]);
        let result = unpack(&scene.root, &layer, caller());
        let swaps = racer.finish();
        if let (Err(e), false) = (&result, naive()) {
            // A rename race may stop the layer (an identity check); it must not escape.
            eprintln!("apply_layer under the race: {e}");
        }
        scene.assert_host_unchanged();
        assert!(swaps > 0, "the racer never swapped");
    }
}

/// Any layers an attacker writes: random names over `..`, `.`, `/`, whiteouts and a few names,
/// random types (files, directories, symlinks to the host or up, hard links, FIFOs, whiteouts),
/// two layers in a row, with `overwrite_dirs` and `no_dirlinks` on or off. Every layer applies
/// (refusals are skips), nothing outside the root ever changes, and the root stays a directory.
#[test]
fn random_layers_never_touch_the_host() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const PARTS: &[&str] = &[
        "..",
        ".",
        "",
        "a",
        "b",
        ".wh.a",
        ".wh..wh..opq",
        "sentinel",
        "file",
    ];
    let name = proptest::collection::vec(proptest::sample::select(PARTS), 1..5)
        .prop_map(|parts| parts.join("/"));
    // 0 file, 1 dir, 2 symlink to the sentinel, 3 symlink up, 4 hard link, 5 symlink to the
    // sentinel's file, 6 FIFO.
    let entry = (0u8..7, name.clone(), name);
    let layer = proptest::collection::vec(entry, 1..12);
    let cases = procroot_testutil::racer::race_rounds(48, 1000) as u32;
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(layer.clone(), layer, any::<(bool, bool)>()),
            |(first, second, (overwrite, strict))| {
                let scene = Scene::new();
                for entries in [&first, &second] {
                    let mut layer = Layer::new();
                    for (kind, name, other) in entries {
                        if name.len() > 90 || other.len() > 90 {
                            continue;
                        }
                        layer = match kind {
                            0 => layer.file(name, b"pwned", 0o644),
                            1 => layer.dir(name, 0o777),
                            2 => layer.symlink(name, &scene.abs("")),
                            3 => layer.symlink(name, "../../sentinel"),
                            4 => layer.hardlink(name, other),
                            5 => layer.symlink(name, &scene.abs("file")),
                            _ => layer.fifo(name),
                        };
                    }
                    let opts = caller()
                        .with_overwrite_dirs(overwrite)
                        .with_no_dirlinks(strict);
                    scene.apply(&layer.bytes(), opts);
                }
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    scene.assert_host_unchanged_but_the_root()
                }));
                prop_assert!(
                    outcome.is_ok(),
                    "{first:?} then {second:?} (overwrite_dirs {overwrite}, no_dirlinks {strict})"
                );
                Ok(())
            },
        )
        .unwrap();
}
