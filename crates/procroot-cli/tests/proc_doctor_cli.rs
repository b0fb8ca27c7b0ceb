//! `procroot proc` and `procroot doctor` on the built binary: output, JSON shapes, exit codes
//! and error messages.

use std::process::{Command, Stdio};

use procroot_testutil::{Cli, Run};
use serde_json::Value;

fn procroot(args: &[&str]) -> Run {
    Cli::new(env!("CARGO_BIN_EXE_procroot")).args(args).run()
}

/// The PID of a process that has exited and been reaped (and, with overwhelming likelihood,
/// not been reused yet).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

// ---- proc -------------------------------------------------------------------------------

#[test]
fn proc_cat_status() {
    for base in [
        &["proc", "--self"][..],
        &["proc"][..],
        &["proc", "--thread-self"][..],
    ] {
        let mut args = base.to_vec();
        args.extend(["cat", "status"]);
        let run = procroot(&args);
        run.success();
        assert!(run.text().starts_with("Name:\tprocroot\n"), "{run:?}");
    }
    let run = procroot(&["proc", "--proc-root", "cat", "sys/kernel/ostype"]);
    assert_eq!(run.success().text(), "Linux\n");
}

#[test]
fn proc_readlink_exe_of_another_process() {
    let pid = std::process::id().to_string();
    let run = procroot(&["proc", "--pid", &pid, "readlink", "exe"]);
    let want = std::fs::read_link("/proc/self/exe").unwrap();
    assert_eq!(
        run.success().text(),
        format!("{}\n", want.display()),
        "the test binary's own exe"
    );
    let run = procroot(&["proc", "--json", "--pid", &pid, "readlink", "exe"]);
    let value = run.success().json();
    assert_eq!(value["path"], format!("/proc/{pid}/exe"));
    assert_eq!(value["target"], want.to_str().unwrap());
}

