//! `procroot proc` and `procroot doctor` on the built binary: output, JSON shapes, exit codes
//! and error messages.

use std::process::{Command, Stdio};

use serde_json::Value;

/// The outcome of one run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn success(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert_eq!(self.stderr, "", "unexpected stderr: {self:?}");
        self
    }

    fn failure(&self, message: &str) -> &Run {
        assert_eq!(self.code, 1, "expected an operation error: {self:?}");
        assert_eq!(self.stderr, format!("{message}\n"), "{self:?}");
        self
    }

    /// Asserts exit code 1 with one message on stderr that starts with `prefix` and ends with
    /// `suffix`: the library's message for a procfs path names how procfs was acquired
    /// (`in procfs (fsmount)`), which depends on the machine.
    fn failure_between(&self, prefix: &str, suffix: &str) -> &Run {
        assert_eq!(self.code, 1, "expected an operation error: {self:?}");
        assert!(self.stderr.starts_with(prefix), "{prefix:?}: {self:?}");
        assert!(
            self.stderr.ends_with(&format!("{suffix}\n")),
            "{suffix:?}: {self:?}"
        );
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        self
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("stdout is UTF-8")
    }

    fn json(&self) -> Value {
        let text = self.text();
        assert!(text.ends_with('\n'), "no final newline: {text:?}");
        assert_eq!(text.matches('\n').count(), 1, "not one line: {text:?}");
        serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
    }
}

fn procroot(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run procroot");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
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

const FEATURES: [&str; 9] = [
    "openat2",
    "open_tree",
    "fsopen",
    "STATX_MNT_ID_UNIQUE",
    "STATX_ATTR_MOUNT_ROOT",
    "subset=pid",
    "pidns=",
    "MFD_EXEC",
    "pidfd setns",
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
            "kernel",
            "features",
            "procfs",
            "global_proc",
            "proc_overmounts",
            "proc_trustworthy",
            "auto_backend"
        ]
    );
    assert!(value["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    let features = value["features"]
        .as_object()
        .expect("features is an object");
    for feature in FEATURES {
        let status = features[feature]["status"].as_str().expect("status");
        assert!(
            ["yes", "no", "unknown"].contains(&status),
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

#[test]
fn doctor_sees_an_overmount_in_a_private_namespace() {
    if !procroot_testutil::require_privilege("mounting over /proc/sys in a private namespace") {
        return;
    }
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
