//! The documents that restate code, checked against it: `docs/GUIDE.md`'s reference is the clap
//! definitions, and the README's kernel-feature table is the `Feature` registry's doc comments.
//! Each test prints the text to paste when the document drifts.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::subcommands;
use crate::cli::command;

const GUIDE: &str = include_str!("../../../docs/GUIDE.md");
const README: &str = include_str!("../../../README.md");

/// Options the guide names that belong to other programs, never to `procroot`: the install
/// section quotes cargo, and the comparisons quote cp(1), docker, `runc exec`, mount(8) and
/// unshare(1), and `unpack` quotes GNU tar.
const OTHER_PROGRAMS: &[&str] = &[
    // cargo
    "--locked",
    "--path",
    "--target",
    "--release",
    "--cfg",
    "--all-features",
    // cp(1)
    "--sparse",
    // GNU tar (`unpack --overwrite-dirs` is its --overwrite-dir)
    "--overwrite-dir",
    // docker run
    "--cap-add",
    // runc exec
    "--cap",
    "--no-new-privs",
    "--apparmor",
    "--process-label",
    "--preserve-fds",
    // mount(8), unshare(1)
    "--bind",
    "--make-rslave",
    "--propagation",
];

/// The text between `<!-- NAME:BEGIN -->` and `<!-- NAME:END -->` in `doc`.
fn between<'a>(doc: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- {name}:BEGIN -->\n");
    let end = format!("<!-- {name}:END -->");
    let start = doc.find(&begin).unwrap_or_else(|| panic!("no {begin}")) + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no {end}"));
    &doc[start..start + stop]
}

/// A cell of a Markdown table: `|` escaped, line breaks joined.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// One option as `procroot COMMAND --help` names it: `-r, --recursive`, `--root <DIR>`, and its
/// other spellings as `--help` shows them (`--root <DIR> [alias: --rootfs]`), so that the
/// reference shows every spelling a user may meet in a script.
fn option_name(arg: &clap::Arg) -> Option<String> {
    let long = arg.get_long()?;
    let mut name = match arg.get_short() {
        Some(s) => format!("-{s}, --{long}"),
        None => format!("--{long}"),
    };
    if arg.get_action().takes_values() {
        for value in arg.get_value_names().unwrap_or_default() {
            let _ = write!(name, " <{value}>");
        }
    }
    let aliases: Vec<String> = (arg.get_visible_aliases().unwrap_or_default().into_iter())
        .map(|a| format!("--{a}"))
        .collect();
    match aliases.len() {
        0 => {}
        1 => {
            let _ = write!(name, " [alias: {}]", aliases.join(", "));
        }
        _ => {
            let _ = write!(name, " [aliases: {}]", aliases.join(", "));
        }
    }
    Some(name)
}

/// The guide's reference, rendered from the clap definitions: each subcommand (depth first), its
/// one-line description, its usage line and the first line of each visible option's help.
fn reference() -> String {
    let mut cmd = command();
    cmd.build();
    let mut out = String::new();
    for sub in subcommands(&cmd) {
        let name = sub.get_bin_name().unwrap_or(sub.get_name());
        let _ = writeln!(out, "### `{name}`\n");
        if let Some(about) = sub.get_about() {
            let _ = writeln!(out, "{}\n", cell(&about.to_string()));
        }
        let usage = sub.clone().render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim();
        let _ = writeln!(out, "```text\n{usage}\n```\n");
        let rows: Vec<String> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .filter_map(|a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                let first = help.lines().next().unwrap_or("");
                Some(format!("| `{}` | {} |", option_name(a)?, cell(first)))
            })
            .collect();
        if !rows.is_empty() {
            let _ = writeln!(out, "| option | |\n|---|---|\n{}\n", rows.join("\n"));
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Every long option any `procroot` command knows, hidden ones included.
fn known_long_options() -> BTreeSet<String> {
    let mut cmd = command();
    cmd.build();
    let mut all: BTreeSet<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    for sub in subcommands(&cmd) {
        all.extend(
            sub.get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
        );
        // Another spelling of an option (`harden --rootfs`) is an option too.
        all.extend(sub.get_arguments().flat_map(|a| {
            (a.get_all_aliases().unwrap_or_default().into_iter()).map(|l| format!("--{l}"))
        }));
    }
    all.extend(["--help".to_owned(), "--version".to_owned()]);
    all
}

/// The `--name` words of `text` (a word starts after a character that is not alphanumeric or
/// `-`, so `a--b` and `---` are not options).
fn long_options_in(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let before_ok = start == 0 || {
            let b = bytes[start - 1];
            !(b.is_ascii_alphanumeric() || b == b'-')
        };
        let mut end = start + 2;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'-')
        {
            end += 1;
        }
        let word = text[start..end].trim_end_matches('-');
        if before_ok && word.len() > 2 && bytes[start + 2].is_ascii_lowercase() {
            found.insert(word.to_owned());
        }
        i = end.max(start + 2);
    }
    found
}

