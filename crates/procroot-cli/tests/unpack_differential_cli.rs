//! `procroot unpack` against the real tools, on a real image built here (issue 25, section 4):
//!
//! - the base layer is a Debian rootfs (`mmdebstrap --variant=minbase` of bookworm, as a tar,
//!   from Debian's mirror; cached in the target directory across runs). Where mmdebstrap cannot
//!   run (no mirror), the base is a tar of real trees this machine has (`/usr/share/doc`,
//!   `/etc`, `/usr/lib/os-release`), and the test says so on stderr;
//! - the second layer (written with Python's `tarfile`) modifies files (contents, mode, owner),
//!   deletes a file and a directory tree (whiteouts), empties a directory (an opaque marker)
//!   and refills it, hard-links a lower layer's file and one of its own, sets an xattr (PAX
//!   `SCHILY.xattr.user.*`), and adds a set-user-ID file, a symlink and a FIFO;
//! - umoci builds the OCI layout (`umoci init`, `umoci new`, `umoci raw add-layer` twice).
//!
//! `procroot unpack --image` must give the same tree as `umoci raw unpack` (names, types, modes,
//! owners, sizes, content hashes, link targets, device numbers, hard-link groups, xattrs, and
//! mtimes of everything but directories), and `procroot unpack` of the base layer alone the
//! same tree as GNU `tar -xpf --xattrs --xattrs-include='*'`, as root ([`TreeManifest`]).
//!
//! Slow (a rootfs built and unpacked three times): nextest's `slow-timeout` lets them run; they
//! need root, umoci and mmdebstrap (installed by `.ci/run`), and fail loudly without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use procroot_testutil::cli::Cli;
use procroot_testutil::{require_privilege, TreeManifest};

const BIN: &str = env!("CARGO_BIN_EXE_procroot");
/// Building the rootfs takes ~20 s and unpacking it a few seconds: this is for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(600);

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The base layer: a Debian minbase rootfs as an uncompressed tar, made once and kept in the
/// target directory (`CARGO_TARGET_TMPDIR`); or, without a Debian mirror, a tar of real host
/// trees.
fn base_layer() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cached = dir.join("unpack-debian-minbase.tar");
    if cached.exists() {
        return cached;
    }
    // Built under a name of this process, then linked: two tests may build it at once.
    let part = dir.join(format!("unpack-debian-minbase.tar.{}", std::process::id()));
    let built = Command::new("mmdebstrap")
        .args(["--variant=minbase", "--format=tar", "--quiet", "bookworm"])
        .arg(&part)
        .status();
    if matches!(built, Ok(s) if s.success()) {
        // link(2), not rename: a build that finishes second must not replace the tar that the
        // test beside it may be between its two extractions of (mmdebstrap stamps the entries
        // with the time of its build, so two builds differ). The first one stays.
        match std::fs::hard_link(&part, &cached) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("linking {} to {}: {e}", part.display(), cached.display()),
        }
        std::fs::remove_file(&part).unwrap();
        return cached;
    }
    let _ = std::fs::remove_file(&part);
    eprintln!(
        "unpack differential: mmdebstrap could not build a Debian rootfs ({built:?}); using a tar \
         of /usr/share/doc, /etc and /usr/lib/os-release instead"
    );
    let fallback = dir.join(format!("unpack-host-trees.{}.tar", std::process::id()));
    run(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "-cpf"])
        .arg(&fallback)
        .args(["-C", "/", "usr/share/doc", "etc", "usr/lib/os-release"])
        .arg("--ignore-failed-read"));
    fallback
}

/// The second layer, written with Python's tarfile (PAX, so the xattr is a `SCHILY.xattr.*`
/// record as GNU tar and containerd write them). Paths it touches exist in both bases.
const LAYER2_PY: &str = r##"
import io, sys, tarfile, time
out = sys.argv[1]
t = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
now = 1700000000
def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, link="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = now
    ti.linkname = link
    if pax:
        ti.pax_headers = pax
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)
# Modify: new bytes, mode and owner for a lower layer's file.
add("etc/os-release-copy", data=b"changed by layer 2\n", mode=0o600, uid=1000, gid=1000)
add("etc/hostname", data=b"layer2-host\n", mode=0o640, uid=0, gid=4)
# Delete a lower file and a lower directory tree.
add("etc/.wh.issue")
add("usr/share/doc/.wh.apt")
# Empty a lower directory (opaque), then refill it in this layer.
add("etc/default", kind=tarfile.DIRTYPE, mode=0o755)
add("etc/default/.wh..wh..opq")
add("etc/default/only-this", data=b"after the opaque marker\n")
# Hard links: to a lower layer's file, and to one of this layer.
add("etc/hostname-again", kind=tarfile.LNKTYPE, link="etc/hostname")
add("opt/data/a", data=b"shared bytes\n", mode=0o444, uid=33, gid=33)
add("opt/data/b", kind=tarfile.LNKTYPE, link="opt/data/a")
# An xattr, a set-user-ID file, a symlink, a FIFO, a private directory.
add("opt/data/x", data=b"with an xattr\n", pax={"SCHILY.xattr.user.procroot": "layer2"})
add("opt/bin/suid", data=b"#!/bin/sh\n", mode=0o4755)
add("opt/link", kind=tarfile.SYMTYPE, link="../etc/hostname")
add("opt/fifo", kind=tarfile.FIFOTYPE, mode=0o600)
add("opt/private", kind=tarfile.DIRTYPE, mode=0o700, uid=1000, gid=1000)
t.close()
"##;

