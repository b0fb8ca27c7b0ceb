//! The shared resolve table (`bindings/testdata/resolve_cases.txt`) through the Rust API. The
//! C, Go and Python tests run the same file and must give the same answers.

use std::path::{Path, PathBuf};

use procroot::{EvalMode, Policy, Root};

/// The table's path, for every test of this crate that runs it.
pub fn table() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bindings/testdata/resolve_cases.txt")
}

#[test]
fn shared_table_through_rust() {
    let text = std::fs::read_to_string(table()).expect("read the table");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [] => {}
            ["D", p] => std::fs::create_dir_all(dir.path().join(p)).expect("mkdir"),
            ["F", p] => std::fs::write(dir.path().join(p), b"").expect("write"),
            ["L", p, target] => {
                let at = dir.path().join(p);
                std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
                std::os::unix::fs::symlink(target, at).expect("symlink");
            }
            ["C", policy, mode, path, expected] => {
                cases += 1;
                let policy = match *policy {
                    "in_root" => Policy::InRoot,
                    "in_root_strict" => Policy::InRootStrict,
                    "beneath" => Policy::Beneath,
                    p => panic!("unknown policy {p}"),
                };
                let mode = match *mode {
                    "full" => EvalMode::Full,
                    "except_last" => EvalMode::ExceptLast,
                    m => panic!("unknown mode {m}"),
                };
                let root = Root::open(dir.path()).expect("root").with_policy(policy);
                let got = match root.eval_symlinks(path, mode) {
                    Ok(p) => p.to_string_lossy().into_owned(),
                    Err(e) => e.errno_name().to_string(),
                };
                if got != *expected {
                    failures.push(format!("{line}: got {got}"));
                }
                // The one-shot form (the root opened by path for the call) agrees.
                let got = match Root::eval_symlinks_in(dir.path(), path, policy, mode) {
                    Ok(p) => p.to_string_lossy().into_owned(),
                    Err(e) => e.errno_name().to_string(),
                };
                if got != *expected {
                    failures.push(format!("{line}: eval_symlinks_in got {got}"));
                }
            }
            other => panic!("bad line {other:?}"),
        }
    }
    assert!(cases > 20, "the table has its cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
