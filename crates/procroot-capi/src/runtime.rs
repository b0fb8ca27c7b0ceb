//! The runtime toolkit from C: the sealed binary, masking and read-only paths, procfs mounts,
//! sysctls, and running a command in a process's namespaces.

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use procroot::{Error, Root};

// The globs also bring the functions the docs here link to (`procroot_resolve`...).
use crate::core::*;
use crate::error::{ffi, invalid, procroot_error, ErrOut};
use crate::procfs::*;
use crate::util::{cstr, cstr_array, cstr_list, handle, out, path_arg, text_arg, CBorrowedFd};

/// [`procroot_sealed_exe_ensure`]: a read-only overlay view of the binary.
pub const PROCROOT_SEALED_OVERLAY: c_int = 1;
/// [`procroot_sealed_exe_ensure`]: a sealed memfd copy.
pub const PROCROOT_SEALED_MEMFD: c_int = 2;
/// [`procroot_sealed_exe_ensure`]: a read-only `O_TMPFILE` copy.
pub const PROCROOT_SEALED_TMPFILE: c_int = 3;
/// [`procroot_sealed_exe_ensure`]: no copy, the binary is on a read-only mount (`mount --bind -o
/// ro`, a read-only `/usr`) that a container cannot make writable.
pub const PROCROOT_SEALED_READ_ONLY_MOUNT: c_int = 4;

/// Makes sure the running binary is a sealed copy (CVE-2019-5736), re-executing it if needed:
/// returns the strategy in use (`PROCROOT_SEALED_*`).
///
/// # Safety
/// `err` NULL or writable. Like `execve(2)`, this may replace the process image.
#[no_mangle]
pub unsafe extern "C" fn procroot_sealed_exe_ensure(err: *mut *mut procroot_error) -> c_int {
    use procroot_runtime::exec::sealed_exe::Strategy;
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    ffi(err, || {
        Ok(match procroot_runtime::exec::sealed_exe::ensure()? {
            Strategy::Overlay => PROCROOT_SEALED_OVERLAY,
            Strategy::Memfd => PROCROOT_SEALED_MEMFD,
            Strategy::Tmpfile => PROCROOT_SEALED_TMPFILE,
            Strategy::ReadOnlyMount => PROCROOT_SEALED_READ_ONLY_MOUNT,
        })
    })
}

/// [`procroot_mask_paths`] / [`procroot_make_readonly`] `results[i]`: path `i` is masked or
/// read-only now.
pub const PROCROOT_PATH_DONE: i32 = 0;
/// `results[i]`: path `i` was skipped (missing, or under a file).
pub const PROCROOT_PATH_SKIPPED: i32 = 1;

/// The C path array as paths: NULL (`None`) with a non-zero count, or a NULL entry, is
/// `-EINVAL` naming it.
fn path_list(paths: Option<Vec<Option<&CStr>>>) -> Result<Vec<&Path>, Error> {
    paths
        .ok_or_else(|| invalid("paths is NULL with a non-zero npaths"))?
        .into_iter()
        .enumerate()
        .map(|(i, p)| path_arg(p, &format!("paths[{i}]")))
        .collect()
}

/// Turns a container [`Report`](procroot_runtime::container::Report) into the C convention: the count
/// done, or the first refusal's `-errno` with every refusal in the message; `results` (NULL or
/// `paths.len()` entries) gets each path's outcome.
fn report_out(
    paths: &[&Path],
    report: procroot_runtime::container::Report,
    results: Option<&mut [i32]>,
) -> Result<c_int, Error> {
    if let Some(out) = results {
        for (slot, p) in out.iter_mut().zip(paths) {
            *slot = if let Some((_, e)) = report.refused.iter().find(|(r, _)| r == p) {
                -e.errno().raw_os_error()
            } else if report.skipped.iter().any(|(r, _)| r == p)
                && !report.masked.iter().chain(&report.readonly).any(|r| r == p)
            {
                PROCROOT_PATH_SKIPPED
            } else {
                PROCROOT_PATH_DONE
            };
        }
    }
    if let Some((_, first)) = report.refused.first() {
        let all: Vec<String> = report
            .refused
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        let done = report.masked.len() + report.readonly.len();
        return Err(Error::with_detail(
            first.kind(),
            first.errno(),
            format!(
                "{} path(s) refused, {done} done: {}",
                report.refused.len(),
                all.join("; ")
            ),
        ));
    }
    Ok(c_int::try_from(report.masked.len() + report.readonly.len()).unwrap_or(c_int::MAX))
}

