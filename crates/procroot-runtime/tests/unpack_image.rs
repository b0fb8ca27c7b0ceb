//! OCI image layouts (`procroot_runtime::unpack::image`): the layout directory is untrusted
//! input, so every file of it is opened beneath it (a symlinked blob never reads the host), every
//! blob is checked against its descriptor's size and digest as it is read, and the manifest is
//! chosen by reference with a clear error when that is ambiguous.

use std::io::Read;
use std::path::{Path, PathBuf};

use procroot::{Errno, ErrorKind};
use procroot_runtime::unpack::image::Layout;
use serde_json::{json, Value};
use sha2::Digest as _;

/// An OCI image layout written by hand in a temp directory.
struct LayoutBuilder {
    dir: tempfile::TempDir,
    manifests: Vec<Value>,
}

/// `sha256:<hex>` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl LayoutBuilder {
    fn new() -> LayoutBuilder {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion": "1.0.0"}"#,
        )
        .unwrap();
        LayoutBuilder {
            dir,
            manifests: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.path()
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// Writes `bytes` as a blob; its descriptor.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let d = digest(bytes);
        std::fs::write(self.blob_path(&d), bytes).unwrap();
        json!({"mediaType": media_type, "digest": d, "size": bytes.len()})
    }

    /// A manifest over `layers` (descriptors), written as a blob; its descriptor.
    fn manifest(&self, layers: &[Value]) -> Value {
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}"#,
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        });
        self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
    }

    /// Lists `descriptor` in index.json, named `reference` if given.
    fn index(&mut self, mut descriptor: Value, reference: Option<&str>) -> &mut Self {
        if let Some(r) = reference {
            descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": r});
        }
        self.manifests.push(descriptor);
        let index = json!({"schemaVersion": 2, "manifests": self.manifests});
        std::fs::write(self.path().join("index.json"), index.to_string()).unwrap();
        self
    }
}

fn one_manifest() -> (LayoutBuilder, Value) {
    let mut b = LayoutBuilder::new();
    let layer = b.blob("application/vnd.oci.image.layer.v1.tar", &[0u8; 1024]);
    let m = b.manifest(std::slice::from_ref(&layer));
    b.index(m.clone(), Some("latest"));
    (b, m)
}

#[test]
fn the_only_manifest_is_chosen_and_verified() {
    let (b, m) = one_manifest();
    let layout = Layout::open(b.path()).unwrap();
    let chosen = layout.manifest(None).unwrap();
    assert_eq!(chosen.digest, m["digest"].as_str().unwrap());
    assert_eq!(chosen.manifest.layers().len(), 1);
    let by_ref = layout.manifest(Some("latest")).unwrap();
    assert_eq!(by_ref.digest, chosen.digest);
    let by_digest = layout.manifest(Some(&chosen.digest)).unwrap();
    assert_eq!(by_digest.digest, chosen.digest);
    // The layer blob reads whole and checks out.
    let mut blob = layout.open_blob(&chosen.manifest.layers()[0]).unwrap();
    let mut bytes = Vec::new();
    blob.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len(), 1024);
    assert!(blob.mismatch().is_none());
}

