//! The C API from C: tests/c/capi_test.c is built with the system `cc` against the library
//! installed by `make install-files` into a staging prefix, found through pkg-config, and run.
//! It exercises every function and its error paths, and the shared resolve table.

mod common;

use std::process::Command;

/// Builds tests/c/capi_test.c with `extra` compiler flags against the staged library, runs it
/// with `env`, and checks that every check passed.
fn build_and_run_capi_test(extra: &[&str], env: &[(&str, &str)]) {
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("capi_test");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/capi_test.c");
    let mut cc = Command::new("cc");
    cc.args(["-std=gnu11", "-pthread", "-Wall", "-Wextra", "-Werror"])
        .args(extra)
        .arg("-o")
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
        .envs(env.iter().copied())
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
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn c_program_against_installed_library() {
    procroot_testutil::require_privilege("the C test makes device nodes and chowns");
    build_and_run_capi_test(&[], &[]);
}

/// The same C program under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer:
/// any invalid access, undefined behaviour or leaked allocation (an error object not freed by
/// procroot_error_free, a handle not freed by its _free) fails it. The library itself is not
/// instrumented, but its allocations go through the intercepted malloc, so LSan sees them.
/// `.ci/run` makes sure the sanitizer runtimes are installed; without them this test fails.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn c_program_under_asan_ubsan_lsan() {
    procroot_testutil::require_privilege("the C test makes device nodes and chowns");
    build_and_run_capi_test(
        &[
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ],
        &[
            ("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1"),
            ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        ],
    );
}

/// Links a program printing `procroot_version()` against `libprocroot.a` and the libraries
/// `pkg-config --static` names (with `-static`: a fully static binary), runs it, and checks
/// what it printed.
fn link_static_and_run(fully_static: bool) {
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("v.c");
    std::fs::write(
        &src,
        "#include <procroot.h>\n#include <stdio.h>\n\
         int main(void) { puts(procroot_version()); return 0; }\n",
    )
    .expect("write");
    let exe = dir.path().join("v");
    let out = Command::new("cc")
        .args(fully_static.then_some("-static"))
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
        .output()
        .expect("cc");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn static_library_links_through_pkg_config() {
    link_static_and_run(false);
}

/// `procroot.h` is C99, as its introduction says: it compiles with `-std=c99 -pedantic-errors`
/// (and as C++, which `cpp_compat` promises).
#[test]
fn header_is_c99_and_cxx() {
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("h.c");
    std::fs::write(
        &src,
        "#include <procroot.h>\nint main(void) { return procroot_version() == 0; }\n",
    )
    .expect("write");
    let include = format!("-I{}", prefix.join("include").display());
    let c99 = Command::new("cc")
        .args([
            "-std=c99",
            "-pedantic-errors",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .args(["-fsyntax-only", &include])
        .arg(&src)
        .status()
        .expect("cc");
    assert!(c99.success(), "procroot.h is not C99");
    if Command::new("c++").arg("--version").output().is_ok() {
        let cxx = Command::new("c++")
            .args(["-x", "c++", "-Wall", "-Werror", "-fsyntax-only", &include])
            .arg(&src)
            .status()
            .expect("c++");
        assert!(cxx.success(), "procroot.h does not compile as C++");
    }
}

/// A fully static binary links with what `pkg-config --static` names: `-lgcc_eh`, the static
/// unwinder (`-lgcc_s` has no static archive, so `cc -static` failed).
#[test]
fn fully_static_binary_links_through_pkg_config() {
    link_static_and_run(true);
}

/// `make install-files` takes the libraries from `$CARGO_TARGET_DIR` when it is set, where
/// cargo built them, not from the workspace's `target/`.
#[test]
fn make_install_honours_cargo_target_dir() {
    let built = common::staged_prefix().join("lib/libprocroot.so.0");
    let lib = std::fs::read(&built).expect("staged library");
    let archive = std::fs::read(common::staged_prefix().join("lib/libprocroot.a")).expect("a");
    let dir = tempfile::tempdir().expect("tempdir");
    // A target directory of its own, whose library differs from the workspace's by one byte.
    let deps = dir.path().join("target/debug/deps");
    std::fs::create_dir_all(&deps).expect("mkdir");
    let mut marked = lib.clone();
    marked.push(0x5a);
    std::fs::write(deps.join("libprocroot_capi.so"), &marked).expect("write");
    std::fs::write(deps.join("libprocroot_capi.a"), &archive).expect("write");
    let prefix = dir.path().join("prefix");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("install-files")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg("PROFILE=debug")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("TARGET_DIR")
        .status()
        .expect("make");
    assert!(status.success());
    let installed = std::fs::read(prefix.join("lib/libprocroot.so.0")).expect("installed");
    assert!(
        installed == marked,
        "make install-files ignored CARGO_TARGET_DIR"
    );
}