/// Masks `npaths` paths inside the root as runc's `maskedPaths` (a directory gets an empty
/// read-only tmpfs, anything else the host's verified `/dev/null`), each resolved to an fd
/// first. Returns the number masked; a missing path is skipped. If any path was refused:
/// the first refusal's `-errno`, with every refused path in the message (the others are still
/// masked). `results` (NULL, or `npaths` entries) receives each path's outcome:
/// `PROCROOT_PATH_DONE`, `PROCROOT_PATH_SKIPPED` or `-errno`. Changes the caller's mount
/// namespace: call it in the container's.
///
/// # Safety
/// As [`procroot_resolve`]; `paths` has `npaths` NUL-terminated strings; `results` is NULL or
/// has `npaths` writable entries.
#[no_mangle]
pub unsafe extern "C" fn procroot_mask_paths(
    root: *const procroot_root,
    paths: *const *const c_char,
    npaths: usize,
    results: *mut i32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract; it is `PathListArgs::from_raw`'s contract.
    let args = unsafe { PathListArgs::from_raw(root, paths, npaths, results, err) };
    args.run(|r, p| procroot_runtime::container::mask_paths(r, p))
}

/// Makes `npaths` paths inside the root read-only (a recursive read-only clone moved onto
/// each), as runc's `readonlyPaths`. Return value and `results` as [`procroot_mask_paths`].
///
/// # Safety
/// As [`procroot_mask_paths`].
#[no_mangle]
pub unsafe extern "C" fn procroot_make_readonly(
    root: *const procroot_root,
    paths: *const *const c_char,
    npaths: usize,
    results: *mut i32,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: "as procroot_mask_paths"; it is `PathListArgs::from_raw`'s contract.
    let args = unsafe { PathListArgs::from_raw(root, paths, npaths, results, err) };
    args.run(|r, p| procroot_runtime::container::make_readonly(r, p))
}

/// The arguments of [`procroot_mask_paths`] and [`procroot_make_readonly`], as references.
struct PathListArgs<'a> {
    root: Option<&'a procroot_root>,
    paths: Option<Vec<Option<&'a CStr>>>,
    results: Option<&'a mut [i32]>,
    err: ErrOut<'a>,
}

impl<'a> PathListArgs<'a> {
    /// # Safety
    /// As [`procroot_mask_paths`]: `root` NULL or live, `paths` NULL (with `npaths` 0) or
    /// `npaths` NUL-terminated strings, `results` NULL or `npaths` writable entries, all for
    /// `'a`; `err` NULL or writable.
    unsafe fn from_raw(
        root: *const procroot_root,
        paths: *const *const c_char,
        npaths: usize,
        results: *mut i32,
        err: *mut *mut procroot_error,
    ) -> Self {
        PathListArgs {
            // SAFETY: `root` is NULL or a live root for 'a (this fn's contract).
            root: unsafe { handle(root) },
            // SAFETY: `paths` is NULL or `npaths` NUL-terminated strings for 'a (contract).
            paths: unsafe { cstr_array(paths, npaths) },
            // SAFETY: `results` is NULL or `npaths` writable entries, shared with no other
            // argument, for 'a (this fn's contract).
            results: unsafe { out_slice(results, npaths) },
            // SAFETY: `err` is NULL or writable (this fn's contract).
            err: unsafe { ErrOut::from_raw(err) },
        }
    }

    /// `op` over the paths, its per-path report written to `results`.
    fn run(
        self,
        op: fn(&Root, &[&Path]) -> procroot::Result<procroot_runtime::container::Report>,
    ) -> c_int {
        let PathListArgs {
            root,
            paths,
            results,
            err,
        } = self;
        ffi(err, || {
            let r = required_root(root)?;
            let paths = path_list(paths)?;
            let report = op(&r.read(), &paths)?;
            report_out(&paths, report, results)
        })
    }
}

