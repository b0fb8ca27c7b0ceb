//! The layering of DESIGN.md, checked on the source: a module never names a module of a layer
//! above it (sys → fs → resolve → procfs → root), so that each layer can be read, tested and
//! changed without the ones above.

use std::path::Path;

/// Bottom up. `error` is under everything; `doctor` and `testing` sit on top.
const LAYERS: &[&str] = &["sys", "fs", "resolve", "procfs", "root", "sandbox"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_names_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (level, layer) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(layer);
        if dir.is_dir() {
            sources(&dir, &mut files);
        } else {
            files.push(src.join(format!("{layer}.rs")));
        }
        let above: Vec<String> = LAYERS[level + 1..]
            .iter()
            .chain(["doctor", "testing"].iter())
            .map(|m| format!("crate::{m}"))
            .collect();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for name in &above {
                    // `crate::fs::` must not match `crate::fsx`; a following `:` or `}` or
                    // `;` or `]` or space ends a module name.
                    for (at, _) in line.match_indices(name.as_str()) {
                        let next = line[at + name.len()..].chars().next();
                        if !next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            bad.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}
