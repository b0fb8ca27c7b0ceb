//! sysctl and LSM label writes through the hardened procfs.

#![forbid(unsafe_code)]

use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::ThreadNameSpaceType;

use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Namespaces, NsKind};
use crate::procfs::{PidFd, ProcBase, Procfs};
use crate::sys;
use crate::sys::features::{self, Feature};

/// The procfs subpath of a sysctl: `sys/kernel/hostname` for `kernel.hostname` or
/// `kernel/hostname`.
///
/// As `sysctl(8)`: a name with a `/` is taken as a path (its dots are part of the names, as in
/// `net/ipv4/conf/eth0.100/forwarding`); otherwise every `.` separates components.
///
/// Refused (`InvalidInput`, `EINVAL`): an empty name or component, a `..` or `.` component, an
/// absolute name (leading `/`), a NUL byte. The lookup itself stays beneath `/proc/sys` anyway
/// (the hardened procfs refuses `..` and symlinks out), but a bad name is the caller's mistake
/// and says so.
pub fn sysctl_subpath(name: &str) -> Result<PathBuf> {
    let bad =
        |why: &str| Error::invalid_input(Errno::INVAL, format!("bad sysctl name {name:?}: {why}"));
    if name.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if name.starts_with('/') {
        return Err(bad("it must not be absolute"));
    }
    let sep = if name.contains('/') { '/' } else { '.' };
    let mut path = String::from("sys");
    for component in name.split(sep) {
        match component {
            "" => return Err(bad("empty component")),
            "." | ".." => return Err(bad("`.` and `..` are not allowed")),
            c => {
                path.push('/');
                path.push_str(c);
            }
        }
    }
    Ok(PathBuf::from(path))
}

/// Writes `value` to the sysctl `name` ([`sysctl_subpath`]) through an unmasked hardened procfs
/// ([`Procfs::cached_unmasked`]): never through a `/proc` that someone could have mounted over,
/// and refusing a `/proc/sys` file with anything mounted on it (`EXDEV`), except the read-only
/// self-bind container runtimes put on `/proc/sys` (a write there then fails with `EROFS`).
///
/// Namespaced sysctls (`net.*`, `kernel.hostname`, the IPC ones) are those of the calling
/// thread's namespaces; see [`write_sysctl_in`] for another process's.
pub fn write_sysctl(name: &str, value: &str) -> Result<()> {
    let subpath = sysctl_subpath(name)?;
    Procfs::cached_unmasked()?.write(ProcBase::Root, &subpath, value.as_bytes())
}

/// Reads the sysctl `name` (as [`write_sysctl`] finds it), without the trailing newline.
pub fn read_sysctl(name: &str) -> Result<String> {
    let subpath = sysctl_subpath(name)?;
    let mut text = Procfs::cached_unmasked()?.read_to_string(ProcBase::Root, &subpath)?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// The kernel namespace that owns a sysctl: the only sysctls [`write_sysctl_in`] and
/// [`read_sysctl_in`] accept, sorted as runc's validator sorts them (`sysctl()` in
/// `libcontainer/configs/validate/validator.go`), plus `kernel.pid_max` (per PID namespace
/// since Linux 6.14) and `user.*` (per user namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysctlNamespace {
    /// `kernel.{msgmax,msgmnb,msgmni,sem,shmall,shmmax,shmmni,shm_rmid_forced}`, `fs.mqueue.*`.
    Ipc,
    /// `net.*`.
    Net,
    /// `kernel.hostname`, `kernel.domainname`.
    Uts,
    /// `user.*` (`user.max_user_namespaces`, ...).
    User,
    /// `kernel.pid_max`.
    Pid,
}

impl SysctlNamespace {
    /// The namespace kind's name, as in `/proc/<pid>/ns/`: `ipc`, `net`, `uts`, `user`, `pid`.
    pub fn as_str(self) -> &'static str {
        match self {
            SysctlNamespace::Ipc => "ipc",
            SysctlNamespace::Net => "net",
            SysctlNamespace::Uts => "uts",
            SysctlNamespace::User => "user",
            SysctlNamespace::Pid => "pid",
        }
    }

    fn kind(self) -> NsKind {
        match self {
            SysctlNamespace::Ipc => NsKind::Ipc,
            SysctlNamespace::Net => NsKind::Net,
            SysctlNamespace::Uts => NsKind::Uts,
            SysctlNamespace::User => NsKind::User,
            SysctlNamespace::Pid => NsKind::Pid,
        }
    }
}

