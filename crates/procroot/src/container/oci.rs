//! An OCI runtime `config.json`'s hardening fields, read with the `oci-spec` crate.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::HardenOptions;
use crate::error::{Error, Result};

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
    /// Reads `config.json` at `path`. A file that is not a valid runtime spec is `InvalidInput`
    /// (`EINVAL`) with the parser's message; a file that cannot be read keeps its errno.
    pub fn load(path: &Path) -> Result<OciHardening> {
        let spec = oci_spec::runtime::Spec::load(path).map_err(|e| {
            let err = match &e {
                oci_spec::OciSpecError::Io(io) => {
                    Error::from(Errno::from_io_error(io).unwrap_or(Errno::IO))
                }
                other => Error::invalid_input(
                    Errno::INVAL,
                    format!("not an OCI runtime config: {other}"),
                ),
            };
            err.context("read OCI config", path)
        })?;
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
