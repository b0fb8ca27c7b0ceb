//! Entering another process's namespaces and running a command there (`procroot exec`), and
//! running procroot itself from a sealed copy of its binary ([`sealed_exe`]).
//!
//! These are the "join a container" pieces of a runtime (runc's `nsexec` and its cloned binary),
//! built on [`Procfs`] for the namespace files and on [`PidFd`] so that a process whose PID was
//! reused is never entered by mistake.
//!
//! ```no_run
//! use procroot_runtime::exec::{self, Command, NsKinds};
//! use procroot::PidFd;
//!
//! exec::sealed_exe::ensure()?; // first thing in main: see `sealed_exe`
//! let target = PidFd::open(1234)?;
//! let status = exec::spawn_in(&target, NsKinds::unshared(), &Command::new("hostname"))?;
//! println!("{status}");
//! # Ok::<(), procroot::Error>(())
//! ```

#![forbid(unsafe_code)]

mod creds;
mod environ;
pub mod sealed_exe;
pub mod seccomp_profile;

pub use creds::{credentials_of, CapSets, Credentials};

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Component, Path, PathBuf};
use std::process::ExitStatus;
use std::str::FromStr;

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::procfs::{PidFd, ProcBase, Procfs};
use crate::root::Root;
use crate::sys;
use crate::sys::creds::CredsPlan;
use crate::sys::features::{self, Feature};
use crate::sys::ns::NsPlan;
use crate::sys::spawn::{CArgs, ChildError, SpawnPlan, StartError};
use crate::sys::Syscall;
use crate::FileType;
use crate::Policy;

/// `NSFS_MAGIC`, the `f_type` of namespace files (`include/uapi/linux/magic.h`).
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The `PATH` a command name is looked up in when its environment has none (the same default
/// as runc and nsenter's shells).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One kind of namespace: a row of the one namespace table
/// ([`procroot_sys::ns::NS_TYPES`]), whose order is the order procroot enters them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NsKind {
    /// User and group ids and capabilities (`user`); entered first.
    User = 0,
    /// The cgroup root (`cgroup`, Linux 4.6).
    Cgroup = 1,
    /// System V IPC and POSIX message queues (`ipc`).
    Ipc = 2,
    /// Host and domain names (`uts`).
    Uts = 3,
    /// Network devices, addresses, ports (`net`).
    Net = 4,
    /// The mount namespace (`mnt`).
    Mnt = 5,
    /// Process ids (`pid`); applies to children, so the command is forked after entering it.
    Pid = 6,
    /// Boot and monotonic clock offsets (`time`, Linux 5.6); applies to children.
    Time = 7,
}

impl NsKind {
    /// Every kind, in the order procroot enters them (the table's order).
    pub const ALL: [NsKind; 8] = [
        NsKind::User,
        NsKind::Cgroup,
        NsKind::Ipc,
        NsKind::Uts,
        NsKind::Net,
        NsKind::Mnt,
        NsKind::Pid,
        NsKind::Time,
    ];

    /// Its row of the namespace table: each variant's value is its index there.
    fn ty(self) -> &'static sys::ns::NsType {
        &sys::ns::NS_TYPES[self as usize]
    }

    /// The `CLONE_NEW*` flag.
    pub fn clone_flag(self) -> i32 {
        self.ty().flag()
    }

    /// The name of its file in `/proc/<pid>/ns/` (`mnt`, `net`...).
    pub fn name(self) -> &'static str {
        self.ty().name()
    }

    /// Whether a kernel procroot supports may lack this kind (`cgroup` before 4.6, `time`
    /// before 5.6, or either configured out). A missing file of any other kind means the
    /// process exited.
    pub fn may_be_missing(self) -> bool {
        self.ty().may_be_missing()
    }

    /// Every kind's name, comma-separated, for messages.
    fn names() -> String {
        let names: Vec<&str> = NsKind::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }

    /// Whether it applies only to the children of the process that enters it (`pid`, `time`),
    /// so the command must be forked once more after entering.
    fn applies_to_children(self) -> bool {
        matches!(self, NsKind::Pid | NsKind::Time)
    }
}

impl fmt::Display for NsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NsKind {
    type Err = Error;

    /// `mnt`, `uts`, `ipc`, `net`, `pid`, `cgroup`, `user` or `time`; anything else is
    /// `InvalidInput` (`EINVAL`).
    fn from_str(s: &str) -> Result<NsKind> {
        NsKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::invalid_input(
                    Errno::INVAL,
                    format!("unknown namespace {s:?} (known: all, {})", NsKind::names()),
                )
            })
    }
}

/// A set of namespace kinds, or "every kind the target does not share with us"
/// ([`NsKinds::unshared`], the default of `procroot exec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsKinds {
    flags: i32,
    unshared: bool,
}

impl NsKinds {
    /// Every namespace the target does not share with the caller (those it shares are skipped:
    /// entering one's own user namespace is an error, the others a no-op).
    pub fn unshared() -> NsKinds {
        NsKinds {
            flags: NsKind::ALL.iter().fold(0, |f, k| f | k.clone_flag()),
            unshared: true,
        }
    }

    /// No namespace: the command still runs chrooted in the target's root.
    pub fn none() -> NsKinds {
        NsKinds {
            flags: 0,
            unshared: false,
        }
    }

    /// These kinds (those the target shares with the caller are skipped all the same).
    pub fn of(kinds: &[NsKind]) -> NsKinds {
        NsKinds {
            flags: kinds.iter().fold(0, |f, k| f | k.clone_flag()),
            unshared: false,
        }
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: NsKind) -> bool {
        self.flags & kind.clone_flag() != 0
    }

