//! The second wall through the `procroot` binary: Landlock must hold on its own.
//!
//! The fault-injection test builds the CLI with `--cfg procroot_fault_injection` (in `RUSTFLAGS`:
//! it is no cargo feature, so no `--all-features` or release build can have it), whose resolver
//! follows absolute symlinks from the host's `/` and `..` above the root, as a naive path-joining
//! resolver would (the first wall broken on purpose). It builds it with the same cargo, in a
//! target directory of its own (`<target>/fault-injection`), so that the normal binary and
//! library are never built with it, and `cargo nextest run --workspace` (the README's one test
//! command, which `.ci/run` runs) runs this test like any other; the first run compiles the
//! CLI's dependencies there once (about a minute on two cores), later runs reuse them. Then it
//! runs the hidden-escape attacks: with the sandbox every one fails with `EACCES` and the host's
//! sentinel tree is unchanged; with `--no-sandbox` the same attacks escape, which shows that the
//! test can fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use procroot_testutil::{deny_syscalls, in_child, Cli, Run, Snapshot, Tree};
use serde_json::Value;

/// `SYS_landlock_create_ruleset` (the same number on every architecture).
const SYS_LANDLOCK_CREATE_RULESET: i64 = 444;

fn bin() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Whether the kernel has Landlock; `false` only after a skip that
/// `PROCROOT_ALLOW_SKIP=landlock` allowed (otherwise the test fails here).
fn landlock_available() -> bool {
    match procroot_runtime::sandbox::abi() {
        Ok(_) => true,
        Err(e) => {
            procroot_testutil::skip_unless_allowed(
                "landlock",
                &format!("no Landlock, the second wall cannot be tested: {e}"),
            );
            false
        }
    }
}

/// How long the nested `cargo build` of a fault-injected program may take.
const CARGO_BUILD_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// The CLI built with `--cfg procroot_fault_injection`, in `<target>/fault-injection`.
fn fault_injected_binary() -> &'static Path {
    fault_injected("--bin", "procroot")
}

/// A program of this package (`--bin NAME` or `--example NAME`) built with `--cfg
/// procroot_fault_injection`, in `<target>/fault-injection`.
fn fault_injected(kind: &'static str, name: &'static str) -> &'static Path {
    static BUILT: std::sync::Mutex<Vec<(&'static str, &'static Path)>> =
        std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| *n == name) {
        return path;
    }
    let path: &'static Path = Box::leak(build_fault_injected(kind, name).into_boxed_path());
    built.push((name, path));
    path
}