/// The namespace that owns the sysctl `name` (dotted or a path, as [`sysctl_subpath`]).
///
/// Anything else is refused, `InvalidInput` (`EINVAL`, "not in a separate kernel namespace"):
/// `kernel.core_pattern`, `vm.*`, most of `fs.*` are machine-wide, and "writing them in a
/// container's namespaces" would change the host.
pub fn sysctl_namespace(name: &str) -> Result<SysctlNamespace> {
    let subpath = sysctl_subpath(name)?;
    // The components after `sys`, as sysctl_subpath split them (dots inside a component of a
    // slash-separated name stay in it).
    let parts: Vec<&str> = subpath
        .iter()
        .skip(1)
        .map(|c| c.to_str().unwrap_or(""))
        .collect();
    const IPC_KERNEL: &[&str] = &[
        "msgmax",
        "msgmnb",
        "msgmni",
        "sem",
        "shmall",
        "shmmax",
        "shmmni",
        "shm_rmid_forced",
    ];
    let owner = match parts.as_slice() {
        ["kernel", k] if IPC_KERNEL.contains(k) => Some(SysctlNamespace::Ipc),
        ["fs", "mqueue", _, ..] => Some(SysctlNamespace::Ipc),
        ["net", _, ..] => Some(SysctlNamespace::Net),
        ["kernel", "hostname" | "domainname"] => Some(SysctlNamespace::Uts),
        ["user", _, ..] => Some(SysctlNamespace::User),
        ["kernel", "pid_max"] => Some(SysctlNamespace::Pid),
        _ => None,
    };
    owner.ok_or_else(|| {
        Error::invalid_input(
            Errno::INVAL,
            format!(
                "sysctl {name:?} is not in a separate kernel namespace: it is the whole \
                 machine's, and another process's namespaces cannot hold it"
            ),
        )
    })
}

/// Runs `f` on a short-lived thread that joined the `kinds` namespaces of the process `pidfd`
/// (`setns(pidfd, ...)`, Linux 5.8): the network, UTS and IPC namespaces are per thread, so
/// the caller's other threads are unaffected, and they end with the thread. `/proc/sys` shows
/// the sysctls of the thread that opens them (net, IPC), and the UTS ones act on the namespace
/// of the thread that reads or writes: `f` must do both.
fn on_thread_in<T: Send>(
    pidfd: &PidFd,
    kinds: ThreadNameSpaceType,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_thread_name_spaces(pidfd.as_fd(), kinds).map_err(
                    |errno| {
                        Error::from(sys::SyscallError {
                            syscall: "setns",
                            errno,
                            detail: "joining a network, UTS or IPC namespace needs \
                                     CAP_SYS_ADMIN over it",
                        })
                        .context(
                            "enter the namespaces of",
                            Path::new(&pidfd.pid().to_string()),
                        )
                    },
                )?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::from_errno(Errno::IO)))
    })
}

