//! Kernel feature probes and the process-wide facts learned from them: the one registry of
//! features procroot falls back from ([`Feature`]).
//!
//! Only *failures* are remembered. A success is never cached because a seccomp filter installed
//! later (by a container runtime, right before exec) can take a syscall away; a failure, on the
//! other hand, does not heal, and re-probing a missing syscall on every call would double its cost.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

static DISABLED: AtomicU32 = AtomicU32::new(0);
static UNAVAILABLE: AtomicU32 = AtomicU32::new(0);

/// A kernel feature procroot uses where it can and falls back from where it cannot: the one
/// registry of what was [`disable`]d (to exercise the fallbacks on a kernel that has everything:
/// tests, and reproducing a user's older kernel) and what was found unusable
/// (`mark_unavailable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// `openat2(2)` (Linux 5.6): the kernel resolver backend and procfs lookups. Without it, the
    /// emulated walker resolves, and procfs lookups walk one component at a time, comparing mount
    /// ids.
    Openat2,
    /// `fsopen(2)`/`fsmount(2)` (Linux 5.2, `CAP_SYS_ADMIN`): private, detached procfs instances.
    /// Without it, a clone of `/proc` by `open_tree(2)`.
    Fsopen,
    /// `open_tree(2)` with `OPEN_TREE_CLONE` (Linux 5.2): cloned procfs mounts. Without it (or
    /// `fsopen`), `open("/proc")`, verified to be a procfs root.
    OpenTree,
    /// `STATX_MNT_ID_UNIQUE` (Linux 6.8): never-reused mount ids. Without it, the 5.8
    /// `STATX_MNT_ID`, or the `mnt_id:` line of the fd's `fdinfo` through the verified procfs.
    StatxMntIdUnique,
    /// procfs's `pidns=` mount option (Linux 6.18): procfs for another PID namespace. Without it,
    /// a helper process makes the instance from inside the namespace.
    ProcPidnsOption,
    /// `fchmodat2(2)` (Linux 6.6). Without it, `chmod` goes through the magic link
    /// `/proc/thread-self/fd/N` of the verified procfs.
    Fchmodat2,
    /// `getxattrat(2)`/`setxattrat(2)` (Linux 6.13). Without them, xattrs are read and written
    /// through a file reopened through the verified procfs.
    Xattrat,
    /// `linkat(fd, "", ..., AT_EMPTY_PATH)`, which needs `CAP_DAC_READ_SEARCH` for an fd opened
    /// with other credentials. Without it, the link is made by following the magic link
    /// `/proc/thread-self/fd/N` of the verified procfs.
    LinkatEmptyPath,
    /// `utimensat(fd, "", ..., AT_EMPTY_PATH)`, refused with `EINVAL` by older kernels. Without
    /// it, times are set by following the magic link `/proc/thread-self/fd/N` of the verified
    /// procfs, which cannot reach a symlink's own times.
    UtimensatEmptyPath,
    /// `ioctl(pidfd, PIDFD_GET_*_NAMESPACE)` (Linux 6.11): namespace fds straight from a pidfd.
    /// Without it, `/proc/<pid>/ns/*` through the hardened procfs, each checked to be an nsfs
    /// file of its type.
    PidfdNamespaces,
    /// `clone(CLONE_VM | CLONE_VFORK)` for the first child of `exec::spawn_in` when it stays
    /// outside the target's PID namespace and joins no user or time namespace and no cgroup
    /// (`posix_spawn`'s way: no copy of the caller's page tables). Without it ([`disable`]d, or
    /// marked unavailable the first time the child's stack could not be mapped), a fork (the raw
    /// `clone(SIGCHLD)`) every time.
    CloneVfork,
}

