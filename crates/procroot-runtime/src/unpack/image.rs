//! OCI image layouts: `oci-layout`, `index.json`, a manifest, and its layers applied in order
//! ([`RootUnpackExt::apply_image`](super::RootUnpackExt::apply_image)).
//!
//! The layout directory is untrusted input, as the layers are: whoever wrote the image chose its
//! names, its symlinks and its file types. So it is opened as a [`Root`] with
//! [`Policy::Beneath`]: a blob name that is a symlink to `/etc/shadow` or `../../x` is refused
//! (`EXDEV`), never read from the host, and a FIFO or device node planted as a blob is refused
//! with `ENXIO` instead of blocking or reading a disk ([`Root::open_file`]). Blob names are built
//! from digests the `oci-spec` crate has already checked to be lowercase hexadecimal of the
//! algorithm's length, so a digest cannot name a path either.
//!
//! Every blob (index, manifest, config, layer) is checked against its descriptor as it is read
//! ([`BlobReader`]): never more bytes than the descriptor's size, and the digest compared when
//! the last byte has been read. There is no separate checking pass: a layer is hashed while it is
//! unpacked. A layer whose digest or size turns out wrong is therefore detected at its end, after
//! its entries were applied: the error says so, and no later layer is applied. JSON blobs are
//! read whole (at most [`JSON_LIMIT`] bytes) and verified before they are parsed.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Arch, Descriptor, Digest, DigestAlgorithm, ImageIndex, ImageManifest, MediaType, OciLayout, Os,
};
use rustix::fs::OFlags;
use rustix::io::Errno;
use sha2::Digest as _;

use super::{LayerOptions, LayerReport, UnpackProgressFn};
use crate::error::{Error, ErrorKind, Result};
use crate::{Policy, Root};

/// The most a JSON document of the layout (`oci-layout`, `index.json`, a manifest, an index,
/// a config) may weigh: 4 MiB, containerd's limit for manifests. A layout that points a manifest
/// descriptor at a multi-gigabyte blob must not make us read it into memory.
pub const JSON_LIMIT: u64 = 4 << 20;

/// How deep image indexes may nest (`index.json` → an index → a manifest is depth 2).
const INDEX_DEPTH: usize = 4;

/// The annotation that names a manifest in `index.json` (`DIR:REF` on the command line).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The compression a layer's media type announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerMediaType {
    /// A plain tar stream.
    Tar,
    /// gzip-compressed tar.
    Gzip,
    /// zstd-compressed tar.
    Zstd,
}

impl LayerMediaType {
    /// The layer compression `media_type` names, or `None` for a media type that is not a
    /// layer procroot can apply (an unknown type, or a foreign layer whose blob lives elsewhere).
    pub fn from_media_type(media_type: &str) -> Option<LayerMediaType> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
                Some(LayerMediaType::Tar)
            }
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(LayerMediaType::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(LayerMediaType::Zstd),
            _ => None,
        }
    }

    /// Whether `head`, the first bytes of a blob, fit this media type: gzip's `1f 8b`, zstd's
    /// `28 b5 2f fd`, and for a plain tar neither of those.
    fn matches(self, head: &[u8]) -> bool {
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let zstd = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        match self {
            LayerMediaType::Tar => !gzip && !zstd,
            LayerMediaType::Gzip => gzip,
            LayerMediaType::Zstd => zstd,
        }
    }
}

/// An OCI image layout opened for reading: its directory as a [`Root`] with
/// [`Policy::Beneath`], its `oci-layout` checked.
pub struct Layout {
    dir: Root,
}

/// The manifest [`Layout::manifest`] chose, with the layers it lists.
#[derive(Debug)]
pub struct ChosenManifest {
    /// The manifest's digest (`sha256:…`).
    pub digest: String,
    /// The reference it was chosen by, if any.
    pub reference: Option<String>,
    /// The manifest itself (verified against its digest before it was parsed).
    pub manifest: ImageManifest,
}

impl Layout {
    /// Opens the layout at `dir` and checks its `oci-layout` file (`imageLayoutVersion` 1.x).
    pub fn open(dir: impl AsRef<Path>) -> Result<Layout> {
        let path = dir.as_ref();
        let dir = Root::open(path)?.with_policy(Policy::Beneath);
        let layout = Layout { dir };
        let bytes = layout.read_limited(Path::new("oci-layout"))?;
        let header = OciLayout::from_reader(&bytes[..]).map_err(|e| layout.bad("oci-layout", e))?;
        let version = header.image_layout_version();
        if version.split('.').next() != Some("1") {
            return Err(layout.invalid(
                "oci-layout",
                format!("imageLayoutVersion {version:?} is not 1.x"),
            ));
        }
        Ok(layout)
    }