    /// The kinds in the set, in entering order.
    pub fn iter(self) -> impl Iterator<Item = NsKind> {
        NsKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl FromStr for NsKinds {
    type Err = Error;

    /// `all` ([`NsKinds::unshared`]) or a comma-separated list of [`NsKind`] names.
    fn from_str(s: &str) -> Result<NsKinds> {
        if s == "all" {
            return Ok(NsKinds::unshared());
        }
        if s.split(',').any(|name| name.trim() == "all") {
            return Err(Error::invalid_input(
                Errno::INVAL,
                format!(
                    "\"all\" cannot be combined with other namespaces in {s:?}: give \"all\" \
                     alone (every namespace the target does not share) or a list of {}",
                    NsKind::names()
                ),
            ));
        }
        let kinds = s
            .split(',')
            .map(|name| name.trim().parse())
            .collect::<Result<Vec<NsKind>>>()?;
        Ok(NsKinds::of(&kinds))
    }
}

/// How [`Namespaces::enter`] joins namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnterMethod {
    /// `setns(pidfd, flags)` (Linux 5.8), one atomic call; on failure, the namespace files one by
    /// one (which also names the namespace a refusal is about).
    #[default]
    Auto,
    /// Only `setns(pidfd, flags)`.
    PidFd,
    /// Only the `/proc/<pid>/ns/*` files, each checked to be an nsfs file of its type.
    NsFiles,
}

/// One namespace of the target.
#[derive(Debug)]
struct NsEntry {
    kind: NsKind,
    fd: OwnedFd,
    shared: bool,
}

/// The namespaces of a process, as nsfs fds taken from its pidfd (or, on kernels before 6.11,
/// opened through the hardened procfs while the process was known to be alive).
#[derive(Debug)]
pub struct Namespaces<'a> {
    pidfd: &'a PidFd,
    entries: Vec<NsEntry>,
    method: EnterMethod,
    procfs: std::sync::Arc<Procfs>,
}

