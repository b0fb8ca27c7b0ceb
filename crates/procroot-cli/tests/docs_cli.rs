//! `procroot completions` and `procroot man` as the binary prints them: the scripts parse in
//! their shell where it is installed, and the man page renders with groff without a warning.
//! (That every subcommand is in them is checked against the clap definition itself, in the
//! binary's unit tests: `generate::tests`.)

use std::io::Write;
use std::process::{Command, Stdio};

use procroot_testutil::cli::Cli;

fn procroot() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// Runs `program args` with `input` on stdin; `None` if the program is not installed.
fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Option<std::process::Output> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{program}: {e}"),
    };
    child.stdin.take().unwrap().write_all(input).unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn completion_scripts_parse() {
    for (shell, first) in [
        ("bash", "_procroot()"),
        ("zsh", "#compdef procroot"),
        ("fish", "# Print an optspec for argparse"),
    ] {
        let run = procroot().args(["completions", shell]).run();
        run.success();
        let script = String::from_utf8(run.stdout.clone()).unwrap();
        assert!(script.contains(first), "{shell}: {script:.200}");
        assert!(
            script.contains("completions") && script.contains("cp"),
            "{shell}"
        );
        // `-n`: parse only. bash is always there; zsh and fish are checked where installed.
        match run_with_input(shell, &["-n"], script.as_bytes()) {
            Some(out) => assert!(
                out.status.success() && out.stderr.is_empty(),
                "{shell} -n: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            None => assert_ne!(shell, "bash", "bash is not installed"),
        }
    }
    procroot()
        .args(["completions", "tcsh"])
        .run()
        .usage_error("invalid value 'tcsh'");
}

#[test]
fn the_man_page_renders_without_warnings() {
    let run = procroot().arg("man").run();
    run.success();
    let page = &run.stdout;
    let text = String::from_utf8_lossy(page);
    assert!(text.contains(".TH procroot 1"), "{text:.300}");
    assert!(text.contains("\n.SH \"PROCROOT CP\"\n"));
    // groff (Debian's groff-base, which .ci/run installs) with every warning on (-ww), output
    // discarded (-z): stderr must stay empty.
    let out = run_with_input("groff", &["-man", "-Tutf8", "-ww", "-z"], page)
        .expect("groff is not installed: apt-get install groff-base (.ci/run does)");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
    // And as man(1) formats it, the text a reader sees.
    let out = run_with_input("groff", &["-man", "-Tutf8", "-P-cbou"], page).unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "PROCROOT RESOLVE",
        "PROCROOT PROC CAT",
        "EXIT STATUS, ERRORS AND JSON",
    ] {
        assert!(shown.contains(heading), "{heading}");
    }
}

