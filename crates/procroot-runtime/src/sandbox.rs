//! The second wall: Landlock confines a process to the trees it works on.
//!
//! procroot's first wall is its own code (the resolver, the walkers, their checks). With Landlock
//! (Linux 5.13+), a file outside the allowed trees cannot be opened, created, removed, renamed or
//! linked into, so a bug there becomes an `EACCES` instead of an escape.
//!
//! ```no_run
//! use procroot_runtime::sandbox::{Access, Sandbox};
//! use procroot::{ErrorKind, Root};
//!
//! let root = Root::open("/var/lib/machines/web")?;
//! match Sandbox::new().allow_beneath(&root, Access::READ).restrict_self() {
//!     Ok(status) => eprintln!("confined (Landlock ABI {})", status.abi()),
//!     Err(e) if e.kind() == ErrorKind::NotSupported => eprintln!("no Landlock here: {e}"),
//!     Err(e) => return Err(e),
//! }
//! let _passwd = root.open_file("/etc/passwd", procroot::OFlags::RDONLY)?;
//! # Ok::<(), procroot::Error>(())
//! ```
//!
//! A confined process can never lift the restriction, and its children inherit it: this is for
//! processes that do one job, or a helper forked for one operation
//! ([`Root::in_sandbox`](RootSandboxExt::in_sandbox)). Landlock does not mediate mode, owner,
//! times, xattrs, `stat`, `readlink` or `O_PATH` opens; metadata changes have
//! [`Root::with_second_check`]. More: docs/ARCHITECTURE.md, "The Landlock sandbox".

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use bitflags::bitflags;
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::root::Root;
use crate::sys::landlock::{self, fs};
use crate::sys::Syscall as _;
/// What a confining process reads first ([`Sandbox::preload`]), re-exported from `procroot`.
pub use procroot::Preload;

bitflags! {
    /// What a [`Sandbox`] allows beneath a tree: Landlock's file-system rights, one flag each
    /// (the same bits as `LANDLOCK_ACCESS_FS_*`), and the groups most callers want
    /// ([`Access::READ`], [`Access::READ_WRITE`], ...). Everything not allowed is refused with
    /// `EACCES`, to the extent the kernel's Landlock ABI can refuse it (see [`SandboxStatus`]).
    ///
    /// Landlock never mediates changing a file's mode, owner, times or extended attributes,
    /// `stat`, `readlink` or `O_PATH` opens: no flag here allows or refuses those.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Access: u64 {
        /// Execute files.
        const EXEC = fs::EXECUTE;
        /// Open files for writing.
        const WRITE_FILE = fs::WRITE_FILE;
        /// Open files for reading.
        const READ_FILE = fs::READ_FILE;
        /// Open directories for reading (list them).
        const READ_DIR = fs::READ_DIR;
        /// Remove directories (`rmdir`, or rename one away).
        const REMOVE_DIR = fs::REMOVE_DIR;
        /// Remove anything but directories (`unlink`, or rename one away).
        const REMOVE_FILE = fs::REMOVE_FILE;
        /// Create, rename or link character devices (moving a device node counts as making
        /// one).
        const MAKE_CHAR = fs::MAKE_CHAR;
        /// Create or rename directories.
        const MAKE_DIR = fs::MAKE_DIR;
        /// Create, rename or link regular files.
        const MAKE_REG = fs::MAKE_REG;
        /// Create, rename or link UNIX sockets.
        const MAKE_SOCK = fs::MAKE_SOCK;
        /// Create, rename or link FIFOs.
        const MAKE_FIFO = fs::MAKE_FIFO;
        /// Create, rename or link block devices.
        const MAKE_BLOCK = fs::MAKE_BLOCK;
        /// Create, rename or link symlinks.
        const MAKE_SYM = fs::MAKE_SYM;
        /// Rename or link an entry into another directory (ABI 2). Below ABI 2 every such rename
        /// or link is refused (`EXDEV`) in a sandbox.
        const REFER = fs::REFER;
        /// Truncate files (ABI 3).
        const TRUNCATE = fs::TRUNCATE;
        /// `ioctl(2)` on device files opened beneath the tree (ABI 5).
        const IOCTL_DEV = fs::IOCTL_DEV;

        /// Open files for reading and list directories.
        const READ = Self::READ_FILE.bits() | Self::READ_DIR.bits();
        /// Open files for writing, and truncate them (ABI 3).
        const WRITE = Self::WRITE_FILE.bits() | Self::TRUNCATE.bits();
        /// Create regular files, directories and symlinks, and rename or hard-link entries
        /// into another directory (`REFER`, ABI 2).
        const CREATE = Self::MAKE_REG.bits() | Self::MAKE_DIR.bits() | Self::MAKE_SYM.bits()
            | Self::REFER.bits();
        /// Remove (unlink, rmdir, rename away) files and directories.
        const REMOVE = Self::REMOVE_FILE.bits() | Self::REMOVE_DIR.bits();
        /// Create FIFOs and UNIX sockets.
        const MAKE_SPECIAL = Self::MAKE_FIFO.bits() | Self::MAKE_SOCK.bits();
        /// Create character and block device nodes.
        const MAKE_DEVICE = Self::MAKE_CHAR.bits() | Self::MAKE_BLOCK.bits();
        /// Every `MAKE_*`: what renaming or linking an entry of any type into a directory needs.
        const MAKE_ANY = Self::MAKE_REG.bits() | Self::MAKE_DIR.bits() | Self::MAKE_SYM.bits()
            | Self::MAKE_SPECIAL.bits() | Self::MAKE_DEVICE.bits();
        /// Everything a command that changes a tree needs, except device nodes, device ioctls
        /// and execution.
        const READ_WRITE = Self::READ.bits() | Self::WRITE.bits() | Self::CREATE.bits()
            | Self::REMOVE.bits() | Self::MAKE_SPECIAL.bits();
    }
}