impl<'a> Namespaces<'a> {
    /// The namespaces of the process `pidfd` names (`ESRCH` if it exited, never another
    /// process's), and which of them the caller shares. Kinds the kernel lacks (`time` before
    /// 5.6) are left out.
    ///
    /// Fast path (Linux 6.11): `ioctl(pidfd, PIDFD_GET_*_NAMESPACE)`, on the target's pidfd and
    /// on one of our own, one ioctl and one `fstat` per namespace: no PID, no procfs. Fallback:
    /// `/proc/<pid>/ns/*` through the hardened procfs with a [`ProcBase::PidFd`] base, each
    /// file checked to be an nsfs file of its type (`NS_GET_NSTYPE`). Both make the kernel's
    /// ptrace read-access check, so a refusal (`EACCES`) is the same either way.
    pub fn of(pidfd: &'a PidFd) -> Result<Namespaces<'a>> {
        let procfs = Procfs::cached()?;
        let entries = match entries_from_pidfd(pidfd)? {
            Some(entries) => entries,
            None => entries_from_procfs(&procfs, pidfd)?,
        };
        Ok(Namespaces {
            pidfd,
            entries,
            method: EnterMethod::Auto,
            procfs,
        })
    }

    /// Chooses how to enter (default [`EnterMethod::Auto`]); for tests and restricted kernels.
    pub fn with_method(mut self, method: EnterMethod) -> Self {
        self.method = method;
        self
    }

    /// The kinds the target does not share with the caller.
    pub fn unshared(&self) -> Vec<NsKind> {
        self.entries
            .iter()
            .filter(|e| !e.shared)
            .map(|e| e.kind)
            .collect()
    }

    /// The kinds `kinds` selects that must be entered (those not shared), or `NotSupported`
    /// naming a kind the kernel lacks.
    fn selected(&self, kinds: NsKinds) -> Result<Vec<&NsEntry>> {
        let mut out = Vec::new();
        for kind in kinds.iter() {
            match self.entries.iter().find(|e| e.kind == kind) {
                Some(e) if !e.shared => out.push(e),
                Some(_) => {}
                None if kinds.unshared => {}
                None => {
                    return Err(Error::with_detail(
                        ErrorKind::NotSupported,
                        Errno::NOENT,
                        format!("this kernel has no {kind} namespaces"),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn plan(&self, kinds: NsKinds) -> Result<NsPlan<'_>> {
        let selected = self.selected(kinds)?;
        let mut plan = NsPlan::default();
        if selected.is_empty() {
            return Ok(plan);
        }
        if self.method != EnterMethod::NsFiles {
            let flags = selected.iter().fold(0, |f, e| f | e.kind.clone_flag());
            plan.pidfd = Some((self.pidfd.as_fd(), flags));
        }
        if self.method != EnterMethod::PidFd {
            for e in &selected {
                // Eight kinds, eight entries: never full.
                if !plan.push(e.kind.clone_flag(), e.fd.as_fd()) {
                    return Err(Error::from_errno(Errno::TOOBIG));
                }
            }
        }
        Ok(plan)
    }

    /// Moves the calling thread into the selected namespaces.
    ///
    /// The kernel refuses the user and mount namespaces to a multithreaded caller (`EINVAL`):
    /// call this in a single-threaded process, or use [`Namespaces::spawn`], which forks first.
    /// Errors name the namespace (`setns(2) failed for the net namespace: EPERM`).
    pub fn enter(&self, kinds: NsKinds) -> Result<()> {
        let plan = self.plan(kinds)?;
        sys::spawn::enter(&plan).map_err(|e| self.child_error(e))
    }

    /// [`spawn_in`] with these namespaces: returns once the command has exited, with its status
    /// (with [`Command::forward_signals`], a signal that ended the start before the command's
    /// exec shows as a death by that signal).
    pub fn spawn(&self, kinds: NsKinds, command: &Command<'_>) -> Result<ExitStatus> {
        let shown = PathBuf::from(self.pidfd.pid().to_string());
        let fail = |e: Error| e.within("exec in", &shown);
        let ns = self.plan(kinds).map_err(fail)?;
        let selected = self.selected(kinds).map_err(fail)?;
        let fork_again = selected.iter().any(|e| e.kind.applies_to_children());
        let enter_user = selected.iter().any(|e| e.kind == NsKind::User);
        // Whether the target shares our user namespace is known already (no second lookup).
        let shares_userns = self
            .entries
            .iter()
            .any(|e| e.kind == NsKind::User && e.shared);
        let creds = command
            .creds_plan(self.pidfd, shares_userns, enter_user)
            .map_err(fail)?;

        // The target's root, and the cwd resolved inside it with the library's resolver (no
        // magic links, no escape): a `/proc/self/fd/N` cwd cannot reach a leaked host
        // directory (CVE-2024-21626). The child checks again after chroot.
        let root_fd: OwnedFd = self
            .procfs
            .open_follow(
                ProcBase::PidFd(self.pidfd),
                "root",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            )
            .map_err(|e| match e.errno() {
                Errno::NOENT => fail(exited(self.pidfd)),
                _ => fail(e),
            })?
            .into();
        let root_name = PathBuf::from(format!("/proc/{}/root", self.pidfd.pid()));
        let root = Root::from_fd_named(
            rustix::io::fcntl_dupfd_cloexec(&root_fd, 0)?,
            root_name.clone(),
        );
        let in_cwd = |e: Error| fail(e.within(CWD_CONTEXT, &command.cwd));
        let cwd = root.resolve(&command.cwd).map_err(in_cwd)?;
        if cwd.file_type().map_err(in_cwd)? != FileType::Dir {
            return Err(in_cwd(
                Error::from_errno(Errno::NOTDIR)
                    .context("resolve", &command.cwd)
                    .in_root(&root_name),
            ));
        }

        let cgroup_procs = if command.join_cgroup {
            Some(target_cgroup_procs(&self.procfs, self.pidfd).map_err(fail)?)
        } else {
            None
        };
        let argv = command.argv().map_err(fail)?;
        // Read before the last liveness check below: a target that exits after this is not
        // entered, and a zombie's empty environ is never used.
        let env = command
            .env
            .resolve(&self.procfs, self.pidfd)
            .map_err(fail)?;
        let (envp, path) = envp(env).map_err(fail)?;
        let program = cstring(command.program.as_os_str()).map_err(fail)?;
        let keep_fds = command.keep_fds();
        // A target that died after its namespaces were opened is not entered: its PID may
        // already name another process, and the command must not run.
        if !self.pidfd.is_alive() {
            return Err(fail(exited(self.pidfd)));
        }
        let plan = SpawnPlan {
            ns,
            root: root_fd.as_fd(),
            cwd: cwd.as_fd(),
            program: &program,
            path: &path,
            argv: &argv,
            envp: &envp,
            keep_fds: &keep_fds,
            fork_again,
            cgroup_procs: cgroup_procs.as_ref().map(|f| f.as_fd()),
            creds: creds.as_ref(),
            procfs: self.procfs.as_fd(),
        };
        // A kept fd that is one of ours (a wrong number, or an absent socket-activation fd that
        // our own open took) would hand the target a host fd: the pidfd, a namespace, the
        // target's root seen from the host, our procfs of the host's PID namespace.
        let mut ours = plan.own_fds();
        ours.push(root.as_fd().as_raw_fd());
        if let Some(fd) = keep_fds.iter().find(|fd| ours.contains(&fd.as_raw_fd())) {
            return Err(fail(not_open_in_caller(fd.as_raw_fd())));
        }
        let signals = if command.forward_signals {
            Some(sys::spawn::SignalForwarder::new().map_err(|e| fail(e.into()))?)
        } else {
            None
        };
        let pid = match sys::spawn::spawn(&plan, signals.as_ref()) {
            Ok(pid) => pid,
            Err(StartError::Child(e)) if e.error.syscall == "execve" => {
                return Err(fail(not_run(
                    &command.program,
                    &path,
                    &root_name,
                    e.error.errno,
                )))
            }
            Err(StartError::Child(e)) => return Err(fail(self.child_error(e))),
            // The command never ran; the process being prepared died of our SIGKILL, reported
            // as the signal that ended the start, which a shell expects as 128+N.
            Err(StartError::Interrupted(sig)) => return Ok(ExitStatus::from_raw(sig)),
        };
        let status = match &signals {
            Some(signals) => sys::spawn::wait_forwarding(pid, signals),
            None => sys::spawn::wait(pid),
        }
        .map_err(|e| fail(e.into()))?;
        Ok(ExitStatus::from_raw(status))
    }

    fn child_error(&self, e: ChildError) -> Error {
        let err = e.error;
        let ns = if e.nstype != 0 {
            format!(" for the {} namespace", sys::ns::ns_name(e.nstype))
        } else {
            String::new()
        };
        let mut detail = format!(
            "{}(2) failed{ns}: {}; {}",
            err.syscall,
            sys::errno_description(err.errno),
            err.detail
        );
        if err.syscall == "setns" && err.errno == Errno::PERM {
            detail.push_str(" (entering needs CAP_SYS_ADMIN over the namespace's user namespace)");
        }
        if err.syscall == "setns" && err.errno == Errno::SRCH {
            detail = format!("process {} has exited", self.pidfd.pid());
        }
        let kind = match err.errno {
            Errno::SRCH | Errno::NOENT => ErrorKind::NotFound,
            Errno::XDEV => ErrorKind::SafetyViolation,
            _ => ErrorKind::Os,
        };
        Error::with_detail(kind, err.errno, detail)
    }
}

/// [`Namespaces::of`]'s fast path: `None` when the kernel (or a seccomp filter) offers no
/// `PIDFD_GET_*_NAMESPACE` ioctls, which the first call tells.
fn entries_from_pidfd(pidfd: &PidFd) -> Result<Option<Vec<NsEntry>>> {
    if features::known_unavailable(Feature::PidfdNamespaces) {
        return Ok(None);
    }
    let own = sys::process::pidfd_open(std::process::id()).syscall("pidfd_open")?;
    let mut entries = Vec::with_capacity(NsKind::ALL.len());
    for kind in NsKind::ALL {
        let flag = kind.clone_flag();
        let theirs = match sys::process::pidfd_namespace(pidfd, flag) {
            Ok(fd) => fd,
            // The first call (the user namespace, which every kernel has) answers for all: no
            // such ioctl (before 6.11: ENOTTY; EINVAL from some filesystems' ioctl paths), or a
            // filter refusing it (EPERM, ENOSYS).
            Err(Errno::NOTTY | Errno::INVAL | Errno::PERM | Errno::NOSYS) if entries.is_empty() => {
                features::mark_unavailable(Feature::PidfdNamespaces);
                return Ok(None);
            }
            // A kernel built without this kind.
            Err(Errno::NOTTY | Errno::OPNOTSUPP) if kind.may_be_missing() => continue,
            Err(Errno::SRCH) => return Err(exited(pidfd)),
            Err(e) => {
                return Err(Error::from_errno(e).context(
                    "open the namespace through the pidfd (ioctl PIDFD_GET_*_NAMESPACE)",
                    Path::new(kind.name()),
                ))
            }
        };
        let ours = sys::process::pidfd_namespace(&own, flag).syscall("ioctl")?;
        let shared = same_namespace(&theirs, &ours)?;
        entries.push(NsEntry {
            kind,
            fd: theirs,
            shared,
        });
    }
    Ok(Some(entries))
}

/// Whether two nsfs fds are the same namespace (the same nsfs inode).
fn same_namespace(a: impl AsFd, b: impl AsFd) -> Result<bool> {
    let a = sys::FileId::of(a).syscall("fstat")?;
    let b = sys::FileId::of(b).syscall("fstat")?;
    Ok(a == b)
}

/// [`Namespaces::of`]'s fallback: `/proc/<pid>/ns/*` through the hardened procfs.
fn entries_from_procfs(procfs: &Procfs, pidfd: &PidFd) -> Result<Vec<NsEntry>> {
    let mut entries = Vec::new();
    for kind in NsKind::ALL {
        let name = format!("ns/{}", kind.name());
        let fd: OwnedFd = match procfs.open_follow(
            ProcBase::PidFd(pidfd),
            &name,
            OFlags::RDONLY | OFlags::CLOEXEC,
        ) {
            Ok(f) => f.into(),
            // Only the kinds a kernel may lack are skipped; the others are missing when the
            // process has exited and is a zombie not yet reaped.
            Err(e) if e.errno() == Errno::NOENT && kind.may_be_missing() => continue,
            Err(e) if e.errno() == Errno::NOENT => return Err(exited(pidfd)),
            Err(e) => return Err(e),
        };
        check_nsfs(&fd, kind, pidfd.pid())?;
        let own =
            procfs.open_follow(ProcBase::SelfProcess, &name, OFlags::PATH | OFlags::CLOEXEC)?;
        let shared = same_namespace(&fd, &own)?;
        entries.push(NsEntry { kind, fd, shared });
    }
    Ok(entries)
}

/// What a `--cwd` error is part of, in messages.
const CWD_CONTEXT: &str = "working directory (--cwd)";

/// `CGROUP2_SUPER_MAGIC` (`include/uapi/linux/magic.h`).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// What a `--cgroup` error is part of, in messages.
const CGROUP_CONTEXT: &str = "join the target's cgroup (--cgroup)";

/// The target's `cgroup.procs`, opened for writing: its cgroup v2 path from
/// `/proc/<pid>/cgroup` (the `0::` line, relative to our cgroup namespace's root), resolved
/// below the cgroup2 mount with [`Policy::Beneath`], so a path read from the target cannot
/// leave that mount.
///
/// That text is not an identity (a cgroup may be named `x (deleted)`, the kernel's own suffix
/// for a removed cgroup; the mount may be a bind mount of part of the hierarchy, whose root is
/// not our cgroup namespace's root). The directory found is checked to be the target's by
/// membership: its `cgroup.procs` lists the target (a process is in exactly one cgroup v2, so
/// a mount rooted elsewhere cannot pass). A `..` component means the target's cgroup is outside
/// our cgroup namespace's view: refused, never clamped to a cgroup of ours.
fn target_cgroup_procs(procfs: &Procfs, pidfd: &PidFd) -> Result<std::fs::File> {
    let pid = pidfd.pid();
    let text = procfs
        .read_to_string(ProcBase::PidFd(pidfd), "cgroup")
        .map_err(|e| match e.errno() {
            Errno::NOENT => exited(pidfd),
            _ => e,
        })?;
    let not_v2 = || {
        Error::with_detail(
            ErrorKind::NotSupported,
            Errno::OPNOTSUPP,
            format!(
                "process {pid} is in no cgroup v2 hierarchy (a cgroup v1 system): --cgroup \
                 joins cgroup v2 only"
            ),
        )
    };
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(not_v2)?;
    let shown = Path::new(path);
    if !path.starts_with('/') || shown.components().any(|c| c == Component::ParentDir) {
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            format!(
                "process {pid}'s cgroup {} is not visible from procroot's cgroup namespace \
                 (it lies outside procroot's own cgroup there); run procroot in the target's \
                 cgroup namespace or an ancestor's",
                crate::error::Quoted(shown.as_os_str())
            ),
        )
        .context(CGROUP_CONTEXT, shown));
    }
    let (name, mount) = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .find_map(|dir| {
            let fd = rustix::fs::open(
                dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ok()?;
            #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures.
            let is_v2 = rustix::fs::fstatfs(&fd).ok()?.f_type as i64 == CGROUP2_SUPER_MAGIC;
            is_v2.then_some((dir, fd))
        })
        .ok_or_else(not_v2)?;
    let in_cgroup = |e: Error| e.within(CGROUP_CONTEXT, shown);
    let root = Root::from_fd_named(mount, PathBuf::from(name)).with_policy(Policy::Beneath);
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    let dir = root.resolve(relative).map_err(|e| {
        let removed = e.errno() == Errno::NOENT && path.ends_with(" (deleted)");
        in_cgroup(if removed {
            Error::with_detail(
                ErrorKind::NotFound,
                Errno::SRCH,
                format!("process {pid}'s cgroup has been removed (the process is exiting)"),
            )
        } else {
            e
        })
    })?;
    let open = |flags: OFlags| {
        rustix::fs::openat(
            &dir,
            "cgroup.procs",
            flags | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .syscall("openat")
        .map_err(|e| {
            in_cgroup(
                e.context("open", &shown.join("cgroup.procs"))
                    .in_root(Path::new(name)),
            )
        })
    };
    let mut members = String::new();
    std::io::Read::read_to_string(
        &mut std::fs::File::from(open(OFlags::RDONLY)?),
        &mut members,
    )
    .map_err(|e| in_cgroup(Error::from(e)))?;
    if !members.lines().any(|l| l.trim() == pid.to_string()) {
        if !pidfd.is_alive() {
            return Err(exited(pidfd));
        }
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            format!(
                "{name}/{relative} does not hold process {pid}, although its /proc/{pid}/cgroup \
                 names it: the cgroup2 mount at {name} is not rooted at procroot's cgroup \
                 namespace root (a bind mount of part of the hierarchy?)"
            ),
        )
        .context(CGROUP_CONTEXT, shown));
    }
    refuse_frozen(&dir, shown).map_err(in_cgroup)?;
    Ok(std::fs::File::from(open(OFlags::WRONLY)?))
}

/// `EBUSY` if the cgroup `dir` (shown as `path`) is frozen (`frozen 1` in its `cgroup.events`),
/// as runc refuses to exec in a paused container: the command would start frozen, and the
/// process being prepared with it. (A cgroup frozen after this check cannot hang the caller
/// either: nothing it waits for is frozen while it cannot take a signal.)
fn refuse_frozen(dir: &crate::Handle, path: &Path) -> Result<()> {
    let events = path.join("cgroup.events");
    let fd = rustix::fs::openat(
        dir,
        "cgroup.events",
        OFlags::RDONLY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .syscall("openat")
    .map_err(|e| e.context("open the target's cgroup", &events))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text)
        .map_err(|e| Error::from(e).context("read the target's cgroup", &events))?;
    if text.lines().any(|l| l == "frozen 1") {
        return Err(Error::with_detail(
            ErrorKind::Os,
            Errno::BUSY,
            format!(
                "the target's cgroup {} is frozen (cgroup.events: frozen 1): the command would \
                 not run until it is thawed",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// The operation of the error of a command whose `execve` failed (see [`not_run_status`]).
const RUN_OPERATION: &str = "run the command";

/// The error of a command whose `execve` failed, naming the command, where it was looked for
/// and the root it was looked up in: `run the command "nope" in /proc/123/root: not found in
/// PATH "/usr/bin:/bin" (ENOENT)`.
fn not_run(program: &OsStr, path: &[u8], root: &Path, errno: Errno) -> Error {
    let looked_up = !program.as_bytes().contains(&b'/');
    let detail = match errno {
        Errno::NOENT if looked_up => Some(format!(
            "not found in PATH {:?}",
            String::from_utf8_lossy(path)
        )),
        Errno::NOENT => {
            Some("no such file (or its #! interpreter or ELF loader is missing)".to_owned())
        }
        Errno::ACCESS => Some(
            "permission denied: not an executable regular file, or a directory on the way is \
             not searchable"
                .to_owned(),
        ),
        Errno::NOEXEC => Some("not an executable format this kernel runs".to_owned()),
        _ => None,
    };
    let err = match detail {
        Some(detail) => Error::with_detail(Error::from_errno(errno).kind(), errno, detail),
        None => Error::from_errno(errno),
    };
    err.context(RUN_OPERATION, Path::new(program))
        .in_root(root)
        .with_syscall("execve", None)
}

/// The exit status a shell gives for an error of [`spawn_in`] that says the command itself
/// could not be run (its `execve` failed, after everything else succeeded): 127 when it was not
/// found (`ENOENT`), 126 when it was found but could not be executed (`EACCES`, `ENOEXEC`...),
/// as `sh`, `nsenter` and `docker exec` exit. `None` for any other error (entering the target
/// failed, the command never got that far), and for every error of other operations.
pub fn not_run_status(err: &Error) -> Option<u8> {
    if err.operation() != RUN_OPERATION || err.syscall() != Some("execve") {
        return None;
    }
    Some(if err.errno() == Errno::NOENT {
        127
    } else {
        126
    })
}

/// `ESRCH` for a target that exited (a zombie's namespace and root links are gone).
fn exited(pidfd: &PidFd) -> Error {
    Error::with_detail(
        ErrorKind::NotFound,
        Errno::SRCH,
        format!("process {} has exited", pidfd.pid()),
    )
}

fn check_nsfs(fd: &OwnedFd, kind: NsKind, pid: u32) -> Result<()> {
    let st = rustix::fs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures.
    let is_nsfs = st.f_type as i64 == NSFS_MAGIC;
    let nstype = sys::process::namespace_type(fd).ok();
    if !is_nsfs || nstype != Some(kind.clone_flag()) {
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::XDEV,
            format!("/proc/{pid}/ns/{kind} is not a {kind} namespace file"),
        ));
    }
    Ok(())
}

/// A command to run in another process's namespaces: program, arguments, environment, working
/// directory (inside the target's root) and the fds it keeps.
#[derive(Clone, Debug)]
pub struct Command<'fd> {
    program: OsString,
    args: Vec<OsString>,
    env: environ::EnvSpec,
    cwd: PathBuf,
    keep_fds: Vec<BorrowedFd<'fd>>,
    join_cgroup: bool,
    privileged: bool,
    credentials: Option<Credentials>,
    user: Option<(u32, Option<u32>)>,
    no_seccomp: bool,
    seccomp_profile: Option<oci_spec::runtime::LinuxSeccomp>,
    forward_signals: bool,
}

impl<'fd> Command<'fd> {
    /// `program` with no arguments (`argv[0]` is `program`), the target's environment plus the
    /// caller's `TERM` (see [`Command::env`]), `/` as the working directory, only fds 0-2, and
    /// the target's credentials (read when it starts, see [`credentials_of`];
    /// [`Command::privileged`] keeps the caller's). A name without `/` is looked up in the
    /// command's `PATH` inside the target's root.
    pub fn new(program: impl AsRef<OsStr>) -> Command<'fd> {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: environ::EnvSpec::default(),
            cwd: PathBuf::from("/"),
            keep_fds: Vec::new(),
            join_cgroup: false,
            privileged: false,
            credentials: None,
            user: None,
            no_seccomp: false,
            seccomp_profile: None,
            forward_signals: false,
        }
    }

    /// Runs the command with the caller's own credentials (uid, groups, every capability, no
    /// seccomp filter), as `nsenter` does, instead of the target's. The command then holds host
    /// root inside the container: the container's binaries, which it runs, must be trusted.
    pub fn privileged(&mut self) -> &mut Command<'fd> {
        self.privileged = true;
        self
    }

    /// Runs the command with `credentials` instead of the target's own, read when it starts
    /// (the default, see [`credentials_of`]).
    pub fn credentials(&mut self, credentials: Credentials) -> &mut Command<'fd> {
        self.credentials = Some(credentials);
        self
    }

    /// Runs the command as `uid` and `gid` (the target's gid when `None`), numbered as in the
    /// target's user namespace, with the target's other credentials
    /// ([`Credentials::user`]; `docker exec --user`).
    pub fn user(&mut self, uid: u32, gid: Option<u32>) -> &mut Command<'fd> {
        self.user = Some((uid, gid));
        self
    }

    /// Runs the command without the target's seccomp filters
    /// ([`Credentials::without_seccomp`]).
    pub fn without_seccomp(&mut self) -> &mut Command<'fd> {
        self.no_seccomp = true;
        self
    }

