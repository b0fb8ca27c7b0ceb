//! `RootUnpackExt::apply_layer_file`: every test of `unpack.rs` again, each layer read from a
//! regular file (this binary's name makes `unpack_common::reader` pick that reader), and below,
//! what only the file reader does: the kernel copies the data (`copy_file_range`, else
//! `sendfile`, else `pread` and `write`), the layer starts at the file's offset and leaves it
//! after the end-of-archive block, and anything but a regular file is read as a stream.

#[path = "unpack.rs"]
mod stream_tests;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use procroot::Root;
use procroot_runtime::unpack::{LayerOptions, LayerReport};
use procroot_runtime::RootUnpackExt;
use procroot_testutil::{ForkedChild, TreeManifest};
use stream_tests::unpack_common::{layer_file, Layer};

/// The reader's buffer (`file_layer::BUFFER`): sizes around it are where the file reader
/// switches between writing from its buffer and copying in the kernel.
const BUFFER: usize = 32 * 1024;

/// Data that differs at every offset (a copy from the wrong place shows).
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Files of every size class, among directories, links and a sparse-free mix of entries.
fn mixed_layer() -> Vec<u8> {
    let sizes = [
        0,
        1,
        511,
        512,
        513,
        BUFFER - 1024,
        BUFFER - 1,
        BUFFER,
        BUFFER + 1,
        3 * BUFFER + 7,
        3 << 20,
    ];
    // The root's own entry: its times are the archive's, not the moment of the unpack.
    let mut layer = Layer::new().dir("./", 0o755).dir("d/", 0o755);
    for (i, &size) in sizes.iter().enumerate() {
        layer = layer
            .file(&format!("d/f{i}"), &data(size, i as u32), 0o644)
            .dir(&format!("d/s{i}/"), 0o750)
            .file(&format!("d/s{i}/g"), &data(size / 3, 100 + i as u32), 0o600);
    }
    layer
        .symlink("d/link", "f1")
        .hardlink("d/hard", "d/f9")
        .fifo("d/fifo")
        .bytes()
}

fn caller<'a>() -> LayerOptions<'a> {
    LayerOptions::default().with_same_owner(false)
}

/// Applies `layer` from a file in a forked child that first installs a seccomp filter making
/// each of `denied` (syscall, errno) fail; the child's exit code: 0 applied, 1 failed.
fn apply_in_child_denying(root: &Path, layer: &[u8], denied: &[(i64, i32)]) -> i32 {
    let file = layer_file(layer);
    let root = Root::open(root).expect("open root");
    ForkedChild::spawn(|| {
        for &(nr, errno) in denied {
            procroot_testutil::deny_syscalls(&[nr], errno);
        }
        match root.apply_layer_file(&file, caller()) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("apply_layer_file: {e}");
                1
            }
        }
    })
    .wait()
}

/// The three copiers of the fallback chain make the same tree as the stream reader: the kernel
/// copy, `sendfile` when `copy_file_range` is refused (`EXDEV`: another file system), and
/// `pread`/`write` when both are (`ENOSYS`, `EINVAL`).
#[test]
fn every_copier_of_the_chain_makes_the_tree_the_stream_makes() {
    let layer = mixed_layer();
    let tmp = tempfile::tempdir().expect("tmp");
    let by_stream = tmp.path().join("stream");
    std::fs::create_dir(&by_stream).unwrap();
    Root::open(&by_stream)
        .unwrap()
        .apply_layer(&layer[..], caller())
        .expect("stream");
    let want = TreeManifest::take(&by_stream, true);
    let cases: [(&str, &[(i64, i32)]); 3] = [
        ("copy_file_range", &[]),
        ("sendfile", &[(libc::SYS_copy_file_range, libc::EXDEV)]),
        (
            "pread and write",
            &[
                (libc::SYS_copy_file_range, libc::ENOSYS),
                (libc::SYS_sendfile, libc::EINVAL),
            ],
        ),
    ];
    for (copier, denied) in cases {
        let root = tmp.path().join(copier.replace(' ', "-"));
        std::fs::create_dir(&root).unwrap();
        assert_eq!(
            apply_in_child_denying(&root, &layer, denied),
            0,
            "{copier}: the layer did not apply"
        );
        let got = TreeManifest::take(&root, true);
        assert_eq!(got.differences(&want, 20), Vec::<String>::new(), "{copier}");
    }
}

