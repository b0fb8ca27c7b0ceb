//! An OCI runtime `config.json`'s hardening fields, read with the `oci-spec` crate.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::io::Read as _;
use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::HardenOptions;
use crate::error::{Error, Result};
use crate::fs::FileType;
use crate::root::{reopen_fd, SpecialFiles};

/// The hardening an OCI runtime config asks for: `linux.maskedPaths`, `linux.readonlyPaths` and
/// `linux.sysctl`.
#[derive(Debug, Default, Clone)]
pub struct OciHardening {
    /// `linux.maskedPaths`.
    pub masked: Vec<PathBuf>,
    /// `linux.readonlyPaths`.
    pub readonly: Vec<PathBuf>,
    /// `linux.sysctl`, sorted by name. [`super::harden`] does not apply these: they belong in
    /// the container's namespaces (see [`super::write_sysctl_in`]), and applied in the caller's
    /// they would change the host.
    pub sysctl: BTreeMap<String, String>,
}

impl OciHardening {
    /// Reads `config.json` at `path` (symlinks followed: the path is the caller's own).
    ///
    /// The file is opened `O_PATH` and must be a regular file before anything reads it: a FIFO
    /// would block the open forever, and opening a device node has side effects (a tape
    /// rewinds, a terminal becomes the controlling one). Anything else is `InvalidInput`
    /// (`EINVAL`) naming the type; it is then reopened through the hardened procfs
    /// ([`crate::root::reopen_fd`]), so a file swapped in after the check is never read.
    ///
    /// A file that is not a valid runtime spec is `InvalidInput` (`EINVAL`) with the parser's
    /// own message, position included ("invalid type: string \"/proc/kcore\", expected a
    /// sequence at line 3 column 31"), and the JSON key that precedes that position where there
    /// is one ("(field maskedPaths)"). A file that cannot be read keeps its errno.
    pub fn load(path: &Path) -> Result<OciHardening> {
        let spec = load_spec(path)?;
        let mut out = OciHardening::default();
        if let Some(linux) = spec.linux() {
            let paths = |list: &Option<Vec<String>>| {
                list.iter().flatten().map(PathBuf::from).collect::<Vec<_>>()
            };
            out.masked = paths(linux.masked_paths());
            out.readonly = paths(linux.readonly_paths());
            if let Some(sysctl) = linux.sysctl() {
                out.sysctl = sysctl.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            }
        }
        Ok(out)
    }

    /// Adds these masked and read-only paths to `opts`.
    pub fn apply_to(&self, opts: &mut HardenOptions) {
        opts.masked.extend(self.masked.iter().cloned());
        opts.readonly.extend(self.readonly.iter().cloned());
    }
}

/// The last JSON object key (`"name":`) that starts before `line`:`column` (1-based, as
/// serde_json counts: bytes within the line) in `text`: the field whose value the parser was
/// reading when it failed. `None` at line 0 (an I/O or EOF error without a position) or when
/// no key precedes. A heuristic for the message only: a `"...":` inside a string value could
/// be taken for a key.
fn field_before(text: &[u8], line: usize, column: usize) -> Option<String> {
    if line == 0 {
        return None;
    }
    let mut offset = 0;
    for (n, l) in text.split(|&b| b == b'\n').enumerate() {
        if n + 1 == line {
            offset += column.min(l.len());
            break;
        }
        offset += l.len() + 1;
    }
    let before = &text[..offset.min(text.len())];
    // Scan back for `"key"` followed by optional blanks and a colon.
    let mut end = before.len();
    while let Some(colon) = before[..end].iter().rposition(|&b| b == b':') {
        let head = before[..colon].trim_ascii_end();
        if let Some(stripped) = head.strip_suffix(b"\"") {
            if let Some(open) = stripped.iter().rposition(|&b| b == b'"') {
                let key = &stripped[open + 1..];
                if !key.contains(&b'\\') {
                    return std::str::from_utf8(key).ok().map(str::to_owned);
                }
            }
        }
        end = colon;
    }
    None
}

/// Reads the OCI runtime config at `path` as [`OciHardening::load`] describes (a regular file
/// only, reopened through the hardened procfs; a parse error names the position and field).
pub fn load_spec(path: &Path) -> Result<oci_spec::runtime::Spec> {
    let fail = |e: Error| e.context("read OCI config", path);
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| fail(Error::from(e)))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| fail(Error::from(e)))?;
    let kind = FileType::from_mode(st.st_mode);
    if kind != FileType::File {
        return Err(fail(Error::invalid_input(
            Errno::INVAL,
            format!(
                "an OCI runtime config must be a regular file, not a {}",
                kind.description()
            ),
        )));
    }
    let mut text = Vec::new();
    reopen_fd(fd.as_fd(), OFlags::RDONLY, SpecialFiles::Refuse)
        .and_then(|mut file| {
            file.read_to_end(&mut text)
                .map_err(|e| Error::from(Errno::from_io_error(&e).unwrap_or(Errno::IO)))
        })
        .map_err(fail)?;
    serde_json::from_slice(&text).map_err(|e| {
        let field = field_before(&text, e.line(), e.column())
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        fail(Error::invalid_input(
            Errno::INVAL,
            format!("not an OCI runtime config: {e}{field}"),
        ))
    })
}
