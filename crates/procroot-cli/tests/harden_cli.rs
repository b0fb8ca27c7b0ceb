//! `procroot harden`, `mount-proc`, `sysctl` and `proc --pidns` on the built binary. Everything
//! that mounts runs the binary from a forked child in a private mount namespace (the binary
//! mounts in the namespace it inherits).

use std::io::{Read, Write};
use std::process::Command;

use procroot_testutil::{in_child, in_private_mount_ns, mount_raw, require_privilege, Tree};
use serde_json::Value;

const PRIV: &str = "root: mounts in a private mount namespace";

fn procroot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .args(args)
        .output()
        .expect("run procroot");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn rootfs() -> Tree {
    let tree = Tree::new("dir proc\ndir sys\ndir dev\n");
    mount_raw(Some("proc"), tree.join("proc"), Some("proc"), 0, None).unwrap();
    mount_raw(Some("sysfs"), tree.join("sys"), Some("sysfs"), 0, None).unwrap();
    tree
}

/// The root flag is `--root`, as in every other command; `--rootfs` (the older spelling) is the
/// same option.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_takes_root_and_its_rootfs_alias() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs();
        let dir = tree.path().to_str().unwrap();
        for (flag, path) in [("--root", "/proc/keys"), ("--rootfs", "/proc/interrupts")] {
            let (code, out, err) = procroot(&["harden", flag, dir, "--mask", path, "--json"]);
            assert_eq!(code, 0, "{flag}: {out} {err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["masked"], serde_json::json!([path]), "{flag}");
        }
        // Both spellings at once are one option given twice: a usage error.
        let (code, _, err) = procroot(&["harden", "--root", dir, "--rootfs", dir]);
        assert_eq!(code, 2, "{err}");
    });
    let (code, out, _) = procroot(&["harden", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--root <DIR>") && out.contains("[alias: --rootfs]"),
        "{out}"
    );
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_defaults_json_and_refusal_exit_code() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs();
        let dir = tree.path().to_str().unwrap();
        let config = tree.join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "linux": {"maskedPaths": ["/proc/keys", "/nope"],
                          "readonlyPaths": ["/proc/irq"],
                          "sysctl": {"net.ipv4.ip_forward": "1"}}}"#,
        )
        .unwrap();
        let (code, out, err) = procroot(&[
            "harden",
            "--rootfs",
            dir,
            "--config",
            config.to_str().unwrap(),
            "--mask",
            "/proc/interrupts",
            "--json",
        ]);
        assert_eq!(code, 0, "{out} {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["masked"],
            serde_json::json!(["/proc/keys", "/proc/interrupts"])
        );
        assert_eq!(v["readonly"], serde_json::json!(["/proc/irq"]));
        assert_eq!(v["skipped"][0]["path"], "/nope");
        assert_eq!(v["sysctl"]["net.ipv4.ip_forward"], "1");
        // A magic link as a masked path is refused (ELOOP): exit 1, listed under refused.
        let (code, out, _) = procroot(&["harden", "--rootfs", dir, "--mask", "/proc/self/exe"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.starts_with("refused \"/proc/self/exe\": "), "{out}");
        // Text mode, --defaults and --readonly-proc.
        let (code, out, err) =
            procroot(&["harden", "--rootfs", dir, "--defaults", "--readonly-proc"]);
        assert_eq!(code, 0, "{out} {err}");
        assert!(
            out.contains("read-only \"/proc\"\n") && out.contains("read-only \"/sys\"\n"),
            "{out}"
        );
        assert!(out.contains("masked \"/sys/firmware\"\n"), "{out}");
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_proc_refuses_a_symlink_and_shows_a_child_pidns() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir elsewhere\ndir proc\n");
        tree.symlink("/elsewhere", "link");
        let dir = tree.path().to_str().unwrap();
        let (code, _, err) = procroot(&["mount-proc", "--root", dir, "/link"]);
        assert_eq!(code, 1);
        assert!(err.ends_with("(ELOOP)\n"), "{err}");
        assert_eq!(
            std::fs::read_dir(tree.join("elsewhere")).unwrap().count(),
            0
        );

        // A child PID namespace whose init sleeps.
        let (mut r, mut w) = std::io::pipe().unwrap();
        // SAFETY: fork(2); the child makes a PID namespace, forks its init (which pauses until
        // killed), reports the init's PID and reaps it.
        let child = unsafe { libc::fork() };
        if child == 0 {
            drop(r);
            // SAFETY: unshare(2) with a plain flag: only this child's future children move.
            unsafe { libc::unshare(libc::CLONE_NEWPID) };
            // SAFETY: fork(2) in this single-threaded child; the init only pauses.
            let init = unsafe { libc::fork() };
            if init == 0 {
                loop {
                    // SAFETY: pause(2) takes nothing; the init waits here until killed.
                    unsafe { libc::pause() };
                }
            }
            let _ = w.write_all(&init.to_ne_bytes());
            drop(w);
            // SAFETY: waitpid(2) on our own child; a NULL status pointer means "not wanted".
            unsafe { libc::waitpid(init, std::ptr::null_mut(), 0) };
            // SAFETY: _exit(2) leaves this forked child without the harness's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(w);
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).unwrap();
        let init = i32::from_ne_bytes(buf);
        let ns = format!("/proc/{init}/ns/pid");
        let mount = procroot(&["mount-proc", "--root", dir, "--pidns", &ns, "/proc"]);
        let listing = procroot(&["proc", "--pidns", &ns, "ls", "/"]);
        let pids: Vec<String> = std::fs::read_dir(tree.join("proc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        // SAFETY: kill(2) of the init our child forked, which its parent has not reaped.
        unsafe { libc::kill(init, libc::SIGKILL) };
        // SAFETY: waitpid(2) on our own child; a NULL status pointer means "not wanted".
        unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        assert_eq!(mount.0, 0, "{mount:?}");
        assert_eq!(pids, ["1"], "{mount:?}");
        assert_eq!(listing.0, 0, "{listing:?}");
        let listed: Vec<&str> = listing
            .1
            .lines()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        assert_eq!(listed, ["1"], "{listing:?}");
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_reads_writes_and_refuses_bad_names() {
    require_privilege(PRIV);
    let (code, out, _) = procroot(&["sysctl", "kernel.ostype"]);
    assert_eq!((code, out.as_str()), (0, "Linux\n"));
    let (code, out, _) = procroot(&["sysctl", "--json", "kernel/ostype"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        serde_json::json!({"name": "kernel/ostype", "value": "Linux"})
    );
    for bad in ["/kernel/ostype", "kernel/../x", "a..b"] {
        let (code, _, err) = procroot(&["sysctl", bad]);
        assert_eq!(code, 1, "{bad}");
        assert!(err.ends_with("(EINVAL)\n"), "{err}");
    }
    // A write in a child's own UTS namespace, from outside it; in a UTS namespace procroot
    // shares with the target, the same write is refused (it would be procroot's own).
    in_child(|| {
        let ours = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let (mut ready_r, mut ready_w) = std::io::pipe().unwrap();
        let (mut release_r, release_w) = std::io::pipe().unwrap();
        // SAFETY: fork(2) in this single-threaded child; the grandchild unshares its UTS
        // namespace, says so, and waits to be released.
        let target = unsafe { libc::fork() };
        if target == 0 {
            drop(release_w);
            // SAFETY: unshare(2) of this (forked) process's UTS namespace: a plain flag.
            let ok = unsafe { libc::unshare(libc::CLONE_NEWUTS) } == 0;
            let _ = ready_w.write_all(&[u8::from(ok)]);
            let mut b = [0u8; 1];
            let _ = release_r.read(&mut b);
            // SAFETY: _exit(2) leaves this forked child without the harness's destructors.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        let mut ok = [0u8; 1];
        ready_r.read_exact(&mut ok).unwrap();
        assert_eq!(ok, [1], "unshare(CLONE_NEWUTS)");
        let pid = target.to_string();
        let (code, _, err) = procroot(&["sysctl", "--pid", &pid, "kernel.hostname=cli-test"]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = procroot(&["sysctl", "--pid", &pid, "kernel.hostname"]);
        assert_eq!((code, out.as_str()), (0, "cli-test\n"), "{err}");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
            ours
        );
        let me = std::process::id().to_string();
        let (code, _, err) = procroot(&["sysctl", "--pid", &me, "kernel.hostname=x"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("shares procroot's uts namespace"), "{err}");
        drop(release_w);
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(target, std::ptr::null_mut(), 0) };
    });
}

/// Issue 18 item 6 on the command line: a process with its working directory in
/// `R/proc/sys/kernel` and `R/sys/firmware` open before `harden`: both handles are listed under
/// `"preexisting"` (and in the text output), and the exit status is 1.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_reports_preexisting_handles_and_exits_1() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        use std::os::fd::AsRawFd;
        let tree = rootfs();
        let dir = tree.path().to_str().unwrap();
        let (mut ready_r, mut ready_w) = std::io::pipe().unwrap();
        let (kernel, firmware) = (tree.join("proc/sys/kernel"), tree.join("sys/firmware"));
        let p = procroot_testutil::ForkedChild::spawn(move || {
            std::env::set_current_dir(&kernel).unwrap();
            let fd = std::fs::File::open(&firmware).unwrap();
            ready_w.write_all(&fd.as_raw_fd().to_ne_bytes()).unwrap();
            loop {
                std::thread::park();
            }
        });
        let mut buf = [0u8; 4];
        ready_r.read_exact(&mut buf).unwrap();
        let fd = i32::from_ne_bytes(buf);
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--json"]);
        assert_eq!(code, 1, "{out} {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let pid = p.pid();
        let mine: Vec<(String, String)> = v["preexisting"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["pid"] == pid)
            .map(|h| {
                (
                    h["handle"].as_str().unwrap().to_owned(),
                    h["path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            mine,
            [
                ("cwd".to_owned(), "/proc/sys".to_owned()),
                (format!("fd {fd}"), "/sys/firmware".to_owned())
            ],
            "{out}"
        );
        assert!(v["refused"].as_array().unwrap().is_empty(), "{out}");
        drop(p);
    });
}

/// Issue 18 items 10 and 12 on the command line: a trailing `/` or `/.` on a file is refused
/// (exit 1) while `/proc/timer_list/x` is skipped; 300 masks under `ulimit -n 128` are all made.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_refuses_a_trailing_slash_and_masks_300_paths_under_a_low_fd_limit() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs();
        let dir = tree.path().to_str().unwrap();
        let (code, out, err) = procroot(&[
            "harden",
            "--rootfs",
            dir,
            "--mask",
            "/proc/timer_list/",
            "--mask",
            "/proc/keys/.",
            "--mask",
            "/proc/timer_list/x",
            "--json",
        ]);
        assert_eq!(code, 1, "{out} {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let refused: Vec<&str> = v["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["errno"], "ENOTDIR", "{out}");
                r["path"].as_str().unwrap()
            })
            .collect();
        assert_eq!(refused, ["/proc/timer_list/", "/proc/keys/."], "{out}");
        assert_eq!(v["skipped"][0]["path"], "/proc/timer_list/x", "{out}");
        assert_eq!(v["masked"], serde_json::json!([]), "{out}");

        let files = Tree::new("dir m\n");
        let mut args = vec![
            "harden".to_owned(),
            "--rootfs".to_owned(),
            files.path().to_str().unwrap().to_owned(),
            "--json".to_owned(),
        ];
        for i in 0..300 {
            std::fs::write(files.join(format!("m/{i}")), b"x").unwrap();
            args.push(format!("--mask=/m/{i}"));
        }
        let limit = rustix::process::Rlimit {
            current: Some(128),
            maximum: Some(128),
        };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = procroot(&args);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["masked"].as_array().unwrap().len(), 300, "{err}");
    });
}

