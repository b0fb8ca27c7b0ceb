//! One layer: the tar stream, entry by entry, onto a [`Root`] (see the module docs of
//! [`crate::unpack`] for why each step is done the way it is).

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use procroot::error::{Syscall as _, SyscallErrno as _};
use procroot::{
    Errno, Error, ErrorKind, FileId, FileType, Handle, NodeKind, ResolveFlags, Result, Root,
    SpecialFiles,
};
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};

/// The prefix of a whiteout's name (OCI image-spec, "Whiteouts").
const WHITEOUT: &[u8] = b".wh.";
/// The opaque marker: the directory it is in hides what lower layers put there.
const OPAQUE: &[u8] = b".wh..wh..opq";
/// The mode of directories made only because an entry needs them as parents (as `tar` does,
/// before the umask).
const IMPLICIT_DIR_MODE: u32 = 0o755;
/// How much of a layer is read, and of a file's data written, at a time: small enough to stay
/// in the CPU's cache. With 256 KiB the whole unpack of a Debian layer took 1.16x the time of
/// `tar -xf` (10 KiB records), with 32 KiB 1.00x, nothing else changed (BENCHMARKS.md 9).
const CHUNK: usize = super::file_layer::BUFFER;
/// The granularity at which a sparse entry's zero runs become holes.
const HOLE_BLOCK: usize = 4096;
/// How many temporary names are tried before giving up.
const TEMP_ATTEMPTS: u32 = 64;

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How [`RootUnpackExt::apply_layer`] applies a layer. The default is what `tar -xp` as root
/// does, with the safe choices where they differ: owners kept, device nodes skipped, symlinked
/// parent directories followed (inside the root), directories never replaced by non-directories.
pub struct LayerOptions<'a> {
    /// Give entries the uid and gid the archive records (`true`, the default), or leave them
    /// the caller's (`tar --no-same-owner`). Set-ID bits and `security.capability` are kept
    /// only when the result has the archive's owner ([`procroot::set_id_kept`]).
    pub same_owner: bool,
    /// Whether character and block device entries are created ([`SpecialFiles::Allow`], and
    /// the process may: `CAP_MKNOD`). Otherwise they are skipped and listed in
    /// [`LayerReport::skipped`]. FIFOs are always created: they are harmless until opened, and
    /// nothing here ever opens an existing file.
    pub special_files: SpecialFiles,
    /// Refuse an entry (or whiteout) whose parent path crosses a symlink, instead of following
    /// it inside the root: skipped and listed ([`SkipReason::ParentCrossesSymlink`]).
    pub no_dirlinks: bool,
    /// Let a non-directory entry replace an existing directory, which is removed with
    /// everything in it ([`Root::remove_all`], this mount only), as GNU tar's
    /// `--recursive-unlink`. Off: such an entry is skipped and listed
    /// ([`SkipReason::DirectoryInTheWay`]).
    pub overwrite_dirs: bool,
    /// Called after every entry with the counts so far, and during a large file's data after
    /// every 16 MiB of it; returning [`ControlFlow::Break`] stops the layer, which then fails
    /// with `ECANCELED` (what was applied stays applied; a file stopped half way is removed).
    pub progress: Option<&'a mut UnpackProgressFn<'a>>,
    /// The process's umask, if the caller knows it ([`process_umask`] read before a Landlock
    /// domain that hides `/proc`). It changes nothing in the result, only the cost: a file
    /// whose mode the umask leaves whole is created with that mode, which saves an `fchmod`
    /// per file. `None` (the default): read from `/proc/thread-self/status` when the layer
    /// starts; if that fails, every file gets its `fchmod`. A value with bits the real umask
    /// lacks only costs `fchmod`s; one missing bits of the real umask would leave those bits
    /// off the files it spares (a mode narrower than the archive's, never wider).
    pub umask: Option<u32>,
}

impl Default for LayerOptions<'_> {
    fn default() -> Self {
        LayerOptions {
            same_owner: true,
            special_files: SpecialFiles::Refuse,
            no_dirlinks: false,
            overwrite_dirs: false,
            progress: None,
            umask: None,
        }
    }
}

impl<'a> LayerOptions<'a> {
    /// The options with [`LayerOptions::same_owner`] set.
    pub fn with_same_owner(mut self, same_owner: bool) -> Self {
        self.same_owner = same_owner;
        self
    }

    /// The options with [`LayerOptions::special_files`] set.
    pub fn with_special_files(mut self, special_files: SpecialFiles) -> Self {
        self.special_files = special_files;
        self
    }

    /// The options with [`LayerOptions::no_dirlinks`] set.
    pub fn with_no_dirlinks(mut self, no_dirlinks: bool) -> Self {
        self.no_dirlinks = no_dirlinks;
        self
    }

    /// The options with [`LayerOptions::overwrite_dirs`] set.
    pub fn with_overwrite_dirs(mut self, overwrite_dirs: bool) -> Self {
        self.overwrite_dirs = overwrite_dirs;
        self
    }

    /// The options with [`LayerOptions::umask`] set.
    pub fn with_umask(mut self, umask: Option<u32>) -> Self {
        self.umask = umask;
        self
    }

    /// The options with [`LayerOptions::progress`] set to `hook`.
    pub fn with_progress(mut self, hook: &'a mut UnpackProgressFn<'a>) -> Self {
        self.progress = Some(hook);
        self
    }
}

impl fmt::Debug for LayerOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerOptions")
            .field("same_owner", &self.same_owner)
            .field("special_files", &self.special_files)
            .field("no_dirlinks", &self.no_dirlinks)
            .field("overwrite_dirs", &self.overwrite_dirs)
            .field("progress", &self.progress.as_ref().map(|_| "FnMut"))
            .field("umask", &self.umask)
            .finish()
    }
}

/// The hook of [`LayerOptions::progress`].
pub type UnpackProgressFn<'a> = dyn FnMut(&UnpackProgress) -> ControlFlow<()> + 'a;

/// What [`LayerOptions::progress`] is told after each entry (and during a large file).
#[derive(Clone, Debug)]
pub struct UnpackProgress {
    /// Entries read from the archive so far (applied, skipped, whiteouts), the one whose data
    /// is being written included.
    pub entries: u64,
    /// File data written so far, in bytes.
    pub bytes_written: u64,
    /// The last entry's name as the archive gives it.
    pub path: PathBuf,
}

/// How much of one file's data is written between two calls of [`LayerOptions::progress`]
/// (and at most per copy call): Ctrl-C is seen within a large file, and a progress line moves.
pub(super) const PROGRESS_EVERY: u64 = 16 << 20;

/// Tells the progress hook, if there is one, the counts so far; its `Break` is the error of a
/// stopped layer (`ECANCELED`), which the caller puts in context.
fn tell_progress(
    hook: &mut Option<&mut UnpackProgressFn<'_>>,
    entries: u64,
    bytes_written: u64,
    name: &[u8],
) -> Result<()> {
    let Some(hook) = hook.as_mut() else {
        return Ok(());
    };
    let now = UnpackProgress {
        entries,
        bytes_written,
        path: PathBuf::from(OsStr::from_bytes(name)),
    };
    match hook(&now) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::with_detail(
            ErrorKind::Os,
            Errno::CANCELED,
            "stopped by the progress hook",
        )),
    }
}

/// The compression a layer was found to have, from its first bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar stream.
    #[default]
    None,
    /// gzip (`1f 8b`); several members in a row are read as one stream, as `gzip -d` does.
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// How many entries of each type a layer made (or, for directories, kept and updated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryCounts {
    /// Regular files.
    pub files: u64,
    /// Directories, made or already there.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Hard links.
    pub hardlinks: u64,
    /// FIFOs.
    pub fifos: u64,
    /// Character devices.
    pub char_devices: u64,
    /// Block devices.
    pub block_devices: u64,
}