/// Each single right with its Landlock name (without `LANDLOCK_ACCESS_FS_`), in reading order:
/// read, write, make, link, remove, then the rest.
const NAMES: &[(Access, &str)] = &[
    (Access::READ_FILE, "READ_FILE"),
    (Access::READ_DIR, "READ_DIR"),
    (Access::WRITE_FILE, "WRITE_FILE"),
    (Access::TRUNCATE, "TRUNCATE"),
    (Access::MAKE_REG, "MAKE_REG"),
    (Access::MAKE_DIR, "MAKE_DIR"),
    (Access::MAKE_SYM, "MAKE_SYM"),
    (Access::MAKE_FIFO, "MAKE_FIFO"),
    (Access::MAKE_SOCK, "MAKE_SOCK"),
    (Access::MAKE_CHAR, "MAKE_CHAR"),
    (Access::MAKE_BLOCK, "MAKE_BLOCK"),
    (Access::REFER, "REFER"),
    (Access::REMOVE_FILE, "REMOVE_FILE"),
    (Access::REMOVE_DIR, "REMOVE_DIR"),
    (Access::IOCTL_DEV, "IOCTL_DEV"),
    (Access::EXEC, "EXECUTE"),
];

impl Access {
    /// The Landlock rights this access means.
    fn rights(self) -> u64 {
        self.bits()
    }

    /// The Landlock names of the rights in this set (`["READ_FILE", "READ_DIR"]`), in a fixed
    /// reading order: how `procroot doctor` and docs/GUIDE.md show a command's rights.
    pub fn names(self) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(access, _)| self.contains(*access))
            .map(|(_, name)| *name)
            .collect()
    }

    /// The right that making (creating, renaming or linking into a directory) an entry of type
    /// `file_type` needs: `MAKE_REG` for a file, `MAKE_CHAR` for a character device, ...
    /// `Unknown` needs every `MAKE_*`.
    pub fn make(file_type: crate::FileType) -> Access {
        use crate::FileType;
        match file_type {
            FileType::File => Access::MAKE_REG,
            FileType::Dir => Access::MAKE_DIR,
            FileType::Symlink => Access::MAKE_SYM,
            FileType::Fifo => Access::MAKE_FIFO,
            FileType::Socket => Access::MAKE_SOCK,
            FileType::CharDevice => Access::MAKE_CHAR,
            FileType::BlockDevice => Access::MAKE_BLOCK,
            _ => Access::MAKE_ANY,
        }
    }
}

