//! Walking a tree inside a root (`Root::walk`) as an iterator handle: `procroot_walk_open`,
//! `procroot_walk_next` until it returns 0, `procroot_walk_free`.

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;

use procroot::{Error, FileType, Walk, WalkEntry};

use crate::core::{out_arg, procroot_root};
use crate::error::{ffi, invalid, procroot_error, ErrOut};
use crate::util::{cstr, free_box, handle, oflags, out, owned, path_arg, required};

/// [`procroot_walk_open`]: follow symlinks, resolved inside the root (directory cycles are an
/// `-ELOOP` entry error).
pub const PROCROOT_WALK_FOLLOW_LINKS: u32 = 1;
/// [`procroot_walk_open`]: enter directories on other mounts (default: list them, not enter).
pub const PROCROOT_WALK_CROSS_MOUNTS: u32 = 2;
/// [`procroot_walk_open`]: each directory's entries sorted by name, bytewise (default: the
/// file system's order).
pub const PROCROOT_WALK_SORT: u32 = 4;
/// [`procroot_walk_open`]: a directory after its contents (post-order).
pub const PROCROOT_WALK_CONTENTS_FIRST: u32 = 8;
/// [`procroot_walk_open`]: no depth limit (`max_depth`; any negative value means the same).
pub const PROCROOT_WALK_NO_MAX_DEPTH: i64 = -1;

/// [`procroot_walk_entry`] `type`: a regular file.
pub const PROCROOT_TYPE_FILE: c_int = 1;
/// A directory.
pub const PROCROOT_TYPE_DIR: c_int = 2;
/// A symbolic link.
pub const PROCROOT_TYPE_SYMLINK: c_int = 3;
/// A FIFO.
pub const PROCROOT_TYPE_FIFO: c_int = 4;
/// A Unix domain socket.
pub const PROCROOT_TYPE_SOCKET: c_int = 5;
/// A character device.
pub const PROCROOT_TYPE_CHAR_DEVICE: c_int = 6;
/// A block device.
pub const PROCROOT_TYPE_BLOCK_DEVICE: c_int = 7;
/// Unknown (also the `type` of an entry error).
pub const PROCROOT_TYPE_UNKNOWN: c_int = 0;

/// A walk in progress (opaque): one thread at a time.
pub struct procroot_walk {
    walk: Walk<'static>,
    /// The entry last returned, for [`procroot_walk_open_entry`].
    current: Option<WalkEntry>,
    /// The path `procroot_walk_entry::path` points into, valid until the next call.
    path: CString,
}

/// What [`procroot_walk_next`] fills in. `path` points into the walk handle: valid until the
/// next `procroot_walk_next` or `procroot_walk_free`.
#[repr(C)]
#[derive(Debug)]
pub struct procroot_walk_entry {
    /// The path inside the root, absolute (`/` is the root), NUL-terminated. A name with a NUL
    /// byte cannot exist, so `path_len` is `strlen(path)`. For an entry error: the path the
    /// error is about (empty when it has none).
    pub path: *const c_char,
    /// Its length in bytes, without the NUL.
    pub path_len: usize,
    /// The depth below the start (the start is 0).
    pub depth: usize,
    /// `PROCROOT_TYPE_*`, from the directory listing (the target's for a followed link).
    pub file_type: c_int,
    /// 1 when the entry is a directory on another mount than its parent.
    pub is_mount_point: c_int,
    /// 1 when the entry is a symlink that was followed (`PROCROOT_WALK_FOLLOW_LINKS`).
    pub is_followed_link: c_int,
}

fn type_code(t: FileType) -> c_int {
    match t {
        FileType::File => PROCROOT_TYPE_FILE,
        FileType::Dir => PROCROOT_TYPE_DIR,
        FileType::Symlink => PROCROOT_TYPE_SYMLINK,
        FileType::Fifo => PROCROOT_TYPE_FIFO,
        FileType::Socket => PROCROOT_TYPE_SOCKET,
        FileType::CharDevice => PROCROOT_TYPE_CHAR_DEVICE,
        FileType::BlockDevice => PROCROOT_TYPE_BLOCK_DEVICE,
        FileType::Unknown => PROCROOT_TYPE_UNKNOWN,
    }
}

/// Starts walking `path` inside the root (`Root::walk`): `*out` receives the walk, to free
/// with [`procroot_walk_free`]. `flags` are `PROCROOT_WALK_*` (another bit is `-EINVAL`);
/// entries shallower than `min_depth` are not returned, directories at `max_depth` are not
/// entered (`PROCROOT_WALK_NO_MAX_DEPTH`, or any negative value: no limit). Nothing is read
/// until the first [`procroot_walk_next`]; the root's settings are those of this call.
/// Returns 0.
///
/// # Safety
/// `root` NULL or live (it may be freed while the walk lives); `path` NUL-terminated; `out`
/// points to a writable pointer; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_walk_open(
    root: *const procroot_root,
    path: *const c_char,
    flags: u32,
    min_depth: usize,
    max_depth: i64,
    out: *mut *mut procroot_walk,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `root` is NULL or a live root for the call (contract).
    let root = unsafe { handle(root) };
    // SAFETY: `path` is NUL-terminated (contract).
    let path = unsafe { cstr(path) };
    // SAFETY: `out` points to a writable `procroot_walk *` (contract); NULL is refused below.
    let out = unsafe { self::out(out) };
    ffi(err, || {
        let out = out_arg(out)?;
        let root = required(root, "root")?;
        let path = path_arg(path, "path")?;
        let known = PROCROOT_WALK_FOLLOW_LINKS
            | PROCROOT_WALK_CROSS_MOUNTS
            | PROCROOT_WALK_SORT
            | PROCROOT_WALK_CONTENTS_FIRST;
        if flags & !known != 0 {
            return Err(invalid(format!("unknown walk flags {:#x}", flags & !known)));
        }
        let walk = root
            .read()
            .walk(path)
            .follow_links(flags & PROCROOT_WALK_FOLLOW_LINKS != 0)
            .same_mount(flags & PROCROOT_WALK_CROSS_MOUNTS == 0)
            .sort_by_name(flags & PROCROOT_WALK_SORT != 0)
            .contents_first(flags & PROCROOT_WALK_CONTENTS_FIRST != 0)
            .min_depth(min_depth)
            .max_depth(usize::try_from(max_depth).unwrap_or(usize::MAX))
            .detached();
        *out = Box::into_raw(Box::new(procroot_walk {
            walk,
            current: None,
            path: CString::default(),
        }));
        Ok(0)
    })
}