/// Why an entry (or part of one) was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Its name climbs above the root with `..`.
    OutsideRoot,
    /// It names the root itself but is not a directory: the root is never replaced.
    ReplacesRoot,
    /// Its parent path crosses a symlink and [`LayerOptions::no_dirlinks`] is set.
    ParentCrossesSymlink,
    /// Its parent directory cannot be used (a file or dangling symlink in the way, a mount).
    BadParent(Errno),
    /// A directory is where a non-directory goes, and [`LayerOptions::overwrite_dirs`] is off.
    DirectoryInTheWay,
    /// A device node, and [`LayerOptions::special_files`] is [`SpecialFiles::Refuse`].
    DeviceNode,
    /// Device numbers beyond what the kernel stores (major above 4095, minor above 1048575),
    /// which `mknod` would silently truncate to another device.
    BadDeviceNumbers,
    /// A device node the process may not make (`mknod` says `EPERM`: no `CAP_MKNOD`).
    DeviceNotPermitted,
    /// A whiteout naming nothing (`.wh.`), `.` or `..`, or one of AUFS's reserved
    /// `.wh..wh.*` names other than the opaque marker.
    BadWhiteout,
    /// A hard link whose target climbs above the root, names the root, or is a directory.
    HardLinkOutside,
    /// A hard link whose target cannot be linked (missing, on another mount).
    HardLinkTarget(Errno),
    /// A symlink with an empty target, which no file system stores.
    EmptySymlink,
    /// An entry type this unpacker does not make (a tar `V` volume label, an unknown type).
    UnsupportedType(u8),
    /// An extended attribute that could not be set (the entry itself was made).
    Xattr {
        /// The attribute's name.
        name: String,
        /// Why: `EPERM` (a `trusted.*` or `security.*` one without the privilege),
        /// `EOPNOTSUPP` (the file system has no xattrs)...
        errno: Errno,
    },
    /// `security.capability` on a file whose owner was not kept ([`LayerOptions::same_owner`]
    /// off): never given to the caller's file (the copy rule).
    CapabilityNotKept,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::OutsideRoot => f.write_str("the name climbs above the root"),
            SkipReason::ReplacesRoot => f.write_str("only a directory entry may name the root"),
            SkipReason::ParentCrossesSymlink => {
                f.write_str("the parent path crosses a symlink (no_dirlinks)")
            }
            SkipReason::BadParent(e) => write!(f, "the parent directory cannot be used: {e}"),
            SkipReason::DirectoryInTheWay => {
                f.write_str("a directory is in the way (overwrite_dirs is off)")
            }
            SkipReason::DeviceNode => f.write_str("device nodes are not allowed (special files)"),
            SkipReason::BadDeviceNumbers => {
                f.write_str("the device numbers are out of range (the kernel would truncate them)")
            }
            SkipReason::DeviceNotPermitted => {
                f.write_str("making a device node is not permitted (no CAP_MKNOD)")
            }
            SkipReason::BadWhiteout => f.write_str("the whiteout names no entry it may remove"),
            SkipReason::HardLinkOutside => {
                f.write_str("the hard link's target is outside the root, the root, or a directory")
            }
            SkipReason::HardLinkTarget(e) => write!(f, "the hard link's target: {e}"),
            SkipReason::EmptySymlink => f.write_str("the symlink's target is empty"),
            SkipReason::UnsupportedType(t) => write!(f, "unsupported entry type {:?}", *t as char),
            SkipReason::Xattr { name, errno } => write!(f, "xattr {name} not set: {errno}"),
            SkipReason::CapabilityNotKept => {
                f.write_str("security.capability dropped: the file's owner was not kept")
            }
        }
    }
}

/// An entry (or part of one) that [`RootUnpackExt::apply_layer`] did not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The entry's name, as the archive gives it (bytes: not necessarily UTF-8).
    pub path: Vec<u8>,
    /// Why.
    pub reason: SkipReason,
}

/// What [`RootUnpackExt::apply_layer`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerReport {
    /// The entries made, by type.
    pub entries: EntryCounts,
    /// Regular-file data written, in bytes (holes of sparse files included).
    pub bytes_written: u64,
    /// Whiteouts (`.wh.NAME`) applied: `NAME` removed, already absent, or kept as this
    /// layer's own entry (a whiteout hides only lower layers).
    pub whiteouts: u64,
    /// Opaque markers (`.wh..wh..opq`) applied.
    pub opaque_dirs: u64,
    /// Every entry skipped or refused, and every attribute not applied, with the reason, in
    /// archive order.
    pub skipped: Vec<SkippedEntry>,
    /// The layer's compression.
    pub compression: Compression,
}

/// [`Root::apply_layer`](RootUnpackExt::apply_layer): an extension trait because [`Root`] is
/// `procroot`'s type and image tooling is this crate's; `use procroot_runtime::RootUnpackExt`.
pub trait RootUnpackExt {
    /// Applies one image layer (a tar stream, plain, gzip or zstd: detected from its first
    /// bytes) to this root, with OCI image-spec layer semantics: entries in order, whiteouts
    /// and opaque markers removing what lower layers made, never writing outside the root (see
    /// the [module docs](crate::unpack) for how, and [`LayerOptions`]).
    ///
    /// Entries that are refused (a name above the root, a hard link out of it, a device node
    /// without [`LayerOptions::special_files`], a bad whiteout...) are skipped and listed in
    /// [`LayerReport::skipped`]; the rest of the layer is applied. Any other failure (the
    /// archive is corrupt or truncated, a write fails, [`LayerOptions::progress`] said stop)
    /// stops the layer: the error's operation names the entry (its number, its name, and how
    /// many entries were applied before it), and what was applied stays applied.
    fn apply_layer(&self, reader: impl Read, opts: LayerOptions<'_>) -> Result<LayerReport>;

    /// [`apply_layer`](RootUnpackExt::apply_layer) of the layer in `layer`, read from its
    /// current offset. A plain tar in a regular file has each file's data copied by the kernel
    /// from the layer to the new file (`copy_file_range(2)`, else `sendfile(2)`, else
    /// `pread`/`write`), never through this process's memory, and the offset is left just
    /// after the end-of-archive block (where whatever follows the layer starts); a compressed
    /// layer is decompressed on a second thread ([`apply_layer_threaded`](super::apply_layer_threaded)),
    /// and anything but a regular file (a pipe) is read as a stream. The result is the same
    /// in every case.
    fn apply_layer_file(&self, layer: &File, opts: LayerOptions<'_>) -> Result<LayerReport>;

    /// Applies the layers of the OCI image layout at `layout_dir`, in order, with `opts` for
    /// each: the manifest `reference` names in its `index.json` (by its
    /// `org.opencontainers.image.ref.name` annotation, or its digest), or the only one there
    /// (several: an error listing their references). See [`image`](super::image).
    ///
    /// The layout is untrusted input too: each of its files is opened beneath `layout_dir`
    /// (a symlink out of it is `EXDEV`, a FIFO or device `ENXIO`), and every blob (index,
    /// manifest, config, layer) is checked against its descriptor's size and digest as it is
    /// read, the layers while they are applied (and decompressed on a second thread, see
    /// [`apply_layer_threaded`](super::apply_layer_threaded)). A layer's mismatch can only be
    /// known at its end: the error (`EBADMSG`) then says that the entries of that layer before
    /// it were applied, and no later layer was. A layer media type other than tar, tar+gzip or
    /// tar+zstd (OCI or Docker names) is `NotSupported`, before anything of it is applied.
    fn apply_image(
        &self,
        layout_dir: impl AsRef<Path>,
        reference: Option<&str>,
        opts: LayerOptions<'_>,
    ) -> Result<super::image::ImageReport>;
}

impl RootUnpackExt for Root {
    fn apply_layer(&self, reader: impl Read, opts: LayerOptions<'_>) -> Result<LayerReport> {
        let (compression, stream) = decompressed(reader)
            .map_err(|e| stream_error(e).context("read layer", self.display_name()))?;
        let mut unpacker = Unpacker::new(self, opts);
        unpacker.report.compression = compression;
        unpacker.run(stream)?;
        Ok(unpacker.report)
    }

    fn apply_layer_file(&self, layer: &File, opts: LayerOptions<'_>) -> Result<LayerReport> {
        let context = |e: Error| e.context("read layer", self.display_name());
        let st = rustix::fs::fstat(layer).syscall("fstat").map_err(context)?;
        if FileType::from_mode(st.st_mode) != FileType::File {
            return super::apply_layer_threaded(self, layer, opts);
        }
        let base = rustix::fs::seek(layer, rustix::fs::SeekFrom::Current(0))
            .syscall("lseek")
            .map_err(context)?;
        let mut head = [0u8; 4];
        let got = rustix::io::pread(layer, &mut head, base)
            .syscall("pread")
            .map_err(context)?;
        if is_compressed(&head[..got]) {
            return super::apply_layer_threaded(self, layer, opts);
        }
        // A second description would have its own offset: the duplicate shares the caller's.
        let file = layer.try_clone().map_err(|e| context(Error::from(e)))?;
        let direct = super::file_layer::FileLayer::new(file, base);
        let mut unpacker = Unpacker::new(self, opts);
        let applied = unpacker.run_file(direct.clone());
        rustix::fs::seek(layer, rustix::fs::SeekFrom::Start(direct.end_offset()))
            .syscall("lseek")
            .map_err(context)?;
        applied?;
        Ok(unpacker.report)
    }

    fn apply_image(
        &self,
        layout_dir: impl AsRef<Path>,
        reference: Option<&str>,
        opts: LayerOptions<'_>,
    ) -> Result<super::image::ImageReport> {
        super::image::apply_image(self, layout_dir.as_ref(), reference, opts)
    }
}

/// Reads until `buf` is full or the stream ends; the bytes read.
pub(super) fn read_full(stream: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match stream.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether `head`, a layer's first bytes, is the magic of gzip or zstd.
pub(super) fn is_compressed(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || head == [0x28, 0xb5, 0x2f, 0xfd]
}

/// The layer's bytes, decompressed as its magic says.
pub(super) fn decompressed<'r>(
    mut reader: impl Read + 'r,
) -> io::Result<(Compression, Box<dyn Read + 'r>)> {
    let mut head = [0u8; 4];
    let got = read_full(&mut reader, &mut head)?;
    let head = &head[..got];
    let whole = io::Cursor::new(head.to_vec()).chain(reader);
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(CHUNK, whole));
        (
            Compression::Gzip,
            Box::new(BufReader::with_capacity(CHUNK, gz)),
        )
    } else if head == [0x28, 0xb5, 0x2f, 0xfd] {
        let zst = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(CHUNK, whole))?;
        (
            Compression::Zstd,
            Box::new(BufReader::with_capacity(CHUNK, zst)),
        )
    } else {
        (
            Compression::None,
            Box::new(BufReader::with_capacity(CHUNK, whole)),
        )
    })
}

