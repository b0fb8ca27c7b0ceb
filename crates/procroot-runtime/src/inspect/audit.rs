//! `procroot audit`: the entries of a root that are dangerous to a host process that reads or
//! uses the root: device nodes, set-ID files and file capabilities, FIFOs and sockets (a host
//! tool that opens them blocks or talks to the container), world-writable files, and symlinks
//! that lead a naive host process somewhere else than the root's own resolver goes.
//!
//! One `statx` per entry (through its directory fd), a `readlink` per symlink, and a read of
//! `security.capability` only for executable regular files (a capability matters only when the
//! file is executed) on a file system that has extended attributes at all
//! ([`WalkEntry::read_xattr`]: `getxattrat` through the directory fd; before Linux 6.13 the file
//! is reopened read-only for it). Only directories are opened, never a FIFO or a device, and no
//! symlink is ever followed on the host: what a host process would read is computed lexically.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use procroot::WalkEntry;
use procroot::{Errno, Error, FileType, Root};
use rustix::fs::Statx;

use super::lexical_normalize;

/// A class of finding, each with a stable name (the JSON `class` and `--fail-on`'s values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A character or block device node, other than the OCI default set under `/dev` with its
    /// standard numbers. Fields: `type` (`char`, `block`), `major`, `minor`, `mode`, `uid`,
    /// `gid`.
    Device,
    /// A set-user-ID entry. Fields: `uid`, `gid`, `mode`.
    Setuid,
    /// A set-group-ID entry (a directory too, as `find -perm /2000`). Fields: `uid`, `gid`,
    /// `mode`.
    Setgid,
    /// An executable regular file with a `security.capability` attribute. Fields:
    /// `capabilities` (`cap_net_raw+ep`), `rootid` (the user namespace root of a version 3
    /// attribute, else null), `uid`, `gid`, `mode`.
    Capabilities,
    /// A set-ID regular file with more than one link: a link elsewhere keeps it alive and
    /// set-ID after the package manager replaced this name. Fields: `nlink`, `ino`, `uid`,
    /// `mode`.
    HardlinkedSetid,
    /// A regular file anyone may write, or a directory anyone may write without the sticky
    /// bit. Fields: `type`, `uid`, `mode`.
    WorldWritable,
    /// A FIFO: a host tool that opens it blocks. Fields: `uid`, `mode`.
    Fifo,
    /// A Unix socket: a host tool that connects talks to the container. Fields: `uid`, `mode`.
    Socket,
    /// A symlink that names another file for a host process following it naively (an absolute
    /// target, or `..` climbing above the root) than inside the root. Fields: `target`,
    /// `inside` (the root's resolver's answer, null when it fails, with `inside_error`), `host`
    /// (what the host would read).
    EscapingSymlink,
    /// A symlink in a sticky, world-writable directory, owned by neither that directory's
    /// owner nor root (what `fs.protected_symlinks` guards against). Fields: `target`, `uid`,
    /// `dir`, `dir_uid`.
    StickyForeignLink,
    /// A symlink whose target names a procfs magic link:
    /// `/proc/<pid|self|thread-self>/[task/<tid>/]{root,cwd,exe,fd/…,ns/…,map_files/…}`.
    /// Fields: `target`.
    MagicLinkName,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 11] = [
        Class::Device,
        Class::Setuid,
        Class::Setgid,
        Class::Capabilities,
        Class::HardlinkedSetid,
        Class::WorldWritable,
        Class::Fifo,
        Class::Socket,
        Class::EscapingSymlink,
        Class::StickyForeignLink,
        Class::MagicLinkName,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Device => "device",
            Class::Setuid => "setuid",
            Class::Setgid => "setgid",
            Class::Capabilities => "capabilities",
            Class::HardlinkedSetid => "hardlinked-setid",
            Class::WorldWritable => "world-writable",
            Class::Fifo => "fifo",
            Class::Socket => "socket",
            Class::EscapingSymlink => "escaping-symlink",
            Class::StickyForeignLink => "sticky-foreign-link",
            Class::MagicLinkName => "magic-link-name",
        }
    }

    /// The class named `name`.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number.
    Num(u64),
    /// Text that is always UTF-8 (a mode, a type, capabilities).
    Text(String),
    /// A path or link target: bytes, maybe not UTF-8.
    Path(OsString),
    /// Nothing (a version 2 capability's `rootid`, a failed inside resolution).
    Null,
}

