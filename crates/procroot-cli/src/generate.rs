//! `procroot completions SHELL`, `procroot man` and `procroot help`: generated from the clap
//! definitions ([`command`]) at run time, so they cannot drift from what the parser accepts.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{command, CompletionsArgs, HelpArgs, Shell};
use crate::output::{print_bytes, Failure};

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut command(), "procroot", &mut out);
    out
}

/// The man page, `procroot(1)`: the command's own synopsis, description and subcommand list,
/// then one section per subcommand (`PROCROOT RESOLVE`, `PROCROOT PROC CAT`, ...) with its
/// synopsis, description and options, then the exit status and error conventions once.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut cmd = command();
    cmd.build();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    render_subcommand_list(&mut out, &cmd, ".SH SUBCOMMANDS")?;
    for sub in subcommands(&cmd) {
        render_subcommand(&mut out, sub)?;
    }
    // The conventions every subcommand shares (its after_long_help), once.
    let mut extra = Vec::new();
    man.render_extra_section(&mut extra)?;
    out.extend(retitle(&extra, |_| {
        ".SH \"EXIT STATUS, ERRORS AND JSON\"".into()
    }));
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The subcommands of `cmd` and, depth first, theirs (`proc` and `proc cat`), without clap's
/// `help`.
fn subcommands(cmd: &clap::Command) -> Vec<&clap::Command> {
    let mut all = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        all.push(sub);
        all.extend(subcommands(sub));
    }
    all
}

/// One subcommand's section: a `.SH` with its full name, and its synopsis, description and
/// options as `.SS` subsections.
fn render_subcommand(out: &mut Vec<u8>, sub: &clap::Command) -> io::Result<()> {
    let name = sub.get_bin_name().unwrap_or(sub.get_name());
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    let man = clap_mangen::Man::new(sub.clone());
    let mut body = Vec::new();
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    man.render_options_section(&mut body)?;
    out.extend(retitle(&body, |title| format!(".SS {title}")));
    if sub.has_subcommands() {
        render_subcommand_list(out, sub, ".SS SUBCOMMANDS")?;
    }
    Ok(())
}

/// The list of `cmd`'s subcommands under `heading`: each one's full name (`procroot proc cat`)
/// and one-line description, pointing at its section of this page. Not clap_mangen's list,
/// which names a page per subcommand (`procroot-cat(1)`) that does not exist.
fn render_subcommand_list(out: &mut Vec<u8>, cmd: &clap::Command, heading: &str) -> io::Result<()> {
    writeln!(out, "{heading}")?;
    for sub in cmd.get_subcommands() {
        let name = sub.get_bin_name().unwrap_or(sub.get_name());
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let see = if sub.get_name() == "help" {
            String::new()
        } else {
            format!(" (section {} below)", name.to_uppercase())
        };
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}{}",
            roff_text(name),
            roff_text(&about),
            roff_text(&see)
        )?;
    }
    Ok(())
}

/// `text` as roff running text: backslashes and hyphens escaped, and a line that would start
/// with a control character (`.` or `'`) guarded.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `roff` with every `.SH TITLE` line replaced by the line `heading(TITLE)`.
fn retitle(roff: &[u8], heading: impl Fn(&str) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.strip_prefix(".SH ") {
            Some(title) => {
                out.push_str(&heading(title.trim_end()));
                out.push('\n');
            }
            None => out.push_str(line),
        }
    }
    out.into_bytes()
}

/// Writes `bytes` to stdout.
fn print(bytes: &[u8]) -> Result<ExitCode, Failure> {
    print_bytes(bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> Result<ExitCode, Failure> {
    crate::confine::confine(crate::confine::Notice::None, crate::confine::nothing())?;
    print(&completion_script(args.shell))
}

/// `procroot help [COMMAND]...`: the long help of procroot or of that subcommand, as
/// `COMMAND --help` prints it; an unknown COMMAND is a usage error (exit 2).
pub fn help(args: &HelpArgs) -> Result<ExitCode, Failure> {
    crate::confine::confine(crate::confine::Notice::None, crate::confine::nothing())?;
    let mut cmd = command();
    cmd.build();
    let mut target = &mut cmd;
    for (i, name) in args.command.iter().enumerate() {
        if target.find_subcommand(name).is_none() {
            let path = args.command[..=i].join(" ");
            let err = command().error(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("no command '{path}' (see procroot --help)"),
            );
            return Err(Failure::Usage(err));
        }
        target = target.find_subcommand_mut(name).expect("found above");
    }
    let text = target.render_long_help().to_string();
    print(text.as_bytes())
}

/// `procroot man`.
pub fn man() -> Result<ExitCode, Failure> {
    crate::confine::confine(crate::confine::Notice::None, crate::confine::nothing())?;
    let page = man_page().map_err(|e| Failure::stdout(&e))?;
    print(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand path (`resolve`, `proc cat`), from the clap definition itself.
    fn all_paths() -> Vec<Vec<String>> {
        fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let mut path = prefix.to_vec();
                path.push(sub.get_name().to_owned());
                out.push(path.clone());
                walk(sub, &path, out);
            }
        }
        let mut out = Vec::new();
        walk(&command(), &[], &mut out);
        out
    }

    #[test]
    fn the_list_of_subcommands_is_the_real_one() {
        let paths = all_paths();
        for expected in [
            &["cp"][..],
            &["rm"],
            &["completions"],
            &["man"],
            &["proc", "cat"],
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected:?} in {paths:?}"
            );
        }
    }

    #[test]
    fn completions_name_every_subcommand() {
        for shell in Shell::ALL {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            for path in all_paths() {
                let name = path.last().unwrap();
                // How each generator registers a subcommand: bash's `case` on the command
                // path, zsh's `'NAME:description'` list, fish's `-a "NAME"` candidates.
                let needle = match shell {
                    // (clap_complete writes a `-` in a name as `__subcmd__` too.)
                    Shell::Bash => format!("procroot__subcmd__{}", path.join("__subcmd__"))
                        .replace('-', "__subcmd__"),
                    Shell::Zsh => format!("'{name}:"),
                    Shell::Fish => format!("-a \"{name}\""),
                };
                assert!(
                    script.contains(&needle),
                    "{shell:?} completions lack {path:?} ({needle})"
                );
            }
        }
    }

    #[test]
    fn the_man_page_has_a_section_per_subcommand() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.contains("\n.TH procroot 1 "), "{page:.200}");
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SUBCOMMANDS"] {
            assert!(page.contains(&format!("\n.SH {section}\n")), "{section}");
        }
        assert!(page.contains("\n.SH \"EXIT STATUS, ERRORS AND JSON\"\n"));
        for path in all_paths() {
            let heading = format!("\n.SH \"PROCROOT {}\"\n", path.join(" ").to_uppercase());
            assert!(page.contains(&heading), "{heading}");
        }
        // The conventions are printed once, not once per subcommand.
        assert_eq!(page.matches("Exit status:").count(), 1);
        assert!(!page.contains(".SH EXTRA"));
    }
}

#[cfg(test)]
#[path = "docs_check.rs"]
mod docs_check;
