//! procfs, sysfs and bind mounts into a root.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{FileType as RawFileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountAttrFlags;

use super::attach::{mount_onto, Method, Source};
use super::Report;
use crate::error::{Error, ErrorKind, Result};
use crate::procfs::Procfs;
use crate::resolve::ResolveFlags;
use crate::root::{Handle, Root};
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
/// mounted (CVE-2019-19921, CVE-2023-27561).
///
/// With [`ProcfsMountOptions::pidns`], the instance shows that PID namespace: with the `pidns=`
/// mount option on Linux 6.18+; otherwise from the helper process of [`Procfs::for_pidns`], with
/// `subset=`/`hidepid=` applied afterwards by reconfiguring that private instance. Errors of
/// the namespace are those of [`Procfs::for_pidns`].
pub fn mount_procfs(root: &Root, dest: &Path, opts: &ProcfsMountOptions<'_>) -> Result<Report> {
    let target = directory_destination(root, dest)?;
    let fail = |e: Error| {
        e.context("mount procfs on", dest)
            .in_root(root.display_name())
    };
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
    if !features::is_disabled(Feature::Fsopen) && !features::is_disabled(Feature::ProcPidnsOption) {
        let mut with_ns = options.clone();
        with_ns.push(FsOption::Fd("pidns", pidns));
        match sysmount::new_mount("proc", &with_ns, PROC_ATTRS) {
            Ok(mount) => {
                sysmount::attach(mount.as_fd(), target.as_fd()).map_err(|e| fail(e.into()))?;
                return Ok(mounted(dest, Method::MoveMount));
            }
            // An older kernel (EINVAL for the unknown key), fsopen missing or filtered: the
            // helper below tells the real reasons apart.
            Err(e) if matches!(e.errno, Errno::INVAL | Errno::NOSYS | Errno::PERM) => {}
            Err(e) => return Err(fail(e.into())),
        }
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
/// of [`mount_procfs`]. sysfs shows the network devices of the caller's network namespace.
pub fn mount_sysfs(root: &Root, dest: &Path) -> Result<Report> {
    let target = directory_destination(root, dest)?;
    let source = Source::NewFs {
        fstype: "sysfs",
        options: &[],
        attrs: PROC_ATTRS,
        legacy_data: "",
    };
    let method = mount_onto(root, dest, &source, target.as_fd()).map_err(|e| {
        e.context("mount sysfs on", dest)
            .in_root(root.display_name())
    })?;
    Ok(mounted(dest, method.method))
}

/// Bind-mounts the host's `host_src` (and everything mounted below it) onto `dest` inside
/// `root`, read-only if asked.
///
/// `host_src` is opened `O_PATH | O_NOFOLLOW` in the caller's root: a symlink there is refused
/// (`ELOOP`) rather than followed, so a source swapped for a link (CVE-2025-52565, the
/// `/dev/console` bind source) cannot redirect the mount. The destination is created safely if
/// missing: a directory with [`Root::mkdir_all`] for a directory source, a file with
/// [`Root::create_file`] (`O_CREAT | O_NOFOLLOW`, never through a trailing symlink; a FIFO or
/// device found there is refused) for anything else; the mount is attached on the fd those
/// return.
pub fn bind_into(root: &Root, host_src: &Path, dest: &Path, readonly: bool) -> Result<Report> {
    let fail = |e: Error| e.context("bind into", dest).in_root(root.display_name());
    let src = rustix::fs::open(
        host_src,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::from(e).context("open bind source", host_src))?;
    let st = rustix::fs::fstat(&src)?;
    let kind = RawFileType::from_raw_mode(st.st_mode);
    if kind == RawFileType::Symlink {
        return Err(Error::with_detail(
            ErrorKind::SafetyViolation,
            Errno::LOOP,
            "the bind source is a symlink (CVE-2025-52565): name the file itself",
        )
        .context("open bind source", host_src));
    }
    let source = Source::Bind {
        from: src.as_fd(),
        recursive: true,
        attrs: if readonly {
            MountAttrFlags::MOUNT_ATTR_RDONLY
        } else {
            MountAttrFlags::empty()
        },
    };
    let method = if kind == RawFileType::Directory {
        let target = root.mkdir_all(dest, 0o755).map_err(fail)?;
        mount_onto(root, dest, &source, target.as_fd())
            .map_err(fail)?
            .method
    } else {
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            root.mkdir_all(parent, 0o755).map_err(fail)?;
        }
        let target = root
            .create_file(dest, OFlags::RDONLY | OFlags::CLOEXEC, 0o644)
            .map_err(fail)?;
        mount_onto(root, dest, &source, target.as_fd())
            .map_err(fail)?
            .method
    };
    Ok(mounted(dest, method))
}
