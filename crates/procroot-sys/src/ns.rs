//! Namespaces: the table of kinds in the order procroot enters them, the plan of which to
//! enter that the parent prepares before `fork`, and one `setns(2)` on a namespace file.
//!
//! Kept apart from [`spawn`](super::spawn) so that [`process`](super::process) and
//! [`features`](super::features) can name namespace kinds without depending on the child.

use std::os::fd::BorrowedFd;

use rustix::io::Errno;
use rustix::thread::LinkNameSpaceType;

/// One kind of namespace, as the kernel names it in each of its interfaces. The kinds are
/// written down once, in [`NS_TYPES`]; everything else (the runtime's `NsKind`, the order of
/// `setns` calls, the pidfd ioctls, which kinds a kernel may lack) is derived from that table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsType {
    /// The type `setns(2)` checks the fd against; its value is the `CLONE_NEW*` bit.
    link_type: LinkNameSpaceType,
    /// The file name in `/proc/<pid>/ns/`.
    name: &'static str,
    /// Whether a kernel procroot runs on may lack this kind: cgroup namespaces came in 4.6,
    /// time namespaces in 5.6, and both can be configured out (`CONFIG_CGROUPS`,
    /// `CONFIG_TIME_NS`). Every other kind exists wherever `/proc/<pid>/ns/` does, so a missing
    /// file of another kind means the process exited, never an older kernel.
    may_be_missing: bool,
    /// The `nr` of `PIDFD_GET_<KIND>_NAMESPACE` (`_IO(0xff, nr)`, `include/uapi/linux/pidfd.h`).
    pidfd_ioctl_nr: u8,
}

impl NsType {
    /// The `CLONE_NEW*` bit (also what `ioctl(NS_GET_NSTYPE)` answers for a file of this kind).
    pub const fn flag(&self) -> i32 {
        self.link_type as i32
    }

    /// The file name in `/proc/<pid>/ns/` (`mnt`, `net`...), which is also the name procroot
    /// prints and parses.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether a supported kernel may lack this kind (cgroup, time): its absence is then "not
    /// supported here", not "the process exited".
    pub const fn may_be_missing(&self) -> bool {
        self.may_be_missing
    }

    /// The type `setns(2)` is told to expect, so that an fd of another kind is refused.
    pub(crate) const fn link_type(&self) -> LinkNameSpaceType {
        self.link_type
    }

    /// The `PIDFD_GET_<KIND>_NAMESPACE` ioctl request.
    pub(crate) const fn pidfd_ioctl(&self) -> libc::c_ulong {
        0xff00 | self.pidfd_ioctl_nr as libc::c_ulong
    }
}

/// Every namespace kind, in the order procroot enters them one by one (after a pass that tries
/// all but the user namespace first, see `spawn::enter`): the user namespace first, as runc's
/// `nsexec` does for rootless containers (joining it is what grants the capabilities the other
/// `setns` calls need there), then the others, the mount namespace last but one, and the PID
/// and time namespaces (which only apply to children) last.
pub const NS_TYPES: [NsType; 8] = [
    ns(LinkNameSpaceType::User, "user", false, 9),
    ns(LinkNameSpaceType::ControlGroup, "cgroup", true, 1),
    ns(
        LinkNameSpaceType::InterProcessCommunication,
        "ipc",
        false,
        2,
    ),
    ns(
        LinkNameSpaceType::HostNameAndNISDomainName,
        "uts",
        false,
        10,
    ),
    ns(LinkNameSpaceType::Network, "net", false, 4),
    ns(LinkNameSpaceType::Mount, "mnt", false, 3),
    ns(LinkNameSpaceType::ProcessID, "pid", false, 5),
    ns(LinkNameSpaceType::Time, "time", true, 7),
];

const fn ns(
    link_type: LinkNameSpaceType,
    name: &'static str,
    may_be_missing: bool,
    nr: u8,
) -> NsType {
    NsType {
        link_type,
        name,
        may_be_missing,
        pidfd_ioctl_nr: nr,
    }
}

/// `CLONE_NEWTIME` (Linux 5.6), the time namespace's type (libc has no constant for it).
pub const CLONE_NEWTIME: i32 = LinkNameSpaceType::Time as i32;

