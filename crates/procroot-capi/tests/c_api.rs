//! The C API from C: tests/c/capi_test.c is built with the system `cc` against the library
//! installed by `make install-files` into a staging prefix, found through pkg-config, and run.
//! It exercises every function and its error paths, and the shared resolve table.

mod common;

use std::process::Command;

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn c_program_against_installed_library() {
    procroot_testutil::require_privilege("the C test makes device nodes and chowns");
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("capi_test");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/capi_test.c");
    let mut cc = Command::new("cc");
    cc.args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(common::pkg_config(&["--cflags", "--libs"]))
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let status = cc.status().expect("run cc");
    assert!(status.success(), "cc failed: {cc:?}");

    // The binary links the SONAME, not the unversioned name.
    let readelf = Command::new("readelf").arg("-d").arg(&exe).output();
    if let Ok(out) = readelf {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("[libprocroot.so.0]"),
            "NEEDED is the SONAME: {text}"
        );
    }

    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).expect("mkdir");
    let out = Command::new(&exe)
        .arg(&scratch)
        .arg(common::workspace().join("bindings/testdata/resolve_cases.txt"))
        .output()
        .expect("run capi_test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "capi_test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}\n{stderr}");
    // The container layer ran in its forked child (private mount and UTS namespaces).
    assert!(
        stderr.contains("container: ") && stderr.contains(" passed, 0 failed"),
        "{stderr}"
    );
}

#[test]
fn static_library_links_through_pkg_config() {
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("v.c");
    std::fs::write(
        &src,
        "#include <procroot.h>\n#include <stdio.h>\n#include <string.h>\n\
         int main(void) { puts(procroot_version()); return strlen(procroot_version()) == 0; }\n",
    )
    .expect("write");
    let exe = dir.path().join("v");
    let status = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .args(common::pkg_config(&["--cflags"]))
        .arg(prefix.join("lib/libprocroot.a"))
        .args(
            common::pkg_config(&["--libs-only-l", "--static"])
                .iter()
                .filter(|a| *a != "-lprocroot"),
        )
        .status()
        .expect("cc");
    assert!(status.success());
    let out = Command::new(&exe).output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
}