fn build_fault_injected(kind: &str, name: &str) -> PathBuf {
    {
        // <target>/debug/procroot -> <target>
        let normal = Path::new(env!("CARGO_BIN_EXE_procroot"));
        let target = normal
            .parent()
            .and_then(Path::parent)
            .expect("the binary is in <target>/<profile>/");
        let target_dir = target.join("fault-injection");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        // The caller's own flags (`--cfg procroot_unprivileged`, ...) are kept. Concurrent test
        // processes are serialized by cargo's lock on the target directory.
        let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
        rustflags.push_str(" --cfg procroot_fault_injection");
        let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .current_dir(&workspace)
            .env("RUSTFLAGS", rustflags.trim())
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .args(["build", "--quiet", "--locked", "--offline"])
            .args(["-p", "procroot-cli", kind, name, "--target-dir"])
            .arg(&target_dir)
            .spawn()
            .expect("run cargo");
        // A deadline: a cargo stuck on a lock (another build holding the target directory
        // forever) fails the test instead of hanging it. The first build takes about a minute on
        // two idle cores; the deadline leaves room for a loaded machine.
        let deadline = std::time::Instant::now() + CARGO_BUILD_DEADLINE;
        let status = loop {
            if let Some(status) = cargo.try_wait().expect("wait for cargo") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = cargo.kill();
                let _ = cargo.wait();
                panic!(
                    "building the fault-injected {name} took more than {CARGO_BUILD_DEADLINE:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            status.success(),
            "building the fault-injected {name} failed"
        );
        if kind == "--example" {
            target_dir.join("debug/examples").join(name)
        } else {
            target_dir.join("debug").join(name)
        }
    }
}

/// The hidden-escape attacks' world: a root whose symlinks point at a host sentinel tree (and
/// which sits next to it, for `..`), and an empty host directory for `cp` out.
struct World {
    root: Tree,
    host: Tree,
    out: Tree,
}

impl World {
    fn new() -> World {
        let host = Tree::new(
            "file secret.txt HOSTSECRET\n\
             file victims/keep.txt kept\n\
             file victims/tree/f tree file",
        );
        let root = Tree::new("dir etc");
        root.symlink(host.join("secret.txt"), "filelink");
        root.symlink(host.join("victims"), "dirlink");
        World {
            root,
            host,
            out: Tree::new(""),
        }
    }

    /// `..` from the root to the host tree: both are directories in the same temp dir.
    fn dotdot_secret(&self) -> String {
        let name = self.host.path().file_name().unwrap().to_str().unwrap();
        format!("/../{name}/secret.txt")
    }

    fn run(&self, bin: &Path, sandbox: bool, args: &[&str]) -> Run {
        let mut cli = Cli::new(bin)
            .args(args)
            .root(self.root.path())
            .arg("--json");
        if !sandbox {
            cli = cli.arg("--no-sandbox");
        }
        cli.deadline(Duration::from_secs(30)).run()
    }

    fn attacks(&self) -> Vec<(&'static str, Vec<String>)> {
        let copied = self.out.join("copied").to_str().unwrap().to_owned();
        vec![
            (
                "cat of an absolute symlink to a host file",
                svec(&["cat", "/filelink"]),
            ),
            (
                "cat through .. above the root",
                vec!["cat".into(), self.dotdot_secret()],
            ),
            (
                "mkdir -p through a symlink to a host dir",
                svec(&["mkdir", "-p", "/dirlink/new/sub"]),
            ),
            (
                "write through a symlink to a host dir",
                svec(&["write", "/dirlink/written"]),
            ),
            (
                "rm -r through a symlink to a host dir",
                svec(&["rm", "-r", "/dirlink/tree"]),
            ),
            (
                "cp out through a symlink to a host dir",
                vec!["cp".into(), ":/dirlink/keep.txt".into(), copied],
            ),
        ]
    }
}

fn svec(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The first wall broken on purpose: with the sandbox, every hidden escape is EACCES and the host
/// is untouched; with --no-sandbox, the same attacks reach the host.
#[test]
fn second_wall_holds_when_the_resolver_is_naive() {
    if !landlock_available() {
        return;
    }
    let fault = fault_injected_binary();
    let world = World::new();
    let before = Snapshot::take(world.host.path());
    let out_before = Snapshot::take(world.out.path());

    for (what, args) in world.attacks() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = world.run(fault, true, &args);
        assert_eq!(run.code, 1, "{what}: expected a refusal: {run:?}");
        let errors: Vec<Value> = run
            .json_lines()
            .into_iter()
            .filter(|v| v.get("error").is_some())
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {run:?}");
        assert_eq!(errors[0]["error"]["errno"], "EACCES", "{what}: {run:?}");
        assert!(
            !String::from_utf8_lossy(&run.stdout).contains("HOSTSECRET"),
            "{what}: a host file's bytes were printed"
        );
        before.assert_unchanged(&format!("host tree after {what} (sandboxed)"));
        out_before.assert_unchanged(&format!("cp destination after {what} (sandboxed)"));
    }

    // The same attacks without the second wall escape: the test can fail.
    let mut escaped = Vec::new();
    for (what, args) in world.attacks() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = world.run(fault, false, &args);
        assert_eq!(run.code, 0, "{what} without the sandbox: {run:?}");
        if String::from_utf8_lossy(&run.stdout).contains("HOSTSECRET") {
            escaped.push(what);
        }
    }
    assert_eq!(
        escaped.len(),
        2,
        "both cat attacks printed the host's secret"
    );
    assert!(
        world.host.join("victims/new/sub").is_dir(),
        "mkdir -p escaped"
    );
    assert!(
        world.host.join("victims/written").is_file(),
        "write escaped"
    );
    assert!(!world.host.join("victims/tree").exists(), "rm -r escaped");
    assert_eq!(
        std::fs::read(world.out.join("copied")).unwrap(),
        b"kept",
        "cp out copied the host's file"
    );
}

/// The normal binary has the first wall: the same attacks are refused by the resolver itself,
/// with the sandbox on (the default) as with it off.
#[test]
fn the_normal_binary_stays_in_the_root_either_way() {
    let world = World::new();
    let before = Snapshot::take(world.host.path());
    let out_before = Snapshot::take(world.out.path());
    for sandbox in [true, false] {
        for (what, args) in world.attacks() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = world.run(Path::new(env!("CARGO_BIN_EXE_procroot")), sandbox, &args);
            assert!(
                !String::from_utf8_lossy(&run.stdout).contains("HOSTSECRET"),
                "{what}: printed a host file"
            );
            // Refused by the resolver, for the resolver's reason: inside the root the symlinks'
            // host targets (and the host tree above `..`) do not exist. `mkdir -p` refuses to
            // create a dangling symlink's target. Not EACCES: that would be the sandbox catching
            // an escape the first wall let through.
            let want = if args[0] == "mkdir" {
                "ENOTDIR"
            } else {
                "ENOENT"
            };
            assert_eq!(run.code, 1, "{what} (sandbox {sandbox}): {run:?}");
            let lines = run.json_lines();
            assert_eq!(lines.len(), 1, "{what} (sandbox {sandbox}): {run:?}");
            let error = &lines[0]["error"];
            assert_eq!(error["errno"], want, "{what} (sandbox {sandbox}): {run:?}");
            // The path inside the root: the first argument naming one (`:/x` for `cp`).
            let path = args
                .iter()
                .find(|a| a.starts_with('/') || a.starts_with(":/"));
            assert_eq!(
                error["path"],
                path.unwrap().trim_start_matches(':'),
                "{what}: {run:?}"
            );
            assert_eq!(
                run.message(),
                error["message"].as_str().unwrap(),
                "{what}: stderr says what the JSON error says: {run:?}"
            );
            out_before
                .assert_unchanged(&format!("cp destination after {what} (sandbox {sandbox})"));
        }
        before.assert_unchanged("host tree after the attacks on the normal binary");
    }
}

