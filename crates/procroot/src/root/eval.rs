//! Resolving every component but the last: [`Root::resolve_except_last`], what
//! [`Root::eval_symlinks`] with [`EvalMode::ExceptLast`](super::EvalMode::ExceptLast) computes,
//! with the parts a caller may want to show (the last component's own type, the backend).

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::{Handle, Root};
use crate::error::Result;
use crate::fs::FileType;
use crate::resolve::BackendUsed;

/// A path resolved except for its last component ([`Root::resolve_except_last`]): the
/// directory the other components lead to, held as a [`Handle`], and the last component,
/// neither followed nor required to exist (procfsroot's `EvalExceptLast`).
///
/// Everything it reports about the last component is looked up in that held directory, so it
/// cannot be about an entry of another directory that a concurrent rename put at the path.
#[derive(Debug)]
pub struct ExceptLast {
    parent: Handle,
    last: Option<OsString>,
}

impl ExceptLast {
    /// The directory every component but the last resolved to. When the path ended in `.`,
    /// `..` or slashes there is no last component, and this is what the whole path names.
    pub fn parent(&self) -> &Handle {
        &self.parent
    }

    /// The last component as given (never looked up to find it), or `None` when the path
    /// ended in `.`, `..` or slashes.
    pub fn last(&self) -> Option<&OsStr> {
        self.last.as_deref()
    }

    /// The absolute path inside the root: the parent's path joined with the last component
    /// (what [`Root::eval_symlinks`] answers with
    /// [`EvalMode::ExceptLast`](super::EvalMode::ExceptLast)).
    pub fn path_in_root(&self) -> Result<PathBuf> {
        let parent = self.parent.path_in_root()?;
        Ok(match &self.last {
            Some(name) => parent.join(name),
            None => parent.to_path_buf(),
        })
    }

    /// The last component's own type (a symlink is `Symlink`, not followed), looked up in the
    /// held parent directory; `None` when it does not exist. Without a last component, the type
    /// of what the whole path names.
    pub fn file_type(&self) -> Result<Option<FileType>> {
        match &self.last {
            Some(name) => self.parent.entry_type(name),
            None => self.parent.file_type().map(Some),
        }
    }

    /// Which resolver backend resolved the parent.
    pub fn backend(&self) -> BackendUsed {
        self.parent.backend()
    }
}

impl Root {
    /// Resolves every component of `path` but the last ([`Root::resolve_parent`]); the last one
    /// is neither followed nor required to exist. See [`ExceptLast`] for what can be asked of
    /// the result; [`Root::eval_symlinks`] with
    /// [`EvalMode::ExceptLast`](super::EvalMode::ExceptLast) is its
    /// [`path_in_root`](ExceptLast::path_in_root).
    ///
    /// An empty `path` means the root (`.`), as in [`Root::eval_symlinks`].
    pub fn resolve_except_last(&self, path: impl AsRef<Path>) -> Result<ExceptLast> {
        let path = path.as_ref();
        // `.`, not `/`: under Policy::Beneath an absolute path is an escape.
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        let (parent, last) = self.resolve_parent(path)?;
        Ok(ExceptLast { parent, last })
    }
}