/// A directory whose mode and times are set once the layer is complete (every entry made in it
/// changes its mtime): its path in the root and the identity it must still have.
struct DirTimes {
    path: PathBuf,
    id: FileId,
    /// The mode, set last like the times: a read-only directory of the archive must not stop
    /// an unprivileged caller from filling it (GNU tar defers it the same way).
    mode: u32,
    times: (SystemTime, SystemTime),
    /// Set already, when the layer left the directory, and not changed since.
    done: bool,
}

/// The state of one layer being applied.
struct Unpacker<'r, 'a> {
    root: &'r Root,
    /// The root parents are resolved in: `root`, with `NO_SYMLINKS` for `no_dirlinks`.
    parents: Root,
    opts: LayerOptions<'a>,
    report: LayerReport,
    /// Every entry this layer made or kept, by (its directory's identity, its name): whiteouts
    /// and opaque markers never remove these (the spec: they apply to lower layers only). By
    /// identity, not path, so that two paths through a symlink are the same entry.
    ours: HashSet<(FileId, Vec<u8>)>,
    /// The directories the last entries were made in, outermost first, each an ancestor of
    /// the next: an entry whose parent is one of them uses its fd, with no resolution. A tar
    /// lists a directory before what is in it, so after the first entries nearly every parent
    /// is here: the directory entry's own fd, opened (`O_NOFOLLOW`) in its parent when made.
    /// An entry that replaces or removes anything on one's path drops it and those below.
    open_dirs: Vec<OpenDir>,
    dir_times: Vec<DirTimes>,
    /// The directories whose mode and times were set when the layer left them (see
    /// [`Unpacker::leave`]), by identity: one changed again later is set again at the end.
    finished: HashMap<FileId, usize>,
    /// The caller's effective uid and gid: the owner of what is made without `same_owner`.
    me: (u32, u32),
    entries: u64,
    applied: u64,
    /// The data buffer, reused for every file.
    buf: Vec<u8>,
    /// The process umask, when known: a file whose mode it leaves whole is created with that
    /// mode, which saves an `fchmod`.
    umask: Option<u32>,
    /// The layer file, when its files' data is copied by the kernel
    /// ([`RootUnpackExt::apply_layer_file`]).
    direct: Option<super::file_layer::FileLayer>,
}

/// At most this many directories are kept open in [`Unpacker::open_dirs`] (a deeper path
/// resolves the ones above from the root): the fds stay well below `RLIMIT_NOFILE`.
const MOST_OPEN_DIRS: usize = 64;

/// A directory in [`Unpacker::open_dirs`].
struct OpenDir {
    /// Its cleaned path in the root.
    path: Vec<Vec<u8>>,
    parent: Parent,
    /// Its record in [`Unpacker::dir_times`] when this layer made (or kept) it.
    times: Option<usize>,
}

/// A parent directory entries are made in.
#[derive(Clone)]
struct Parent {
    fd: Rc<OwnedFd>,
    id: FileId,
    /// The group a new entry in it gets: the directory's own if it is set-group-ID, else the
    /// caller's. With the caller's uid, the owner a new inode has, so that a `chown` to it is
    /// skipped.
    new_gid: u32,
}

/// What became of one entry.
enum Outcome {
    /// Applied (made, replaced, removed).
    Applied,
    /// Skipped; already recorded.
    Skipped,
}

