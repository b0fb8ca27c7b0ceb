//! What the unpack tests share: layers built entry by entry with the `tar` crate (names and
//! link targets written raw, so that an attacker's `..` gets into the archive), and the
//! unpacker under test, which is procroot's [`RootUnpackExt::apply_layer`] unless
//! `PROCROOT_NAIVE_UNPACK=1` selects [`naive_unpack`]: the string-joining unpacker every attack
//! test must catch (run the attack tests with it to see each fail).
//!
//! procroot reads a layer two ways, and every test runs both: as a stream
//! ([`RootUnpackExt::apply_layer`], in `unpack.rs` and `unpack_attacks.rs`) and from a regular
//! file, the data copied by the kernel ([`RootUnpackExt::apply_layer_file`], in `unpack_file.rs`
//! and `unpack_attacks_file.rs`, which are those same files compiled again): see [`reader`].

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use procroot::Root;
use procroot_runtime::unpack::{LayerOptions, LayerReport};
use procroot_runtime::RootUnpackExt;

/// A layer being built.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends an entry with `name` and `link` written byte for byte (the tar crate's setters
    /// refuse `..`, which is the point of these tests). Both at most 100 bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        (uid, gid): (u64, u64),
        data: &[u8],
        device: Option<(u32, u32)>,
    ) -> Layer {
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "name or link too long"
        );
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(1_600_000_000);
        header.set_size(data.len() as u64);
        if let Some((major, minor)) = device {
            header.set_device_major(major).expect("major");
            header.set_device_minor(minor).expect("minor");
        }
        {
            let old = header.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        header.set_cksum();
        self.builder.append(&header, data).expect("append");
        self
    }

    /// A directory.
    pub fn dir(self, name: &str, mode: u32) -> Layer {
        self.raw(
            tar::EntryType::Directory,
            name.as_bytes(),
            b"",
            mode,
            (0, 0),
            b"",
            None,
        )
    }

    /// A regular file owned by root.
    pub fn file(self, name: &str, data: &[u8], mode: u32) -> Layer {
        self.file_owned(name, data, mode, (0, 0))
    }

    /// A regular file with an owner.
    pub fn file_owned(self, name: &str, data: &[u8], mode: u32, owner: (u64, u64)) -> Layer {
        self.raw(
            tar::EntryType::Regular,
            name.as_bytes(),
            b"",
            mode,
            owner,
            data,
            None,
        )
    }

    /// A symlink, its target verbatim.
    pub fn symlink(self, name: &str, target: &str) -> Layer {
        self.raw(
            tar::EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            0o777,
            (0, 0),
            b"",
            None,
        )
    }

    /// A hard link to `target`, verbatim.
    pub fn hardlink(self, name: &str, target: &str) -> Layer {
        self.raw(
            tar::EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            0o644,
            (0, 0),
            b"",
            None,
        )
    }

    /// A FIFO.
    pub fn fifo(self, name: &str) -> Layer {
        self.raw(
            tar::EntryType::Fifo,
            name.as_bytes(),
            b"",
            0o640,
            (0, 0),
            b"",
            None,
        )
    }

    /// A device node.
    pub fn device(self, name: &str, block: bool, major: u32, minor: u32) -> Layer {
        let kind = if block {
            tar::EntryType::Block
        } else {
            tar::EntryType::Char
        };
        self.raw(
            kind,
            name.as_bytes(),
            b"",
            0o660,
            (0, 0),
            b"",
            Some((major, minor)),
        )
    }

    /// An empty regular file: what a whiteout is in a layer.
    pub fn whiteout(self, name: &str) -> Layer {
        self.file(name, b"", 0o644)
    }

    /// PAX records for the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.builder
            .append_pax_extensions(records.iter().copied())
            .expect("pax");
        self
    }

    /// The finished tar stream.
    pub fn bytes(self) -> Vec<u8> {
        self.builder.into_inner().expect("finish")
    }
}

/// How procroot's unpacker is handed a layer in this test binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// The bytes, as a reader: [`RootUnpackExt::apply_layer`].
    Stream,
    /// A temporary regular file holding them: [`RootUnpackExt::apply_layer_file`].
    File,
}

/// The reader of this test binary, by its name: the `*_file` binaries (`unpack_file`,
/// `unpack_attacks_file`) compile the stream tests again to run each through
/// [`Reader::File`]. A binary of another name is a stream one.
pub fn reader() -> Reader {
    let exe = std::env::current_exe().expect("current_exe");
    let name = exe.file_name().expect("a file name").to_string_lossy();
    // Cargo names a test binary `<target>-<hash>`.
    let target = name.rsplit_once('-').map_or(&*name, |(target, _)| target);
    if target.ends_with("_file") {
        Reader::File
    } else {
        Reader::Stream
    }
}