/// Which way a copy crosses a root's boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyDirection {
    /// From a host path into the root ([`Root::copy_in_with`]).
    In,
    /// From the root out to a host path ([`Root::copy_out_with`]).
    Out,
}

/// A tree one of a copy's Landlock rules is about ([`copy_rules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyTree {
    /// The root the copy reads from or writes to.
    Root,
    /// A copy in: the host entry copied from, itself (a symlink there is not followed, as the
    /// copy does not follow it).
    HostSource,
    /// A copy out: the host directory the copy lands in (the destination itself when it is an
    /// existing directory, else its parent, as `cp -r` and [`Root::copy_out_with`]).
    HostDestination,
}

/// One of a copy's Landlock rules: a tree and what may be done beneath it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRule {
    /// The tree.
    pub tree: CopyTree,
    /// What may be done beneath it.
    pub access: Access,
}

/// What a copy may do beneath the tree it writes to (the root for a copy in, the host
/// directory for a copy out): create files, directories and symlinks, write the files it
/// created, list and remove what it made when the copy fails; `TRUNCATE` to give a file that
/// ends in a hole its size (`ftruncate`), `REFER` to keep hard links within the copy (`linkat`
/// between its directories). Not `READ_FILE`: a bug cannot read a file beside the copy (a host
/// secret next to the destination). `REFER` and `TRUNCATE` add nothing a bug could not already
/// do with `WRITE_FILE`, `MAKE_*` and `REMOVE_*` there.
pub const COPY_WRITE: Access = Access::MAKE_REG
    .union(Access::MAKE_DIR)
    .union(Access::MAKE_SYM)
    .union(Access::WRITE_FILE)
    .union(Access::TRUNCATE)
    .union(Access::REFER)
    .union(Access::REMOVE_FILE)
    .union(Access::REMOVE_DIR)
    .union(Access::READ_DIR);

/// The Landlock rules of a process that makes one copy in `direction` and nothing else: it
/// reads beneath the tree it copies from (`READ`), and beneath the tree it writes to it may
/// make and write what a copy makes, but not read a file it did not make. With
/// [`SpecialFiles::Allow`](procroot::SpecialFiles::Allow) it may also make FIFOs and sockets,
/// and device nodes inside the root; never a device node on the host (a copy out recreates
/// none, whatever the caller asked).
///
/// [`copy_sandbox`] enforces exactly these, on the trees the copy works in.
pub fn copy_rules(
    direction: CopyDirection,
    special_files: procroot::SpecialFiles,
) -> [CopyRule; 2] {
    let allow = special_files == procroot::SpecialFiles::Allow;
    let rule = |tree, access| CopyRule { tree, access };
    match direction {
        CopyDirection::In => [
            rule(CopyTree::HostSource, Access::READ),
            rule(
                CopyTree::Root,
                if allow {
                    COPY_WRITE | Access::MAKE_SPECIAL | Access::MAKE_DEVICE
                } else {
                    COPY_WRITE
                },
            ),
        ],
        CopyDirection::Out => [
            rule(CopyTree::Root, Access::READ),
            rule(
                CopyTree::HostDestination,
                if allow {
                    COPY_WRITE | Access::MAKE_SPECIAL
                } else {
                    COPY_WRITE
                },
            ),
        ],
    }
}