/// One dangerous entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is dangerous about it.
    pub class: Class,
    /// Its path inside the root.
    pub path: PathBuf,
    /// The class's own fields, in a fixed order (see [`Class`]).
    pub fields: Vec<(&'static str, Value)>,
}

/// How a host process would reach the root: what `escaping-symlink` computes its `host` answer
/// against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostView {
    /// The root is the host's own `/`: nothing can escape it.
    HostRoot,
    /// The root is this directory of the host (absolute): `..` above the root lands beside it.
    Dir(PathBuf),
    /// The root is `/proc/<pid>/root` of this process: an absolute target is read in the host's
    /// namespace, a `..` above the root is written as the path the host process would open.
    Process(u32),
}

impl HostView {
    /// The view of a root opened from the host directory `dir` (relative to the current
    /// directory, made absolute lexically, as a host process would name it): [`HostView::HostRoot`]
    /// when that is `/`.
    pub fn for_dir(dir: &Path) -> std::io::Result<HostView> {
        let (dir, _) = lexical_normalize(&std::path::absolute(dir)?);
        Ok(if dir == Path::new("/") {
            HostView::HostRoot
        } else {
            HostView::Dir(dir)
        })
    }
}

/// What [`audit`] walks.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// The path inside the root to audit (default `/`).
    pub path: PathBuf,
    /// How the host sees the root.
    pub host: HostView,
    /// Enter other mounts (default: stay on the starting path's mount).
    pub cross_mounts: bool,
}

/// The OCI runtime spec's default devices under `/dev`, with their standard numbers: a node of
/// that name with other numbers (a `/dev/null` that is really the host's disk) is reported.
/// `/dev/console` is either the classic 5:1 or a pseudo-terminal (majors 136-143), which
/// runtimes bind over it.
fn is_default_device(path: &Path, ft: FileType, major: u32, minor: u32) -> bool {
    let Some(name) = path.as_os_str().as_bytes().strip_prefix(b"/dev/") else {
        return false;
    };
    ft == FileType::CharDevice
        && match name {
            b"null" => (major, minor) == (1, 3),
            b"zero" => (major, minor) == (1, 5),
            b"full" => (major, minor) == (1, 7),
            b"random" => (major, minor) == (1, 8),
            b"urandom" => (major, minor) == (1, 9),
            b"tty" => (major, minor) == (5, 0),
            b"console" => (major, minor) == (5, 1) || (136..=143).contains(&major),
            b"ptmx" => (major, minor) == (5, 2),
            _ => false,
        }
}