/// The next entry: returns 1 with `*entry` filled in, 0 at the end, or `-errno` for one
/// entry's error (`*err` set, `entry->path` the path it is about): the walk goes on, call
/// again. A directory that cannot be read is returned as an entry, then its error.
///
/// # Safety
/// `walk` NULL or live and not used by another thread meanwhile; `entry` points to a writable
/// `procroot_walk_entry`; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procroot_walk_next(
    walk: *mut procroot_walk,
    entry: *mut procroot_walk_entry,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `walk` is NULL or live and ours alone for the call (contract).
    let walk = unsafe { out(walk) };
    // SAFETY: `entry` points to a writable entry (contract); NULL is refused below.
    let entry = unsafe { out(entry) };
    ffi(err, || {
        let walk = walk.ok_or_else(|| invalid("walk is NULL"))?;
        let slot = out_arg(entry)?;
        walk.current = None;
        let fill = |w: &mut procroot_walk, slot: &mut procroot_walk_entry, p: &[u8]| {
            w.path = CString::new(p).unwrap_or_default();
            slot.path = w.path.as_ptr();
            slot.path_len = w.path.as_bytes().len();
        };
        match walk.walk.next() {
            None => Ok(0),
            Some(Ok(e)) => {
                fill(walk, slot, e.path().as_os_str().as_bytes());
                slot.depth = e.depth();
                slot.file_type = type_code(e.file_type());
                slot.is_mount_point = c_int::from(e.is_mount_point());
                slot.is_followed_link = c_int::from(e.is_followed_link());
                walk.current = Some(e);
                Ok(1)
            }
            Some(Err(e)) => {
                let path = e.path().map(|p| p.as_os_str().as_bytes().to_vec());
                fill(walk, slot, path.as_deref().unwrap_or_default());
                slot.depth = 0;
                slot.file_type = PROCROOT_TYPE_UNKNOWN;
                slot.is_mount_point = 0;
                slot.is_followed_link = 0;
                Err(e)
            }
        }
    })
}

/// Skips the rest of the current directory (`Walk::skip_current_dir`): after a directory's
/// entry, it is not entered; after any other entry, the rest of its directory is skipped.
/// Returns 0.
///
/// # Safety
/// As [`procroot_walk_next`].
#[no_mangle]
pub unsafe extern "C" fn procroot_walk_skip_current_dir(
    walk: *mut procroot_walk,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `with_walk`'s.
    unsafe {
        with_walk(walk, err, |walk| {
            walk.walk.skip_current_dir();
            Ok(0)
        })
    }
}

/// Opens the entry last returned by [`procroot_walk_next`] with `open(2)` flags
/// (`WalkEntry::open`: through its directory's fd and its name, `O_NOFOLLOW`, special files by
/// the root's setting): an fd. No current entry: `-EINVAL`.
///
/// # Safety
/// As [`procroot_walk_next`].
#[no_mangle]
pub unsafe extern "C" fn procroot_walk_open_entry(
    walk: *mut procroot_walk,
    flags: c_int,
    err: *mut *mut procroot_error,
) -> c_int {
    // SAFETY: this function's contract is `with_walk`'s.
    unsafe {
        with_walk(walk, err, |walk| {
            let entry = walk
                .current
                .as_ref()
                .ok_or_else(|| invalid("no current entry: call procroot_walk_next first"))?;
            let file: Result<std::fs::File, Error> = entry.open(oflags(flags)?);
            Ok(owned(file?))
        })
    }
}

/// Runs `f` on the walk of a call that takes only `walk` and `err`.
///
/// # Safety
/// `walk` NULL or live and not used by another thread for the call; `err` NULL or writable.
unsafe fn with_walk(
    walk: *mut procroot_walk,
    err: *mut *mut procroot_error,
    f: impl FnOnce(&mut procroot_walk) -> Result<c_int, Error>,
) -> c_int {
    // SAFETY: `err` is NULL or writable for the call (this fn's contract).
    let err = unsafe { ErrOut::from_raw(err) };
    // SAFETY: `walk` is NULL or live and ours alone for the call (this fn's contract).
    let walk = unsafe { out(walk) };
    ffi(err, || f(walk.ok_or_else(|| invalid("walk is NULL"))?))
}

/// Frees a walk (and every fd it holds). NULL is allowed.
///
/// # Safety
/// `walk` is NULL or came from [`procroot_walk_open`] and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn procroot_walk_free(walk: *mut procroot_walk) {
    // SAFETY: NULL or from `procroot_walk_open`'s `Box::into_raw`, not freed yet (contract).
    unsafe { free_box(walk) }
}
