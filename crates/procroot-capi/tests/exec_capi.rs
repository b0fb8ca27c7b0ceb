//! `procroot_exec` and `procroot_credentials_of` through the C ABI (called from Rust through the
//! crate's rlib, with C's types): a stand-in container with Docker's default capabilities (an
//! `unshare --uts` process under `setpriv`), killed and reaped on drop.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use procroot_capi::*;
use procroot_testutil::{in_private_mount_ns, require_privilege};

/// Docker's default capability set, as `CapEff` prints it.
const DOCKER_CAP_EFF: u64 = 0xa804_25fb;

struct Target(Child);

impl Target {
    fn start() -> Target {
        let child = Command::new("unshare")
            .args([
                "--uts",
                "setpriv",
                "--inh-caps=-all",
                "--bounding-set=-all,+chown,\
                    +dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,\
                    +setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write",
                "--",
                "sleep",
                "60",
            ])
            .spawn()
            .expect("spawn unshare");
        let t = Target(child);
        // unshare and setpriv exec in the same process: ready once it runs sleep.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", t.0.id())).unwrap_or_default();
            if comm.trim() == "sleep" {
                return t;
            }
            assert!(Instant::now() < deadline, "target never started");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn message(err: *mut procroot_error) -> String {
    if err.is_null() {
        return String::new();
    }
    // SAFETY: an error procroot stored in `*err`: alive until freed below.
    let e = unsafe { &*err };
    // SAFETY: procroot made `message` from a CString; alive until the error is freed.
    let m = unsafe { CStr::from_ptr(e.message) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: the error procroot stored, freed once; `e` is not used after.
    unsafe { procroot_error_free(err) };
    m
}

/// Runs `sh -c script` through `procroot_exec`; returns the wait status.
fn exec(pidfd: *const procroot_pidfd, script: &str, flags: u32, uid: i64) -> Result<i32, String> {
    exec_env(pidfd, script, flags, uid, None)
}

/// [`exec`] with `envp` (NULL for `None`).
fn exec_env(
    pidfd: *const procroot_pidfd,
    script: &str,
    flags: u32,
    uid: i64,
    env: Option<&[&str]>,
) -> Result<i32, String> {
    exec_config(pidfd, script, flags, uid, env, None)
}

/// [`exec`] with `envp` and `config` (NULL for `None`).
fn exec_config(
    pidfd: *const procroot_pidfd,
    script: &str,
    flags: u32,
    uid: i64,
    env: Option<&[&str]>,
    config: Option<&CStr>,
) -> Result<i32, String> {
    let env: Option<Vec<CString>> =
        env.map(|e| e.iter().map(|s| CString::new(*s).unwrap()).collect());
    let mut envp: Option<Vec<*const c_char>> =
        env.as_ref().map(|e| e.iter().map(|s| s.as_ptr()).collect());
    if let Some(p) = envp.as_mut() {
        p.push(std::ptr::null());
    }
    let args = [
        CString::new("sh").unwrap(),
        CString::new("-c").unwrap(),
        CString::new(script).unwrap(),
    ];
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut status = -1;
    let mut err = std::ptr::null_mut();
    // SAFETY: a live pidfd, a NULL-terminated argv of live strings, writable outs.
    let ret = unsafe {
        procroot_exec(
            pidfd,
            argv.as_ptr(),
            envp.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
            std::ptr::null(),
            flags,
            uid,
            -1,
            config.map_or(std::ptr::null(), |c| c.as_ptr()),
            &mut status,
            &mut err,
        )
    };
    if ret < 0 {
        return Err(message(err));
    }
    Ok(status)
}

/// The C API runs the command as the target runs by default (its `CapEff`), as the caller with
/// `PROCROOT_EXEC_PRIVILEGED`, as another uid with `uid`; `procroot_credentials_of` reads the
/// target's sets; bad arguments are `-EINVAL` and nothing runs.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_through_the_c_api_runs_as_the_target() {
    require_privilege("unshare --uts, setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let t = Target::start();
        let mut pidfd = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: writable outs.
        let ret = unsafe { procroot_pidfd_open(t.0.id(), &mut pidfd, &mut err) };
        assert_eq!(ret, 0, "{}", message(err));

        let mut creds = procroot_credentials::default();
        // SAFETY: a live pidfd and writable outs.
        let ret = unsafe { procroot_credentials_of(pidfd, &mut creds, &mut err) };
        assert_eq!(ret, 0, "{}", message(err));
        assert_eq!((creds.uid, creds.gid), (0, 0));
        assert_eq!(creds.cap_effective, DOCKER_CAP_EFF);
        assert_eq!(creds.cap_bounding, DOCKER_CAP_EFF);
        assert_eq!((creds.no_new_privs, creds.seccomp_filters), (0, 0));

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "{{ id -u; grep '^CapEff:' /proc/self/status | cut -f2; }} > {}; exit 7",
            out.display()
        );
        let status = exec(pidfd, &script, 0, -1).expect("exec");
        use std::os::unix::process::ExitStatusExt;
        let code = std::process::ExitStatus::from_raw(status).code();
        assert_eq!(code, Some(7), "{status:#x}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("0\n{DOCKER_CAP_EFF:016x}\n")
        );

        let ours = std::fs::read_to_string("/proc/self/status").unwrap();
        let our_eff = ours
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim()
            .to_owned();
        exec(pidfd, &script, PROCROOT_EXEC_PRIVILEGED, -1).expect("exec privileged");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("0\n{our_eff}\n")
        );

        // uid 1234 may write a new file in the (world-writable) directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::remove_file(&out).unwrap();
        let status = exec(pidfd, &script, 0, 1234).expect("exec as 1234");
        assert_eq!(std::process::ExitStatus::from_raw(status).code(), Some(7));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "1234\n0000000000000000\n"
        );

