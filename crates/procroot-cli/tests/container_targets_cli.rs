//! `harden --config`, `mount-proc --pidns`, `proc --pidns` and `sysctl --pid` on the built
//! binary, for what issue 18 (second review) found: FIFOs given as a namespace or a config,
//! sysctl advice the validator would refuse, and the helper `proc --pidns` forks into a PID
//! namespace running from the on-disk binary. Everything that mounts or unshares runs from a
//! forked child in a private mount namespace.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use procroot_testutil::{
    in_child, in_private_mount_ns, mkfifo, mount_raw, require_privilege, Cli, Tree,
};

const PRIV: &str = "root: mounts in a private mount namespace";
const BIN: &str = env!("CARGO_BIN_EXE_procroot");

/// Runs procroot with `args`: it must exit 1 within 5 s with `needle` in its error.
#[track_caller]
fn refused_within_5s<S: AsRef<std::ffi::OsStr>>(args: &[S], needle: &str) {
    let run = Cli::new(BIN)
        .args(args)
        .deadline(Duration::from_secs(5))
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(needle), "{}", run.stderr);
}

/// A FIFO given where a PID namespace or a config is expected: exit 1 within 5 s, the type
/// named, nothing opened (a FIFO's open would block forever).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_fifo_as_pidns_or_config_is_refused_by_type() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir r/proc\nfile dev0 x\n");
        let fifo = tree.join("F");
        mkfifo(&fifo);
        let root = tree.join("r");
        let fifo_s = fifo.to_str().unwrap();
        let root_s = root.to_str().unwrap();
        let runs = [
            vec!["mount-proc", "--root", root_s, "--pidns", fifo_s, "/proc"],
            vec!["proc", "--pidns", fifo_s, "ls", "/"],
            vec!["harden", "--rootfs", root_s, "--config", fifo_s],
        ];
        for args in runs {
            refused_within_5s(&args, "FIFO");
        }
        // A regular file is not a namespace either; /dev/null (a device) is not a config.
        let file = tree.join("dev0");
        refused_within_5s(
            &["proc", "--pidns", file.to_str().unwrap(), "ls", "/"],
            "not a PID namespace file",
        );
        refused_within_5s(
            &["harden", "--rootfs", root_s, "--config", "/dev/null"],
            "character device",
        );
        // The other kind of namespace file.
        refused_within_5s(
            &["proc", "--pidns", "/proc/self/ns/net", "ls", "/"],
            "another kind of namespace",
        );
    });
}

/// `harden --config` with `kernel.core_pattern` (machine-wide) and `net.ipv4.ip_forward`: only
/// the second is advised (`sysctl --pid`), the first is refused, and the exit status says so.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn harden_config_never_advises_a_machine_wide_sysctl() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir r\n");
        let config = tree.join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "linux": {"sysctl": {"kernel.core_pattern": "|/tmp/x",
                                     "net.ipv4.ip_forward": "1"}}}"#,
        )
        .unwrap();
        let root = tree.join("r");
        let base = [
            "harden",
            "--rootfs",
            root.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ];
        let run = Cli::new(BIN).args(base).run();
        assert_eq!(run.code, 1, "{run:?}");
        let text = String::from_utf8(run.stdout.clone()).unwrap();
        let advised: Vec<&str> = text.lines().filter(|l| l.contains("--pid")).collect();
        assert_eq!(advised.len(), 1, "{text}");
        assert!(
            advised[0].starts_with("sysctl net.ipv4.ip_forward=1 "),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("refused sysctl kernel.core_pattern=")
                    && l.contains("not in a separate kernel namespace")),
            "{text}"
        );
        let run = Cli::new(BIN).args(base).arg("--json").run();
        assert_eq!(run.code, 1, "{run:?}");
        let json = run.json();
        assert_eq!(
            json["sysctl"],
            serde_json::json!({"net.ipv4.ip_forward": "1"})
        );
        assert_eq!(json["sysctl_refused"][0]["name"], "kernel.core_pattern");
        assert_eq!(json["sysctl_refused"][0]["errno"], "EINVAL");
    });
}

