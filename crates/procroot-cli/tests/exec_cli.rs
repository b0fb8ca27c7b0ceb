//! `procroot exec` (privileged): entering a target's namespaces, errors, fd leaks, the cwd
//! (CVE-2024-21626) and the sealed self-binary (CVE-2019-5736).
//!
//! Targets are started with util-linux `unshare` in new namespaces (mounts only inside their own
//! mount namespace), and every test runs in a forked child inside a private mount namespace
//! ([`procroot_testutil::in_private_mount_ns`]). Targets are killed and reaped on drop.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use procroot_testutil::container::{Attack, Attacker, StandInContainer};
use procroot_testutil::{in_private_mount_ns, require_privilege, Cli};

const PRIVILEGE: &str = "unshare of uts/mnt/pid/net/ipc namespaces and setns";

/// A target started by `unshare` (the kit's [`procroot_testutil::Target::unshare`]), with its own
/// hostname, a marker tmpfs and loopback only, and a directory of the test's.
struct Target {
    /// The target process (PID 1 of its PID namespace), as we number it.
    pid: u32,
    dir: tempfile::TempDir,
    /// Killed and reaped on drop, with `unshare`.
    _process: procroot_testutil::Target,
}

impl Target {
    /// `unshare --fork --pid --mount-proc --uts --ipc --net --mount`, then `hostname`, a tmpfs
    /// on `<dir>/mnt` holding `marker`, and `<dir>/ready` once done. `extra` adds unshare
    /// options (`--setuid 1000`).
    fn start(extra: &[&str]) -> Target {
        Target::start_wrapped(extra, "")
    }

    /// [`Target::start`], whose final process is run by `wrapper` (a command prefix such as
    /// `setpriv --bounding-set=...`), after the mounts.
    fn start_wrapped(extra: &[&str], wrapper: &str) -> Target {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("mnt")).expect("mkdir mnt");
        let d = dir.path().display();
        let script = if extra.is_empty() {
            format!(
                "hostname exec-target && mount -t tmpfs marker {d}/mnt && echo marker-content > \
                 {d}/mnt/marker && exec {wrapper} sh -c 'touch {d}/ready && exec sleep 120'"
            )
        } else {
            // Dropped privileges: only the namespaces, and a directory it may write to.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            format!("touch {d}/ready && exec sleep 120")
        };
        let mut args = vec![
            "--pid",
            "--mount-proc",
            "--uts",
            "--ipc",
            "--net",
            "--mount",
        ];
        args.extend(extra);
        let process = procroot_testutil::Target::unshare(&args, &script, &dir.path().join("ready"));
        Target {
            pid: process.pid(),
            dir,
            _process: process,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

fn procroot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_procroot"))
}

/// The binary through the kit's [`Cli`]: stdin `/dev/null`, and a deadline (a hung `procroot`
/// fails the test instead of hanging it).
fn cli() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Runs `cli` (with its deadline) and returns what it did as an [`Output`].
fn output(cli: Cli) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let run = cli.run();
    Output {
        status: std::process::ExitStatus::from_raw((run.code & 0xff) << 8),
        stdout: run.stdout,
        stderr: run.stderr.into_bytes(),
    }
}

fn exec(pid: u32, extra: &[&str], cmd: &[&str]) -> Output {
    output(
        cli()
            .args(["exec", "--pid", &pid.to_string()])
            .args(extra)
            .arg("--")
            .args(cmd),
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_sees_the_targets_hostname_mounts_pids_and_network() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        // On the host, the marker mount does not exist.
        assert!(!t.path("mnt/marker").exists());
        let marker = t.path("mnt/marker");
        let script = format!(
            "hostname; cat {}; echo $$; cat /proc/net/dev",
            marker.display()
        );
        let o = exec(t.pid, &[], &["sh", "-c", &script]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("exec-target"), "{out}");
        assert_eq!(lines.next(), Some("marker-content"), "{out}");
        let pid: u32 = lines.next().unwrap().parse().unwrap();
        assert!(
            pid < 10,
            "$$ should be a small PID inside the namespace: {pid}"
        );
        let ifaces: Vec<&str> = lines
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim())
            .collect();
        assert_eq!(ifaces, ["lo"], "{out}");

        // An explicit list, and exit statuses: the command's code, 128+N for a signal.
        let o = exec(t.pid, &["--ns", "uts"], &["sh", "-c", "hostname; exit 7"]);
        assert_eq!(stdout(&o), "exec-target\n");
        assert_eq!(o.status.code(), Some(7));
        let o = exec(t.pid, &[], &["sh", "-c", "kill -TERM $$"]);
        assert_eq!(o.status.code(), Some(128 + libc::SIGTERM), "{}", stderr(&o));
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_errors_dead_target_unknown_namespace_unprivileged() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        // An unknown namespace name is a usage error, and nothing runs.
        let flag = t.path("ran");
        let touch = ["touch", flag.to_str().unwrap()];
        let o = exec(t.pid, &["--ns", "mnt,bogus"], &touch);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("unknown namespace \"bogus\""),
            "{}",
            stderr(&o)
        );

        // A dead (and reaped) target: ESRCH, and the command never runs.
        let pid = t.pid;
        drop(t);
        let o = exec(pid, &[], &touch);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("ESRCH"), "{}", stderr(&o));
        assert!(!flag.exists());

        // An unprivileged caller whose target it may inspect (same uid) but whose namespaces
        // belong to root: EPERM, naming the namespace.
        let t = Target::start(&["--setuid", "1000", "--setgid", "1000"]);
        let flag = t.path("ran-unprivileged");
        // As uid and gid 1000, with no supplementary groups.
        let o = output(
            cli()
                .args(["exec", "--pid", &t.pid.to_string(), "--ns", "uts", "--"])
                .args(["touch", flag.to_str().unwrap()])
                .uid(1000),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("EPERM") && err.contains("uts namespace") && err.contains("setns(2)"),
            "{err}"
        );
        assert!(!flag.exists());
    });
}