/// The `results` array of a path-list call: `None` for NULL.
///
/// # Safety
/// `results` is NULL or points to `n` writable `i32`s that nothing else touches for `'a`.
unsafe fn out_slice<'a>(results: *mut i32, n: usize) -> Option<&'a mut [i32]> {
    if results.is_null() {
        return None;
    }
    // SAFETY: not NULL; `n` writable entries, exclusively ours for 'a (this fn's contract).
    Some(unsafe { std::slice::from_raw_parts_mut(results, n) })
}

fn required_root(root: Option<&procroot_root>) -> Result<&procroot_root, Error> {
    crate::util::required(root, "root")
}

/// Mounts a new procfs (`nosuid,nodev,noexec`) on the directory `dest` inside the root. A
/// symlink anywhere on the way is `-ELOOP`, a non-directory `-ENOTDIR` (SAFETY_VIOLATION,
/// CVE-2019-19921); below the root's `/proc` or on a procfs, `-EPERM`. `pidns_fd`: an fd of
/// `/proc/<pid>/ns/pid` for the instance's PID namespace, or -1 for the caller's (with a pidns
/// and no new mount API: `-ENOSYS`, NOT_SUPPORTED; its helper process exposes the caller's
/// binary as in [`procroot_procfs_for_pidns`]); `subset_pid`: 0 or 1; `hidepid`: -1 (not set),
/// 0, 1, 2 or 4. Returns 0.
///
/// # Safety
/// As [`procroot_resolve`]; `pidns_fd` stays open during the call.
#[no_mangle]
pub unsafe extern "C" fn procroot_mount_procfs(
    root: *const procroot_root,
    dest: *const c_char,
    pidns_fd: CBorrowedFd<'_>,
    subset_pid: c_int,
    hidepid: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    use procroot_runtime::container::{HidePid, ProcfsMountOptions};
    // SAFETY: "as procroot_resolve" for `root`, `dest` and `err`: `PathArgs::from_raw`'s.
    let args = unsafe { PathArgs::from_raw(root, dest, err) };
    args.run(|r, dest| {
        let pidns = match pidns_fd.raw() {
            -1 => None,
            _ => Some(pidns_fd.try_as_borrowed_fd()?),
        };
        let subset_pid = match subset_pid {
            0 => false,
            1 => true,
            s => return Err(invalid(format!("subset_pid must be 0 or 1, not {s}"))),
        };
        let hidepid = match hidepid {
            -1 => None,
            0 => Some(HidePid::Off),
            1 => Some(HidePid::NoAccess),
            2 => Some(HidePid::Invisible),
            4 => Some(HidePid::Ptraceable),
            h => {
                return Err(invalid(format!(
                    "hidepid must be -1, 0, 1, 2 or 4, not {h}"
                )))
            }
        };
        let opts = ProcfsMountOptions {
            pidns,
            subset_pid,
            hidepid,
        };
        procroot_runtime::container::mount_procfs(r, dest, &opts).map(|_| 0)
    })
}

/// Writes `value` to the sysctl `name` (`net.ipv4.ip_forward`, or `net/ipv4/ip_forward`)
/// through an unmasked hardened procfs, refusing a `/proc/sys` file with something mounted on
/// it (`-EXDEV`). Namespaced sysctls are the calling thread's; `pid` > 0 writes in the
/// namespace of that process that owns the sysctl instead, or refuses with `-EINVAL`: only
/// `net.*`, the IPC sysctls and `fs.mqueue.*`, `kernel.hostname`/`kernel.domainname`, `user.*`
/// and `kernel.pid_max` (Linux 6.14+), and only a namespace that process does not share with
/// the caller (a machine-wide name such as `kernel.core_pattern` is refused before anything is
/// opened). Returns 0.
///
/// # Safety
/// `name` and `value` are NUL-terminated; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_write_sysctl(
    pid: u32,
    name: *const c_char,
    value: *const c_char,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `name` is NUL-terminated and alive for the call (contract).
    let name = unsafe { cstr(name) };
    // SAFETY: `value` is NUL-terminated and alive for the call (contract).
    let value = unsafe { cstr(value) };
    ffi(err, || {
        let name = text_arg(name, "name")?;
        let value = text_arg(value, "value")?;
        if pid == 0 {
            procroot_runtime::container::write_sysctl(name, value)?;
        } else {
            procroot_runtime::container::write_sysctl_in(pid, name, value)?;
        }
        Ok(0)
    })
}

