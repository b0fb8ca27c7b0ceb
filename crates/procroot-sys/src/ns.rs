//! Namespaces: the table of kinds in the order procroot enters them, the plan of which to
//! enter that the parent prepares before `fork`, and one `setns(2)` on a namespace file.
//!
//! Kept apart from [`spawn`](super::spawn) so that [`process`](super::process) and
//! [`features`](super::features) can name namespace kinds without depending on the child.

use std::os::fd::BorrowedFd;

use rustix::io::Errno;
use rustix::thread::LinkNameSpaceType;

/// The namespace kinds, as `CLONE_NEW*` bits, in the order procroot enters them one by one
/// (after a pass that tries all but the user namespace first, see `enter_steps`): the user
/// namespace first, as runc's `nsexec` does for rootless containers (joining it is what grants
/// the capabilities the other `setns` calls need there), then the others, the mount namespace
/// last but one, and the PID and time namespaces (which only apply to children) last.
pub const NS_ORDER: [(i32, &str); 8] = [
    (libc::CLONE_NEWUSER, "user"),
    (libc::CLONE_NEWCGROUP, "cgroup"),
    (libc::CLONE_NEWIPC, "ipc"),
    (libc::CLONE_NEWUTS, "uts"),
    (libc::CLONE_NEWNET, "net"),
    (libc::CLONE_NEWNS, "mnt"),
    (libc::CLONE_NEWPID, "pid"),
    (CLONE_NEWTIME, "time"),
];

/// `CLONE_NEWTIME` (Linux 5.6), the time namespace's type.
pub const CLONE_NEWTIME: i32 = 0x80;

/// The `/proc/<pid>/ns/` file name of a `CLONE_NEW*` type.
pub fn ns_name(nstype: i32) -> &'static str {
    NS_ORDER
        .iter()
        .find(|(t, _)| *t == nstype)
        .map_or("unknown", |(_, n)| n)
}

/// The namespaces to enter, prepared before `fork`. It borrows the fds (the pidfd, the
/// namespace files), so the borrow checker, not a comment, keeps them open while a child uses
/// them.
#[derive(Clone, Copy, Debug, Default)]
pub struct NsPlan<'fd> {
    /// A pidfd and the `CLONE_NEW*` bits for one atomic `setns(pidfd, flags)` (Linux 5.8), or
    /// `None` to go straight to the per-namespace files.
    pub pidfd: Option<(BorrowedFd<'fd>, i32)>,
    /// Per-namespace fds (`/proc/<pid>/ns/*`, already checked to be nsfs files of their type)
    /// with their `CLONE_NEW*` type, in [`NS_ORDER`]; `None` entries are skipped. Used when the
    /// pidfd is `None` or its `setns` failed.
    pub fds: [Option<(i32, BorrowedFd<'fd>)>; 8],
}

impl<'fd> NsPlan<'fd> {
    /// Adds the namespace file `fd` of type `nstype` in the first free entry of
    /// [`fds`](NsPlan::fds); `false` (nothing added) when all eight are used.
    pub fn push(&mut self, nstype: i32, fd: BorrowedFd<'fd>) -> bool {
        match self.fds.iter_mut().find(|e| e.is_none()) {
            Some(slot) => {
                *slot = Some((nstype, fd));
                true
            }
            None => false,
        }
    }

    /// The namespace files, in order.
    pub fn files(&self) -> impl Iterator<Item = (i32, BorrowedFd<'fd>)> + '_ {
        self.fds.iter().flatten().copied()
    }

    /// Whether entering needs a process with memory of its own. The kernel refuses the time
    /// namespace to a process that shares its mm (`EUSERS`, `timens_install`). It allows the
    /// user namespace (`userns_install` only wants no threads and an unshared `fs_struct`), but
    /// a child that joined it carries the container's credentials, and our memory should not be
    /// one ptrace check (the non-dumpable flag) away from them: that child forks too.
    pub fn needs_own_memory(&self) -> bool {
        self.enters(libc::CLONE_NEWUSER | CLONE_NEWTIME)
    }

    /// Whether the plan enters a namespace of a kind in `kinds` (`CLONE_NEW*` bits).
    pub fn enters(&self, kinds: i32) -> bool {
        self.pidfd.is_some_and(|(_, flags)| flags & kinds != 0)
            || self.files().any(|(t, _)| t & kinds != 0)
    }
}

/// `setns(fd, nstype)` for one namespace file. Async-signal-safe.
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
pub(crate) fn setns_file(fd: BorrowedFd<'_>, nstype: i32) -> Result<(), Errno> {
    let kind = match nstype {
        libc::CLONE_NEWUSER => LinkNameSpaceType::User,
        libc::CLONE_NEWCGROUP => LinkNameSpaceType::ControlGroup,
        libc::CLONE_NEWIPC => LinkNameSpaceType::InterProcessCommunication,
        libc::CLONE_NEWUTS => LinkNameSpaceType::HostNameAndNISDomainName,
        libc::CLONE_NEWNET => LinkNameSpaceType::Network,
        libc::CLONE_NEWNS => LinkNameSpaceType::Mount,
        libc::CLONE_NEWPID => LinkNameSpaceType::ProcessID,
        _ => LinkNameSpaceType::Time,
    };
    rustix::thread::move_into_link_name_space(fd, Some(kind))
}