/// The command gets the target's environment (plus procroot's TERM), never procroot's secrets;
/// `--env` overrides, `--env-clear` starts empty, `--preserve-env` keeps procroot's.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_gives_the_command_the_targets_environment() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start_wrapped(&[], "env -i FOO=target");
        let env = |extra: &[&str]| {
            let o = output(
                cli()
                    .env("PROCROOT_TEST_SECRET", "hunter2")
                    .env("TERM", "xterm-test")
                    .args(["exec", "--pid", &t.pid.to_string()])
                    .args(extra)
                    .args(["--", "env"]),
            );
            assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
            let mut lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let has = |lines: &[String], l: &str| lines.iter().any(|x| x == l);
        let default = env(&[]);
        assert!(
            has(&default, "FOO=target")
                && has(&default, "TERM=xterm-test")
                && !default.iter().any(|l| l.contains("hunter2"))
                && !default.iter().any(|l| l.starts_with("CARGO")),
            "{default:?}"
        );
        let over = env(&["--env", "FOO=x"]);
        assert!(has(&over, "FOO=x") && !has(&over, "FOO=target"), "{over:?}");
        assert_eq!(env(&["--env-clear", "--env", "A=1"]), ["A=1"]);
        assert_eq!(
            env(&["--env-clear", "--env", "A=1", "--env", "A=2=3"]),
            ["A=2=3"]
        );
        let caller = env(&["--preserve-env"]);
        assert!(has(&caller, "PROCROOT_TEST_SECRET=hunter2"), "{caller:?}");
        // Bytes that are not UTF-8 pass as they are.
        let o = output(
            cli()
                .args(["exec", "--pid", &t.pid.to_string(), "--env-clear", "--env"])
                .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"RAW=\xff\xfe"))
                .args(["--", "env"]),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(o.stdout, b"RAW=\xff\xfe\n");

        // Usage errors: a KEY without `=` or an empty KEY, and both bases at once.
        for bad in [
            &["--env", "NOEQ"][..],
            &["--env", "=x"],
            &["--env-clear", "--preserve-env"],
        ] {
            let o = exec(t.pid, bad, &["true"]);
            assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        }
        // `--env` takes a value: the early --keep-fd scan (before procroot opens anything) does
        // not take it for the command, and still checks the --keep-fd after it.
        let o = exec(t.pid, &["--env", "X=1", "--keep-fd", "99"], &["true"]);
        let err = stderr(&o);
        assert!(
            err.contains("exec \"--keep-fd\": fd 99 to keep is not open")
                && !err.contains("exec in"),
            "{err}"
        );
    });
}

/// A missing command exits 127 and is named; a file that is not executable exits 126. Both
/// name `execve` and the target's root, as `sh`, `nsenter` and `docker exec` exit.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_exits_127_for_a_missing_command_and_126_for_a_non_executable_one() {
    use std::os::unix::fs::PermissionsExt;
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let root = format!("/proc/{}/root", t.pid);
        let o = exec(t.pid, &[], &["no-such-command-h23b"]);
        assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("\"no-such-command-h23b\"")
                && err.contains("not found in PATH")
                && err.contains("execve")
                && err.contains(&root),
            "{err}"
        );
        let script = t.path("not-executable");
        std::fs::write(&script, "#!/bin/sh\necho ran\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = exec(t.pid, &[], &[script.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{:?}", script.to_str().unwrap()))
                && err.contains("EACCES")
                && err.contains("execve"),
            "{err}"
        );
        assert!(stdout(&o).is_empty());
        // The command's own 127 or 126 is passed on too; other failures stay 1.
        let o = exec(t.pid, &[], &["sh", "-c", "exit 126"]);
        assert_eq!(o.status.code(), Some(126));
        let o = exec(t.pid, &["--cwd", "/no/such/dir"], &["true"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

        // Privileges dropped, a root target: exit 1, naming the namespace and how it was
        // opened (the pidfd ioctl, or its /proc/PID/ns file), not a bare EACCES.
        let o = output(
            cli()
                .args(["exec", "--pid", &t.pid.to_string(), "--", "true"])
                .uid(1000),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("EACCES")
                && (err.contains("ioctl PIDFD_GET_*_NAMESPACE") || err.contains("ns/")),
            "{err}"
        );
    });
}

/// `exec` seals itself before its arguments are parsed; a failure there is reported as every
/// `exec` failure (exit 1, `procroot: exec: seal ...`), and the command never runs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_sealing_failure_before_parsing_is_reported_and_nothing_runs() {
    require_privilege(PRIVILEGE);
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("ran");
    for global in [&[][..], &["--no-sandbox"][..]] {
        let o = output(
            cli()
                .args(global)
                .args(["exec", "--pid", "1", "--", "touch", flag.to_str().unwrap()])
                .env("PROCROOT_SEAL_STRATEGY", "bogus"),
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with("procroot: exec: seal") && err.contains("unknown sealing strategy"),
            "{err}"
        );
        assert!(!flag.exists());
    }
}

/// The loop guard of the sealed re-exec names the copy executed, and `ensure` only reads it
/// (it never edits the environment: that races other threads' `getenv` in a C, Go or Python
/// caller). A `PROCROOT_SEALED` inherited from elsewhere (a sealed procroot's environment
/// passed on, or set by anyone) names no file we run: procroot still seals itself and runs the
/// command, instead of refusing as a loop.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn an_inherited_loop_guard_neither_loops_nor_refuses() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        for stale in ["memfd", "1:1"] {
            let o = output(
                cli()
                    .args(["exec", "--pid", &t.pid.to_string(), "--", "echo", "ran"])
                    .env("PROCROOT_SEALED", stale),
            );
            assert!(
                o.status.success(),
                "PROCROOT_SEALED={stale}: {}",
                stderr(&o)
            );
            assert_eq!(stdout(&o).trim_end(), "ran", "PROCROOT_SEALED={stale}");
        }
    });
}

/// `--cgroup` starts the command in the target's cgroup (v2); without it, the command stays in
/// procroot's. The test cgroup is made under the cgroup2 mount and removed again.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cgroup_starts_the_command_in_the_targets_cgroup() {
    require_privilege(PRIVILEGE);
    let mount = cgroup2_mount();
    in_private_mount_ns(|| {
        let name = format!("procroot-test-{}", std::process::id());
        let cg = Path::new(mount).join(&name);
        std::fs::create_dir(&cg).expect("mkdir the test cgroup");
        let t = Target::start(&[]);
        std::fs::write(cg.join("cgroup.procs"), t.pid.to_string()).expect("move the target");
        let script = ["sh", "-c", "grep '^0::' /proc/self/cgroup"];
        let joined = exec(t.pid, &["--cgroup"], &script);
        let stayed = exec(t.pid, &[], &script);
        drop(t);
        // The target and its children are gone once `t` is dropped; the cgroup can go then.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::remove_dir(&cg).is_err() {
            assert!(
                Instant::now() < deadline,
                "test cgroup {} not removable",
                cg.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(joined.status.code(), Some(0), "{}", stderr(&joined));
        assert_eq!(stdout(&joined).trim(), format!("0::/{name}"));
        assert_eq!(stayed.status.code(), Some(0), "{}", stderr(&stayed));
        assert_ne!(stdout(&stayed).trim(), format!("0::/{name}"));
    });
}

/// Opens `path` without `O_CLOEXEC`, so that procroot inherits it: the leaked fd.
fn leak(path: &Path, flags: rustix::fs::OFlags) -> OwnedFd {
    let fd = rustix::fs::open(path, flags, rustix::fs::Mode::empty()).expect("open");
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).expect("clear CLOEXEC");
    fd
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_passes_only_fds_0_to_2_and_kept_ones() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| only_kept_fds_reach_the_command(&[]));
}