/// The tar entry's metadata that is applied to what it makes.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl<'r, 'a> Unpacker<'r, 'a> {
    fn new(root: &'r Root, opts: LayerOptions<'a>) -> Self {
        let parents = if opts.no_dirlinks {
            root.clone()
                .with_flags(root.options().flags | ResolveFlags::NO_SYMLINKS)
        } else {
            root.clone()
        };
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        Unpacker {
            root,
            parents,
            report: LayerReport::default(),
            ours: HashSet::new(),
            open_dirs: Vec::new(),
            dir_times: Vec::new(),
            finished: HashMap::new(),
            me,
            entries: 0,
            applied: 0,
            buf: Vec::new(),
            umask: opts.umask.or_else(process_umask),
            opts,
            direct: None,
        }
    }

    fn run(&mut self, stream: Box<dyn Read + '_>) -> Result<()> {
        let mut archive = tar::Archive::new(stream);
        let entries = archive
            .entries()
            .map_err(|e| stream_error(e).context("read layer", self.root.display_name()))?;
        self.apply_entries(entries)
    }

    /// [`Unpacker::run`] on a plain layer in a regular file: the `tar` crate seeks over the
    /// data that [`super::file_layer::FileLayer::copy_to`] copies.
    fn run_file(&mut self, layer: super::file_layer::FileLayer) -> Result<()> {
        let mut archive = tar::Archive::new(layer.clone());
        let entries = archive
            .entries_with_seek()
            .map_err(|e| stream_error(e).context("read layer", self.root.display_name()))?;
        self.direct = Some(layer);
        self.apply_entries(entries)
    }

    fn apply_entries<R: Read>(&mut self, entries: tar::Entries<'_, R>) -> Result<()> {
        for entry in entries {
            let number = self.entries + 1;
            let mut entry = entry.map_err(|e| {
                stream_error(e).within(
                    format!(
                        "layer entry #{number} ({} applied before it): read",
                        self.applied
                    ),
                    self.root.display_name(),
                )
            })?;
            let name = entry.path_bytes().into_owned();
            self.entries = number;
            match self.entry(&name, &mut entry) {
                Ok(Outcome::Applied) => self.applied += 1,
                Ok(Outcome::Skipped) => {}
                Err(e) => {
                    return Err(e.within(
                        format!("layer entry #{number} ({} applied before it)", self.applied),
                        Path::new(OsStr::from_bytes(&name)),
                    ))
                }
            }
            let told = tell_progress(
                &mut self.opts.progress,
                self.entries,
                self.report.bytes_written,
                &name,
            );
            if let Err(e) = told {
                return Err(e.within(
                    format!("layer entry #{number} ({} applied)", self.applied),
                    Path::new(OsStr::from_bytes(&name)),
                ));
            }
        }
        self.set_dir_times()
    }

    /// Applies one entry.
    fn entry<R: Read>(&mut self, name: &[u8], entry: &mut tar::Entry<'_, R>) -> Result<Outcome> {
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            // Global PAX records (comments, charset): nothing to make.
            return Ok(Outcome::Skipped);
        }
        let Some(comps) = clean(name) else {
            return Ok(self.skip(name, SkipReason::OutsideRoot));
        };
        let Some((last, parent)) = comps.split_last() else {
            // The root itself (`/`, `.`, `./`): only its metadata may change.
            if kind != tar::EntryType::Directory {
                return Ok(self.skip(name, SkipReason::ReplacesRoot));
            }
            let meta = self.meta(entry)?;
            let handle = self.root.resolve(".")?;
            self.dir_metadata(name, &handle, &meta)?;
            self.record_dir_times(Path::new("."), &handle, &meta)?;
            self.report.entries.dirs += 1;
            return Ok(Outcome::Applied);
        };
        if let Some(target) = last.strip_prefix(WHITEOUT) {
            self.drop_open_dirs_under(&[]);
            return self.whiteout(name, parent, target);
        }
        // Anything this entry replaces may be an open directory or one of its ancestors.
        self.drop_open_dirs_under(&comps);
        let made_in = match self.parent(parent)? {
            Ok(found) => found,
            Err(reason) => return Ok(self.skip(name, reason)),
        };
        let (dir_id, new_owner) = (made_in.id, (self.me.0, made_in.new_gid));
        let dir = made_in.fd.as_fd();
        let path = joined(&comps);
        let last = OsStr::from_bytes(last);
        let outcome = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let meta = self.meta(entry)?;
                self.file(name, (dir, new_owner), last, &path, entry, &meta, kind)?
            }
            tar::EntryType::Directory => {
                let meta = self.meta(entry)?;
                self.directory(name, (dir, new_owner), last, &comps, &meta)?
            }
            tar::EntryType::Symlink => {
                let meta = self.meta(entry)?;
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                if target.is_empty() {
                    return Ok(self.skip(name, SkipReason::EmptySymlink));
                }
                self.node(
                    name,
                    (dir, new_owner),
                    last,
                    &path,
                    &meta,
                    Node::Symlink(&target),
                )?
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hardlink(name, dir, last, &path, &target)?
            }
            tar::EntryType::Fifo => {
                let meta = self.meta(entry)?;
                self.node(
                    name,
                    (dir, new_owner),
                    last,
                    &path,
                    &meta,
                    Node::Special(NodeKind::Fifo),
                )?
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                if self.opts.special_files == SpecialFiles::Refuse {
                    return Ok(self.skip(name, SkipReason::DeviceNode));
                }
                let meta = self.meta(entry)?;
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let node = if kind == tar::EntryType::Char {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                };
                // Numbers the kernel would silently truncate to another device (`b 8 1048576`
                // is `8:0`, a whole disk) are refused.
                let Ok(node) = node.check() else {
                    return Ok(self.skip(name, SkipReason::BadDeviceNumbers));
                };
                self.node(
                    name,
                    (dir, new_owner),
                    last,
                    &path,
                    &meta,
                    Node::Special(node),
                )?
            }
            other => {
                return Ok(self.skip(name, SkipReason::UnsupportedType(other.as_byte())));
            }
        };
        if let Outcome::Applied = outcome {
            self.ours.insert((dir_id, last.as_bytes().to_vec()));
        }
        Ok(outcome)
    }

    /// Records a skipped entry.
    fn skip(&mut self, name: &[u8], reason: SkipReason) -> Outcome {
        self.report.skipped.push(SkippedEntry {
            path: name.to_vec(),
            reason,
        });
        Outcome::Skipped
    }

    /// The parent directory `comps`, resolved inside the root and made if missing (as `tar`
    /// does, mode 0755). What the archive's own tree causes (a file, a dangling symlink, a
    /// symlink under `no_dirlinks`, a mount in the way) is the reason to skip the entry
    /// (`Ok(Err(reason))`); anything else (`EACCES`, `EIO`, `ENOSPC`) stops the layer.
    fn parent(&mut self, comps: &[Vec<u8>]) -> Result<std::result::Result<Parent, SkipReason>> {
        if let Some(k) = self.open_dirs.iter().rposition(|d| d.path == comps) {
            // Entries of the directories above it are done with (in tar order).
            self.leave(k + 1);
            return Ok(Ok(self.open_dirs[k].parent.clone()));
        }
        let found = if comps.is_empty() {
            self.root.resolve(".")
        } else {
            match self.parents.resolve(joined(comps)) {
                Ok(handle) => Ok(handle),
                Err(e) if e.errno() == Errno::NOENT => self.make_parents(comps),
                Err(e) => Err(e),
            }
        };
        let st = found.and_then(|handle| {
            let st = rustix::fs::fstat(&handle).syscall("fstat")?;
            if FileType::from_mode(st.st_mode) != FileType::Dir {
                return Err(Error::from_errno(Errno::NOTDIR));
            }
            Ok((handle, st))
        });
        let (handle, st) = match st {
            Ok(found) => found,
            Err(e) => {
                return match e.errno() {
                    Errno::LOOP if self.opts.no_dirlinks => {
                        Ok(Err(SkipReason::ParentCrossesSymlink))
                    }
                    errno @ (Errno::NOTDIR
                    | Errno::LOOP
                    | Errno::XDEV
                    | Errno::NOENT
                    | Errno::NAMETOOLONG
                    | Errno::EXIST) => Ok(Err(SkipReason::BadParent(errno))),
                    _ => Err(e),
                }
            }
        };
        let parent = self.parent_of(handle.into_fd(), &st);
        // A directory whose times were set when the layer left it is being changed again.
        self.changed(parent.id);
        self.enter(comps, parent.clone(), None);
        Ok(Ok(parent))
    }

    /// The [`Parent`] that `fd` (a directory, `st` its status) is.
    fn parent_of(&self, fd: OwnedFd, st: &rustix::fs::Stat) -> Parent {
        Parent {
            fd: Rc::new(fd),
            id: FileId::from_stat(st),
            new_gid: if st.st_mode & 0o2000 != 0 {
                st.st_gid
            } else {
                self.me.1
            },
        }
    }

    /// Makes `parent`, the directory at `path`, the innermost open one: the open directories
    /// that are not its ancestors are left ([`Unpacker::leave`]).
    fn enter(&mut self, path: &[Vec<u8>], parent: Parent, times: Option<usize>) {
        let keep = self
            .open_dirs
            .iter()
            .take_while(|d| path.starts_with(&d.path) && d.path.len() < path.len())
            .count();
        self.leave(keep);
        if self.open_dirs.len() == MOST_OPEN_DIRS {
            // The outermost is closed; its record stays for the end.
            self.open_dirs.remove(0);
        }
        self.open_dirs.push(OpenDir {
            path: path.to_vec(),
            parent,
            times,
        });
    }

    /// Closes the open directories from the `keep`-th on: the layer has left them (a tar
    /// lists what is in a directory together), so a directory this layer made gets its mode
    /// and times now, through the fd, rather than being resolved again at the end. Only one
    /// whose mode lets its owner in: an unprivileged caller could not make anything more in a
    /// read-only one if the layer came back to it. If it does come back, or anything else
    /// changes the directory, [`Unpacker::changed`] sets it again at the end.
    fn leave(&mut self, keep: usize) {
        while self.open_dirs.len() > keep {
            let Some(dir) = self.open_dirs.pop() else {
                break;
            };
            let Some(k) = dir.times else { continue };
            let record = &mut self.dir_times[k];
            if record.mode & 0o700 != 0o700 {
                continue;
            }
            let fd = dir.parent.fd.as_fd();
            let set = rustix::fs::fchmod(fd, Mode::from_raw_mode(record.mode))
                .and_then(|()| rustix::fs::futimens(fd, &as_timestamps(record.times)));
            // A failure leaves it to the end, where it is reported.
            if set.is_ok() {
                record.done = true;
                self.finished.insert(record.id, k);
            }
        }
    }

    /// The open directories at `path` and below are dropped: an entry replaces or removes
    /// something there. Their records stay for the end (by path, checked by identity).
    fn drop_open_dirs_under(&mut self, path: &[Vec<u8>]) {
        if let Some(k) = self.open_dirs.iter().position(|d| d.path.starts_with(path)) {
            self.open_dirs.truncate(k);
        }
    }

    /// The directory `id` is changed (an entry made or removed in it): if its times were set
    /// when the layer left it, they are set again at the end.
    fn changed(&mut self, id: FileId) {
        if let Some(k) = self.finished.remove(&id) {
            self.dir_times[k].done = false;
        }
    }

    /// Makes the missing directories of `comps` one prefix at a time with
    /// [`Root::mkdir_all`], recording each as this layer's (an opaque marker later in the layer
    /// must not remove them). The rare path: a layer normally has an entry for every directory.
    fn make_parents(&mut self, comps: &[Vec<u8>]) -> Result<Handle> {
        let mut above =
            FileId::from_stat(&rustix::fs::fstat(self.root.resolve(".")?).syscall("fstat")?);
        let mut last = None;
        for k in 1..=comps.len() {
            let prefix = joined(&comps[..k]);
            let handle = match self.parents.resolve(&prefix) {
                Ok(handle) => handle,
                Err(e) if e.errno() == Errno::NOENT => {
                    let made = self.parents.mkdir_all(&prefix, IMPLICIT_DIR_MODE)?;
                    self.ours.insert((above, comps[k - 1].clone()));
                    self.changed(above);
                    made
                }
                Err(e) => return Err(e),
            };
            above = FileId::from_stat(&rustix::fs::fstat(&handle).syscall("fstat")?);
            last = Some(handle);
        }
        last.ok_or_else(|| Error::from_errno(Errno::NOENT))
    }
}

