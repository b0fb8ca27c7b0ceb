//! What a coreutils user expects of the everyday commands (issue 23, item 11): `stat` shows the
//! times as coreutils `stat` does, a second `cp` names the entry in the way, a refused special
//! file names the option and no Rust type, and the root's options work before the subcommand.

use std::process::Command;

use procroot_testutil::cli::Cli;
use procroot_testutil::Tree;
use serde_json::Value;

fn procroot() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// coreutils `stat -c FORMAT` of `path`, without its newline.
fn coreutils_stat(format: &str, path: &std::path::Path) -> String {
    let out = Command::new("stat")
        .args(["-c", format])
        .arg(path)
        .output()
        .expect("coreutils stat");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// The `key: value` lines of `procroot stat` for the four times.
fn procroot_times(text: &str) -> Vec<String> {
    ["atime", "mtime", "ctime", "btime"]
        .iter()
        .map(|key| {
            let prefix = format!("{key}: ");
            let line = text.lines().find(|l| l.starts_with(&prefix));
            line.unwrap_or_else(|| panic!("no {key} in {text}"))[prefix.len()..].to_owned()
        })
        .collect()
}

/// `stat`'s times are those of coreutils `stat -c '%X %Y %Z %W'` (seconds; and to the
/// nanosecond with `%.9X`), in text and JSON; a birth time the kernel does not give is `-` (and
/// null), as `%w` shows it.
#[test]
fn stat_times_match_coreutils() {
    let tree = Tree::new("file f data\n");
    let f = tree.join("f");
    // Four different times: atime and mtime set apart, ctime and btime now.
    let touch = |args: &[&str]| {
        let ok = Command::new("touch").args(args).arg(&f).status().unwrap();
        assert!(ok.success());
    };
    touch(&["-a", "-d", "2001-02-03 04:05:06.123456789"]);
    touch(&["-m", "-d", "2011-12-13 14:15:16.987654321"]);

    let run = procroot().args(["stat", "/f"]).root(tree.path()).run();
    run.success();
    let ours = procroot_times(run.text());
    let theirs = coreutils_stat("%.9X %.9Y %.9Z %.9W %w", &f);
    let theirs: Vec<&str> = theirs.split(' ').collect();
    // (`%w` is `-` when the birth time is unknown; `%W` then says 0.)
    let btime_known = theirs[4] != "-";
    let mut want: Vec<String> = theirs[..4].iter().map(|s| s.to_string()).collect();
    if !btime_known {
        want[3] = "-".into();
    }
    assert_eq!(ours, want);
    assert_eq!(ours[0], "981173106.123456789");
    assert_eq!(ours[1], "1323785716.987654321");
    let secs = coreutils_stat("%X %Y %Z %W", &f);
    let secs: Vec<i64> = secs.split(' ').map(|s| s.parse().unwrap()).collect();

    let v = procroot()
        .args(["stat", "--json", "/f"])
        .root(tree.path())
        .run()
        .json();
    for (i, key) in ["atime", "mtime", "ctime", "btime"].into_iter().enumerate() {
        let nsec_key = format!("{key}_nsec");
        if key == "btime" && !btime_known {
            assert_eq!((&v[key], &v[&nsec_key]), (&Value::Null, &Value::Null));
            continue;
        }
        assert_eq!(v[key], secs[i], "{key}: {v}");
        let nsec = want[i].split('.').nth(1).unwrap().parse::<i64>().unwrap();
        assert_eq!(v[&nsec_key], nsec, "{key}: {v}");
    }

    // A procfs file has no birth time (statx gives no STATX_BTIME): `-` and null.
    assert_eq!(
        coreutils_stat("%w", std::path::Path::new("/proc/sys/kernel/ostype")),
        "-"
    );
    let run = procroot()
        .args(["stat", "--root", "/proc", "sys/kernel/ostype"])
        .run();
    run.success();
    assert_eq!(procroot_times(run.text())[3], "-");
    let v = procroot()
        .args(["stat", "--json", "--root", "/proc", "sys/kernel/ostype"])
        .run()
        .json();
    assert_eq!(v["btime"], Value::Null, "{v}");
    assert!(v["mtime"].is_i64(), "{v}");
}

/// A second `cp :/etc/hostname DIR` into the same host directory fails with EEXIST naming the
/// entry in the way, `DIR/hostname`, not only DIR; the same for a copy into the root.
#[test]
fn cp_names_the_entry_in_the_way() {
    let tree = Tree::new("file etc/hostname box\ndir srv\n");
    let host = Tree::new("dir out\n");
    let out = host.join("out");
    let cp = |from: &str, to: &str| {
        procroot()
            .args(["cp", "-q", from, to])
            .root(tree.path())
            .run()
    };
    cp(":/etc/hostname", out.to_str().unwrap()).success();
    let run = cp(":/etc/hostname", out.to_str().unwrap());
    assert_eq!(run.code, 1, "{run:?}");
    let entry = format!("copy out \"{}/hostname\": ", out.display());
    assert!(
        run.stderr.starts_with(&format!("procroot: {entry}")) && run.stderr.ends_with("(EEXIST)\n"),
        "{run:?}"
    );
    // DST that is the entry itself (not a directory): named as given.
    let file = out.join("hostname");
    let run = cp(":/etc/hostname", file.to_str().unwrap());
    assert!(
        run.stderr.starts_with(&format!("procroot: {entry}")),
        "{run:?}"
    );

    // Into the root: the same.
    cp(out.join("hostname").to_str().unwrap(), ":/srv").success();
    let run = cp(out.join("hostname").to_str().unwrap(), ":/srv");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("procroot: copy in \"/srv/hostname\" in ")
            && run.stderr.ends_with("(EEXIST)\n"),
        "{run:?}"
    );
}