    /// The layout directory, as given.
    pub fn path(&self) -> &Path {
        self.dir.display_name()
    }

    /// Chooses the manifest `reference` names in `index.json`: by its
    /// `org.opencontainers.image.ref.name` annotation, or by its digest (`sha256:…`). Without a
    /// reference, the index must list exactly one manifest. Several candidates (a
    /// multi-platform image, or one name on two manifests) are narrowed to this machine's
    /// platform (`linux` and its architecture); an ambiguous choice is an error that lists the
    /// references there are. A candidate that is itself an image index is descended into, by
    /// platform, at most 4 deep.
    pub fn manifest(&self, reference: Option<&str>) -> Result<ChosenManifest> {
        let bytes = self.read_limited(Path::new("index.json"))?;
        let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| self.bad("index.json", e))?;
        let candidates: Vec<&Descriptor> = match reference {
            None => index.manifests().iter().collect(),
            Some(r) => index
                .manifests()
                .iter()
                .filter(|d| ref_name(d) == Some(r) || d.digest().as_ref() == r)
                .collect(),
        };
        if candidates.is_empty() {
            let what = match reference {
                Some(r) => format!("no manifest named {r:?}"),
                None => "no manifest".to_owned(),
            };
            return Err(Error::with_detail(
                ErrorKind::NotFound,
                Errno::NOENT,
                format!("{what} in index.json; {}", list_refs(index.manifests())),
            )
            .context("read image index", &self.path().join("index.json")));
        }
        let mut descriptor = self.pick(&candidates, "index.json", reference)?.clone();
        for _ in 0..INDEX_DEPTH {
            if !is_index(descriptor.media_type()) {
                break;
            }
            let bytes = self.read_json_blob(&descriptor)?;
            let name = blob_name(descriptor.digest());
            let nested =
                ImageIndex::from_reader(&bytes[..]).map_err(|e| self.bad_path(&name, e))?;
            let all: Vec<&Descriptor> = nested.manifests().iter().collect();
            if all.is_empty() {
                return Err(self.invalid_path(&name, "an image index with no manifest".into()));
            }
            descriptor = self.pick(&all, &name.to_string_lossy(), reference)?.clone();
        }
        if !is_manifest(descriptor.media_type()) {
            return Err(self.invalid(
                "index.json",
                format!(
                    "{} is a {}, not an image manifest",
                    descriptor.digest(),
                    descriptor.media_type()
                ),
            ));
        }
        let bytes = self.read_json_blob(&descriptor)?;
        let manifest = ImageManifest::from_reader(&bytes[..])
            .map_err(|e| self.bad_path(&blob_name(descriptor.digest()), e))?;
        // The config is not used to unpack, but it is part of the image: a missing or corrupt
        // one means a broken image, found before any layer is applied.
        self.read_json_blob(manifest.config())?;
        Ok(ChosenManifest {
            digest: descriptor.digest().to_string(),
            reference: reference.map(str::to_owned),
            manifest,
        })
    }

    /// Streams each layer of `chosen`, in order, to `apply` (its index, its descriptor, and the
    /// blob as a verifying reader), and returns what `apply` returned for each.
    ///
    /// Before a layer is handed on, its media type is checked (tar, tar+gzip, tar+zstd, OCI or
    /// Docker names; anything else is `NotSupported`, naming it) and its first bytes must fit it.
    /// After `apply` returns, the rest of the blob is read, so that the size and digest cover
    /// every byte. The first failure stops: no later layer is read. A size or digest mismatch
    /// is the error (`EBADMSG`) whatever `apply` made of the failed read; as it can only be
    /// known at the end of the blob, the error says that the entries of that layer were
    /// applied up to that point.
    pub fn for_each_layer<T>(
        &self,
        chosen: &ChosenManifest,
        mut apply: impl FnMut(usize, &Descriptor, &mut (dyn Read + Send)) -> Result<T>,
    ) -> Result<Vec<T>> {
        let layers = chosen.manifest.layers();
        let mut out = Vec::with_capacity(layers.len());
        for (i, descriptor) in layers.iter().enumerate() {
            let which = format!(
                "layer {} of {} ({})",
                i + 1,
                layers.len(),
                descriptor.digest()
            );
            let path = self.path().join(blob_name(descriptor.digest()));
            let mut blob = self.open_blob(descriptor)?;
            let head = read_head(&mut blob)?;
            check_layer(self, descriptor, &head)?;
            let mut reader = io::Cursor::new(head).chain(&mut blob);
            let applied = apply(i, descriptor, &mut reader);
            let finished = match &applied {
                Ok(_) => blob.finish(),
                Err(_) => Ok(()),
            };
            if let Some(why) = blob.mismatch() {
                return Err(Error::with_detail(
                    ErrorKind::SafetyViolation,
                    Errno::BADMSG,
                    format!(
                        "{why}; found at the end of the blob: the entries of this layer before \
                         that point were applied, no later layer was"
                    ),
                )
                .context("verify image layer", &path)
                .within(which, self.path()));
            }
            finished?;
            out.push(applied.map_err(|e| e.within(which, self.path()))?);
        }
        Ok(out)
    }

    /// One of `candidates`: the only one, else the only one for this machine's platform.
    fn pick<'d>(
        &self,
        candidates: &[&'d Descriptor],
        what: &str,
        reference: Option<&str>,
    ) -> Result<&'d Descriptor> {
        if let [only] = candidates {
            return Ok(only);
        }
        let ours: Vec<&&Descriptor> = candidates
            .iter()
            .filter(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == Arch::default())
            })
            .collect();
        if let [only] = ours[..] {
            return Ok(only);
        }
        let named = match reference {
            Some(r) => format!("{r:?} names {} manifests", candidates.len()),
            None => format!("{} lists {} manifests", what, candidates.len()),
        };
        let owned: Vec<Descriptor> = candidates.iter().map(|d| (*d).clone()).collect();
        Err(Error::invalid_input(
            Errno::INVAL,
            format!(
                "{named} and {} of them for this platform (linux/{}): choose one with DIR:REF; {}",
                ours.len(),
                Arch::default(),
                list_refs(&owned)
            ),
        )
        .context("choose image manifest", &self.path().join(what)))
    }

    /// Opens the blob `descriptor` names, as a reader that checks its size and digest.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<BlobReader> {
        let name = blob_name(descriptor.digest());
        let hasher = Hasher::new(descriptor.digest().algorithm()).ok_or_else(|| {
            Error::with_detail(
                ErrorKind::NotSupported,
                Errno::NOTSUP,
                format!(
                    "digest algorithm {} is not supported",
                    descriptor.digest().algorithm()
                ),
            )
            .context("open image blob", &self.path().join(&name))
        })?;
        let file = self
            .dir
            .open_file(&name, OFlags::RDONLY | OFlags::CLOEXEC)?;
        Ok(BlobReader {
            file,
            hasher: Some(hasher),
            expected: descriptor.digest().clone(),
            size: descriptor.size(),
            read: 0,
            path: self.path().join(name),
            failure: None,
        })
    }

    /// Reads a JSON blob whole and verifies it before returning it.
    fn read_json_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let name = blob_name(descriptor.digest());
        if descriptor.size() > JSON_LIMIT {
            return Err(self.invalid_path(
                &name,
                format!(
                    "its descriptor says {} bytes, more than the {JSON_LIMIT} a {} may have",
                    descriptor.size(),
                    descriptor.media_type()
                ),
            ));
        }
        let mut blob = self.open_blob(descriptor)?;
        let mut bytes = Vec::with_capacity(descriptor.size() as usize);
        match blob.read_to_end(&mut bytes) {
            Ok(_) => Ok(bytes),
            Err(e) => Err(blob.error(e)),
        }
    }

    /// Reads a small file of the layout (`oci-layout`, `index.json`) whole, at most
    /// [`JSON_LIMIT`] bytes.
    fn read_limited(&self, name: &Path) -> Result<Vec<u8>> {
        let file = self.dir.open_file(name, OFlags::RDONLY | OFlags::CLOEXEC)?;
        let mut bytes = Vec::new();
        let path = self.path().join(name);
        file.take(JSON_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(e, "read", &path))?;
        if bytes.len() as u64 > JSON_LIMIT {
            return Err(self.invalid_path(name, format!("larger than {JSON_LIMIT} bytes")));
        }
        Ok(bytes)
    }

    fn bad(&self, name: &str, err: oci_spec::OciSpecError) -> Error {
        self.bad_path(Path::new(name), err)
    }

    fn bad_path(&self, name: &Path, err: oci_spec::OciSpecError) -> Error {
        self.invalid_path(name, format!("not valid: {err}"))
    }

    fn invalid(&self, name: &str, detail: String) -> Error {
        self.invalid_path(Path::new(name), detail)
    }

    fn invalid_path(&self, name: &Path, detail: String) -> Error {
        Error::invalid_input(Errno::INVAL, detail)
            .context("read image layout", &self.path().join(name))
    }
}

