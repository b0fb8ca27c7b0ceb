//! Every subcommand that prints, run with a stdout whose reader is already gone
//! (`procroot sysctl kernel.ostype | head -c0`): the first write fails with `EPIPE`, which ends
//! the command quietly with exit 0 (the reader has all it wanted), never a panic (exit 101).
//! A command that fails for another reason still reports it on stderr with its own exit code.

use procroot_testutil::{
    deny_syscalls, in_child, in_private_mount_ns, mount_raw, require_privilege, Cli, Run, Target,
    Tree,
};

/// A run of the binary whose stdout has no reader.
fn closed(args: &[&str]) -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
        .args(args)
        .closed_stdout()
}

/// Asserts that `run` (of `what`) ended quietly: exit 0 and nothing on stderr (a panic message
/// would be there).
#[track_caller]
fn quiet_success(what: &str, run: &Run) {
    assert!(
        run.code == 0 && run.stderr.is_empty(),
        "{what} with stdout closed: exit {}, stderr {:?}",
        run.code,
        run.stderr
    );
}

/// A root with a file big enough to need several writes, a directory and a symlink.
fn fixture() -> Tree {
    let tree = Tree::new(
        "
        dir d
        file d/f hello
        symlink link d/f
        ",
    );
    tree.write("big", &vec![b'x'; 1024 * 1024]);
    tree
}

#[test]
fn the_read_commands_end_quietly() {
    let tree = fixture();
    let root = tree.path().to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["resolve", "/link"],
        &["resolve", "--json", "/link"],
        &["resolve", "--except-last", "--json", "/d/new"],
        &["cat", "/big"],
        &["cat", "/d/f", "/big"],
        &["ls", "/d"],
        &["ls", "-l", "/"],
        &["ls", "--json", "/"],
        &["stat", "/d/f"],
        &["stat", "--json", "/d/f"],
        &["readlink", "/link"],
        &["readlink", "--json", "/link"],
        &["find", "/"],
        &["find", "--json", "--sort"],
        &["find", "--print0", "/d"],
        &["audit", "/"],
        &["audit", "--json", "--fail-on", "all"],
    ];
    for args in cases {
        let run = closed(args).arg("--root").arg(root).run();
        quiet_success(&args.join(" "), &run);
    }
    // `unpack`'s JSON report, of an empty layer (a tar of zero blocks) into an empty root.
    let layer = tree.join("empty.tar");
    std::fs::write(&layer, vec![0u8; 10240]).unwrap();
    let dest = Tree::new("");
    let run = closed(&["unpack", "--json", layer.to_str().unwrap()])
        .arg("--root")
        .arg(dest.path())
        .run();
    quiet_success("unpack --json", &run);
}

#[test]
fn the_proc_doctor_sysctl_and_doc_commands_end_quietly() {
    let cases: &[&[&str]] = &[
        &["proc", "cat", "status"],
        &["proc", "--proc-root", "cat", "sys/kernel/ostype"],
        &["proc", "ls", "-l", "fd"],
        &["proc", "--json", "ls", "fd"],
        &["proc", "readlink", "exe"],
        &["proc", "--json", "readlink", "exe"],
        &["proc", "stat", "status"],
        &["proc", "--json", "stat", "status"],
        &["doctor"],
        &["doctor", "--json"],
        &["sysctl", "kernel.ostype"],
        &["sysctl", "--json", "kernel.ostype"],
        &["completions", "bash"],
        &["man"],
        &["help"],
        &["help", "cp"],
        &["--help"],
        &["ls", "--help"],
        &["--version"],
    ];
    for args in cases {
        quiet_success(&args.join(" "), &closed(args).run());
    }
}

/// The changing commands print their `--json` report after the change: the change is made, and
/// the command ends quietly. With several operands, every one is still done.
#[test]
fn the_changing_commands_do_their_work_and_end_quietly() {
    let tree = fixture();
    let root = tree.path().to_str().unwrap();
    let host = tempfile::tempdir().unwrap();
    let copied = host.path().join("copied");
    let copied = copied.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["mkdir", "--json", "/m1", "/m2", "/m3"],
        &["touch", "--json", "/t1", "/t2"],
        &["chmod", "--json", "0600", "/d/f"],
        &["chown", "--json", ":0", "/d/f"],
        &["mknod", "--json", "/fifo", "p"],
        &["ln", "--json", "-s", "d/f", "/l2"],
        &["mv", "--json", "/t2", "/t3"],
        &["cp", "--json", ":/d/f", copied],
        &["rm", "--json", "/t1", "/t3"],
    ];
    for args in cases {
        let run = closed(args).arg("--root").arg(root).run();
        quiet_success(&args.join(" "), &run);
    }
    for made in ["m1", "m2", "m3", "l2", "fifo"] {
        assert!(
            tree.join(made).symlink_metadata().is_ok(),
            "{made} was not made"
        );
    }
    for removed in ["t1", "t2", "t3"] {
        assert!(tree.join(removed).symlink_metadata().is_err(), "{removed}");
    }
    assert_eq!(std::fs::read(copied).unwrap(), b"hello");
    let write = closed(&["write", "--json", "/w"])
        .arg("--root")
        .arg(root)
        .stdin("data")
        .run();
    quiet_success("write --json", &write);
    assert_eq!(std::fs::read(tree.join("w")).unwrap(), b"data");
}

