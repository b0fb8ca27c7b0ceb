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
fn unsafe_lives_in_procroot_sys_only() {
    // `forbid` at the crate roots: no module of `procroot` or `procroot-runtime` can allow it
    // back (E0453), and `forbid` refuses the declaration of an `unsafe fn` too.
    for lib in [
        "crates/procroot/src/lib.rs",
        "crates/procroot-runtime/src/lib.rs",
    ] {
        assert!(
            has_inner_attribute(&read(lib), "#![forbid(unsafe_code)]"),
            "{lib} must forbid unsafe_code"
        );
    }
    for dir in ["crates/procroot/src", "crates/procroot-runtime/src"] {
        let mut files = Vec::new();
        rust_files(&workspace().join(dir), &mut files);
        assert!(files.len() > 10, "found only {files:?}");
        for file in &files {
            let text = std::fs::read_to_string(file).expect("a source file");
            for attr in [
                "allow(unsafe_code)",
                "deny(unsafe_code)",
                "warn(unsafe_code)",
            ] {
                assert!(!text.contains(attr), "{}: {attr}", file.display());
            }
        }
    }
    // The CLI denies it, and allows it in exactly one function: where the `--keep-fd` numbers it
    // inherited become borrowed fds.
    assert!(has_inner_attribute(
        &read("crates/procroot-cli/src/main.rs"),
        "#![deny(unsafe_code)]"
    ));
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/procroot-cli/src"), &mut files);
    let allows: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("a source file");
            let n = text.matches("allow(unsafe_code)").count();
            std::iter::repeat_n(file.display().to_string(), n)
        })
        .collect();
    assert_eq!(allows.len(), 1, "{allows:?}");
    assert!(allows[0].ends_with("exec.rs"), "{allows:?}");
    let exec = read("crates/procroot-cli/src/exec.rs");
    let at = exec.find("#[allow(unsafe_code)]").expect("the allow");
    assert!(
        exec[at..].starts_with("#[allow(unsafe_code)]\nfn kept_fds("),
        "the one allow is on `kept_fds`"
    );
}

/// `in_sandbox` and `in_sandbox_with` fork the caller and run its closure in the child (std's
/// `pre_exec` is `unsafe` for this reason): they take a `ForkPermit`, whose only constructor is
/// an `unsafe fn` with a `# Safety` section, so the caller states the contract in an `unsafe`
/// block of its own.
#[test]
fn in_sandbox_takes_a_permit_made_in_unsafe_code() {
    let text = read("crates/procroot-runtime/src/sandbox.rs");
    for name in ["in_sandbox", "in_sandbox_with"] {
        let decl = format!("fn {name}<T, F>(&self, permit: ForkPermit,");
        assert_eq!(
            text.matches(&decl).count(),
            2,
            "{name}: the trait's declaration and Root's impl take the permit"
        );
    }
    let sys = read("crates/procroot-sys/src/process.rs");
    let at = sys
        .find("pub unsafe fn new() -> ForkPermit")
        .expect("the constructor");
    let doc_start = sys[..at].rfind("\n\n").unwrap_or(0);
    assert!(
        sys[doc_start..at].contains("/// # Safety"),
        "ForkPermit::new has a `# Safety` section"
    );
    // No other way to make one: its one field is private, and no function returns one.
    assert_eq!(sys.matches("-> ForkPermit").count(), 1);
    // Neither `Clone` nor `Copy`: one permit, one fork.
    assert!(sys.contains("#[derive(Debug)]\npub struct ForkPermit {\n    _promise: (),\n}"));
    assert!(
        !sys.contains("for ForkPermit"),
        "no trait impl may copy a permit"
    );
}

/// A file's identity is compared as one value (`FileId`, or `MountedFileId` with the mount),
/// never as a tuple of fields picked again at each place, where one forgotten field (the device,
/// the mount) makes two different files equal. Outside `FileId`'s own constructors no line of the
/// three library crates reads a device and an inode number together.
#[test]
fn identities_are_compared_as_file_ids() {
    let home = workspace().join("crates/procroot-sys/src/lib.rs");
    let mut offenders = Vec::new();
    for dir in [
        "crates/procroot-sys/src",
        "crates/procroot/src",
        "crates/procroot-runtime/src",
    ] {
        let mut files = Vec::new();
        rust_files(&workspace().join(dir), &mut files);
        for file in files.iter().filter(|f| **f != home) {
            let text = std::fs::read_to_string(file).expect("a source file");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let pairs = [("st_dev", "st_ino"), (".dev", ".ino"), ("dev()", "ino()")];
                if pairs
                    .iter()
                    .any(|(a, b)| code.contains(a) && code.contains(b))
                {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
