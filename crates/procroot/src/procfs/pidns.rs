//! procfs for a chosen PID namespace.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::io::Errno;

use super::{new_instance, Acquisition, Procfs};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::features::{self, Feature};
use crate::sys::process::{self, CLONE_NEWPID};

impl Procfs {
    /// A new, unmasked procfs instance for the PID namespace `nsfd` (an fd of
    /// `/proc/<pid>/ns/pid`, or a pidfd is *not* accepted): process 1 of that namespace appears
    /// as `1`, and `self` is absent unless the caller is in it.
    ///
    /// Fallback chain:
    /// 1. the `pidns=` mount option (`fsconfig(FSCONFIG_SET_FD)`, Linux 6.18);
    /// 2. a short-lived helper: a child joins the namespace (`setns`), its child makes the
    ///    instance with `fsopen` and sends the fd back over `SCM_RIGHTS`.
    ///
    /// Errors: `EINVAL`/`InvalidInput` for an fd that is not a PID namespace; `EINVAL` for a
    /// namespace that is neither the caller's nor a descendant of it; `EPERM` without
    /// `CAP_SYS_ADMIN` over the namespace's user namespace.
    pub fn for_pidns(nsfd: impl AsFd) -> Result<Procfs> {
        let nsfd = nsfd.as_fd();
        let context = |e: Error| e.context("make procfs", Path::new("for a PID namespace"));
        match process::namespace_type(nsfd) {
            Ok(CLONE_NEWPID) => {}
            Ok(_) | Err(Errno::NOTTY | Errno::INVAL) => {
                return Err(context(Error::invalid_input(
                    Errno::INVAL,
                    "not a PID namespace fd (expected an fd of /proc/<pid>/ns/pid)",
                )))
            }
            Err(e) => return Err(context(e.into())),
        }
        if !features::is_disabled(Feature::Fsopen)
            && !features::is_disabled(Feature::ProcPidnsOption)
        {
            match new_instance(false, Some(nsfd)) {
                Ok(fd) => {
                    return Procfs::verified(fd, Acquisition::PidnsOption, false).map_err(context)
                }
                // An older kernel does not know `pidns` (EINVAL, like a bad fd would be); the
                // helper below tells the two apart by trying for real.
                Err(Errno::INVAL | Errno::NOSYS) => {}
                Err(e) => return Err(context(describe(e))),
            }
        }
        let fd: OwnedFd = process::make_fd_in_pidns(nsfd, || new_instance(false, None))
            .map_err(|e| context(describe(e)))?;
        Procfs::verified(fd, Acquisition::PidnsHelper, false).map_err(context)
    }
}

fn describe(errno: Errno) -> Error {
    match errno {
        Errno::PERM => Error::with_detail(
            ErrorKind::Os,
            Errno::PERM,
            "no CAP_SYS_ADMIN over the PID namespace's user namespace",
        ),
        Errno::INVAL => Error::with_detail(
            ErrorKind::InvalidInput,
            Errno::INVAL,
            "the PID namespace is neither the caller's nor a descendant of it",
        ),
        other => Error::from_errno(other),
    }
}