/// The row of [`NS_TYPES`] for a `CLONE_NEW*` bit, or `None` for anything else (several bits,
/// or none).
pub fn ns_type(flag: i32) -> Option<&'static NsType> {
    NS_TYPES.iter().find(|t| t.flag() == flag)
}

/// The `/proc/<pid>/ns/` file name of a `CLONE_NEW*` type, or `unknown`.
pub fn ns_name(nstype: i32) -> &'static str {
    ns_type(nstype).map_or("unknown", NsType::name)
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
    /// with their `CLONE_NEW*` type, in [`NS_TYPES`] order; `None` entries are skipped. Used
    /// when the pidfd is `None` or its `setns` failed.
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
    // A bit outside the table (never planned by the runtime) is refused as the kernel refuses
    // an fd of the wrong kind, rather than joined with no type check at all.
    let kind = ns_type(nstype).ok_or(Errno::INVAL)?.link_type();
    rustix::thread::move_into_link_name_space(fd, Some(kind))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    /// The table against the kernel: each row's file is in `/proc/self/ns/` (or the kind is one
    /// a kernel may lack), `NS_GET_NSTYPE` on that file answers the row's flag, and the row's
    /// pidfd ioctl opens that same namespace. A wrong flag, name or ioctl number fails here.
    #[test]
    fn the_table_matches_the_kernel() {
        let own = crate::process::pidfd_open(std::process::id()).expect("pidfd_open");
        let mut checked = 0;
        for t in &NS_TYPES {
            let path = format!("/proc/self/ns/{}", t.name());
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && t.may_be_missing() => {
                    continue
                }
                Err(e) => panic!("{path}: {e}"),
            };
            assert_eq!(
                crate::process::namespace_type(file.as_fd()),
                Ok(t.flag()),
                "NS_GET_NSTYPE of {path}"
            );
            match crate::process::pidfd_namespace(&own, t.flag()) {
                Ok(fd) => {
                    assert_eq!(
                        crate::FileId::of(&fd).expect("fstat"),
                        crate::FileId::of(&file).expect("fstat"),
                        "PIDFD_GET_*_NAMESPACE for {} opens another namespace",
                        t.name()
                    );
                }
                // Kernels before 6.11 have no such ioctls: the flag and name were still checked.
                Err(Errno::NOTTY) => {}
                Err(e) => panic!("pidfd_namespace({}): {e}", t.name()),
            }
            checked += 1;
        }
        // Six kinds exist on every kernel procroot supports.
        assert!(checked >= 6, "only {checked} namespace files found");
    }

    /// The rows are distinct (one flag, one name each) and cover every namespace file this
    /// kernel has: a kind the kernel gains is noticed here rather than silently never entered.
    #[test]
    fn the_table_is_complete_and_distinct() {
        for (i, a) in NS_TYPES.iter().enumerate() {
            for b in &NS_TYPES[i + 1..] {
                assert_ne!(a.flag(), b.flag());
                assert_ne!(a.name(), b.name());
            }
            assert_eq!(ns_type(a.flag()), Some(a));
        }
        for entry in std::fs::read_dir("/proc/self/ns").expect("read /proc/self/ns") {
            let name = entry.expect("entry").file_name();
            let name = name.to_str().expect("ASCII name");
            // `pid_for_children` and `time_for_children` are the pid and time kinds again.
            let kind = name.strip_suffix("_for_children").unwrap_or(name);
            assert!(
                NS_TYPES.iter().any(|t| t.name() == kind),
                "/proc/self/ns/{name} has no row in NS_TYPES"
            );
        }
        assert_eq!(ns_type(0), None);
        assert_eq!(ns_type(libc::CLONE_NEWNS | libc::CLONE_NEWNET), None);
        assert_eq!(ns_name(CLONE_NEWTIME), "time");
    }

    /// The join order the runtime relies on: the user namespace first (its capabilities let the
    /// other joins succeed in a rootless container), the mount namespace after every kind but
    /// the two that only apply to children, which come last.
    #[test]
    fn the_join_order_is_user_first_and_children_kinds_last() {
        let names: Vec<&str> = NS_TYPES.iter().map(NsType::name).collect();
        assert_eq!(names[0], "user");
        assert_eq!(&names[5..], ["mnt", "pid", "time"]);
    }
}