/// What [`Unpacker::node`] makes.
enum Node<'t> {
    Symlink(&'t [u8]),
    Special(NodeKind),
}

impl Unpacker<'_, '_> {
    /// The entry's mode, owner, times and xattrs.
    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let header = entry.header();
        let bad = |what: &str, e: io::Error| {
            Error::with_detail(
                ErrorKind::InvalidInput,
                Errno::INVAL,
                format!("the header's {what} is not a number: {e}"),
            )
        };
        let mode = header.mode().map_err(|e| bad("mode", e))?;
        let mut uid = header.uid().map_err(|e| bad("uid", e))?;
        let mut gid = header.gid().map_err(|e| bad("gid", e))?;
        let mut mtime = seconds(header.mtime().map_err(|e| bad("mtime", e))? as i64, 0);
        let mut atime = header
            .as_gnu()
            .and_then(|g| g.atime().ok())
            .filter(|&t| t != 0)
            .map(|t| seconds(t as i64, 0));
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(stream_error)? {
            for record in pax {
                let record = record.map_err(stream_error)?;
                let (Ok(key), value) = (record.key(), record.value_bytes()) else {
                    continue;
                };
                if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((attr.to_owned(), value.to_vec()));
                    continue;
                }
                let Ok(value) = std::str::from_utf8(value) else {
                    continue;
                };
                match key {
                    "uid" => uid = value.parse().map_err(|_| pax_bad("uid"))?,
                    "gid" => gid = value.parse().map_err(|_| pax_bad("gid"))?,
                    "mtime" => mtime = pax_time(value).ok_or_else(|| pax_bad("mtime"))?,
                    "atime" => atime = Some(pax_time(value).ok_or_else(|| pax_bad("atime"))?),
                    _ => {}
                }
            }
        }
        let id = |v: u64, what| {
            u32::try_from(v)
                .ok()
                .filter(|&v| v != u32::MAX)
                .ok_or_else(|| pax_bad(what))
        };
        Ok(Meta {
            mode: mode & 0o7777,
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            atime: atime.unwrap_or(mtime),
            mtime,
            xattrs,
        })
    }

    /// The owner the result gets: the archive's with `same_owner`, else none (`None`: left the
    /// caller's).
    fn owner(&self, meta: &Meta) -> Option<(u32, u32)> {
        self.opts.same_owner.then_some((meta.uid, meta.gid))
    }

    /// The mode the result gets: the archive's, with set-ID bits only if the owner is kept
    /// (the one copy rule).
    fn mode(&self, meta: &Meta) -> u32 {
        let result = self.owner(meta).unwrap_or(self.me);
        procroot::set_id_kept(meta.mode, (meta.uid, meta.gid), result)
    }

    /// Sets owner, xattrs and (with `chmod`) mode on `fd`, an open regular file or directory
    /// that this layer made (or kept): chown first, since a chown clears set-ID bits. `made`:
    /// the owner a new inode already has (the chown is skipped when it is the archive's).
    fn fd_metadata(
        &mut self,
        name: &[u8],
        fd: BorrowedFd<'_>,
        meta: &Meta,
        made: Option<(u32, u32)>,
        chmod: bool,
    ) -> Result<()> {
        if let Some((uid, gid)) = self.owner(meta).filter(|&owner| Some(owner) != made) {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .syscall("fchown")?;
        }
        self.xattrs(name, fd, meta);
        if chmod {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(self.mode(meta))).syscall("fchmod")?;
        }
        Ok(())
    }

    /// Applies the PAX `SCHILY.xattr.*` records; one that cannot be set is reported.
    fn xattrs(&mut self, name: &[u8], fd: BorrowedFd<'_>, meta: &Meta) {
        for (attr, value) in &meta.xattrs {
            if attr == "security.capability" && !self.opts.same_owner {
                self.skip(name, SkipReason::CapabilityNotKept);
                continue;
            }
            let Ok(cname) = std::ffi::CString::new(attr.as_bytes()) else {
                continue;
            };
            if let Err(errno) =
                rustix::fs::fsetxattr(fd, cname.as_c_str(), value, rustix::fs::XattrFlags::empty())
            {
                self.skip(
                    name,
                    SkipReason::Xattr {
                        name: attr.clone(),
                        errno,
                    },
                );
            }
        }
    }

    /// A regular file: a new inode, written, given its metadata, then put at the name.
    #[allow(clippy::too_many_arguments)]
    fn file<R: Read>(
        &mut self,
        name: &[u8],
        (dir, new_owner): (BorrowedFd<'_>, (u32, u32)),
        last: &OsStr,
        path: &Path,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        kind: tar::EntryType,
    ) -> Result<Outcome> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Made with its final mode when the umask leaves it whole and it has no set-ID or
        // sticky bit (those must follow the chown); else owner-only, and fchmod at the end.
        let mode = self.mode(meta);
        let exact = mode & 0o7000 == 0 && self.umask.is_some_and(|umask| mode & umask == 0);
        let owner_only = if exact {
            Mode::from_raw_mode(mode)
        } else {
            Mode::RUSR | Mode::WUSR
        };
        // Exclusive: whatever is at the name (a FIFO, a device, a symlink to the host) is
        // never opened. Something there means a temporary and a rename over it.
        let (fd, temp) = match rustix::fs::openat(dir, last, flags, owner_only) {
            Ok(fd) => (fd, None),
            Err(Errno::EXIST) => {
                let (temp, fd) =
                    create_temp(|temp| rustix::fs::openat(dir, temp, flags, owner_only))?;
                (fd, Some(temp))
            }
            Err(e) => return Err(e.syscall("openat")),
        };
        let at = temp.as_deref().unwrap_or(last);
        let mut file = File::from(fd);
        let mut buf = std::mem::take(&mut self.buf);
        // The progress hook, told of this file's data as it is written.
        let (entries, before) = (self.entries, self.report.bytes_written);
        let progress = &mut self.opts.progress;
        let mut tick = |written: u64| tell_progress(progress, entries, before + written, name);
        let copied = match &self.direct {
            // The kernel copies the data (a sparse entry's holes need the reader's path).
            Some(direct) if kind != tar::EntryType::GNUSparse => direct.copy_to(
                &mut file,
                entry.raw_file_position(),
                entry.size(),
                &mut buf,
                &mut tick,
            ),
            _ => write_data(
                &mut file,
                &mut buf,
                entry,
                kind == tar::EntryType::GNUSparse,
                &mut tick,
            ),
        };
        let written = copied.and_then(|n| {
            self.fd_metadata(name, file.as_fd(), meta, Some(new_owner), !exact)?;
            rustix::fs::futimens(&file, &timestamps(meta)).syscall("futimens")?;
            Ok(n)
        });
        self.buf = buf;
        // The identity is needed only to undo by it (not on the fast path: one fstat less).
        let id = || rustix::fs::fstat(&file).map(|st| FileId::from_stat(&st));
        let written = match written {
            Ok(n) => n,
            Err(e) => {
                if let Ok(id) = id() {
                    discard(dir, at, id);
                }
                return Err(e);
            }
        };
        if let Some(temp) = temp {
            let id = id().syscall("fstat")?;
            drop(file);
            if let Outcome::Skipped = self.put_in_place(name, dir, &temp, last, path, id)? {
                return Ok(Outcome::Skipped);
            }
        }
        self.report.bytes_written += written;
        self.report.entries.files += 1;
        Ok(Outcome::Applied)
    }
}

