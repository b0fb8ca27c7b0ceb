//! Shared by the tests that use the installed C library: one staging install per test binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's top directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace")
}

/// The directory cargo built this test's profile into (`target/debug`), where
/// `libprocroot_capi.so` and `libprocroot_capi.a` are.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

/// Installs the built library with `make install-files` (the documented install) into the
/// staging prefix `target/<profile>/capi-stage` and returns it with a hash of what it holds;
/// PKG_CONFIG_PATH=<prefix>/lib/pkgconfig then finds it.
///
/// One fixed prefix: Go's build cache keys a cgo package by its sources and `CGO_*`
/// variables, not by what pkg-config answered, so a prefix that changed between runs would
/// leave cached packages linking against a directory that is gone. Test processes run in
/// parallel: the install happens under a lock, and only when the library or header differs from
/// what is staged (so nothing is rewritten under a process that is linking against it).
pub fn staged() -> &'static (PathBuf, u64) {
    static STAGED: OnceLock<(PathBuf, u64)> = OnceLock::new();
    STAGED.get_or_init(|| {
        let profile = profile_dir();
        let prefix = profile.join("capi-stage");
        let built = profile.join("deps/libprocroot_capi.so");
        let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/procroot.h");
        let lib = std::fs::read(&built)
            .unwrap_or_else(|e| panic!("{} was not built: {e}", built.display()));
        let head = std::fs::read(&header).expect("read include/procroot.h");
        // The pkg-config template too: a changed procroot.pc.in must be installed again.
        let pc_in = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("procroot.pc.in"))
            .expect("read procroot.pc.in");
        let lock = std::fs::File::create(profile.join("capi-stage.lock")).expect("lock file");
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
        let fresh = std::fs::read(prefix.join("lib/libprocroot.so.0.1.0")).ok()
            == Some(lib.clone())
            && std::fs::read(prefix.join("include/procroot.h")).ok() == Some(head.clone())
            && prefix.join("lib/pkgconfig/procroot.pc").exists()
            && std::fs::read(prefix.join("procroot.pc.in")).ok() == Some(pc_in.clone());
        if !fresh {
            let _ = std::fs::remove_dir_all(&prefix);
            let status = Command::new("make")
                .arg("-s")
                .arg("-C")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")))
                .arg("install-files")
                .arg(format!("PREFIX={}", prefix.display()))
                .arg(format!(
                    "TARGET_DIR={}",
                    profile.parent().expect("target").display()
                ))
                .arg(format!(
                    "PROFILE={}",
                    profile.file_name().expect("profile").to_string_lossy()
                ))
                .status()
                .expect("run make (is it installed?)");
            assert!(status.success(), "make install-files failed");
            std::fs::write(prefix.join("procroot.pc.in"), &pc_in).expect("stamp");
        }
        drop(lock);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&lib, &mut h);
        std::hash::Hash::hash(&head, &mut h);
        (prefix, std::hash::Hasher::finish(&h))
    })
}

/// The staging prefix (see [`staged`]).
pub fn staged_prefix() -> &'static Path {
    &staged().0
}

/// `pkg-config <args> procroot` against the staging prefix.
pub fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("procroot")
        .env("PKG_CONFIG_PATH", staged_prefix().join("lib/pkgconfig"))
        .output()
        .expect("run pkg-config (is it installed?)");
    assert!(
        out.status.success(),
        "pkg-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The environment a binding's test needs to find the staged library at build and run time.
pub fn binding_env(cmd: &mut Command) -> &mut Command {
    let (prefix, hash) = staged();
    // In CGO_CFLAGS, so that Go's build cache, which does not look at the installed header or
    // library, rebuilds the cgo package when they change.
    cmd.env("CGO_CFLAGS", format!("-g -O2 -DPROCROOT_STAGE_{hash:x}"))
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .env("PROCROOT_LIB", prefix.join("lib/libprocroot.so.0"))
        .env(
            "PROCROOT_RESOLVE_CASES",
            workspace().join("bindings/testdata/resolve_cases.txt"),
        )
}