/// The (dev, ino) of a file.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// The attack of issue 18 item 3: in a PID namespace W with its own procfs, a watcher opens
/// `/proc/N/exe` of every new process while `proc --pidns /proc/W/ns/pid ls /` runs with the
/// new mount API refused (`ENOSYS`), so that a helper process inside W makes the instance.
/// Every helper the watcher catches has a sealed copy as its `exe`, never the on-disk binary.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn proc_pidns_helper_never_exposes_the_on_disk_binary() {
    require_privilege(PRIV);
    in_child(|| {
        let on_disk = identity(&std::fs::metadata(BIN).unwrap());
        // W: a PID namespace whose init (the watcher) mounts its own /proc in a mount namespace
        // of its own, as `unshare -pf --mount-proc`. Only the watcher is in W: procroot runs
        // from here, outside it, as a runtime would.
        let (mut report_r, report_w) = std::io::pipe().unwrap();
        let (mut pid_r, pid_w) = std::io::pipe().unwrap();
        let (mut ready_r, ready_w) = std::io::pipe().unwrap();
        let tree = Tree::new("dir flags\n");
        let stop = tree.join("flags/stop");
        let caught = tree.join("flags/caught");
        let watch = || {
            close_in_child(&report_r);
            close_in_child(&ready_r);
            close_in_child(&pid_r);
            procroot_testutil::enter_private_mount_ns();
            mount_raw(Some("proc"), "/proc", Some("proc"), 0, None).unwrap();
            (&ready_w).write_all(b"r").unwrap();
            close_in_child(&ready_w);
            let (mut seen, mut on_disk_hits) = (0u32, 0u32);
            let mut tried = std::collections::BTreeSet::new();
            let start = std::time::Instant::now();
            while !stop.exists() && start.elapsed() < Duration::from_secs(120) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                        continue;
                    };
                    if pid == 1 || !tried.insert(pid) {
                        continue;
                    }
                    if let Ok(meta) = std::fs::metadata(format!("/proc/{pid}/exe")) {
                        seen += 1;
                        if identity(&meta) == on_disk {
                            on_disk_hits += 1;
                        }
                        if seen >= 3 {
                            let _ = std::fs::write(&caught, "");
                        }
                    }
                }
            }
            (&report_w)
                .write_all(format!("{seen} {on_disk_hits}").as_bytes())
                .unwrap();
            0
        };
        let w_parent = procroot_testutil::ForkedChild::spawn(|| {
            // SAFETY: unshare(2) in this forked, single-threaded child.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0);
            let watcher = procroot_testutil::ForkedChild::spawn(watch);
            (&pid_w).write_all(&watcher.pid().to_ne_bytes()).unwrap();
            watcher.wait()
        });
        drop(report_w);
        drop(ready_w);
        drop(pid_w);
        let mut b = [0u8; 1];
        ready_r.read_exact(&mut b).unwrap();
        let mut pid = [0u8; 4];
        pid_r.read_exact(&mut pid).unwrap();
        let nspath = format!("/proc/{}/ns/pid", i32::from_ne_bytes(pid));
        // The runs, until the watcher caught three helpers: a forked child installs the
        // filter, then runs the binary (the filter is inherited across exec).
        let max_runs = 100;
        let runner = procroot_testutil::ForkedChild::spawn(|| {
            procroot_testutil::deny_syscalls(
                &[libc::SYS_fsopen, libc::SYS_fsmount, libc::SYS_open_tree],
                libc::ENOSYS,
            );
            for _ in 0..max_runs {
                if caught.exists() {
                    break;
                }
                Cli::new(BIN)
                    .args(["proc", "--pidns", &nspath, "stat", "1"])
                    .deadline(Duration::from_secs(30))
                    .run()
                    .success();
            }
            0
        });
        let status = runner.wait();
        std::fs::write(&stop, "").unwrap();
        let mut report = String::new();
        report_r.read_to_string(&mut report).unwrap();
        assert_eq!(w_parent.wait(), 0);
        assert_eq!(status, 0, "the proc --pidns runs");
        let (seen, hits) = report.split_once(' ').unwrap();
        assert_eq!(
            hits, "0",
            "helpers whose exe was the on-disk binary ({seen} seen)"
        );
        let seen: u32 = seen.parse().unwrap();
        assert!(
            seen > 0,
            "the watcher never caught a helper in {max_runs} runs"
        );
    });
}

/// Closes, in a forked child, its copy of a pipe end the parent keeps (the child leaves with
/// `_exit`, so the copy's destructor never runs there).
fn close_in_child(fd: &impl std::os::fd::AsRawFd) {
    // SAFETY: closing a descriptor this process owns and never uses again.
    unsafe { libc::close(fd.as_raw_fd()) };
}

/// `sysctl --pid` with a machine-wide name: refused before anything is opened (a PID that does
/// not exist still gives the name's refusal), exit 1.
#[test]
fn sysctl_pid_refuses_a_machine_wide_name() {
    refused_within_5s(
        &["sysctl", "--pid", "1073741808", "kernel.core_pattern=|/x"],
        "not in a separate kernel namespace",
    );
}