/// Copies the entry's data into `file` through `buf` (kept across entries: one allocation per
/// layer); a sparse entry's zero blocks become holes. `tick` is told the bytes written so far
/// after every [`PROGRESS_EVERY`] of them (not at the end: the entry's own call follows).
fn write_data<R: Read>(
    file: &mut File,
    buf: &mut Vec<u8>,
    entry: &mut tar::Entry<'_, R>,
    sparse: bool,
    tick: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<u64> {
    buf.resize(CHUNK, 0);
    let mut total = 0u64;
    let mut next_tick = PROGRESS_EVERY;
    let mut hole = false;
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stream_error(e)),
        };
        if sparse {
            // Runs of zero blocks are skipped, runs of data written in one call each.
            let zero_at = |i: usize| buf[i..n.min(i + HOLE_BLOCK)].iter().all(|&b| b == 0);
            let mut i = 0;
            while i < n {
                let zero = zero_at(i);
                let mut end = (i + HOLE_BLOCK).min(n);
                while end < n && zero_at(end) == zero {
                    end = (end + HOLE_BLOCK).min(n);
                }
                if zero {
                    file.seek(SeekFrom::Current((end - i) as i64))
                        .map_err(Error::from)?;
                } else {
                    file.write_all(&buf[i..end]).map_err(Error::from)?;
                }
                hole = zero;
                i = end;
            }
        } else {
            file.write_all(&buf[..n]).map_err(Error::from)?;
        }
        total += n as u64;
        if total >= next_tick && total < entry.size() {
            tick(total)?;
            next_tick = total + PROGRESS_EVERY;
        }
    }
    if total != entry.size() {
        // The tar crate ends an entry's data quietly at the end of the stream: a cut
        // archive must not leave a short file that looks complete.
        return Err(Error::with_detail(
            ErrorKind::Os,
            Errno::IO,
            format!(
                "the layer ends inside the file's data ({total} of {} bytes)",
                entry.size()
            ),
        ));
    }
    if hole {
        // A trailing hole: the size is set, not written.
        rustix::fs::ftruncate(&*file, total).syscall("ftruncate")?;
    }
    Ok(total)
}