/// Runs `procroot args` with `COLUMNS=columns`; returns (exit code, stdout).
fn help_text(args: &[&str], columns: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .args(args)
        .env("COLUMNS", columns)
        .output()
        .expect("run procroot");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// The names in the `Commands:` list of a `--help` text.
fn commands_in(help: &str) -> Vec<String> {
    let Some(list) = help.split("\nCommands:\n").nth(1) else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Every command path, from the help texts themselves: `[]`, `["cat"]`, `["proc", "cat"]`.
fn every_command() -> Vec<Vec<String>> {
    let mut all = vec![Vec::new()];
    let mut i = 0;
    while i < all.len() {
        let path = all[i].clone();
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, help) = help_text(&args, "200");
        assert_eq!(code, 0, "{args:?}");
        for name in commands_in(&help) {
            let mut sub = path.clone();
            sub.push(name);
            all.push(sub);
        }
        i += 1;
    }
    assert!(all.len() > 20, "{all:?}");
    assert!(all.contains(&vec!["proc".into(), "cat".into()]), "{all:?}");
    all
}

/// With clap's `wrap_help` and `COLUMNS=80`, no line of any help (`-h` and `--help`, every
/// command) is wider than 80 columns (on the old build option lines reached 708).
#[test]
fn help_fits_in_80_columns() {
    for path in every_command() {
        for flag in ["-h", "--help"] {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push(flag);
            let (code, help) = help_text(&args, "80");
            assert_eq!(code, 0, "{args:?}");
            for line in help.lines() {
                assert!(
                    line.chars().count() <= 80,
                    "{args:?}: {} columns: {line}",
                    line.chars().count()
                );
            }
        }
    }
    // Prose is reflowed, not cut: no line of a paragraph is left with one or two words.
    let (_, help) = help_text(&["cat", "--help"], "80");
    assert!(
        help.contains("The bytes are copied unchanged and streamed, so binary and large files are fine.\nAfter a file"),
        "{help}"
    );
}

/// The conventions (exit status, error and JSON formats) are printed once, under
/// `procroot --help`; a subcommand's help has a one-line pointer to them instead.
#[test]
fn the_conventions_trailer_is_shown_once() {
    let marker = "Errors are printed on stderr";
    let (_, top) = help_text(&["--help"], "200");
    assert_eq!(top.matches(marker).count(), 1, "{top}");
    for path in every_command().into_iter().filter(|p| !p.is_empty()) {
        for flag in ["-h", "--help"] {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push(flag);
            let (_, help) = help_text(&args, "200");
            assert!(!help.contains(marker), "{args:?}: {help}");
            assert!(!help.contains("\n  0  success"), "{args:?}: {help}");
        }
    }
    let (_, cat) = help_text(&["cat", "--help"], "200");
    assert!(
        cat.ends_with("Exit status: 0 success, 1 operation error, 2 usage error. Errors and --json: see procroot --help.\n"),
        "{cat}"
    );
}

/// The one-line summary that the `Commands:` list of a `--help` text gives command `name`.
fn summary_in(help: &str, name: &str) -> Option<String> {
    let list = help.split("\nCommands:\n").nth(1)?;
    list.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.trim_start().strip_prefix(name)?.strip_prefix(' '))
        .map(|rest| rest.trim().to_owned())
}

/// Every command's help opens with the summary its parent's `Commands:` list gives it, under
/// `-h`, `--help`, `procroot help` and the help shown for a missing subcommand (`procroot
/// proc`); no help shows the argument structs' own doc comments ("Arguments of ..."); and a
/// command whose description has more than its summary offers it from `-h`. The subcommands
/// are built lazily (clap's `defer`: BENCHMARKS.md 8.2), which runs each argument struct's
/// definition after its variant's and would otherwise let the struct's texts win.
#[test]
fn every_help_opens_with_the_commands_summary() {
    for path in every_command().into_iter().filter(|p| !p.is_empty()) {
        let (parent, name) = path.split_at(path.len() - 1);
        let mut args: Vec<&str> = parent.iter().map(String::as_str).collect();
        args.push("--help");
        let (_, parent_help) = help_text(&args, "400");
        let summary = summary_in(&parent_help, &name[0])
            .unwrap_or_else(|| panic!("{path:?} not in {parent_help}"));
        let cmd: Vec<&str> = path.iter().map(String::as_str).collect();
        let short = [cmd.as_slice(), &["-h"]].concat();
        let long = [cmd.as_slice(), &["--help"]].concat();
        let help = [&["help"], cmd.as_slice()].concat();
        for args in [&short, &long, &help] {
            let (_, text) = help_text(args, "400");
            assert!(!text.contains("Arguments of"), "{args:?}: {text}");
            if args == &short {
                assert_eq!(text.lines().next(), Some(summary.as_str()), "{args:?}");
            }
        }
    }
    // `proc` without its action: clap shows the short help.
    let out = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .arg("proc")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.starts_with("Read procfs through procroot's hardened handle\n"),
        "{shown}"
    );
    // The long descriptions that are only on the variant (the struct has no options with a
    // long help of their own): `-h` points at them and `--help` shows them.
    for (cmd, sentence) in [
        ("doctor", "Probes, without changing anything"),
        ("help", "The same text as `procroot COMMAND --help`"),
    ] {
        let (_, short) = help_text(&[cmd, "-h"], "400");
        assert!(
            short.contains("Print help (see more with '--help')"),
            "{cmd}: {short}"
        );
        for args in [[cmd, "--help"], ["help", cmd]] {
            let (_, long) = help_text(&args, "400");
            assert!(long.contains(sentence), "{args:?}: {long}");
        }
    }
}

