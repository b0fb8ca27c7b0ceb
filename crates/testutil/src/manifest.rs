//! Tree manifests: what an unpacked image tree *is* (names, types, modes, owners, sizes,
//! content hashes, link targets, device numbers, hard-link groups, xattrs, mtimes), without its
//! inode numbers, so that two trees made by different tools can be compared entry by entry
//! (`procroot unpack` against `umoci raw unpack` and GNU tar, in the differential tests).
//!
//! Unlike [`Snapshot`](crate::Snapshot), which proves a tree *untouched* (same inodes, same
//! bytes in memory), a manifest holds a 64-bit hash of each file's bytes, not the bytes: a
//! Debian rootfs is too large to hold twice.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::hash::Hasher;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a [`TreeManifest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// `st_mode`: the type and every permission bit (set-ID and sticky bits included).
    pub mode: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// A regular file's size; 0 for anything else.
    pub size: u64,
    /// A hash of a regular file's bytes (SipHash of the whole file), or a symlink's target
    /// bytes verbatim; empty for anything else.
    pub content: Vec<u8>,
    /// A device node's `st_rdev`; 0 for anything else.
    pub rdev: u64,
    /// For a non-directory with more than one link: the first path (in sorted order) of the
    /// tree that is the same inode. `None` for a file with one link.
    pub link_group: Option<PathBuf>,
    /// Every extended attribute, by name, with its value.
    pub xattrs: BTreeMap<OsString, Vec<u8>>,
    /// mtime in nanoseconds (symlinks and directories included), when the manifest keeps them.
    pub mtime: Option<i128>,
}

/// A tree's [`ManifestEntry`]s by path relative to its top (the top itself is `""`). Follows no
/// symlink and does not cross into another mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeManifest {
    entries: BTreeMap<PathBuf, ManifestEntry>,
}

impl TreeManifest {
    /// The manifest of the tree at `top`; with `mtimes`, every entry's mtime too.
    #[track_caller]
    pub fn take(top: impl AsRef<Path>, mtimes: bool) -> TreeManifest {
        let top = top.as_ref();
        let top_dev = std::fs::symlink_metadata(top)
            .unwrap_or_else(|e| panic!("{top:?}: {e}"))
            .dev();
        let mut entries = BTreeMap::new();
        let mut inodes: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let path = top.join(&rel);
            let md = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let ft = md.file_type();
            if ft.is_dir() && md.dev() == top_dev {
                for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")) {
                    stack.push(rel.join(entry.expect("readdir").file_name()));
                }
            }
            let content = if ft.is_file() {
                hash_file(&path).to_le_bytes().to_vec()
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                target.as_os_str().as_bytes().to_vec()
            } else {
                Vec::new()
            };
            if !ft.is_dir() && md.nlink() > 1 {
                inodes
                    .entry((md.dev(), md.ino()))
                    .or_default()
                    .push(rel.clone());
            }
            let is_device = ft_is_device(md.mode());
            entries.insert(
                rel,
                ManifestEntry {
                    mode: md.mode(),
                    uid: md.uid(),
                    gid: md.gid(),
                    size: if ft.is_file() { md.size() } else { 0 },
                    content,
                    rdev: if is_device { md.rdev() } else { 0 },
                    link_group: None,
                    xattrs: xattrs(&path),
                    mtime: mtimes.then(|| {
                        i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())
                    }),
                },
            );
        }
        for mut paths in inodes.into_values() {
            paths.sort();
            let first = paths[0].clone();
            for p in paths {
                if let Some(e) = entries.get_mut(&p) {
                    e.link_group = Some(first.clone());
                }
            }
        }
        TreeManifest { entries }
    }

    /// The entries, by path relative to the top.
    pub fn entries(&self) -> &BTreeMap<PathBuf, ManifestEntry> {
        &self.entries
    }

    /// Every difference from `self` to `other`, in words, at most `max` of them (and a count of
    /// the rest); empty when the trees are the same.
    pub fn differences(&self, other: &TreeManifest, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut more = 0usize;
        let mut say = |s: String| {
            if out.len() < max {
                out.push(s);
            } else {
                more += 1;
            }
        };
        for (path, a) in &self.entries {
            match other.entries.get(path) {
                None => say(format!("{path:?} only in the first tree")),
                Some(b) if a != b => say(format!("{path:?}: {}", describe_difference(a, b))),
                Some(_) => {}
            }
        }
        for path in other.entries.keys() {
            if !self.entries.contains_key(path) {
                say(format!("{path:?} only in the second tree"));
            }
        }
        if more > 0 {
            out.push(format!("... and {more} more differences"));
        }
        out
    }
}

/// What differs between two entries, field by field.
fn describe_difference(a: &ManifestEntry, b: &ManifestEntry) -> String {
    let mut parts = Vec::new();
    if a.mode != b.mode {
        parts.push(format!("mode {:o} vs {:o}", a.mode, b.mode));
    }
    if (a.uid, a.gid) != (b.uid, b.gid) {
        parts.push(format!("owner {}:{} vs {}:{}", a.uid, a.gid, b.uid, b.gid));
    }
    if a.size != b.size {
        parts.push(format!("size {} vs {}", a.size, b.size));
    }
    if a.content != b.content {
        parts.push(format!(
            "content {:?} vs {:?}",
            String::from_utf8_lossy(&a.content),
            String::from_utf8_lossy(&b.content)
        ));
    }
    if a.rdev != b.rdev {
        parts.push(format!("rdev {:x} vs {:x}", a.rdev, b.rdev));
    }
    if a.link_group != b.link_group {
        parts.push(format!(
            "hard-link group {:?} vs {:?}",
            a.link_group, b.link_group
        ));
    }
    if a.xattrs != b.xattrs {
        parts.push(format!("xattrs {:?} vs {:?}", a.xattrs, b.xattrs));
    }
    if a.mtime != b.mtime {
        parts.push(format!("mtime {:?} vs {:?}", a.mtime, b.mtime));
    }
    parts.join(", ")
}

fn ft_is_device(mode: u32) -> bool {
    matches!(mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK)
}

/// SipHash (std's, with its fixed default keys) of the file's bytes.
#[track_caller]
fn hash_file(path: &Path) -> u64 {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        if n == 0 {
            break;
        }
        hasher.write(&buf[..n]);
    }
    hasher.finish()
}

/// Every extended attribute of `path` itself (not followed), with its value.
#[track_caller]
fn xattrs(path: &Path) -> BTreeMap<OsString, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 4096];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut names) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            // A file system without xattrs has none to compare.
            Err(rustix::io::Errno::NOTSUP) => return out,
            Err(e) => panic!("llistxattr {path:?}: {e}"),
        }
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; 4096];
        let len = loop {
            match rustix::fs::lgetxattr(path, name, &mut value) {
                Ok(len) => break len,
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(e) => panic!("lgetxattr {path:?} {name:?}: {e}"),
            }
        };
        value.truncate(len);
        out.insert(name.to_os_string(), value);
    }
    out
}