impl Unpacker<'_, '_> {
    /// Renames the temporary `temp` (identity `id`) over `last`. A directory there is replaced
    /// only with `overwrite_dirs` (removed with everything in it, this mount only); otherwise
    /// the temporary is removed and the entry skipped.
    fn put_in_place(
        &mut self,
        name: &[u8],
        dir: BorrowedFd<'_>,
        temp: &OsStr,
        last: &OsStr,
        path: &Path,
        id: FileId,
    ) -> Result<Outcome> {
        for _ in 0..2 {
            match rustix::fs::renameat(dir, temp, dir, last) {
                Ok(()) => return Ok(Outcome::Applied),
                // A non-directory renamed over a directory.
                Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST) if self.opts.overwrite_dirs => {
                    self.drop_open_dirs_under(&[]);
                    self.parents.remove_all(path).or_else(|e| match e.errno() {
                        Errno::NOENT => Ok(()),
                        _ => Err(e),
                    })?;
                }
                Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST) => {
                    discard(dir, temp, id);
                    return Ok(self.skip(name, SkipReason::DirectoryInTheWay));
                }
                Err(e) => {
                    discard(dir, temp, id);
                    return Err(e.syscall("renameat"));
                }
            }
        }
        discard(dir, temp, id);
        Err(Error::with_detail(
            ErrorKind::Os,
            Errno::AGAIN,
            "a directory kept reappearing at the name",
        ))
    }

    /// A directory: made, or the one already there kept (a non-directory there is replaced);
    /// its metadata set through an fd opened without following.
    fn directory(
        &mut self,
        name: &[u8],
        (dir, new_owner): (BorrowedFd<'_>, (u32, u32)),
        last: &OsStr,
        comps: &[Vec<u8>],
        meta: &Meta,
    ) -> Result<Outcome> {
        let mut tries = 0;
        let mut made = None;
        loop {
            match rustix::fs::mkdirat(dir, last, Mode::RWXU) {
                Ok(()) => {
                    made = Some(new_owner);
                    break;
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(e.syscall("mkdirat")),
            }
            let st = rustix::fs::statat(dir, last, AtFlags::SYMLINK_NOFOLLOW).syscall("fstatat")?;
            if FileType::from_mode(st.st_mode) == FileType::Dir {
                break;
            }
            // A file or symlink where the directory goes is replaced, as tar and the OCI
            // spec do; a symlink is removed, never followed.
            tries += 1;
            if tries > 8 {
                return Err(Error::with_detail(
                    ErrorKind::Os,
                    Errno::AGAIN,
                    "the name kept changing while the directory was made",
                ));
            }
            match rustix::fs::unlinkat(dir, last, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT | Errno::ISDIR) => {}
                Err(e) => return Err(e.syscall("unlinkat")),
            }
        }
        let fd = rustix::fs::openat(
            dir,
            last,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .syscall("openat")?;
        self.fd_metadata(name, fd.as_fd(), meta, made, false)?;
        let st = rustix::fs::fstat(&fd).syscall("fstat")?;
        let id = FileId::from_stat(&st);
        self.dir_times.push(DirTimes {
            path: joined(comps),
            id,
            mode: self.mode(meta),
            times: (meta.atime, meta.mtime),
            done: false,
        });
        // The entries in it come next: they are made through this fd.
        let parent = self.parent_of(fd, &st);
        self.enter(comps, parent, Some(self.dir_times.len() - 1));
        self.report.entries.dirs += 1;
        Ok(Outcome::Applied)
    }

    /// The root's own directory entry (`./`): its metadata, through a handle.
    fn dir_metadata(&mut self, name: &[u8], handle: &Handle, meta: &Meta) -> Result<()> {
        let fd = handle.reopen(OFlags::RDONLY | OFlags::DIRECTORY)?;
        self.fd_metadata(name, fd.as_fd(), meta, None, false)
    }

    fn record_dir_times(&mut self, path: &Path, handle: &Handle, meta: &Meta) -> Result<()> {
        let id = FileId::from_stat(&rustix::fs::fstat(handle).syscall("fstat")?);
        self.dir_times.push(DirTimes {
            path: path.to_path_buf(),
            id,
            mode: self.mode(meta),
            times: (meta.atime, meta.mtime),
            done: false,
        });
        Ok(())
    }

    /// Sets every directory's times, deepest last-made first, on the directory that has the
    /// identity it had when made (one moved or replaced since is left alone).
    fn set_dir_times(&mut self) -> Result<()> {
        self.leave(0);
        for dir in self.dir_times.drain(..).rev().filter(|dir| !dir.done) {
            let Ok(handle) = self.root.resolve_nofollow(&dir.path) else {
                continue;
            };
            // A directory still, not only the same numbers: a directory removed later in the
            // layer (a whiteout, overwrite_dirs) frees its inode number, which a symlink made
            // at the same name may get.
            let same = rustix::fs::fstat(&handle).is_ok_and(|st| {
                FileId::from_stat(&st) == dir.id && FileType::from_mode(st.st_mode) == FileType::Dir
            });
            if same {
                handle.set_permissions(dir.mode)?;
                handle.set_times(Some(dir.times.0), Some(dir.times.1))?;
            }
        }
        Ok(())
    }

    /// A symlink, FIFO or device node: made at the name (or a temporary, renamed over what is
    /// there), then given its metadata through a handle that is checked to be what was made.
    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        name: &[u8],
        (dir, new_owner): (BorrowedFd<'_>, (u32, u32)),
        last: &OsStr,
        path: &Path,
        meta: &Meta,
        node: Node<'_>,
    ) -> Result<Outcome> {
        // Permission bits only: set-ID bits mean nothing on these.
        let perm = meta.mode & 0o1777;
        let make = |at: &OsStr| -> std::result::Result<(), Errno> {
            match node {
                Node::Symlink(target) => rustix::fs::symlinkat(OsStr::from_bytes(target), dir, at),
                Node::Special(kind) => {
                    let (ft, dev) = match kind {
                        NodeKind::Fifo => (rustix::fs::FileType::Fifo, 0),
                        NodeKind::CharDevice { major, minor } => (
                            rustix::fs::FileType::CharacterDevice,
                            rustix::fs::makedev(major, minor),
                        ),
                        NodeKind::BlockDevice { major, minor } => (
                            rustix::fs::FileType::BlockDevice,
                            rustix::fs::makedev(major, minor),
                        ),
                    };
                    rustix::fs::mknodat(dir, at, ft, Mode::from_raw_mode(perm), dev)
                }
            }
        };
        let temp = match make(last) {
            Ok(()) => None,
            Err(Errno::EXIST) => Some(create_temp(make)?.0),
            Err(Errno::PERM) if matches!(node, Node::Special(k) if k != NodeKind::Fifo) => {
                return Ok(self.skip(name, SkipReason::DeviceNotPermitted));
            }
            Err(e) => {
                return Err(e.syscall(if let Node::Symlink(_) = node {
                    "symlinkat"
                } else {
                    "mknodat"
                }))
            }
        };
        let at = temp.as_deref().unwrap_or(last);
        if let Node::Symlink(_) = node {
            // By name, never following it: `AT_SYMLINK_NOFOLLOW` changes the symlink itself,
            // and a swap by someone inside the root leaves them their own entry to change, in
            // the root (no fchmodat here: that one would follow). Two calls, as tar makes.
            let set = self.symlink_metadata(dir, at, meta, new_owner);
            let id = || {
                rustix::fs::statat(dir, at, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileId::from_stat(&st))
            };
            if let Err(e) = set {
                if let Ok(id) = id() {
                    discard(dir, at, id);
                }
                return Err(e);
            }
            if let Some(temp) = &temp {
                let id = id().syscall("fstatat")?;
                if let Outcome::Skipped = self.put_in_place(name, dir, temp, last, path, id)? {
                    return Ok(Outcome::Skipped);
                }
            }
            self.report.entries.symlinks += 1;
            return Ok(Outcome::Applied);
        }
        let id = FileId::from_stat(
            &rustix::fs::statat(dir, at, AtFlags::SYMLINK_NOFOLLOW).syscall("fstatat")?,
        );
        // Owner and times by name with AT_SYMLINK_NOFOLLOW, as for a symlink (never following
        // whatever a swap put at the name); the mode through a handle checked to be the inode
        // made (fchmodat by name would follow a symlink put there). mknodat's mode was cut by
        // the umask: the archive's bits are set exactly.
        let set = self
            .symlink_metadata(dir, at, meta, new_owner)
            .and_then(|()| self.handle_of(path, at, id)?.set_permissions(perm));
        if let Err(e) = set {
            discard(dir, at, id);
            return Err(e);
        }
        if let Some(temp) = temp {
            if let Outcome::Skipped = self.put_in_place(name, dir, &temp, last, path, id)? {
                return Ok(Outcome::Skipped);
            }
        }
        match node {
            Node::Symlink(_) => self.report.entries.symlinks += 1,
            Node::Special(NodeKind::Fifo) => self.report.entries.fifos += 1,
            Node::Special(NodeKind::CharDevice { .. }) => self.report.entries.char_devices += 1,
            Node::Special(NodeKind::BlockDevice { .. }) => self.report.entries.block_devices += 1,
        }
        Ok(Outcome::Applied)
    }

    /// A new symlink's, FIFO's or device's owner (unless it has it already: `made`) and times,
    /// by name without following it.
    fn symlink_metadata(
        &self,
        dir: BorrowedFd<'_>,
        at: &OsStr,
        meta: &Meta,
        made: (u32, u32),
    ) -> Result<()> {
        if let Some((uid, gid)) = self.owner(meta).filter(|&owner| owner != made) {
            rustix::fs::chownat(
                dir,
                at,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .syscall("fchownat")?;
        }
        rustix::fs::utimensat(dir, at, &timestamps(meta), AtFlags::SYMLINK_NOFOLLOW)
            .syscall("utimensat")
    }

    /// A [`Handle`] on `at` in `dir` (the entry at `path`, or its temporary), checked to be
    /// the inode `id` that was made: for [`Handle::set_permissions`], which changes a special
    /// file's mode by fd.
    fn handle_of(&self, path: &Path, at: &OsStr, id: FileId) -> Result<Handle> {
        let in_root = match path.parent() {
            Some(parent) => parent.join(at),
            None => PathBuf::from(at),
        };
        let handle = self.parents.resolve_nofollow(&in_root)?;
        let st = rustix::fs::fstat(&handle).syscall("fstat")?;
        if FileId::from_stat(&st) != id {
            return Err(Error::with_detail(
                ErrorKind::SafetyViolation,
                Errno::XDEV,
                "the entry was replaced while it was being made",
            ));
        }
        Ok(handle)
    }

    /// A hard link: the target resolved inside the root without following its last component,
    /// linked by fd.
    fn hardlink(
        &mut self,
        name: &[u8],
        dir: BorrowedFd<'_>,
        last: &OsStr,
        path: &Path,
        target: &[u8],
    ) -> Result<Outcome> {
        let Some(target) = clean(target).filter(|c| !c.is_empty()) else {
            return Ok(self.skip(name, SkipReason::HardLinkOutside));
        };
        let existing = match self.parents.resolve_nofollow(joined(&target)) {
            Ok(handle) => handle,
            Err(e) if e.kind() == ErrorKind::InvalidInput => return Err(e),
            Err(e) => return Ok(self.skip(name, SkipReason::HardLinkTarget(e.errno()))),
        };
        let st = rustix::fs::fstat(&existing).syscall("fstat")?;
        if FileType::from_mode(st.st_mode) == FileType::Dir {
            return Ok(self.skip(name, SkipReason::HardLinkOutside));
        }
        let id = FileId::from_stat(&st);
        if rustix::fs::statat(dir, last, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileId::from_stat(&st) == id)
        {
            // Already that file (a link to itself, or a lower layer's link): nothing to do.
            self.report.entries.hardlinks += 1;
            return Ok(Outcome::Applied);
        }
        let in_dir = |at: &OsStr| match path.parent() {
            Some(parent) => parent.join(at),
            None => PathBuf::from(at),
        };
        let parents = self.parents.clone();
        let linked = |at: &OsStr| -> std::result::Result<(), Errno> {
            match parents.hardlink_fd(&existing, in_dir(at)) {
                Ok(()) => Ok(()),
                Err(e) => Err(e.errno()),
            }
        };
        let temp = match linked(last) {
            Ok(()) => None,
            Err(Errno::EXIST) => Some(create_temp(linked)?.0),
            Err(errno @ (Errno::XDEV | Errno::PERM | Errno::NOENT)) => {
                return Ok(self.skip(name, SkipReason::HardLinkTarget(errno)));
            }
            Err(e) => return Err(e.syscall("linkat")),
        };
        // hardlink_fd resolved the parent again: check that the name in *our* parent is the
        // target's inode, else the link went elsewhere (a rename race inside the root).
        let at = temp.as_deref().unwrap_or(last);
        let landed = rustix::fs::statat(dir, at, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileId::from_stat(&st) == id);
        if !landed {
            return Err(Error::with_detail(
                ErrorKind::SafetyViolation,
                Errno::XDEV,
                "the parent directory was moved while the hard link was made",
            ));
        }
        if let Some(temp) = temp {
            if let Outcome::Skipped = self.put_in_place(name, dir, &temp, last, path, id)? {
                return Ok(Outcome::Skipped);
            }
        }
        self.report.entries.hardlinks += 1;
        Ok(Outcome::Applied)
    }

    /// `.wh.NAME` in `parent`: removes `NAME` (a tree: the shared walker, this mount only)
    /// unless this layer made it; `.wh..wh..opq`: empties `parent` of what lower layers made.
    fn whiteout(&mut self, name: &[u8], parent: &[Vec<u8>], target: &[u8]) -> Result<Outcome> {
        let opaque = [WHITEOUT, target].concat() == OPAQUE;
        if !opaque
            && (target.is_empty()
                || target == b"."
                || target == b".."
                || target.starts_with(WHITEOUT))
        {
            return Ok(self.skip(name, SkipReason::BadWhiteout));
        }
        // The directory is resolved (never made) inside the root: a symlink on the way is
        // followed there, never out.
        let dir = match self.parents.resolve(joined(parent)) {
            Ok(dir) if dir.file_type()? == FileType::Dir => dir,
            // A file (or a symlink to one) where the directory would be: nothing in it to
            // remove, as for a missing one.
            Ok(_) => {
                if opaque {
                    self.report.opaque_dirs += 1;
                } else {
                    self.report.whiteouts += 1;
                }
                return Ok(Outcome::Applied);
            }
            // Nothing to remove in a directory that is not there.
            Err(e) if matches!(e.errno(), Errno::NOENT | Errno::NOTDIR) => {
                if opaque {
                    self.report.opaque_dirs += 1;
                } else {
                    self.report.whiteouts += 1;
                }
                return Ok(Outcome::Applied);
            }
            Err(e) if e.errno() == Errno::LOOP && self.opts.no_dirlinks => {
                return Ok(self.skip(name, SkipReason::ParentCrossesSymlink))
            }
            // The archive's own tree in the way (a symlink loop, a mount): refused, as for the
            // parent of any other entry.
            Err(e) if matches!(e.errno(), Errno::LOOP | Errno::XDEV | Errno::NAMETOOLONG) => {
                return Ok(self.skip(name, SkipReason::BadParent(e.errno())))
            }
            Err(e) => return Err(e),
        };
        let dir_id = FileId::from_stat(&rustix::fs::fstat(&dir).syscall("fstat")?);
        self.changed(dir_id);
        let victims: Vec<Vec<u8>> = if opaque {
            let mut names = Vec::new();
            for entry in dir.read_dir()? {
                let entry = entry?;
                names.push(entry.file_name().as_bytes().to_vec());
            }
            names
        } else {
            vec![target.to_vec()]
        };
        for victim in victims {
            if self.ours.contains(&(dir_id, victim.clone())) {
                continue;
            }
            let mut path = parent.to_vec();
            path.push(victim);
            match self.parents.remove_all(joined(&path)) {
                Ok(()) => {}
                Err(e) if e.errno() == Errno::NOENT => {}
                Err(e) => return Err(e),
            }
        }
        if opaque {
            self.report.opaque_dirs += 1;
        } else {
            self.report.whiteouts += 1;
        }
        Ok(Outcome::Applied)
    }
}

/// The name's components inside the root: empty ones and `.` dropped (so a leading `/`,
/// `./`, `//` and `/./` mean nothing), `..` taking back the previous one. `None` when a `..`
/// would climb above the root: the entry is refused, not clamped (a clamped `../../etc/passwd`
/// would silently overwrite the root's own `/etc/passwd`).
fn clean(name: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut comps: Vec<Vec<u8>> = Vec::new();
    for comp in name.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                comps.pop()?;
            }
            _ => comps.push(comp.to_vec()),
        }
    }
    Some(comps)
}