/// Opens the sysctl `subpath` (`flags`: read or write) in a forked helper that joined the
/// target's `join` namespaces (its user namespace first, then its PID namespace, and forked:
/// `kernel.pid_max` is that of the opener's PID namespace, `user.*` those of its user
/// namespace), and checks the fd it sends back: a file of `procfs`'s own mount, nothing
/// mounted on it, and not the file the caller itself sees (held open meanwhile, so that the
/// same sysctl would be the same dentry): a kernel on which the sysctl is machine-wide
/// (`kernel.pid_max` before Linux 6.14) is refused with `NotSupported`, never written.
///
/// The read or write itself happens here, in the caller: the file is bound to the namespace's
/// own table at lookup, and the kernel checks the writer's capability over that namespace.
fn open_in_helper(
    procfs: &Procfs,
    pidfd: &PidFd,
    join: ThreadNameSpaceType,
    owner: SysctlNamespace,
    subpath: &Path,
    flags: OFlags,
) -> Result<OwnedFd> {
    let ours = match procfs.open(ProcBase::Root, subpath, OFlags::PATH) {
        Ok(file) => Some(file),
        Err(e) if e.errno() == Errno::NOENT => None,
        Err(e) => return Err(e),
    };
    let c_path =
        std::ffi::CString::new(subpath.as_os_str().as_encoded_bytes()).map_err(|_| Errno::INVAL)?;
    let root = procfs.as_fd();
    let use_openat2 = !features::is_disabled(Feature::Openat2);
    // Async-signal-safe: syscalls on a C string built above. openat2 keeps the lookup beneath
    // the procfs root on its mount with no symlink; without it, the checks below catch a file
    // that is not on this procfs mount.
    let make = || {
        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        if use_openat2 {
            match rustix::fs::openat2(
                root,
                c_path.as_c_str(),
                flags,
                Mode::empty(),
                rustix::fs::ResolveFlags::BENEATH
                    | rustix::fs::ResolveFlags::NO_XDEV
                    | rustix::fs::ResolveFlags::NO_MAGICLINKS
                    | rustix::fs::ResolveFlags::NO_SYMLINKS,
            ) {
                Err(Errno::NOSYS | Errno::PERM) => {}
                other => return other.map_err(|e| (0, e)),
            }
        }
        rustix::fs::openat(root, c_path.as_c_str(), flags, Mode::empty()).map_err(|e| (0, e))
    };
    let fd = sys::process::make_fd_in_namespaces(
        sys::process::Join::Process(pidfd.as_fd(), join),
        &make,
    )
    .map_err(|e| {
        let syscall = match e.step {
            sys::process::HelperStep::Setns => "setns(2) into the target's namespaces",
            sys::process::HelperStep::Make(_) => "open(2) of the sysctl inside them",
            _ => "the helper process in the target's namespaces",
        };
        Error::with_detail(
            Error::from_errno(e.errno).kind(),
            e.errno,
            format!("{syscall} failed ({})", sys::errno_name(e.errno)),
        )
        .context(
            "enter the namespaces of",
            Path::new(&pidfd.pid().to_string()),
        )
    })?;
    procfs.check_own_file(fd.as_fd())?;
    if let Some(ours) = ours {
        if crate::sys::FileId::of(&ours)? == crate::sys::FileId::of(&fd)? {
            return Err(Error::with_detail(
                ErrorKind::NotSupported,
                Errno::OPNOTSUPP,
                format!(
                    "this kernel does not keep this sysctl per {} namespace (kernel.pid_max is \
                     per PID namespace since Linux 6.14): writing it would change the caller's",
                    owner.as_str()
                ),
            ));
        }
    }
    Ok(fd)
}

/// What [`in_owner_namespace`] does with the sysctl.
enum Access<'a> {
    Read,
    Write(&'a str),
}

