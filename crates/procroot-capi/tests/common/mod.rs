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
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

/// Installs the built library with `make install-files` (the documented install) into a
/// staging prefix under target/ and returns the prefix; PKG_CONFIG_PATH=<prefix>/lib/pkgconfig
/// then finds it.
pub fn staged_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let profile = profile_dir();
        // Stages of test processes that are gone are removed, so that target/ does not
        // collect one per run.
        if let Ok(entries) = std::fs::read_dir(&profile) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("capi-stage-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        let prefix = profile.join(format!("capi-stage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&prefix);
        let so = profile.join("deps/libprocroot_capi.so");
        assert!(so.exists(), "{} was not built", so.display());
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
        prefix
    })
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
    let prefix = staged_prefix();
    cmd.env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .env("PROCROOT_LIB", prefix.join("lib/libprocroot.so.0"))
        .env(
            "PROCROOT_RESOLVE_CASES",
            workspace().join("bindings/testdata/resolve_cases.txt"),
        )
}