/// The same without `close_range` (before Linux 5.11, or filtered: `ENOSYS`): every fd is marked
/// close-on-exec one by one.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_passes_only_kept_fds_without_close_range() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        procroot_testutil::deny_syscalls(&[libc::SYS_close_range], libc::ENOSYS);
        // The target inherits the filter, which procroot, filtered itself, cannot copy.
        only_kept_fds_reach_the_command(&["--no-seccomp"]);
    });
}

fn only_kept_fds_reach_the_command(extra: &[&str]) {
    {
        let t = Target::start(&[]);
        let leaked = leak(Path::new("/"), rustix::fs::OFlags::RDONLY);
        let kept = leak(Path::new("/dev/null"), rustix::fs::OFlags::RDONLY);
        let kept_no = kept.as_raw_fd().to_string();
        // `ls -l` lists its own fd on the directory too (its target is /proc/<pid>/fd).
        let o = exec(
            t.pid,
            &[&["--keep-fd", &kept_no], extra].concat(),
            &["ls", "-l", "/proc/self/fd/"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let mut fds: Vec<i32> = stdout(&o)
            .lines()
            .filter(|l| l.starts_with('l') && !l.ends_with("/fd"))
            .map(|l| {
                let name = l.split(" -> ").next().unwrap();
                name.rsplit(' ').next().unwrap().parse().unwrap()
            })
            .collect();
        fds.sort_unstable();
        assert_eq!(fds, [0, 1, 2, kept.as_raw_fd()], "{}", stdout(&o));
        drop(leaked);
    }
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cwd_never_reaches_a_leaked_host_directory() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        // A target in our PID namespace and with the host's procfs in its mount namespace, so
        // that /proc/self/fd/N inside its root names procroot's own (leaked) fd: the
        // CVE-2024-21626 setup.
        let host = tempfile::tempdir().expect("tempdir");
        std::fs::write(host.path().join("host-secret"), b"x").unwrap();
        let ready = tempfile::tempdir().expect("tempdir");
        let script = format!("touch {}/ready && exec sleep 120", ready.path().display());
        let target = procroot_testutil::Target::unshare(
            &["--uts", "--mount"],
            &script,
            &ready.path().join("ready"),
        );
        let leaked = leak(
            host.path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        );
        let n = leaked.as_raw_fd();
        for cwd in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/thread-self/fd/{n}"),
        ] {
            for keep in [false, true] {
                let mut extra = vec!["--cwd", cwd.as_str()];
                let n_str = n.to_string();
                if keep {
                    extra.extend(["--keep-fd", n_str.as_str()]);
                }
                let o = exec(target.pid(), &extra, &["sh", "-c", "pwd; ls"]);
                assert!(
                    !stdout(&o).contains("host-secret"),
                    "cwd {cwd} reached the host directory: {}",
                    stdout(&o)
                );
                assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
                // Refused for the right reason: resolving the cwd inside the target's root
                // stops at the magic link (ELOOP), before anything is forked; not some later,
                // unrelated failure.
                let err = stderr(&o);
                let want = format!(
                    "procroot: exec in \"{}\": working directory (--cwd) \"{cwd}\": resolve \"{cwd}\"",
                    target.pid()
                );
                assert!(
                    err.starts_with(&want)
                        && err.ends_with("(ELOOP)\n")
                        && err.lines().count() == 1,
                    "cwd {cwd}, keep {keep}: {err}"
                );
            }
        }
    });
}

/// A child killed and reaped on drop, so that a failing assertion leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `truncate(2)` by path.
fn truncate(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::truncate(c.as_ptr(), 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// SHA-256 would need a crate; the bytes themselves are compared.
fn read_all(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read binary")
}

/// The CVE-2019-5736 attack on a running `procroot exec`, for one sealing strategy: while it
/// runs, open `/proc/<pid>/exe` for writing and read-write, truncate it, and keep an `O_PATH`
/// fd on it; after it exited, reopen that fd for writing (runc's attacker waited for exit, when
/// `ETXTBSY` no longer protects the file) and write. The binary's bytes must be unchanged.
fn overwrite_attack(strategy: &str) {
    let t = Target::start(&[]);
    // A private copy of procroot: a failing test must not corrupt the build.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let bin = dir.path().join("procroot");
    std::fs::copy(env!("CARGO_BIN_EXE_procroot"), &bin).expect("copy binary");
    attack_binary(&t, &bin, Some(strategy));
}

/// [`overwrite_attack`] on the binary `bin` as it is (`strategy`: `PROCROOT_SEAL_STRATEGY`, or
/// none, as a user runs it). Returns what `/proc/<procroot's pid>/exe` named while the command
/// ran: `bin` itself when procroot was not re-executed.
fn attack_binary(t: &Target, bin: &Path, strategy: Option<&str>) -> PathBuf {
    let original = read_all(bin);
    let mut cmd = Command::new(bin);
    cmd.args([
        "exec",
        "--pid",
        &t.pid.to_string(),
        "--",
        "sh",
        "-c",
        "echo ready; sleep 2",
    ]);
    match strategy {
        Some(s) => cmd.env("PROCROOT_SEAL_STRATEGY", s),
        None => cmd.env_remove("PROCROOT_SEAL_STRATEGY"),
    };
    let strategy = strategy.unwrap_or("default");
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run procroot"),
    );
    // With a deadline: a procroot that hangs before the command prints fails the test.
    let ready = child_lines(&child).recv_timeout(Duration::from_secs(30));
    if ready.as_deref() != Ok("ready") {
        let _ = child.0.kill();
        let _ = child.0.wait();
        let mut err = String::new();
        let _ = child.0.stderr.as_mut().unwrap().read_to_string(&mut err);
        panic!("{strategy}: procroot exec did not run the command ({ready:?}): {err}");
    }
    let exe = format!("/proc/{}/exe", child.0.id());
    let running = std::fs::read_link(&exe).expect("readlink exe");
    use rustix::fs::{Mode, OFlags};
    let w = rustix::fs::open(&exe, OFlags::WRONLY, Mode::empty());
    assert!(w.is_err(), "{strategy}: opened {exe} for writing");
    let rw = rustix::fs::open(&exe, OFlags::RDWR, Mode::empty());
    assert!(rw.is_err(), "{strategy}: opened {exe} read-write");
    let tr = truncate(&exe);
    assert!(tr.is_err(), "{strategy}: truncated {exe}");
    let path_fd = rustix::fs::open(&exe, OFlags::PATH, Mode::empty()).expect("O_PATH exe");
    let status = wait_within(child, Duration::from_secs(60));
    assert!(status.success(), "{strategy}: {status}");
    // After exit: the reopen trick through our O_PATH fd.
    let reopen = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    if let Ok(w) = rustix::fs::open(&reopen, OFlags::WRONLY, Mode::empty()) {
        // A sealed memfd can be opened but not written (F_SEAL_WRITE: EPERM); only the
        // unlinked tmpfile copy may be written by root now, and it is not the binary.
        let written = rustix::io::write(&w, b"\x7fELF-pwned");
        if strategy != "tmpfile" {
            assert!(written.is_err(), "the sealed {strategy} copy was written");
            assert!(
                truncate(&reopen).is_err(),
                "the sealed {strategy} copy was truncated"
            );
        }
    }
    let _ = truncate(&reopen);
    assert!(
        read_all(bin) == original,
        "{strategy}: the binary was changed"
    );
    running
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cve_2019_5736_overlay() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| overwrite_attack("overlay"));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cve_2019_5736_memfd() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| overwrite_attack("memfd"));
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cve_2019_5736_tmpfile() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| overwrite_attack("tmpfile"));
}

