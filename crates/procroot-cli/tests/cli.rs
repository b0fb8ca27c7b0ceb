//! The `procroot` command's contract, tested on the built binary: exit codes, exact text
//! output, JSON shapes, error messages, and every option.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use procroot_testutil::cli::without_syscalls;
use procroot_testutil::{Cli, Run, Tree};
use serde_json::{json, Value};

/// A run of the binary, to be given arguments.
fn bin() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Runs `procroot` with `args`.
fn procroot<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    bin().args(args).run()
}

/// Runs `procroot <args> --root <tree>`.
fn in_tree<S: AsRef<OsStr>>(tree: &Tree, args: &[S]) -> Run {
    bin().args(args).root(tree.path()).run()
}

/// The message of a library error about `path` inside `tree`, as the CLI prints it: the
/// library error's `Display` after `procroot: `.
fn err_in(tree: &Tree, op: &str, path: &str, cause: &str) -> String {
    format!(
        "procroot: {op} \"{path}\" in {}: {cause}",
        tree.path().display()
    )
}

/// The tree most tests use. `var/run` is an absolute symlink, `up` climbs above the root.
fn fixture() -> Tree {
    Tree::new(
        "
        file etc/passwd root:x:0:0:root:/root:/bin/sh
        file etc/hostname box
        dir run/app
        file run/app/data hello
        symlink var/run /run
        symlink abs-etc /etc
        symlink rel-passwd etc/passwd
        symlink up ../../../../etc
        symlink loop-a loop-b
        symlink loop-b loop-a
        symlink dangling /does/not/exist
        dir empty
        ",
    )
}

/// Standard base64 decoding, to check `*_base64` fields independently of the binary's encoder.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(text.len() % 4, 0, "unpadded base64 {text:?}");
    let mut out = Vec::new();
    for quad in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in quad {
            n <<= 6;
            if c == b'=' {
                pad += 1;
            } else {
                assert_eq!(pad, 0, "data after padding in {text:?}");
                n |= ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
            }
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    out
}

/// The errno name, code and message of an `{"error": ...}` object, checking its shape.
fn error_json(value: &Value) -> (&str, i64, &str) {
    let obj = value.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "only an error field: {value}");
    let error = value["error"].as_object().expect("error is an object");
    // Every field from the library error's accessors; `path` and `root` get a `_base64` twin
    // when they are not UTF-8.
    let fields: Vec<&str> = (error.keys().map(String::as_str))
        .filter(|k| !k.ends_with("_base64"))
        .collect();
    assert_eq!(
        fields,
        [
            "errno",
            "code",
            "message",
            "kind",
            "operation",
            "syscall",
            "path",
            "root"
        ],
        "{value}"
    );
    (
        error["errno"].as_str().expect("errno is a string"),
        error["code"].as_i64().expect("code is a number"),
        error["message"].as_str().expect("message is a string"),
    )
}

// ---- resolve: text output ---------------------------------------------------------------

#[test]
fn resolve_prints_the_path_inside_the_root() {
    let tree = fixture();
    let cases = [
        ("/etc/passwd", "/etc/passwd\n"),
        ("etc/passwd", "/etc/passwd\n"),
        ("/etc", "/etc\n"),
        ("/etc/", "/etc\n"),
        ("/", "/\n"),
        (".", "/\n"),
        ("/etc/..", "/\n"),
        ("/../../etc/passwd", "/etc/passwd\n"),
        // Absolute symlinks restart at the root, relative ones are followed.
        ("/var/run/app/data", "/run/app/data\n"),
        ("/var/run", "/run\n"),
        ("/abs-etc/hostname", "/etc/hostname\n"),
        ("/rel-passwd", "/etc/passwd\n"),
        // `..` above the root stays at the root (in-root, the default policy).
        ("/up/passwd", "/etc/passwd\n"),
    ];
    for (path, want) in cases {
        let run = in_tree(&tree, &["resolve", path]);
        run.success();
        assert_eq!(run.text(), want, "resolve {path}");
    }
}

#[test]
fn resolve_nofollow_keeps_a_trailing_symlink() {
    let tree = fixture();
    let run = in_tree(&tree, &["resolve", "--nofollow", "/var/run"]);
    assert_eq!(run.success().text(), "/var/run\n");
    // Only the last component is not followed.
    let run = in_tree(&tree, &["resolve", "--nofollow", "/var/run/app"]);
    assert_eq!(run.success().text(), "/run/app\n");
    // A dangling symlink can be named, but not followed.
    let run = in_tree(&tree, &["resolve", "--nofollow", "/dangling"]);
    assert_eq!(run.success().text(), "/dangling\n");
    in_tree(&tree, &["resolve", "/dangling"]).failure(&err_in(
        &tree,
        "resolve",
        "/dangling",
        "No such file or directory (ENOENT)",
    ));
}