        std::fs::remove_file(&out).unwrap();
        let e = exec(pidfd, &script, PROCROOT_EXEC_PRIVILEGED, 1234).expect_err("conflict");
        assert!(e.contains("PROCROOT_EXEC_PRIVILEGED"), "{e}");
        let e = exec(pidfd, &script, 0x100, -1).expect_err("unknown flag");
        assert!(e.contains("unknown exec flag bits 0x100"), "{e}");
        assert!(!out.exists(), "a refused call ran the command");
        // SAFETY: from procroot_pidfd_open, freed once.
        unsafe { procroot_pidfd_free(pidfd) };
    });
}

/// `procroot_exec` gives the command the target's environment, not the caller's secrets;
/// `PROCROOT_EXEC_ENV_CLEAR` starts it empty, `PROCROOT_EXEC_PRESERVE_ENV` gives the caller's,
/// and both at once are `-EINVAL`.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_through_the_c_api_gives_the_targets_environment() {
    require_privilege("unshare --uts, setns and PTRACE_SECCOMP_GET_FILTER");
    in_private_mount_ns(|| {
        let t = Target::start();
        // Set after the target started, in this forked single-threaded child: only ours.
        std::env::set_var("PROCROOT_CAPI_SECRET", "hunter2");
        let home = std::env::var("HOME").expect("the target inherits the tests' HOME");
        let mut pidfd = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: writable outs.
        let ret = unsafe { procroot_pidfd_open(t.0.id(), &mut pidfd, &mut err) };
        assert_eq!(ret, 0, "{}", message(err));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "echo \"${{PROCROOT_CAPI_SECRET-unset}} ${{HOME-unset}}\" > {}",
            out.display()
        );
        let run = |flags: u32| {
            let st = exec(pidfd, &script, flags, -1).expect("exec");
            assert_eq!(st, 0);
            std::fs::read_to_string(&out).unwrap().trim().to_owned()
        };
        assert_eq!(run(0), format!("unset {home}"));
        assert_eq!(run(PROCROOT_EXEC_ENV_CLEAR), "unset unset");
        assert_eq!(run(PROCROOT_EXEC_PRESERVE_ENV), format!("hunter2 {home}"));
        let both = exec(
            pidfd,
            &script,
            PROCROOT_EXEC_ENV_CLEAR | PROCROOT_EXEC_PRESERVE_ENV,
            -1,
        );
        assert!(both.unwrap_err().contains("exclude each other"));
        // envp sets over the base, later entries win; a bad entry runs nothing.
        let set = |flags: u32, env: &[&str]| {
            let st = exec_env(pidfd, &script, flags, -1, Some(env)).expect("exec");
            assert_eq!(st, 0);
            std::fs::read_to_string(&out).unwrap().trim().to_owned()
        };
        assert_eq!(
            set(
                PROCROOT_EXEC_ENV_CLEAR,
                &["PROCROOT_CAPI_SECRET=a", "PROCROOT_CAPI_SECRET=b=c"]
            ),
            "b=c unset"
        );
        assert_eq!(set(0, &["HOME=/h"]), "unset /h");
        std::fs::remove_file(&out).unwrap();
        for bad in ["NOEQ", "=x"] {
            let e = exec_env(pidfd, &script, 0, -1, Some(&[bad])).unwrap_err();
            assert!(e.contains("not KEY=VALUE"), "{e}");
            assert!(!out.exists());
        }
        // SAFETY: opened above, freed once.
        unsafe { procroot_pidfd_free(pidfd) };
    });
}

/// `config`: the OCI profile stands in for a filter procroot cannot copy (the caller, and so
/// the target, run under a filter): the command runs under it (`Seccomp: 2`, `mkdir` refused);
/// without it the call is refused naming `--config`; with `PROCROOT_EXEC_NO_SECCOMP` too,
/// `-EINVAL`; nothing runs when refused.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn exec_through_the_c_api_takes_the_seccomp_profile_of_a_config() {
    require_privilege("unshare --uts and setns");
    in_private_mount_ns(|| {
        // SYS_acct (163 on x86_64, 89 on aarch64): refused, which nothing here needs.
        procroot_testutil::deny_syscalls(
            &[if cfg!(target_arch = "x86_64") {
                163
            } else {
                89
            }],
            1,
        );
        let t = Target::start();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}}}"#,
        )
        .unwrap();
        let config = CString::new(config.to_str().unwrap()).unwrap();
        let mut pidfd = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: writable outs.
        let ret = unsafe { procroot_pidfd_open(t.0.id(), &mut pidfd, &mut err) };
        assert_eq!(ret, 0, "{}", message(err));
        let ran = dir.path().join("ran");
        let made = dir.path().join("made");
        let script = format!(
            "touch {}; grep -q '^Seccomp:.2' /proc/self/status || exit 3; mkdir {} && exit 4; \
             exit 0",
            ran.display(),
            made.display()
        );
        let msg = exec(pidfd, &script, 0, -1).expect_err("no profile");
        assert!(msg.contains("--config"), "{msg}");
        assert!(!ran.exists());
        let msg = exec_config(
            pidfd,
            &script,
            PROCROOT_EXEC_NO_SECCOMP,
            -1,
            None,
            Some(&config),
        )
        .expect_err("contradicting");
        assert!(msg.contains("without_seccomp()"), "{msg}");
        assert!(!ran.exists());
        let status = exec_config(pidfd, &script, 0, -1, None, Some(&config)).expect("runs");
        assert_eq!(status, 0, "wait status");
        assert!(ran.exists() && !made.exists());
        // SAFETY: from procroot_pidfd_open, freed once.
        unsafe { procroot_pidfd_free(pidfd) };
    });
}
