//! The mutating subcommands on the built binary: `mkdir`, `rm`, `mv`, `ln`, `mknod`, `chmod`,
//! `chown`, `touch`, `write` and `cp`. Exit codes, JSON shapes, exact error messages, coreutils
//! operand order, and that every path operand stays inside the root.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use procroot_testutil::{mkfifo, with_racing_thread, Cli, Run, Tree};
use serde_json::{json, Value};

/// A run of the binary, to be given arguments.
fn bin() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Runs `procroot <args> --root <tree>` with `stdin` as input.
fn run_in<S: AsRef<OsStr>>(tree: &Tree, args: &[S], stdin: &[u8]) -> Run {
    bin().args(args).root(tree.path()).stdin(stdin).run()
}

fn in_tree<S: AsRef<OsStr>>(tree: &Tree, args: &[S]) -> Run {
    run_in(tree, args, b"")
}

/// The message of a library error about `path` inside `tree`, as the CLI prints it: the
/// library error's `Display` after `procroot: `.
fn err_in(tree: &Tree, op: &str, path: &str, cause: &str) -> String {
    format!(
        "procroot: {op} \"{path}\" in {}: {cause}",
        tree.path().display()
    )
}

/// A root with an absolute symlink to a directory, one that leaves the root by `..`, and a
/// dangling one; plus a host directory next to it that must never be touched.
fn fixture() -> (Tree, tempfile::TempDir) {
    let tree = Tree::new(
        "
        file etc/hostname box
        dir data
        symlink link /data
        symlink up ../../../../../data
        symlink dangling /data/missing
        ",
    );
    let outside = tempfile::tempdir().unwrap();
    (tree, outside)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The `{"error": ...}` object's errno and message.
fn error_of(value: &Value) -> (String, String) {
    (
        value["error"]["errno"].as_str().expect("errno").to_owned(),
        value["error"]["message"]
            .as_str()
            .expect("message")
            .to_owned(),
    )
}

// ---- mkdir ------------------------------------------------------------------------------

#[test]
fn mkdir_creates_and_reports() {
    let (tree, _) = fixture();
    in_tree(&tree, &["mkdir", "/a", "/link/b"]).success();
    assert!(tree.join("a").is_dir());
    // Through the absolute symlink: inside the root.
    assert!(tree.join("data/b").is_dir());
    assert_eq!(in_tree(&tree, &["mkdir", "/c"]).success().text(), "");
    let run = in_tree(&tree, &["mkdir", "--json", "--mode", "0700", "/d", "/e"]);
    assert_eq!(
        run.success().json_lines(),
        [
            json!({"op": "mkdir", "path": "/d"}),
            json!({"op": "mkdir", "path": "/e"})
        ]
    );
    assert_eq!(fs::metadata(tree.join("d")).unwrap().mode() & 0o7777, 0o700);
}

#[test]
fn mkdir_errors_go_on_and_exit_1() {
    let (tree, _) = fixture();
    let run = in_tree(&tree, &["mkdir", "/data", "/new2", "/no/x"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        procroot_testutil::cli::without_syscalls(&run.stderr),
        err_in(&tree, "mkdir", "/data", "File exists (EEXIST)")
            + "\n"
            + &err_in(
                &tree,
                "mkdir",
                "/no/x",
                "No such file or directory (ENOENT)",
            )
            + "\n"
    );
    assert!(tree.join("new2").is_dir());
    // A dangling symlink is never followed to create its target.
    in_tree(&tree, &["mkdir", "/dangling"]).failure(&err_in(
        &tree,
        "mkdir",
        "/dangling",
        "File exists (EEXIST)",
    ));
    assert!(!tree.join("data/missing").exists());
    // JSON: one line per outcome, errors included.
    let run = in_tree(&tree, &["mkdir", "--json", "/etc", "/fresh"]);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(
        error_of(&lines[0]),
        (
            "EEXIST".into(),
            // The message names the failed syscall and its arguments.
            err_in(
                &tree,
                "mkdir",
                "/etc",
                "mkdirat(\"/\", \"etc\", 0o777): File exists (EEXIST)"
            )
            .strip_prefix("procroot: ")
            .unwrap()
            .into()
        )
    );
    assert_eq!(lines[1], json!({"op": "mkdir", "path": "/fresh"}));
    // Setuid/setgid would be dropped silently by mkdir(2): refused.
    let run = in_tree(&tree, &["mkdir", "--mode", "2755", "/sgid"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("procroot: mkdir \"/sgid\" in "),
        "{run:?}"
    );
    assert!(run.stderr.ends_with("(EINVAL)\n"), "{run:?}");
}

#[test]
fn mkdir_parents_reports_the_resolved_path() {
    let (tree, outside) = fixture();
    let run = in_tree(&tree, &["mkdir", "-p", "--json", "/link/x/y", "/up/z"]);
    assert_eq!(
        run.success().json_lines(),
        [
            json!({"op": "mkdir", "path": "/data/x/y"}),
            json!({"op": "mkdir", "path": "/data/z"})
        ]
    );
    assert!(tree.join("data/x/y").is_dir());
    in_tree(&tree, &["mkdir", "-p", "/data/x"]).success();
    assert!(names(outside.path()).is_empty());
}

/// `mkdir -p` prints from the handle `mkdir_all` returned; it never looks the path up again by
/// name. It used to: a rename of the new tree right after its creation made it exit 1 (ENOENT)
/// although every directory had been created.
#[test]
fn mkdir_p_succeeds_when_the_new_tree_is_renamed_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ROUNDS: usize = 24;
    let tree = Tree::new("dir base");
    let base = tree.join("base");
    let round = AtomicUsize::new(usize::MAX);
    let renamer = || {
        let i = round.load(Ordering::Relaxed);
        let won = i != usize::MAX
            && fs::rename(base.join(format!("r{i}")), base.join(format!("x{i}"))).is_ok();
        if !won {
            std::thread::yield_now();
        }
        won
    };
    let ((), renamed) = with_racing_thread(renamer, || {
        for i in 0..ROUNDS {
            round.store(i, Ordering::Relaxed);
            let path = format!("/base/r{i}/a/b/c");
            let backend = ["auto", "kernel", "emulated"][i % 3];
            let mut args = vec!["mkdir", "-p", "--backend", backend, &path];
            if i % 2 == 0 {
                args.push("--json");
            }
            let run = in_tree(&tree, &args);
            round.store(usize::MAX, Ordering::Relaxed);
            let made = ["r", "x"]
                .iter()
                .any(|p| base.join(format!("{p}{i}/a/b/c")).is_dir());
            assert!(made, "round {i}: the tree was not created: {run:?}");
            run.success();
            if i % 2 == 0 {
                assert_eq!(
                    run.json(),
                    json!({"op": "mkdir", "path": path}),
                    "round {i}"
                );
            }
        }
    });
    // The renamer must have raced: on the old code nearly every round failed.
    assert!(renamed > 0, "the renamer never won");
}

/// The new name is checked before the parent is looked up, and `mkdir -p`'s errnos for what is
/// in the way are libpathrs's.
#[test]
fn mkdir_names_and_errnos() {
    let (tree, _) = fixture();
    for path in ["/nope/x/.", "/nope/x/..", "/data/.", "/nope/./"] {
        let run = in_tree(&tree, &["mkdir", path]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.ends_with("(EINVAL)\n"), "{path}: {run:?}");
    }
    in_tree(&tree, &["mkdir", "-p", "/dangling"]).failure(&err_in(
        &tree,
        "mkdir_all",
        "/dangling",
        "a dangling symlink is in the way (its target is not created) (ENOTDIR)",
    ));
    in_tree(&tree, &["mkdir", "-p", "/dangling/x"]).failure(&err_in(
        &tree,
        "mkdir_all",
        "/dangling/x",
        "a dangling symlink is in the way (its target is not created) (ENOTDIR)",
    ));
    in_tree(&tree, &["mkdir", "-p", "/etc/hostname"]).failure(&err_in(
        &tree,
        "mkdir_all",
        "/etc/hostname",
        "Not a directory (ENOTDIR)",
    ));
    tree.symlink("/etc/hostname", "filelink");
    in_tree(&tree, &["mkdir", "-p", "/filelink"]).failure(&err_in(
        &tree,
        "mkdir_all",
        "/filelink",
        "Not a directory (ENOTDIR)",
    ));
    assert!(!tree.join("data/missing").exists());
}

#[test]
fn mode_operands_are_checked_by_the_parser() {
    let (tree, _) = fixture();
    for bad in ["u+x", "9", "17777", ""] {
        in_tree(&tree, &["mkdir", "--mode", bad, "/x"]).usage_error("invalid value");
        in_tree(&tree, &["chmod", bad, "/etc/hostname"]).usage_error("invalid value");
    }
    in_tree(&tree, &["mkdir"]).usage_error("PATH");
}

// ---- rm ---------------------------------------------------------------------------------

#[test]
fn rm_files_and_trees() {
    let (tree, _) = fixture();
    tree.write("data/sub/deep/f", b"x");
    tree.write("data/g", b"x");
    // Without -r a directory is EISDIR; the link itself is removed, not what it points to.
    in_tree(&tree, &["rm", "/data"]).failure(&err_in(
        &tree,
        "remove_file",
        "/data",
        "Is a directory (EISDIR)",
    ));
    let run = in_tree(&tree, &["rm", "--json", "/link", "/data/g"]);
    assert_eq!(
        run.success().json_lines(),
        [
            json!({"op": "rm", "path": "/link"}),
            json!({"op": "rm", "path": "/data/g"})
        ]
    );
    assert!(tree.join("data/sub").is_dir());
    in_tree(&tree, &["rm", "-r", "/data"]).success();
    assert!(!tree.join("data").exists());
    in_tree(&tree, &["rm", "/nope"]).failure(&err_in(
        &tree,
        "remove_file",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    in_tree(&tree, &["rm", "-r", "/nope"]).failure(&err_in(
        &tree,
        "remove_all",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    // -f: missing is fine, and prints nothing even in JSON.
    let run = in_tree(&tree, &["rm", "-f", "--json", "/nope", "/etc/hostname"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "rm", "path": "/etc/hostname"})
    );
    // --cross-mounts needs -r.
    in_tree(&tree, &["rm", "--cross-mounts", "/etc"]).usage_error("--recursive");
}

#[test]
fn rm_r_through_an_escaping_symlink_stays_inside() {
    let (tree, outside) = fixture();
    fs::write(outside.path().join("keep"), b"precious").unwrap();
    tree.symlink(outside.path(), "host");
    tree.write("data/inner", b"x");
    // `host` points at the host directory by absolute path: inside the root that is a path
    // that does not exist, and removing `host/` contents is ENOENT.
    let shown = format!("{}/keep", "/host");
    in_tree(&tree, &["rm", "-r", &shown]).failure(&err_in(
        &tree,
        "remove_all",
        &shown,
        "No such file or directory (ENOENT)",
    ));
    in_tree(&tree, &["rm", "-r", "/host", "/up"]).success();
    assert_eq!(names(outside.path()), ["keep"]);
    assert!(
        tree.join("data/inner").exists(),
        "only the link was removed"
    );
}

// ---- mv ---------------------------------------------------------------------------------

#[test]
fn mv_renames_with_flags() {
    let (tree, _) = fixture();
    tree.write("a", b"A");
    tree.write("b", b"B");
    let run = in_tree(&tree, &["mv", "--json", "/a", "/link/a2"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "mv", "from": "/a", "to": "/link/a2"})
    );
    assert_eq!(fs::read(tree.join("data/a2")).unwrap(), b"A");
    in_tree(&tree, &["mv", "--no-replace", "/b", "/data/a2"]).failure(&err_in(
        &tree,
        "rename",
        "/b",
        "File exists (EEXIST)",
    ));
    in_tree(&tree, &["mv", "--exchange", "/b", "/data/a2"]).success();
    assert_eq!(fs::read(tree.join("b")).unwrap(), b"A");
    assert_eq!(fs::read(tree.join("data/a2")).unwrap(), b"B");
    // Plain mv replaces.
    in_tree(&tree, &["mv", "/b", "/data/a2"]).success();
    assert_eq!(fs::read(tree.join("data/a2")).unwrap(), b"A");
    in_tree(&tree, &["mv", "/nope", "/x"]).failure(&err_in(
        &tree,
        "rename",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    in_tree(&tree, &["mv", "--exchange", "--no-replace", "/a", "/b"]).usage_error("--exchange");
    in_tree(&tree, &["mv", "/a"]).usage_error("TO");
}

// ---- ln ---------------------------------------------------------------------------------

#[test]
fn ln_coreutils_order() {
    let (tree, outside) = fixture();
    // ln -s TARGET LINK: the target is stored verbatim.
    let run = in_tree(&tree, &["ln", "-s", "--json", "/etc/hostname", "/data/h"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "ln", "path": "/data/h", "target": "/etc/hostname", "symbolic": true})
    );
    assert_eq!(
        fs::read_link(tree.join("data/h")).unwrap(),
        Path::new("/etc/hostname")
    );
    // Hard link: TARGET is inside the root too.
    let run = in_tree(&tree, &["ln", "--json", "/etc/hostname", "/link/hard"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "ln", "path": "/link/hard", "target": "/etc/hostname", "symbolic": false})
    );
    let a = fs::metadata(tree.join("etc/hostname")).unwrap();
    let b = fs::metadata(tree.join("data/hard")).unwrap();
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert_eq!(a.nlink(), 2);
    in_tree(&tree, &["ln", "-s", "x", "/data/h"]).failure(&err_in(
        &tree,
        "symlink",
        "/data/h",
        "File exists (EEXIST)",
    ));
    // A host path as hard-link TARGET is looked up inside the root.
    fs::write(outside.path().join("secret"), b"s").unwrap();
    let host = outside.path().join("secret");
    in_tree(
        &tree,
        &[OsStr::new("ln"), host.as_os_str(), OsStr::new("/data/s")],
    )
    .failure(&err_in(
        &tree,
        "hardlink",
        host.to_str().unwrap(),
        "No such file or directory (ENOENT)",
    ));
    assert!(!tree.join("data/s").exists());
}

// ---- mknod ------------------------------------------------------------------------------

#[test]
fn mknod_fifo_and_devices() {
    let (tree, _) = fixture();
    let run = in_tree(
        &tree,
        &["mknod", "--json", "/link/fifo", "p", "--mode", "0600"],
    );
    assert_eq!(
        run.success().json(),
        json!({"op": "mknod", "path": "/link/fifo", "node": "p"})
    );
    let md = fs::symlink_metadata(tree.join("data/fifo")).unwrap();
    assert!(md.file_type().is_fifo());
    assert_eq!(md.mode() & 0o777, 0o600);
    in_tree(&tree, &["mknod", "/data/fifo", "p"]).failure(&err_in(
        &tree,
        "mknod",
        "/data/fifo",
        "File exists (EEXIST)",
    ));
    in_tree(&tree, &["mknod", "/x", "p", "1", "3"]).usage_error("FIFO");
    in_tree(&tree, &["mknod", "/x", "c"]).usage_error("MAJOR");
    in_tree(&tree, &["mknod", "/x", "z"]).usage_error("possible values");
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mknod_devices_and_their_number_limits() {
    procroot_testutil::require_privilege("CAP_MKNOD to make device nodes");
    let (tree, _) = fixture();
    let run = in_tree(&tree, &["mknod", "--json", "/null", "c", "1", "3"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "mknod", "path": "/null", "node": "c:1:3"})
    );
    let md = fs::symlink_metadata(tree.join("null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), rustix_makedev(1, 3));
    // The largest numbers the kernel stores (12-bit major, 20-bit minor) work...
    for (name, kind, major, minor) in [("maj", "c", 4095, 0), ("min", "b", 8, 1_048_575)] {
        in_tree(
            &tree,
            &["mknod", name, kind, &major.to_string(), &minor.to_string()],
        )
        .success();
        let md = fs::symlink_metadata(tree.join(name)).unwrap();
        assert_eq!(md.rdev(), rustix_makedev(major, minor), "{name}");
    }
    // ...one more is EINVAL, before anything is made: the kernel would silently keep only the
    // low bits (`b 8 1048576` made the whole disk 8:0, `c 1 1048579` made /dev/null).
    for (kind, major, minor) in [
        ("c", "4096", "0"),
        ("b", "8", "1048576"),
        ("c", "1", "1048579"),
    ] {
        // Refused before the root is opened: no root in the message.
        in_tree(&tree, &["mknod", "/bad", kind, major, minor]).failure(&format!(
            "procroot: mknod \"/bad\": device {major}:{minor} is out of range (major at most \
             4095, minor at most 1048575): the kernel would silently make a different device \
             (EINVAL)"
        ));
        assert!(!tree.join("bad").exists(), "{kind} {major} {minor}");
    }
}

/// `makedev` for the Linux encoding, without another dependency.
fn rustix_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

// ---- chmod, chown -----------------------------------------------------------------------

#[test]
fn chmod_mode_then_path() {
    let (tree, _) = fixture();
    tree.write("data/f", b"x");
    let run = in_tree(&tree, &["chmod", "--json", "751", "/link/f"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "chmod", "path": "/link/f", "mode": "0751"})
    );
    assert_eq!(
        fs::metadata(tree.join("data/f")).unwrap().mode() & 0o7777,
        0o751
    );
    in_tree(&tree, &["chmod", "0644", "/nope"]).failure(&err_in(
        &tree,
        "chmod",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    // The operands are MODE then PATH: a path where the mode goes is a usage error.
    in_tree(&tree, &["chmod", "/data/f", "644"]).usage_error("octal");
    assert_eq!(
        fs::metadata(tree.join("data/f")).unwrap().mode() & 0o7777,
        0o751
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn chown_numeric_ids() {
    let (tree, _) = fixture();
    tree.write("data/f", b"x");
    tree.symlink("f", "data/l");
    in_tree(&tree, &["chown", "1", "/nope"]).failure(&err_in(
        &tree,
        "chown",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    for bad in ["root", "1:", ":", "1:x"] {
        in_tree(&tree, &["chown", bad, "/data/f"]).usage_error("UID");
    }
    procroot_testutil::require_privilege("chown to other ids (CAP_CHOWN)");
    let run = in_tree(&tree, &["chown", "--json", "1234:567", "/data/f"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "chown", "path": "/data/f", "uid": 1234, "gid": 567})
    );
    let md = fs::metadata(tree.join("data/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 567));
    let run = in_tree(&tree, &["chown", "--json", ":89", "/data/l"]);
    assert_eq!(
        run.success().json(),
        json!({"op": "chown", "path": "/data/l", "uid": null, "gid": 89})
    );
    let md = fs::metadata(tree.join("data/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 89));
    in_tree(&tree, &["chown", "--nofollow", "42", "/data/l"]).success();
    assert_eq!(fs::symlink_metadata(tree.join("data/l")).unwrap().uid(), 42);
    assert_eq!(fs::metadata(tree.join("data/f")).unwrap().uid(), 1234);
}

// ---- touch ------------------------------------------------------------------------------

#[test]
fn touch_creates_or_updates() {
    let (tree, _) = fixture();
    tree.write("data/old", b"keep");
    let old = filetime(&tree.join("data/old"), 1_000_000);
    let run = in_tree(&tree, &["touch", "--json", "/link/old", "/data/new"]);
    assert_eq!(
        run.success().json_lines(),
        [
            json!({"op": "touch", "path": "/link/old"}),
            json!({"op": "touch", "path": "/data/new"})
        ]
    );
    assert!(fs::metadata(tree.join("data/old")).unwrap().mtime() > old);
    assert_eq!(fs::read(tree.join("data/old")).unwrap(), b"keep");
    assert_eq!(fs::read(tree.join("data/new")).unwrap(), b"");
    // A dangling symlink is not followed to create its target.
    in_tree(&tree, &["touch", "/dangling"]).failure(&err_in(
        &tree,
        "touch",
        "/dangling",
        "Too many levels of symbolic links (ELOOP)",
    ));
    assert!(!tree.join("data/missing").exists());
    // --nofollow: the link's own times.
    tree.symlink("old", "data/lnk");
    let link_before = fs::symlink_metadata(tree.join("data/lnk")).unwrap().mtime();
    filetime(&tree.join("data/old"), 1_000_000);
    in_tree(&tree, &["touch", "--nofollow", "/data/lnk"]).success();
    assert_eq!(
        fs::metadata(tree.join("data/old")).unwrap().mtime(),
        1_000_000
    );
    assert!(fs::symlink_metadata(tree.join("data/lnk")).unwrap().mtime() >= link_before);
    in_tree(&tree, &["touch", "/no/such"]).failure(&err_in(
        &tree,
        "touch",
        "/no/such",
        "No such file or directory (ENOENT)",
    ));
}

/// Sets `path`'s mtime to `secs` and returns it.
fn filetime(path: &Path, secs: u64) -> i64 {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
    secs as i64
}

// ---- write ------------------------------------------------------------------------------

#[test]
fn write_replaces_atomically() {
    let (tree, _) = fixture();
    tree.write("data/f", b"old contents");
    fs::set_permissions(tree.join("data/f"), fs::Permissions::from_mode(0o640)).unwrap();
    let ino = fs::metadata(tree.join("data/f")).unwrap().ino();
    let run = run_in(&tree, &["write", "--json", "/link/f"], b"new");
    assert_eq!(
        run.success().json(),
        json!({"op": "write", "path": "/link/f", "bytes": 3})
    );
    let md = fs::metadata(tree.join("data/f")).unwrap();
    assert_eq!(fs::read(tree.join("data/f")).unwrap(), b"new");
    assert_ne!(md.ino(), ino, "a new file replaced the old one");
    assert_eq!(md.mode() & 0o7777, 0o640, "the old mode is kept");
    // --mode, and a new file.
    run_in(&tree, &["write", "--mode", "600", "/data/g"], b"g").success();
    assert_eq!(
        fs::metadata(tree.join("data/g")).unwrap().mode() & 0o7777,
        0o600
    );
    run_in(&tree, &["write", "/data/h"], b"h").success();
    assert_eq!(
        fs::metadata(tree.join("data/h")).unwrap().mode() & 0o7777,
        0o644
    );
    // A symlink at PATH is replaced, not written through.
    tree.symlink("/etc/hostname", "data/sl");
    run_in(&tree, &["write", "/data/sl"], b"replaced").success();
    assert!(fs::symlink_metadata(tree.join("data/sl"))
        .unwrap()
        .is_file());
    assert_eq!(fs::read(tree.join("etc/hostname")).unwrap(), b"box");
    // Errors leave no temporary behind.
    run_in(&tree, &["write", "/data"], b"x").failure(&err_in(
        &tree,
        "write",
        "/data",
        "Is a directory (EISDIR)",
    ));
    run_in(&tree, &["write", "/no/such"], b"x").failure(&err_in(
        &tree,
        "write",
        "/no/such",
        "No such file or directory (ENOENT)",
    ));
    for name in names(&tree.join("data")).iter().chain(&names(tree.path())) {
        assert!(!name.starts_with(".procroot"), "leftover {name}");
    }
}

/// `write` without --mode keeps the mode of the regular file it replaces, read by the library
/// right before its rename: not the mode of a symlink's target (the symlink is what is
/// replaced), and set-ID bits only when the new file keeps the owner. The old CLI `stat`ed
/// PATH (following the symlink) before writing, and kept every bit: root writing over uid
/// 1000's mode-4755 file made a root-owned set-user-ID file.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn write_keeps_the_mode_of_what_it_replaces() {
    let (tree, _) = fixture();
    let mode = |p: &str| fs::symlink_metadata(tree.join(p)).unwrap().mode() & 0o7777;
    tree.write("etc/secret", b"s");
    fs::set_permissions(tree.join("etc/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    tree.symlink("/etc/secret", "data/sl");
    run_in(&tree, &["write", "/data/sl"], b"file now").success();
    assert_eq!(mode("data/sl"), 0o644, "the default, not the target's mode");
    assert_eq!(mode("etc/secret"), 0o600);
    procroot_testutil::require_privilege("write over a file of another owner");
    tree.write("data/suid", b"old");
    std::os::unix::fs::chown(tree.join("data/suid"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(tree.join("data/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    run_in(&tree, &["write", "/data/suid"], b"new").success();
    let md = fs::metadata(tree.join("data/suid")).unwrap();
    assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(
        md.mode() & 0o7777,
        0o755,
        "uid 1000's set-user-ID bit is not ours"
    );
    // --mode is taken as given.
    run_in(&tree, &["write", "--mode", "4755", "/data/suid"], b"new").success();
    assert_eq!(mode("data/suid"), 0o4755);
}

#[test]
fn write_append() {
    let (tree, _) = fixture();
    run_in(&tree, &["write", "--append", "/data/log"], b"one\n").success();
    let run = run_in(
        &tree,
        &["write", "--append", "--json", "/link/log"],
        b"two\n",
    );
    assert_eq!(
        run.success().json(),
        json!({"op": "write", "path": "/link/log", "bytes": 4})
    );
    assert_eq!(fs::read(tree.join("data/log")).unwrap(), b"one\ntwo\n");
    // Appending never follows a trailing symlink.
    run_in(&tree, &["write", "--append", "/dangling"], b"x").failure(&err_in(
        &tree,
        "create",
        "/dangling",
        "Too many levels of symbolic links (ELOOP)",
    ));
    assert!(!tree.join("data/missing").exists());
}

// ---- special files (cat, write --append, touch) ------------------------------------------

/// How long a command may take before it counts as hung: far longer than any of these takes on a
/// loaded machine.
const HANG: std::time::Duration = std::time::Duration::from_secs(10);

/// [`run_in`] with a deadline: a command still running after [`HANG`] is killed and the test
/// fails (on the old code `cat` and `write --append` of a FIFO blocked forever).
fn run_deadline<S: AsRef<OsStr>>(tree: &Tree, args: &[S], stdin: &[u8]) -> Run {
    bin()
        .args(args)
        .root(tree.path())
        .stdin(stdin)
        .deadline(HANG)
        .run()
}

/// The refusal of a special file of `type_name` at `path` by the library operation `op`.
fn refused(tree: &Tree, op: &str, path: &str, type_name: &str) -> String {
    let cause = format!(
        "refusing {type_name}: FIFOs, sockets and device nodes are used only when allowed \
         (--special-files) (ENXIO)"
    );
    err_in(tree, op, path, &cause)
}

#[test]
fn cat_and_append_refuse_a_fifo_at_once() {
    let (tree, _) = fixture();
    mkfifo(&tree.join("data/fifo"));
    run_deadline(&tree, &["cat", "/data/fifo"], b"").failure(&refused(
        &tree,
        "open",
        "/data/fifo",
        "a FIFO",
    ));
    // Through a symlink too, and the other files are still written.
    tree.symlink("/data/fifo", "fifolink");
    let run = run_deadline(&tree, &["cat", "/fifolink", "/etc/hostname"], b"");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.text(), "box");
    assert_eq!(
        run.stderr,
        refused(&tree, "open", "/fifolink", "a FIFO") + "\n"
    );
    run_deadline(&tree, &["write", "--append", "/data/fifo"], b"x").failure(&refused(
        &tree,
        "create",
        "/data/fifo",
        "a FIFO",
    ));
    let run = run_deadline(&tree, &["cat", "--json", "/data/fifo"], b"");
    assert_eq!(error_of(&run.json()).0, "ENXIO");
}

#[test]
fn special_files_opt_in() {
    let (tree, _) = fixture();
    let fifo = tree.join("data/fifo");
    mkfifo(&fifo);
    // No writer: opens at once, end of file.
    let run = run_deadline(&tree, &["cat", "--special-files", "/data/fifo"], b"");
    assert_eq!(run.success().text(), "");
    // No reader: the kernel's ENXIO, at once.
    run_deadline(
        &tree,
        &["write", "--append", "--special-files", "/data/fifo"],
        b"x",
    )
    .failure(&err_in(
        &tree,
        "create",
        "/data/fifo",
        "No such device or address (ENXIO)",
    ));
    // With a reader, the bytes arrive.
    let mut peer = fs::File::from(
        rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )
        .unwrap(),
    );
    run_deadline(
        &tree,
        &["write", "--append", "--special-files", "/data/fifo"],
        b"piped",
    )
    .success();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut peer, &mut got).unwrap();
    assert_eq!(got, b"piped");
    // touch sets a FIFO's times only on request, and never opens it.
    run_deadline(&tree, &["touch", "/data/fifo"], b"").failure(&refused(
        &tree,
        "touch",
        "/data/fifo",
        "a FIFO",
    ));
    filetime_of_fifo(&fifo);
    run_deadline(&tree, &["touch", "--special-files", "/data/fifo"], b"").success();
    assert!(fs::symlink_metadata(&fifo).unwrap().mtime() > 1_000_000);
}

/// Sets a FIFO's mtime to 1,000,000 without opening it.
fn filetime_of_fifo(path: &Path) {
    let t = rustix::fs::Timespec {
        tv_sec: 1_000_000,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
}

/// Device nodes planted in the root are the host's devices: `c 1 9` gave the host's urandom
/// bytes, and `write --append` wrote to device nodes.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn device_nodes_are_refused_unless_asked_for() {
    procroot_testutil::require_privilege("CAP_MKNOD to make device nodes");
    let (tree, _) = fixture();
    for (name, minor) in [("urandom", 9), ("null", 3)] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tree.join(name),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, minor),
        )
        .unwrap();
        let path = format!("/{name}");
        let run = run_deadline(&tree, &["cat", &path], b"");
        assert!(run.stdout.is_empty(), "{name}: {run:?}");
        run.failure(&refused(&tree, "open", &path, "a character device"));
        run_deadline(&tree, &["write", "--append", &path], b"x").failure(&refused(
            &tree,
            "create",
            &path,
            "a character device",
        ));
        run_deadline(&tree, &["touch", &path], b"").failure(&refused(
            &tree,
            "touch",
            &path,
            "a character device",
        ));
    }
    // Asked for: read and written.
    run_deadline(&tree, &["cat", "--special-files", "/null"], b"").success();
    run_deadline(
        &tree,
        &["write", "--append", "--special-files", "/null"],
        b"gone",
    )
    .success();
    let md = fs::symlink_metadata(tree.join("null")).unwrap();
    assert!(md.file_type().is_char_device(), "still the device node");
}

/// `touch` of a missing name while an attacker keeps creating and removing a FIFO there. It
/// used to hang about once in 40 tries (a plain `open(O_CREAT)` met the FIFO). Now every run
/// ends at once: the file is created, or the FIFO is refused with its type named.
#[test]
fn touch_never_hangs_on_a_fifo_that_appears() {
    const ROUNDS: usize = 60;
    let (tree, _) = fixture();
    let name = tree.join("data/stamp");
    let (mut created, mut refused_fifo) = (0, 0);
    let attacker = || {
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            &name,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o666),
            0,
        )
        .is_ok();
        // Only a FIFO is removed: the file touch creates stays, and is removed below.
        if fs::symlink_metadata(&name).is_ok_and(|m| m.file_type().is_fifo()) {
            let _ = fs::remove_file(&name);
        }
        made
    };
    let ((), fifos) = with_racing_thread(attacker, || {
        for i in 0..ROUNDS {
            let run = run_deadline(&tree, &["touch", "/data/stamp"], b"");
            // A fast failure is fine when the name churns too fast to settle (EAGAIN); a
            // hang, or any other outcome, is not.
            let churned = err_in(
                &tree,
                "touch",
                "/data/stamp",
                "something kept appearing and disappearing at the name (EAGAIN)",
            ) + "\n";
            if run.code == 0 {
                created += 1;
            } else if run.stderr == refused(&tree, "touch", "/data/stamp", "a FIFO") + "\n" {
                refused_fifo += 1;
            } else {
                assert_eq!(run.stderr, churned, "round {i}: {run:?}");
            }
            if fs::symlink_metadata(&name).is_ok_and(|m| m.is_file()) {
                let _ = fs::remove_file(&name);
            }
        }
    });
    println!(
        "{ROUNDS} rounds: {created} created or touched, {refused_fifo} FIFOs refused, \
         {fifos} FIFOs made"
    );
    assert!(fifos > 0, "the attacker never made a FIFO");
}

// ---- cp ---------------------------------------------------------------------------------

#[test]
fn cp_in_and_out() {
    let (tree, outside) = fixture();
    let host = outside.path();
    fs::create_dir(host.join("site")).unwrap();
    fs::write(host.join("site/index.html"), b"<html>").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", host.join("site/abs")).unwrap();
    fs::set_permissions(
        host.join("site/index.html"),
        fs::Permissions::from_mode(0o604),
    )
    .unwrap();

    // Into an existing directory (through a symlink inside the root): under the source's name.
    let src = host.join("site");
    let run = in_tree(
        &tree,
        &[
            OsStr::new("cp"),
            OsStr::new("--json"),
            src.as_os_str(),
            OsStr::new(":/link"),
        ],
    );
    let mut want = serde_json::Map::new();
    want.insert("op".into(), "cp".into());
    want.insert("from".into(), src.to_str().unwrap().into());
    want.insert("to".into(), ":/link".into());
    assert_eq!(run.success().json(), Value::Object(want));
    assert_eq!(
        fs::read(tree.join("data/site/index.html")).unwrap(),
        b"<html>"
    );
    assert_eq!(
        fs::read_link(tree.join("data/site/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::metadata(tree.join("data/site/index.html"))
            .unwrap()
            .mode()
            & 0o7777,
        0o604
    );
    // Out, to a new name.
    let out = host.join("hosts.copy");
    in_tree(
        &tree,
        &[
            OsStr::new("cp"),
            OsStr::new(":/etc/hostname"),
            out.as_os_str(),
        ],
    )
    .success();
    assert_eq!(fs::read(&out).unwrap(), b"box");
    // Never overwrites.
    let run = in_tree(
        &tree,
        &[
            OsStr::new("cp"),
            OsStr::new(":/etc/hostname"),
            out.as_os_str(),
        ],
    );
    // The library names the side that failed: here the host's destination.
    run.failure(&format!(
        "procroot: copy out \"{}\": File exists (EEXIST)",
        out.display()
    ));
    let run = in_tree(
        &tree,
        &[OsStr::new("cp"), src.as_os_str(), OsStr::new(":/data")],
    );
    // The entry in the way, not the directory it is in.
    run.failure(&err_in(
        &tree,
        "copy in",
        "/data/site",
        "File exists (EEXIST)",
    ));
    in_tree(&tree, &["cp", ":/nope", "/tmp/x"]).failure(&err_in(
        &tree,
        "copy out",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
}

#[test]
fn cp_refuses_special_files_unless_asked() {
    let (tree, outside) = fixture();
    rustix::fs::mknodat(
        procroot_testutil::open_dir(tree.join("data")),
        "fifo",
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let out = outside.path().join("out");
    // Refused, without blocking on the FIFO, and nothing is left on the host.
    let run = in_tree(
        &tree,
        &[OsStr::new("cp"), OsStr::new(":/data"), out.as_os_str()],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("data/fifo")
            && run.stderr.contains("refusing a FIFO")
            && run.stderr.contains("(ENXIO)"),
        "{run:?}"
    );
    assert!(!out.exists());
    in_tree(
        &tree,
        &[
            OsStr::new("cp"),
            OsStr::new("--special-files"),
            OsStr::new(":/data"),
            out.as_os_str(),
        ],
    )
    .success();
    let md = fs::symlink_metadata(out.join("fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&md.file_type()));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cp_reports_exdev_for_a_mount_point_destination_with_no_xdev() {
    procroot_testutil::require_privilege("mounting a tmpfs in a private mount namespace");
    procroot_testutil::in_private_mount_ns(|| {
        let (tree, outside) = fixture();
        fs::create_dir(tree.join("mnt")).unwrap();
        procroot_testutil::mount_raw(Some("tmpfs"), tree.join("mnt"), Some("tmpfs"), 0, None)
            .expect("mount tmpfs");
        let src = outside.path().join("f");
        fs::write(&src, b"x").unwrap();
        let run = in_tree(
            &tree,
            &[
                OsStr::new("cp"),
                OsStr::new("--no-xdev"),
                src.as_os_str(),
                OsStr::new(":/mnt/"),
            ],
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("(EXDEV)"), "{run:?}");
    });
}

#[test]
fn cp_needs_exactly_one_operand_in_the_root() {
    let (tree, _) = fixture();
    in_tree(&tree, &["cp", "a", "b"]).usage_error("neither SRC nor DST");
    in_tree(&tree, &["cp", ":/a", ":/b"]).usage_error("both SRC and DST");
    // A usage error found after parsing is clap's message and exit 2, never a JSON object
    // (the command returns it to main, which prints it).
    in_tree(&tree, &["cp", "--json", ":/a", ":/b"]).usage_error("both SRC and DST");
    in_tree(&tree, &["mknod", "--json", "/x", "p", "1", "3"]).usage_error("FIFO");
    in_tree(&tree, &["cp", ":/a"]).usage_error("DST");
}

#[test]
fn cp_out_never_follows_symlinks_to_the_host() {
    let (tree, outside) = fixture();
    // A symlink inside the root that names a host file by absolute path.
    tree.symlink("/etc/passwd", "data/pw");
    let out = outside.path().join("pw");
    in_tree(
        &tree,
        &[OsStr::new("cp"), OsStr::new(":/data/pw"), out.as_os_str()],
    )
    .success();
    assert_eq!(fs::read_link(&out).unwrap(), Path::new("/etc/passwd"));
    // Copying out through `up` (which climbs above the root) reads the root's own /data.
    tree.write("data/inner", b"in-root");
    let out = outside.path().join("inner");
    in_tree(
        &tree,
        &[OsStr::new("cp"), OsStr::new(":/up/inner"), out.as_os_str()],
    )
    .success();
    assert_eq!(fs::read(&out).unwrap(), b"in-root");
}

// ---- shared options ---------------------------------------------------------------------

#[test]
fn every_new_subcommand_has_help_and_json() {
    for sub in [
        "mkdir", "rm", "mv", "ln", "mknod", "chmod", "chown", "touch", "write", "cp",
    ] {
        let run = bin().args([sub, "--help"]).run();
        let help = run.success().text();
        for needle in ["--json", "--root", "--pid", "--backend", "Exit status"] {
            assert!(help.contains(needle), "{sub} --help lacks {needle}");
        }
    }
}

#[test]
fn backends_and_policies_apply() {
    let (tree, _) = fixture();
    for backend in ["kernel", "emulated"] {
        let dir = format!("/link/{backend}");
        in_tree(&tree, &["mkdir", "--backend", backend, &dir]).success();
        assert!(tree.join("data").join(backend).is_dir());
    }
    // Beneath: an absolute symlink is an escape.
    in_tree(&tree, &["mkdir", "--policy", "beneath", "link/x"]).failure(&err_in(
        &tree,
        "mkdir",
        "link/x",
        "Invalid cross-device link (EXDEV)",
    ));
    in_tree(&tree, &["touch", "--policy", "in-root-strict", "/up/x"]).failure(&err_in(
        &tree,
        "touch",
        "/up/x",
        "Invalid cross-device link (EXDEV)",
    ));
}

#[test]
fn non_utf8_names_get_base64_twins() {
    use std::os::unix::ffi::OsStrExt;
    let (tree, _) = fixture();
    let name = OsStr::from_bytes(b"/caf\xe9");
    let run = in_tree(&tree, &[OsStr::new("mkdir"), OsStr::new("--json"), name]);
    assert_eq!(
        run.success().json(),
        json!({"op": "mkdir", "path": "/caf\u{fffd}", "path_base64": "L2NhZuk="})
    );
    assert!(tree.join(OsStr::from_bytes(b"caf\xe9")).is_dir());
    let run = in_tree(&tree, &[OsStr::new("mkdir"), name]);
    run.failure(&err_in(&tree, "mkdir", "/caf\\xe9", "File exists (EEXIST)"));
}

#[test]
fn pid_targets_that_process_root() {
    // Our own root is the host's `/`: paths are the host's.
    let host = tempfile::tempdir().unwrap();
    let dir = host.path().join("made");
    bin()
        .args(["mkdir", "--json", "--pid"])
        .arg(std::process::id().to_string())
        .arg(&dir)
        .run()
        .success();
    assert!(dir.is_dir());
}

/// `u::rw-,u:65534:---,g::r--,m::r--,o::r--` (`system.posix_acl_access`, version 2).
fn acl_refusing_nobody() -> Vec<u8> {
    let mut value = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX),
        (0x02, 0, 65534),
        (0x04, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ] {
        value.extend(tag.to_le_bytes());
        value.extend(perm.to_le_bytes());
        value.extend(id.to_le_bytes());
    }
    value
}

fn has_xattr(path: &Path, name: &str) -> bool {
    rustix::fs::lgetxattr(path, name, &mut [0u8; 256][..]).is_ok()
}

/// Issue 20 item 3: `cp` copies xattrs and ACLs (`--xattrs all`, the default), none with
/// `--xattrs none`; one it cannot set (a seccomp filter fails every `fsetxattr` with EPERM) is
/// a warning on stderr and in `--json`'s "warnings", a lost ACL narrows the mode, and
/// `--xattrs strict` fails the copy and leaves nothing.
#[test]
fn cp_copies_xattrs_warns_per_entry_and_strict_fails() {
    let tree = Tree::new("file etc/app.conf secret=1\n");
    let conf = tree.join("etc/app.conf");
    let flags = rustix::fs::XattrFlags::empty();
    rustix::fs::setxattr(
        &conf,
        "system.posix_acl_access",
        &acl_refusing_nobody(),
        flags,
    )
    .unwrap();
    rustix::fs::setxattr(&conf, "user.origin", b"x", flags).unwrap();
    let host = tempfile::tempdir().unwrap();
    let to = |name: &str| host.path().join(name).to_str().unwrap().to_string();
    in_tree(&tree, &["cp", ":/etc/app.conf", &to("all")]).success();
    assert!(has_xattr(&host.path().join("all"), "user.origin"));
    assert!(has_xattr(
        &host.path().join("all"),
        "system.posix_acl_access"
    ));
    in_tree(
        &tree,
        &["cp", "--xattrs", "none", ":/etc/app.conf", &to("none")],
    )
    .success();
    assert!(!has_xattr(&host.path().join("none"), "user.origin"));
    assert!(!has_xattr(
        &host.path().join("none"),
        "system.posix_acl_access"
    ));
    let (root, out) = (tree.path().to_path_buf(), host.path().to_path_buf());
    procroot_testutil::in_child(move || {
        procroot_testutil::deny_syscalls(&[libc::SYS_fsetxattr], libc::EPERM);
        let dst = out.join("warned");
        let run = bin()
            .args(["cp", "--json", ":/etc/app.conf", dst.to_str().unwrap()])
            .root(&root)
            .run();
        // Exit 0, with warnings (so not `success()`, which wants a silent stderr).
        assert_eq!(run.code, 0, "{}", run.stderr);
        let stderr: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(
            stderr,
            [
                "procroot: warning: cp: \"app.conf\": extended attribute \
                 \"system.posix_acl_access\": not copied; mode narrowed to 0640: Operation not \
                 permitted (EPERM)",
                "procroot: warning: cp: \"app.conf\": extended attribute \"user.origin\": not \
                 copied: Operation not permitted (EPERM)",
            ],
            "{}",
            run.stderr
        );
        let warnings = run.json()["warnings"].as_array().unwrap().clone();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(warnings[1]["errno"], "EPERM");
        assert_eq!(warnings[1]["what"], "extended attribute \"user.origin\"");
        assert_eq!(warnings[1]["outcome"], "not copied");
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o777, 0o640);
        let strict = out.join("strict");
        let run = bin()
            .args([
                "cp",
                "--xattrs",
                "strict",
                ":/etc/app.conf",
                strict.to_str().unwrap(),
            ])
            .root(&root)
            .run();
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains("could not be copied"), "{}", run.stderr);
        assert_eq!(names(&out), ["all", "none", "warned"]);
    });
}

/// Errno parity with libpathrs (issue 21 section 7) through the binary: a trailing slash on a
/// new non-directory (`touch`, `write --append`, `ln`, `ln -s`, `mknod`) and `ln` operands
/// that name no entry are `EINVAL`, nothing made; `rm` of `PATH/` is `ENOTDIR` whatever is
/// there, nothing removed; `rm -r FILE/` removes the file.
#[test]
fn libpathrs_errnos() {
    let tree = Tree::new(
        "
        dir a
        file b/c/file F
        ",
    );
    let refused = |args: &[&str], errno: &str| {
        let run = in_tree(&tree, args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(
            run.stderr.trim_end().ends_with(&format!("({errno})")),
            "{args:?}: {}",
            run.stderr
        );
    };
    for new in ["foobar/", "foobar///"] {
        refused(&["touch", new], "EINVAL");
        refused(&["ln", "b/c/file", new], "EINVAL");
        refused(&["ln", "-s", "/x", new], "EINVAL");
        refused(&["mknod", new, "p"], "EINVAL");
        let run = run_in(&tree, &["write", "--append", new], b"x");
        assert_eq!(run.code, 1, "write --append {new}: {run:?}");
        assert!(
            run.stderr.trim_end().ends_with("(EINVAL)"),
            "{}",
            run.stderr
        );
    }
    assert!(!tree.join("foobar").exists());
    for existing in [
        "foobar/",
        "foobar/.",
        "foobar/..",
        "/",
        "//",
        ".",
        "./",
        "..",
        "../",
    ] {
        refused(&["ln", existing, "new"], "EINVAL");
    }
    assert!(!tree.join("new").exists());
    for path in ["abc/", "a/", "a///", "b/c/file/"] {
        refused(&["rm", path], "ENOTDIR");
    }
    assert!(tree.join("a").is_dir() && tree.join("b/c/file").is_file());
    in_tree(&tree, &["rm", "-r", "-q", "b/c/file/"]).success();
    assert!(!tree.join("b/c/file").exists() && tree.join("b/c").is_dir());
}

/// `cp` is confined with the library's copy rules on the host operand as written: a source or
/// destination directory with a trailing slash (`src/`, `out/`) gets its rule and copies, as it
/// does without the sandbox.
#[test]
fn cp_operands_with_a_trailing_slash_copy_under_the_sandbox() {
    let tree = Tree::new("dir etc");
    let host = Tree::new("file src/a A\ndir out");
    let src = format!("{}/", host.join("src").display());
    in_tree(&tree, &["cp", src.as_str(), ":/copied"]).success();
    assert_eq!(fs::read(tree.join("copied/a")).unwrap(), b"A");
    let out = format!("{}/", host.join("out").display());
    in_tree(&tree, &["cp", ":/copied", out.as_str()]).success();
    assert_eq!(fs::read(host.join("out/copied/a")).unwrap(), b"A");
}