/// `harden --help` says what it guarantees and what it requires of the caller.
#[test]
fn harden_help_states_guarantees_and_requirements() {
    let (code, out, _) = procroot(&["harden", "--help"]);
    assert_eq!(code, 0);
    for claim in [
        "Hardening must finish before any process runs in DIR",
        "Every mount is private (in no peer group) before it is attached",
        "every mount below it is",
        "nosuid, noexec (not nodev",
        "A trailing / or /. on\n    a file (/proc/timer_list/) is refused",
        "hard links are distinct names",
        "checked before any mount",
        "\"preexisting\"",
        "The container's mount namespace, not the host's",
        "The new mount API (Linux 5.2; mount_setattr 5.12)",
    ] {
        assert!(out.contains(claim), "missing from harden --help: {claim:?}");
    }
}

/// Issue 18 item 12 (a) on the command line: `/dev/zero` bound over the host's `/dev/null`.
/// `harden --defaults --json` exits 1 naming the check, and no mount was made (mountinfo is
/// the same before and after): nothing is left unreported.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_with_a_bad_dev_null_mounts_nothing() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = rootfs();
        mount_raw(Some("/dev/zero"), "/dev/null", None, libc::MS_BIND, None).unwrap();
        let mountinfo = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let before = mountinfo();
        let dir = tree.path().to_str().unwrap();
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--json"]);
        assert_eq!(code, 1, "{out} {err}");
        assert!(err.contains("not the character device 1:3"), "{err}");
        assert_eq!(mountinfo(), before);
    });
}