/// [`procroot_exec`]: keep the caller's own credentials (uid, groups, every capability, no
/// seccomp filter), as `nsenter` does, instead of the target's. The command then holds the
/// caller's (host) root inside the container: the container's binaries must be trusted.
pub const PROCROOT_EXEC_PRIVILEGED: u32 = 1;
/// [`procroot_exec`]: run without the target's seccomp filters (when they cannot be copied,
/// the call is refused without this flag).
pub const PROCROOT_EXEC_NO_SECCOMP: u32 = 2;
/// [`procroot_exec`]: start the command in the target's cgroup (cgroup v2).
pub const PROCROOT_EXEC_JOIN_CGROUP: u32 = 4;
/// [`procroot_exec`]: start the command with an empty environment instead of the target's.
pub const PROCROOT_EXEC_ENV_CLEAR: u32 = 8;
/// [`procroot_exec`]: give the command the caller's environment (as `nsenter` does) instead of
/// the target's: every variable of the caller (tokens, credentials) then reaches the container.
pub const PROCROOT_EXEC_PRESERVE_ENV: u32 = 16;

/// The credentials of a process, as [`procroot_credentials_of`] fills them: how a command
/// started by [`procroot_exec`] runs by default.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct procroot_credentials {
    /// The effective uid as the target's user namespace numbers it, or -1 when that namespace
    /// maps none of its ids.
    pub uid: i64,
    /// The effective gid, likewise.
    pub gid: i64,
    /// The bounding set (bit N is capability N).
    pub cap_bounding: u64,
    /// The permitted set.
    pub cap_permitted: u64,
    /// The effective set.
    pub cap_effective: u64,
    /// The inheritable set.
    pub cap_inheritable: u64,
    /// The ambient set.
    pub cap_ambient: u64,
    /// 1 when `no_new_privs` is set.
    pub no_new_privs: c_int,
    /// How many seccomp filters were copied out of the target (0: none, or not copyable).
    pub seccomp_filters: u32,
}

/// Reads the credentials of the process `target` names (`exec::credentials_of`): its ids,
/// capability sets, `no_new_privs`, and its seccomp filters (copied with
/// `PTRACE_SECCOMP_GET_FILTER`, which stops the target briefly). Returns 0.
///
/// # Safety
/// `target` is a live pidfd from procroot; `out` points to a writable
/// `procroot_credentials`; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_credentials_of(
    target: *const procroot_pidfd,
    out: *mut procroot_credentials,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `target` is a live pidfd from procroot (contract; NULL is refused below).
    let target = unsafe { handle(target) };
    // SAFETY: `out` points to a writable `procroot_credentials` (contract; NULL is refused).
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let target = crate::util::required(target, "target")?;
        let out = out_arg(out)?;
        let c = procroot_runtime::exec::credentials_of(&target.pidfd)?;
        let caps = c.capabilities();
        let creds = procroot_credentials {
            uid: c.uid().map_or(-1, i64::from),
            gid: c.gid().map_or(-1, i64::from),
            cap_bounding: caps.bounding,
            cap_permitted: caps.permitted,
            cap_effective: caps.effective,
            cap_inheritable: caps.inheritable,
            cap_ambient: caps.ambient,
            no_new_privs: c_int::from(c.no_new_privs()),
            seccomp_filters: u32::try_from(c.seccomp_filters()).unwrap_or(u32::MAX),
        };
        *out = creds;
        Ok(0)
    })
}