/// A file larger than the buffer is never written by this process: with `write(2)` and its
/// kin refused, the layer (only such files) still applies, byte for byte.
#[test]
fn data_beyond_the_buffer_is_copied_by_the_kernel_not_written() {
    let files: Vec<Vec<u8>> = (0..4)
        .map(|i| data(BUFFER + 1 + i * 100_000, i as u32))
        .collect();
    let mut layer = Layer::new();
    for (i, content) in files.iter().enumerate() {
        layer = layer.file(&format!("big{i}"), content, 0o644);
    }
    let layer = layer.bytes();
    let tmp = tempfile::tempdir().expect("tmp");
    let writes = [
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_pwrite64,
        libc::SYS_pwritev,
        libc::SYS_pwritev2,
    ];
    let denied: Vec<(i64, i32)> = writes.iter().map(|&nr| (nr, libc::EPERM)).collect();
    assert_eq!(
        apply_in_child_denying(tmp.path(), &layer, &denied),
        0,
        "a write(2) was needed"
    );
    for (i, content) in files.iter().enumerate() {
        assert!(
            std::fs::read(tmp.path().join(format!("big{i}"))).unwrap() == *content,
            "big{i} differs"
        );
    }
}

/// Any other failure of the copy (here `EIO`) is the entry's error, named, with the file
/// removed; it is not taken for a refusal to fall back from.
#[test]
fn a_failed_copy_stops_the_layer_at_that_entry_and_leaves_no_file() {
    let layer = Layer::new()
        .file("small", b"fits in the buffer", 0o644)
        .file("large", &data(4 * BUFFER, 7), 0o644)
        .bytes();
    let tmp = tempfile::tempdir().expect("tmp");
    let file = layer_file(&layer);
    let root = Root::open(tmp.path()).unwrap();
    let (mut rx, tx) = rustix::pipe::pipe()
        .map(|(r, w)| (std::fs::File::from(r), w))
        .unwrap();
    let code = ForkedChild::spawn(|| {
        procroot_testutil::deny_syscalls(&[libc::SYS_copy_file_range], libc::EIO);
        let message = match root.apply_layer_file(&file, caller()) {
            Ok(_) => "applied".to_string(),
            Err(e) => e.to_string(),
        };
        let _ = rustix::io::write(&tx, message.as_bytes());
        0
    })
    .wait();
    assert_eq!(code, 0);
    drop(tx);
    let mut message = String::new();
    rx.read_to_string(&mut message).unwrap();
    assert!(
        message.contains("layer entry #2 (1 applied before it)"),
        "{message}"
    );
    assert!(message.contains("copy_file_range"), "{message}");
    assert_eq!(
        std::fs::read(tmp.path().join("small")).unwrap(),
        b"fits in the buffer"
    );
    assert!(
        !tmp.path().join("large").exists(),
        "the half-copied file is left"
    );
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "a temporary is left: {names:?}");
}

/// The layer is read from the file's offset (junk before it is not a header), and the offset
/// is left just after the end-of-archive block, where the next thing in the file starts.
#[test]
fn the_layer_starts_at_the_files_offset_and_leaves_it_after_the_archive() {
    let layer = Layer::new()
        .file("a", &data(BUFFER * 2, 1), 0o644)
        .file("b", b"bee", 0o644)
        .bytes();
    let junk = data(1000, 9);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&junk).unwrap();
    file.write_all(&layer).unwrap();
    file.write_all(b"what follows the layer").unwrap();
    file.seek(SeekFrom::Start(junk.len() as u64)).unwrap();
    let tmp = tempfile::tempdir().expect("tmp");
    let report: LayerReport = Root::open(tmp.path())
        .unwrap()
        .apply_layer_file(&file, caller())
        .expect("apply");
    assert_eq!(report.entries.files, 2);
    assert_eq!(
        std::fs::read(tmp.path().join("a")).unwrap(),
        data(BUFFER * 2, 1)
    );
    assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"bee");
    // The tar crate's stream ends with two zero blocks; the first one ends the archive.
    let after = file.stream_position().unwrap();
    assert_eq!(after, (junk.len() + layer.len() - 512) as u64);
}

/// A pipe is not a regular file: read as a stream, with the same result.
#[test]
fn a_pipe_is_read_as_a_stream() {
    let layer = mixed_layer();
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let writer = {
        let layer = layer.clone();
        std::thread::spawn(move || {
            let mut tx = std::fs::File::from(tx);
            tx.write_all(&layer).unwrap();
        })
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let (by_pipe, by_file) = (tmp.path().join("pipe"), tmp.path().join("file"));
    std::fs::create_dir(&by_pipe).unwrap();
    std::fs::create_dir(&by_file).unwrap();
    Root::open(&by_pipe)
        .unwrap()
        .apply_layer_file(&std::fs::File::from(rx), caller())
        .expect("pipe");
    writer.join().unwrap();
    Root::open(&by_file)
        .unwrap()
        .apply_layer_file(&layer_file(&layer), caller())
        .expect("file");
    let (a, b) = (
        TreeManifest::take(&by_pipe, true),
        TreeManifest::take(&by_file, true),
    );
    assert_eq!(a.differences(&b, 20), Vec::<String>::new());
    assert_eq!(
        std::fs::metadata(by_file.join("d/f10")).unwrap().size(),
        3 << 20
    );
}
