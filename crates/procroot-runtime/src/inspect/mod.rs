//! Looking at a whole tree inside a root: `procroot find` ([`find`]) and `procroot audit`
//! ([`audit`]).
//!
//! Both walk with [`procroot::Root::walk`], so every entry is reached by its directory fd and
//! name inside the root: a symlink is never followed on the host (with `follow_links` it is
//! resolved inside the root), no other mount is entered unless asked, and a directory an
//! attacker renames or swaps during the walk cannot lead the walk out of the root. This module
//! only decides what matches and what is dangerous; it never opens a file's contents.
//!
//! ```no_run
//! use procroot::Root;
//! use procroot_runtime::inspect::audit::{audit, AuditOptions, HostView};
//! use procroot_runtime::inspect::find::{find, Perm, Query};
//!
//! let root = Root::open("/var/lib/machines/web")?;
//! // `find / -xdev -perm /6000` inside the root; an entry that cannot be read is reported and
//! // the walk goes on.
//! let query = Query { perm: Some(Perm::Any(0o6000)), ..Query::default() };
//! find(&root, &query, |found| -> procroot::Result<()> {
//!     match found {
//!         Ok(found) => println!("{}", found.entry.path().display()),
//!         Err(err) => eprintln!("{err}"),
//!     }
//!     Ok(())
//! })?;
//! let opts = AuditOptions {
//!     path: "/".into(),
//!     host: HostView::for_dir("/var/lib/machines/web".as_ref())?,
//!     cross_mounts: false,
//! };
//! audit(&root, &opts, |finding| -> procroot::Result<()> {
//!     let finding = finding?; // stop at the first entry that cannot be examined
//!     println!("{} {}", finding.class.as_str(), finding.path.display());
//!     Ok(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod audit;
pub mod find;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `path` made lexically absolute and normalized: `.` dropped, `..` removing the component
/// before it, and never climbing above `/`. The second value is whether some `..` tried to climb
/// above `/` (which a path walk inside a root clamps, and a naive walk on the host does not).
pub(crate) fn lexical_normalize(path: &Path) -> (PathBuf, bool) {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut climbed = false;
    for part in path.as_os_str().as_bytes().split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    climbed = true;
                }
            }
            name => parts.push(name),
        }
    }
    let mut out = Vec::with_capacity(path.as_os_str().len() + 1);
    for part in &parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    (PathBuf::from(OsStr::from_bytes(&out)), climbed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_normalize_clamps_and_reports_climbing() {
        let n = |p: &str| {
            let (path, climbed) = lexical_normalize(Path::new(p));
            (path.to_str().unwrap().to_owned(), climbed)
        };
        assert_eq!(n("/a/./b/../c"), ("/a/c".into(), false));
        assert_eq!(n("/a/../../etc"), ("/etc".into(), true));
        assert_eq!(n("a//b/"), ("/a/b".into(), false));
        assert_eq!(n("/.."), ("/".into(), true));
        assert_eq!(n(""), ("/".into(), false));
    }
}