/// Runs `argv` (`argv[0]` is the program, looked up in `PATH` inside the target's root when it
/// has no `/`; NULL-terminated) in every namespace the target does not share with the caller,
/// chrooted in its root, in `cwd` (NULL: `/`) resolved inside it, with only fds 0-2, and waits
/// for it (`exec::spawn_in`).
///
/// The command's environment is the target's own (its `/proc/<pid>/environ`) plus the caller's
/// `TERM`, not the caller's: the caller's environment holds host credentials that must not
/// reach a binary of the container, whose other processes can read the command's environment.
/// If the target's environment cannot be read, the call fails and the command never runs.
/// [`PROCROOT_EXEC_ENV_CLEAR`] starts it empty, [`PROCROOT_EXEC_PRESERVE_ENV`] gives the
/// caller's (not both: `-EINVAL`). `envp` (NULL for none) is a NULL-terminated array of
/// `KEY=VALUE` strings set over that (later ones win); an entry without `=` or with an empty
/// `KEY` is `-EINVAL`.
///
/// The command runs as the target runs (its ids, groups, capability sets, `no_new_privs`,
/// seccomp filters) unless `flags` has [`PROCROOT_EXEC_PRIVILEGED`]; `uid`/`gid` >= 0 override
/// the ids (numbered as in the target's user namespace; -1 keeps the target's). Other flags:
/// [`PROCROOT_EXEC_NO_SECCOMP`], [`PROCROOT_EXEC_JOIN_CGROUP`]. `config` (NULL for none) is
/// the container's OCI `config.json`: when the target's seccomp filter cannot be copied, its
/// `linux.seccomp` section is compiled and installed instead (`exec --config`; a config without
/// that section, or a profile that does not compile, is `-EINVAL` naming the cause, and with
/// [`PROCROOT_EXEC_NO_SECCOMP`] or [`PROCROOT_EXEC_PRIVILEGED`] it is `-EINVAL`). Returns 0 with `*status` the
/// command's wait status (`WIFEXITED`, `WEXITSTATUS`...); a failure before the command ran is
/// `-errno` and the command never runs.
///
/// # Safety
/// `target` is a live pidfd from procroot; `argv` a NULL-terminated array of NUL-terminated
/// strings; `envp` NULL or likewise; `cwd` and `config` NULL or NUL-terminated; `status`
/// writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_exec(
    target: *const procroot_pidfd,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    flags: u32,
    uid: i64,
    gid: i64,
    config: *const c_char,
    status: *mut c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `target` is a live pidfd from procroot (contract; NULL is refused below).
    let target = unsafe { handle(target) };
    // SAFETY: `argv` is a NULL-terminated array of NUL-terminated strings, alive for the call
    // (contract; a NULL array is refused below).
    let argv = unsafe { cstr_list(argv) };
    // SAFETY: `envp` is NULL or a NULL-terminated array of NUL-terminated strings, alive for
    // the call (contract).
    let envp = unsafe { cstr_list(envp) };
    // SAFETY: `cwd` is NULL or NUL-terminated, alive for the call (contract).
    let cwd = unsafe { cstr(cwd) };
    // SAFETY: `config` is NULL or NUL-terminated, alive for the call (contract).
    let config = unsafe { cstr(config) };
    // SAFETY: `status` points to a writable `int` (contract; NULL is refused below).
    let status = unsafe { out(status) };
    ffi(err, || {
        let target = crate::util::required(target, "target")?;
        let (Some(argv), Some(status)) = (argv, status) else {
            return Err(invalid("argv or status is NULL"));
        };
        let known = PROCROOT_EXEC_PRIVILEGED
            | PROCROOT_EXEC_NO_SECCOMP
            | PROCROOT_EXEC_JOIN_CGROUP
            | PROCROOT_EXEC_ENV_CLEAR
            | PROCROOT_EXEC_PRESERVE_ENV;
        if flags & !known != 0 {
            return Err(invalid(format!(
                "unknown exec flag bits {:#x}",
                flags & !known
            )));
        }
        let id = |v: i64, what: &str| match v {
            -1 => Ok(None),
            0..=0xffff_fffe => Ok(Some(v as u32)),
            _ => Err(invalid(format!(
                "{what} {v} is not an id (-1 keeps the target's)"
            ))),
        };
        let (uid, gid) = (id(uid, "uid")?, id(gid, "gid")?);
        let args: Vec<&OsStr> = argv
            .iter()
            .map(|a| OsStr::from_bytes(a.to_bytes()))
            .collect();
        let mut env = Vec::new();
        if let Some(envp) = envp {
            for e in envp {
                let b = e.to_bytes();
                match b.iter().position(|&c| c == b'=') {
                    Some(i) if i > 0 => env.push((
                        OsStr::from_bytes(&b[..i]).to_owned(),
                        OsStr::from_bytes(&b[i + 1..]).to_owned(),
                    )),
                    _ => {
                        return Err(invalid(format!(
                            "envp entry {:?} is not KEY=VALUE with a non-empty KEY",
                            OsStr::from_bytes(b)
                        )))
                    }
                }
            }
        }
        let Some((program, rest)) = args.split_first() else {
            return Err(invalid("argv is empty"));
        };
        let mut cmd = procroot_runtime::exec::Command::new(program);
        cmd.args(rest);
        if cwd.is_some() {
            cmd.current_dir(path_arg(cwd, "cwd")?);
        }
        if flags & PROCROOT_EXEC_PRIVILEGED != 0 {
            if uid.is_some() || gid.is_some() || flags & PROCROOT_EXEC_NO_SECCOMP != 0 {
                return Err(invalid(
                    "PROCROOT_EXEC_PRIVILEGED keeps the caller's credentials: no uid, gid or \
                     PROCROOT_EXEC_NO_SECCOMP with it",
                ));
            }
            cmd.privileged();
        }
        match (uid, gid) {
            (Some(u), g) => {
                cmd.user(u, g);
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "a gid needs a uid (-1 for both keeps the target's)",
                ))
            }
            (None, None) => {}
        }
        if flags & PROCROOT_EXEC_NO_SECCOMP != 0 {
            cmd.without_seccomp();
        }
        if flags & PROCROOT_EXEC_JOIN_CGROUP != 0 {
            cmd.join_cgroup();
        }
        if config.is_some() {
            let config = path_arg(config, "config")?;
            cmd.seccomp_profile(procroot_runtime::exec::seccomp_profile::load_profile(
                config,
            )?);
        }
        match (
            flags & PROCROOT_EXEC_ENV_CLEAR != 0,
            flags & PROCROOT_EXEC_PRESERVE_ENV != 0,
        ) {
            (true, true) => {
                return Err(invalid(
                    "PROCROOT_EXEC_ENV_CLEAR and PROCROOT_EXEC_PRESERVE_ENV exclude each other",
                ))
            }
            (true, false) => {
                cmd.env_clear();
            }
            (false, true) => {
                cmd.preserve_env();
            }
            (false, false) => {}
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let st = procroot_runtime::exec::spawn_in(
            &target.pidfd,
            procroot_runtime::exec::NsKinds::unshared(),
            &cmd,
        )?;
        use std::os::unix::process::ExitStatusExt;
        *status = st.into_raw();
        Ok(0)
    })
}