#[test]
fn resolve_except_last_needs_only_the_parent() {
    let tree = fixture();
    let cases = [
        ("/var/run/missing", "/run/missing\n"),
        ("/var/run/app", "/run/app\n"),
        // The last component is not followed.
        ("/var/run", "/var/run\n"),
        ("/abs-etc/passwd", "/etc/passwd\n"),
        ("/dangling", "/dangling\n"),
        ("/missing", "/missing\n"),
        ("/", "/\n"),
        ("/var/run/app/..", "/run\n"),
    ];
    for (path, want) in cases {
        let run = in_tree(&tree, &["resolve", "--except-last", path]);
        run.success();
        assert_eq!(run.text(), want, "resolve --except-last {path}");
    }
    // The parent must exist.
    in_tree(&tree, &["resolve", "--except-last", "/nope/missing"]).failure(&err_in(
        &tree,
        "resolve",
        "/nope/missing",
        "No such file or directory (ENOENT)",
    ));
}

/// procfsroot's EvalExceptLast leaves only a last name with nothing after it unresolved: a
/// trailing slash makes the name a directory to resolve (issue 21, item 4).
#[test]
fn resolve_except_last_trailing_slash_resolves_the_name() {
    let tree = fixture();
    in_tree(&tree, &["resolve", "--except-last", "/etc/passwd/"]).failure(&err_in(
        &tree,
        "resolve",
        "/etc/passwd/",
        "Not a directory (ENOTDIR)",
    ));
    in_tree(&tree, &["resolve", "--except-last", "/etc/missing/"]).failure(&err_in(
        &tree,
        "resolve",
        "/etc/missing/",
        "No such file or directory (ENOENT)",
    ));
    // A symlink to a directory, with a slash: followed, as procfsroot follows it.
    let run = in_tree(&tree, &["resolve", "--except-last", "/var/run/"]);
    assert_eq!(run.success().text(), "/run\n");
}

// ---- resolve: JSON ----------------------------------------------------------------------

#[test]
fn resolve_json_shape() {
    let tree = fixture();
    let value = in_tree(&tree, &["resolve", "--json", "/var/run/app/data"])
        .success()
        .json();
    let obj = value.as_object().expect("an object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["path", "type", "backend"],
        "{value}"
    );
    assert_eq!(value["path"], "/run/app/data");
    assert_eq!(value["type"], "file");
    let backend = value["backend"].as_str().expect("backend is a string");
    assert!(["kernel", "emulated"].contains(&backend), "{value}");

    let types = [
        (vec!["/"], "dir"),
        (vec!["/etc"], "dir"),
        (vec!["/rel-passwd"], "file"),
        (vec!["--nofollow", "/rel-passwd"], "symlink"),
    ];
    for (args, want) in types {
        let mut all = vec!["resolve", "--json"];
        all.extend(&args);
        let value = in_tree(&tree, &all).success().json();
        assert_eq!(value["type"], want, "{args:?}: {value}");
    }
}

#[test]
fn resolve_json_except_last_type_is_null_when_missing() {
    let tree = fixture();
    let value = in_tree(
        &tree,
        &["resolve", "--except-last", "--json", "/var/run/missing"],
    )
    .success()
    .json();
    assert_eq!(value["path"], "/run/missing");
    assert_eq!(value["type"], Value::Null);
    assert!(value["backend"].is_string());

    let value = in_tree(&tree, &["resolve", "--except-last", "--json", "/var/run"])
        .success()
        .json();
    assert_eq!(value["path"], "/var/run");
    assert_eq!(value["type"], "symlink");

    let value = in_tree(
        &tree,
        &["resolve", "--except-last", "--json", "/etc/passwd"],
    )
    .success()
    .json();
    assert_eq!(value["type"], "file");

    let value = in_tree(
        &tree,
        &["resolve", "--except-last", "--json", "/run/app/.."],
    )
    .success()
    .json();
    assert_eq!(
        (&value["path"], &value["type"]),
        (&json!("/run"), &json!("dir"))
    );
}