/// A private copy of procroot in `dir/procroot` (a failing test must not corrupt the build).
fn copy_of_procroot(dir: &Path) -> PathBuf {
    let bin = dir.join("procroot");
    std::fs::copy(env!("CARGO_BIN_EXE_procroot"), &bin).expect("copy binary");
    bin
}

/// `mount --bind src dst`, then `mount -o remount,bind,ro|rw dst`: only the new mount's own
/// read-only flag changes, never the file system's.
fn bind(src: &Path, dst: &Path, read_only: bool) {
    use procroot_testutil::mount_raw;
    let src = src.to_str().unwrap();
    mount_raw(Some(src), dst, None, libc::MS_BIND, None).expect("bind mount");
    let ro = if read_only { libc::MS_RDONLY } else { 0 };
    mount_raw(None, dst, None, libc::MS_REMOUNT | libc::MS_BIND | ro, None)
        .expect("remount the bind mount");
}

/// Issue 23 item 8: the zero-cost setup. The installed binary on a read-only bind mount (in this
/// test's private mount namespace) is run as it is, with no re-exec: `/proc/<pid>/exe` names it.
/// The CVE-2019-5736 overwrite attack through that link still fails (`EROFS`), also after exit.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn cve_2019_5736_read_only_bind_runs_the_binary_itself() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        let bin = copy_of_procroot(dir.path());
        bind(&bin, &bin, true);
        let running = attack_binary(&t, &bin, None);
        assert_eq!(
            running, bin,
            "procroot re-executed from a copy on a read-only bind"
        );
        // The mount is what protects it: writing by its name fails too.
        let w = std::fs::OpenOptions::new().write(true).open(&bin);
        assert_eq!(w.unwrap_err().raw_os_error(), Some(libc::EROFS));
        // doctor says so.
        let o = Command::new(&bin).arg("doctor").output().unwrap();
        assert!(
            stdout(&o).contains("sealed self-binary: running from a read-only mount"),
            "{}",
            stdout(&o)
        );
        // The same binary when PROCROOT_SEAL_STRATEGY asks for a copy: re-executed.
        let running = attack_binary(&t, &bin, Some("memfd"));
        assert_ne!(
            running, bin,
            "PROCROOT_SEAL_STRATEGY=memfd was not honoured"
        );
    });
}

/// Issue 23 item 8: a binary on a writable mount is still re-executed from a sealed copy:
/// `/proc/<pid>/exe` names the copy, not the binary. The same for a writable bind mount of a file
/// system that is itself read-only (`statfs` says `ST_RDONLY`, but only the mount's own flag
/// holds against a container that can remount the file system through another mount of it).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_binary_on_a_writable_mount_still_re_executes() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        let bin = copy_of_procroot(dir.path());
        let running = attack_binary(&t, &bin, None);
        assert_ne!(
            running, bin,
            "procroot ran its writable binary without a sealed copy"
        );

        // A tmpfs holding the binary, then made read-only (the file system and this mount),
        // and a bind mount of it made writable again: a read-only superblock under a writable
        // mount.
        let fs = dir.path().join("fs");
        let rw = dir.path().join("rw");
        std::fs::create_dir(&fs).unwrap();
        std::fs::create_dir(&rw).unwrap();
        procroot_testutil::mount_raw(Some("tmpfs"), &fs, Some("tmpfs"), 0, None).expect("tmpfs");
        copy_of_procroot(&fs);
        procroot_testutil::mount_raw(None, &fs, None, libc::MS_REMOUNT | libc::MS_RDONLY, None)
            .expect("remount the tmpfs read-only");
        bind(&fs, &rw, false);
        let sb_ro = rw.join("procroot");
        let st = rustix::fs::statfs(&sb_ro).expect("statfs");
        // ST_RDONLY (1) in statfs's f_flags, whose width differs between arches.
        #[allow(clippy::unnecessary_cast)]
        let flags = st.f_flags as u64;
        assert_ne!(flags & 1, 0, "the tmpfs is not read-only");
        let running = attack_binary(&t, &sb_ro, None);
        assert_ne!(
            running, sb_ro,
            "a read-only file system under a writable mount counted as sealed"
        );
    });
}

#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn doctor_reports_the_sealing_strategy() {
    require_privilege("fsopen of overlayfs (CAP_SYS_ADMIN)");
    in_private_mount_ns(doctor_reports_the_sealing_strategy_inner);
}

