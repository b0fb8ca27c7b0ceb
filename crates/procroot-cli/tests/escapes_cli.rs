//! Messages never print a bidirectional control, a zero-width character or a line separator
//! raw, whether it comes from a name inside the root or from an operand (issue 20, section 12):
//! `gpj.<U+202E>exe.sh` must not be shown reading as `hs.exe.jpg`.

use procroot_testutil::{Cli, Tree};

fn bin() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

const INVISIBLE: [char; 5] = ['\u{202e}', '\u{2067}', '\u{200b}', '\u{2028}', '\u{feff}'];

fn assert_escaped(text: &str, c: char, what: &str) {
    assert!(!text.contains(c), "{what}: {c:?} printed raw: {text}");
    assert!(
        text.contains(&format!("\\u{{{:x}}}", c as u32)),
        "{what}: {c:?} not shown escaped: {text}"
    );
}

#[test]
fn names_from_the_root_and_operands_are_escaped_in_messages() {
    for c in INVISIBLE {
        let root = Tree::new("dir etc");
        // A name inside the root, met while resolving: the dangling symlink's target.
        root.symlink(format!("gpj.{c}exe.sh/x"), "evil");
        for backend in ["emulated", "kernel"] {
            let run = bin()
                .args(["cat", "--backend", backend, "/evil"])
                .root(root.path())
                .run();
            assert_eq!(run.code, 1, "{run:?}");
            // The walker names the component it failed on (the link's target); openat2 names
            // only the operand.
            if backend == "emulated" {
                assert_escaped(&run.stderr, c, "cat --backend emulated (stderr)");
            } else {
                assert!(!run.stderr.contains(c), "{c:?} printed raw: {run:?}");
            }
        }
        // An operand.
        let operand = format!("/etc/{c}nope");
        let run = bin().args(["stat", &operand]).root(root.path()).run();
        assert_eq!(run.code, 1, "{run:?}");
        assert_escaped(&run.stderr, c, "stat of an operand (stderr)");
        let run = bin()
            .args(["stat", "--json", &operand])
            .root(root.path())
            .run();
        let message = run.json_lines()[0]["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_escaped(&message, c, "stat of an operand (JSON message)");
    }
}