#[test]
fn proc_ls_fd_json_shape() {
    let value = procroot(&["proc", "ls", "fd", "--json"]).success().json();
    let obj = value.as_object().expect("an object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["path", "entries"]);
    assert_eq!(value["path"], "/proc/self/fd");
    let entries = value["entries"].as_array().expect("entries is an array");
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for fd in ["0", "1", "2"] {
        assert!(names.contains(&fd), "{value}");
    }
    for entry in entries {
        assert_eq!(entry.as_object().unwrap().len(), 2, "{entry}");
        assert_eq!(entry["type"], "symlink", "{entry}");
    }
    // Sorted bytewise.
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Text, with -l.
    let run = procroot(&["proc", "ls", "-l", "fd"]);
    assert!(run.success().text().contains("symlink  0\n"), "{run:?}");
}

#[test]
fn proc_stat_describes_a_magic_link() {
    let value = procroot(&["proc", "--json", "stat", "exe"])
        .success()
        .json();
    assert_eq!(value["path"], "/proc/self/exe");
    assert_eq!(value["type"], "symlink");
}

#[test]
fn proc_cat_of_a_magic_link_is_eloop() {
    procroot(&["proc", "cat", "exe"]).failure_between(
        "procroot: open \"self/exe\" in procfs (",
        "): Too many levels of symbolic links (ELOOP)",
    );
    let run = procroot(&["proc", "--json", "cat", "cwd"]);
    assert_eq!(run.code, 1);
    let value = run.json();
    assert_eq!(value["error"]["errno"], "ELOOP");
    assert_eq!(value["error"]["code"], 40);
}

#[test]
fn proc_dotdot_is_einval() {
    procroot(&["proc", "cat", "../1/status"]).failure_between(
        "procroot: open \"self/../1/status\" in procfs (",
        "): `..` is not allowed in a procfs subpath (EINVAL)",
    );
    let run = procroot(&["proc", "--json", "--proc-root", "ls", "self/.."]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["error"]["errno"], "EINVAL");
}

#[test]
fn proc_of_a_dead_pid_is_esrch() {
    let pid = dead_pid();
    procroot(&["proc", "--pid", &pid.to_string(), "cat", "status"]).failure(&format!(
        "procroot: open pidfd \"{pid}\": No such process (ESRCH)"
    ));
    let run = procroot(&[
        "proc",
        "--json",
        "--pid",
        &pid.to_string(),
        "readlink",
        "exe",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["error"]["errno"], "ESRCH");
}

/// A live process of another user is never reported as exited. Unprivileged, `pidfd_send_signal`
/// answers `EPERM` for it, which procroot used to take as death ("has exited (ESRCH)").
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unprivileged_proc_of_a_live_foreign_process_is_not_esrch() {
    procroot_testutil::require_privilege("a root-owned process and setresuid to 1000");
    let mut sleeper = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = sleeper.id().to_string();
    procroot_testutil::in_child(|| {
        procroot_testutil::become_user(1000);
        // /proc/<pid>/status is world-readable: this must simply work.
        let run = procroot(&["proc", "--pid", &pid, "cat", "status"]);
        run.success();
        assert!(run.text().starts_with("Name:\tsleep\n"), "{run:?}");
        // The root link needs ptrace access, which uid 1000 lacks: a permission error, not
        // "exited".
        for args in [
            &["proc", "--json", "--pid", &pid, "readlink", "root"][..],
            &["cat", "--json", "--pid", &pid, "/etc/hostname"][..],
        ] {
            let run = procroot(args);
            assert_eq!(run.code, 1, "{args:?}: {run:?}");
            assert!(!run.stderr.contains("exited"), "{args:?}: {run:?}");
            let value = run.json();
            assert_ne!(value["error"]["errno"], "ESRCH", "{args:?}: {value}");
            assert!(
                ["EACCES", "EPERM"].contains(&value["error"]["errno"].as_str().unwrap()),
                "{args:?}: {value}"
            );
        }
    });
    sleeper.kill().expect("kill sleep");
    sleeper.wait().expect("wait sleep");
}

#[test]
fn proc_missing_entry_and_usage_errors() {
    procroot(&["proc", "cat", "nope"]).failure_between(
        "procroot: open \"self/nope\" in procfs (",
        "): No such file or directory (ENOENT)",
    );
    let run = procroot(&["proc", "--pid", "1", "--self", "cat", "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    let run = procroot(&["proc", "cat"]);
    assert_eq!(run.code, 2, "{run:?}");
}

// ---- doctor -----------------------------------------------------------------------------

const FEATURES: [&str; 10] = [
    "openat2",
    "open_tree",
    "fsopen",
    "STATX_MNT_ID_UNIQUE",
    "STATX_ATTR_MOUNT_ROOT",
    "subset=pid",
    "pidns=",
    "MFD_EXEC",
    "pidfd setns",
    "PIDFD_GET_*_NAMESPACE",
];

#[test]
fn doctor_text_names_every_feature() {
    let run = procroot(&["doctor"]);
    let text = run.success().text();
    assert!(text.starts_with("kernel: "), "{text}");
    for feature in FEATURES {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(feature)),
            "{feature} missing from {text}"
        );
    }
    for needle in [
        "procfs acquisition",
        "fsmount",
        "procroot uses",
        "global /proc: ",
        "mounts on /proc or below it: ",
        "/proc trustworthy: ",
        "/proc shows: ",
        "/proc/self: ",
        "/proc hides: ",
        "procroot's PID namespace: ",
        "resolver backend (--backend auto): ",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn doctor_json_shape() {
    let value = procroot(&["doctor", "--json"]).success().json();
    let obj = value.as_object().expect("an object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        [
            "fault_injection",
            "kernel",
            "features",
            "procfs",
            "global_proc",
            "proc_overmounts",
            "proc_self_binds",
            "proc_view",
            "pid_namespace",
            "proc_trustworthy",
            "auto_backend",
            "sealed_exe",
            "sandbox"
        ]
    );
    assert!(value["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    let features = value["features"]
        .as_object()
        .expect("features is an object");
    for feature in FEATURES {
        let status = features[feature]["status"].as_str().expect("status");
        assert!(
            ["yes", "no", "refused"].contains(&status),
            "{feature}: {status}"
        );
        if status != "yes" {
            assert!(features[feature]["errno"].is_string(), "{feature}");
        }
    }
    let methods = value["procfs"]["methods"].as_array().expect("methods");
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fsmount", "open_tree", "open"]);
    for method in methods {
        assert!(method["works"].is_boolean(), "{method}");
    }
    let chosen = &value["procfs"]["chosen"];
    assert!(
        chosen.is_null() || names.contains(&chosen.as_str().unwrap()),
        "{chosen}"
    );
    assert!(value["global_proc"]["is_procfs"].is_boolean());
    assert!(value["global_proc"]["is_procfs_root"].is_boolean());
    assert!(value["proc_overmounts"].is_array());
    assert!(value["proc_trustworthy"].is_boolean());
    assert!(["kernel", "emulated"].contains(&value["auto_backend"].as_str().unwrap()));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_sees_an_overmount_in_a_private_namespace() {
    procroot_testutil::require_privilege("mounting over /proc/sys in a private namespace");
    // The mount is made in a child's private mount namespace, and the binary run from there.
    procroot_testutil::in_private_mount_ns(|| {
        procroot_testutil::mount_raw(Some("tmpfs"), "/proc/sys", Some("tmpfs"), 0, None)
            .expect("mount tmpfs on /proc/sys");
        let value = procroot(&["doctor", "--json"]).success().json();
        let mounts = value["proc_overmounts"].as_array().expect("an array");
        assert!(
            mounts
                .iter()
                .any(|m| m["mount_point"] == "/proc/sys" && m["fs_type"] == "tmpfs"),
            "{value}"
        );
        assert_eq!(value["proc_trustworthy"], false);
        let text = procroot(&["doctor"]);
        assert!(text.success().text().contains("/proc trustworthy: no"));
    });
}

// ---- doctor's verdict on a /proc that cannot be trusted -----------------------------------

fn doctor_json() -> Value {
    procroot(&["doctor", "--json"]).success().json()
}

/// `/proc` in this (private) mount namespace: the procfs mounted there is detached, so that a
/// replacement is the only mount at `/proc`.
fn detach_proc() {
    let path = std::ffi::CString::new("/proc").unwrap();
    // SAFETY: a NUL-terminated path and plain flags.
    let rc = unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(rc, 0, "umount /proc: {}", std::io::Error::last_os_error());
}

fn mount_proc(options: Option<&str>) {
    procroot_testutil::mount_raw(Some("proc"), "/proc", Some("proc"), 0, options)
        .unwrap_or_else(|e| panic!("mount proc on /proc ({options:?}): {e}"));
}

#[track_caller]
fn assert_untrusted(value: &Value) {
    assert_eq!(value["proc_trustworthy"], false, "{value}");
    let text = procroot(&["doctor"]);
    assert!(
        text.success().text().contains("/proc trustworthy: no"),
        "{text:?}"
    );
}

/// A procfs of another PID namespace replaces `/proc`: no overmount, but `/proc/self` is
/// missing and `/proc/<n>` are other processes. doctor used to say "trustworthy: yes".
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_distrusts_a_proc_of_another_pid_namespace() {
    procroot_testutil::require_privilege("mounts and PID namespaces");
    procroot_testutil::in_private_mount_ns(|| {
        let (mut ready_r, ready_w) = std::io::pipe().expect("pipe");
        let (release_r, release_w) = std::io::pipe().expect("pipe");
        // SAFETY: fork(2); the child only runs the block below and leaves with _exit(2).
        let child = unsafe { libc::fork() };
        assert!(child >= 0);
        if child == 0 {
            drop(ready_r);
            drop(release_w);
            // SAFETY: unshare(CLONE_NEWPID) takes a plain flag and affects only this process's
            // future children.
            if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
                // SAFETY: _exit(2) leaves this forked child without running the harness's
                // destructors, which belong to the parent.
                unsafe { libc::_exit(2) };
            }
            // SAFETY: fork(2) in the single-threaded forked child; the grandchild is PID 1 of
            // the new namespace, shares our mount namespace, and leaves with _exit(2).
            let init = unsafe { libc::fork() };
            if init == 0 {
                detach_proc();
                mount_proc(None);
                let mut ready_w = ready_w;
                let _ = std::io::Write::write_all(&mut ready_w, b"x");
                let mut release_r = release_r;
                let _ = std::io::Read::read(&mut release_r, &mut [0u8; 1]);
                // SAFETY: as above, the grandchild leaves without the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: waitpid(2) on our own child with a pointer to a local int.
            unsafe { libc::waitpid(init, &mut status, 0) };
            // SAFETY: as above.
            unsafe { libc::_exit(0) };
        }
        drop(ready_w);
        drop(release_r);
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut ready_r, &mut byte).expect("the new /proc is mounted");
        let value = doctor_json();
        drop(release_w);
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
        assert_eq!(value["global_proc"]["is_procfs_root"], true, "{value}");
        assert_eq!(value["proc_view"]["self"], Value::Null, "{value}");
        assert_eq!(value["proc_view"]["self_is_this_process"], false, "{value}");
        assert_eq!(value["proc_view"]["pidns"]["ours"], false, "{value}");
        assert_untrusted(&value);
        // procroot's own namespace is the initial one (these tests run on the host's).
        assert_eq!(value["pid_namespace"]["initial"], true, "{value}");
    });
}

/// A second procfs stacked on `/proc` (even of our own namespace) is an overmount.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_counts_a_second_procfs_on_proc_as_an_overmount() {
    procroot_testutil::require_privilege("mounts in a private namespace");
    procroot_testutil::in_private_mount_ns(|| {
        mount_proc(None);
        let value = doctor_json();
        let mounts = value["proc_overmounts"].as_array().expect("an array");
        assert!(
            mounts
                .iter()
                .any(|m| m["mount_point"] == "/proc" && m["fs_type"] == "proc"),
            "{value}"
        );
        // The view itself is fine: it is this namespace's procfs.
        assert_eq!(value["proc_view"]["self_is_this_process"], true, "{value}");
        assert_eq!(value["proc_view"]["pidns"]["ours"], true, "{value}");
        assert_untrusted(&value);
    });
}

/// A `/proc` that hides things (`subset=pid`: no `/proc/sys`; `hidepid=invisible`: no other
/// users' processes) is not trustworthy for code that opens `/proc/...` by path.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_distrusts_a_proc_that_hides_things() {
    procroot_testutil::require_privilege("mounts in a private namespace");
    for (options, shown) in [
        ("subset=pid", "subset=pid"),
        ("hidepid=invisible", "hidepid=invisible"),
    ] {
        procroot_testutil::in_private_mount_ns(|| {
            detach_proc();
            mount_proc(Some(options));
            let value = doctor_json();
            assert_eq!(value["proc_overmounts"], serde_json::json!([]), "{value}");
            let restrictions = value["proc_view"]["restrictions"]
                .as_array()
                .expect("restrictions");
            assert!(
                restrictions.iter().any(|r| r == shown),
                "{options}: {value}"
            );
            assert_untrusted(&value);
        });
    }
}

/// A read-only self-bind of `/proc/sys` (what container runtimes do) is accepted by the library,
/// and doctor classifies it the same way: listed as a self-bind, not an overmount.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_accepts_a_read_only_self_bind_of_proc_sys() {
    procroot_testutil::require_privilege("mounts in a private namespace");
    procroot_testutil::in_private_mount_ns(|| {
        procroot_testutil::mount_raw(Some("/proc/sys"), "/proc/sys", None, libc::MS_BIND, None)
            .expect("bind /proc/sys onto itself");
        procroot_testutil::mount_raw(
            None,
            "/proc/sys",
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            None,
        )
        .expect("make it read-only");
        let value = doctor_json();
        assert_eq!(value["proc_overmounts"], serde_json::json!([]), "{value}");
        let binds = value["proc_self_binds"].as_array().expect("an array");
        assert!(
            binds.iter().any(|m| m["mount_point"] == "/proc/sys"
                && m["root"] == "/sys"
                && m["options"].as_str().unwrap().starts_with("ro")),
            "{value}"
        );
        assert_eq!(value["proc_trustworthy"], true, "{value}");
        let text = procroot(&["doctor"]);
        assert!(
            text.success().text().contains("self-binds under /proc"),
            "{text:?}"
        );
        // The library reads through it.
        let run = procroot(&["proc", "--proc-root", "cat", "sys/kernel/ostype"]);
        assert_eq!(run.success().text(), "Linux\n");
    });
}

/// As uid 1000, the open_tree method fails with EPERM: the open_tree feature must not say "yes".
/// Every method that fails for want of a privilege has its feature reported as refused.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn unprivileged_doctor_probes_match_the_methods() {
    procroot_testutil::require_privilege("setresuid to 1000");
    procroot_testutil::in_child(|| {
        procroot_testutil::become_user(1000);
        let value = doctor_json();
        let methods = value["procfs"]["methods"].as_array().expect("methods");
        for (method, feature) in [("open_tree", "open_tree"), ("fsmount", "fsopen")] {
            let m = methods
                .iter()
                .find(|m| m["method"] == method)
                .expect("method listed");
            assert_eq!(m["works"], false, "{method} as uid 1000: {value}");
            assert_eq!(m["error"]["errno"], "EPERM", "{method}: {value}");
            assert_eq!(
                value["features"][feature]["status"], "refused",
                "{feature} as uid 1000: {value}"
            );
            assert_eq!(value["features"][feature]["errno"], "EPERM", "{value}");
        }
        let text = procroot(&["doctor"]);
        assert!(
            text.success()
                .text()
                .lines()
                .any(|l| l.trim_start().starts_with("open_tree")
                    && l.ends_with("present, but refused (EPERM)")),
            "{text:?}"
        );
    });
}

// ---- restricted kernels: syscalls refused by a seccomp filter -----------------------------

/// `--pid` without `pidfd_open`: the error names the syscall and keeps its errno.
#[test]
fn proc_pid_without_pidfd_open_names_it() {
    for (errno, name) in [(libc::ENOSYS, "ENOSYS"), (libc::EPERM, "EPERM")] {
        procroot_testutil::in_child(|| {
            procroot_testutil::deny_syscalls(&[libc::SYS_pidfd_open], errno);
            let pid = std::process::id().to_string();
            let run = procroot(&["proc", "--json", "--pid", &pid, "cat", "status"]);
            assert_eq!(run.code, 1, "{run:?}");
            assert_eq!(run.json()["error"]["errno"], name, "{run:?}");
            assert!(run.stderr.contains("pidfd_open"), "{run:?}");
        });
    }
}

/// Without `statx`, procfs still works (mount ids from fdinfo), and doctor reports the statx
/// features with the errno the filter gave (rustix alone would have said ENOSYS for EPERM).
#[test]
fn without_statx_proc_works_and_doctor_says_why() {
    for (errno, status, name) in [
        (libc::ENOSYS, "no", "ENOSYS"),
        (libc::EPERM, "refused", "EPERM"),
    ] {
        procroot_testutil::in_child(|| {
            procroot_testutil::deny_syscalls(&[libc::SYS_statx], errno);
            let want = std::fs::read_link("/proc/self/exe").unwrap();
            let pid = std::process::id().to_string();
            let run = procroot(&["proc", "--pid", &pid, "readlink", "exe"]);
            assert_eq!(run.success().text(), format!("{}\n", want.display()));
            let value = doctor_json();
            for feature in ["STATX_MNT_ID_UNIQUE", "STATX_ATTR_MOUNT_ROOT"] {
                assert_eq!(value["features"][feature]["status"], status, "{value}");
                assert_eq!(value["features"][feature]["errno"], name, "{value}");
            }
        });
    }
}
