//! The crate graph `docs/ARCHITECTURE.md` draws, and where `unsafe` may live, checked against the
//! manifests and crate roots. Cargo refuses a dependency cycle, but not a new arrow that skips a
//! layer (`procroot-cli` calling `procroot-sys`), nor an upper crate as a dev-dependency of a lower
//! one; and `#![forbid(unsafe_code)]` is a line anyone can delete.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `procroot*` crates a manifest section (`dependencies`, `dev-dependencies`) names. Only the
/// flat `name.workspace = true` / `name = { ... }` lines this workspace uses are understood: any
/// other line in the section fails the test rather than being skipped.
fn procroot_deps(manifest: &str, section: &str) -> BTreeSet<String> {
    let text = read(manifest);
    let header = format!("[{section}]");
    let mut deps = BTreeSet::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['.', '=', ' '])
            .next()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| panic!("{manifest}: [{section}]: cannot read {line:?}"));
        if name.starts_with("procroot") {
            deps.insert(name.to_string());
        }
    }
    deps
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn each_crate_uses_only_the_crates_below_it() {
    let sys = "crates/procroot-sys/Cargo.toml";
    let lib = "crates/procroot/Cargo.toml";
    let runtime = "crates/procroot-runtime/Cargo.toml";
    assert_eq!(procroot_deps(sys, "dependencies"), set(&[]));
    assert_eq!(procroot_deps(lib, "dependencies"), set(&["procroot-sys"]));
    assert_eq!(
        procroot_deps(runtime, "dependencies"),
        set(&["procroot", "procroot-sys"])
    );
    // A dev-dependency on an upper crate would compile (Cargo allows that cycle) and let a
    // lower crate's tests lean on it: only the test kit is allowed.
    for manifest in [sys, lib, runtime] {
        assert_eq!(
            procroot_deps(manifest, "dev-dependencies"),
            if manifest == sys {
                set(&[])
            } else {
                set(&["procroot-testutil"])
            },
            "{manifest}"
        );
    }
    // The command and the C API use both upper crates, and never the syscall layer directly.
    for manifest in [
        "crates/procroot-cli/Cargo.toml",
        "crates/procroot-capi/Cargo.toml",
    ] {
        assert_eq!(
            procroot_deps(manifest, "dependencies"),
            set(&["procroot", "procroot-runtime"]),
            "{manifest}"
        );
    }
}

fn has_inner_attribute(source: &str, attribute: &str) -> bool {
    source.lines().any(|line| line.trim() == attribute)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_lives_in_procroot_sys_and_in_the_sandbox_fork_only() {
    // `forbid` at the crate root: no module of `procroot` can allow it back (E0453).
    assert!(
        has_inner_attribute(
            &read("crates/procroot/src/lib.rs"),
            "#![forbid(unsafe_code)]"
        ),
        "crates/procroot/src/lib.rs must forbid unsafe_code"
    );
    // The runtime denies it at the root and forbids it in every module but `sandbox.rs`,
    // where the module of `in_sandbox` (an `unsafe fn` over the fork) is the one
    // `#[allow(unsafe_code)]`.
    assert!(has_inner_attribute(
        &read("crates/procroot-runtime/src/lib.rs"),
        "#![deny(unsafe_code)]"
    ));
    let src = workspace().join("crates/procroot-runtime/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut allows = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file");
        let name = file.strip_prefix(&src).expect("below src").to_owned();
        let n = text.matches("allow(unsafe_code)").count();
        if name == Path::new("sandbox.rs") {
            allows += n;
        } else {
            assert_eq!(n, 0, "{}: allows unsafe_code", name.display());
        }
        if name != Path::new("sandbox.rs") && name != Path::new("lib.rs") {
            assert!(
                has_inner_attribute(&text, "#![forbid(unsafe_code)]"),
                "{} must forbid unsafe_code",
                name.display()
            );
        }
    }
    assert_eq!(allows, 1, "sandbox.rs: exactly one #[allow(unsafe_code)]");
    assert!(files.len() > 10, "found only {files:?}");
}

/// `in_sandbox` and `in_sandbox_with` fork a possibly multithreaded caller and run its closure
/// in the child (std's `pre_exec` is `unsafe` for this reason): they are `unsafe fn`s whose
/// `# Safety` section states the contract.
#[test]
fn in_sandbox_is_an_unsafe_fn_with_a_safety_contract() {
    let text = read("crates/procroot-runtime/src/sandbox.rs");
    for name in ["in_sandbox", "in_sandbox_with"] {
        let decl = format!("unsafe fn {name}<");
        assert_eq!(
            text.matches(&decl).count(),
            2,
            "{name}: the trait's declaration and Root's impl are `unsafe fn`"
        );
        let at = text.find(&decl).expect("declared");
        let doc_start = text[..at].rfind("\n\n").unwrap_or(0);
        assert!(
            text[doc_start..at].contains("/// # Safety"),
            "{name}: its doc comment has a `# Safety` section"
        );
    }
}
