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
            // SAFETY: as above.
            unsafe {
                libc::unshare(libc::CLONE_NEWPID);
                let init = libc::fork();
                if init == 0 {
                    loop {
                        libc::pause();
                    }
                }
                let _ = w.write_all(&init.to_ne_bytes());
                drop(w);
                libc::waitpid(init, std::ptr::null_mut(), 0);
                libc::_exit(0);
            }
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
        // SAFETY: killing and reaping our own processes.
        unsafe {
            libc::kill(init, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
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
            // SAFETY: unshare(2) of this (forked) process's UTS namespace, then _exit(2).
            unsafe {
                let ok = libc::unshare(libc::CLONE_NEWUTS) == 0;
                let _ = ready_w.write_all(&[u8::from(ok)]);
                let mut b = [0u8; 1];
                let _ = release_r.read(&mut b);
                libc::_exit(0);
            }
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
