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
    // SAFETY: an error procroot stored; read once and freed once.
    unsafe {
        let m = CStr::from_ptr((*err).message)
            .to_string_lossy()
            .into_owned();
        procroot_error_free(err);
        m
    }
}

/// Runs `sh -c script` through `procroot_exec`; returns the wait status.
fn exec(pidfd: *const procroot_pidfd, script: &str, flags: u32, uid: i64) -> Result<i32, String> {
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
            std::ptr::null(),
            flags,
            uid,
            -1,
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