/// The references `descriptors` carry, for an error message: `refs: "latest", "v2"` or
/// `digests: sha256:…` when none is named.
fn list_refs(descriptors: &[Descriptor]) -> String {
    let refs: Vec<&str> = descriptors.iter().filter_map(ref_name).collect();
    let mut out = String::new();
    if refs.is_empty() {
        out.push_str("no manifest has a ref name; digests:");
        for d in descriptors {
            let _ = write!(out, " {}", d.digest());
        }
    } else {
        out.push_str("refs:");
        for (i, r) in refs.iter().enumerate() {
            let _ = write!(out, "{}{r:?}", if i == 0 { " " } else { ", " });
        }
    }
    out
}

/// The `org.opencontainers.image.ref.name` annotation of `d`.
fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()?
        .get(REF_NAME_ANNOTATION)
        .map(String::as_str)
}

fn is_index(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex)
        || media_type.to_string() == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn is_manifest(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageManifest)
        || media_type.to_string() == "application/vnd.docker.distribution.manifest.v2+json"
}

/// `blobs/<algorithm>/<hex>`: the digest was parsed by `oci-spec`, which accepts only
/// lowercase hexadecimal of the right length for sha256/384/512 and `[a-z0-9]` algorithm names,
/// so no digest has a `/` or `..` in it (and the open is beneath the layout anyway).
fn blob_name(digest: &Digest) -> PathBuf {
    Path::new("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest())
}

/// The hash functions a digest may use.
enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: &DigestAlgorithm) -> Option<Hasher> {
        Some(match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            _ => return None,
        })
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest's value as `oci-spec` prints it: lowercase hexadecimal.
    fn finish_hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