/// `--no-sandbox` is global: before or after the subcommand.
#[test]
fn no_sandbox_is_a_global_flag() {
    let root = Tree::new("file etc/hostname web");
    for args in [
        ["--no-sandbox", "cat", "/etc/hostname"],
        ["cat", "--no-sandbox", "/etc/hostname"],
    ] {
        let run = bin().args(args).root(root.path()).run();
        run.success();
        assert_eq!(run.text(), "web");
    }
}

/// Without Landlock (here a seccomp filter answers its probe with ENOSYS, as a kernel without
/// it would), commands run as before; `--json` says the sandbox was unavailable (on stderr for
/// `cat`, whose stdout is the file's bytes), and so does doctor.
#[test]
fn without_landlock_commands_run_unconfined_and_say_so() {
    let root = Tree::new("file etc/hostname web");
    in_child(|| {
        deny_syscalls(&[SYS_LANDLOCK_CREATE_RULESET], libc::ENOSYS);
        let run = bin().args(["cat", "/etc/hostname"]).root(root.path()).run();
        run.success();
        assert_eq!(run.text(), "web");
        assert!(run.stderr.is_empty(), "{run:?}");

        let run = bin()
            .args(["cat", "--json", "/etc/hostname"])
            .root(root.path())
            .run();
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.text(), "web");
        let notice: Value = serde_json::from_str(run.stderr.trim()).expect("a JSON notice");
        assert_eq!(notice["sandbox"]["status"], "unavailable");
        assert_eq!(notice["sandbox"]["errno"], "ENOSYS");

        let run = bin().args(["ls", "--json", "/etc"]).root(root.path()).run();
        run.success();
        let lines = run.json_lines();
        assert_eq!(lines.len(), 2, "{run:?}");
        assert_eq!(lines[0]["sandbox"]["status"], "unavailable");
        assert_eq!(lines[1]["entries"][0]["name"], "hostname");

        // --no-sandbox: nothing to say.
        let run = bin()
            .args(["ls", "--json", "--no-sandbox", "/etc"])
            .root(root.path())
            .run();
        assert_eq!(run.success().json_lines().len(), 1);

        let run = bin()
            .args(["mkdir", "--json", "/made"])
            .root(root.path())
            .run();
        run.success();
        assert_eq!(run.json_lines()[0]["sandbox"]["status"], "unavailable");
        assert!(root.join("made").is_dir());

        let doctor = bin().args(["doctor", "--json"]).run();
        let report = doctor.success().json();
        assert_eq!(report["sandbox"]["status"], "unavailable");
        assert_eq!(report["sandbox"]["landlock_abi"], Value::Null);
        let text = bin().args(["doctor"]).run();
        assert!(
            text.success()
                .text()
                .contains("second wall (Landlock): unavailable"),
            "{}",
            text.text()
        );
    });
}