/// Item 11 under a seccomp filter that refuses the new mount API with `ENOSYS`: `mount-proc`
/// of our own PID namespace falls back to `mount(2)`; with `--pidns` of a child namespace it
/// fails up front (exit 1) naming what is missing, never `EINVAL`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mount_proc_pidns_without_the_new_mount_api() {
    require_privilege(PRIV);
    in_private_mount_ns(|| {
        let tree = Tree::new("dir r/p1\ndir r/p2\n");
        let root = tree.join("r");
        let root_s = root.to_str().unwrap();
        // S: the init of a child PID namespace, sleeping until killed.
        let s = procroot_testutil::ForkedChild::spawn(|| {
            // SAFETY: unshare(2) in this forked child, which then only forks and waits.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWPID) }, 0);
            let init = procroot_testutil::ForkedChild::spawn(|| loop {
                std::thread::sleep(Duration::from_secs(60));
            });
            init.wait()
        });
        // Its init: the only child of S.
        let mut init_pid = None;
        for _ in 0..1000 {
            init_pid = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"))?;
                (ppid.trim() == s.pid().to_string()).then_some(pid)
            });
            if init_pid.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let nspath = format!("/proc/{}/ns/pid", init_pid.expect("S's init"));
        let runner = procroot_testutil::ForkedChild::spawn(|| {
            procroot_testutil::deny_syscalls(
                &[
                    libc::SYS_fsopen,
                    libc::SYS_fsmount,
                    libc::SYS_open_tree,
                    libc::SYS_move_mount,
                    libc::SYS_mount_setattr,
                ],
                libc::ENOSYS,
            );
            let run = Cli::new(BIN)
                .args(["mount-proc", "--root", root_s, "/p1", "--json"])
                .run();
            run.success();
            assert_eq!(run.json()["fallback"][0], "/p1", "{run:?}");
            let run = Cli::new(BIN)
                .args(["mount-proc", "--root", root_s, "--pidns", &nspath, "/p2"])
                .run();
            assert_eq!(run.code, 1, "{run:?}");
            assert!(run.stderr.contains("fsopen(2)"), "{}", run.stderr);
            assert!(!run.stderr.contains("EINVAL"), "{}", run.stderr);
            0
        });
        assert_eq!(runner.wait(), 0);
        drop(s);
    });
}

/// `sysctl --pid` of a `user.*` sysctl: written in the target's user namespace (the caller's
/// stays as it was), and from a sealed binary: with an unknown sealing strategy the command
/// fails before doing anything, while a `net.*` refusal and a plain read, which fork no helper,
/// do not try to seal.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn sysctl_pid_user_namespace_runs_sealed() {
    require_privilege(PRIV);
    in_child(|| {
        // The caller is the root of a stand-in user namespace: whatever happens, the machine's
        // own user.* sysctls are never written.
        map_self_as_root_of_a_new_user_namespace();
        let ours = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
        let (mut ready_r, ready_w) = std::io::pipe().unwrap();
        let (release_r, release_w) = std::io::pipe().unwrap();
        let ctr = procroot_testutil::ForkedChild::spawn(|| {
            close_in_child(&ready_r);
            close_in_child(&release_w);
            map_self_as_root_of_a_new_user_namespace();
            (&ready_w).write_all(b"r").unwrap();
            let mut b = [0u8; 1];
            let _ = (&release_r).read(&mut b);
            0
        });
        drop(ready_w);
        drop(release_r);
        let mut b = [0u8; 1];
        ready_r.read_exact(&mut b).unwrap();
        let pid = ctr.pid().to_string();
        let sealed_fails = Cli::new(BIN)
            .env("PROCROOT_SEAL_STRATEGY", "no-such-strategy")
            .args(["sysctl", "--pid", &pid, "user.max_user_namespaces=55"])
            .run();
        assert_eq!(sealed_fails.code, 1, "{sealed_fails:?}");
        assert!(
            sealed_fails.stderr.contains("unknown sealing strategy"),
            "{}",
            sealed_fails.stderr
        );
        Cli::new(BIN)
            .env("PROCROOT_SEAL_STRATEGY", "no-such-strategy")
            .args(["sysctl", "kernel.ostype"])
            .run()
            .success();
        let run = Cli::new(BIN)
            .env("PROCROOT_SEAL_STRATEGY", "no-such-strategy")
            .args(["sysctl", "--pid", &pid, "net.ipv4.ip_forward"])
            .run();
        assert!(
            run.stderr.contains("shares procroot's net namespace"),
            "{run:?}"
        );
        Cli::new(BIN)
            .args(["sysctl", "--pid", &pid, "user.max_user_namespaces=55"])
            .run()
            .success();
        let run = Cli::new(BIN)
            .args(["sysctl", "--pid", &pid, "user.max_user_namespaces"])
            .run();
        run.success();
        assert_eq!(run.stdout, b"55\n");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap(),
            ours,
            "the caller's own user namespace"
        );
        drop(release_w);
        assert_eq!(ctr.wait(), 0);
    });
}

/// `unshare(CLONE_NEWUSER)`, then maps root inside to our own uid and gid outside (the only map
/// a process may write for itself). For forked, single-threaded children.
fn map_self_as_root_of_a_new_user_namespace() {
    // SAFETY: unshare(2) in a forked, single-threaded child.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUSER) }, 0);
    std::fs::write("/proc/self/setgroups", "deny").unwrap();
    std::fs::write("/proc/self/uid_map", "0 0 1").unwrap();
    std::fs::write("/proc/self/gid_map", "0 0 1").unwrap();
}