/// The capability names, by number (`linux/capability.h`).
const CAP_NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A decoded `security.capability` attribute (`struct vfs_ns_cap_data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCaps {
    /// The text form, libcap's `cap_to_text` with `+`: capabilities with the same flags
    /// grouped, `cap_net_admin,cap_net_raw+ep cap_sys_admin+i`.
    pub text: String,
    /// Version 3's root user id (the user namespace the capabilities apply in).
    pub rootid: Option<u32>,
}

/// Decodes a `security.capability` value: version 1 (one 32-bit word of each set), 2 (two
/// words) or 3 (two words and the root id), all little-endian. `None` for anything else.
pub fn decode_capabilities(raw: &[u8]) -> Option<FileCaps> {
    let word = |i: usize| -> Option<u32> {
        raw.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0)?;
    let (words, rootid) = match (magic & 0xff00_0000, raw.len()) {
        (0x0100_0000, 12) => (1, None),
        (0x0200_0000, 20) => (2, None),
        (0x0300_0000, 24) => (2, Some(word(5)?)),
        _ => return None,
    };
    let effective = magic & 1 != 0;
    let mut permitted = 0u64;
    let mut inheritable = 0u64;
    for i in 0..words {
        permitted |= u64::from(word(1 + 2 * i)?) << (32 * i);
        inheritable |= u64::from(word(2 + 2 * i)?) << (32 * i);
    }
    // Group the capabilities by their flags, in the order each group first appears.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for cap in 0..64 {
        let (p, i) = (permitted >> cap & 1 != 0, inheritable >> cap & 1 != 0);
        if !(p || i) {
            continue;
        }
        let mut flags = String::new();
        if effective {
            flags.push('e');
        }
        if i {
            flags.push('i');
        }
        if p {
            flags.push('p');
        }
        let name = CAP_NAMES
            .get(cap)
            .map_or_else(|| format!("cap_{cap}"), |n| format!("cap_{n}"));
        match groups.iter_mut().find(|(f, _)| *f == flags) {
            Some((_, names)) => names.push(name),
            None => groups.push((flags, vec![name])),
        }
    }
    let text = groups
        .iter()
        .map(|(flags, names)| format!("{}+{flags}", names.join(",")))
        .collect::<Vec<_>>()
        .join(" ");
    Some(FileCaps { text, rootid })
}

/// Whether a symlink target (already made absolute inside the root, normalized) names a procfs
/// magic link or a path through one.
fn names_magic_link(normalized: &Path) -> bool {
    let mut parts = normalized
        .as_os_str()
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty());
    let is_pid = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_digit);
    if parts.next() != Some(b"proc") {
        return false;
    }
    match parts.next() {
        Some(p) if is_pid(p) || p == b"self" || p == b"thread-self" => {}
        _ => return false,
    }
    let mut next = parts.next();
    if next == Some(b"task") {
        if !parts.next().is_some_and(is_pid) {
            return false;
        }
        next = parts.next();
    }
    match next {
        Some(b"root" | b"cwd" | b"exe") => true,
        Some(b"fd" | b"ns" | b"map_files") => parts.next().is_some(),
        _ => false,
    }
}

/// Joins `dir` (absolute) and a relative `target`, bytewise.
fn join_bytes(dir: &Path, target: &Path) -> PathBuf {
    let mut out = dir.as_os_str().as_bytes().to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(target.as_os_str().as_bytes());
    PathBuf::from(OsStr::from_bytes(&out))
}

/// What a host process reads when it follows the symlink at `link` (inside the root) with
/// `target`, naively, by path: `None` when that is the file the root's resolver would reach by
/// the same lexical reading (a relative target that stays inside), or when the root is the
/// host's `/`.
fn host_reading(host: &HostView, link: &Path, target: &Path) -> Option<PathBuf> {
    if *host == HostView::HostRoot {
        return None;
    }
    let tb = target.as_os_str().as_bytes();
    if tb.first() == Some(&b'/') {
        // The host's kernel restarts an absolute target at the host's `/`.
        return Some(target.to_path_buf());
    }
    let parent = link.parent().unwrap_or(Path::new("/"));
    let (_, climbed) = lexical_normalize(&join_bytes(parent, target));
    if !climbed {
        return None;
    }
    Some(match host {
        HostView::Dir(dir) => {
            let full = join_bytes(
                &join_bytes(dir, parent.strip_prefix("/").unwrap_or(parent)),
                target,
            );
            lexical_normalize(&full).0
        }
        // Above a process's root there is no lexical answer on the host: the path the host
        // process would open, which the kernel walks above that root.
        HostView::Process(pid) => join_bytes(
            &join_bytes(
                Path::new(&format!("/proc/{pid}/root")),
                parent.strip_prefix("/").unwrap_or(parent),
            ),
            target,
        ),
        HostView::HostRoot => unreachable!("returned above"),
    })
}

/// The permission bits in octal, four digits (as `procroot stat` shows them).
fn mode_text(mode: u32) -> Value {
    Value::Text(format!("{:04o}", mode & 0o7777))
}

/// The audit's state across entries.
struct Auditor<'a> {
    root: &'a Root,
    host: &'a HostView,
    /// Each open directory's (mode, uid), by depth: the parent of an entry at depth `d` is at
    /// `d - 1` (the walk is pre-order).
    dirs: Vec<Option<(u32, u32)>>,
    /// Devices whose file system has no extended attributes (ENOTSUP once): no more
    /// `lgetxattr` there.
    no_xattrs: HashSet<(u32, u32)>,
}

impl Auditor<'_> {
    /// The findings of one entry.
    fn examine(
        &mut self,
        entry: &WalkEntry,
        st: &Statx,
        out: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        let mode = u32::from(st.stx_mode);
        let (uid, gid, nlink) = (st.stx_uid, st.stx_gid, u64::from(st.stx_nlink));
        let dev = (st.stx_dev_major, st.stx_dev_minor);
        let ft = FileType::from_mode(mode);
        let depth = entry.depth();
        let parent = depth
            .checked_sub(1)
            .and_then(|d| self.dirs.get(d).copied().flatten());
        if ft == FileType::Dir {
            self.dirs.resize(depth, None);
            self.dirs.push(Some((mode, uid)));
        }
        let path = entry.path();
        let mut push = |class, fields| {
            out.push(Finding {
                class,
                path: path.to_path_buf(),
                fields,
            })
        };
        let owner = || {
            vec![
                ("uid", Value::Num(uid.into())),
                ("gid", Value::Num(gid.into())),
                ("mode", mode_text(mode)),
            ]
        };
        match ft {
            FileType::CharDevice | FileType::BlockDevice => {
                let (major, minor) = (st.stx_rdev_major, st.stx_rdev_minor);
                if !is_default_device(path, ft, major, minor) {
                    let mut fields = vec![
                        ("type", Value::Text(ft.as_str().into())),
                        ("major", Value::Num(major.into())),
                        ("minor", Value::Num(minor.into())),
                    ];
                    fields.extend(owner());
                    push(Class::Device, fields);
                }
            }
            FileType::Fifo | FileType::Socket => {
                let class = if ft == FileType::Fifo {
                    Class::Fifo
                } else {
                    Class::Socket
                };
                push(
                    class,
                    vec![("uid", Value::Num(uid.into())), ("mode", mode_text(mode))],
                );
            }
            _ => {}
        }
        if ft != FileType::Symlink {
            if mode & 0o4000 != 0 {
                push(Class::Setuid, owner());
            }
            if mode & 0o2000 != 0 {
                push(Class::Setgid, owner());
            }
        }
        if ft == FileType::File {
            if mode & 0o6000 != 0 && nlink > 1 {
                push(
                    Class::HardlinkedSetid,
                    vec![
                        ("nlink", Value::Num(nlink)),
                        ("ino", Value::Num(st.stx_ino)),
                        ("uid", Value::Num(uid.into())),
                        ("mode", mode_text(mode)),
                    ],
                );
            }
            if mode & 0o111 != 0 && !self.no_xattrs.contains(&dev) {
                match entry.read_xattr("security.capability") {
                    Ok(Some(raw)) => {
                        let (text, rootid) = match decode_capabilities(&raw) {
                            Some(caps) => (caps.text, caps.rootid),
                            None => (format!("invalid ({} bytes)", raw.len()), None),
                        };
                        let mut fields = vec![
                            ("capabilities", Value::Text(text)),
                            (
                                "rootid",
                                rootid.map_or(Value::Null, |r| Value::Num(r.into())),
                            ),
                        ];
                        fields.extend(owner());
                        push(Class::Capabilities, fields);
                    }
                    Ok(None) => {}
                    Err(e) if e.errno() == Errno::NOTSUP => {
                        self.no_xattrs.insert(dev);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let world_writable = match ft {
            FileType::File => mode & 0o002 != 0,
            FileType::Dir => mode & 0o1002 == 0o002,
            _ => false,
        };
        if world_writable {
            push(
                Class::WorldWritable,
                vec![
                    ("type", Value::Text(ft.as_str().into())),
                    ("uid", Value::Num(uid.into())),
                    ("mode", mode_text(mode)),
                ],
            );
        }
        if ft == FileType::Symlink {
            let target = entry.link_target()?;
            let target_os = Value::Path(target.clone().into_os_string());
            if let Some((dir_mode, dir_uid)) = parent {
                if dir_mode & 0o1002 == 0o1002 && uid != dir_uid && uid != 0 {
                    let dir = path.parent().unwrap_or(Path::new("/"));
                    push(
                        Class::StickyForeignLink,
                        vec![
                            ("target", target_os.clone()),
                            ("uid", Value::Num(uid.into())),
                            ("dir", Value::Path(dir.as_os_str().to_owned())),
                            ("dir_uid", Value::Num(dir_uid.into())),
                        ],
                    );
                }
            }
            // The target read inside the root: an absolute one from the root, a relative one
            // from the link's directory (joining an absolute target would bury it).
            let in_root = if target.is_absolute() {
                lexical_normalize(&target).0
            } else {
                lexical_normalize(&join_bytes(
                    path.parent().unwrap_or(Path::new("/")),
                    &target,
                ))
                .0
            };
            if names_magic_link(&in_root) {
                push(Class::MagicLinkName, vec![("target", target_os.clone())]);
            }
            if let Some(host) = host_reading(self.host, path, &target) {
                // The root's own answer: the link resolved inside the root, as every procroot
                // command would follow it.
                let (inside, error) = match self
                    .root
                    .resolve(path)
                    .and_then(|h| h.path_in_root().map(Path::to_path_buf))
                {
                    Ok(p) => (Value::Path(p.into_os_string()), Value::Null),
                    Err(e) => (Value::Null, Value::Text(e.errno_name().to_owned())),
                };
                push(
                    Class::EscapingSymlink,
                    vec![
                        ("target", target_os),
                        ("inside", inside),
                        ("inside_error", error),
                        ("host", Value::Path(host.into_os_string())),
                    ],
                );
            }
        }
        Ok(())
    }
}

/// Walks `opts.path` inside `root` (never following a symlink, staying on one mount unless
/// [`AuditOptions::cross_mounts`]) and calls `visit` with each entry's findings (in walk order,
/// then [`Class`] order) and with each entry's error (the walk goes on). `visit` stops the walk
/// by returning an error, which is returned.
pub fn audit<E: From<Error>>(
    root: &Root,
    opts: &AuditOptions,
    mut visit: impl FnMut(Result<Finding, Error>) -> Result<(), E>,
) -> Result<(), E> {
    let mut auditor = Auditor {
        root,
        host: &opts.host,
        dirs: Vec::new(),
        no_xattrs: HashSet::new(),
    };
    let walk = root
        .walk(&opts.path)
        .follow_links(false)
        .same_mount(!opts.cross_mounts);
    let mut findings = Vec::new();
    for item in walk {
        let entry = match item {
            Ok(entry) => entry,
            Err(e) => {
                visit(Err(e))?;
                continue;
            }
        };
        // Pre-order: the directories deeper than this entry are done. One whose metadata could
        // not be read leaves no slot, so its children see no parent (never a stale sibling's).
        auditor.dirs.truncate(entry.depth());
        let examined = entry
            .statx()
            .and_then(|st| auditor.examine(&entry, &st, &mut findings));
        match examined {
            Ok(()) => {}
            // Gone since the directory was read: nothing there to report.
            Err(e) if e.errno() == Errno::NOENT => {}
            Err(e) => visit(Err(e))?,
        }
        findings.sort_by_key(|f| f.class);
        for finding in findings.drain(..) {
            visit(Ok(finding))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(magic: u32, words: &[u32]) -> Vec<u8> {
        std::iter::once(magic)
            .chain(words.iter().copied())
            .flat_map(u32::to_le_bytes)
            .collect()
    }

    #[test]
    fn capabilities_decode_v2_and_v3() {
        // ping: cap_net_raw (13) permitted, effective.
        let v2 = caps(0x0200_0001, &[1 << 13, 0, 0, 0]);
        assert_eq!(
            decode_capabilities(&v2),
            Some(FileCaps {
                text: "cap_net_raw+ep".into(),
                rootid: None
            })
        );
        // Two permitted, one inheritable-only, and cap_bpf (39) in the second word; v3 with a
        // root id.
        let v3 = caps(
            0x0300_0000,
            &[(1 << 12) | (1 << 13), 1 << 21, 1 << 7, 0, 100000],
        );
        assert_eq!(
            decode_capabilities(&v3),
            Some(FileCaps {
                text: "cap_net_admin,cap_net_raw,cap_bpf+p cap_sys_admin+i".into(),
                rootid: Some(100000)
            })
        );
        let high = caps(0x0200_0001, &[0, 0, 1 << 7, 0]);
        assert_eq!(decode_capabilities(&high).unwrap().text, "cap_bpf+ep");
        let unknown = caps(0x0200_0000, &[0, 0, 1 << 20, 1 << 20]);
        assert_eq!(decode_capabilities(&unknown).unwrap().text, "cap_52+ip");
        let v1 = caps(0x0100_0001, &[1, 0]);
        assert_eq!(decode_capabilities(&v1).unwrap().text, "cap_chown+ep");
        // A wrong length for the revision, an unknown revision, too short.
        assert_eq!(decode_capabilities(&v2[..16]), None);
        assert_eq!(decode_capabilities(&caps(0x0400_0000, &[0, 0, 0, 0])), None);
        assert_eq!(decode_capabilities(&[1, 2]), None);
    }

    #[test]
    fn default_devices_need_their_standard_numbers() {
        let dev = |p: &str, ft, ma, mi| is_default_device(Path::new(p), ft, ma, mi);
        assert!(dev("/dev/null", FileType::CharDevice, 1, 3));
        assert!(dev("/dev/console", FileType::CharDevice, 136, 4));
        assert!(dev("/dev/ptmx", FileType::CharDevice, 5, 2));
        // The host's disk under a harmless name, a block device, another directory.
        assert!(!dev("/dev/null", FileType::CharDevice, 8, 0));
        assert!(!dev("/dev/null", FileType::BlockDevice, 1, 3));
        assert!(!dev("/tmp/null", FileType::CharDevice, 1, 3));
        assert!(!dev("/dev/sda", FileType::BlockDevice, 8, 0));
        assert!(!dev("/dev/pts/null", FileType::CharDevice, 1, 3));
    }

    #[test]
    fn magic_link_names() {
        for yes in [
            "/proc/self/root",
            "/proc/1/cwd",
            "/proc/thread-self/exe",
            "/proc/self/fd/3",
            "/proc/42/task/43/root",
            "/proc/self/root/etc/shadow",
            "/proc/self/ns/mnt",
        ] {
            assert!(names_magic_link(Path::new(yes)), "{yes}");
        }
        for no in [
            "/proc/self",
            "/proc/self/status",
            "/proc/self/fd",
            "/proc/x1/root",
            "/usr/proc/self/root",
            "/proc/self/task/x/root",
        ] {
            assert!(!names_magic_link(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn host_reading_is_lexical() {
        let dir = HostView::Dir(PathBuf::from("/srv/r"));
        let h = |host: &HostView, link: &str, target: &str| {
            host_reading(host, Path::new(link), Path::new(target))
                .map(|p| p.to_str().unwrap().to_owned())
        };
        assert_eq!(
            h(&dir, "/bin/sh", "/bin/busybox").as_deref(),
            Some("/bin/busybox")
        );
        assert_eq!(h(&dir, "/usr/lib/x", "../../y"), None);
        assert_eq!(
            h(&dir, "/a/l", "../../etc/shadow").as_deref(),
            Some("/srv/etc/shadow")
        );
        assert_eq!(h(&dir, "/l", "x/../../../../etc").as_deref(), Some("/etc"));
        assert_eq!(h(&HostView::HostRoot, "/bin/sh", "/bin/busybox"), None);
        assert_eq!(
            h(&HostView::Process(42), "/a/l", "../../etc").as_deref(),
            Some("/proc/42/root/a/../../etc")
        );
        assert_eq!(
            h(&HostView::Process(42), "/l", "/etc").as_deref(),
            Some("/etc")
        );
    }

    #[test]
    fn class_names_round_trip() {
        for class in Class::ALL {
            assert_eq!(Class::from_name(class.as_str()), Some(class));
        }
        assert_eq!(Class::from_name("setuid,setgid"), None);
    }
}