#[test]
fn several_manifests_need_a_reference_and_the_error_lists_them() {
    let mut b = LayoutBuilder::new();
    let l1 = b.blob("application/vnd.oci.image.layer.v1.tar", &[1u8; 512]);
    let l2 = b.blob("application/vnd.oci.image.layer.v1.tar", &[2u8; 512]);
    let m1 = b.manifest(&[l1]);
    let m2 = b.manifest(&[l2]);
    b.index(m1.clone(), Some("v1"))
        .index(m2.clone(), Some("v2"));
    let layout = Layout::open(b.path()).unwrap();
    let err = layout.manifest(None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    assert!(text.contains("\"v1\"") && text.contains("\"v2\""), "{text}");
    assert!(text.contains("DIR:REF"), "{text}");
    assert_eq!(
        layout.manifest(Some("v2")).unwrap().digest,
        m2["digest"].as_str().unwrap()
    );
    let err = layout.manifest(Some("v3")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("no manifest named \"v3\"") && text.contains("\"v1\", \"v2\""),
        "{text}"
    );
}

#[test]
fn a_blob_symlinked_to_a_host_file_is_never_read() {
    // The attacker wrote the layout: the manifest's blob is a symlink to a host file whose
    // digest the attacker knows (it is a well-known file), so a reader that follows it would
    // hand the host file to the unpacker as if it were the image's.
    let (b, m) = one_manifest();
    let host = tempfile::tempdir().unwrap();
    let manifest_path = b.blob_path(m["digest"].as_str().unwrap());
    let bytes = std::fs::read(&manifest_path).unwrap();
    std::fs::write(host.path().join("secret"), &bytes).unwrap();
    for target in [
        host.path().join("secret"),
        PathBuf::from("../../..").join(host.path().strip_prefix("/").unwrap().join("secret")),
    ] {
        std::fs::remove_file(&manifest_path).unwrap();
        std::os::unix::fs::symlink(&target, &manifest_path).unwrap();
        let layout = Layout::open(b.path()).unwrap();
        let err = layout.manifest(None).unwrap_err();
        assert_eq!(err.errno(), Errno::XDEV, "{target:?}: {err}");
        assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
    }
    // A symlink that stays inside the layout is an ordinary way to share a blob.
    std::fs::remove_file(&manifest_path).unwrap();
    std::fs::write(b.path().join("shared"), &bytes).unwrap();
    std::os::unix::fs::symlink("../../shared", &manifest_path).unwrap();
    Layout::open(b.path()).unwrap().manifest(None).unwrap();
}

#[test]
fn a_symlinked_blobs_directory_or_index_is_refused() {
    let (b, _) = one_manifest();
    let host = tempfile::tempdir().unwrap();
    // index.json pointing at a host file.
    std::fs::rename(b.path().join("index.json"), host.path().join("index.json")).unwrap();
    std::os::unix::fs::symlink(host.path().join("index.json"), b.path().join("index.json"))
        .unwrap();
    let err = Layout::open(b.path()).unwrap().manifest(None).unwrap_err();
    assert_eq!(err.errno(), Errno::XDEV, "{err}");
    std::fs::remove_file(b.path().join("index.json")).unwrap();
    std::fs::rename(host.path().join("index.json"), b.path().join("index.json")).unwrap();
    // blobs/ itself a symlink to a host copy of the blobs.
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(b.path().join("blobs"))
        .arg(host.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(b.path().join("blobs")).unwrap();
    std::os::unix::fs::symlink(host.path().join("blobs"), b.path().join("blobs")).unwrap();
    let err = Layout::open(b.path()).unwrap().manifest(None).unwrap_err();
    assert_eq!(err.errno(), Errno::XDEV, "{err}");
}

#[test]
fn a_fifo_blob_is_refused_without_blocking() {
    let (b, m) = one_manifest();
    let manifest_path = b.blob_path(m["digest"].as_str().unwrap());
    std::fs::remove_file(&manifest_path).unwrap();
    procroot_testutil::mkfifo(&manifest_path);
    // Run with a deadline: a reader that opens the FIFO would block forever.
    let path = b.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = Layout::open(&path).unwrap().manifest(None).map(|_| ());
        let _ = tx.send(r);
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("reading a FIFO blob blocked");
    let err = r.unwrap_err();
    assert_eq!(err.errno(), Errno::NXIO, "{err}");
}

#[test]
fn a_blob_whose_digest_or_size_is_wrong_is_refused() {
    let (b, m) = one_manifest();
    let layout = Layout::open(b.path()).unwrap();
    let chosen = layout.manifest(None).unwrap();
    let layer = chosen.manifest.layers()[0].clone();
    let layer_path = b.blob_path(layer.digest().as_ref());
    let read_all = || {
        let mut blob = layout.open_blob(&layer).unwrap();
        let mut bytes = Vec::new();
        let r = blob.read_to_end(&mut bytes);
        (r.map_err(|e| blob.error(e)), bytes.len())
    };
    // One byte changed: the digest.
    let mut bytes = vec![0u8; 1024];
    bytes[1000] = 1;
    std::fs::write(&layer_path, &bytes).unwrap();
    let (r, _) = read_all();
    let err = r.unwrap_err();
    assert_eq!(err.errno(), Errno::BADMSG, "{err}");
    assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{err}");
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    // Longer: refused one byte past the size, never read to its end.
    std::fs::write(&layer_path, vec![0u8; 1 << 20]).unwrap();
    let (r, n) = read_all();
    let err = r.unwrap_err();
    assert!(
        err.to_string().contains("longer than the 1024 bytes"),
        "{err}"
    );
    assert!(n <= 1024, "{n} bytes handed on");
    // Shorter.
    std::fs::write(&layer_path, [0u8; 1000]).unwrap();
    let err = read_all().0.unwrap_err();
    assert!(
        err.to_string()
            .contains("1000 bytes, its descriptor says 1024"),
        "{err}"
    );
    // A corrupt manifest is found before it is parsed.
    let manifest_path = b.blob_path(m["digest"].as_str().unwrap());
    let mut text = std::fs::read(&manifest_path).unwrap();
    let at = text.len() - 3;
    text[at] = b' ';
    std::fs::write(&manifest_path, &text).unwrap();
    let err = layout.manifest(None).unwrap_err();
    assert_eq!(err.errno(), Errno::BADMSG, "{err}");
}

#[test]
fn a_huge_json_descriptor_is_refused_before_reading() {
    let mut b = LayoutBuilder::new();
    let mut m = b.blob("application/vnd.oci.image.manifest.v1+json", b"{}");
    m["size"] = json!(1u64 << 40);
    b.index(m, None);
    let err = Layout::open(b.path()).unwrap().manifest(None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("more than the"), "{err}");
}

#[test]
fn a_layout_without_oci_layout_or_of_another_version_is_refused() {
    let (b, _) = one_manifest();
    std::fs::write(
        b.path().join("oci-layout"),
        br#"{"imageLayoutVersion": "2.0.0"}"#,
    )
    .unwrap();
    let err = Layout::open(b.path()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    std::fs::remove_file(b.path().join("oci-layout")).unwrap();
    let err = Layout::open(b.path()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// A layout with three plain-tar layers (their bytes are 1024 bytes of `i`); the layout and the
/// layers' descriptors.
fn three_layers() -> (LayoutBuilder, Vec<Value>) {
    let mut b = LayoutBuilder::new();
    let layers: Vec<Value> = (1u8..=3)
        .map(|i| b.blob("application/vnd.oci.image.layer.v1.tar", &[i; 1024]))
        .collect();
    let m = b.manifest(&layers);
    b.index(m, None);
    (b, layers)
}

/// Runs `for_each_layer`, reading each layer whole; which layers were read, and the result.
fn read_layers(path: &Path) -> (Vec<usize>, procroot::Result<Vec<u8>>) {
    let layout = Layout::open(path).unwrap();
    let chosen = layout.manifest(None).unwrap();
    let mut seen = Vec::new();
    let r = layout.for_each_layer(&chosen, |i, _, reader| {
        seen.push(i);
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| procroot::Error::from_errno(Errno::IO).context(e.to_string(), path))?;
        Ok(bytes[0])
    });
    (seen, r)
}

#[test]
fn layers_are_streamed_in_order_and_a_corrupt_one_stops_the_rest() {
    let (b, layers) = three_layers();
    let (seen, r) = read_layers(b.path());
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(r.unwrap(), [1, 2, 3]);
    // The second layer's last byte changed: it is read (its entries applied) up to its end,
    // where the digest fails; the third is never opened.
    let second = b.blob_path(layers[1]["digest"].as_str().unwrap());
    let mut bytes = [2u8; 1024];
    bytes[1023] = 0;
    std::fs::write(&second, bytes).unwrap();
    let (seen, r) = read_layers(b.path());
    assert_eq!(seen, [0, 1]);
    let err = r.unwrap_err();
    assert_eq!(err.errno(), Errno::BADMSG, "{err}");
    let text = err.to_string();
    assert!(text.contains("layer 2 of 3"), "{text}");
    assert!(text.contains("no later layer was"), "{text}");
}

#[test]
fn a_layer_the_consumer_stops_reading_early_is_still_verified_to_its_end() {
    // A tar reader stops at the end-of-archive blocks and a gzip reader may leave the trailer:
    // the bytes after that point still count.
    let (b, layers) = three_layers();
    let last = b.blob_path(layers[2]["digest"].as_str().unwrap());
    let mut bytes = [3u8; 1024];
    bytes[1023] = 0;
    std::fs::write(&last, bytes).unwrap();
    let layout = Layout::open(b.path()).unwrap();
    let chosen = layout.manifest(None).unwrap();
    let err = layout
        .for_each_layer(&chosen, |_, _, reader| {
            let mut first = [0u8; 16];
            reader.read_exact(&mut first).unwrap();
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.errno(), Errno::BADMSG, "{err}");
    assert!(err.to_string().contains("layer 3 of 3"), "{err}");
}

#[test]
fn unknown_layer_media_types_and_misnamed_compression_are_refused_before_applying() {
    let mut b = LayoutBuilder::new();
    let odd = b.blob("application/vnd.example.layer.v1.squashfs", &[7u8; 64]);
    let m = b.manifest(&[odd]);
    b.index(m, None);
    let (seen, r) = read_layers(b.path());
    assert!(seen.is_empty());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert!(
        err.to_string()
            .contains("application/vnd.example.layer.v1.squashfs"),
        "{err}"
    );
    // gzip bytes announced as a plain tar.
    let mut b = LayoutBuilder::new();
    let gz = b.blob(
        "application/vnd.oci.image.layer.v1.tar",
        &[0x1f, 0x8b, 8, 0, 0, 0],
    );
    let m = b.manifest(&[gz]);
    b.index(m, None);
    let (seen, r) = read_layers(b.path());
    assert!(seen.is_empty());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        err.to_string().contains("do not fit its media type"),
        "{err}"
    );
}
