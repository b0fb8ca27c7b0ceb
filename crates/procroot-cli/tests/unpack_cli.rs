//! `procroot unpack` as a user runs it: layers from files and stdin, gzip, `--json`, the
//! options, `--image DIR[:REF]`, what happens before anything is applied, and Ctrl-C.
//! (The attacks are the library's tests, `procroot-runtime/tests/unpack_attacks.rs`; the
//! comparison with umoci and GNU tar is `unpack_differential_cli.rs`.)

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procroot_testutil::cli::Cli;
use procroot_testutil::{require_privilege, Snapshot, Tree};
use serde_json::Value;
use sha2::Digest as _;

const BIN: &str = env!("CARGO_BIN_EXE_procroot");
const DEADLINE: Duration = Duration::from_secs(120);

fn procroot() -> Cli {
    Cli::new(BIN).deadline(DEADLINE)
}

/// A tar layer made with the `tar` crate.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn entry(mut self, name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) -> Layer {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_path_literal(name);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Layer {
        self.entry(name, tar::EntryType::Regular, data, None)
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

trait Literal {
    fn set_path_literal(&mut self, name: &str);
}

impl Literal for tar::Header {
    /// The name as given, `..` and all (the crate's `set_path` refuses `..`: an attacker's
    /// archive is not written with it).
    fn set_path_literal(&mut self, name: &str) {
        let gnu = self.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn layers_from_files_and_stdin_apply_in_order_and_json_reports_each() {
    require_privilege("unpacking keeps the archive's owners as root");
    let t = Tree::new("dir root\ndir in");
    let root = t.join("root");
    let first = Layer::new()
        .entry("etc", tar::EntryType::Directory, b"", None)
        .file("etc/hostname", b"one\n")
        .file("etc/motd", b"hello\n")
        .bytes();
    let second = Layer::new()
        .file("etc/hostname", b"two\n")
        .file("etc/.wh.motd", b"")
        .file("../../escaped", b"x")
        .bytes();
    let a = write(&t.join("in"), "a.tar.gz", &gzip(&first));
    let out = procroot()
        .args(["unpack", "--json", "--root"])
        .arg(&root)
        .args([&a, "-"])
        .stdin(second)
        .run();
    out.success();
    let v = out.json();
    assert_eq!(v["op"], "unpack");
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{v}");
    assert_eq!(layers[0]["layer"], Value::from(a.as_str()));
    assert_eq!(layers[0]["compression"], "gzip");
    assert_eq!(layers[0]["entries"]["files"], 2);
    assert_eq!(layers[0]["entries"]["dirs"], 1);
    assert_eq!(layers[1]["layer"], "-");
    assert_eq!(layers[1]["compression"], "none");
    assert_eq!(layers[1]["whiteouts"], 1);
    assert_eq!(layers[1]["skipped"][0]["path"], "../../escaped", "{v}");
    assert!(layers[1]["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("above the root"));
    assert_eq!(std::fs::read(root.join("etc/hostname")).unwrap(), b"two\n");
    assert!(!root.join("etc/motd").exists());
    assert!(!t.path().parent().unwrap().join("escaped").exists());
    // Owners from the archive (root keeps them); --no-same-owner: the caller's.
    assert_eq!(
        std::fs::metadata(root.join("etc/hostname")).unwrap().uid(),
        1000
    );
    let root2 = t.join("root2");
    std::fs::create_dir(&root2).unwrap();
    procroot()
        .args(["unpack", "-q", "--no-same-owner", "--root"])
        .arg(&root2)
        .arg(&a)
        .run()
        .success();
    assert_eq!(
        std::fs::metadata(root2.join("etc/hostname")).unwrap().uid(),
        0
    );
}

#[test]
fn a_missing_layer_fails_before_any_layer_is_applied() {
    let t = Tree::new("dir root\ndir in");
    let a = write(
        &t.join("in"),
        "a.tar",
        &Layer::new().file("made", b"x").bytes(),
    );
    let before = Snapshot::take(t.join("root"));
    let missing = t.join("in/missing.tar");
    let out = procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .arg(&a)
        .arg(&missing)
        .run();
    out.failure_between(
        "procroot: open layer ",
        "No such file or directory (ENOENT)",
    );
    assert!(out.message().contains("missing.tar"), "{}", out.message());
    before.assert_unchanged("a failed unpack");
    // `-` twice is a usage error.
    procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .args(["-", "-"])
        .run()
        .usage_error("only once");
}

#[test]
fn a_failing_second_layer_names_it_and_says_the_first_was_applied() {
    let t = Tree::new("dir root\ndir in");
    let a = write(
        &t.join("in"),
        "a.tar",
        &Layer::new().file("first", b"1").bytes(),
    );
    // A truncated layer: a header announcing 4096 bytes, followed by 10.
    let mut bad = Layer::new().file("big", &[7u8; 4096]).bytes();
    bad.truncate(512 + 10);
    let b = write(&t.join("in"), "b.tar", &bad);
    let out = procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .args([&a, &b])
        .run();
    out.failure_between(
        "procroot: layer 2 of 2 (the 1 before it were applied) ",
        "(EIO)",
    );
    assert!(out.message().contains("b.tar"), "{}", out.message());
    assert!(t.join("root/first").exists());
}

#[test]
fn the_options_reach_the_library() {
    require_privilege("device nodes need CAP_MKNOD");
    let t = Tree::new("dir root\ndir in\ndir root/real\nsymlink root/link real\ndir root/d");
    let mut dev = tar::Header::new_gnu();
    dev.set_entry_type(tar::EntryType::Char);
    dev.set_size(0);
    dev.set_uid(0);
    dev.set_gid(0);
    dev.set_mtime(1_600_000_000);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(3).unwrap();
    dev.set_mode(0o666);
    dev.set_path_literal("null");
    dev.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&dev, &[][..]).unwrap();
    let layer = Layer(b)
        .file("link/through", b"x")
        .file("d", b"a file where a directory is")
        .bytes();
    let path = write(&t.join("in"), "l.tar", &layer);
    let run = |flags: &[&str]| {
        let out = procroot()
            .args(["unpack", "--json", "--root"])
            .arg(t.join("root"))
            .args(flags)
            .arg(&path)
            .run();
        out.success();
        out.json()["layers"][0].clone()
    };
    // Defaults: no device, symlinked parent followed inside the root, the directory kept.
    let v = run(&[]);
    assert_eq!(v["entries"]["char_devices"], 0, "{v}");
    assert!(!t.join("root/null").exists());
    assert!(t.join("root/real/through").exists());
    assert!(t.join("root/d").is_dir());
    std::fs::remove_file(t.join("root/real/through")).unwrap();
    // Every option.
    let v = run(&["--special-files", "--no-dirlinks", "--overwrite-dirs"]);
    assert_eq!(v["entries"]["char_devices"], 1, "{v}");
    let md = std::fs::symlink_metadata(t.join("root/null")).unwrap();
    assert_eq!(md.rdev(), libc::makedev(1, 3));
    assert!(!t.join("root/real/through").exists(), "{v}");
    assert!(t.join("root/d").is_file(), "{v}");
}

/// An OCI image layout written by hand: one gzip layer, named `v1`, and a second manifest
/// named `v2`.
fn layout(dir: &Path) {
    let blob = |bytes: &[u8]| {
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let manifest = |file: &str| {
        let (ld, ls) = blob(&gzip(&Layer::new().file(file, b"from the image\n").bytes()));
        let (cd, cs) = blob(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
        });
        blob(m.to_string().as_bytes())
    };
    let (m1, s1) = manifest("v1-file");
    let (m2, s2) = manifest("v2-file");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m1, "size": s1,
         "annotations": {"org.opencontainers.image.ref.name": "v1"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m2, "size": s2,
         "annotations": {"org.opencontainers.image.ref.name": "v2"}},
    ]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn image_layouts_by_reference_and_their_errors() {
    let t = Tree::new("dir root\ndir img");
    layout(&t.join("img"));
    let img = t.join("img");
    let img = img.to_str().unwrap();
    let out = procroot()
        .args(["unpack", "--json", "--root"])
        .arg(t.join("root"))
        .args(["--image", &format!("{img}:v2")])
        .run();
    out.success();
    let v = out.json();
    assert_eq!(v["reference"], "v2");
    assert_eq!(v["image"], Value::from(img));
    assert!(v["manifest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        v["layers"][0]["media_type"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(v["layers"][0]["compression"], "gzip");
    assert!(t.join("root/v2-file").exists() && !t.join("root/v1-file").exists());
    // No REF with two manifests: the refs are listed.
    let out = procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .args(["--image", img])
        .run();
    out.failure_between(
        "procroot: choose image manifest ",
        "refs: \"v1\", \"v2\" (EINVAL)",
    );
    // An unknown REF.
    procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .args(["--image", &format!("{img}:v3")])
        .run()
        .failure_between(
            "procroot: read image index ",
            "refs: \"v1\", \"v2\" (ENOENT)",
        );
    // LAYER and --image together: a usage error.
    procroot()
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .args(["--image", img, "x.tar"])
        .run()
        .usage_error("--image");
}

#[test]
fn ctrl_c_stops_an_unpack_waiting_on_stdin_with_130() {
    let t = Tree::new("dir root");
    let mut child = Command::new(BIN)
        .args(["unpack", "--root"])
        .arg(t.join("root"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One entry, then nothing: the unpacker waits for the next header.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&Layer::new().file("first", b"1").0.get_ref().clone())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < DEADLINE, "unpack did not stop at Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    assert_eq!(status.code(), Some(130), "{status:?}");
}

/// The syscalls `strace -f -e trace=fchmod,copy_file_range` saw `procroot unpack -q --root ROOT
/// INPUT` make (stdin from `stdin`), by name; `None` (after a skip `PROCROOT_ALLOW_SKIP=strace`
/// allowed) without strace. Run with umask 022.
fn traced_unpack(root: &Path, input: &str, stdin: &Path) -> Option<(usize, usize)> {
    let log = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec strace -f -qq -e trace=fchmod,copy_file_range -o \"$@\"")
        .arg("sh")
        .arg(log.path())
        .args([BIN, "unpack", "-q", "--root"])
        .arg(root)
        .arg(input)
        .stdin(std::fs::File::open(stdin).unwrap())
        .status()
        .unwrap();
    if status.code() == Some(127) || Command::new("strace").arg("-V").output().is_err() {
        procroot_testutil::skip_unless_allowed("strace", "no strace");
        return None;
    }
    assert!(status.success(), "procroot unpack under strace: {status}");
    let text = std::fs::read_to_string(log.path()).unwrap();
    Some((
        text.matches("fchmod(").count(),
        text.matches("copy_file_range(").count(),
    ))
}

/// A LAYER file is read by the library's file reader: its files' data copied by the kernel,
/// and each file created with its final mode, since the command reads its umask before the
/// sandbox hides `/proc` (before, every file took an `fchmod`). Stdin is read as a stream
/// (so that Ctrl-C ends a read that waits), even when it is a file.
#[test]
fn a_layer_file_is_copied_by_the_kernel_and_files_take_no_fchmod() {
    let tmp = tempfile::tempdir().unwrap();
    let mut layer = Layer::new();
    for i in 0..20 {
        layer = layer.file(&format!("f{i}"), b"small");
    }
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let layer = write(tmp.path(), "layer.tar", &layer.file("big", &big).bytes());
    let (by_file, by_stdin) = (tmp.path().join("file"), tmp.path().join("stdin"));
    std::fs::create_dir(&by_file).unwrap();
    std::fs::create_dir(&by_stdin).unwrap();
    let Some((fchmods, copies)) = traced_unpack(&by_file, &layer, Path::new(&layer)) else {
        return;
    };
    assert_eq!(fchmods, 0, "a file took an fchmod");
    assert!(
        copies >= 1,
        "the big file's data was not copied by the kernel"
    );
    let (_, copies) = traced_unpack(&by_stdin, "-", Path::new(&layer)).expect("strace ran once");
    assert_eq!(copies, 0, "stdin was not read as a stream");
    for root in [&by_file, &by_stdin] {
        assert_eq!(std::fs::read(root.join("big")).unwrap(), big);
        let md = std::fs::metadata(root.join("f3")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o644);
    }
}

/// As tar: the archive's owners are the default for root only. Another user gets the files as
/// its own (a layer of root-owned entries applies), and `--same-owner` asks for the archive's
/// owners, which stops the layer at the first entry the user may not give away.
#[test]
fn owners_default_as_tar_root_keeps_them_a_user_gets_its_own() {
    require_privilege("running the command as another user");
    const USER: u32 = 1000;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut layer = Layer::new().file("etc/hostname", b"box\n");
    // Owned by root in the archive (the Layer helper's entries are owned by 1000).
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(4);
    h.set_path("etc/motd").unwrap();
    h.set_cksum();
    layer.0.append(&h, &b"motd"[..]).unwrap();
    let layer = write(tmp.path(), "layer.tar", &layer.bytes());
    let fresh_root = |name: &str| {
        let root = tmp.path().join(name);
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(USER), Some(USER)).unwrap();
        root
    };
    let by_user = fresh_root("user");
    procroot()
        .uid(USER)
        .args(["unpack", "-q", "--root"])
        .arg(&by_user)
        .arg(&layer)
        .run()
        .success();
    for name in ["etc/hostname", "etc/motd"] {
        let md = std::fs::metadata(by_user.join(name)).unwrap();
        assert_eq!((md.uid(), md.gid()), (USER, USER), "{name}");
    }
    let refused = fresh_root("refused");
    let run = procroot()
        .uid(USER)
        .args(["unpack", "-q", "--same-owner", "--root"])
        .arg(&refused)
        .arg(&layer)
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("fchown"), "{run:?}");
    assert!(run.stderr.contains("EPERM"), "{run:?}");
    // Root keeps the archive's owners without asking.
    let by_root = fresh_root("root");
    procroot()
        .args(["unpack", "-q", "--root"])
        .arg(&by_root)
        .arg(&layer)
        .run()
        .success();
    let md = std::fs::metadata(by_root.join("etc/motd")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
    let md = std::fs::metadata(by_root.join("etc/hostname")).unwrap();
    assert_eq!(md.uid(), 1000);
}
