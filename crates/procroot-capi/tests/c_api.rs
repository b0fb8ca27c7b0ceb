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

    // The binary links the SONAME, not the unversioned name. Without readelf this check fails
    // (never skips): binutils is a test dependency, which .ci/run installs.
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .expect("run readelf -d (binutils: .ci/run installs it)");
    assert!(out.status.success(), "readelf -d failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[libprocroot.so.0]"),
        "NEEDED is the SONAME: {text}"
    );

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

/// Writes `dir/v.c`, a program printing `procroot_version()`, and returns it with the path its
/// binary gets (`dir/v`).
fn version_program(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = dir.join("v.c");
    std::fs::write(
        &src,
        "#include <procroot.h>\n#include <stdio.h>\n\
         int main(void) { puts(procroot_version()); return 0; }\n",
    )
    .expect("write");
    (src, dir.join("v"))
}

/// Links a program printing `procroot_version()` against `libprocroot.a` and the libraries
/// `pkg-config --static` names (with `-static`: a fully static binary), runs it, and checks
/// what it printed.
fn link_static_and_run(fully_static: bool) {
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, exe) = version_program(dir.path());
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

/// The README's C example compiles and links, as a user copies it, against the staged library
/// through pkg-config, warnings as errors.
#[test]
fn the_readme_c_example_builds() {
    let readme = std::fs::read_to_string(common::workspace().join("README.md")).expect("README");
    let example = readme
        .split("\n```c\n")
        .nth(1)
        .and_then(|s| s.split("\n```\n").next())
        .expect("README.md has a ```c block");
    let prefix = common::staged_prefix();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("example.c");
    std::fs::write(&src, format!("{example}\n")).expect("write");
    let mut cc = Command::new("cc");
    cc.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(dir.path().join("example"))
        .arg(&src)
        .args(common::pkg_config(&["--cflags", "--libs"]))
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let status = cc.status().expect("run cc");
    assert!(
        status.success(),
        "the README's C example does not build: {cc:?}"
    );
}

/// A fully static binary links with what `pkg-config --static` names: `-lgcc_eh`, the static
/// unwinder (`-lgcc_s` has no static archive, so `cc -static` failed).
#[test]
fn fully_static_binary_links_through_pkg_config() {
    link_static_and_run(true);
}

/// The target directory and profile cargo built this test binary's libraries in
/// (`target`, `debug`): what `make` built, for the Makefile's `TARGET_DIR` and `PROFILE`.
fn built_here() -> (std::path::PathBuf, String) {
    let profile = common::profile_dir();
    (
        profile.parent().expect("target dir").to_path_buf(),
        profile
            .file_name()
            .expect("profile")
            .to_string_lossy()
            .into_owned(),
    )
}

/// `make -C crates/procroot-capi <args>` with `CARGO=false`: any attempt to run cargo fails.
fn make_without_cargo(args: &[String]) -> std::process::Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .arg("CARGO=false")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("TARGET_DIR")
        .output()
        .expect("run make (is it installed?)")
}

/// `make install PREFIX=prefix CARGO=false` of the libraries cargo built with this test.
fn install_what_this_test_was_built_with(prefix: &std::path::Path) -> std::process::Output {
    let (target, profile) = built_here();
    make_without_cargo(&[
        "install".into(),
        format!("PREFIX={}", prefix.display()),
        format!("TARGET_DIR={}", target.display()),
        format!("PROFILE={profile}"),
    ])
}