/// The guide's reference is exactly the clap definitions' (every subcommand, every visible
/// option), and the guide names no option that no `procroot` command has.
#[test]
fn the_guide_reference_is_the_clap_definitions() {
    let expected = reference();
    assert!(
        between(GUIDE, "CLI-REFERENCE") == expected,
        "docs/GUIDE.md's reference (between the CLI-REFERENCE markers) must be:\n{expected}"
    );
    let known = known_long_options();
    let unknown: Vec<String> = long_options_in(GUIDE)
        .into_iter()
        .filter(|o| !known.contains(o) && !OTHER_PROGRAMS.contains(&o.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/GUIDE.md names options procroot does not have: {unknown:?}"
    );
}

/// The file that defines `pub enum Feature`, wherever the crates put it.
fn feature_registry_source() -> (PathBuf, String) {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(&crates).unwrap().map(Result::unwrap) {
        let src = krate.path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    let mut hits = files.into_iter().filter_map(|f| {
        let text = std::fs::read_to_string(&f).ok()?;
        text.contains("\npub enum Feature {").then_some((f, text))
    });
    let hit = hits
        .next()
        .expect("no `pub enum Feature` under crates/*/src");
    assert!(hits.next().is_none(), "two `pub enum Feature`s");
    hit
}

/// The README's kernel-feature table, rendered from the `Feature` registry: one row per variant,
/// its doc comment split at "Without it"/"Without them" into what it is used for and the fallback.
fn feature_table(source: &str) -> String {
    let body = source
        .split("\npub enum Feature {")
        .nth(1)
        .and_then(|s| s.split("\n}").next())
        .expect("the Feature enum's body");
    let mut out = String::from("| feature | used for | without it |\n|---|---|---|\n");
    let mut doc = Vec::new();
    for line in body.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
        } else if let Some(variant) = line.strip_suffix(',') {
            // Rustdoc's intra-doc links (`[`disable`]d`) read as plain code in the README.
            let text = doc.join(" ").replace("[`", "`").replace("`]", "`");
            let (used, without) = ["Without it", "Without them"]
                .iter()
                .find_map(|w| text.find(w).map(|at| text.split_at(at)))
                .unwrap_or_else(|| panic!("Feature::{variant}'s doc says nothing \"Without it\""));
            let _ = writeln!(out, "| `{variant}` | {} | {} |", cell(used), cell(without));
            doc.clear();
        }
    }
    out
}

/// The README's kernel-feature and fallback table is the `Feature` registry's, row for row.
#[test]
fn the_readme_feature_table_is_the_registry() {
    let (path, source) = feature_registry_source();
    let expected = feature_table(&source);
    assert!(
        between(README, "FEATURES") == expected,
        "README.md's feature table (between the FEATURES markers) must be, from {}:\n{expected}",
        path.display()
    );
}

/// The option scanner finds options where a reader sees them, and only there.
#[test]
fn long_options_in_finds_words_only() {
    let found = long_options_in("`--root DIR`, (--no-sandbox) a--b --- --x- --Upper --9");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["--no-sandbox", "--root", "--x"]
    );
}