fn doctor_reports_the_sealing_strategy_inner() {
    let o = output(cli().args(["doctor", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sealed_exe"]["strategy"], "overlay", "{v}");
    assert_eq!(v["sealed_exe"]["running"], serde_json::Value::Null, "{v}");
    let o = output(cli().arg("doctor"));
    assert!(
        stdout(&o).contains("sealed self-binary: this run is not sealed; exec would use overlay"),
        "{}",
        stdout(&o)
    );
}

/// Docker's default capabilities (`CapEff: 00000000a80425fb`), without `CAP_DAC_READ_SEARCH`.
const DOCKER_CAPS: &str = "+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,\
                           +setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write";

/// The "shocker" escape as the container's own program: `open_by_handle_at` of a stand-in host
/// file (a handle the container could also guess), through python3's ctypes. Prints `CapEff`,
/// then `read: <contents>` or `open_by_handle_at: <errno name>`.
const SHOCKER: &str = r#"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class FileHandle(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("f", ctypes.c_ubyte * 128)]
print([l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")][0])
h = FileHandle(); h.bytes = 128
mount_id = ctypes.c_int()
if libc.name_to_handle_at(-100, sys.argv[1].encode(), ctypes.byref(h), ctypes.byref(mount_id), 0):
    sys.exit("name_to_handle_at: " + errno.errorcode[ctypes.get_errno()])
mount_fd = os.open(os.path.dirname(sys.argv[1]), os.O_RDONLY)
fd = libc.open_by_handle_at(mount_fd, ctypes.byref(h), os.O_RDONLY)
if fd < 0:
    print("open_by_handle_at: " + errno.errorcode[ctypes.get_errno()])
else:
    print("read: " + os.read(fd, 100).decode().strip())
"#;

/// Issue 19 item 3: a rootful container with Docker's default capabilities runs the shocker
/// program as `hostname`. By default the command has the target's `CapEff` and
/// `open_by_handle_at` fails with `EPERM`; with `--privileged` (procroot's own capabilities) it
/// reads the stand-in host file, so the test can fail.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_runs_with_the_targets_capabilities_not_the_callers() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start_wrapped(
            &[],
            &format!("setpriv --bounding-set=-all,{DOCKER_CAPS} --inh-caps=-all --"),
        );
        let victim = t.path("host-secret");
        std::fs::write(&victim, "host secret\n").unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", t.pid)).unwrap();
        let target_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim()
            .to_owned();
        assert_eq!(
            target_eff, "00000000a80425fb",
            "the stand-in container's capabilities"
        );
        let victim = victim.to_str().unwrap();
        let o = exec(t.pid, &[], &["python3", "-c", SHOCKER, victim]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{target_eff}\nopen_by_handle_at: EPERM\n"),
            "the command must hold the target's capabilities only"
        );
        let o = exec(
            t.pid,
            &["--privileged"],
            &["python3", "-c", SHOCKER, victim],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).ends_with("read: host secret\n"),
            "--privileged keeps procroot's capabilities: {}",
            stdout(&o)
        );
    });
}

/// `--user UID:GID` runs the command as that identity inside the target; `--user` with a name
/// or a bad number is a usage error, and `--privileged` cannot be combined with it.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_user_overrides_the_identity() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let o = exec(
            t.pid,
            &["--user", "1234:4321"],
            &["sh", "-c", "id -u; id -g; id -G"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "1234\n4321\n4321\n");
        let o = exec(t.pid, &[], &["id", "-u"]);
        assert_eq!(stdout(&o), "0\n", "{}", stderr(&o));
        let o = exec(t.pid, &["--user", "nobody"], &["true"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("not a numeric id"), "{}", stderr(&o));
        let o = exec(t.pid, &["--user", "1", "--privileged"], &["true"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    });
}

/// The cgroup2 mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid system). A
/// machine without one fails the test that needs it, naming what is missing.
fn cgroup2_mount() -> &'static str {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find(|d| {
            #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures.
            rustix::fs::statfs(*d).is_ok_and(|s| s.f_type as i64 == 0x6367_7270)
        })
        .expect("this test needs a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
}

/// A test cgroup directly below the cgroup2 mount, removed (with every cgroup made below it)
/// on drop, once its processes are gone.
struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    fn new(tag: &str, children: &[&str]) -> TestCgroup {
        let name = format!("procroot-test-{}-{tag}", std::process::id());
        let path = Path::new(cgroup2_mount()).join(name);
        std::fs::create_dir(&path).expect("mkdir the test cgroup");
        let cg = TestCgroup { path };
        for c in children {
            std::fs::create_dir_all(cg.path.join(c)).expect("mkdir a child cgroup");
        }
        cg
    }

    fn name(&self) -> String {
        self.path.file_name().unwrap().to_str().unwrap().to_owned()
    }

    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        fn remove(dir: &Path) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path());
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        remove(&self.path);
    }
}

/// Issue 19 item 6: procroot in a cgroup namespace rooted at `a` reads a target in the sibling
/// `b` as `0::/../b`. That cgroup is outside procroot's view: `--cgroup` refuses, naming the
/// option and the path, and the command never runs (the old code clamped the `..` and joined a
/// cgroup of procroot's own).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cgroup_refuses_a_cgroup_outside_our_cgroup_namespace() {
    require_privilege(PRIVILEGE);
    let cg = TestCgroup::new("cgns", &["a", "b"]);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        std::fs::write(cg.join("b/cgroup.procs"), t.pid.to_string()).expect("move the target");
        std::fs::write(cg.join("a/cgroup.procs"), "0").expect("move ourselves");
        // SAFETY: unshare(CLONE_NEWCGROUP) changes only this (forked) process's cgroup view.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWCGROUP) };
        assert_eq!(rc, 0, "unshare the cgroup namespace");
        let flag = t.path("ran");
        let o = exec(t.pid, &["--cgroup"], &["touch", flag.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("join the target's cgroup (--cgroup) \"/../b\"")
                && err.contains("not visible from procroot's cgroup namespace")
                && err.contains("EXDEV"),
            "{err}"
        );
        assert!(!flag.exists(), "the command ran");
        // Without --cgroup the command runs.
        let o = exec(t.pid, &[], &["touch", flag.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(flag.exists());
    });
}

/// Issue 19 item 6: a cgroup2 mount that is a bind mount of part of the hierarchy (its root is
/// not procroot's cgroup namespace root): the target's path leads to another cgroup of the same
/// name there, which does not hold the target. Refused; the old code joined that cgroup.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cgroup_refuses_a_cgroup_mount_rooted_elsewhere() {
    require_privilege(PRIVILEGE);
    let cg = TestCgroup::new("bind", &["b"]);
    let name = cg.name();
    let decoy = format!("decoy/{name}/b");
    std::fs::create_dir_all(cg.join(&decoy)).expect("mkdir the decoy cgroup");
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        std::fs::write(cg.join("b/cgroup.procs"), t.pid.to_string()).expect("move the target");
        let mount = cgroup2_mount();
        let src = cg.join("decoy");
        let ok = std::process::Command::new("mount")
            .args(["--bind", src.to_str().unwrap(), mount])
            .status()
            .expect("mount");
        assert!(ok.success(), "bind mount in the private mount namespace");
        let script = ["sh", "-c", "grep '^0::' /proc/self/cgroup"];
        let o = exec(t.pid, &["--cgroup"], &script);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("--cgroup")
                && err.contains(&format!("/{name}/b"))
                && err.contains("is not rooted at procroot's cgroup namespace root"),
            "{err}"
        );
    });
}

/// Issue 19 item 7: a cgroup named `x (deleted)` is joined like any other (the kernel's suffix
/// for a removed cgroup is not taken for "a cgroup v1 system").
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cgroup_joins_a_cgroup_named_deleted() {
    require_privilege(PRIVILEGE);
    let cg = TestCgroup::new("deleted", &["x (deleted)"]);
    let name = cg.name();
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        std::fs::write(cg.join("x (deleted)/cgroup.procs"), t.pid.to_string())
            .expect("move the target");
        let o = exec(t.pid, &["--cgroup"], &["grep", "^0::", "/proc/self/cgroup"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("0::/{name}/x (deleted)\n"));
    });
}