/// Applies `layer` to `root` with procroot's unpacker, read as [`reader`] says.
pub fn apply_bytes(
    root: &Root,
    layer: &[u8],
    opts: LayerOptions<'_>,
) -> procroot::Result<LayerReport> {
    match reader() {
        Reader::Stream => root.apply_layer(layer, opts),
        Reader::File => root.apply_layer_file(&layer_file(layer), opts),
    }
}

/// `layer` in a temporary regular file (already unlinked), its offset at the start.
pub fn layer_file(layer: &[u8]) -> std::fs::File {
    let mut file = tempfile::tempfile().expect("temporary layer file");
    file.write_all(layer).expect("write the layer");
    std::io::Seek::rewind(&mut file).expect("rewind");
    file
}

/// Whether the naive unpacker is selected (`PROCROOT_NAIVE_UNPACK=1`).
pub fn naive() -> bool {
    std::env::var_os("PROCROOT_NAIVE_UNPACK").is_some_and(|v| v == "1")
}

/// Applies `layer` to the directory `root` with the unpacker under test.
pub fn unpack(root: &Path, layer: &[u8], opts: LayerOptions<'_>) -> Result<LayerReport, String> {
    if naive() {
        return naive_unpack(root, layer, opts.same_owner)
            .map(|()| LayerReport::default())
            .map_err(|e| e.to_string());
    }
    let root = Root::open(root).map_err(|e| e.to_string())?;
    apply_bytes(&root, layer, opts).map_err(|e| e.to_string())
}

/// The unpacker of the CVEs: every name joined to the root's path as a string, the host's
/// path resolution doing the rest (following every symlink, `..` included).
pub fn naive_unpack(root: &Path, layer: &[u8], same_owner: bool) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path_bytes().into_owned();
        // Go's filepath.Join(root, name): the string joined, then cleaned lexically (`..`
        // takes back a component, the root's own ones too).
        let joined = |name: &[u8]| {
            let mut path = root.as_os_str().as_bytes().to_vec();
            path.push(b'/');
            path.extend_from_slice(name);
            let mut comps: Vec<&[u8]> = Vec::new();
            for comp in path.split(|&b| b == b'/') {
                match comp {
                    b"" | b"." => {}
                    b".." => {
                        comps.pop();
                    }
                    _ => comps.push(comp),
                }
            }
            let mut clean = Vec::new();
            for comp in comps {
                clean.push(b'/');
                clean.extend_from_slice(comp);
            }
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&clean))
        };
        let dst = joined(&name);
        let header = entry.header().clone();
        let mode = header.mode()?;
        let base = dst
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        if let Some(parent) = dst.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Some(target) = base.strip_prefix(b".wh.") {
            let dir = dst.parent().expect("parent");
            if target == b".wh..opq" {
                for child in std::fs::read_dir(dir)? {
                    let child = child?.path();
                    let _ =
                        std::fs::remove_dir_all(&child).or_else(|_| std::fs::remove_file(&child));
                }
            } else {
                let victim = dir.join(std::ffi::OsStr::from_bytes(target));
                let _ = std::fs::remove_dir_all(&victim).or_else(|_| std::fs::remove_file(&victim));
            }
            continue;
        }
        match header.entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&dst)?;
            }
            tar::EntryType::Regular => {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&dst)?;
                std::io::copy(&mut entry, &mut file)?;
                file.flush()?;
                if same_owner {
                    std::os::unix::fs::chown(
                        &dst,
                        Some(header.uid()? as u32),
                        Some(header.gid()? as u32),
                    )?;
                }
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                // What is in the way is removed, as umoci's RemoveAll did.
                let _ = std::fs::remove_file(&dst);
                let _ = std::fs::remove_dir_all(&dst);
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &dst)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                // An absolute target is taken as it is, as os.Link(hdr.Linkname, path) does.
                let from = if target.starts_with(b"/") {
                    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&target))
                } else {
                    joined(&target)
                };
                let _ = std::fs::remove_file(&dst);
                std::fs::hard_link(from, &dst)?;
            }
            tar::EntryType::Fifo | tar::EntryType::Char | tar::EntryType::Block => {
                let kind = match header.entry_type() {
                    tar::EntryType::Fifo => rustix::fs::FileType::Fifo,
                    tar::EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    _ => rustix::fs::FileType::BlockDevice,
                };
                let dev = rustix::fs::makedev(
                    header.device_major()?.unwrap_or(0),
                    header.device_minor()?.unwrap_or(0),
                );
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &dst,
                    kind,
                    rustix::fs::Mode::from_raw_mode(mode),
                    dev,
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}