/// Reads or writes the sysctl `name` in the namespace of process `pid` that owns it
/// ([`sysctl_namespace`]), or refuses. The shared work of [`read_sysctl_in`] and
/// [`write_sysctl_in`]: name first (a machine-wide name is refused before anything is opened),
/// then the target must not share that namespace with the caller (else the sysctl would be the
/// caller's own: `InvalidInput`, `EINVAL`), then the sysctl is opened in it.
fn in_owner_namespace(pid: u32, name: &str, access: Access<'_>) -> Result<String> {
    let subpath = sysctl_subpath(name)?;
    let owner = sysctl_namespace(name)?;
    let shown = PathBuf::from(pid.to_string());
    let fail = |e: Error| e.context("enter the namespaces of", &shown);
    let pidfd = PidFd::open(pid)?;
    let unshared = Namespaces::of(&pidfd).map_err(fail)?.unshared();
    if !unshared.contains(&owner.kind()) {
        return Err(fail(Error::invalid_input(
            Errno::INVAL,
            format!(
                "process {pid} shares procroot's {} namespace, which owns sysctl {name:?}: in \
                 that namespace it is the caller's own (the host's), so it is refused",
                owner.as_str()
            ),
        )));
    }
    let procfs = Procfs::cached_unmasked()?;
    let mut text = match owner {
        SysctlNamespace::Ipc | SysctlNamespace::Net | SysctlNamespace::Uts => {
            let kind = match owner {
                SysctlNamespace::Ipc => ThreadNameSpaceType::INTER_PROCESS_COMMUNICATION,
                SysctlNamespace::Net => ThreadNameSpaceType::NETWORK,
                _ => ThreadNameSpaceType::HOST_NAME_AND_NIS_DOMAIN_NAME,
            };
            on_thread_in(&pidfd, kind, || match access {
                Access::Read => procfs.read_to_string(ProcBase::Root, &subpath),
                Access::Write(value) => procfs
                    .write(ProcBase::Root, &subpath, value.as_bytes())
                    .map(|()| String::new()),
            })?
        }
        SysctlNamespace::User | SysctlNamespace::Pid => {
            // The target's user namespace first where it has its own (setns(2) refuses to
            // "join" the caller's own with EINVAL), so that its PID namespace, owned by it, can
            // be joined with the capabilities it gives.
            let mut join = ThreadNameSpaceType::empty();
            if unshared.contains(&NsKind::User) {
                join |= ThreadNameSpaceType::USER;
            }
            if owner == SysctlNamespace::Pid {
                join |= ThreadNameSpaceType::PROCESS_ID;
            }
            let flags = match access {
                Access::Read => OFlags::RDONLY,
                Access::Write(_) => OFlags::WRONLY,
            };
            let fd = open_in_helper(&procfs, &pidfd, join, owner, &subpath, flags)?;
            let io_fail = |errno: Errno| {
                Error::from_errno(errno).context(
                    match access {
                        Access::Read => "read sysctl",
                        Access::Write(_) => "write sysctl",
                    },
                    Path::new(name),
                )
            };
            match access {
                Access::Read => {
                    let mut text = String::new();
                    std::fs::File::from(fd)
                        .read_to_string(&mut text)
                        .map_err(|e| io_fail(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
                    text
                }
                Access::Write(value) => {
                    let written = rustix::io::write(&fd, value.as_bytes()).map_err(io_fail)?;
                    if written != value.len() {
                        return Err(io_fail(Errno::IO));
                    }
                    String::new()
                }
            }
        }
    };
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// [`write_sysctl`] in the namespace of process `pid` that owns the sysctl, or refused.
///
/// Only names [`sysctl_namespace`] accepts (runc's rule: a machine-wide sysctl such as
/// `kernel.core_pattern` is `InvalidInput`, `EINVAL`, before anything is opened), and only when
/// `pid` does not share that namespace with the caller (`InvalidInput`, `EINVAL`: a container
/// in the host's network namespace has the host's `net.*`). Then:
/// - `net.*`, the IPC sysctls and `kernel.hostname`/`kernel.domainname` are written by a
///   short-lived thread that joined that one namespace;
/// - `user.*` and `kernel.pid_max` by the caller, through a file that a forked helper opened
///   after joining the target's user namespace (where it has its own) and, for `pid_max`, its
///   PID namespace: the namespace a sysctl file belongs to is chosen when it is looked up. A
///   kernel that keeps `kernel.pid_max` machine-wide (before 6.14) is refused, `NotSupported`.
///   The helper is non-dumpable, but it is a copy of the caller: see
///   [`Procfs::for_pidns`] about running from a sealed binary.
pub fn write_sysctl_in(pid: u32, name: &str, value: &str) -> Result<()> {
    in_owner_namespace(pid, name, Access::Write(value)).map(drop)
}

/// [`read_sysctl`] in the namespace of process `pid` that owns the sysctl, with the name and
/// namespace checks of [`write_sysctl_in`] (a machine-wide sysctl read "in a container" would
/// be the host's value under the container's name).
pub fn read_sysctl_in(pid: u32, name: &str) -> Result<String> {
    in_owner_namespace(pid, name, Access::Read)
}

/// Writes `label` to this thread's `attr/<which>`, AppArmor's `attr/apparmor/<which>` where
/// that directory exists (Linux 5.1+ with AppArmor), through the hardened procfs handle
/// ([`Procfs::cached`]).
///
/// [`Procfs::write`] refuses a file that is not on that procfs instance, or has anything mounted
/// on it (a fake procfs on `/proc`, CVE-2019-16884; `self/sched` bound over `attr/current`,
/// CVE-2025-52881): `SafetyViolation`, `EXDEV`, and nothing is written.
fn write_label(which: &str, label: &str) -> Result<()> {
    if label.contains('\0') {
        return Err(Error::invalid_input(
            Errno::INVAL,
            "an LSM label must not contain a NUL byte",
        ));
    }
    let procfs = Procfs::cached()?;
    let apparmor = format!("attr/apparmor/{which}");
    let subpath = match procfs.symlink_metadata(ProcBase::ThreadSelf, "attr/apparmor") {
        Ok(meta) if meta.is_dir() => apparmor,
        Ok(_) => {
            return Err(Error::with_detail(
                ErrorKind::SafetyViolation,
                Errno::XDEV,
                "attr/apparmor is not a directory",
            ))
        }
        Err(e) if e.errno() == Errno::NOENT => format!("attr/{which}"),
        Err(e) => return Err(e),
    };
    procfs.write(ProcBase::ThreadSelf, &subpath, label.as_bytes())
}

/// Sets the LSM label the calling thread's next `execve` runs with (`attr/exec`): for SELinux
/// the context, for AppArmor `exec <profile>` (written to `attr/apparmor/exec` where present).
/// The label is written as given, in one `write(2)`.
///
/// The checks that stop CVE-2019-16884 and CVE-2025-52881 are [`Procfs::write`]'s: a fake or
/// overmounted `attr/exec` is refused with `EXDEV`. A kernel without an LSM that takes the write
/// answers `EINVAL`, which is returned as is.
pub fn set_exec_label(label: &str) -> Result<()> {
    write_label("exec", label)
}

/// Sets the calling thread's current LSM label (`attr/current`, or `attr/apparmor/current`),
/// with the checks of [`set_exec_label`].
pub fn set_current_label(label: &str) -> Result<()> {
    write_label("current", label)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysctl that is the same file in every namespace (here `kernel.ostype`, standing in for
    /// `kernel.pid_max` before Linux 6.14, which the name rules cannot reach on a newer kernel):
    /// the forked helper's file is the caller's own, and it is refused, `NotSupported`, never
    /// written.
    #[cfg_attr(
        procroot_unprivileged,
        ignore = "needs root: built with --cfg procroot_unprivileged"
    )]
    #[test]
    fn a_machine_wide_file_from_the_helper_is_refused() {
        procroot_testutil::require_privilege("root: a user namespace of a child process");
        // `unshare -U` (util-linux) then `sleep`: once the child runs `sleep`, it is in a user
        // namespace of its own. (This module forbids `unsafe`, so no fork + unshare here.)
        struct KillOnDrop(std::process::Child);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let child = KillOnDrop(
            std::process::Command::new("unshare")
                .args(["-U", "sleep", "60"])
                .spawn()
                .expect("unshare(1) from util-linux"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::read_to_string(format!("/proc/{}/comm", child.0.id()))
            .map_or(true, |c| c.trim() != "sleep")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare -U never ran sleep"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pidfd = PidFd::open(child.0.id()).unwrap();
        let procfs = Procfs::cached_unmasked().unwrap();
        let err = open_in_helper(
            &procfs,
            &pidfd,
            ThreadNameSpaceType::USER,
            SysctlNamespace::User,
            Path::new("sys/kernel/ostype"),
            OFlags::RDONLY,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
        // A per-namespace one goes through.
        open_in_helper(
            &procfs,
            &pidfd,
            ThreadNameSpaceType::USER,
            SysctlNamespace::User,
            Path::new("sys/user/max_user_namespaces"),
            OFlags::RDONLY,
        )
        .unwrap();
    }
}