/// Issue 19 item 7: errors keep what they are about. A missing `--cwd` names the option, the
/// path and the target's root (not `<fd 5>`); `--ns all,mnt` says `all` stands alone; `--pid`
/// of a thread says whose thread it is (or, with thread pidfds, runs in its process).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_messages_name_the_option_the_path_and_the_cause() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let o = exec(t.pid, &["--cwd", "/no/such/dir"], &["true"]);
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert!(
            err.contains("working directory (--cwd) \"/no/such/dir\"")
                && err.contains(&format!("in /proc/{}/root", t.pid))
                && err.contains("ENOENT")
                && !err.contains("<fd"),
            "{err}"
        );
        let o = exec(t.pid, &["--cwd", "/etc/passwd"], &["true"]);
        let err = stderr(&o);
        assert!(
            err.contains("working directory (--cwd) \"/etc/passwd\"") && err.contains("ENOTDIR"),
            "{err}"
        );

        let o = exec(t.pid, &["--ns", "all,mnt"], &["true"]);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(
            err.contains("\"all\" cannot be combined with other namespaces in \"all,mnt\""),
            "{err}"
        );

        // A thread of this (test) process.
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tid_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            let _ = stop_rx.recv();
        });
        let tid = tid_rx.recv().unwrap() as u32;
        let o = exec(tid, &[], &["true"]);
        stop_tx.send(()).unwrap();
        thread.join().unwrap();
        let err = stderr(&o);
        let me = std::process::id();
        assert!(
            o.status.success()
                || err.contains(&format!(
                    "--pid \"{tid}\": open pidfd \"{tid}\": {tid} is a thread of process {me}"
                )),
            "{err}"
        );
        assert!(!err.contains("kernel before 5.3"), "{err}");
    });
}

/// Runs `cmd` to completion, killing it (and failing) past `deadline`: for the runs that hung
/// before issue 19.
fn output_within(mut cmd: Command, deadline: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) of our own child, not yet reaped (the thread still waits for it).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("still running after {deadline:?}: {cmd:?}");
        }
    }
}

/// Issue 19 item 1: the container's command is a symlink to, or a script interpreted by, or a
/// name looked up in a `PATH` directory that is, a host binary reached through one of procroot's
/// fds (`/proc/self/fd/N/<host pid>/root/...` through
/// its procfs of the host's PID namespace, or `/proc/self/fd/N/...` through a host directory),
/// for every N procroot could hold. The kernel makes those lookups before it closes `O_CLOEXEC`
/// fds: the exec must fail with `ENOENT`, nothing of the host runs, and the stand-in host binary
/// (which the script would rewrite once idle, as in CVE-2019-5736) is unchanged.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_never_runs_a_host_binary_through_procroots_fds() {
    use std::os::unix::fs::PermissionsExt;
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let c = StandInContainer::start();
        let (victim, original) = c.host_binary();
        let root = c.rootfs();
        let me = std::process::id();
        let mut programs = Vec::new();
        for n in 3..=24 {
            let via_procfs = format!("/proc/self/fd/{n}/{me}/root{}", victim.display());
            let via_dir = format!("/proc/self/fd/{n}{}", victim.display());
            for (name, target) in [("p", &via_procfs), ("d", &via_dir)] {
                let link = format!("link-{name}{n}");
                std::os::unix::fs::symlink(target, root.join(&link)).unwrap();
                programs.push(vec![format!("/{link}"), "-c".into(), "echo ESCAPED".into()]);
            }
            let script = format!("script{n}");
            std::fs::write(
                root.join(&script),
                format!(
                    "#!{via_procfs}\necho ESCAPED\nexec 3</proc/self/exe\n\
                     /bin/sh -c 'sleep 0.5; echo pwned >/proc/self/fd/3' &\n"
                ),
            )
            .unwrap();
            std::fs::set_permissions(root.join(&script), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            programs.push(vec![format!("/{script}")]);
        }
        // Through PATH: the command's name looked up in a directory reached by our fd.
        let host_dir = victim.parent().expect("host dir").display().to_string();
        let mut through_path = Vec::new();
        for n in 3..=24 {
            through_path.push(format!("/proc/self/fd/{n}/{me}/root{host_dir}"));
            through_path.push(format!("/proc/self/fd/{n}{host_dir}"));
        }
        let runs = programs
            .iter()
            .map(|p| (None, p.clone()))
            .chain(through_path.into_iter().map(|path| {
                (
                    Some(path),
                    vec!["victim".into(), "-c".into(), "echo ESCAPED".into()],
                )
            }));
        for (path, program) in runs {
            let args: Vec<&str> = program.iter().map(String::as_str).collect();
            let mut cmd = cli().args(["exec", "--pid", &c.pid().to_string()]);
            // The command's PATH: procroot's own no longer reaches the command.
            if let Some(path) = &path {
                cmd = cmd.arg("--env").arg(format!("PATH={path}"));
            }
            let o = output(cmd.arg("--").args(&args));
            let args = (path, args);
            assert!(
                !stdout(&o).contains("ESCAPED"),
                "{args:?} ran the host binary: {}",
                stdout(&o)
            );
            // The command cannot be run: 127 for ENOENT (no such fd), 126 for ENOTDIR (the
            // error channel, the one pipe open at the exec), as a shell exits.
            assert!(
                matches!(o.status.code(), Some(126 | 127)),
                "{args:?}: {}",
                stderr(&o)
            );
            let err = stderr(&o);
            assert!(
                err.contains("execve") && (err.contains("ENOENT") || err.contains("ENOTDIR")),
                "{args:?}: {err}"
            );
        }
        // Whatever a script left running had time to write.
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            std::fs::read(&victim).unwrap() == original,
            "the stand-in host binary was changed"
        );
    });
}

/// Issue 19 item 4: with nothing open above 2, `--keep-fd K` (K = 3..20) is refused before
/// procroot opens anything: had it been checked later, K would name one of procroot's own fds
/// (its pidfd, its procfs of the host's PID namespace, the target's root) and the command
/// would get it.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn keep_fd_of_an_fd_the_caller_never_opened_is_ebadf_and_nothing_runs() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let flag = t.path("ran");
        for k in 3..=20 {
            let ks = k.to_string();
            let eq = format!("--keep-fd={k}");
            for keep in [&["--keep-fd", ks.as_str()][..], &[eq.as_str()][..]] {
                let script = format!("ls -l /proc/self/fd/{k}; touch {}", flag.display());
                let mut c = procroot();
                c.args(["exec", "--pid", &t.pid.to_string()])
                    .args(keep)
                    .args(["--", "sh", "-c", &script]);
                // Nothing open above 2 (the test harness leaves some fds open across exec).
                let close_above_2 = || {
                    // SAFETY: close_range(2) with plain integers closes the child's copies of
                    // fds 3 and up; nothing in the child uses them before exec.
                    unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
                    Ok(())
                };
                // SAFETY: the hook only makes one raw syscall, which is async-signal-safe, in
                // the forked child before its exec.
                unsafe { c.pre_exec(close_above_2) };
                let o = output_within(c, Duration::from_secs(60));
                let err = stderr(&o);
                assert_eq!(o.status.code(), Some(1), "{keep:?}: {err} {}", stdout(&o));
                assert!(
                    err.contains(&format!("fd {k} to keep is not open in the caller"))
                        && err.contains("EBADF"),
                    "{keep:?}: {err}"
                );
                assert!(!flag.exists(), "{keep:?}: the command ran: {}", stdout(&o));
            }
        }
    });
}