    /// Installs `profile` (the `linux.seccomp` section of the container's OCI config, see
    /// [`seccomp_profile::load_profile`]) in place of the target's seccomp filter when that
    /// filter cannot be copied ([`Credentials::with_seccomp_profile`]); a profile that does not
    /// compile is refused when the command starts, and nothing runs.
    pub fn seccomp_profile(
        &mut self,
        profile: oci_spec::runtime::LinuxSeccomp,
    ) -> &mut Command<'fd> {
        self.seccomp_profile = Some(profile);
        self
    }

    /// The credentials plan for the child, or `None` for [`Command::privileged`].
    fn creds_plan(
        &self,
        target: &PidFd,
        shares_userns: bool,
        enter_user: bool,
    ) -> Result<Option<CredsPlan>> {
        if self.privileged {
            if self.credentials.is_some()
                || self.user.is_some()
                || self.no_seccomp
                || self.seccomp_profile.is_some()
            {
                return Err(Error::invalid_input(
                    Errno::INVAL,
                    "privileged() keeps the caller's credentials: it cannot be combined with \
                     credentials(), user(), without_seccomp() or seccomp_profile()",
                ));
            }
            return Ok(None);
        }
        let mut creds = match &self.credentials {
            Some(c) => c.clone(),
            None => creds::credentials_with(target, shares_userns)?,
        };
        if let Some((uid, gid)) = self.user {
            creds = creds.user(uid, gid);
        }
        if let Some(profile) = &self.seccomp_profile {
            if self.no_seccomp {
                return Err(Error::invalid_input(
                    Errno::INVAL,
                    "without_seccomp() and seccomp_profile() contradict each other: run \
                     unfiltered, or with the profile where the target's filter cannot be copied",
                ));
            }
            creds = creds.with_seccomp_profile(profile)?;
        }
        if self.no_seccomp {
            creds = creds.without_seccomp();
        }
        creds.plan(enter_user).map(Some)
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command<'fd> {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &mut self,
        args: I,
    ) -> &mut Command<'fd> {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Starts the command's environment empty, and forgets the variables [`Command::env`] set
    /// before this call (as `std::process::Command::env_clear`).
    pub fn env_clear(&mut self) -> &mut Command<'fd> {
        self.env.base = environ::Base::Empty;
        self.env.set.clear();
        self
    }

    /// Starts the command's environment from the caller's whole environment, as `nsenter`
    /// does, instead of the target's. The caller's variables (credentials, tokens, host paths)
    /// then reach a binary of the container, and any process of the container that may read
    /// the command's `/proc/<pid>/environ`.
    pub fn preserve_env(&mut self) -> &mut Command<'fd> {
        self.env.base = environ::Base::Caller;
        self
    }

    /// Sets one environment variable, over the base environment (later calls win). Names and
    /// values are bytes, not necessarily UTF-8; a name that is empty or holds `=`, or a NUL
    /// anywhere, is refused when the command starts (`EINVAL`).
    ///
    /// The base is by default the target's own environment, read from `/proc/<pid>/environ`
    /// through the hardened procfs (pinned by the pidfd, so never another process that reused
    /// the PID) when the command starts, plus the caller's `TERM` when it has one (as
    /// `docker exec` gives the container's configured environment): the caller's environment
    /// holds host credentials that must not reach a binary of the container, whose other
    /// processes can read the command's environment. If the target's environment cannot be
    /// read (`EACCES` without ptrace access to the target), the command does not run; it never
    /// falls back to the caller's. [`Command::env_clear`] starts empty instead and
    /// [`Command::preserve_env`] from the caller's environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command<'fd> {
        self.env
            .set
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The working directory, resolved inside the target's root (default `/`). Symlinks stay
    /// inside that root and magic links are refused, so a cwd can never be a leaked host
    /// directory; the child verifies it once more after entering.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command<'fd> {
        self.cwd = dir.as_ref().to_owned();
        self
    }

    /// Passes fd `fd` of the caller on to the command, at the same number. Every other fd ≥ 3
    /// is closed before the command's `execve` (not only marked close-on-exec: the kernel looks
    /// up the program and its `#!` interpreter before it closes those, and a
    /// `#!/proc/self/fd/N/...` line must find nothing of the caller's). Borrowed until the
    /// command has started, so the number still names that file when the child passes it on
    /// (a raw number could have been closed and reused by then, and the target would get
    /// whatever took it). fds 0-2 are the command's anyway and are ignored here.
    pub fn keep_fd(&mut self, fd: BorrowedFd<'fd>) -> &mut Command<'fd> {
        self.keep_fds.push(fd);
        self
    }

    /// Starts the command in the target's cgroup (cgroup v2, as `runc exec` does), not in the
    /// caller's: the target's `/proc/<pid>/cgroup` is read through the hardened procfs and its
    /// `cgroup.procs` opened below the cgroup2 mount (`/sys/fs/cgroup`, or
    /// `/sys/fs/cgroup/unified` on a hybrid system) with the library's resolver. A target only in
    /// cgroup v1 hierarchies is `NotSupported`.
    pub fn join_cgroup(&mut self) -> &mut Command<'fd> {
        self.join_cgroup = true;
        self
    }

    fn argv(&self) -> Result<CArgs> {
        let mut v = vec![cstring(&self.program)?];
        for a in &self.args {
            v.push(cstring(a)?);
        }
        Ok(CArgs::new(v))
    }

    /// While the command starts and runs, the calling thread blocks `SIGINT`, `SIGTERM`,
    /// `SIGHUP`, `SIGQUIT`, `SIGWINCH`, `SIGUSR1` and `SIGUSR2` (and `SIGCHLD`) and reads them
    /// from a `signalfd`, as a shell runs a job:
    /// - once the command runs, each is passed on to it (but one the terminal sent to the whole
    ///   process group, which the command got already), and the call returns the command's
    ///   status, whatever the signal was;
    /// - before its `execve`, any of them but `SIGWINCH` kills the processes being prepared
    ///   (`SIGKILL`: the target may have stopped them) and the call returns a status of death by
    ///   that signal, so a container that stops the process being prepared cannot make ^C or
    ///   `SIGTERM` ineffective;
    /// - job control: when the command stops (^Z), the caller stops with the same signal, and
    ///   continues the command once continued (`fg`).
    ///
    /// Only for a single-threaded caller (or one that blocks these signals in every thread):
    /// another thread would otherwise take them with their default action. The `procroot exec`
    /// CLI sets it.
    pub fn forward_signals(&mut self) -> &mut Command<'fd> {
        self.forward_signals = true;
        self
    }

    /// The kept fds above 2, sorted by number, each once.
    fn keep_fds(&self) -> Vec<BorrowedFd<'fd>> {
        let mut fds: Vec<BorrowedFd<'fd>> = self
            .keep_fds
            .iter()
            .copied()
            .filter(|f| f.as_raw_fd() > 2)
            .collect();
        fds.sort_unstable_by_key(AsRawFd::as_raw_fd);
        fds.dedup_by_key(|f| f.as_raw_fd());
        fds
    }
}