/// doctor reports the kernel's ABI and what each command is allowed.
#[test]
fn doctor_reports_the_landlock_abi_and_the_profiles() {
    let report = bin().args(["doctor", "--json"]).run().success().json();
    let sandbox = &report["sandbox"];
    match procroot_runtime::sandbox::abi() {
        Ok(abi) => {
            assert_eq!(sandbox["status"], "available");
            assert_eq!(sandbox["landlock_abi"], abi);
        }
        Err(_) => assert_eq!(sandbox["status"], "unavailable"),
    }
    let profiles = sandbox["profiles"].as_array().unwrap();
    let commands: Vec<&str> = profiles
        .iter()
        .flat_map(|p| p["commands"].as_array().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    for command in [
        "cat", "mkdir", "mknod", "cp (in)", "cp (out)", "proc", "doctor", "exec",
    ] {
        assert!(
            commands.contains(&command),
            "{command} missing: {commands:?}"
        );
    }
    // The rights themselves, as the guide's table says them (the same source).
    let row = |command: &str| {
        profiles
            .iter()
            .find(|p| {
                p["commands"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == command)
            })
            .unwrap_or_else(|| panic!("{command} missing"))
            .clone()
    };
    let chmod = row("chmod");
    assert_eq!(chmod["confined"], true);
    assert_eq!(chmod["rules"], serde_json::json!([]));
    assert!(chmod["access"].as_str().unwrap().contains("second check"));
    let out = row("cp (out)");
    let dest = &out["rules"][1];
    assert_eq!(dest["tree"], "CopyDestination");
    let rights: Vec<&str> = (dest["rights"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(!rights.contains(&"READ_FILE"), "{rights:?}");
    assert!(rights.contains(&"WRITE_FILE"), "{rights:?}");
    assert_eq!(row("exec")["confined"], false);
    let guide = include_str!("../../../docs/GUIDE.md");
    assert!(
        guide.contains(&format!(
            "| `ls`, `find` | {} |",
            row("ls")["access"].as_str().unwrap()
        )),
        "docs/GUIDE.md and doctor disagree on ls"
    );
}

/// `cp` out never makes a character or block device on the host, even with --special-files:
/// the sandbox refuses it (EACCES); --no-sandbox leaves it to the caller (as root: CAP_MKNOD).
/// FIFOs are still copied out.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cp_out_never_makes_a_device_node_on_the_host() {
    procroot_testutil::require_privilege("mknod(2) of a character device");
    if !landlock_available() {
        return;
    }
    let root = Tree::new("dir dev");
    let node = std::ffi::CString::new(root.join("dev/null").to_str().unwrap()).unwrap();
    // SAFETY: mknod(2) with a NUL-terminated path.
    let rc = unsafe { libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    procroot_testutil::mkfifo(&root.join("dev/fifo"));
    let out = Tree::new("");
    let copy = |src: &str, name: &str, sandbox: bool| {
        let dst = out.join(name);
        let mut cli = bin()
            .args(["cp", "--special-files", "--json", src])
            .arg(&dst)
            .root(root.path());
        if !sandbox {
            cli = cli.arg("--no-sandbox");
        }
        cli.run()
    };
    let run = copy(":/dev/null", "null", true);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json_lines()[0]["error"]["errno"], "EACCES", "{run:?}");
    assert!(std::fs::symlink_metadata(out.join("null")).is_err());
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
    copy(":/dev/fifo", "fifo", true).success();
    copy(":/dev/null", "null", false).success();
    use std::os::unix::fs::FileTypeExt;
    let ft = std::fs::symlink_metadata(out.join("null"))
        .unwrap()
        .file_type();
    assert!(ft.is_char_device());
}

/// A host tree for the metadata attacks: files `a`, `b`, `c`, a directory `d` and a symlink `l`,
/// all with an mtime in 2001; the root's absolute symlinks `/a`, `/b`, `/c`, `/d` point at them
/// and `/h` at the tree.
struct MetadataWorld {
    root: Tree,
    host: Tree,
}

impl MetadataWorld {
    fn new() -> MetadataWorld {
        let host = Tree::new("file a A\nfile b B\nfile c C\ndir d");
        host.symlink("a", "l");
        let t2001 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200);
        for name in ["a", "b", "c", "d"] {
            let f = std::fs::File::open(host.join(name)).unwrap();
            f.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(t2001)
                    .set_modified(t2001),
            )
            .unwrap();
        }
        let root = Tree::new("dir etc");
        for name in ["a", "b", "c", "d"] {
            root.symlink(host.join(name), name);
        }
        root.symlink(host.path(), "h");
        MetadataWorld { root, host }
    }

    fn attacks() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![
            ("chmod of a host file", vec!["chmod", "4777", "/a"]),
            ("chown of a host file", vec!["chown", "4242:4242", "/b"]),
            ("touch of a host file", vec!["touch", "/c"]),
            ("chmod of a host directory", vec!["chmod", "0777", "/d"]),
            (
                "chown --nofollow of a host symlink",
                vec!["chown", "--nofollow", "4242:4242", "/h/l"],
            ),
        ]
    }

    fn run(&self, bin: &Path, sandbox: bool, args: &[&str]) -> Run {
        let mut cli = Cli::new(bin)
            .args(args)
            .root(self.root.path())
            .arg("--json");
        if !sandbox {
            cli = cli.arg("--no-sandbox");
        }
        cli.deadline(Duration::from_secs(30)).run()
    }
}

/// Landlock does not mediate chmod, chown or utimensat: with the first wall broken, the
/// library's second check stops them (EACCES, naming the check) and the host is unchanged, times
/// included; with --no-sandbox (which turns the check off too) the same commands change the
/// host.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_second_check_stops_metadata_changes_when_the_resolver_is_naive() {
    procroot_testutil::require_privilege("chown(2) to another user");
    let fault = fault_injected_binary();
    let world = MetadataWorld::new();
    let before = Snapshot::take_with_times(world.host.path());
    for (what, args) in MetadataWorld::attacks() {
        let run = world.run(fault, true, &args);
        assert_eq!(run.code, 1, "{what}: expected a refusal: {run:?}");
        let error = &run.json_lines()[0]["error"];
        assert_eq!(error["errno"], "EACCES", "{what}: {run:?}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("refused by the second check"),
            "{what}: {run:?}"
        );
        before.assert_unchanged(&format!("host tree after {what} (sandboxed)"));
    }
    for (what, args) in MetadataWorld::attacks() {
        let run = world.run(fault, false, &args);
        assert_eq!(run.code, 0, "{what} without the sandbox: {run:?}");
    }
    use std::os::unix::fs::MetadataExt;
    let md = |name: &str| std::fs::symlink_metadata(world.host.join(name)).unwrap();
    assert_eq!(md("a").mode() & 0o7777, 0o4777, "chmod escaped");
    assert_eq!(
        (md("b").uid(), md("b").gid()),
        (4242, 4242),
        "chown escaped"
    );
    assert!(md("c").mtime() > 978_307_200, "touch escaped");
    assert_eq!(md("d").mode() & 0o7777, 0o777, "chmod of a dir escaped");
    assert_eq!(md("l").uid(), 4242, "chown --nofollow escaped");
}

