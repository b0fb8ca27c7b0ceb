//! `procroot audit` (issue 24, section 3): a tree with one entry of each class, the JSON and
//! text reports, `--fail-on`'s exit status, and agreement with GNU find on real trees.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use procroot_testutil::cli::Cli;
use procroot_testutil::Tree;
use serde_json::{json, Value};

fn procroot() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// `mknod(path, type | 0600, makedev(major, minor))`.
fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is NUL-terminated and outlives the call; mknod(2) takes plain integers.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// `setxattr(path, name, value)`.
fn setxattr(path: &Path, name: &str, value: &[u8]) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated, `value` is valid for its length, all outlive the
    // call.
    let rc = unsafe {
        libc::setxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A root with one entry of each class (and harmless look-alikes that must not be reported).
fn class_tree() -> Tree {
    let tree = Tree::new(
        "dir dev
         file usr/bin/busybox x
         file usr/bin/su x
         file usr/bin/wall x
         file usr/bin/ping x
         file usr/bin/plain x
         symlink bin usr/bin
         symlink sh /bin/busybox
         symlink etc/up ../../../etc/shadow
         symlink etc/fine ../usr/bin/plain
         file srv/open x
         dir srv/opendir
         dir tmp
         symlink tmp/foreign x
         symlink tmp/mine y
         symlink lib/magic ../proc/1/cwd
         symlink lib/magic-abs /proc/self/root
         dir run",
    );
    let p = |rel: &str| tree.join(rel);
    mknod(&p("dev/null"), libc::S_IFCHR, 1, 3);
    mknod(&p("dev/zero"), libc::S_IFCHR, 8, 0);
    mknod(&p("dev/sda"), libc::S_IFBLK, 8, 0);
    chmod(&p("usr/bin/su"), 0o4755);
    std::fs::hard_link(p("usr/bin/su"), p("usr/bin/su.old")).unwrap();
    chmod(&p("usr/bin/wall"), 0o2755);
    chmod(&p("usr/bin/ping"), 0o755);
    chmod(&p("usr/bin/plain"), 0o755);
    // cap_net_raw permitted and effective, version 2.
    let mut caps = 0x0200_0001u32.to_le_bytes().to_vec();
    for word in [1u32 << 13, 0, 0, 0] {
        caps.extend(word.to_le_bytes());
    }
    setxattr(&p("usr/bin/ping"), "security.capability", &caps);
    chmod(&p("srv/open"), 0o666);
    chmod(&p("srv/opendir"), 0o777);
    chmod(&p("tmp"), 0o1777);
    std::os::unix::fs::lchown(p("tmp/foreign"), Some(1000), Some(1000)).unwrap();
    procroot_testutil::mkfifo(&p("run/fifo"));
    // Bound and dropped: the socket file stays.
    drop(std::os::unix::net::UnixListener::bind(p("run/sock")).unwrap());
    tree
}

/// The (class, path) pairs of a JSON report.
fn classes(lines: &[Value]) -> BTreeSet<(String, String)> {
    lines
        .iter()
        .map(|v| {
            (
                v["class"].as_str().unwrap().to_owned(),
                v["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every class is found where it is and nowhere else, with its fields, on both backends and
/// with and without Landlock: the default devices with their standard numbers, a relative
/// link that stays inside, a sticky directory and a root-owned link in it are not reported.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root (mknod, security.capability, chown)"
)]
fn finds_one_of_each_class() {
    procroot_testutil::require_privilege("mknod, security.capability and chown");
    let tree = class_tree();
    let want: BTreeSet<(String, String)> = [
        ("device", "/dev/zero"),
        ("device", "/dev/sda"),
        ("setuid", "/usr/bin/su"),
        ("setuid", "/usr/bin/su.old"),
        ("hardlinked-setid", "/usr/bin/su"),
        ("hardlinked-setid", "/usr/bin/su.old"),
        ("setgid", "/usr/bin/wall"),
        ("capabilities", "/usr/bin/ping"),
        ("world-writable", "/srv/open"),
        ("world-writable", "/srv/opendir"),
        ("fifo", "/run/fifo"),
        ("socket", "/run/sock"),
        ("escaping-symlink", "/sh"),
        ("escaping-symlink", "/etc/up"),
        ("sticky-foreign-link", "/tmp/foreign"),
        ("magic-link-name", "/lib/magic"),
        ("magic-link-name", "/lib/magic-abs"),
        ("escaping-symlink", "/lib/magic-abs"),
    ]
    .iter()
    .map(|(c, p)| (c.to_string(), p.to_string()))
    .collect();
    for backend in ["kernel", "emulated"] {
        for sandbox in [None, Some("--no-sandbox")] {
            let run = procroot()
                .args(["audit", "--json", "--backend", backend])
                .args(sandbox)
                .root(tree.path())
                .run();
            run.success();
            let lines = run.json_lines();
            assert_eq!(classes(&lines), want, "{backend} {sandbox:?}");
            let find = |class: &str, path: &str| {
                lines
                    .iter()
                    .find(|v| v["class"] == class && v["path"] == path)
                    .unwrap()
                    .clone()
            };
            assert_eq!(
                find("device", "/dev/sda"),
                json!({"class": "device", "path": "/dev/sda", "type": "block", "major": 8,
                       "minor": 0, "uid": 0, "gid": 0, "mode": "0600"})
            );
            assert_eq!(find("device", "/dev/zero")["type"], "char");
            assert_eq!(
                find("setuid", "/usr/bin/su"),
                json!({"class": "setuid", "path": "/usr/bin/su", "uid": 0, "gid": 0,
                       "mode": "4755"})
            );
            assert_eq!(find("hardlinked-setid", "/usr/bin/su")["nlink"], 2);
            assert_eq!(
                find("capabilities", "/usr/bin/ping"),
                json!({"class": "capabilities", "path": "/usr/bin/ping",
                       "capabilities": "cap_net_raw+ep", "rootid": null, "uid": 0, "gid": 0,
                       "mode": "0755"})
            );
            assert_eq!(find("world-writable", "/srv/opendir")["type"], "dir");
            assert_eq!(
                find("escaping-symlink", "/sh"),
                json!({"class": "escaping-symlink", "path": "/sh", "target": "/bin/busybox",
                       "inside": "/usr/bin/busybox", "inside_error": null,
                       "host": "/bin/busybox"})
            );
            // `..` above the root: beside the root on the host, and nothing inside.
            let up = find("escaping-symlink", "/etc/up");
            assert_eq!(up["target"], "../../../etc/shadow");
            assert_eq!(up["inside"], Value::Null);
            assert_eq!(up["inside_error"], "ENOENT");
            let beside = tree
                .path()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("etc/shadow");
            assert_eq!(up["host"], beside.to_str().unwrap());
            assert_eq!(
                find("sticky-foreign-link", "/tmp/foreign"),
                json!({"class": "sticky-foreign-link", "path": "/tmp/foreign", "target": "x",
                       "uid": 1000, "dir": "/tmp", "dir_uid": 0})
            );
            assert_eq!(
                find("magic-link-name", "/lib/magic")["target"],
                "../proc/1/cwd"
            );
        }
    }

    // Text: a count per class, then the findings grouped by class.
    let run = procroot().arg("audit").root(tree.path()).run();
    run.success();
    let text = run.text();
    let (summary, rest) = text
        .split_once("\n\n")
        .expect("a blank line after the counts");
    assert_eq!(
        summary,
        "device: 2\nsetuid: 2\nsetgid: 1\ncapabilities: 1\nhardlinked-setid: 2\n\
         world-writable: 2\nfifo: 1\nsocket: 1\nescaping-symlink: 3\nsticky-foreign-link: 1\n\
         magic-link-name: 2"
    );
    assert!(
        rest.lines().any(|l| l
            == "escaping-symlink \"/sh\": target \"/bin/busybox\", inside \"/usr/bin/busybox\", \
                host would read \"/bin/busybox\""),
        "{rest}"
    );
    assert!(
        rest.lines().any(|l| l
            == "capabilities \"/usr/bin/ping\": capabilities cap_net_raw+ep, uid 0, gid 0, mode 0755"),
        "{rest}"
    );
    let order: Vec<&str> = rest.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let mut grouped = order.clone();
    grouped.dedup();
    let distinct: BTreeSet<&str> = order.iter().copied().collect();
    assert_eq!(
        grouped.len(),
        distinct.len(),
        "not grouped by class: {rest}"
    );

    // --fail-on: 1 when a finding of a listed class was made, 0 otherwise, 2 for a bad name.
    let gate = |classes: &str| {
        procroot()
            .args(["audit", "--json", "--fail-on", classes])
            .root(tree.path())
            .run()
    };
    let run = gate("fifo");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        classes(&run.json_lines()),
        want,
        "the report is still complete"
    );
    assert_eq!(gate("all").code, 1);
    assert_eq!(gate("device,setuid,escaping-symlink").code, 1);
    procroot()
        .args(["audit", "--fail-on", "fifo", "/usr"])
        .root(tree.path())
        .run()
        .success();
    procroot()
        .args(["audit", "--fail-on", "nope"])
        .root(tree.path())
        .run()
        .usage_error("nope");
}

/// On a real distribution tree, the set-ID findings are exactly `find -perm /6000` and the
/// capabilities what `getcap -r` decodes, and on a real /dev the device findings are exactly
/// `find -type b,c` (no default set applies there: the paths are not under the root's /dev).
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: /usr has directories only root may read"
)]
fn setid_and_devices_match_gnu_find_on_real_trees() {
    procroot_testutil::require_privilege("reading all of /usr");
    let find = |root: &str, args: &[&str]| -> BTreeSet<String> {
        let out = Command::new("find")
            .arg(root)
            .arg("-xdev")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let rel = &l[root.len()..];
                if rel.is_empty() {
                    "/".to_owned()
                } else {
                    rel.to_owned()
                }
            })
            .collect()
    };
    let report = |root: &str| -> Vec<Value> {
        let run = procroot().args(["audit", "--json"]).root(root).run();
        run.success();
        run.json_lines()
    };
    let paths = |lines: &[Value], classes: &[&str]| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|v| classes.contains(&v["class"].as_str().unwrap()))
            .map(|v| v["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let usr = report("/usr");
    let setid = find("/usr", &["-perm", "/6000"]);
    assert!(!setid.is_empty(), "no set-ID file in /usr: no test");
    assert_eq!(paths(&usr, &["setuid", "setgid"]), setid);
    // File capabilities: what libcap's `getcap -r` decodes (its first clause says `=` where
    // procroot says `+`). This machine's /usr has one (gst-ptp-helper); a /usr with none
    // compares two empty sets, and `finds_one_of_each_class` still checks the decoder.
    let getcap = Command::new("getcap")
        .args(["-r", "/usr"])
        .output()
        .expect("run getcap (libcap2-bin)");
    let theirs: BTreeSet<(String, String)> = String::from_utf8(getcap.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (path, caps) = l.rsplit_once(' ').unwrap();
            (path["/usr".len()..].to_owned(), caps.replacen('=', "+", 1))
        })
        .collect();
    let ours: BTreeSet<(String, String)> = usr
        .iter()
        .filter(|v| v["class"] == "capabilities")
        .map(|v| {
            let caps = v["capabilities"].as_str().unwrap().to_owned();
            (v["path"].as_str().unwrap().to_owned(), caps)
        })
        .collect();
    assert_eq!(ours, theirs);
    let devices = find("/dev", &["-type", "b,c"]);
    assert!(!devices.is_empty(), "no device in /dev: no test");
    assert_eq!(paths(&report("/dev"), &["device"]), devices);
}

