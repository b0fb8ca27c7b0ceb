//! sysctl and LSM label writes through the hardened procfs.

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::thread::ThreadNameSpaceType;

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{ProcBase, Procfs};
use crate::sys;

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

/// Runs `f` on a short-lived thread that joined the network, UTS and IPC namespaces of process
/// `pid` (`setns(pidfd, CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)`, Linux 5.8): those are the
/// namespaces whose sysctls `/proc/sys` shows to the thread that opens them. The namespaces are
/// per thread, so the caller's other threads are unaffected, and they end with the thread.
fn in_sysctl_namespaces<T: Send>(pid: u32, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let pidfd = sys::process::pidfd_open(pid).map_err(|e| {
        Error::from(sys::SyscallError {
            syscall: "pidfd_open",
            errno: e,
            detail: "",
        })
        .context("enter the namespaces of", Path::new(&pid.to_string()))
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_thread_name_spaces(
                    pidfd.as_fd(),
                    ThreadNameSpaceType::NETWORK
                        | ThreadNameSpaceType::HOST_NAME_AND_NIS_DOMAIN_NAME
                        | ThreadNameSpaceType::INTER_PROCESS_COMMUNICATION,
                )
                .map_err(|errno| {
                    Error::from(sys::SyscallError {
                        syscall: "setns",
                        errno,
                        detail: "joining the network, UTS and IPC namespaces needs CAP_SYS_ADMIN \
                                 over them",
                    })
                    .context("enter the namespaces of", Path::new(&pid.to_string()))
                })?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::from_errno(Errno::IO)))
    })
}

/// [`write_sysctl`] in the network, UTS and IPC namespaces of process `pid` (network sysctls are
/// per network namespace: a container's `net.ipv4.ip_forward` is its own).
pub fn write_sysctl_in(pid: u32, name: &str, value: &str) -> Result<()> {
    let subpath = sysctl_subpath(name)?;
    let procfs = Procfs::cached_unmasked()?;
    in_sysctl_namespaces(pid, || {
        procfs.write(ProcBase::Root, &subpath, value.as_bytes())
    })
}

/// [`read_sysctl`] in the network, UTS and IPC namespaces of process `pid`.
pub fn read_sysctl_in(pid: u32, name: &str) -> Result<String> {
    let subpath = sysctl_subpath(name)?;
    let procfs = Procfs::cached_unmasked()?;
    let mut text = in_sysctl_namespaces(pid, || procfs.read_to_string(ProcBase::Root, &subpath))?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
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