/// [`procroot_apply_layer`] `flags`: give entries the caller's owner, not the archive's (`tar
/// --no-same-owner`); set-ID bits are then dropped.
pub const PROCROOT_LAYER_NO_SAME_OWNER: u32 = 1;
/// `flags`: make device nodes (needs `CAP_MKNOD`); without it they are skipped and counted in
/// `skipped`.
pub const PROCROOT_LAYER_SPECIAL_FILES: u32 = 2;
/// `flags`: refuse (skip) an entry whose parent path crosses a symlink, instead of following
/// it inside the root.
pub const PROCROOT_LAYER_NO_DIRLINKS: u32 = 4;
/// `flags`: let a non-directory entry replace an existing directory (removed with its tree,
/// on this mount only).
pub const PROCROOT_LAYER_OVERWRITE_DIRS: u32 = 8;

/// [`procroot_layer_report`] `compression`: a plain tar stream.
pub const PROCROOT_COMPRESSION_NONE: c_int = 0;
/// `compression`: gzip.
pub const PROCROOT_COMPRESSION_GZIP: c_int = 1;
/// `compression`: zstd.
pub const PROCROOT_COMPRESSION_ZSTD: c_int = 2;

/// What [`procroot_apply_layer`] did: entries made by type, data written, whiteouts and opaque
/// markers applied, and how many entries (or attributes) were skipped or refused.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct procroot_layer_report {
    /// Regular files made.
    pub files: u64,
    /// Directories made or updated.
    pub dirs: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// Hard links made.
    pub hardlinks: u64,
    /// FIFOs made.
    pub fifos: u64,
    /// Character devices made.
    pub char_devices: u64,
    /// Block devices made.
    pub block_devices: u64,
    /// File data written, in bytes.
    pub bytes_written: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// Opaque markers applied.
    pub opaque_dirs: u64,
    /// Entries or attributes skipped or refused (a name above the root, a hard link out of it,
    /// a device node without `PROCROOT_LAYER_SPECIAL_FILES`...). Their names and reasons are
    /// in the library's report, which C does not see: the CLI's `unpack --json` lists them.
    pub skipped: u64,
    /// `PROCROOT_COMPRESSION_*`: the layer's compression, from its first bytes.
    pub compression: c_int,
}