/// The [`Sandbox`] for a process that makes one copy in `direction` between `root` and
/// `host_path` (the copy's host operand, as given to [`Root::copy_in_with`] or
/// [`Root::copy_out_with`]) and nothing else: [`copy_rules`], on the trees that copy works in.
/// Confine with it ([`Sandbox::restrict_self`]) before the copy, so that a bug in the copy's
/// own checks fails with `EACCES` instead of touching another host file.
///
/// The host tree is opened `O_PATH` here as the copy will open it; a host tree that cannot be
/// opened (a missing source, a destination whose parent is missing) gets no rule, and the copy
/// then reports why. If it is renamed between this and the copy, the copy is refused
/// (`EACCES`), never let through.
pub fn copy_sandbox(
    root: &Root,
    direction: CopyDirection,
    host_path: &Path,
    special_files: procroot::SpecialFiles,
) -> Sandbox {
    let host = copy_host_tree(direction, host_path);
    copy_rules(direction, special_files).into_iter().fold(
        Sandbox::new(),
        |sandbox, rule| match rule.tree {
            CopyTree::Root => sandbox.allow_beneath(root, rule.access),
            CopyTree::HostSource | CopyTree::HostDestination => match &host {
                Some(fd) => sandbox.allow_beneath(fd, rule.access),
                None => sandbox,
            },
        },
    )
}

/// The host tree a copy in `direction` with host operand `host_path` works in
/// ([`CopyTree::HostSource`] or [`CopyTree::HostDestination`]), opened `O_PATH`; `None` where it
/// cannot be opened, or `host_path` names no entry (it ends in `.` or `..`, or is `/`: the
/// copy refuses those itself).
fn copy_host_tree(direction: CopyDirection, host_path: &Path) -> Option<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    // The parent, followed as the host follows it, and the last name, not looked up: split as
    // the copy splits it.
    let parent_and_name = || {
        let (parent, name) = procroot::resolve::split_last(host_path.as_os_str().as_bytes())?;
        let parent = rustix::fs::open(std::ffi::OsStr::from_bytes(parent), dir, Mode::empty());
        Some((parent.ok()?, std::ffi::OsStr::from_bytes(name)))
    };
    match direction {
        CopyDirection::In => {
            let (parent, name) = parent_and_name()?;
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            rustix::fs::openat(&parent, name, flags, Mode::empty()).ok()
        }
        // An existing directory (followed) is where the copy lands; else the parent of the
        // name the copy is made under.
        CopyDirection::Out => match rustix::fs::open(host_path, dir, Mode::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::NOENT | Errno::NOTDIR) => parent_and_name().map(|(parent, _)| parent),
            Err(_) => None,
        },
    }
}

/// The kernel's Landlock ABI version (7 on Linux 6.15+).
///
/// `NotSupported` when the kernel has no Landlock (`ENOSYS`) or it is not enabled at boot
/// (`EOPNOTSUPP`); the errno of a seccomp filter that refuses the probe as it is. The first
/// answer is kept for the life of the process: a seccomp filter installed after it does not
/// change what this returns, and [`Sandbox::restrict_self`] then fails with the filter's errno
/// from `landlock_create_ruleset`.
pub fn abi() -> Result<u32> {
    // Tests only (a `--cfg procroot_fault_injection` build; no release build has this code):
    // pretend the kernel offers an older ABI, to show what a command does on Linux 5.13-5.18.
    // The ruleset is then built for that ABI, and the kernel enforces it as an old one would
    // (no REFER handled: every rename or link into another directory is EXDEV).
    #[cfg(procroot_fault_injection)]
    if let Some(abi) = std::env::var("PROCROOT_TEST_LANDLOCK_ABI")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Ok(abi);
    }
    // The kernel's ABI cannot change while it runs: asked once per process (a command asks
    // here to choose what to say, then `restrict_self` asks again). Only an answer is kept: a
    // refusal is asked again, so that its errno is the one of the call that failed.
    static ABI: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    if let Some(&abi) = ABI.get() {
        return Ok(abi);
    }
    let abi = landlock::abi_version().map_err(|errno| {
        let detail = match errno {
            Errno::NOSYS => "Landlock is not available: the kernel lacks it (Linux 5.13+)",
            Errno::OPNOTSUPP => "Landlock is not available: it is not enabled at boot (lsm=)",
            _ => "Landlock is not available: landlock_create_ruleset(2) was refused",
        };
        let kind = match errno {
            Errno::NOSYS | Errno::OPNOTSUPP => ErrorKind::NotSupported,
            _ => ErrorKind::Os,
        };
        Error::with_detail(kind, errno, detail).with_syscall("landlock_create_ruleset", None)
    })?;
    Ok(*ABI.get_or_init(|| abi))
}