/// The `envp` of `env`, and the `PATH` the command's name is looked up in.
fn envp(env: Vec<(OsString, OsString)>) -> Result<(CArgs, Vec<u8>)> {
    let mut path = DEFAULT_PATH.to_vec();
    let mut v = Vec::with_capacity(env.len());
    for (k, val) in env {
        if k.as_bytes().contains(&b'=') || k.is_empty() {
            return Err(Error::invalid_input(
                Errno::INVAL,
                format!("invalid environment variable name {k:?}"),
            ));
        }
        if k == "PATH" {
            path = val.as_bytes().to_vec();
        }
        let mut entry = k.into_vec();
        entry.push(b'=');
        entry.extend_from_slice(val.as_bytes());
        v.push(cstring(OsStr::from_bytes(&entry))?);
    }
    Ok((CArgs::new(v), path))
}

/// Checks that every fd in `fds` is open in the calling process: `EBADF`, "fd N to keep is not
/// open in the caller", for the first one that is not. The `procroot exec` CLI calls it first
/// thing, before it opens anything (or re-executes itself sealed): checked later, a number the
/// caller never opened could name one of procroot's own fds (its pidfd, its procfs of the
/// host's PID namespace), which `--keep-fd` would then hand to the target.
pub fn check_keep_fds(fds: &[RawFd]) -> Result<()> {
    match fds.iter().find(|&&fd| fd < 0 || !sys::spawn::is_open(fd)) {
        Some(&fd) => Err(not_open_in_caller(fd)),
        None => Ok(()),
    }
}