/// The components as a relative path in the root (`.` for none).
fn joined(comps: &[Vec<u8>]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    PathBuf::from(OsString::from_vec(comps.join(&b'/')))
}

/// An error reading the layer: the OS error if there is one, else what the tar, gzip or zstd
/// reader said (a bare `EIO` would hide "unexpected end of file" or "corrupt deflate stream").
fn stream_error(e: io::Error) -> Error {
    if e.raw_os_error().is_some() {
        return Error::from(e);
    }
    Error::with_detail(
        ErrorKind::Os,
        Errno::IO,
        format!("the layer is not a valid tar stream: {e}"),
    )
}

/// The calling thread's umask, from `/proc/thread-self/status` through the verified procfs
/// handle (never `umask(2)`, whose set-and-restore would briefly change it for the caller's
/// other threads); `None` if it cannot be read. For [`LayerOptions::umask`], read before the
/// process confines itself.
pub fn process_umask() -> Option<u32> {
    let procfs = procroot::Procfs::cached().ok()?;
    let status = procfs
        .read_to_string(procroot::ProcBase::ThreadSelf, "status")
        .ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// Makes something under a fresh temporary name with `make`, retrying on `EEXIST`.
fn create_temp<T>(
    mut make: impl FnMut(&OsStr) -> std::result::Result<T, Errno>,
) -> Result<(OsString, T)> {
    for _ in 0..TEMP_ATTEMPTS {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = OsString::from(format!(".procroot-unpack-{}-{n}", std::process::id()));
        match make(&temp) {
            Ok(made) => return Ok((temp, made)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.syscall("create temporary")),
        }
    }
    Err(Error::with_detail(
        ErrorKind::Os,
        Errno::EXIST,
        "no free temporary name in the directory",
    ))
}

/// Removes `name` from `dir` if it is still the inode `id` this layer made: cleanup by
/// identity, never by name alone.
fn discard(dir: BorrowedFd<'_>, name: &OsStr, id: FileId) {
    if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileId::from_stat(&st) == id)
    {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
}

/// A time from seconds and nanoseconds since the epoch (before it, too).
fn seconds(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// A PAX time, `SECONDS[.FRACTION]`.
fn pax_time(value: &str) -> Option<SystemTime> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(seconds(secs, nanos))
}

fn pax_bad(what: &str) -> Error {
    Error::with_detail(
        ErrorKind::InvalidInput,
        Errno::INVAL,
        format!("the entry's {what} is not valid"),
    )
}

/// The entry's atime and mtime as `utimensat` takes them.
fn timestamps(meta: &Meta) -> Timestamps {
    as_timestamps((meta.atime, meta.mtime))
}

/// An atime and an mtime as `utimensat` takes them.
fn as_timestamps((atime, mtime): (SystemTime, SystemTime)) -> Timestamps {
    let spec = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as _,
        },
        Err(e) => {
            let d = e.duration();
            let (mut secs, mut nanos) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i64));
            if nanos < 0 {
                secs -= 1;
                nanos += 1_000_000_000;
            }
            Timespec {
                tv_sec: secs,
                tv_nsec: nanos as _,
            }
        }
    };
    Timestamps {
        last_access: spec(atime),
        last_modification: spec(mtime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_root_and_dots_and_refuses_climbing() {
        let c = |s: &str| clean(s.as_bytes()).map(|v| joined(&v));
        assert_eq!(c("/etc/passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(c("./etc//./passwd"), Some(PathBuf::from("etc/passwd")));
        assert_eq!(c("a/../b"), Some(PathBuf::from("b")));
        assert_eq!(c("/."), Some(PathBuf::from(".")));
        assert_eq!(c("../../sentinel/x"), None);
        assert_eq!(c("/../../sentinel/x"), None);
        assert_eq!(c("a/../../x"), None);
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        assert_eq!(pax_time("12.5"), Some(seconds(12, 500_000_000)));
        assert_eq!(pax_time("12"), Some(seconds(12, 0)));
        assert_eq!(pax_time("x"), None);
    }
}