#[test]
fn resolve_json_error_shape() {
    let tree = fixture();
    let run = in_tree(&tree, &["resolve", "--json", "/nope"]);
    run.failure(&err_in(
        &tree,
        "resolve",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    let value = run.json();
    assert_eq!(error_json(&value), ("ENOENT", 2, run.message()));
}

// ---- errors and exit codes --------------------------------------------------------------

#[test]
fn operation_errors_exit_1_with_the_documented_message() {
    let tree = fixture();
    let run = in_tree(&tree, &["resolve", "/nope"]);
    run.failure(&err_in(
        &tree,
        "resolve",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    assert!(run.stdout.is_empty());
    in_tree(&tree, &["resolve", "/etc/passwd/x"]).failure(&err_in(
        &tree,
        "resolve",
        "/etc/passwd/x",
        "Not a directory (ENOTDIR)",
    ));
    in_tree(&tree, &["resolve", "/loop-a"]).failure(&err_in(
        &tree,
        "resolve",
        "/loop-a",
        "Too many levels of symbolic links (ELOOP)",
    ));
}

/// An empty PATH operand is a path that does not exist, as coreutils (`cat ''`, `stat ''`,
/// `realpath ''`) says: ENOENT with exit 1, not a usage error. Every PATH operand of every
/// subcommand; the other operands are still handled.
#[test]
fn an_empty_path_operand_is_enoent() {
    let tree = fixture();
    let enoent = |cmd: &str| format!("procroot: {cmd} \"\": No such file or directory (ENOENT)");
    for args in [
        &["resolve", ""][..],
        &["cat", ""],
        &["ls", ""],
        &["stat", ""],
        &["readlink", ""],
        &["mkdir", ""],
        &["mkdir", "-p", ""],
        &["rm", ""],
        &["rm", "-r", ""],
        &["touch", ""],
        &["write", ""],
        &["write", "--append", ""],
        &["mv", "", "/x"],
        &["mv", "/etc/passwd", ""],
        &["ln", "-s", "", "/x"],
        &["ln", "/etc/passwd", ""],
        &["mknod", "", "p"],
        &["chmod", "644", ""],
        &["chown", "1", ""],
        &["cp", "", ":/x"],
        &["cp", "/etc/hosts", ":"],
    ] {
        in_tree(&tree, args).failure(&enoent(args[0]));
    }
    let run = in_tree(&tree, &["stat", "--json", ""]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        error_json(&serde_json::from_slice(&run.stdout).unwrap()).0,
        "ENOENT"
    );
    // The other operands are still done.
    let run = in_tree(&tree, &["cat", "", "/etc/passwd", ""]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("{}\n{}\n", enoent("cat"), enoent("cat"))
    );
    assert!(!run.stdout.is_empty());
    in_tree(&tree, &["mkdir", "", "/made"]).failure(&enoent("mkdir"));
    assert!(tree.join("made").is_dir());
    // rm -f: a missing PATH is not an error, an empty one neither (`rm -f ''`).
    in_tree(&tree, &["rm", "-f", ""]).success();
}

#[test]
fn usage_errors_exit_2() {
    let tree = fixture();
    let root = tree.path().to_str().unwrap();
    procroot(["resolve"]).usage_error("");
    procroot(["resolve", "--bogus", "/"]).usage_error("");
    procroot(["frobnicate"]).usage_error("");
    procroot(Vec::<&str>::new()).usage_error("");
    procroot(["resolve", "--root", root, "--pid", "1", "/"]).usage_error("");
    procroot(["resolve", "--nofollow", "--except-last", "/"]).usage_error("");
    procroot(["resolve", "--policy", "bogus", "/"]).usage_error("");
    procroot(["resolve", "--backend", "bogus", "/"]).usage_error("");
    procroot(["resolve", "--pid", "notanumber", "/"]).usage_error("");
    procroot(["cat"]).usage_error("");
    procroot(["cat", "--except-last", "/etc/passwd"]).usage_error("");
    procroot(["stat"]).usage_error("");
    procroot(["readlink"]).usage_error("");
    // --json does not change how usage errors are reported.
    procroot(["resolve", "--json"]).usage_error("");
}

#[test]
fn help_exits_0_and_documents_the_contract() {
    let run = procroot(["--help"]);
    run.success();
    // The conventions in full are under `procroot --help` only (docs_cli.rs checks that each
    // subcommand's help points there instead of repeating them).
    for needle in ["Exit status", "_base64", "safety_violation"] {
        assert!(run.text().contains(needle), "--help lacks {needle:?}");
    }
    for sub in ["resolve", "cat", "ls", "stat", "readlink"] {
        assert!(run.text().contains(sub), "{sub} missing from --help");
        let run = procroot([sub, "--help"]);
        run.success();
        let help = run.text();
        for needle in [
            "--root",
            "--pid",
            "--policy",
            "in-root-strict",
            "--nofollow",
            "--no-symlinks",
            "--no-xdev",
            "--backend",
            "--json",
            "Exit status",
            "see procroot --help",
        ] {
            assert!(
                help.contains(needle),
                "{sub} --help lacks {needle:?}:\n{help}"
            );
        }
    }
    let help = procroot(["resolve", "--help"]);
    assert!(help.text().contains("--except-last"));
    assert!(help.text().contains("null"));
    procroot(["--version"]).success();
}

#[test]
fn root_errors_name_the_root() {
    let tree = fixture();
    let missing = tree.join("no-such-root");
    let run = procroot([
        OsStr::new("resolve"),
        OsStr::new("--json"),
        OsStr::new("--root"),
        missing.as_os_str(),
        OsStr::new("/"),
    ]);
    // The message names the syscall that failed.
    let message = format!(
        "open root \"{}\": open(2): No such file or directory (ENOENT)",
        missing.display()
    );
    run.failure(&format!("procroot: {message}"));
    assert_eq!(error_json(&run.json()), ("ENOENT", 2, message.as_str()));

    procroot(["resolve", "--pid", "0", "/"])
        .failure("procroot: open root \"/proc/0/root\": 0 is not a valid process id (EINVAL)");
    let pid = i32::MAX.to_string();
    procroot(["resolve", "--pid", &pid, "/"]).failure(&format!(
        "procroot: open root \"/proc/{pid}/root\": No such process (ESRCH)"
    ));
}

#[test]
fn pid_resolves_in_that_process_root() {
    let tree = fixture();
    // Our own root is `/`, so the tree is reachable through it.
    let me = std::process::id().to_string();
    let data = tree.join("run/app/data");
    let run = procroot([
        OsStr::new("cat"),
        OsStr::new("--pid"),
        OsStr::new(&me),
        data.as_os_str(),
    ]);
    assert_eq!(run.success().stdout, b"hello");
    let run = procroot(["resolve", "--pid", &me, "/"]);
    assert_eq!(run.success().text(), "/\n");
}

// ---- policies and flags -----------------------------------------------------------------

#[test]
fn in_root_strict_refuses_dotdot_above_the_root() {
    let tree = fixture();
    for path in ["/../etc/passwd", "/up/passwd", "/etc/../.."] {
        let run = in_tree(
            &tree,
            &["resolve", "--policy", "in-root-strict", "--json", path],
        );
        let message = err_in(&tree, "resolve", path, "Invalid cross-device link (EXDEV)");
        run.failure(&message);
        let value = run.json();
        let (errno, code, json_message) = error_json(&value);
        assert_eq!((errno, code), ("EXDEV", 18), "{path}");
        assert_eq!(Some(json_message), message.strip_prefix("procroot: "));
        let error = &value["error"];
        assert_eq!(error["kind"], "safety_violation", "{value}");
        assert_eq!(error["operation"], "resolve", "{value}");
        assert_eq!(error["path"], path, "{value}");
        assert_eq!(error["root"], tree.path().to_str().unwrap(), "{value}");
    }
    // Absolute symlinks still restart at the root, and `..` inside the root is fine.
    for (path, want) in [
        ("/var/run/app/data", "/run/app/data\n"),
        ("/etc/../etc/passwd", "/etc/passwd\n"),
    ] {
        let run = in_tree(&tree, &["resolve", "--policy", "in-root-strict", path]);
        assert_eq!(run.success().text(), want);
    }
}

#[test]
fn beneath_refuses_every_escape() {
    let tree = fixture();
    for path in ["/etc/passwd", "var/run/app", "abs-etc", "up", "../etc"] {
        let run = in_tree(&tree, &["resolve", "--policy", "beneath", "--json", path]);
        run.failure(&err_in(
            &tree,
            "resolve",
            path,
            "Invalid cross-device link (EXDEV)",
        ));
        assert_eq!(error_json(&run.json()).0, "EXDEV");
    }
    let run = in_tree(&tree, &["resolve", "--policy", "beneath", "rel-passwd"]);
    assert_eq!(run.success().text(), "/etc/passwd\n");
}

#[test]
fn no_symlinks_refuses_symlinks_with_eloop() {
    let tree = fixture();
    let run = in_tree(
        &tree,
        &["resolve", "--no-symlinks", "--json", "/var/run/app"],
    );
    run.failure(&err_in(
        &tree,
        "resolve",
        "/var/run/app",
        "Too many levels of symbolic links (ELOOP)",
    ));
    assert_eq!(error_json(&run.json()).0, "ELOOP");
    let run = in_tree(&tree, &["resolve", "--no-symlinks", "/etc/passwd"]);
    assert_eq!(run.success().text(), "/etc/passwd\n");
    // A trailing symlink that is not followed is still allowed.
    let run = in_tree(
        &tree,
        &["resolve", "--no-symlinks", "--nofollow", "/var/run"],
    );
    assert_eq!(run.success().text(), "/var/run\n");
}

#[test]
fn no_xdev_refuses_mount_crossings() {
    // /proc is always a separate mount from /.
    let run = procroot([
        "resolve",
        "--root",
        "/",
        "--no-xdev",
        "--json",
        "/proc/version",
    ]);
    run.failure("procroot: resolve \"/proc/version\" in /: Invalid cross-device link (EXDEV)");
    assert_eq!(error_json(&run.json()).0, "EXDEV");
    let run = procroot(["resolve", "--root", "/proc", "--no-xdev", "/version"]);
    assert_eq!(run.success().text(), "/version\n");
}

#[test]
fn backends_give_identical_output() {
    let tree = fixture();
    let commands: &[&[&str]] = &[
        &["resolve", "/var/run/app/data"],
        &["resolve", "/up/passwd"],
        &["resolve", "--nofollow", "/var/run"],
        &["resolve", "--except-last", "/var/run/missing"],
        &["resolve", "/nope"],
        &["resolve", "/loop-a"],
        &["resolve", "--no-symlinks", "/var/run/app"],
        &["resolve", "--policy", "in-root-strict", "/up/passwd"],
        &["resolve", "--policy", "in-root-strict", "/var/run/app"],
        &["resolve", "--policy", "beneath", "/abs-etc"],
        &["resolve", "--policy", "beneath", "rel-passwd"],
        &["cat", "/var/run/app/data", "/rel-passwd"],
        &["cat", "--nofollow", "/rel-passwd"],
        &["ls", "-l", "/"],
        &["ls", "--json", "/var/run"],
        &["stat", "/abs-etc"],
        &["stat", "--json", "--nofollow", "/abs-etc"],
        &["readlink", "--json", "/var/run"],
        &["readlink", "/etc"],
    ];
    for args in commands {
        let run = |backend: &str| {
            let mut all = args.to_vec();
            all.extend(["--backend", backend]);
            in_tree(&tree, &all)
        };
        let (kernel, emulated) = (run("kernel"), run("emulated"));
        assert_eq!(kernel.code, emulated.code, "{args:?}");
        assert_eq!(kernel.stdout, emulated.stdout, "{args:?}");
        // The message names the syscall that failed, which is each backend's own (openat2,
        // or the walker's openat); the rest is identical.
        assert_eq!(
            without_syscalls(&kernel.stderr),
            without_syscalls(&emulated.stderr),
            "{args:?}"
        );
    }
    // In JSON, only the backend differs.
    for backend in ["kernel", "emulated"] {
        let value = in_tree(
            &tree,
            &[
                "resolve",
                "--json",
                "--backend",
                backend,
                "/var/run/app/data",
            ],
        )
        .success()
        .json();
        assert_eq!(
            value,
            json!({"path": "/run/app/data", "type": "file", "backend": backend})
        );
    }
}

// ---- non-UTF-8 names --------------------------------------------------------------------

#[test]
fn non_utf8_names_round_trip_through_base64() {
    let tree = fixture();
    let name = OsStr::from_bytes(b"caf\xe9\n");
    tree.write(std::path::Path::new("dir").join(name), b"bytes");
    std::os::unix::fs::symlink(
        OsStr::from_bytes(b"/dir/caf\xe9\n"),
        tree.join("link-to-latin1"),
    )
    .unwrap();
    let path = OsString::from_vec(b"/dir/caf\xe9\n".to_vec());

    // Text output carries the exact bytes.
    let run = in_tree(&tree, &[OsStr::new("resolve"), &path]);
    assert_eq!(run.success().stdout, b"/dir/caf\xe9\n\n");
    let run = in_tree(&tree, &["readlink", "/link-to-latin1"]);
    assert_eq!(run.success().stdout, b"/dir/caf\xe9\n\n");

    // resolve --json: lossy `path` plus exact `path_base64`.
    let value = in_tree(&tree, &["resolve", "--json", "/link-to-latin1"])
        .success()
        .json();
    assert_eq!(value["path"], "/dir/caf\u{fffd}\n");
    assert_eq!(
        base64_decode(value["path_base64"].as_str().unwrap()),
        b"/dir/caf\xe9\n"
    );
    assert_eq!(value["type"], "file");

    // ls --json: `name_base64` only on the entry that needs it.
    let value = in_tree(&tree, &["ls", "--json", "/dir"]).success().json();
    let entry = &value["entries"][0];
    assert_eq!(entry["name"], "caf\u{fffd}\n");
    assert_eq!(
        base64_decode(entry["name_base64"].as_str().unwrap()),
        b"caf\xe9\n"
    );
    let value = in_tree(&tree, &["ls", "--json", "/etc"]).success().json();
    assert!(value["entries"][0].get("name_base64").is_none(), "{value}");
    assert!(value.get("path_base64").is_none(), "{value}");

    // readlink --json: `target_base64`; stat --json: `path_base64`.
    let value = in_tree(&tree, &["readlink", "--json", "/link-to-latin1"])
        .success()
        .json();
    assert_eq!(value["path"], "/link-to-latin1");
    assert_eq!(
        base64_decode(value["target_base64"].as_str().unwrap()),
        b"/dir/caf\xe9\n"
    );
    let value = in_tree(&tree, &[OsStr::new("stat"), OsStr::new("--json"), &path])
        .success()
        .json();
    assert_eq!(
        base64_decode(value["path_base64"].as_str().unwrap()),
        b"/dir/caf\xe9\n"
    );

    // Errors escape the name instead of printing raw bytes and newlines.
    let missing = OsString::from_vec(b"/caf\xe9\nx".to_vec());
    let run = in_tree(
        &tree,
        &[OsStr::new("resolve"), OsStr::new("--json"), &missing],
    );
    run.failure(&err_in(
        &tree,
        "resolve",
        "/caf\\xe9\\u{a}x",
        "No such file or directory (ENOENT)",
    ));
    let value = run.json();
    assert_eq!(error_json(&value).2, run.message());
    // The JSON error's path is the exact bytes.
    assert_eq!(value["error"]["path"], "/caf\u{fffd}\nx");
    assert_eq!(
        base64_decode(value["error"]["path_base64"].as_str().unwrap()),
        b"/caf\xe9\nx"
    );
}

// ---- cat ----------------------------------------------------------------------------------

#[test]
fn cat_copies_bytes_exactly() {
    let tree = fixture();
    // Every byte value, and enough of them to take many reads.
    let blob: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    tree.write("run/blob", &blob);
    let run = in_tree(&tree, &["cat", "/var/run/blob"]);
    assert!(run.success().stdout == blob, "binary content differs");

    // Several files are concatenated in order; --json leaves content untouched.
    let run = in_tree(&tree, &["cat", "--json", "/etc/hostname", "/run/app/data"]);
    assert_eq!(run.success().stdout, b"boxhello");
}

#[test]
fn cat_goes_on_after_a_failure_and_exits_1() {
    let tree = fixture();
    let run = in_tree(&tree, &["cat", "/etc/hostname", "/nope", "/run/app/data"]);
    run.failure(&err_in(
        &tree,
        "open",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    assert_eq!(run.stdout, b"boxhello");

    // With --json the error is a JSON line on stdout, between the contents.
    let run = in_tree(
        &tree,
        &["cat", "--json", "/etc/hostname", "/etc", "/run/app/data"],
    );
    run.failure(&err_in(&tree, "read", "/etc", "Is a directory (EISDIR)"));
    let text = run.text();
    let (first, rest) = text.split_once('\n').expect("a JSON line");
    assert!(first.starts_with("box{"), "{text:?}");
    let value: Value = serde_json::from_str(&first[3..]).unwrap();
    assert_eq!(error_json(&value), ("EISDIR", 21, run.message()));
    assert_eq!(rest, "hello");
}

#[test]
fn cat_nofollow_refuses_a_trailing_symlink() {
    let tree = fixture();
    let run = in_tree(&tree, &["cat", "--nofollow", "--json", "/rel-passwd"]);
    run.failure(&err_in(
        &tree,
        "open",
        "/rel-passwd",
        "Too many levels of symbolic links (ELOOP)",
    ));
    assert_eq!(error_json(&run.json()).0, "ELOOP");
    let run = in_tree(&tree, &["cat", "--nofollow", "/var/run/app/data"]);
    assert_eq!(run.success().stdout, b"hello");
}

#[test]
fn cat_into_a_closed_pipe_ends_quietly() {
    let tree = fixture();
    tree.write("big", &vec![b'x'; 16 * 1024 * 1024]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .args([OsStr::new("cat"), OsStr::new("/big"), OsStr::new("--root")])
        .arg(tree.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut some = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut some).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

// ---- ls -----------------------------------------------------------------------------------

/// A tree with one entry of every type `ls -l` can show without privilege.
fn typed_tree() -> (Tree, std::os::unix::net::UnixListener) {
    let tree = Tree::new(
        "
        file d/b-file x
        dir d/a-dir
        symlink d/c-link b-file
        file d/B-upper x
        ",
    );
    let fifo = std::ffi::CString::new(tree.join("d/e-fifo").into_os_string().into_vec()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let socket = std::os::unix::net::UnixListener::bind(tree.join("d/f-socket")).unwrap();
    (tree, socket)
}

#[test]
fn ls_lists_names_sorted_bytewise() {
    let (tree, _socket) = typed_tree();
    let run = in_tree(&tree, &["ls", "/d"]);
    assert_eq!(
        run.success().text(),
        "B-upper\na-dir\nb-file\nc-link\ne-fifo\nf-socket\n"
    );
    // The default is the root.
    let run = in_tree(&tree, &["ls"]);
    assert_eq!(run.success().text(), "d\n");
    let run = in_tree(&tree, &["ls", "/d/a-dir"]);
    assert_eq!(run.success().text(), "");
}

#[test]
fn ls_long_shows_types() {
    let (tree, _socket) = typed_tree();
    let run = in_tree(&tree, &["ls", "-l", "/d"]);
    assert_eq!(
        run.success().text(),
        "file     B-upper\n\
         dir      a-dir\n\
         file     b-file\n\
         symlink  c-link\n\
         fifo     e-fifo\n\
         socket   f-socket\n"
    );
    let run = procroot(["ls", "-l", "--root", "/dev", "/"]);
    let text = run.success().text().to_string();
    assert!(text.contains("char     null\n"), "{text}");
}

#[test]
fn ls_json_shape() {
    let (tree, _socket) = typed_tree();
    std::os::unix::fs::symlink("/d", tree.join("abs-d")).unwrap();
    let value = in_tree(&tree, &["ls", "--json", "/abs-d"]).success().json();
    assert_eq!(
        value,
        json!({"path": "/d", "entries": [
            {"name": "B-upper", "type": "file"},
            {"name": "a-dir", "type": "dir"},
            {"name": "b-file", "type": "file"},
            {"name": "c-link", "type": "symlink"},
            {"name": "e-fifo", "type": "fifo"},
            {"name": "f-socket", "type": "socket"},
        ]})
    );
    let obj = value.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["path", "entries"]);

    let value = in_tree(&tree, &["ls", "--json", "/d/a-dir"])
        .success()
        .json();
    assert_eq!(value, json!({"path": "/d/a-dir", "entries": []}));
}

#[test]
fn ls_errors() {
    let (tree, _socket) = typed_tree();
    std::os::unix::fs::symlink("/d", tree.join("abs-d")).unwrap();
    let run = in_tree(&tree, &["ls", "--json", "/d/b-file"]);
    run.failure(&err_in(
        &tree,
        "read directory",
        "/d/b-file",
        "Not a directory (ENOTDIR)",
    ));
    assert_eq!(error_json(&run.json()), ("ENOTDIR", 20, run.message()));
    in_tree(&tree, &["ls", "/nope"]).failure(&err_in(
        &tree,
        "resolve",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
    // --nofollow refuses a symlink to a directory, as O_DIRECTORY|O_NOFOLLOW does.
    in_tree(&tree, &["ls", "--nofollow", "/abs-d"]).failure(&err_in(
        &tree,
        "read directory",
        "/abs-d",
        "Not a directory (ENOTDIR)",
    ));
    let run = in_tree(&tree, &["ls", "--nofollow", "/d"]);
    assert!(run.success().text().starts_with("B-upper\n"));
}

// ---- stat ---------------------------------------------------------------------------------

#[test]
fn stat_json_matches_the_file() {
    let tree = fixture();
    std::fs::set_permissions(
        tree.join("etc/passwd"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4640),
    )
    .unwrap();
    let md = std::fs::metadata(tree.join("etc/passwd")).unwrap();
    let value = in_tree(&tree, &["stat", "--json", "/rel-passwd"])
        .success()
        .json();
    let obj = value.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        [
            "path",
            "type",
            "mode",
            "size",
            "ino",
            "dev",
            "dev_major",
            "dev_minor",
            "nlink",
            "uid",
            "gid",
            "atime",
            "atime_nsec",
            "mtime",
            "mtime_nsec",
            "ctime",
            "ctime_nsec",
            "btime",
            "btime_nsec"
        ]
    );
    // The birth time, when the file system records it (std asks statx for STATX_BTIME).
    let btime = md.created().ok().map(|t| {
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
        (d.as_secs(), d.subsec_nanos())
    });
    let (major, minor) = (libc::major(md.dev()), libc::minor(md.dev()));
    assert_eq!(
        value,
        json!({
            "path": "/etc/passwd",
            "type": "file",
            "mode": "4640",
            "size": md.size(),
            "ino": md.ino(),
            "dev": format!("{major}:{minor}"),
            "dev_major": major,
            "dev_minor": minor,
            "nlink": md.nlink(),
            "uid": md.uid(),
            "gid": md.gid(),
            "atime": md.atime(),
            "atime_nsec": md.atime_nsec(),
            "mtime": md.mtime(),
            "mtime_nsec": md.mtime_nsec(),
            "ctime": md.ctime(),
            "ctime_nsec": md.ctime_nsec(),
            "btime": btime.map(|b| b.0),
            "btime_nsec": btime.map(|b| b.1),
        })
    );
}

#[test]
fn stat_text_and_nofollow() {
    let tree = fixture();
    let file = std::fs::metadata(tree.join("etc/passwd")).unwrap();
    let run = in_tree(&tree, &["stat", "/rel-passwd"]);
    let dev = format!("{}:{}", libc::major(file.dev()), libc::minor(file.dev()));
    let text = run.success().text();
    // The times follow (stat_times_match_coreutils, in coreutils_cli.rs, checks them).
    let (text, times) = text.split_at(text.find("atime: ").expect("atime"));
    assert!(
        times.contains("\nmtime: ") && times.contains("\nbtime: "),
        "{times}"
    );
    assert_eq!(
        text,
        format!(
            "path: /etc/passwd\ntype: file\nmode: {:04o}\nsize: {}\nino: {}\ndev: {dev}\n\
             nlink: {}\nuid: {}\ngid: {}\n",
            file.mode() & 0o7777,
            file.size(),
            file.ino(),
            file.nlink(),
            file.uid(),
            file.gid(),
        )
    );

    let link = std::fs::symlink_metadata(tree.join("rel-passwd")).unwrap();
    let value = in_tree(&tree, &["stat", "--json", "--nofollow", "/rel-passwd"])
        .success()
        .json();
    assert_eq!(value["path"], "/rel-passwd");
    assert_eq!(value["type"], "symlink");
    assert_eq!(value["mode"], "0777");
    assert_eq!(value["ino"], link.ino());
    assert_eq!(value["size"], "etc/passwd".len());

    let value = in_tree(&tree, &["stat", "--json", "/"]).success().json();
    assert_eq!(
        (&value["path"], &value["type"]),
        (&json!("/"), &json!("dir"))
    );
}

#[test]
fn stat_error_json() {
    let tree = fixture();
    let run = in_tree(&tree, &["stat", "--json", "/dangling"]);
    run.failure(&err_in(
        &tree,
        "resolve",
        "/dangling",
        "No such file or directory (ENOENT)",
    ));
    assert_eq!(error_json(&run.json()), ("ENOENT", 2, run.message()));
}

// ---- readlink -----------------------------------------------------------------------------

#[test]
fn readlink_prints_the_target_verbatim() {
    let tree = fixture();
    let run = in_tree(&tree, &["readlink", "/var/run"]);
    assert_eq!(run.success().text(), "/run\n");
    let run = in_tree(&tree, &["readlink", "/up"]);
    assert_eq!(run.success().text(), "../../../../etc\n");
    // Parents are resolved in the root; the last component is the link itself.
    let run = in_tree(&tree, &["readlink", "/abs-etc/../dangling"]);
    assert_eq!(run.success().text(), "/does/not/exist\n");
    let run = in_tree(&tree, &["readlink", "--nofollow", "/dangling"]);
    assert_eq!(run.success().text(), "/does/not/exist\n");
}

#[test]
fn readlink_json_and_errors() {
    let tree = fixture();
    let value = in_tree(&tree, &["readlink", "--json", "/abs-etc/../var/run"])
        .success()
        .json();
    assert_eq!(value, json!({"path": "/var/run", "target": "/run"}));
    let obj = value.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["path", "target"]);

    let run = in_tree(&tree, &["readlink", "--json", "/etc/passwd"]);
    run.failure(&err_in(
        &tree,
        "readlink",
        "/etc/passwd",
        "Invalid argument (EINVAL)",
    ));
    assert_eq!(error_json(&run.json()), ("EINVAL", 22, run.message()));
    in_tree(&tree, &["readlink", "/nope"]).failure(&err_in(
        &tree,
        "resolve",
        "/nope",
        "No such file or directory (ENOENT)",
    ));
}