/// The error for a fd to keep that is not open in the caller (or is one the library opened for
/// the call): `EBADF`, "fd N to keep is not open in the caller".
pub fn not_open_in_caller(fd: RawFd) -> Error {
    Error::invalid_input(
        Errno::BADF,
        format!("fd {fd} to keep is not open in the caller"),
    )
}

fn cstring(s: &OsStr) -> Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        Error::invalid_input(
            Errno::INVAL,
            format!("{s:?} contains a NUL byte, which no argument can carry"),
        )
    })
}

/// [`PidFd::open`] for the target of `exec`, whose refusal of a thread id (`pidfd_open` wants
/// a process: `EINVAL`, `ENOENT` since Linux 6.9) says so and names the thread's process, instead of "not a valid process
/// id" (`nsenter -t` takes a thread id and enters its process's namespaces).
pub fn open_target(pid: u32) -> Result<PidFd> {
    PidFd::open(pid).map_err(|e| {
        // pidfd_open refuses a thread id with EINVAL, or ENOENT since Linux 6.9.
        if !matches!(e.errno(), Errno::INVAL | Errno::NOENT) {
            return e;
        }
        // Only for the message: the thread's status names its thread group (process).
        let tgid = Procfs::cached()
            .and_then(|p| p.read_to_string(ProcBase::Pid(pid), "status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Tgid:"))
                    .and_then(|t| t.trim().parse::<u32>().ok())
            });
        match tgid {
            Some(tgid) if tgid != pid => Error::invalid_input(
                e.errno(),
                format!(
                    "{pid} is a thread of process {tgid}, not a process: give the process id \
                     {tgid}, whose namespaces the thread shares"
                ),
            )
            .context("open pidfd", Path::new(&pid.to_string())),
            _ => e,
        }
    })
}