/// Issue 19 item 5: each forwarded signal sent to procroot reaches the command at once, and
/// procroot's status is the command's: 0 when it handles the signal and exits 0, 143 when it
/// dies of SIGTERM.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn forwarded_signals_reach_the_command_and_the_status_is_the_commands() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let mut cases: Vec<(String, i32, i32, String)> = [
            ("INT", libc::SIGINT),
            ("TERM", libc::SIGTERM),
            ("HUP", libc::SIGHUP),
            ("QUIT", libc::SIGQUIT),
            ("WINCH", libc::SIGWINCH),
            ("USR1", libc::SIGUSR1),
            ("USR2", libc::SIGUSR2),
        ]
        .into_iter()
        .map(|(name, sig)| {
            (
                format!(
                    "trap 'echo got-{name}; exit 0' {name}; echo ready; \
                     while :; do sleep 0.05; done"
                ),
                sig,
                0,
                format!("got-{name}"),
            )
        })
        .collect();
        cases.push((
            "echo ready; exec sleep 100".into(),
            libc::SIGTERM,
            128 + libc::SIGTERM,
            String::new(),
        ));
        for (script, sig, code, says) in &cases {
            let (child, lines, pid) = start_until_ready(t.pid, script);
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(pid as i32, *sig) };
            let status = wait_within(child, Duration::from_secs(30));
            assert_eq!(status.code(), Some(*code), "{script}");
            if !says.is_empty() {
                assert_eq!(
                    lines.recv_timeout(Duration::from_secs(5)).ok().as_deref(),
                    Some(says.as_str())
                );
            }
        }
    });
}

/// Starts `procroot exec --pid PID -- sh -c SCRIPT` and waits (with a deadline) until the script
/// printed `ready`; returns procroot, its further stdout lines and its PID.
fn start_until_ready(
    pid: u32,
    script: &str,
) -> (KillOnDrop, std::sync::mpsc::Receiver<String>, u32) {
    let mut c = procroot();
    c.args(["exec", "--pid", &pid.to_string(), "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = KillOnDrop(c.spawn().expect("spawn procroot"));
    let (lines, pid) = (child_lines(&child), child.0.id());
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(),
        Some("ready")
    );
    (child, lines, pid)
}

/// The stdout lines of `child`, read on a thread.
fn child_lines(child: &KillOnDrop) -> std::sync::mpsc::Receiver<String> {
    let stdout = rustix::io::dup(child.0.stdout.as_ref().expect("piped stdout")).expect("dup");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(std::fs::File::from(stdout)).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for `child`, failing past `deadline` (the child is killed on drop).
fn wait_within(mut child: KillOnDrop, deadline: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            start.elapsed() < deadline,
            "still running after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Issue 19 item 5: a container that stops the process being prepared (`kill(next PID,
/// SIGSTOP)`) cannot make SIGTERM to procroot ineffective: procroot kills what it was preparing
/// and ends with 143 at once.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn a_stopped_pre_exec_child_does_not_block_sigterm() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let c = StandInContainer::start();
        for attempt in 0.. {
            assert!(
                attempt < 10,
                "the attacker never caught the process before its exec: the test proved nothing"
            );
            let attacker = Attacker::start(
                &c,
                Attack::StopBeforeExec { command: "true" },
                Duration::from_secs(30),
            );
            let mut cmd = procroot();
            // The command's PATH (not procroot's: the command gets the target's environment).
            let path = format!("PATH={}", procroot_testutil::container::slow_path());
            cmd.args([
                "exec",
                "--pid",
                &c.pid().to_string(),
                "--env",
                &path,
                "--",
                "true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            let child = KillOnDrop(cmd.spawn().expect("spawn procroot"));
            let report = attacker.report().expect("the attacker caught nothing");
            if report.comm == "true" {
                // Caught after the exec, and continued: try again.
                assert_eq!(wait_within(child, Duration::from_secs(30)).code(), Some(0));
                continue;
            }
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
            let status = wait_within(child, Duration::from_secs(30));
            assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{report:?}");
            // What it was preparing is gone (killed and reaped), not left stopped.
            let proc_entry = c.rootfs().join(format!("proc/{}", report.pid));
            assert!(!proc_entry.exists(), "{report:?} is still there");
            break;
        }
    });
}

/// Issue 19 item 5: `--cgroup` into a frozen cgroup fails at once, saying so (the command would
/// not run until thawed, and procroot could not be interrupted).
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_cgroup_refuses_a_frozen_cgroup() {
    require_privilege(PRIVILEGE);
    let mount = cgroup2_mount();
    in_private_mount_ns(|| {
        let name = format!("procroot-frozen-{}", std::process::id());
        let cg = Path::new(mount).join(&name);
        std::fs::create_dir(&cg).expect("mkdir the test cgroup");
        let t = Target::start(&[]);
        std::fs::write(cg.join("cgroup.procs"), t.pid.to_string()).expect("move the target");
        std::fs::write(cg.join("cgroup.freeze"), "1").expect("freeze");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(cg.join("cgroup.events"))
            .unwrap()
            .lines()
            .any(|l| l == "frozen 1")
        {
            assert!(Instant::now() < deadline, "the cgroup never froze");
            std::thread::sleep(Duration::from_millis(10));
        }
        let flag = t.path("ran");
        let mut cmd = procroot();
        cmd.args(["exec", "--cgroup", "--pid", &t.pid.to_string(), "--"])
            .args(["touch", flag.to_str().unwrap()]);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            output_within(cmd, Duration::from_secs(30))
        }));
        std::fs::write(cg.join("cgroup.freeze"), "0").expect("thaw");
        drop(t);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::remove_dir(&cg).is_err() {
            assert!(
                Instant::now() < deadline,
                "test cgroup {} not removable",
                cg.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let o = result.unwrap_or_else(|p| std::panic::resume_unwind(p));
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("is frozen") && err.contains("EBUSY"), "{err}");
        assert!(!flag.exists());
    });
}

