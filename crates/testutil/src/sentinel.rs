//! Sentinel trees: a [`Snapshot`] of everything about a tree that an escape could change, to
//! prove after an attack that nothing outside the root was created, changed or deleted.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `st_mode`: the type and the permission bits.
    pub mode: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// The link count (a hard link made or removed shows).
    pub nlink: u64,
    /// `(st_dev, st_ino)`: the same object, not a copy.
    pub id: (u64, u64),
    /// A regular file's bytes, a symlink's target; empty for anything else (a FIFO is never
    /// opened).
    pub contents: Vec<u8>,
    /// `(mtime, ctime)` in nanoseconds, with [`Snapshot::take_with_times`]. ctime cannot be set
    /// back from userspace, so any write, chmod, chown, link or rename of the entry shows.
    pub times: Option<(i128, i128)>,
}

/// Everything about a tree (module docs): each entry's type, mode, owner, link count, identity
/// and bytes, by path relative to the top (the top itself is `""`). Equal snapshots mean an
/// untouched tree. Follows no symlink; does enter mounts inside the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    top: PathBuf,
    times: bool,
    entries: BTreeMap<PathBuf, Entry>,
}

impl Snapshot {
    /// Snapshots the tree at `top`, without times (for trees the test itself renames: a rename
    /// changes ctime).
    #[track_caller]
    pub fn take(top: impl AsRef<Path>) -> Snapshot {
        Snapshot::walk(top.as_ref(), false)
    }

    /// Snapshots the tree at `top` with every entry's mtime and ctime as well.
    #[track_caller]
    pub fn take_with_times(top: impl AsRef<Path>) -> Snapshot {
        Snapshot::walk(top.as_ref(), true)
    }

    /// The same tree, now, the same way.
    #[track_caller]
    pub fn retake(&self) -> Snapshot {
        Snapshot::walk(&self.top, self.times)
    }

    #[track_caller]
    fn walk(top: &Path, times: bool) -> Snapshot {
        let mut entries = BTreeMap::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let path = top.join(&rel);
            let md = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let contents = if md.is_file() {
                std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
            } else if md.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                target.as_os_str().as_bytes().to_vec()
            } else {
                Vec::new()
            };
            if md.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")) {
                    stack.push(rel.join(entry.expect("readdir").file_name()));
                }
            }
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            let entry = Entry {
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                nlink: md.nlink(),
                id: (md.dev(), md.ino()),
                contents,
                times: times.then(|| {
                    (
                        ns(md.mtime(), md.mtime_nsec()),
                        ns(md.ctime(), md.ctime_nsec()),
                    )
                }),
            };
            entries.insert(rel, entry);
        }
        Snapshot {
            top: top.to_path_buf(),
            times,
            entries,
        }
    }

    /// The entries, by path relative to the top.
    pub fn entries(&self) -> &BTreeMap<PathBuf, Entry> {
        &self.entries
    }

    /// Every entry's `(st_dev, st_ino)`: to recognise a handle that landed in the tree.
    pub fn identities(&self) -> HashSet<(u64, u64)> {
        self.entries.values().map(|e| e.id).collect()
    }

    /// The first difference from `self` to `now`, in words; `None` when they are equal.
    pub fn difference(&self, now: &Snapshot) -> Option<String> {
        for (path, was) in &self.entries {
            match now.entries.get(path) {
                None => {
                    return Some(format!(
                        "{path:?} is gone ({} of {} entries left)",
                        now.entries.len(),
                        self.entries.len()
                    ))
                }
                Some(is) if is != was => {
                    let show = |e: &Entry| {
                        format!(
                            "mode {:o} uid {} gid {} nlink {} id {:?} ({} bytes) times {:?}",
                            e.mode,
                            e.uid,
                            e.gid,
                            e.nlink,
                            e.id,
                            e.contents.len(),
                            e.times
                        )
                    };
                    let bytes = if is.contents != was.contents {
                        ", other bytes"
                    } else {
                        ""
                    };
                    return Some(format!(
                        "{path:?}: {} is now {}{bytes}",
                        show(was),
                        show(is)
                    ));
                }
                Some(_) => {}
            }
        }
        now.entries
            .keys()
            .find(|p| !self.entries.contains_key(*p))
            .map(|p| format!("{p:?} appeared"))
    }

    /// Retakes the snapshot and fails the test, naming the first difference, if the tree
    /// changed.
    #[track_caller]
    pub fn assert_unchanged(&self, what: &str) {
        if let Some(change) = self.difference(&self.retake()) {
            panic!("{what}: the tree {:?} changed: {change}", self.top);
        }
    }
}
