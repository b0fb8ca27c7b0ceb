//! Directory listing inside a root.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Dir};

use crate::error::Result;
use crate::sys::{Syscall as _, SyscallErrno as _};

/// The type of a file, as `procroot` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// The kernel did not say, and the file could not be asked.
    Unknown,
}

impl FileType {
    /// The type from an `st_mode`.
    pub fn from_mode(mode: u32) -> FileType {
        FileType::from_rustix(rustix::fs::FileType::from_raw_mode(mode as _))
    }

    pub(crate) fn from_rustix(ft: rustix::fs::FileType) -> FileType {
        use rustix::fs::FileType as R;
        match ft {
            R::RegularFile => FileType::File,
            R::Directory => FileType::Dir,
            R::Symlink => FileType::Symlink,
            R::Fifo => FileType::Fifo,
            R::Socket => FileType::Socket,
            R::CharacterDevice => FileType::CharDevice,
            R::BlockDevice => FileType::BlockDevice,
            _ => FileType::Unknown,
        }
    }

    /// How an error message names the type: `regular file`, `directory`, `FIFO`, `character
    /// device`, ... (after "a").
    pub fn description(self) -> &'static str {
        match self {
            FileType::File => "regular file",
            FileType::Dir => "directory",
            FileType::Symlink => "symlink",
            FileType::Fifo => "FIFO",
            FileType::Socket => "socket",
            FileType::CharDevice => "character device",
            FileType::BlockDevice => "block device",
            FileType::Unknown => "file of unknown type",
        }
    }

    /// `file`, `dir`, `symlink`, `fifo`, `socket`, `char`, `block` or `unknown`: the names the
    /// CLI uses in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Symlink => "symlink",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
            FileType::CharDevice => "char",
            FileType::BlockDevice => "block",
            FileType::Unknown => "unknown",
        }
    }
}

impl From<std::fs::FileType> for FileType {
    fn from(ft: std::fs::FileType) -> FileType {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_file() {
            FileType::File
        } else if ft.is_dir() {
            FileType::Dir
        } else if ft.is_symlink() {
            FileType::Symlink
        } else if ft.is_fifo() {
            FileType::Fifo
        } else if ft.is_socket() {
            FileType::Socket
        } else if ft.is_char_device() {
            FileType::CharDevice
        } else if ft.is_block_device() {
            FileType::BlockDevice
        } else {
            FileType::Unknown
        }
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    name: OsString,
    file_type: FileType,
    ino: u64,
}

impl DirEntry {
    /// The entry's name (one component, possibly not UTF-8).
    pub fn file_name(&self) -> &std::ffi::OsStr {
        &self.name
    }

    /// The entry's type, without following symlinks.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The entry's inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }
}

/// An iterator over the entries of a directory inside a root, without `.` and `..`.
pub struct ReadDir {
    dir: Dir,
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

impl ReadDir {
    /// Reads the directory `fd` is open on (with `O_RDONLY|O_DIRECTORY`, not `O_PATH`), from
    /// its current offset; `EBADF`/`ENOTDIR` from `fcntl` otherwise.
    pub fn new(fd: OwnedFd) -> Result<ReadDir> {
        Ok(ReadDir {
            dir: Dir::new(fd).syscall("fcntl")?,
        })
    }
}

impl Iterator for ReadDir {
    type Item = Result<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.dir.read()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e.syscall("getdents64"))),
            };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut file_type = FileType::from_rustix(entry.file_type());
            if file_type == FileType::Unknown {
                // Some file systems leave d_type as DT_UNKNOWN; ask the inode, relative to the
                // directory fd we hold, without following a symlink.
                if let Ok(st) = self
                    .dir
                    .fd()
                    .and_then(|fd| rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW))
                {
                    file_type = FileType::from_mode(st.st_mode);
                }
            }
            return Some(Ok(DirEntry {
                name: std::ffi::OsStr::from_bytes(name).to_os_string(),
                file_type,
                ino: entry.ino(),
            }));
        }
    }
}