impl Feature {
    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// Stops procroot from using `feature` in this process, as if the kernel lacked it. Never undone.
///
/// This is a testing and debugging aid: production code has no reason to call it.
pub fn disable(feature: Feature) {
    DISABLED.fetch_or(feature.bit(), Ordering::Relaxed);
}

/// Whether `feature` was disabled with [`disable`].
pub fn is_disabled(feature: Feature) -> bool {
    DISABLED.load(Ordering::Relaxed) & feature.bit() != 0
}

/// Whether `feature` is known to be unusable: [`disable`]d, or `mark_unavailable`d after the
/// kernel (or a seccomp filter) refused it.
pub fn known_unavailable(feature: Feature) -> bool {
    (DISABLED.load(Ordering::Relaxed) | UNAVAILABLE.load(Ordering::Relaxed)) & feature.bit() != 0
}

/// Records that `feature` is unusable in this process. Never undone.
pub fn mark_unavailable(feature: Feature) {
    UNAVAILABLE.fetch_or(feature.bit(), Ordering::Relaxed);
}

/// Whether `openat2(2)` is already known to be unusable in this process: it returned `ENOSYS`
/// (kernel before 5.6), or `EPERM` for a call that cannot legitimately fail with `EPERM` (a
/// seccomp filter), or it was [`disable`]d.
pub fn openat2_known_unavailable() -> bool {
    known_unavailable(Feature::Openat2)
}

/// Decides whether an `openat2` failure means "the syscall is unavailable", and records it.
///
/// `ENOSYS` always does. `EPERM` is ambiguous: `openat2` can return it for real (`O_NOATIME` on
/// a file we do not own, a fanotify permission event, an LSM), and seccomp filters also use it
/// (Docker's default profile did before it learned `ENOSYS`). To tell them apart, probe with an
/// `O_PATH` open of `dirfd` itself, which no permission rule can refuse: if that fails with the
/// same errno too, a filter is in the way.
pub fn classify_openat2_failure<Fd: AsFd>(dirfd: Fd, errno: Errno) -> bool {
    let unavailable = match errno {
        Errno::NOSYS => true,
        Errno::PERM => matches!(
            rustix::fs::openat2(
                dirfd,
                ".",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT,
            ),
            Err(Errno::PERM | Errno::NOSYS)
        ),
        _ => false,
    };
    if unavailable {
        mark_unavailable(Feature::Openat2);
    }
    unavailable
}

/// Probes whether `openat2(2)` works here right now (without consulting or updating the cache).
/// Used by `procroot doctor`.
pub fn probe_openat2() -> Result<(), Errno> {
    rustix::fs::openat2(
        rustix::fs::CWD,
        "/",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .map(drop)
}

/// Whether the running kernel (and this process's privileges and seccomp filter) offer a
/// feature, as the probes behind `procroot doctor` found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The feature works here.
    Yes,
    /// The kernel lacks it (`ENOSYS`, `EINVAL` for an unknown flag or option), or it fails
    /// for another reason (the errno says which).
    No(Errno),
    /// The kernel has it, but it is refused to this process (`EPERM`/`EACCES`: a missing
    /// privilege, or a seccomp filter). procroot cannot use it here either: the probes make
    /// the same call the library makes.
    Refused(Errno),
}

impl Support {
    fn from_result<T>(result: Result<T, Errno>) -> Support {
        match result {
            Ok(_) => Support::Yes,
            Err(e @ (Errno::PERM | Errno::ACCESS)) => Support::Refused(e),
            Err(e) => Support::No(e),
        }
    }