/// Without Landlock, a changing command's `--json` output starts with a `{"sandbox": ...}`
/// notice: that first write failing must not stop the change.
#[test]
fn the_sandbox_notice_does_not_stop_the_work() {
    let tree = fixture();
    let root = tree.path().to_str().unwrap().to_owned();
    in_child(|| {
        // landlock_create_ruleset fails as on a kernel without Landlock (inherited by procroot).
        deny_syscalls(&[libc::SYS_landlock_create_ruleset], libc::ENOSYS);
        let run = closed(&["mkdir", "--json", "/n1", "/n2"])
            .arg("--root")
            .arg(&root)
            .run();
        quiet_success("mkdir --json without Landlock", &run);
    });
    for made in ["n1", "n2"] {
        assert!(tree.join(made).is_dir(), "{made} was not made");
    }
}

/// A failure is still a failure: reported on stderr (its JSON twin on the closed stdout is
/// lost), exit 1, no panic.
#[test]
fn a_failure_is_still_reported_on_stderr() {
    let tree = fixture();
    let root = tree.path().to_str().unwrap();
    for args in [&["resolve", "/nope"][..], &["resolve", "--json", "/nope"]] {
        let run = closed(args).arg("--root").arg(root).run();
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("procroot: resolve \"/nope\" in ")
                && run.stderr.ends_with("No such file or directory (ENOENT)\n"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // A changing command with one failing operand: the others are made, the failure is
    // reported, exit 1.
    let run = closed(&["mkdir", "--json", "/f1", "/no/f2", "/f3"])
        .arg("--root")
        .arg(root)
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("procroot: mkdir \"/no/f2\" in "),
        "{}",
        run.stderr
    );
    assert!(tree.join("f1").is_dir() && tree.join("f3").is_dir());
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_ends_as_its_command_did() {
    require_privilege("root: exec joins another process");
    // A target in procroot's own namespaces: exec enters none and runs the command in its root.
    let target = Target::spawn(|| {});
    let pid = target.pid().to_string();
    let run = closed(&["exec", "--pid", &pid, "--", "/bin/true"]).run();
    quiet_success("exec -- /bin/true", &run);
    // The command gets SIGPIPE's default action back: it dies of it, and procroot reports
    // that as a shell does (128 + 13), without a message of its own.
    let run = closed(&["exec", "--pid", &pid, "--", "/bin/echo", "hi"]).run();
    assert_eq!((run.code, run.stderr.as_str()), (141, ""));
    let run = closed(&["exec", "--pid", &pid, "--", "/nonexistent"]).run();
    assert_eq!(run.code, 127, "{}", run.stderr);
    assert!(run.stderr.starts_with("procroot: "), "{}", run.stderr);
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_and_mount_proc_end_quietly() {
    require_privilege("root: mounts in a private mount namespace");
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc\ndir sys\ndir dev\ndir p2\ndir p3\n");
        mount_raw(Some("proc"), tree.join("proc"), Some("proc"), 0, None).unwrap();
        let root = tree.path().to_str().unwrap();
        for args in [
            &["harden", "--root", root, "--mask", "/proc/keys"][..],
            &[
                "harden",
                "--rootfs",
                root,
                "--mask",
                "/proc/kcore",
                "--json",
            ],
            &["mount-proc", "--root", root, "/p2"],
            &["mount-proc", "--root", root, "--json", "/p3"],
        ] {
            quiet_success(&args.join(" "), &closed(args).run());
        }
        // sysctl advice from a config is printed too.
        let config = tree.join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "linux": {"sysctl": {"net.ipv4.ip_forward": "1"}}}"#,
        )
        .unwrap();
        let config = config.to_str().unwrap();
        for json in [&[][..], &["--json"]] {
            let args = [&["harden", "--root", root, "--config", config][..], json].concat();
            quiet_success(&args.join(" "), &closed(&args).run());
        }
    });
}

/// With stderr on the same closed pipe (`procroot ... 2>&1 | head -c0`), a failure that cannot
/// be reported anywhere still ends with its exit status, never a panic (exit 101).
#[test]
fn a_failure_with_stderr_closed_too_keeps_its_exit_status() {
    let tree = fixture();
    for (args, code) in [
        (&["cat", "/nope", "/big"][..], 1),
        (&["resolve", "--json", "/nope"], 1),
        (&["mkdir", "/g1", "/no/g2"], 1),
        (&["ls", "/d"], 0),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_procroot"))
            .args(args)
            .arg("--root")
            .arg(tree.path())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .spawn()
            .unwrap();
        // A deadline: these end at once; a hang fails the test instead of stalling it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

/// The cases above cover every subcommand `procroot --help` lists: a new command without a
/// closed-stdout case fails here.
#[test]
fn every_subcommand_has_a_closed_stdout_case() {
    let help = Cli::new(env!("CARGO_BIN_EXE_procroot")).arg("--help").run();
    assert_eq!(help.code, 0, "{}", help.stderr);
    let stdout = String::from_utf8(help.stdout).expect("UTF-8 help");
    let commands: Vec<&str> = stdout
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .expect("a Commands: section")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(commands.len() > 20, "{commands:?}");
    let source = include_str!("closed_stdout_cli.rs");
    let missing: Vec<&&str> = commands
        .iter()
        .filter(|name| !source.contains(&format!("&[\"{name}\"")))
        .collect();
    assert!(missing.is_empty(), "no closed-stdout case for {missing:?}");
}
