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
