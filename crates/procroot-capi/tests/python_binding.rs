//! The Python package (bindings/python).
//!
//! The Python is `$PROCROOT_PYTHON` (`.ci/run` makes a fresh venv outside the checkout, with
//! pytest and `pip install ./bindings/python`, and points it at the venv's `python3`), else
//! `python3` from `PATH`. Two runs of the pytest suite:
//! - [`pytest_suite`]: this checkout's source tree first on `PYTHONPATH`, against the library
//!   installed by `make install-files` into a staging prefix (`PROCROOT_LIB`): the current code;
//! - [`pip_installed_package_passes_pytest_suite`]: the package pip installed into the venv, run
//!   from another directory with no `PROCROOT_LIB`, `LD_LIBRARY_PATH` or `PYTHONPATH`, so with
//!   the library the package carries.
//!
//! pytest or the venv missing is a failure that says how to make them, never a pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Python the tests run: `$PROCROOT_PYTHON`, else `python3`.
fn python() -> PathBuf {
    std::env::var_os("PROCROOT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The venv's Python that `pip install ./bindings/python` went into; without one, the test
/// cannot run and fails saying how to make it.
fn venv_python() -> PathBuf {
    std::env::var_os("PROCROOT_PYTHON")
        .map(PathBuf::from)
        .expect(
            "PROCROOT_PYTHON is not set: make a venv with the package, as .ci/run does: \
         python3 -m venv V && V/bin/python3 -m pip install pytest ./bindings/python && \
         export PROCROOT_PYTHON=$PWD/V/bin/python3",
        )
}

/// `cmd` with none of the variables that could point Python at a library or a source tree.
fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("PROCROOT_LIB")
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
}

fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?} ({e}): see .ci/run for the Python setup"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    (out, text)
}

/// Prints, from a Python process importing `procroot`: the module's file, the library path it
/// reports, and every file of the process's memory map named libprocroot (what really loaded).
const WHICH_LIBRARY: &str = r"
import procroot
print('module', procroot.__file__)
print('library', procroot._LIBRARY_PATH)
for line in open('/proc/self/maps'):
    if 'libprocroot' in line and '/' in line:
        print('mapped', line.split(None, 5)[5].strip())
";

/// `import procroot` with `py` in a fresh directory, a clean environment plus `var`; it must
/// fail, and the output is returned.
fn failed_import(py: &Path, var: (&str, &Path)) -> String {
    let cwd = tempfile::tempdir().expect("tempdir");
    let (out, text) = run(clean_env(
        Command::new(py)
            .args(["-c", "import procroot"])
            .current_dir(cwd.path()),
    )
    .env(var.0, var.1));
    assert!(!out.status.success(), "import procroot succeeded: {text}");
    text
}

fn field<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key).map(str::trim))
        .collect()
}

