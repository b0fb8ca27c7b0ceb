//! The `/proc/<pid>/root` wormhole, through the CLI (privileged).
//!
//! A target process has its own mount namespace with a tmpfs on `/run` holding a file, and
//! `/var/run` is an absolute symlink to `/run`. Reading `/proc/<pid>/root/var/run/<file>`
//! directly fails: the kernel resolves the absolute symlink against *our* root, where the
//! target's `/run` mount does not exist. `procroot cat --pid <pid> /var/run/<file>` keeps the
//! symlink inside the target's root and prints the file.
//!
//! Everything runs in a forked child inside a private mount namespace
//! ([`procroot_testutil::in_private_mount_ns`]); the host's mounts are never touched.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use procroot_testutil::{in_private_mount_ns, mount_raw, require_privilege, Cli, Run, Target};
use serde_json::json;

/// What the privileged tests need.
const PRIVILEGE: &str = "mount namespaces and tmpfs mounts";

/// What the target's file holds.
const CONTENT: &[u8] = b"hello from the other mount namespace\n";

/// A file name no one else uses.
fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("procroot-wormhole-{}-{nanos}", std::process::id())
}

/// Runs the binary.
fn procroot<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Cli::new(env!("CARGO_BIN_EXE_procroot")).args(args).run()
}

/// The demo itself, against a ready target whose `/run/<name>` holds [`CONTENT`] and whose
/// `/var/run` is a symlink to `/run`.
fn check_wormhole(target: &Target, name: &str) {
    let pid = target.pid().to_string();
    let in_target = format!("/var/run/{name}");

    // Reading through the wormhole by path fails: `/var/run -> /run` is resolved in our root.
    let direct = PathBuf::from(format!("/proc/{pid}/root/var/run/{name}"));
    let err = std::fs::read(&direct).expect_err("the direct read should miss the file");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    // ... although the file is there, as a walk that stays in the target's mounts shows.
    let there = format!("/proc/{pid}/root/run/{name}");
    assert_eq!(
        std::fs::read(&there).expect("read without the symlink"),
        CONTENT
    );

    // procroot keeps the symlink inside the target's root, with both wormhole policies.
    for policy in ["in-root", "in-root-strict"] {
        for backend in ["kernel", "emulated"] {
            let run = procroot([
                "cat",
                "--pid",
                &pid,
                "--policy",
                policy,
                "--backend",
                backend,
                &in_target,
            ]);
            assert_eq!(run.success().stdout, CONTENT, "{policy} {backend}");
        }
    }

    let run = procroot(["resolve", "--pid", &pid, &in_target]);
    assert_eq!(run.success().text(), format!("/run/{name}\n"));

    let value = procroot(["resolve", "--json", "--pid", &pid, &in_target])
        .success()
        .json();
    assert_eq!(value["path"], json!(format!("/run/{name}")));
    assert_eq!(value["type"], "file");

    let value = procroot(["ls", "--json", "--pid", &pid, "/var/run"])
        .success()
        .json();
    assert_eq!(value["path"], "/run");
    let entries = value["entries"].as_array().expect("entries");
    assert!(
        entries.contains(&json!({"name": name, "type": "file"})),
        "{value}"
    );
}

/// Builds `rootfs` (a tmpfs) with `var/run -> /run` and an empty `run/`, and forks a target
/// that mounts its own tmpfs on `run`, writes `run/<name>` and chroots into `rootfs`.
fn chroot_target(rootfs: &Path, name: &str) -> Target {
    mount_raw(Some("tmpfs"), rootfs, Some("tmpfs"), 0, Some("mode=0755")).expect("mount rootfs");
    std::fs::create_dir_all(rootfs.join("var")).unwrap();
    std::fs::create_dir_all(rootfs.join("run")).unwrap();
    std::os::unix::fs::symlink("/run", rootfs.join("var/run")).unwrap();
    let rootfs = rootfs.to_path_buf();
    let name = name.to_string();
    Target::spawn_in_mount_ns(move || {
        mount_raw(Some("tmpfs"), rootfs.join("run"), Some("tmpfs"), 0, None).expect("mount run");
        std::fs::write(rootfs.join("run").join(&name), CONTENT).expect("write the file");
        std::os::unix::fs::chroot(&rootfs).expect("chroot");
        std::env::set_current_dir("/").expect("chdir /");
    })
}

/// Detaches the tmpfs on `rootfs` so the temporary directory under it can be removed.
fn unmount(rootfs: &Path) {
    let path = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: umount2(2) with a valid NUL-terminated path.
    let rc = unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(rc, 0, "umount: {}", std::io::Error::last_os_error());
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn wormhole_cat_through_the_host_var_run_symlink() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let name = unique_name();
        let host_symlink = std::fs::read_link("/var/run").is_ok_and(|t| t == Path::new("/run"));
        if host_symlink {
            // The target mounts its own tmpfs on /run; our /run (and the host's) is unchanged.
            let file = Path::new("/run").join(&name);
            let target = Target::spawn_in_mount_ns(|| {
                mount_raw(Some("tmpfs"), "/run", Some("tmpfs"), 0, Some("mode=0755"))
                    .expect("mount tmpfs on /run");
                std::fs::write(&file, CONTENT).expect("write the file");
            });
            assert!(
                !file.exists(),
                "the target's tmpfs leaked into our namespace"
            );
            check_wormhole(&target, &name);
        } else {
            eprintln!("/var/run is not a symlink to /run here: using a chroot rootfs instead");
            let dir = tempfile::tempdir().unwrap();
            let target = chroot_target(dir.path(), &name);
            check_wormhole(&target, &name);
            drop(target);
            unmount(dir.path());
        }
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn wormhole_cat_in_a_chrooted_target() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let name = unique_name();
        let dir = tempfile::tempdir().unwrap();
        let target = chroot_target(dir.path(), &name);
        // In our namespace the rootfs's run/ is empty: the target's tmpfs is not here.
        assert!(!dir.path().join("run").join(&name).exists());
        check_wormhole(&target, &name);

        // Escapes stay in the target's root: `..` is clamped (or refused when strict).
        let pid = target.pid().to_string();
        let run = procroot(["resolve", "--pid", &pid, "/../../var/run"]);
        assert_eq!(run.success().text(), "/run\n");
        let run = procroot([
            "resolve",
            "--pid",
            &pid,
            "--policy",
            "in-root-strict",
            "--json",
            "/../var/run",
        ]);
        // The library's message, which names the wormhole it resolved in.
        run.failure(&format!(
            "procroot: resolve \"/../var/run\" in /proc/{pid}/root: Invalid cross-device link \
             (EXDEV)"
        ));
        let value = run.json();
        assert_eq!(value["error"]["errno"], "EXDEV");
        assert_eq!(value["error"]["code"], 18);
        drop(target);
        unmount(dir.path());
    });
}