/// The normal binary refuses nothing legitimate and touches no host file either way.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_normal_binary_changes_metadata_inside_the_root_only() {
    procroot_testutil::require_privilege("chown(2) to another user");
    let world = MetadataWorld::new();
    let before = Snapshot::take_with_times(world.host.path());
    let normal = Path::new(env!("CARGO_BIN_EXE_procroot"));
    for sandbox in [true, false] {
        for (what, args) in MetadataWorld::attacks() {
            let run = world.run(normal, sandbox, &args);
            assert_eq!(
                run.code, 1,
                "{what}: the targets do not exist in the root: {run:?}"
            );
        }
        before.assert_unchanged("host tree after the attacks on the normal binary");
    }
    world.root.write("etc/f", b"x");
    for args in [
        vec!["chmod", "4755", "/etc/f"],
        vec!["chown", "7:8", "/etc/f"],
        vec!["touch", "/etc/f", "/etc", "/"],
    ] {
        world.run(normal, true, &args).success();
    }
}

/// A fault-injection binary says what it is: in --version, in doctor (text and JSON), and in a
/// warning on stderr before every command. The normal binary says none of it.
#[test]
fn the_fault_injected_binary_is_marked() {
    let fault = fault_injected_binary();
    let normal = Path::new(env!("CARGO_BIN_EXE_procroot"));
    let warning = "warning: this is a FAULT-INJECTION build";
    // Every run of the fault-injected binary: exit 0 and the warning on stderr.
    let faulty = |args: &[&str], root: Option<&Path>| {
        let mut cli = Cli::new(fault).args(args);
        if let Some(root) = root {
            cli = cli.root(root);
        }
        let run = cli.run();
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.contains(warning), "{run:?}");
        run
    };
    let version = Cli::new(fault).arg("--version").run();
    assert!(
        version.success().text().contains("FAULT-INJECTION"),
        "{version:?}"
    );
    let version = Cli::new(normal).arg("--version").run();
    assert!(!version.success().text().contains("FAULT"), "{version:?}");

    assert!(faulty(&["doctor"], None)
        .text()
        .contains("build: FAULT-INJECTION"));
    assert_eq!(
        faulty(&["doctor", "--json"], None).json()["fault_injection"],
        true
    );
    assert_eq!(
        Cli::new(normal)
            .args(["doctor", "--json"])
            .run()
            .success()
            .json()["fault_injection"],
        false
    );

    let root = Tree::new("file etc/hostname web");
    assert_eq!(
        faulty(&["cat", "/etc/hostname"], Some(root.path())).text(),
        "web"
    );
    let run = Cli::new(normal)
        .args(["cat", "/etc/hostname"])
        .root(root.path())
        .run();
    assert!(!run.success().stderr.contains(warning), "{run:?}");
}

/// No cargo feature or profile can turn fault injection on: the feature the first review found
/// (`--features fault-injection`, even with debug assertions in a release build) does not
/// exist, so `--all-features` builds (and runs the_normal_binary_stays_in_the_root_either_way
/// on) the normal library.
#[test]
fn no_cargo_feature_turns_fault_injection_on() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(&workspace)
        .args(["check", "--release", "--offline", "-p", "procroot"])
        .args(["--features", "fault-injection"])
        .args(["--config", "profile.release.debug-assertions=true"])
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("fault-injection"), "{stderr}");
    assert!(stderr.contains("feature"), "{stderr}");
    for manifest in [
        "crates/procroot/Cargo.toml",
        "crates/procroot-cli/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(workspace.join(manifest)).unwrap();
        assert!(
            !text.contains("fault-injection ="),
            "{manifest} has the feature again"
        );
    }
}