/// A base tar with `etc/os-release-copy`, `etc/issue`, `etc/default/*`, `usr/share/doc/apt/`
/// present, as the second layer expects: added to the base as a small extra layer so that both
/// bases (Debian or host trees) have them.
const PRELUDE_PY: &str = r#"
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, kind=tarfile.REGTYPE, data=b"", mode=0o644):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode; ti.mtime = 1600000000
    if kind == tarfile.REGTYPE:
        ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)
for d in ("etc", "etc/default", "usr", "usr/share", "usr/share/doc", "usr/share/doc/apt"):
    add(d, kind=tarfile.DIRTYPE, mode=0o755)
add("etc/os-release-copy", data=b"ID=debian\n")
add("etc/issue", data=b"Debian\n")
add("etc/default/keep-me-not", data=b"lower\n")
add("usr/share/doc/apt/changelog", data=b"lower\n")
t.close()
"#;

fn python(script: &str, out: &Path) {
    run(Command::new("python3").arg("-c").arg(script).arg(out));
}

fn unpack() -> Cli {
    Cli::new(BIN).deadline(DEADLINE)
}

/// Every difference in `a` vs `b`; fails the test listing them.
#[track_caller]
fn assert_same_tree(what: &str, a: &Path, b: &Path, mtimes: bool) -> usize {
    let ma = TreeManifest::take(a, mtimes);
    let mb = TreeManifest::take(b, mtimes);
    let diffs = ma.differences(&mb, 40);
    assert!(
        diffs.is_empty(),
        "{what}: {} entries vs {}:\n{}",
        ma.entries().len(),
        mb.entries().len(),
        diffs.join("\n")
    );
    ma.entries().len()
}

#[test]
fn a_layer_unpacks_as_gnu_tar_extracts_it() {
    require_privilege("unpacking with owners and device nodes as GNU tar does as root");
    let base = base_layer();
    let work = tempfile::tempdir().unwrap();
    let (by_tar, by_procroot) = (work.path().join("tar"), work.path().join("procroot"));
    std::fs::create_dir(&by_tar).unwrap();
    std::fs::create_dir(&by_procroot).unwrap();
    run(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(&base)
        .arg("-C")
        .arg(&by_tar));
    unpack()
        .args(["unpack", "-q", "--special-files", "--root"])
        .arg(&by_procroot)
        .arg(&base)
        .run()
        .success();
    // GNU tar sets a directory's mtime after its entries; so must unpack: mtimes of all entries.
    let n = assert_same_tree("procroot unpack vs tar -xpf", &by_procroot, &by_tar, true);
    assert!(
        n > 1000,
        "only {n} entries: the base layer is not a real tree"
    );
    // The layer as a stream (a pipe on stdin: read, not copied by the kernel) gives the same.
    let by_stream = work.path().join("stream");
    std::fs::create_dir(&by_stream).unwrap();
    unpack()
        .args(["unpack", "-q", "--special-files", "--root"])
        .arg(&by_stream)
        .arg("-")
        .stdin(std::fs::read(&base).unwrap())
        .run()
        .success();
    assert_same_tree("procroot unpack - vs tar -xpf", &by_stream, &by_tar, true);
}

#[test]
fn an_image_unpacks_as_umoci_raw_unpack_does() {
    require_privilege("unpacking with owners and device nodes as umoci does as root");
    let base = base_layer();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (prelude, layer2) = (w.join("prelude.tar"), w.join("layer2.tar"));
    python(PRELUDE_PY, &prelude);
    python(LAYER2_PY, &layer2);
    let image = w.join("image");
    let tagged = format!("{}:test", image.display());
    run(Command::new("umoci").args(["init", "--layout"]).arg(&image));
    run(Command::new("umoci").args(["new", "--image", &tagged]));
    for layer in [&base, &prelude, &layer2] {
        run(Command::new("umoci")
            .args(["raw", "add-layer", "--no-history", "--image", &tagged])
            .arg(layer));
    }
    let by_umoci = w.join("umoci");
    run(Command::new("umoci")
        .args(["raw", "unpack", "--image", &tagged])
        .arg(&by_umoci));
    let by_procroot = w.join("procroot");
    std::fs::create_dir(&by_procroot).unwrap();
    let out = unpack()
        .args(["unpack", "--json", "--special-files", "--root"])
        .arg(&by_procroot)
        .arg("--image")
        .arg(&tagged)
        .run();
    out.success();
    let report = out.json();
    assert_eq!(
        report["layers"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    // The layer's own changes, checked directly (not only "as umoci").
    let p = |rel: &str| by_procroot.join(rel);
    assert!(!p("etc/issue").exists());
    assert!(!p("usr/share/doc/apt").exists());
    assert!(!p("etc/default/keep-me-not").exists());
    assert_eq!(
        std::fs::read(p("etc/default/only-this")).unwrap(),
        b"after the opaque marker\n"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(p("opt/data/a")).unwrap().ino(),
        std::fs::metadata(p("opt/data/b")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(p("opt/bin/suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    // Directories' mtimes are left out: umoci restores them only for the directories a layer
    // names, and both tools touch a directory when a later layer changes its entries.
    let n = assert_same_tree(
        "procroot unpack --image vs umoci raw unpack",
        &by_procroot,
        &by_umoci,
        false,
    );
    assert!(
        n > 1000,
        "only {n} entries: the base layer is not a real tree"
    );
}