/// Runs `command` in the namespaces `kinds` of the process `target`, chrooted in its root, and
/// returns its exit status (a death by signal shows as such).
///
/// 1. The target's namespaces are taken from its pidfd (see [`Namespaces::of`]) and its root is
///    opened through the hardened procfs while the pidfd says the target is alive (`ESRCH`
///    otherwise: the command never runs).
/// 2. A single-threaded child, non-dumpable from the start (its failure is fatal), closes every
///    fd of the caller but 0-2, the kept ones and those it needs, enters the namespaces
///    (`setns(pidfd)`, else the files, the user namespace first), makes the target's root its
///    root, changes to the working directory resolved inside it and checks it is there
///    (CVE-2024-21626), then closes the fds it needed.
/// 3. If a PID or time namespace was entered (they apply to children), it forks the command's
///    process (`clone(CLONE_PARENT)`: the caller's child, which the caller waits for) and exits.
///    The process the target's PID namespace can see never shares the caller's memory: the
///    first child borrows it (`clone(CLONE_VM | CLONE_VFORK)`, as `posix_spawn`) only when it
///    stays outside that namespace and joins no user or time namespace and no cgroup; otherwise
///    it is a `fork`.
/// 4. The command's process execs with only fds 0-2, the kept ones and the error pipe
///    (`O_CLOEXEC`) open: the others are closed, not marked close-on-exec, because the kernel
///    looks up the program, a symlink's target and a `#!` interpreter before it closes those
///    (a `#!/proc/self/fd/N/...` line must find nothing of the caller's). Right before the
///    exec it takes the target's credentials, read before the fork (see [`credentials_of`]:
///    ids, groups, capability sets, `no_new_privs`, seccomp filters, in the kernel's order; the
///    filters copied, or compiled from the OCI profile of [`Command::seccomp_profile`] when they
///    cannot be), unless [`Command::privileged`]. Its LSM label (the target's `attr/current`) was
///    written to the first child's `attr/exec` in step 2, before entering anything, through the
///    caller's procfs, which the command's process never holds; it is inherited across the fork
///    and applies at the exec. The caller's signal mask, handlers and dumpable flag are as before
///    when this returns.
///
/// With [`Command::forward_signals`], the caller passes its signals on and handles job control
/// while the command starts and runs; without, it waits for the command with its signals as
/// they are.
///
/// Errors name the failed call and the namespace (`setns(2) failed for the net namespace:
/// Operation not permitted (EPERM)`); a failure before the exec is an `Err`, after it the
/// command's status.
pub fn spawn_in(target: &PidFd, kinds: NsKinds, command: &Command<'_>) -> Result<ExitStatus> {
    Namespaces::of(target)
        .map_err(|e| e.within("exec in", Path::new(&target.pid().to_string())))?
        .spawn(kinds, command)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NsKind` is the namespace table and nothing else: each variant is the row at its index,
    /// `ALL` is the table in order, and every name parses back to its kind.
    #[test]
    fn ns_kind_is_the_table() {
        assert_eq!(NsKind::ALL.len(), sys::ns::NS_TYPES.len());
        for (i, (kind, row)) in NsKind::ALL.iter().zip(&sys::ns::NS_TYPES).enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(kind.clone_flag(), row.flag());
            assert_eq!(kind.name(), row.name());
            assert_eq!(kind.may_be_missing(), row.may_be_missing());
            assert_eq!(kind.name().parse::<NsKind>().ok(), Some(*kind));
        }
        let missing: Vec<NsKind> = NsKind::ALL
            .into_iter()
            .filter(|k| k.may_be_missing())
            .collect();
        assert_eq!(missing, [NsKind::Cgroup, NsKind::Time]);
        let err = "bogus".parse::<NsKind>().unwrap_err().to_string();
        assert!(
            err.contains("known: all, user, cgroup, ipc, uts, net, mnt, pid, time"),
            "{err}"
        );
    }
}