/// Whether a help text lists `--no-sandbox` among its options (prose may still name it).
fn offers_no_sandbox(help: &str) -> bool {
    help.lines()
        .any(|l| l.starts_with("  ") && l.trim_start().starts_with("--no-sandbox"))
}

/// `--no-sandbox` is offered exactly where it does something: not by the commands that never
/// confine themselves (the `"confined": false` rows of `doctor --json`, which prints
/// `PROFILES`), and by every command that works in a root; its text names the unconfined set.
#[test]
fn no_sandbox_only_where_something_is_confined() {
    let out = Command::new(env!("CARGO_BIN_EXE_procroot"))
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let profiles = doctor["sandbox"]["profiles"].as_array().expect("profiles");
    let mut unconfined: Vec<String> = profiles
        .iter()
        .filter(|p| p["confined"] == false)
        .flat_map(|p| p["commands"].as_array().unwrap().clone())
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    unconfined.sort();
    assert!(unconfined.contains(&"exec".to_owned()), "{unconfined:?}");
    for command in &unconfined {
        let (code, help) = help_text(&[command, "--help"], "200");
        assert_eq!(code, 0, "{command}");
        assert!(!offers_no_sandbox(&help), "{command}: {help}");
    }
    // `completions`, `man`, `help` only write to stdout: nothing to turn off either.
    for command in ["completions", "man", "help"] {
        let (_, help) = help_text(&[command, "--help"], "200");
        assert!(!offers_no_sandbox(&help), "{command}: {help}");
    }
    for command in ["cat", "cp", "chmod", "resolve", "proc"] {
        let (_, help) = help_text(&[command, "--help"], "200");
        assert!(offers_no_sandbox(&help), "{command}: {help}");
    }
    // The text lists the unconfined commands, all and only them.
    let (_, help) = help_text(&["cat", "--help"], "1000");
    let text = help.split("\n      --no-sandbox").nth(1).unwrap();
    // As one line: clap wraps it.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let listed = text
        .split("Never confined, and so without this option: ")
        .nth(1)
        .and_then(|t| t.split('.').next())
        .unwrap_or_else(|| panic!("no list of unconfined commands: {text}"));
    let mut listed: Vec<String> = listed.split(", ").map(str::to_owned).collect();
    listed.sort();
    assert_eq!(listed, unconfined);
}

/// The man page has no references to `procroot-*(1)` pages, which do not exist: the
/// subcommands are sections of the one page.
#[test]
fn the_man_page_has_no_dangling_references() {
    let run = procroot().arg("man").run();
    run.success();
    let page = String::from_utf8_lossy(&run.stdout).replace("\\-", "-");
    for (i, _) in page.match_indices("procroot-") {
        let rest = &page[i..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '(' || *c == ')')
            .collect();
        assert!(!word.ends_with("(1)"), "dangling reference {word}");
    }
    assert!(page.contains("\\fBprocroot proc cat\\fR"), "{page:.2000}");
}