/// `--pid`: `find` and `audit` walk the target's root in its mount namespace (a FIFO on a tmpfs
/// only the target sees), enter that mount only with `--cross-mounts`, and say for an escaping
/// symlink what a host process would read through `/proc/PID/root`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespaces)")]
fn find_and_audit_walk_a_process_root() {
    procroot_testutil::require_privilege("mount namespaces and tmpfs mounts");
    procroot_testutil::in_private_mount_ns(|| {
        let tree = Tree::new("dir run\nsymlink var/run /run\nsymlink etc/up ../../x");
        let rootfs = tree.path().to_path_buf();
        let target = procroot_testutil::Target::spawn_in_mount_ns(move || {
            procroot_testutil::mount_raw(Some("tmpfs"), rootfs.join("run"), Some("tmpfs"), 0, None)
                .expect("mount run");
            procroot_testutil::mkfifo(&rootfs.join("run/fifo"));
            std::os::unix::fs::chroot(&rootfs).expect("chroot");
            std::env::set_current_dir("/").expect("chdir /");
        });
        let pid = target.pid().to_string();
        // Not on our side: the FIFO is on the target's own mount.
        assert!(!tree.join("run/fifo").exists());
        let list = |extra: &[&str]| -> BTreeSet<String> {
            let run = procroot().args(["find", "--pid", &pid]).args(extra).run();
            run.success();
            run.text().lines().map(str::to_owned).collect()
        };
        let plain = list(&[]);
        assert!(
            plain.contains("/run") && !plain.contains("/run/fifo"),
            "{plain:?}"
        );
        assert!(list(&["--cross-mounts"]).contains("/run/fifo"));

        let run = procroot()
            .args(["audit", "--json", "--cross-mounts", "--pid", &pid])
            .run();
        run.success();
        let lines = run.json_lines();
        assert!(
            lines.contains(&json!({"class": "fifo", "path": "/run/fifo", "uid": 0,
                                   "mode": format!("{:04o}", 0o666 & !umask())})),
            "{lines:?}"
        );
        assert!(
            lines.contains(&json!({"class": "escaping-symlink", "path": "/var/run",
                                   "target": "/run", "inside": "/run", "inside_error": null,
                                   "host": "/run"})),
            "{lines:?}"
        );
        let up = lines
            .iter()
            .find(|v| v["path"] == "/etc/up")
            .expect("the climbing link is reported");
        assert_eq!(up["host"], format!("/proc/{pid}/root/etc/../../x"));
        drop(target);
    });
}