    /// Whether the feature is known to work.
    pub fn is_yes(self) -> bool {
        self == Support::Yes
    }
}

/// The kernel features procroot uses, probed one by one (for `procroot doctor`).
#[derive(Clone, Debug)]
pub struct KernelFeatures {
    /// `openat2(2)` (Linux 5.6): the kernel resolver backend.
    pub openat2: Support,
    /// `open_tree(2)` (Linux 5.2).
    pub open_tree: Support,
    /// `fsopen(2)` for procfs (Linux 5.2), which needs `CAP_SYS_ADMIN`.
    pub fsopen: Support,
    /// `STATX_MNT_ID_UNIQUE` (Linux 6.8).
    pub statx_mnt_id_unique: Support,
    /// `STATX_ATTR_MOUNT_ROOT` (Linux 5.8).
    pub statx_attr_mount_root: Support,
    /// procfs's per-instance `subset=pid` option (Linux 5.8).
    pub proc_subset_pid: Support,
    /// procfs's `pidns=` option (Linux 6.18).
    pub proc_pidns_option: Support,
    /// `memfd_create(MFD_EXEC)` (Linux 6.3).
    pub mfd_exec: Support,
    /// `setns(pidfd, CLONE_NEW*)` (Linux 5.8).
    pub pidfd_setns: Support,
    /// `ioctl(pidfd, PIDFD_GET_*_NAMESPACE)` (Linux 6.11): `exec` takes namespaces from the
    /// pidfd instead of `/proc/<pid>/ns`.
    pub pidfd_namespaces: Support,
}

impl KernelFeatures {
    /// `(name, support)` pairs in a stable order, names as `procroot doctor` prints them.
    pub fn entries(&self) -> [(&'static str, Support); 10] {
        [
            ("openat2", self.openat2),
            ("open_tree", self.open_tree),
            ("fsopen", self.fsopen),
            ("STATX_MNT_ID_UNIQUE", self.statx_mnt_id_unique),
            ("STATX_ATTR_MOUNT_ROOT", self.statx_attr_mount_root),
            ("subset=pid", self.proc_subset_pid),
            ("pidns=", self.proc_pidns_option),
            ("MFD_EXEC", self.mfd_exec),
            ("pidfd setns", self.pidfd_setns),
            ("PIDFD_GET_*_NAMESPACE", self.pidfd_namespaces),
        ]
    }
}

/// Probes every feature in [`KernelFeatures`] with a harmless call, the same call the library
/// makes where it uses the feature (so that a feature is never reported usable where the method
/// built on it fails). Nothing is cached and nothing
/// is changed: mounts made by the probes are detached and dropped, namespaces joined are the
/// ones the process is already in.
pub fn probe_kernel() -> KernelFeatures {
    use rustix::fs::{AtFlags, MemfdFlags, StatxAttributes, StatxFlags};
    use rustix::mount::{FsOpenFlags, OpenTreeFlags};

    // The raw syscall, as `mount_info_at` makes it (rustix would report a filter's EPERM as
    // ENOSYS).
    let root_dir = rustix::fs::open(
        "/",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    );
    let statx_root = root_dir.and_then(|dir| {
        super::statx_raw(
            dir.as_fd(),
            c"",
            AtFlags::EMPTY_PATH,
            super::STATX_MNT_ID_UNIQUE | StatxFlags::MNT_ID,
        )
    });
    let statx_mnt_id_unique = match &statx_root {
        Ok(stx)
            if StatxFlags::from_bits_retain(stx.stx_mask).contains(super::STATX_MNT_ID_UNIQUE) =>
        {
            Support::Yes
        }
        Ok(_) => Support::No(Errno::INVAL),
        Err(e) => Support::from_result::<()>(Err(*e)),
    };
    let statx_attr_mount_root = match &statx_root {
        Ok(stx)
            if stx
                .stx_attributes_mask
                .contains(StatxAttributes::MOUNT_ROOT) =>
        {
            Support::Yes
        }
        Ok(_) => Support::No(Errno::INVAL),
        Err(e) => Support::from_result::<()>(Err(*e)),
    };
    let fsopen = || rustix::mount::fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC);
    let proc_subset_pid = Support::from_result(
        fsopen().and_then(|fs| rustix::mount::fsconfig_set_string(&fs, "subset", "pid")),
    );
    let proc_pidns_option = Support::from_result(fsopen().and_then(|fs| {
        let own = rustix::fs::open(
            "/proc/self/ns/pid",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        rustix::mount::fsconfig_set_fd(&fs, "pidns", &own)
    }));
    let pidfd_setns = Support::from_result(
        super::process::pidfd_open(std::process::id()).and_then(|pidfd| {
            // Joining the UTS namespace we are already in changes nothing.
            rustix::thread::move_into_thread_name_spaces(
                pidfd.as_fd(),
                rustix::thread::ThreadNameSpaceType::HOST_NAME_AND_NIS_DOMAIN_NAME,
            )
        }),
    );
    // Our own user namespace, through our own pidfd: the call `exec::Namespaces::of` makes.
    let pidfd_namespaces = Support::from_result(
        super::process::pidfd_open(std::process::id())
            .and_then(|pidfd| super::process::pidfd_namespace(pidfd.as_fd(), libc::CLONE_NEWUSER)),
    );
    KernelFeatures {
        openat2: Support::from_result(probe_openat2()),
        // As the open_tree acquisition method makes it: a clone of /proc, which needs
        // CAP_SYS_ADMIN (a plain open_tree without OPEN_TREE_CLONE works for anyone, and said
        // "yes" where the method fails with EPERM).
        open_tree: Support::from_result(rustix::mount::open_tree(
            rustix::fs::CWD,
            "/proc",
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )),
        fsopen: Support::from_result(fsopen()),
        statx_mnt_id_unique,
        statx_attr_mount_root,
        proc_subset_pid,
        proc_pidns_option,
        mfd_exec: Support::from_result(rustix::fs::memfd_create(
            "procroot-probe",
            MemfdFlags::CLOEXEC | MemfdFlags::EXEC,
        )),
        pidfd_setns,
        pidfd_namespaces,
    }
}