fn pytest(cmd: &mut Command) {
    let (out, text) = run(cmd);
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn pytest_suite() {
    procroot_testutil::require_privilege("the Python tests chown and make FIFOs");
    let dir = common::workspace().join("bindings/python");
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&dir)
        .env("PYTHONPATH", dir.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    common::binding_env(&mut cmd);
    pytest(&mut cmd);
}

/// `pip install ./bindings/python` gave a package that imports from another directory with
/// nothing pointing at a library: it loads the `libprocroot.so.0` inside itself (the memory map
/// shows that file), not the source tree's module nor a system library.
#[test]
fn pip_installed_package_imports_with_its_own_library() {
    let py = venv_python();
    let cwd = tempfile::tempdir().expect("tempdir");
    let (out, text) = run(clean_env(
        Command::new(&py)
            .args(["-c", WHICH_LIBRARY])
            .current_dir(cwd.path()),
    ));
    assert!(out.status.success(), "import procroot failed:\n{text}");
    let module = PathBuf::from(field(&text, "module ")[0]);
    assert!(
        !module.starts_with(common::workspace()),
        "imported the checkout's module, not the installed package: {text}"
    );
    let bundled = module
        .parent()
        .expect("package dir")
        .join("libprocroot.so.0");
    assert!(
        bundled.is_file(),
        "the package has no {}",
        bundled.display()
    );
    assert_eq!(field(&text, "library "), [bundled.to_str().unwrap()]);
    assert_eq!(
        field(&text, "mapped ").first(),
        Some(&bundled.to_str().unwrap())
    );
    assert!(
        field(&text, "mapped ")
            .iter()
            .all(|m| Path::new(m) == bundled),
        "another libprocroot is mapped too: {text}"
    );
}

/// `PROCROOT_LIB` comes before the bundled library; one that does not load is an `ImportError`
/// naming it, never a quiet fall back to the bundled one.
#[test]
fn procroot_lib_is_preferred_and_never_falls_back() {
    let py = venv_python();
    let staged = common::staged_prefix().join("lib/libprocroot.so.0");
    let staged = staged.canonicalize().expect("staged library");
    let cwd = tempfile::tempdir().expect("tempdir");
    let (out, text) = run(clean_env(
        Command::new(&py)
            .args(["-c", WHICH_LIBRARY])
            .current_dir(cwd.path()),
    )
    .env("PROCROOT_LIB", &staged));
    assert!(out.status.success(), "{text}");
    let mapped = field(&text, "mapped ");
    assert!(
        !mapped.is_empty() && mapped.iter().all(|m| Path::new(m) == staged),
        "PROCROOT_LIB={} is not the library loaded: {text}",
        staged.display()
    );

    let missing = cwd.path().join("missing.so");
    let text = failed_import(&py, ("PROCROOT_LIB", &missing));
    assert!(
        text.contains("ImportError: procroot: cannot load PROCROOT_LIB="),
        "{text}"
    );
    assert!(text.contains(missing.to_str().unwrap()), "{text}");
}

/// With no library anywhere (the source tree's package has none inside, no `PROCROOT_LIB`, no
/// `LD_LIBRARY_PATH`), `import procroot` is an `ImportError` naming `libprocroot.so.0`,
/// `PROCROOT_LIB` and the install command, not a raw `OSError`.
#[test]
fn import_without_a_library_says_how_to_install_one() {
    let ldconfig = Command::new("ldconfig").arg("-p").output();
    if let Ok(o) = ldconfig {
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("libprocroot.so.0"),
            "this machine has a system libprocroot.so.0 (ldconfig -p): the premise of the test \
             is false"
        );
    }
    let src = common::workspace().join("bindings/python/src");
    let text = failed_import(&python(), ("PYTHONPATH", &src));
    assert!(
        text.contains("ImportError: procroot: cannot load libprocroot.so.0"),
        "{text}"
    );
    assert!(text.contains("PROCROOT_LIB"), "{text}");
    assert!(text.contains("pip install ./bindings/python"), "{text}");
    assert!(!text.contains("OSError"), "{text}");
}

/// The pytest suite against the pip-installed package, from another directory, with its
/// bundled library (nothing in the environment names one).
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn pip_installed_package_passes_pytest_suite() {
    procroot_testutil::require_privilege("the Python tests chown and make FIFOs");
    let py = venv_python();
    let tests = common::workspace().join("bindings/python/tests");
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(&py);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .current_dir(cwd.path());
    clean_env(&mut cmd).env(
        "PROCROOT_RESOLVE_CASES",
        common::workspace().join("bindings/testdata/resolve_cases.txt"),
    );
    pytest(&mut cmd);
}

/// `.ci/run` never runs `pip` outside its virtual environment: every command line of it and of
/// the `.ci/python-venv` it sources that names pip runs the venv's (`"$VENV/bin/python3" -m
/// pip`), so a system Python that is externally managed (Debian's) is never asked to install.
#[test]
fn ci_runs_pip_only_in_its_venv() {
    let ci = common::workspace().join(".ci");
    let run = std::fs::read_to_string(ci.join("run")).expect(".ci/run");
    assert!(
        run.lines().any(|l| l.trim() == "source .ci/python-venv"),
        ".ci/run does not source .ci/python-venv"
    );
    let venv = std::fs::read_to_string(ci.join("python-venv")).expect(".ci/python-venv");
    let mut pip_lines = 0;
    for (file, text) in [("run", &run), ("python-venv", &venv)] {
        for line in text.lines().map(str::trim) {
            // pip as a word (`pip`, `pip3`, `-m pip`), not `pipefail`.
            let names_pip = line
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "pip" || w == "pip3");
            if line.starts_with('#') || !names_pip {
                continue;
            }
            pip_lines += 1;
            assert!(
                line.contains("\"$VENV/bin/python3\" -m pip install"),
                ".ci/{file} runs pip outside the venv: {line}"
            );
        }
    }
    assert!(pip_lines >= 2, "no pip install of pytest and the package");
    assert!(
        venv.contains("python3 -m venv \"$VENV\""),
        ".ci/python-venv makes no venv"
    );
}