/// `make install` only copies: with `CARGO=false` (cargo cannot run) it installs what `make`
/// built, byte for byte, so `sudo make install` never builds as root. `make` alone is the step
/// that runs cargo.
#[test]
fn make_install_copies_only_and_never_runs_cargo() {
    let (target, profile) = built_here();
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("prefix");
    let out = install_what_this_test_was_built_with(&prefix);
    assert!(
        out.status.success(),
        "make install ran cargo or failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = std::fs::read(target.join(&profile).join("deps/libprocroot_capi.so")).expect("so");
    let installed = std::fs::read(prefix.join("lib/libprocroot.so.0")).expect("installed");
    assert!(
        installed == built,
        "the installed library is not the one built"
    );
    for f in [
        "lib/libprocroot.a",
        "include/procroot.h",
        "lib/pkgconfig/procroot.pc",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }
    // `make` (the default goal) is what runs cargo: with CARGO=false it fails.
    let out = make_without_cargo(&[format!("TARGET_DIR={}", dir.path().display())]);
    assert!(!out.status.success(), "make did not run $(CARGO)");
}

/// `make install` with nothing built fails, says to run `make`, and installs nothing.
#[test]
fn make_install_with_nothing_built_says_run_make_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("prefix");
    let out = make_without_cargo(&[
        "install".into(),
        format!("PREFIX={}", prefix.display()),
        format!("TARGET_DIR={}", dir.path().join("empty-target").display()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "make install succeeded with nothing built"
    );
    assert!(stderr.contains("run make first"), "{stderr}");
    assert!(
        !prefix.exists(),
        "make install wrote into the prefix: {stderr}"
    );
}

/// docs/BINDINGS.md's standard-prefix install: `make install PREFIX=/usr/local`, then `ldconfig`, and a
/// program linked with `-lprocroot` (no rpath) runs without `LD_LIBRARY_PATH`. In a private mount
/// namespace, over a throwaway `/usr/local` (tmpfs) and a throwaway `/etc` (tmpfs holding copies
/// of the host's `ld.so.conf` files, where `ldconfig` writes its cache): the host's are never
/// touched. Before `ldconfig` the program cannot start (the premise: the loader does not search
/// `/usr/local/lib` by itself on a fresh install).
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn standard_prefix_install_then_ldconfig_runs_without_ld_library_path() {
    procroot_testutil::require_privilege("mounts a throwaway /usr/local and /etc");
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, exe) = version_program(dir.path());
    // Linked against the staged copy without rpath: at run time only the loader's search
    // (its cache, its default directories) can find libprocroot.so.0.
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .args(common::pkg_config(&["--cflags", "--libs"]))
        .status()
        .expect("cc");
    assert!(cc.success());
    let conf = std::fs::read("/etc/ld.so.conf").unwrap_or_default();
    let conf_d: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir("/etc/ld.so.conf.d")
        .map(|rd| {
            rd.map(|e| {
                let e = e.expect("entry");
                (e.file_name(), std::fs::read(e.path()).expect("read conf"))
            })
            .collect()
        })
        .unwrap_or_default();
    let run = |exe: &std::path::Path| {
        Command::new(exe)
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("LD_PRELOAD")
            .output()
            .expect("run v")
    };
    procroot_testutil::in_private_mount_ns(|| {
        for m in ["/usr/local", "/etc"] {
            procroot_testutil::mount_raw(Some("tmpfs"), m, Some("tmpfs"), 0, None)
                .unwrap_or_else(|e| panic!("mount tmpfs on {m}: {e}"));
        }
        std::fs::write("/etc/ld.so.conf", &conf).expect("ld.so.conf");
        std::fs::create_dir("/etc/ld.so.conf.d").expect("mkdir");
        for (name, body) in &conf_d {
            std::fs::write(std::path::Path::new("/etc/ld.so.conf.d").join(name), body)
                .expect("conf.d");
        }
        let out = install_what_this_test_was_built_with(std::path::Path::new("/usr/local"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = run(&exe);
        // 127: the dynamic loader found no libprocroot.so.0 (what docs/BINDINGS.md says users see).
        let why = String::from_utf8_lossy(&before.stderr);
        assert_eq!(
            before.status.code(),
            Some(127),
            "before ldconfig: the test proves nothing: {why}"
        );
        assert!(
            why.contains("libprocroot.so.0: cannot open shared object file"),
            "{why}"
        );
        let ldconfig = Command::new("ldconfig").status().expect("run ldconfig");
        assert!(ldconfig.success(), "ldconfig failed");
        let after = run(&exe);
        assert!(
            after.status.success(),
            "after ldconfig: {}",
            String::from_utf8_lossy(&after.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&after.stdout).trim(),
            env!("CARGO_PKG_VERSION")
        );
    });
}

/// `make install` takes the libraries from `$CARGO_TARGET_DIR` when it is set, where
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
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg("PROFILE=debug")
        .arg("CARGO=false")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("TARGET_DIR")
        .status()
        .expect("make");
    assert!(status.success());
    let installed = std::fs::read(prefix.join("lib/libprocroot.so.0")).expect("installed");
    assert!(installed == marked, "make install ignored CARGO_TARGET_DIR");
}

/// The installed `libprocroot.a` has no debug info and no LLVM bitcode (`.llvmbc`, `.llvmcmd`),
/// which made up most of the archive cargo builds; it still links (the static tests above).
#[test]
fn installed_static_library_has_no_debug_info_or_bitcode() {
    let archive = common::staged_prefix().join("lib/libprocroot.a");
    let out = Command::new("readelf")
        .arg("-S")
        .arg("-W")
        .arg(&archive)
        .output()
        .expect("run readelf (binutils)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(".text"), "readelf saw no sections: {text}");
    for section in [".debug_info", ".debug_line", ".llvmbc", ".llvmcmd"] {
        assert!(
            !text.contains(&format!(" {section} ")),
            "{section} in the installed libprocroot.a"
        );
    }
}
