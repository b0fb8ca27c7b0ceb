//! procfs, sysfs and bind mounts into a root.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType as RawFileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use super::attach::{mount_onto, Method, Source};
use super::Report;
use crate::error::{Error, ErrorKind, Result};
use crate::procfs::Procfs;
use crate::resolve::ResolveFlags;
use crate::root::{Handle, Root};
use crate::sys;
use crate::sys::features::{self, Feature};
use crate::sys::mount::{self as sysmount, FsOption};

/// procfs's `hidepid=` values (Linux 5.8 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HidePid {
    /// `hidepid=0` / `off`: everyone sees every process directory.
    Off,
    /// `hidepid=1` / `noaccess`: other users' process directories are listed but closed.
    NoAccess,
    /// `hidepid=2` / `invisible`: other users' process directories are invisible.
    Invisible,
    /// `hidepid=4` / `ptraceable`: only processes the caller may ptrace are visible.
    Ptraceable,
}

impl HidePid {
    /// The mount option value: `off`, `noaccess`, `invisible`, `ptraceable`.
    pub fn as_str(self) -> &'static str {
        match self {
            HidePid::Off => "off",
            HidePid::NoAccess => "noaccess",
            HidePid::Invisible => "invisible",
            HidePid::Ptraceable => "ptraceable",
        }
    }
}

impl std::str::FromStr for HidePid {
    type Err = Error;

    /// `0`, `1`, `2`, `4` or the names; anything else is `InvalidInput`.
    fn from_str(s: &str) -> Result<HidePid> {
        Ok(match s {
            "0" | "off" => HidePid::Off,
            "1" | "noaccess" => HidePid::NoAccess,
            "2" | "invisible" => HidePid::Invisible,
            "4" | "ptraceable" => HidePid::Ptraceable,
            _ => {
                return Err(Error::invalid_input(
                    Errno::INVAL,
                    format!(
                        "hidepid must be 0, 1, 2, 4, off, noaccess, invisible or ptraceable, \
                         not {s:?}"
                    ),
                ))
            }
        })
    }
}

/// Options of [`mount_procfs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcfsMountOptions<'a> {
    /// The PID namespace the instance shows (an fd of `/proc/<pid>/ns/pid`); `None` for the
    /// caller's.
    pub pidns: Option<BorrowedFd<'a>>,
    /// `subset=pid`: only process directories, `self` and `thread-self`.
    pub subset_pid: bool,
    /// `hidepid=`.
    pub hidepid: Option<HidePid>,
}

/// Resolves a mount destination: every component inside the root, **no symlink anywhere**
/// (`ELOOP`), and it must be a directory (`ENOTDIR`). A mount on a path the container chose to
/// be a symlink or a file is what CVE-2019-19921 and CVE-2023-27561 exploited; both refusals are
/// [`ErrorKind::SafetyViolation`].
fn directory_destination(root: &Root, dest: &Path) -> Result<Handle> {
    let strict = root
        .clone()
        .with_flags(root.options().flags | ResolveFlags::NO_SYMLINKS);
    let refuse = |errno, why: &'static str| {
        Error::with_detail(ErrorKind::SafetyViolation, errno, why)
            .context("mount", dest)
            .in_root(root.display_name())
    };
    // Following the last component too: with NO_SYMLINKS a trailing symlink is ELOOP as well.
    let handle = match strict.resolve(dest) {
        Ok(handle) => handle,
        Err(e) if e.errno() == Errno::LOOP => {
            return Err(refuse(
                Errno::LOOP,
                "a symlink on the way to a mount destination is refused (CVE-2019-19921, \
                 CVE-2023-27561)",
            ))
        }
        Err(e) => return Err(e),
    };
    let st = rustix::fs::fstat(&handle)?;
    if RawFileType::from_raw_mode(st.st_mode) != RawFileType::Directory {
        return Err(refuse(
            Errno::NOTDIR,
            "a mount destination must be a real directory (CVE-2019-19921, CVE-2023-27561)",
        ));
    }
    Ok(handle)
}

fn mounted(dest: &Path, method: Method) -> Report {
    let mut report = Report::default();
    if method == Method::ProcFdPath {
        report.fallback.push(dest.to_path_buf());
    }
    report.mounted.push(dest.to_path_buf());
    report
}