/// `procroot help --help` is help, not a usage error; `help COMMAND` is `COMMAND --help`.
#[test]
fn help_help_exits_0() {
    let (code, out) = help_text(&["help", "--help"], "200");
    assert_eq!(code, 0);
    assert!(out.contains("Usage: procroot help [COMMAND]..."), "{out}");
    let (code, via_help) = help_text(&["help", "proc", "cat"], "200");
    assert_eq!(code, 0);
    assert_eq!(via_help, help_text(&["proc", "cat", "--help"], "200").1);
    let (code, top) = help_text(&["help"], "200");
    assert_eq!((code, top), (0, help_text(&["--help"], "200").1));
    procroot()
        .args(["help", "nope"])
        .run()
        .usage_error("no command 'nope'");
}

/// The completion setup of README.md and docs/GUIDE.md works as written, in a throwaway HOME: bash finds
/// `~/.local/share/bash-completion/completions/procroot` through the bash-completion package's
/// loader; zsh finds `~/.zfunc/_procroot` once `~/.zfunc` is added to `fpath` before
/// `compinit`, and not without it.
#[test]
fn completions_install_as_the_readme_says() {
    let home = tempfile::tempdir().unwrap();
    let bash_dir = home.path().join(".local/share/bash-completion/completions");
    let zfunc = home.path().join(".zfunc");
    std::fs::create_dir_all(&bash_dir).unwrap();
    std::fs::create_dir_all(&zfunc).unwrap();
    for (shell, file) in [
        ("bash", bash_dir.join("procroot")),
        ("zsh", zfunc.join("_procroot")),
    ] {
        let run = procroot().args(["completions", shell]).run();
        run.success();
        std::fs::write(file, &run.stdout).unwrap();
    }
    let shell = |program: &str, script: &str| {
        let out = Command::new(program)
            .args(if program == "zsh" {
                &["-f", "-c"][..]
            } else {
                &["-c"][..]
            })
            .arg(script)
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}: apt-get install {program} (.ci/run does)"));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let loader = "/usr/share/bash-completion/bash_completion";
    assert!(
        std::path::Path::new(loader).exists(),
        "the bash-completion package is not installed: apt-get install bash-completion (.ci/run does)"
    );
    let bash = shell(
        "bash",
        &format!("source {loader}; _completion_loader procroot; complete -p procroot"),
    );
    assert!(bash.contains("-F _procroot procroot"), "{bash:?}");
    let with_fpath = "fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit -D; \
                      print -r -- \"[$_comps[procroot]]\"";
    assert_eq!(shell("zsh", with_fpath), "[_procroot]");
    let without = "autoload -Uz compinit && compinit -D; print -r -- \"[$_comps[procroot]]\"";
    assert_eq!(shell("zsh", without), "[]");
}

/// README.md's "Tried on a fresh machine" is what CI runs: each line of its `sh` block appears,
/// as written, in `.ci/run` or `.ci/python-venv` (which `.ci/run` sources). The clone is the one
/// line CI does not repeat: `.ci/run` starts in a fresh clone.
#[test]
fn the_fresh_machine_commands_are_what_ci_runs() {
    let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read =
        |p: &str| std::fs::read_to_string(top.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let readme = read("README.md");
    let section = readme
        .split("\n## Tried on a fresh machine\n")
        .nth(1)
        .expect("README.md has a \"Tried on a fresh machine\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a ```sh block");
    let run = read(".ci/run");
    assert!(
        run.lines().any(|l| l.trim() == "source .ci/python-venv"),
        ".ci/run sources .ci/python-venv"
    );
    let ci = format!("{run}\n{}", read(".ci/python-venv"));
    let lines: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("git clone ")),
        "the block starts with the clone: {lines:?}"
    );
    let wanted = [
        "cargo run -- ",
        "cargo nextest run --workspace",
        "python3 -m venv",
        "-m pip install ./bindings/python",
        "import procroot",
    ];
    for want in wanted {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "the section has no line with {want:?}"
        );
    }
    let missing: Vec<&&str> = lines[1..].iter().filter(|l| !ci.contains(**l)).collect();
    assert!(
        missing.is_empty(),
        "README lines that .ci/run and .ci/python-venv do not run as written: {missing:#?}"
    );
}