/// Every command Landlock confines, with the first wall broken: the hidden escape (through an
/// absolute symlink to a host file or directory) is EACCES and the host, the root's neighbours
/// and the copy's destination are unchanged; with --no-sandbox the same command escapes.
#[test]
fn every_confined_command_is_stopped_when_the_resolver_is_naive() {
    if !landlock_available() {
        return;
    }
    let fault = fault_injected_binary();
    let source = Tree::new("file src.txt from the host");
    let src = source.join("src.txt").to_str().unwrap().to_owned();
    let attacks: Vec<(&str, Vec<String>)> = vec![
        ("cat", svec(&["cat", "/filelink"])),
        ("ls", svec(&["ls", "/dirlink"])),
        ("find", svec(&["find", "/dirlink"])),
        ("audit", svec(&["audit", "/dirlink"])),
        ("mkdir", svec(&["mkdir", "/dirlink/new"])),
        ("rm", svec(&["rm", "/dirlink/keep.txt"])),
        ("rm -r", svec(&["rm", "-r", "/dirlink/tree"])),
        (
            "mv out of the host",
            svec(&["mv", "/dirlink/keep.txt", "/etc/stolen"]),
        ),
        (
            "mv into the host",
            svec(&["mv", "/etc/f", "/dirlink/planted"]),
        ),
        ("ln", svec(&["ln", "/dirlink/keep.txt", "/dirlink/linked"])),
        ("ln -s", svec(&["ln", "-s", "x", "/dirlink/symlink"])),
        ("mknod", svec(&["mknod", "/dirlink/fifo", "p"])),
        ("touch (new)", svec(&["touch", "/dirlink/touched"])),
        ("write", svec(&["write", "/dirlink/written"])),
        (
            "write --append",
            svec(&["write", "--append", "/dirlink/keep.txt"]),
        ),
        (
            "cp in",
            vec!["cp".into(), src.clone(), ":/dirlink/copied".into()],
        ),
        ("cp out", svec(&["cp", ":/dirlink/keep.txt", "OUT/copied"])),
    ];
    for (what, args) in &attacks {
        for sandbox in [true, false] {
            let world = World::new();
            world.root.write("etc/f", b"in the root");
            if *what == "audit" {
                // Something audit reports, so that an escaped audit prints the host's name.
                let keep = world.host.join("victims/keep.txt");
                std::fs::set_permissions(keep, std::os::unix::fs::PermissionsExt::from_mode(0o666))
                    .unwrap();
            }
            let out = world.out.path().to_str().unwrap();
            let args: Vec<String> = args.iter().map(|a| a.replace("OUT", out)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let host = Snapshot::take(world.host.path());
            let out_before = Snapshot::take(world.out.path());
            let run = world.run(fault, sandbox, &args);
            let stdout = String::from_utf8_lossy(&run.stdout);
            // What was printed other than errors (which name the path they refused).
            let leaked = stdout
                .lines()
                .filter(|l| !l.starts_with("{\"error\""))
                .any(|l| l.contains("HOSTSECRET") || l.contains("keep.txt"));
            let changed = host.difference(&host.retake()).is_some()
                || out_before.difference(&out_before.retake()).is_some();
            if sandbox {
                assert_eq!(run.code, 1, "{what}: expected a refusal: {run:?}");
                let errors: Vec<Value> = run
                    .json_lines()
                    .into_iter()
                    .filter(|v| v.get("error").is_some())
                    .collect();
                assert_eq!(errors.len(), 1, "{what}: {run:?}");
                assert_eq!(errors[0]["error"]["errno"], "EACCES", "{what}: {run:?}");
                assert!(!leaked, "{what}: printed a host file or listing: {run:?}");
                assert!(!changed, "{what}: changed the host: {run:?}");
            } else {
                assert_eq!(run.code, 0, "{what} without the sandbox: {run:?}");
                assert!(
                    leaked || changed,
                    "{what} did not escape without the sandbox"
                );
            }
        }
    }
}

/// `cp` out may make and write the copy, never read beside it: a root symlink to a host
/// directory next to the destination cannot be used to copy a host secret out (issue 20,
/// section 7). Without the sandbox it is (the test can fail).
#[test]
fn cp_out_cannot_read_beside_its_destination() {
    if !landlock_available() {
        return;
    }
    let fault = fault_injected_binary();
    let t = Tree::new("dir root\nfile host/secret HOSTSECRET");
    t.symlink(t.join("host"), "root/data");
    let stolen = t.join("stolen");
    let run_cp = |sandbox: bool| {
        let mut cli = Cli::new(fault)
            .args(["cp", "--json", ":/data/secret"])
            .arg(&stolen)
            .root(t.join("root"));
        if !sandbox {
            cli = cli.arg("--no-sandbox");
        }
        cli.deadline(Duration::from_secs(30)).run()
    };
    let run = run_cp(true);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json_lines()[0]["error"]["errno"], "EACCES", "{run:?}");
    assert!(
        std::fs::symlink_metadata(&stolen).is_err(),
        "the secret was copied"
    );
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "a temporary was left: {left:?}");
    run_cp(false);
    assert_eq!(std::fs::read(&stolen).unwrap(), b"HOSTSECRET");
}

/// Moving and linking device nodes work confined (Landlock counts them as making the device,
/// which mv and ln are allowed for exactly that), and the nodes keep their numbers (issue 20,
/// section 8).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn mv_and_ln_of_device_nodes_work_confined() {
    procroot_testutil::require_privilege("mknod(2) of device nodes");
    if !landlock_available() {
        return;
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let root = Tree::new("dir dev\ndir old");
    for (name, kind, dev) in [
        ("dev/null", libc::S_IFCHR, libc::makedev(1, 3)),
        ("dev/sda", libc::S_IFBLK, libc::makedev(8, 0)),
    ] {
        let path = std::ffi::CString::new(root.join(name).to_str().unwrap()).unwrap();
        // SAFETY: mknod(2) with a NUL-terminated path.
        let rc = unsafe { libc::mknod(path.as_ptr(), kind | 0o600, dev) };
        assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    }
    for args in [
        vec!["mv", "/dev/null", "/dev/null.orig"],
        vec!["mv", "/dev/sda", "/old/sda"],
        vec!["ln", "/dev/null.orig", "/dev/null2"],
        vec!["mv", "--exchange", "/dev/null2", "/old/sda"],
    ] {
        bin().args(&args).root(root.path()).run().success();
    }
    let md = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    assert!(md("dev/null.orig").file_type().is_char_device());
    assert_eq!(md("dev/null.orig").rdev(), libc::makedev(1, 3));
    // Exchanged: /old/sda is now the second link to 1:3, /dev/null2 the disk.
    assert_eq!(md("old/sda").rdev(), libc::makedev(1, 3));
    assert_eq!(md("old/sda").ino(), md("dev/null.orig").ino());
    assert!(md("dev/null2").file_type().is_block_device());
    assert_eq!(md("dev/null2").rdev(), libc::makedev(8, 0));
}