/// A set of trees and what may be done beneath each, to be enforced with
/// [`restrict_self`](Sandbox::restrict_self).
#[derive(Debug, Default)]
pub struct Sandbox {
    rules: Vec<(OwnedFd, Access)>,
    error: Option<Error>,
    /// What to read before confining; `None`: everything ([`Preload::all`]).
    preload: Option<Preload>,
}

/// What [`Sandbox::restrict_self`] enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxStatus {
    abi: u32,
    handled: u64,
    scoped: u64,
}

impl SandboxStatus {
    /// The Landlock ABI used: the kernel's, or the highest procroot knows if the kernel's is
    /// newer.
    pub fn abi(&self) -> u32 {
        self.abi
    }

    /// Whether truncating a file is mediated (ABI 3). Below it, `truncate(2)` of any file the
    /// process can reach is not stopped.
    pub fn handles_truncate(&self) -> bool {
        self.handled & fs::TRUNCATE != 0
    }

    /// Whether signals to processes outside the sandbox and connections to abstract UNIX
    /// sockets made outside it are refused (ABI 6).
    pub fn scopes_signals_and_abstract_sockets(&self) -> bool {
        self.scoped != 0
    }
}

impl Sandbox {
    /// An empty sandbox: restricting with it allows no file access at all.
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// Allows `access` beneath the directory `fd` (or on the file `fd`: then only the parts of
    /// `access` that apply to a file, reading, writing, ioctl and execution, count). `fd` may
    /// be `O_PATH`; it is duplicated, so the caller keeps its own.
    pub fn allow_beneath(mut self, fd: impl AsFd, access: Access) -> Sandbox {
        match rustix::io::fcntl_dupfd_cloexec(fd.as_fd(), 0).syscall("fcntl") {
            Ok(fd) => self.rules.push((fd, access)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// What procroot reads before confining ([`procroot::prepare_to_confine`]): by default
    /// everything ([`Preload::all`]), so that every library call that works unconfined works
    /// confined. A process that knows what it will do passes less, and saves a procfs instance
    /// (about 40-80 µs) per flag left out: [`Preload::for_root`] for one whose lookups are all
    /// made in one root. What it leaves out is never read after confinement: see [`Preload`].
    pub fn preload(mut self, preload: Preload) -> Sandbox {
        self.preload = Some(preload);
        self
    }

    /// Confines this thread, and every process it creates from now on, to the allowed trees,
    /// with the highest Landlock ABI the kernel offers: at ABI 6 and above it also may not
    /// signal processes outside the sandbox or connect to abstract UNIX sockets made outside
    /// it. Sets `PR_SET_NO_NEW_PRIVS`. It cannot be undone.
    ///
    /// Only the calling thread is confined: call it before starting threads.
    ///
    /// procroot reads what it reads lazily from procfs (its procfs handle, the
    /// `fs.protected_symlinks` sysctl) before restricting, so that those reads still work: all
    /// of it, or what [`preload`](Sandbox::preload) names (recorded as not to be read even if
    /// confining then fails).
    ///
    /// On a kernel without Landlock, nothing is changed and the error is `NotSupported`; the
    /// caller decides whether to go on without the second wall.
    pub fn restrict_self(self) -> Result<SandboxStatus> {
        let preload = self.preload.unwrap_or(Preload::all());
        let (ruleset, status) = self.build()?;
        procroot::prepare_to_confine(preload);
        enforce(&ruleset)?;
        Ok(status)
    }

    /// The ruleset, made in the caller so that a forked child only has to enforce it.
    fn build(self) -> Result<(OwnedFd, SandboxStatus)> {
        // The errors name the refused syscall; the caller adds what it was confining.
        if let Some(e) = self.error {
            return Err(e);
        }
        let abi = abi()?.min(landlock::KNOWN_ABI);
        let handled = landlock::handled_fs(abi);
        let scoped = landlock::scopes(abi);
        let ruleset =
            landlock::create_ruleset(handled, scoped).syscall("landlock_create_ruleset")?;
        for (fd, access) in &self.rules {
            let mut rights = access.rights() & handled;
            let st = rustix::fs::fstat(fd).syscall("fstat")?;
            if crate::fs::FileType::from_mode(st.st_mode) != crate::fs::FileType::Dir {
                rights &= fs::FILE_RIGHTS;
            }
            // An empty rule is EINVAL/ENOMSG for the kernel, and allows nothing anyway.
            if rights != 0 {
                landlock::add_path_beneath(ruleset.as_fd(), fd.as_fd(), rights)
                    .syscall("landlock_add_rule")?;
            }
        }
        Ok((
            ruleset,
            SandboxStatus {
                abi,
                handled,
                scoped,
            },
        ))
    }
}

/// `PR_SET_NO_NEW_PRIVS` and `landlock_restrict_self`: only syscalls, so that a forked child
/// can make them.
fn enforce(ruleset: &OwnedFd) -> Result<()> {
    landlock::set_no_new_privs().syscall("prctl")?;
    landlock::restrict_self(ruleset).syscall("landlock_restrict_self")
}

/// A value [`Root::in_sandbox`](RootSandboxExt::in_sandbox) can bring back from its child: it
/// travels as bytes over a pipe.
pub trait Transfer: Sized {
    /// The value as bytes.
    fn to_bytes(&self) -> Vec<u8>;
    /// The value back from [`to_bytes`](Transfer::to_bytes)'s bytes; `None` if they are not
    /// such bytes.
    fn from_bytes(bytes: Vec<u8>) -> Option<Self>;
}

impl Transfer for () {
    fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<()> {
        bytes.is_empty().then_some(())
    }
}

impl Transfer for Vec<u8> {
    fn to_bytes(&self) -> Vec<u8> {
        self.clone()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<Vec<u8>> {
        Some(bytes)
    }
}

impl Transfer for String {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<String> {
        String::from_utf8(bytes).ok()
    }
}

impl Transfer for OsString {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<OsString> {
        Some(OsString::from_vec(bytes))
    }
}

impl Transfer for PathBuf {
    fn to_bytes(&self) -> Vec<u8> {
        self.as_os_str().as_bytes().to_vec()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
        Some(PathBuf::from(OsString::from_vec(bytes)))
    }
}

impl Transfer for u64 {
    fn to_bytes(&self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl Transfer for bool {
    fn to_bytes(&self) -> Vec<u8> {
        vec![u8::from(*self)]
    }
    fn from_bytes(bytes: Vec<u8>) -> Option<bool> {
        match bytes[..] {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

// The wire format of a child's answer: one tag byte, then for `Ok` the value's bytes, for
// `Err` the errno (i32, little-endian), the kind (`ErrorKind::code`, u8) and six
// length-prefixed (u32 LE) byte strings: operation, path, root, description, the failed
// syscall and its arguments, an absent one being the length u32::MAX. The syscall travels as a
// field, not folded into the description, so that `Error::syscall` (the C API's
// `procroot_error.syscall`, the CLI's JSON `syscall`) survives the sandbox.
const TAG_OK: u8 = 0;
const TAG_ERR: u8 = 1;
const ABSENT: u32 = u32::MAX;

fn encode_result<T: Transfer>(result: &Result<T>) -> Vec<u8> {
    let mut out = Vec::new();
    match result {
        Ok(value) => {
            out.push(TAG_OK);
            out.extend_from_slice(&value.to_bytes());
        }
        Err(e) => {
            out.push(TAG_ERR);
            out.extend_from_slice(&e.errno().raw_os_error().to_le_bytes());
            out.push(e.kind().code());
            let put = |out: &mut Vec<u8>, bytes: Option<&[u8]>| match bytes {
                Some(b) => {
                    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                    out.extend_from_slice(b);
                }
                None => out.extend_from_slice(&ABSENT.to_le_bytes()),
            };
            put(&mut out, Some(e.operation().as_bytes()));
            put(&mut out, e.path().map(|p| p.as_os_str().as_bytes()));
            put(&mut out, e.root().map(|p| p.as_os_str().as_bytes()));
            put(&mut out, Some(e.description().as_bytes()));
            put(&mut out, e.syscall().map(str::as_bytes));
            put(&mut out, e.syscall_args().map(str::as_bytes));
        }
    }
    out
}

fn decode_result<T: Transfer>(bytes: Vec<u8>) -> Option<Result<T>> {
    let (&tag, rest) = bytes.split_first()?;
    if tag == TAG_OK {
        return T::from_bytes(rest.to_vec()).map(Ok);
    }
    if tag != TAG_ERR || rest.len() < 5 {
        return None;
    }
    let errno = i32::from_le_bytes(rest[..4].try_into().ok()?);
    let kind = ErrorKind::from_code(rest[4])?;
    let mut at = &rest[5..];
    let mut take = || -> Option<Option<Vec<u8>>> {
        let len = u32::from_le_bytes(at.get(..4)?.try_into().ok()?);
        at = &at[4..];
        if len == ABSENT {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        let value = at.get(..len)?.to_vec();
        at = &at[len..];
        Some(Some(value))
    };
    let operation = take()??;
    let path = take()?;
    let root = take()?;
    let description = String::from_utf8(take()??).ok()?;
    let syscall = take()?.map(String::from_utf8).transpose().ok()?;
    let args = take()?.map(String::from_utf8).transpose().ok()?;
    let mut err = Error::with_detail(kind, Errno::from_raw_os_error(errno), description);
    if let Some(syscall) = syscall {
        err = err.with_syscall(syscall, args);
    }
    if !operation.is_empty() {
        let operation = String::from_utf8(operation).ok()?;
        let path = PathBuf::from(OsString::from_vec(path.unwrap_or_default()));
        err = err.context(operation, &path);
    }
    if let Some(root) = root {
        err = err.in_root(Path::new(&OsString::from_vec(root)));
    }
    Some(Err(err))
}

/// The promise that makes [`Root::in_sandbox`](RootSandboxExt::in_sandbox)'s fork sound, made by
/// the program (`unsafe { ForkPermit::new() }`), which knows its threads: see
/// [`ForkPermit::new`]. Re-exported from `procroot-sys`.
pub use crate::sys::process::ForkPermit;

/// [`Root::in_sandbox`](RootSandboxExt::in_sandbox): running a closure on a [`Root`] in a forked
/// child confined to it. An extension trait because [`Root`] is `procroot`'s type and this is the
/// runtime's; `use procroot_runtime::RootSandboxExt` to call it as a method.
pub trait RootSandboxExt {
    /// Runs `f` in a forked child confined with Landlock to this root, with
    /// [`Access::READ_WRITE`] beneath it and nothing else, and returns what `f` returned.
    ///
    /// For a one-shot operation on an untrusted rootfs from a long-running program, which must
    /// not confine itself: even if procroot had a bug, the child could not touch a file outside
    /// the root. The result comes back over a pipe ([`Transfer`]: `()`, bytes, strings, paths,
    /// `u64`, `bool`); an error comes back with its kind, errno, operation, path, root,
    /// message, and the failed syscall with its arguments ([`Error::syscall`],
    /// [`Error::syscall_args`]). A child that panics, or dies before answering, is `EIO`.
    ///
    /// Without Landlock the error is `NotSupported` and `f` does not run.
    ///
    /// # The permit
    ///
    /// `f` runs in a forked copy of the calling thread only, as std's `pre_exec` closure does,
    /// made with the raw `clone` syscall: no `pthread_atfork` handler of the program runs there,
    /// and the C library does not reset its allocator's locks. The child allocates (the answer,
    /// an error, whatever `f` does). So a lock another thread of the caller held at the fork
    /// (the allocator's, stdout's, a `Mutex` of the program, a `OnceLock` being initialised)
    /// would stay held forever in the child, and data it was changing would be half-changed
    /// there. Forking a process is only sound when nothing like that can happen, which only the
    /// program knows: it says so by making the [`ForkPermit`] in an `unsafe` block, promising
    /// that the process is single-threaded when it calls this (as the `procroot` CLI is, or a
    /// test in a process of its own). procroot's lazily read state is read before the fork.
    fn in_sandbox<T, F>(&self, permit: ForkPermit, f: F) -> Result<T>
    where
        T: Transfer,
        F: FnOnce(&Root) -> Result<T>;

    /// [`in_sandbox`](RootSandboxExt::in_sandbox) with the given access beneath the root, under
    /// the same [`ForkPermit`].
    fn in_sandbox_with<T, F>(&self, permit: ForkPermit, access: Access, f: F) -> Result<T>
    where
        T: Transfer,
        F: FnOnce(&Root) -> Result<T>;
}

impl RootSandboxExt for Root {
    fn in_sandbox<T, F>(&self, permit: ForkPermit, f: F) -> Result<T>
    where
        T: Transfer,
        F: FnOnce(&Root) -> Result<T>,
    {
        self.in_sandbox_with(permit, Access::READ_WRITE, f)
    }

    fn in_sandbox_with<T, F>(&self, permit: ForkPermit, access: Access, f: F) -> Result<T>
    where
        T: Transfer,
        F: FnOnce(&Root) -> Result<T>,
    {
        let op = |e: Error| {
            e.context("sandbox", Path::new("/"))
                .in_root(self.display_name())
        };
        let (ruleset, _) = Sandbox::new()
            .allow_beneath(self, access)
            .build()
            .map_err(op)?;
        procroot::prepare_for_fork();
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .syscall("pipe2")
            .map_err(op)?;
        // The child's own work: the Landlock syscalls, `f` (a panic in it is caught here, so
        // nothing unwinds out of the child's closure), the answer written to the pipe. What
        // makes it sound to run in a fork is the caller's `permit`.
        let child = crate::sys::process::fork_and_run(permit, || {
            let result = enforce(&ruleset).and_then(|()| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))).unwrap_or_else(
                    |_| {
                        Err(Error::with_detail(
                            ErrorKind::Os,
                            Errno::IO,
                            "the sandboxed closure panicked",
                        ))
                    },
                )
            });
            let bytes = encode_result(&result);
            let mut pipe = std::fs::File::from(writer);
            i32::from(pipe.write_all(&bytes).is_err())
        })
        .syscall("fork")
        .map_err(op)?;
        // The parent's copy of the write end is gone (moved into the closure, dropped with it
        // here), so the read ends when the child exits.
        let mut bytes = Vec::new();
        let read = std::fs::File::from(reader).read_to_end(&mut bytes);
        let _ = crate::sys::process::wait_child(child);
        read.map_err(|e| op(Error::from(e)))?;
        decode_result(bytes).unwrap_or_else(|| {
            Err(op(Error::with_detail(
                ErrorKind::Os,
                Errno::IO,
                "the sandboxed child died before it answered",
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_the_pipe() {
        let err = Error::from_errno(Errno::ACCESS)
            .with_syscall("openat", Some("\"/etc\", \"passwd\"".into()))
            .context("open", Path::new("/etc/passwd"))
            .in_root(Path::new("/srv/r"));
        let back = decode_result::<()>(encode_result::<()>(&Err(err.clone())))
            .unwrap()
            .unwrap_err();
        assert_eq!(back.to_string(), err.to_string());
        assert_eq!(back.errno(), Errno::ACCESS);
        assert_eq!(back.kind(), err.kind());
        assert_eq!(back.path(), err.path());
        assert_eq!(back.syscall(), Some("openat"));
        assert_eq!(back.syscall_args(), Some("\"/etc\", \"passwd\""));
        let ok = decode_result::<Vec<u8>>(encode_result(&Ok(b"abc".to_vec())));
        assert_eq!(ok.unwrap().unwrap(), b"abc");
        assert!(decode_result::<u64>(vec![TAG_ERR, 1]).is_none());
        assert!(decode_result::<bool>(vec![TAG_OK, 2]).is_none());
    }

    #[test]
    fn rights_cover_each_access() {
        assert_eq!(Access::READ.rights(), fs::READ_FILE | fs::READ_DIR);
        assert_eq!(
            Access::READ_WRITE.rights() & (fs::MAKE_CHAR | fs::MAKE_BLOCK),
            0
        );
        assert_eq!(Access::all().rights(), landlock::handled_fs(7));
    }
}