/// `mount-proc --help` and `sysctl --help` show their long text: a doc comment on the
/// subcommand in `cli.rs` used to replace it with one line, so what they guarantee (DEST
/// policy, sealed helper, which namespace owns a sysctl) was never shown.
#[test]
fn mount_proc_and_sysctl_help_state_guarantees_and_requirements() {
    // As one line: clap wraps the help to the terminal's width.
    let flat = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (code, out, _) = procroot(&["mount-proc", "--help"]);
    assert_eq!(code, 0);
    let out = flat(out);
    for claim in [
        "DEST must not be below DIR's /proc",
        "--pidns fails up front (NotSupported",
        "Run it in the container's mount namespace",
    ] {
        assert!(
            out.contains(claim),
            "missing from mount-proc --help: {claim:?}"
        );
    }
    let (code, out, _) = procroot(&["sysctl", "--help"]);
    assert_eq!(code, 0);
    let out = flat(out);
    for claim in [
        "in the namespace of PID that owns it, or refuses",
        "kernel.core_pattern, vm.*",
        "runs from a sealed copy of its binary",
    ] {
        assert!(out.contains(claim), "missing from sysctl --help: {claim:?}");
    }
}

/// `harden` on a rootfs whose /proc is not mounted yet would skip every /proc path silently: it
/// warns (stderr, and `warnings` with --json), `--strict` fails before mounting anything, and
/// once a procfs is mounted there (a plain tmpfs does not count) the warning is gone.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_warns_when_the_rootfs_has_no_procfs() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir proc\ndir sys\ndir dev\ndir data\n");
        let dir = tree.path().to_str().unwrap();
        let mounts = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let warning = "/proc inside the root is not a procfs";

        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults"]);
        assert_eq!(code, 0, "{out} {err}");
        assert!(err.starts_with("procroot: warning: harden "), "{err}");
        assert!(
            err.contains(warning) && err.contains("procroot mount-proc --root DIR /proc"),
            "{err}"
        );
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--json"]);
        assert_eq!(code, 0, "{out} {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["warnings"][0]["path"], "/proc", "{out}");
        let message = v["warnings"][0]["message"].as_str().unwrap();
        assert!(message.contains(warning), "{message}");
        // Paths outside /proc alone: nothing to warn about.
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--readonly", "/data"]);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");

        // --strict: exit 1 before any mount, naming the cause.
        let before = mounts();
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--strict"]);
        assert_eq!(code, 1, "{out} {err}");
        assert!(
            err.contains(warning) && err.ends_with("(EINVAL)\n"),
            "{err}"
        );
        assert_eq!(out, "");
        assert_eq!(mounts(), before, "--strict mounted something");

        // A tmpfs on /proc is not a procfs, whatever mountinfo calls it.
        mount_raw(Some("proc"), tree.join("proc"), Some("tmpfs"), 0, None).unwrap();
        let (code, _, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--strict"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(warning), "{err}");

        // A procfs: no warning, and --strict passes.
        mount_raw(Some("proc"), tree.join("proc"), Some("proc"), 0, None).unwrap();
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--strict"]);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        assert!(out.contains("masked \"/proc/keys\"\n"), "{out}");
        let (code, out, err) = procroot(&["harden", "--rootfs", dir, "--defaults", "--json"]);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["warnings"], serde_json::json!([]), "{out}");
    });
}

/// `harden --help` shows its long help (not only the one-line summary): what the caller must
/// do first (mount /proc), and --strict (mount-proc's and sysctl's: the test above).
#[test]
fn harden_help_says_to_mount_proc_first() {
    let flat = |args: &[&str]| {
        let (code, out, err) = procroot(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let harden = flat(&["harden", "--help"]);
    for needle in [
        "DIR's /proc mounted first (procroot mount-proc --root DIR /proc), in the container's \
         private mount namespace",
        "with --strict it fails instead (exit 1), before mounting anything",
        "\"warnings\": [{\"path\": \"/proc\", \"message\": M}]",
        "--strict",
    ] {
        assert!(
            harden.contains(needle),
            "harden --help lacks {needle:?}: {harden}"
        );
    }
    // -h stays the one-line summary.
    let short = flat(&["harden", "-h"]);
    assert!(!short.contains("CVE-2025-31133"), "{short}");
}