/// The process's umask (read without changing it for long: set and restored at once).
fn umask() -> u32 {
    // SAFETY: umask(2) cannot fail; the old mask is put back at once.
    let old = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    old
}

/// A finding whose path is not UTF-8 gets the `_base64` twin in JSON; in the text report a
/// name cannot forge a line or reach the terminal (a newline, an escape sequence and an invalid
/// byte are escaped); `--fail-on` exits 1, and a class not found leaves it at 0.
#[test]
fn non_utf8_paths_and_the_exit_status() {
    let tree = Tree::new("dir run");
    let name = std::ffi::OsStr::from_bytes(b"run/f\xff");
    procroot_testutil::mkfifo(&tree.path().join(name));
    let run = procroot()
        .args(["audit", "--json", "--fail-on", "fifo,socket"])
        .root(tree.path())
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["class"], "fifo");
    assert_eq!(lines[0]["path"], "/run/f\u{fffd}");
    assert_eq!(lines[0]["path_base64"], "L3J1bi9m/w==");
    // A forged report line and a terminal escape (set the window title) in a name.
    procroot_testutil::mkfifo(&tree.join("run/x\nsetuid fake: uid 0\x1b]0;owned\x07"));
    let run = procroot()
        .args(["audit", "--fail-on", "socket"])
        .root(tree.path())
        .run();
    run.success();
    let text = run.text();
    assert!(text.contains("\nfifo \"/run/f\\xff\": uid "), "{text}");
    assert!(
        text.contains("\nfifo \"/run/x\\u{a}setuid fake: uid 0\\u{1b}]0;owned\\u{7}\": "),
        "{text}"
    );
    assert!(
        !text.contains('\x1b') && !text.lines().any(|l| l.starts_with("setuid ")),
        "{text}"
    );
}