/// A refused FIFO names `--special-files`, the option a CLI user has, and no Rust type (no
/// `SpecialFiles::Allow`): in text and in JSON, for cat and cp.
#[test]
fn a_special_file_refusal_names_the_option_and_no_rust_type() {
    let tree = Tree::new("dir d\n");
    let fifo = tree.join("d/fifo");
    let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success());
    let host = Tree::new("");
    for args in [
        vec!["cat", "/d/fifo"],
        vec![
            "cp",
            "-q",
            ":/d",
            host.join("copy").to_str().unwrap().to_owned().leak(),
        ],
    ] {
        let run = procroot()
            .args(&args)
            .root(tree.path())
            .deadline(std::time::Duration::from_secs(10))
            .run();
        assert_eq!(run.code, 1, "{run:?}");
        let message = run.message();
        assert!(message.contains("(--special-files)"), "{message}");
        assert!(!message.contains("::"), "{message}");
        let v = procroot()
            .args(&args)
            .arg("--json")
            .root(tree.path())
            .deadline(std::time::Duration::from_secs(10))
            .run()
            .json();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("--special-files") && !message.contains("::"),
            "{v}"
        );
    }
}

/// The root's options (--root, --pid, --policy, --no-symlinks, --no-xdev, --backend), --json
/// and --no-sandbox work before the subcommand as after it; before a command that does not
/// take one, or given on both sides, they are usage errors (exit 2).
#[test]
fn root_options_work_before_and_after_the_subcommand() {
    let tree = Tree::new("file f hello\nsymlink l f\n");
    let root = tree.path().to_str().unwrap();
    let after = procroot().args(["cat", "--root", root, "/f"]).run();
    after.success();
    let before = procroot().args(["--root", root, "cat", "/f"]).run();
    before.success();
    assert_eq!((after.text(), before.text()), ("hello", "hello"));

    // Flags and options with defaults: before the command they count.
    let v = procroot()
        .args([
            "--json",
            "--backend",
            "emulated",
            "--root",
            root,
            "resolve",
            "/l",
        ])
        .run()
        .json();
    assert_eq!(
        (v["path"].as_str(), v["backend"].as_str()),
        (Some("/f"), Some("emulated"))
    );
    procroot()
        .args(["--no-symlinks", "--root", root, "cat", "/l"])
        .run()
        .failure_between("procroot: open \"/l\" in ", "(ELOOP)");
    procroot()
        .args([
            "--no-sandbox",
            "--root",
            root,
            "--policy",
            "beneath",
            "cat",
            "/f",
        ])
        .run()
        .failure_between("procroot: open \"/f\" in ", "(EXDEV)");
    // --json before the command reports errors as JSON too.
    let run = procroot()
        .args(["--json", "--root", root, "cat", "/nope"])
        .run();
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["error"]["errno"], "ENOENT");
    // --json before a command whose own --json is elsewhere (harden, doctor, proc).
    let v = procroot().args(["--json", "proc", "cat", "status"]).run();
    assert_eq!(v.code, 0, "{v:?}");

    procroot()
        .args(["--root", root, "cat", "--root", root, "/f"])
        .run()
        .usage_error("'--root' was given both before and after the command 'cat'");
    procroot()
        .args(["--root", root, "doctor"])
        .run()
        .usage_error("'--root' before the command does not apply to 'doctor'");
    procroot()
        .args(["--no-sandbox", "sysctl", "kernel.ostype"])
        .run()
        .usage_error("'--no-sandbox' before the command does not apply to 'sysctl'");
    procroot()
        .args(["--root", root, "cat", "--pid", "1", "/f"])
        .run()
        .usage_error("'--root' and '--pid' cannot be used together");
}

/// mknod's `u` type is mknod(1)'s: an (unbuffered) character device, the same as `c`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mknod_u_is_a_character_device() {
    procroot_testutil::require_privilege("CAP_MKNOD to make device nodes");
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let tree = Tree::new("dir dev\n");
    let v = procroot()
        .args([
            "mknod",
            "--json",
            "--no-sandbox",
            "/dev/null",
            "u",
            "1",
            "3",
        ])
        .root(tree.path())
        .run()
        .json();
    assert_eq!(v["node"], "c:1:3", "{v}");
    let md = std::fs::symlink_metadata(tree.join("dev/null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), libc::makedev(1, 3));
    let help = procroot().args(["mknod", "--help"]).run();
    let text = help.text().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("u (the same as c, as in mknod(1))"),
        "{help:?}"
    );
}