impl From<&procroot_runtime::unpack::LayerReport> for procroot_layer_report {
    fn from(r: &procroot_runtime::unpack::LayerReport) -> Self {
        use procroot_runtime::unpack::Compression;
        let e = &r.entries;
        procroot_layer_report {
            files: e.files,
            dirs: e.dirs,
            symlinks: e.symlinks,
            hardlinks: e.hardlinks,
            fifos: e.fifos,
            char_devices: e.char_devices,
            block_devices: e.block_devices,
            bytes_written: r.bytes_written,
            whiteouts: r.whiteouts,
            opaque_dirs: r.opaque_dirs,
            skipped: r.skipped.len() as u64,
            compression: match r.compression {
                Compression::None => PROCROOT_COMPRESSION_NONE,
                Compression::Gzip => PROCROOT_COMPRESSION_GZIP,
                Compression::Zstd => PROCROOT_COMPRESSION_ZSTD,
            },
        }
    }
}

/// Applies one image layer read from `fd` (a tar stream, plain, gzip or zstd, told by its first
/// bytes; a file or a pipe, read from its current offset, and not closed) to the root, with the
/// OCI image-spec's layer semantics and never writing outside the root
/// (`RootUnpackExt::apply_layer_file`): names are paths inside the root, parents are resolved
/// inside it, nothing is written through a symlink, hard links and whiteouts stay inside it.
/// A plain tar in a regular file has its files' data copied by the kernel (`copy_file_range`),
/// and the offset is left just after its end-of-archive block.
/// `flags`: `PROCROOT_LAYER_*`. Returns 0 with `*report` filled (NULL: not wanted). A refused
/// entry is skipped and counted, not an error; any other failure stops the layer with `-errno`
/// and a message naming the entry, and what was applied before it stays applied.
///
/// # Safety
/// As [`procroot_resolve`]; `fd` stays open during the call; `report` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_apply_layer(
    root: *const procroot_root,
    fd: CBorrowedFd<'_>,
    flags: u32,
    report: *mut procroot_layer_report,
    err: *mut *mut procroot_error,
) -> c_int {
    use procroot_runtime::unpack::LayerOptions;
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `root` is NULL or a live root (contract; NULL is refused below).
    let root = unsafe { handle(root) };
    // SAFETY: `report` is NULL or a writable `procroot_layer_report` (contract).
    let report = unsafe { out(report) };
    ffi(err, || {
        let r = required_root(root)?;
        let known = PROCROOT_LAYER_NO_SAME_OWNER
            | PROCROOT_LAYER_SPECIAL_FILES
            | PROCROOT_LAYER_NO_DIRLINKS
            | PROCROOT_LAYER_OVERWRITE_DIRS;
        if flags & !known != 0 {
            return Err(invalid(format!(
                "unknown layer flag bits {:#x}",
                flags & !known
            )));
        }
        // Read through a duplicate: the caller's fd stays open (and its offset moves, as a
        // read(2) on it would: the duplicate shares it).
        let file = std::fs::File::from(
            fd.try_as_borrowed_fd()?
                .try_clone_to_owned()
                .map_err(|e| Error::from(e).context("dup layer fd", Path::new("")))?,
        );
        let special = if flags & PROCROOT_LAYER_SPECIAL_FILES != 0 {
            procroot::SpecialFiles::Allow
        } else {
            procroot::SpecialFiles::Refuse
        };
        let opts = LayerOptions::default()
            .with_same_owner(flags & PROCROOT_LAYER_NO_SAME_OWNER == 0)
            .with_special_files(special)
            .with_no_dirlinks(flags & PROCROOT_LAYER_NO_DIRLINKS != 0)
            .with_overwrite_dirs(flags & PROCROOT_LAYER_OVERWRITE_DIRS != 0);
        let applied = procroot_runtime::RootUnpackExt::apply_layer_file(&*r.read(), &file, opts)?;
        if let Some(out) = report {
            *out = procroot_layer_report::from(&applied);
        }
        Ok(0)
    })
}
