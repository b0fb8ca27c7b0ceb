//! The Python package (bindings/python): its pytest suite against the library installed by
//! `make install-files` into a staging prefix (`PROCROOT_LIB`). The source tree is first on
//! `PYTHONPATH`, so the package tested is this checkout's even where `.ci/run` pip-installed it.
//! pytest missing is a failure: `.ci/run` installs it.

mod common;

use std::process::Command;

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn pytest_suite() {
    procroot_testutil::require_privilege("the Python tests chown and make FIFOs");
    let dir = common::workspace().join("bindings/python");
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&dir)
        .env("PYTHONPATH", dir.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    common::binding_env(&mut cmd);
    let out = cmd
        .output()
        .expect("run python3 (install it, and pytest: python3 -m pip install pytest)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains(" passed"), "pytest ran no test:\n{text}");
}