/// At Landlock ABI 1 (Linux 5.13-5.18; here a test-only override of the fault-injection
/// build), a confined process cannot rename or link into another directory at all: mv and ln
/// run without Landlock instead of failing with a bare EXDEV, and --json says so (issue 20,
/// section 9). Other commands stay confined.
#[test]
fn at_landlock_abi_1_mv_and_ln_work_and_say_they_are_unconfined() {
    if !landlock_available() {
        return;
    }
    let fault = fault_injected_binary();
    let root = Tree::new("file a/x x\nfile a/y y\ndir b");
    let run = |args: &[&str]| {
        Cli::new(fault)
            .args(args)
            .arg("--json")
            .root(root.path())
            .env("PROCROOT_TEST_LANDLOCK_ABI", "1")
            .run()
    };
    let doctor = Cli::new(fault)
        .args(["doctor", "--json"])
        .env("PROCROOT_TEST_LANDLOCK_ABI", "1")
        .run();
    assert_eq!(doctor.json()["sandbox"]["landlock_abi"], 1, "{doctor:?}");
    for args in [["mv", "/a/x", "/b/x"], ["ln", "/a/y", "/b/y"]] {
        let out = run(&args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        let lines = out.json_lines();
        assert_eq!(lines[0]["sandbox"]["status"], "unavailable", "{out:?}");
        assert_eq!(lines[0]["sandbox"]["landlock_abi"], 1, "{out:?}");
        assert!(
            lines[0]["sandbox"]["message"]
                .as_str()
                .unwrap()
                .contains("ABI 1"),
            "{out:?}"
        );
    }
    assert_eq!(std::fs::read(root.join("b/x")).unwrap(), b"x");
    assert_eq!(std::fs::read(root.join("b/y")).unwrap(), b"y");
    // mkdir needs no REFER: still confined at ABI 1, no notice.
    let out = run(&["mkdir", "/c"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.json_lines()[0].get("sandbox").is_none(), "{out:?}");
}

/// `set_xattr` is not mediated by Landlock either: with the first wall broken, the second check
/// refuses an xattr write that reaches a host file (EACCES), and the host file has no new
/// attribute; without the check the write lands on the host file.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn the_second_check_stops_xattr_writes_when_the_resolver_is_naive() {
    procroot_testutil::require_privilege("trusted.* xattrs");
    let program = fault_injected("--example", "set_xattr");
    let host = Tree::new("file x host file");
    let root = Tree::new("dir etc");
    root.symlink(host.join("x"), "x");
    // trusted.*: every file system that has xattrs takes them from root (user.* needs tmpfs 6.6+).
    let run = |check: bool| {
        let mut cmd = Command::new(program);
        cmd.arg(root.path())
            .args(["/x", "trusted.procroot", "evil"]);
        if !check {
            cmd.arg("--no-second-check");
        }
        cmd.output().expect("run set_xattr")
    };
    let read = || {
        let path = std::ffi::CString::new(host.join("x").to_str().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        // SAFETY: getxattr(2) with NUL-terminated strings and a buffer of the length passed.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                c"trusted.procroot".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    };
    let before = Snapshot::take_with_times(host.path());
    let out = run(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("EACCES "), "{stdout}");
    assert!(stdout.contains("refused by the second check"), "{stdout}");
    assert_eq!(read(), None, "the host file got the attribute");
    before.assert_unchanged("host tree after set_xattr (checked)");
    let out = run(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        read().as_deref(),
        Some(&b"evil"[..]),
        "the unchecked write escaped"
    );
}

/// `unpack` with the first wall broken on purpose: an entry under a root symlink to a host
/// directory (which the naive resolver follows out of the root) is stopped by Landlock, whether
/// the unpacker then stops (EACCES) or skips the entry naming EACCES; the host is untouched.
/// Without the sandbox the entry lands on the host (the test can fail).
#[test]
fn unpack_is_stopped_when_the_resolver_is_naive() {
    if !landlock_available() {
        return;
    }
    let fault = fault_injected_binary();
    // One entry, `dirlink/planted`, in a plain tar (ustar header by hand: no tar crate needed).
    let mut layer = vec![0u8; 512];
    let name = b"dirlink/planted";
    layer[..name.len()].copy_from_slice(name);
    layer[100..107].copy_from_slice(b"0000644");
    layer[108..115].copy_from_slice(b"0000000");
    layer[116..123].copy_from_slice(b"0000000");
    layer[124..135].copy_from_slice(b"00000000004");
    layer[136..147].copy_from_slice(b"14000000000");
    layer[156] = b'0';
    layer[257..263].copy_from_slice(b"ustar\0");
    layer[263..265].copy_from_slice(b"00");
    layer[148..156].copy_from_slice(b"        ");
    let sum: u32 = layer.iter().map(|&b| u32::from(b)).sum();
    layer[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut data = b"evil".to_vec();
    data.resize(512, 0);
    layer.extend_from_slice(&data);
    layer.extend_from_slice(&[0u8; 1024]);
    for sandbox in [true, false] {
        let world = World::new();
        let file = world.out.join("layer.tar");
        std::fs::write(&file, &layer).unwrap();
        let host = Snapshot::take(world.host.path());
        let run = world.run(fault, sandbox, &["unpack", file.to_str().unwrap()]);
        let changed = host.difference(&host.retake());
        if sandbox {
            assert!(
                changed.is_none(),
                "unpack changed the host: {changed:?} {run:?}"
            );
            let text = String::from_utf8_lossy(&run.stdout);
            assert!(
                text.contains("EACCES") || text.contains("Permission denied"),
                "{run:?}"
            );
        } else {
            assert!(
                world.host.join("victims/planted").is_file(),
                "unpack did not escape without the sandbox: {run:?}"
            );
        }
    }
}

/// `strace -f -e trace=fsopen,fsconfig` of `procroot ARGS`, or `None` (after a skip that
/// `PROCROOT_ALLOW_SKIP=strace` allowed) without strace: the procfs instances the run made,
/// as (all, unmasked: without `subset=pid`).
fn procfs_instances(args: &[&str]) -> Option<(usize, usize)> {
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=fsopen,fsconfig", "-o"])
        .arg(log.path())
        .arg(env!("CARGO_BIN_EXE_procroot"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(status) => assert!(status.success(), "procroot {args:?} under strace: {status}"),
        Err(e) => {
            procroot_testutil::skip_unless_allowed("strace", &format!("no strace: {e}"));
            return None;
        }
    }
    let text = std::fs::read_to_string(log.path()).expect("strace log");
    let all = text.matches("fsopen(\"proc\"").count();
    let masked = text.matches("\"subset\", \"pid\"").count();
    Some((all, all - masked))
}

/// What the sandbox costs at start-up is Landlock's own syscalls, not procfs instances
/// (BENCHMARKS.md §6): with `--backend auto` no command reads `fs.protected_symlinks` before
/// confining (the unmasked instance it needs), and a command that does not use procroot's
/// procfs handle once confined (`rm`, `mkdir`, `ls`, ...) does not make it either. Each
/// confined command makes at most the instances it makes with `--no-sandbox`, plus the procfs
/// handle where it uses it after confining (the second check of `chmod` and `touch`); before,
/// every confined command made two.
#[test]
fn the_sandbox_adds_no_procfs_instance_a_command_does_not_use() {
    if !landlock_available() {
        return;
    }
    let tree = Tree::new("file etc/f F\nsymlink etc/l f\ndir d");
    let root = tree.path().to_str().expect("UTF-8 temp path");
    // (arguments, whether the command uses the procfs handle only when confined)
    let commands: &[(&[&str], bool)] = &[
        (&["cat", "/etc/f"], false),
        (&["ls", "/etc"], false),
        (&["stat", "/etc/f"], false),
        (&["resolve", "/etc/l"], false),
        (&["readlink", "/etc/l"], false),
        (&["mkdir", "/new"], false),
        (&["mkdir", "-p", "/a/b"], false),
        (&["ln", "-s", "x", "/s"], false),
        (&["write", "/w"], false),
        (&["mv", "/s", "/s2"], false),
        (&["rm", "/w"], false),
        (&["chmod", "600", "/etc/f"], true),
        (&["touch", "/etc/f"], true),
    ];
    for (args, second_check) in commands {
        let mut with = vec![args[0], "--root", root];
        with.extend(&args[1..]);
        let mut without = with.clone();
        without.insert(1, "--no-sandbox");
        // The unconfined run first, then what it changed is put back, so that the confined
        // run does the same.
        let Some((unconfined, _)) = procfs_instances(&without) else {
            return;
        };
        undo(&tree, args);
        let (confined, unmasked) = procfs_instances(&with).expect("strace ran once");
        assert_eq!(
            unmasked, 0,
            "{args:?}: an unmasked procfs (for the sysctl) when confined"
        );
        assert!(
            confined <= unconfined + usize::from(*second_check),
            "{args:?}: {confined} procfs instances confined, {unconfined} with --no-sandbox"
        );
    }
    let Some((n, _)) = procfs_instances(&["completions", "bash"]) else {
        return;
    };
    assert_eq!(n, 0, "completions makes no procfs instance");
}

/// Puts back what the unconfined run of `args` changed, so that the confined run does the same.
fn undo(tree: &Tree, args: &[&str]) {
    let path = |p: &str| tree.join(p.trim_start_matches('/'));
    match args {
        ["mkdir", "/new"] => std::fs::remove_dir(path("/new")).unwrap(),
        ["mkdir", "-p", "/a/b"] => std::fs::remove_dir_all(path("/a")).unwrap(),
        ["ln", "-s", _, link] => std::fs::remove_file(path(link)).unwrap(),
        ["write", file] => std::fs::remove_file(path(file)).unwrap(),
        ["mv", from, to] => std::fs::rename(path(to), path(from)).unwrap(),
        ["rm", file] => std::fs::write(path(file), b"").unwrap(),
        _ => {}
    }
}