/// An interactive bash on a pseudo-terminal (script(1), as the progress tests use): what is
/// typed, and everything the terminal shows. Killed on drop.
struct Terminal {
    child: Option<KillOnDrop>,
    input: Option<std::process::ChildStdin>,
    shown: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    fn start() -> Terminal {
        let mut shell = Command::new("script");
        shell
            .args(["-qec", "bash --norc --noprofile -i", "/dev/null"])
            .env("PS1", "PROMPT> ")
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = KillOnDrop(shell.spawn().expect("script(1) (util-linux)"));
        let input = child.0.stdin.take();
        let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut out = child.0.stdout.take().expect("stdout");
        let sink = std::sync::Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal {
            child: Some(child),
            input,
            shown,
        }
    }

    fn type_in(&mut self, text: &str) {
        use std::io::Write;
        let input = self.input.as_mut().expect("stdin");
        input.write_all(text.as_bytes()).expect("type");
        input.flush().expect("flush");
    }

    fn shown(&self) -> String {
        self.shown.lock().unwrap().clone()
    }

    /// Waits until the terminal shows `needle`. The typed text is echoed: make each marker
    /// computed (`$((6*7))`), so that only its output matches.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.shown().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on the terminal after 30 s: {}",
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `exit`, and the shell's exit within a deadline.
    fn finish(mut self) {
        self.type_in("exit\n");
        drop(self.input.take());
        let status = wait_within(self.child.take().expect("child"), Duration::from_secs(30));
        assert!(status.success(), "{status}: {}", self.shown());
    }
}

/// Issue 19 item 5, job control as a shell expects, on a pseudo-terminal: ^Z stops the command
/// and procroot, so the prompt comes back; `fg` resumes both, and the command finishes with
/// status 0.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn ctrl_z_gives_the_prompt_back_and_fg_resumes() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let mut term = Terminal::start();
        let command = format!(
            "{} exec --pid {} -- sh -c 'echo S$((6*7)); sleep 3; echo G$((50*2))'\n",
            env!("CARGO_BIN_EXE_procroot"),
            t.pid
        );
        term.type_in(&command);
        term.wait_for("S42");
        term.type_in("\x1a");
        // The prompt is back: the shell runs a command while the job is stopped.
        term.type_in("echo B$((2*3))\n");
        term.wait_for("B6");
        assert!(term.shown().contains("Stopped"), "{}", term.shown());
        term.type_in("fg\n");
        term.wait_for("G100");
        term.type_in("echo R$?X\n");
        term.wait_for("R0X");
        term.finish();
    });
}

/// Issue 19 item 5: ^C on the terminal reaches the command once (the terminal sends it to the
/// whole process group; procroot does not send it again), and procroot, which does not die of
/// it, exits with the command's status once the command, which handled it, is done.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn ctrl_c_reaches_the_command_once_and_procroot_waits_for_it() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let mut term = Terminal::start();
        let command = format!(
            "{} exec --pid {} -- sh -c 'n=0; trap \"n=$((n+1))\" INT; echo S$((6*7)); \
             sleep 2; sleep 1; echo N$n'\n",
            env!("CARGO_BIN_EXE_procroot"),
            t.pid
        );
        term.type_in(&command);
        term.wait_for("S42");
        term.type_in("\x03");
        term.wait_for("N1");
        term.type_in("echo R$?X\n");
        term.wait_for("R0X");
        term.finish();
    });
}

/// Issue 19 item 5, job control when only the command stops (`kill -STOP` of itself, not ^Z
/// to the group): procroot stops too, so a shell would see the job stopped; continued, it
/// continues the command, which finishes.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn when_the_command_stops_alone_procroot_stops_and_continues_it() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        let t = Target::start(&[]);
        let (child, lines, pid) =
            start_until_ready(t.pid, "echo ready; kill -STOP $$; echo resumed");
        let stat = format!("/proc/{pid}/stat");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = std::fs::read_to_string(&stat).expect("procroot's stat");
            if s.rsplit(')').next().unwrap().trim_start().starts_with('T') {
                break;
            }
            assert!(Instant::now() < deadline, "procroot did not stop: {s}");
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        assert_eq!(
            lines.recv_timeout(Duration::from_secs(30)).ok().as_deref(),
            Some("resumed")
        );
        assert_eq!(wait_within(child, Duration::from_secs(30)).code(), Some(0));
    });
}

/// `--config config.json` stands in for a seccomp filter procroot cannot copy (procroot and the
/// target run under a filter, so the kernel refuses `PTRACE_SECCOMP_GET_FILTER`): the command
/// runs under the compiled `linux.seccomp` profile (`Seccomp: 2`, `mkdir` refused with the
/// profile's `EPERM`). Without it the refusal names `--config` and `--no-seccomp`; a profile
/// with an unknown syscall name, or a config without `linux.seccomp`, is refused by name; and
/// nothing runs in any of these.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_config_compiles_the_containers_seccomp_profile() {
    require_privilege(PRIVILEGE);
    in_private_mount_ns(|| {
        // A filter that refuses nothing the test needs; the target inherits it.
        procroot_testutil::deny_syscalls(&[libc::SYS_acct], libc::EPERM);
        let t = Target::start(&[]);
        let d = t.dir.path();
        let write_config = |name: &str, seccomp: &str| {
            let path = d.join(name);
            std::fs::write(
                &path,
                format!(r#"{{"ociVersion":"1.0.2","linux":{{{seccomp}}}}}"#),
            )
            .unwrap();
            path.display().to_string()
        };
        let good = write_config(
            "good.json",
            r#""seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
        );
        let unknown = write_config(
            "unknown.json",
            r#""seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirr"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let none = write_config("none.json", r#""sysctl":{}"#);
        let ran = d.join("ran");
        let made = d.join("made");
        let script = format!(
            "touch {ran}; grep '^Seccomp:' /proc/self/status | tr -d ' \\t'; \
             mkdir {made} || echo refused",
            ran = ran.display(),
            made = made.display()
        );
        let cmd = ["sh", "-c", script.as_str()];

        let o = exec(t.pid, &[], &cmd);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("--config") && err.contains("--no-seccomp"),
            "{err}"
        );
        assert!(!ran.exists(), "ran without a filter: {err}");

        let o = exec(t.pid, &["--config", &unknown], &cmd);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("unknown syscall name \"mkdirr\""),
            "{}",
            stderr(&o)
        );
        let o = exec(t.pid, &["--config", &none], &cmd);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("no linux.seccomp section"),
            "{}",
            stderr(&o)
        );
        assert!(!ran.exists(), "ran with a refused config");
        let o = exec(t.pid, &["--config", &good, "--no-seccomp"], &cmd);
        assert_eq!(
            o.status.code(),
            Some(2),
            "contradicting options: {}",
            stderr(&o)
        );

        let o = exec(t.pid, &["--config", &good], &cmd);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "mkdir's own message: {}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "Seccomp:2\nrefused\n");
        assert!(ran.exists() && !made.exists());
    });
}