/// A blob being read: it hashes what it reads, refuses to read past the descriptor's size, and
/// at end of file compares the size and the digest. A mismatch is a read error (`EBADMSG`, kind
/// [`ErrorKind::SafetyViolation`]), so whatever consumes the stream stops there; the reason is
/// kept for [`BlobReader::error`].
pub struct BlobReader {
    file: File,
    /// `None` once the end was reached and checked.
    hasher: Option<Hasher>,
    expected: Digest,
    size: u64,
    read: u64,
    path: PathBuf,
    /// Why the blob was refused, once it was.
    failure: Option<String>,
}

impl BlobReader {
    /// Reads to the end of the blob (what the consumer left, such as the padding after a tar's
    /// end-of-archive blocks or a compressed stream's trailer), so that the size and digest are
    /// checked over all of it.
    pub fn finish(&mut self) -> Result<()> {
        match io::copy(self, &mut io::sink()) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Whether the blob was found not to match its descriptor.
    pub fn mismatch(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The error to report for a failed read of this blob: the mismatch when there was one
    /// (whatever error the consumer made of it), else `err`.
    pub fn error(&self, err: io::Error) -> Error {
        match &self.failure {
            Some(why) => Error::with_detail(ErrorKind::SafetyViolation, Errno::BADMSG, why.clone())
                .context("verify image blob", &self.path),
            None => io_error(err, "read", &self.path),
        }
    }

    /// The blob's path (in the layout directory as given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn refuse(&mut self, why: String) -> io::Error {
        self.failure = Some(why.clone());
        self.hasher = None;
        io::Error::new(io::ErrorKind::InvalidData, why)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(why) = &self.failure {
            return Err(io::Error::new(io::ErrorKind::InvalidData, why.clone()));
        }
        if self.hasher.is_none() || buf.is_empty() {
            return Ok(0);
        }
        // Never more than one byte past the announced size: enough to tell that the blob is
        // longer than its descriptor, without reading (or hashing) a huge file to find out.
        let room = self.size - self.read + 1;
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            if self.read != self.size {
                return Err(self.refuse(format!(
                    "the blob has {} bytes, its descriptor says {}",
                    self.read, self.size
                )));
            }
            let Some(hasher) = self.hasher.take() else {
                return Ok(0);
            };
            let actual = hasher.finish_hex();
            if actual != self.expected.digest() {
                return Err(self.refuse(format!(
                    "digest mismatch: the descriptor says {}, the blob is {}:{actual}",
                    self.expected,
                    self.expected.algorithm()
                )));
            }
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.size {
            return Err(self.refuse(format!(
                "the blob is longer than the {} bytes its descriptor says",
                self.size
            )));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// A failed read of a layout file, with the errno when it had one.
fn io_error(err: io::Error, op: &'static str, path: &Path) -> Error {
    let errno = err
        .raw_os_error()
        .map_or(Errno::IO, Errno::from_raw_os_error);
    Error::with_detail(ErrorKind::Os, errno, err.to_string()).context(op, path)
}

/// The first bytes of a layer (up to 4, fewer for a shorter blob), read so that its
/// compression can be checked against its media type before anything is applied.
fn read_head(blob: &mut BlobReader) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(4);
    match blob.by_ref().take(4).read_to_end(&mut head) {
        Ok(_) => Ok(head),
        Err(e) => Err(blob.error(e)),
    }
}

/// Checks that the layer `descriptor` names is one procroot can apply, and that its first bytes
/// fit its media type (`head`). A gzip blob announced as plain tar is refused rather than
/// guessed at.
fn check_layer(layout: &Layout, descriptor: &Descriptor, head: &[u8]) -> Result<LayerMediaType> {
    let media_type = descriptor.media_type().to_string();
    let path = layout.path().join(blob_name(descriptor.digest()));
    let kind = LayerMediaType::from_media_type(&media_type).ok_or_else(|| {
        Error::with_detail(
            ErrorKind::NotSupported,
            Errno::NOTSUP,
            format!(
                "layer media type {media_type:?} is not supported (tar, tar+gzip and tar+zstd are)"
            ),
        )
        .context("unpack image layer", &path)
    })?;
    if !kind.matches(head) {
        return Err(Error::invalid_input(
            Errno::INVAL,
            format!("the blob's first bytes do not fit its media type {media_type:?}"),
        )
        .context("unpack image layer", &path));
    }
    Ok(kind)
}

/// What [`RootUnpackExt::apply_image`](super::RootUnpackExt::apply_image) did.
#[derive(Clone, Debug)]
pub struct ImageReport {
    /// The manifest applied (`sha256:…`).
    pub manifest: String,
    /// The reference it was chosen by, if one was given.
    pub reference: Option<String>,
    /// Each layer, in the order applied.
    pub layers: Vec<ImageLayerReport>,
}

/// One layer of an [`ImageReport`].
#[derive(Clone, Debug)]
pub struct ImageLayerReport {
    /// The layer blob's digest, verified.
    pub digest: String,
    /// Its media type, as the manifest gives it.
    pub media_type: String,
    /// Its size in bytes, verified.
    pub size: u64,
    /// What applying it did.
    pub report: LayerReport,
}

/// [`RootUnpackExt::apply_image`](super::RootUnpackExt::apply_image).
pub(crate) fn apply_image(
    root: &Root,
    layout_dir: &Path,
    reference: Option<&str>,
    mut opts: LayerOptions<'_>,
) -> Result<ImageReport> {
    let layout = Layout::open(layout_dir).map_err(|e| e.within("open image layout", layout_dir))?;
    let chosen = layout.manifest(reference)?;
    let layers = layout.for_each_layer(&chosen, |_, descriptor, reader| {
        // The caller's options for every layer, the progress hook reborrowed for each.
        let progress: Option<&mut UnpackProgressFn<'_>> = match &mut opts.progress {
            Some(hook) => Some(&mut **hook),
            None => None,
        };
        let layer_opts = LayerOptions {
            same_owner: opts.same_owner,
            special_files: opts.special_files,
            no_dirlinks: opts.no_dirlinks,
            overwrite_dirs: opts.overwrite_dirs,
            progress,
            umask: opts.umask,
        };
        let report = super::apply_layer_threaded(root, reader, layer_opts)?;
        Ok(ImageLayerReport {
            digest: descriptor.digest().to_string(),
            media_type: descriptor.media_type().to_string(),
            size: descriptor.size(),
            report,
        })
    })?;
    Ok(ImageReport {
        manifest: chosen.digest,
        reference: chosen.reference,
        layers,
    })
}