const PROC_ATTRS: MountAttrFlags = MountAttrFlags::MOUNT_ATTR_NOSUID
    .union(MountAttrFlags::MOUNT_ATTR_NODEV)
    .union(MountAttrFlags::MOUNT_ATTR_NOEXEC);

/// Mounts a new procfs instance (`nosuid,nodev,noexec`) on `dest` inside `root`.
///
/// `dest` must resolve inside the root to a real directory, with no symlink anywhere on the way:
/// otherwise `SafetyViolation` (`ELOOP` for a symlink, `ENOTDIR` for a file) and nothing is
/// mounted (CVE-2019-19921, CVE-2023-27561). It must not be below the root's `/proc` or on a
/// procfs (`SafetyViolation`, `EPERM`: a procfs on `/proc/sys` would undo every mask and
/// read-only path there); the root's `/proc` itself is where it belongs.
///
/// With [`ProcfsMountOptions::pidns`], the instance shows that PID namespace: with the `pidns=`
/// mount option on Linux 6.18+; otherwise from the helper process of [`Procfs::for_pidns`], with
/// `subset=`/`hidepid=` applied afterwards by reconfiguring that private instance. Errors of
/// the namespace are those of [`Procfs::for_pidns`]. Both need the new mount API
/// (`fsopen`/`fsmount`/`move_mount`, Linux 5.2): without it (an older kernel, or a seccomp
/// filter), a `pidns` mount is refused up front with `NotSupported` (`ENOSYS`), nothing forked
/// and nothing mounted; a mount of the caller's own PID namespace falls back to `mount(2)`.
///
/// The helper is a copy of the caller inside the target's PID namespace, non-dumpable; while
/// it lives, its `/proc/<pid>/exe` is the caller's binary: run from a sealed copy
/// ([`crate::exec::sealed_exe::ensure`]) when the namespace holds untrusted processes (see
/// [`Procfs::for_pidns`]).
pub fn mount_procfs(root: &Root, dest: &Path, opts: &ProcfsMountOptions<'_>) -> Result<Report> {
    let fail = |e: Error| {
        e.context("mount procfs on", dest)
            .in_root(root.display_name())
    };
    check_proc_destination_path(dest, Incoming::Procfs).map_err(fail)?;
    let target = directory_destination(root, dest)?;
    check_proc_destination(root, target.as_fd(), None, Incoming::Procfs).map_err(fail)?;
    let mut options = Vec::new();
    if opts.subset_pid {
        options.push(FsOption::String("subset", "pid"));
    }
    if let Some(hidepid) = opts.hidepid {
        options.push(FsOption::String("hidepid", hidepid.as_str()));
    }
    let Some(pidns) = opts.pidns else {
        let data = options
            .iter()
            .filter_map(|o| match o {
                FsOption::String(k, v) => Some(format!("{k}={v}")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(",");
        let source = Source::NewFs {
            fstype: "proc",
            options: &options,
            attrs: PROC_ATTRS,
            legacy_data: &data,
        };
        let method = mount_onto(root, dest, &source, target.as_fd()).map_err(fail)?;
        return Ok(mounted(dest, method.method));
    };
    // `pidns=` (6.18): one new instance with every option.
    let mut fsopen_missing = features::is_disabled(Feature::Fsopen);
    if !fsopen_missing && !features::is_disabled(Feature::ProcPidnsOption) {
        let mut with_ns = options.clone();
        with_ns.push(FsOption::Fd("pidns", pidns));
        match sysmount::new_mount("proc", &with_ns, PROC_ATTRS) {
            Ok(mount) => {
                sysmount::attach(mount.as_fd(), target.as_fd()).map_err(|e| fail(e.into()))?;
                return Ok(mounted(dest, Method::MoveMount));
            }
            // An older kernel: EINVAL for the unknown key. The helper below makes the instance.
            Err(e) if e.errno == Errno::INVAL => {}
            // fsopen missing (ENOSYS), or refused by a filter although we hold the privilege.
            Err(e)
                if e.errno == Errno::NOSYS
                    || (e.errno == Errno::PERM && sys::process::has_cap_sys_admin()) =>
            {
                fsopen_missing = true;
            }
            // A missing privilege: the helper below says which one.
            Err(e) if e.errno == Errno::PERM => {}
            Err(e) => return Err(fail(e.into())),
        }
    }
    if fsopen_missing {
        // The helper's mount(2) fallback makes the instance in a mount namespace of its own,
        // and a mount of another mount namespace cannot be attached here (move_mount and a
        // mount(2) bind both refuse it, EINVAL). Say so before forking anything.
        return Err(fail(Error::with_detail(
            ErrorKind::NotSupported,
            Errno::NOSYS,
            "a procfs of another PID namespace can only be mounted with the new mount API \
             (fsopen(2), fsmount(2), move_mount(2): Linux 5.2), which is unavailable here (a \
             kernel without it, or a seccomp filter)",
        )));
    }
    let procfs = Procfs::for_pidns(pidns).map_err(fail)?;
    if !options.is_empty() {
        // The helper's instance is private to us: changing its options affects nobody else.
        sysmount::reconfigure(procfs.as_fd(), &options).map_err(|e| fail(e.into()))?;
    }
    sysmount::attach(procfs.as_fd(), target.as_fd()).map_err(|e| fail(e.into()))?;
    Ok(mounted(dest, Method::MoveMount))
}

/// Mounts a new sysfs instance (`nosuid,nodev,noexec`) on `dest` inside `root`, with the checks
/// of [`mount_procfs`] (and not on the root's `/proc` either: only a procfs goes there). sysfs
/// shows the network devices of the caller's network namespace.
pub fn mount_sysfs(root: &Root, dest: &Path) -> Result<Report> {
    let fail = |e: Error| {
        e.context("mount sysfs on", dest)
            .in_root(root.display_name())
    };
    check_proc_destination_path(dest, Incoming::Other).map_err(fail)?;
    let target = directory_destination(root, dest)?;
    check_proc_destination(root, target.as_fd(), None, Incoming::Other).map_err(fail)?;
    let source = Source::NewFs {
        fstype: "sysfs",
        options: &[],
        attrs: PROC_ATTRS,
        legacy_data: "",
    };
    let method = mount_onto(root, dest, &source, target.as_fd()).map_err(fail)?;
    Ok(mounted(dest, method.method))
}

/// Options of [`bind_from`].
#[derive(Clone, Copy, Debug, Default)]
pub struct BindOptions {
    /// Make the bind mount (and everything mounted below it) read-only.
    pub readonly: bool,
    /// Follow symlinks on the way to the source (inside the source [`Root`], by its
    /// [`Policy`](crate::Policy)). Off by default: a symlink in **any** component of the source
    /// path, the last one included, is refused with `ELOOP`. A volume the container can write
    /// to may have had a directory swapped for a link to a host directory; following it would
    /// bind that host directory into the container, read-write.
    pub follow_source_symlinks: bool,
}

/// Bind-mounts the host's `host_src` (and everything mounted below it) onto `dest` inside
/// `root`, read-only if asked: [`bind_from`] with the source resolved from `/` (a relative
/// `host_src` from the current directory, and never above it), with **no symlink in any
/// component** (`ELOOP`, `SafetyViolation`, nothing mounted). Use [`bind_from`] with
/// [`BindOptions::follow_source_symlinks`] to follow them.
pub fn bind_into(root: &Root, host_src: &Path, dest: &Path, readonly: bool) -> Result<Report> {
    let start = if host_src.is_absolute() { "/" } else { "." };
    let src_root = Root::open(start).map_err(|e| e.context("open bind source", host_src))?;
    bind_from(
        root,
        &src_root,
        host_src,
        dest,
        &BindOptions {
            readonly,
            follow_source_symlinks: false,
        },
    )
}

/// Bind-mounts `src` inside `src_root` (and everything mounted below it) onto `dest` inside
/// `root`.
///
/// **The source** is resolved inside `src_root` to an `O_PATH` fd, by default with no symlink
/// in any component (`RESOLVE_NO_SYMLINKS`, or the emulated walker's equivalent where
/// `openat2` is unavailable): a symlink anywhere on the way is refused (`ELOOP`,
/// `SafetyViolation`) rather than followed, so neither a source swapped for a link
/// (CVE-2025-52565, the `/dev/console` bind source) nor a parent directory swapped for one (a
/// container-writable volume whose `sub` became a link to a host directory) can redirect the
/// mount. [`BindOptions::follow_source_symlinks`] follows them, inside `src_root` only.
///
/// **The destination** is created safely if missing: a directory with [`Root::mkdir_all`] for a
/// directory source, a file with [`Root::create_file`] (`O_CREAT | O_NOFOLLOW`, never through a
/// trailing symlink; a FIFO or device found there is refused) for anything else; the mount is
/// attached on the fd those return. It must not be at or below the root's `/proc`, or on a
/// procfs (runc's `checkProcMount`): `SafetyViolation`, `EPERM`, nothing mounted, except
/// runc's lxcfs files (`/proc/{cpuinfo,diskstats,meminfo,stat,swaps,uptime,loadavg,slabinfo}`,
/// `/proc/sys/kernel/ns_last_pid`, `/proc/sys/crypto/fips_enabled`), and `/proc` itself for a
/// source on procfs. The path is checked before anything is created, and the fd afterwards
/// (by mount id and inode, walking up with `..`), so a symlink inside the root cannot lead
/// the destination into `/proc` either.
pub fn bind_from(
    root: &Root,
    src_root: &Root,
    src: &Path,
    dest: &Path,
    opts: &BindOptions,
) -> Result<Report> {
    let fail = |e: Error| e.context("bind into", dest).in_root(root.display_name());
    let src_fail = |e: Error| {
        e.context("open bind source", src)
            .in_root(src_root.display_name())
    };
    let resolver = if opts.follow_source_symlinks {
        src_root.clone()
    } else {
        src_root
            .clone()
            .with_flags(src_root.options().flags | ResolveFlags::NO_SYMLINKS)
    };
    let source_fd = match resolver.resolve(src) {
        Ok(handle) => handle,
        Err(e) if e.errno() == Errno::LOOP && !opts.follow_source_symlinks => {
            return Err(src_fail(Error::with_detail(
                ErrorKind::SafetyViolation,
                Errno::LOOP,
                "a symlink on the way to the bind source is refused (CVE-2025-52565; a \
                 container-writable directory swapped for a link to a host directory): name the \
                 file itself, or opt in with BindOptions::follow_source_symlinks",
            )))
        }
        Err(e) => return Err(src_fail(e)),
    };
    let st = rustix::fs::fstat(&source_fd)?;
    let kind = RawFileType::from_raw_mode(st.st_mode);
    let incoming = if sys::is_procfs(source_fd.as_fd())? {
        Incoming::Procfs
    } else {
        Incoming::Other
    };
    check_proc_destination_path(dest, incoming).map_err(fail)?;
    let source = Source::Bind {
        from: source_fd.as_fd(),
        recursive: true,
        attrs: if opts.readonly {
            MountAttrFlags::MOUNT_ATTR_RDONLY
        } else {
            MountAttrFlags::empty()
        },
    };
    let method = if kind == RawFileType::Directory {
        let target = root.mkdir_all(dest, 0o755).map_err(fail)?;
        check_proc_destination(root, target.as_fd(), None, incoming).map_err(fail)?;
        mount_onto(root, dest, &source, target.as_fd())
            .map_err(fail)?
            .method
    } else {
        let parent_path = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("/"));
        let parent = root.mkdir_all(parent_path, 0o755).map_err(fail)?;
        let target = root
            .create_file(dest, OFlags::RDONLY | OFlags::CLOEXEC, 0o644)
            .map_err(fail)?;
        check_proc_destination(root, target.as_fd(), Some((parent.as_fd(), dest)), incoming)
            .map_err(fail)?;
        mount_onto(root, dest, &source, target.as_fd())
            .map_err(fail)?
            .method
    };
    Ok(mounted(dest, method))
}

/// What a mount brings to its destination, for the `/proc` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Incoming {
    /// A procfs: a new instance, or a bind of a procfs directory.
    Procfs,
    /// Anything else.
    Other,
}

/// The files under `/proc` a mount may cover: those lxcfs emulates (runc's `checkProcMount`).
const LXCFS_PROC_FILES: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

fn proc_refusal(why: String) -> Error {
    Error::with_detail(ErrorKind::SafetyViolation, Errno::PERM, why)
}

/// `dest` with `.` and `..` applied lexically, as an absolute path inside the root.
fn lexical(dest: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::from("/");
    for c in dest.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The `/proc` policy on the path as given, before anything is created: at or below `/proc` is
/// refused, except the lxcfs files and `/proc` itself for a procfs.
fn check_proc_destination_path(dest: &Path, incoming: Incoming) -> Result<()> {
    let dest = lexical(dest);
    if dest == Path::new("/proc") {
        return match incoming {
            Incoming::Procfs => Ok(()),
            Incoming::Other => Err(proc_refusal(
                "only a procfs may be mounted on /proc (runc's checkProcMount)".to_owned(),
            )),
        };
    }
    if dest.starts_with("/proc") && !LXCFS_PROC_FILES.iter().any(|f| dest == Path::new(f)) {
        return Err(proc_refusal(format!(
            "{} is inside /proc: only lxcfs's files ({}) may be mounted over there (runc's \
             checkProcMount)",
            dest.display(),
            LXCFS_PROC_FILES.join(", ")
        )));
    }
    Ok(())
}

/// The `/proc` policy on the destination fd itself (a symlink inside the root may have led a
/// harmless-looking path there): refused if it is on a procfs, or is the root's `/proc` or
/// below it (found by walking up with `..` from the directory, or from `parent` for a file,
/// checked to hold the file), unless it is the same file as one of the lxcfs files or, for a
/// procfs, `/proc` itself. Files compare by (mount id, device, inode).
fn check_proc_destination(
    root: &Root,
    target: BorrowedFd<'_>,
    parent: Option<(BorrowedFd<'_>, &Path)>,
    incoming: Incoming,
) -> Result<()> {
    let here = sys::mount_info_at(target, "", AtFlags::EMPTY_PATH)?;
    let same = |a: &sys::MountInfo, b: &sys::MountInfo| a.identity() == b.identity();
    let info_of = |path: &str| -> Result<Option<sys::MountInfo>> {
        match root.resolve(path) {
            Ok(h) => Ok(Some(sys::mount_info_at(&h, "", AtFlags::EMPTY_PATH)?)),
            Err(e) if matches!(e.errno(), Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let proc_dir = info_of("/proc")?;
    if let Some(proc_dir) = &proc_dir {
        if same(&here, proc_dir) {
            return match incoming {
                Incoming::Procfs => Ok(()),
                Incoming::Other => Err(proc_refusal(
                    "the destination is the root's /proc: only a procfs may be mounted there"
                        .to_owned(),
                )),
            };
        }
    }
    let mut inside = sys::is_procfs(target)?;
    if !inside {
        if let Some(proc_dir) = &proc_dir {
            let start = match parent {
                None => rustix::fs::openat(
                    target,
                    ".",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?,
                Some((dir, dest)) => {
                    // The file must be an entry of this parent, else the walk proves nothing.
                    let name = dest.file_name().ok_or(Errno::INVAL)?;
                    let entry = sys::mount_info_at(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                    if entry.file != here.file {
                        return Err(Error::escape(
                            "the destination file moved while it was being checked",
                        ));
                    }
                    rustix::fs::openat(
                        dir,
                        ".",
                        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?
                }
            };
            let top = sys::mount_info_at(root, "", AtFlags::EMPTY_PATH)?;
            inside = is_at_or_below(start, proc_dir, &top)?;
        }
    }
    if !inside {
        return Ok(());
    }
    for file in LXCFS_PROC_FILES {
        if info_of(file)?.is_some_and(|info| same(&info, &here)) {
            return Ok(());
        }
    }
    Err(proc_refusal(
        "the destination is inside the root's /proc or on a procfs: only lxcfs's files may be \
         mounted over there (runc's checkProcMount)"
            .to_owned(),
    ))
}

/// Whether the directory `start` is `proc_dir` or below it, walking up with `..` (which
/// crosses mounts upwards) until `proc_dir`, the root `top`, or the top of the tree.
fn is_at_or_below(
    start: std::os::fd::OwnedFd,
    proc_dir: &sys::MountInfo,
    top: &sys::MountInfo,
) -> Result<bool> {
    let key = sys::MountInfo::identity;
    let mut cur = start;
    // Deeper than PATH_MAX / 2 components cannot be a real path.
    for _ in 0..2048 {
        let info = sys::mount_info_at(&cur, "", AtFlags::EMPTY_PATH)?;
        if key(&info) == key(proc_dir) {
            return Ok(true);
        }
        if key(&info) == key(top) {
            return Ok(false);
        }
        let up = rustix::fs::openat(
            &cur,
            "..",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if key(&sys::mount_info_at(&up, "", AtFlags::EMPTY_PATH)?) == key(&info) {
            return Ok(false);
        }
        cur = up;
    }
    Err(Error::from_errno(Errno::LOOP))
}
