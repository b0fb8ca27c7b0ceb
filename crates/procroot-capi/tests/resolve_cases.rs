//! The shared resolve table (`bindings/testdata/resolve_cases.txt`, walks included) through the Rust API. The
//! C, Go and Python tests run the same file and must give the same answers. Here every `C`
//! line is also evaluated with each backend alone (kernel, emulated): both give the table's
//! answer.
//!
//! The table mounts (its `M` lines), so it runs as root in a forked child with a private mount
//! namespace.

use std::path::{Path, PathBuf};

use procroot::{Backend, EvalMode, NodeKind, OFlags, Policy, Root};

/// The table's path, for every test of this crate that runs it.
pub fn table() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bindings/testdata/resolve_cases.txt")
}

/// A `C` line's path field: `@rep:<n>:<text>` is `text` repeated `n` times.
fn expand(field: &str) -> String {
    match field.strip_prefix("@rep:").and_then(|r| r.split_once(':')) {
        Some((n, text)) => text.repeat(n.parse().expect("repeat count")),
        None => field.to_string(),
    }
}

/// An `O` line's outcome: `ok` or the errno name.
fn outcome<T>(r: procroot::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.errno_name().to_string(),
    }
}

fn run_table(dir: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(table()).expect("read the table");
    let mut cases = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [] => {}
            ["D", p] => std::fs::create_dir_all(dir.join(p)).expect("mkdir"),
            ["F", p] => std::fs::write(dir.join(p), b"").expect("write"),
            ["L", p, target] => {
                let at = dir.join(p);
                std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
                std::os::unix::fs::symlink(target, at).expect("symlink");
            }
            ["M", p, attr] => {
                let nosymfollow = match *attr {
                    "nosymfollow" => true,
                    "symfollow" => false,
                    a => panic!("unknown mount attribute {a}"),
                };
                procroot::testing::rebind_symfollow(dir.join(p), nosymfollow)
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
            }
            ["C", policy, mode, path, expected] => {
                cases += 1;
                let path = expand(path);
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
                // Every backend gives the table's answer: the default, and each one alone.
                for backend in [Backend::Auto, Backend::Kernel, Backend::Emulated] {
                    let root = Root::open(dir)
                        .expect("root")
                        .with_policy(policy)
                        .with_backend(backend);
                    let got = match root.eval_symlinks(&path, mode) {
                        Ok(p) => p.to_string_lossy().into_owned(),
                        Err(e) => e.errno_name().to_string(),
                    };
                    if got != *expected {
                        failures.push(format!("{line}: {backend:?} got {got}"));
                    }
                }
                // The one-shot form (the root opened by path for the call) agrees.
                let got = match Root::eval_symlinks_in(dir, &path, policy, mode) {
                    Ok(p) => p.to_string_lossy().into_owned(),
                    Err(e) => e.errno_name().to_string(),
                };
                if got != *expected {
                    failures.push(format!("{line}: eval_symlinks_in got {got}"));
                }
            }
            ["O", op, args @ .., expected] => {
                cases += 1;
                let root = Root::open(dir).expect("root");
                let got = match (*op, args) {
                    ("create_file", [p]) => {
                        outcome(root.create_file(p, OFlags::RDWR | OFlags::EXCL, 0o644))
                    }
                    ("mkfifo", [p]) => outcome(root.mknod(p, NodeKind::Fifo, 0o644)),
                    ("symlink", [t, l]) => outcome(root.symlink(t, l)),
                    ("hardlink", [e, n]) => outcome(root.hardlink(e, n)),
                    ("open_excl", [p]) => outcome(root.open_file(p, OFlags::RDONLY | OFlags::EXCL)),
                    ("remove_file", [p]) => outcome(root.remove_file(p)),
                    ("remove_dir", [p]) => outcome(root.remove_dir(p)),
                    ("remove_all", [p]) => outcome(root.remove_all(p)),
                    _ => panic!("bad operation line {line:?}"),
                };
                if got != *expected {
                    failures.push(format!("{line}: got {got}"));
                }
            }
            ["W", options, path, expected] => {
                cases += 1;
                let root = Root::open(dir).expect("root");
                let mut walk = root.walk(path);
                for option in options.split(',').filter(|o| *o != "-") {
                    walk = match option.split_once('=') {
                        None if option == "follow" => walk.follow_links(true),
                        Some(("max", n)) => walk.max_depth(n.parse().expect("max=N")),
                        _ => panic!("bad walk option {option:?}"),
                    };
                }
                let mut got: Vec<String> = walk
                    .map(|e| match e {
                        Ok(e) => e.path().to_string_lossy().into_owned(),
                        Err(e) => format!(
                            "{}!{}",
                            e.path().unwrap_or(Path::new("")).display(),
                            e.errno_name()
                        ),
                    })
                    .collect();
                got.sort();
                let got = got.join(",");
                if got != *expected {
                    failures.push(format!("{line}: got {got}"));
                }
            }
            other => panic!("bad line {other:?}"),
        }
    }
    (cases, failures)
}

#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn shared_table_through_rust() {
    procroot_testutil::require_privilege("the table mounts (M lines)");
    let dir = tempfile::tempdir().expect("tempdir");
    procroot_testutil::in_private_mount_ns(|| {
        let (cases, failures) = run_table(dir.path());
        assert!(cases > 20, "the table has its cases");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}
