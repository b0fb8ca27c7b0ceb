//! `procroot`: resolve, read, inspect and change paths inside another root, from the command
//! line.
//!
//! A thin layer over the `procroot` library: parse the arguments ([`cli`]), make the library
//! call ([`commands`], [`mutate`], [`proc`], [`doctor`]), print text or JSON ([`output`]). It
//! holds no filesystem logic of its own.
//!
//! Exit status: 0 on success, 1 when an operation failed (reported on stderr as `procroot: `
//! and the library error's message, and with `--json` also as an `{"error": ...}` object on
//! stdout), 2 for usage errors. The only place the status is decided is [`main`]: nothing
//! calls `exit`.

// `deny`, not `forbid`: `exec::kept_fds` is the one place allowed `unsafe`, where the
// `--keep-fd` numbers this process inherited become borrowed fds (see its SAFETY comment).
#![deny(unsafe_code)]

mod cli;
mod commands;
mod confine;
mod doctor;
mod exec;
mod generate;
mod harden;
mod inspect;
mod mutate;
mod output;
mod proc;
mod progress;
mod unpack;

use std::ffi::OsStr;
use std::process::ExitCode;

use crate::cli::Command;
use crate::output::Failure;

/// Parses the arguments, runs the subcommand, and turns its outcome into the exit status.
fn main() -> ExitCode {
    // `exec` re-executes procroot from a sealed copy first of all; before the parser, so that the
    // process being replaced does not parse too. A failure is reported as `exec` reports it.
    // `--keep-fd` is checked before that, before anything is opened.
    if cli::subcommand_name(std::env::args_os()).as_deref() == Some(OsStr::new("exec")) {
        if let Err(failure) =
            exec::check_keep_fds_first(std::env::args_os()).and_then(|()| exec::seal())
        {
            failure.report(false);
            return ExitCode::from(failure.exit_status());
        }
    }
    let cli = match cli::parse() {
        Ok(cli) => cli,
        // Usage errors (status 2), and --help and --version (status 0, on stdout).
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    if procroot::FAULT_INJECTION {
        output::print_stderr(format_args!("{}", cli::FAULT_INJECTION_WARNING));
    }
    confine::init(cli.command.no_sandbox());
    match run(&cli.command) {
        Ok(code) => code,
        // The reader went away (`procroot cat big | head`): nothing is wrong.
        Err(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(cli.command.json());
            ExitCode::from(failure.exit_status())
        }
    }
}

/// Runs one subcommand. An `Err` is a failure that has not been reported yet; failures that
/// were reported along the way (`cat` goes on after a file it cannot read) show in the exit
/// code. Every failure is a typed [`Failure`]: the library error inside it already carries the
/// whole context (`<operation> "<path>" in <root>: <cause> (ERRNO)`), so no generic error type
/// (and no downcast back to `Failure`) is needed on the way out.
fn run(command: &Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Resolve(args) => commands::resolve(args),
        Command::Cat(args) => commands::cat(args),
        Command::Ls(args) => commands::ls(args),
        Command::Stat(args) => commands::stat(args),
        Command::Readlink(args) => commands::readlink(args),
        Command::Find(args) => inspect::find(args),
        Command::Audit(args) => inspect::audit(args),
        Command::Mkdir(args) => mutate::mkdir(args),
        Command::Rm(args) => mutate::rm(args),
        Command::Mv(args) => mutate::mv(args),
        Command::Ln(args) => mutate::ln(args),
        Command::Mknod(args) => mutate::mknod(args),
        Command::Chmod(args) => mutate::chmod(args),
        Command::Chown(args) => mutate::chown(args),
        Command::Touch(args) => mutate::touch(args),
        Command::Write(args) => mutate::write(args),
        Command::Cp(args) => mutate::cp(args),
        Command::Unpack(args) => unpack::unpack(args),
        Command::Proc(args) => proc::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Harden(args) => harden::harden(args),
        Command::MountProc(args) => harden::mount_proc(args),
        Command::Sysctl(args) => harden::sysctl(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man => generate::man(),
        Command::Help(args) => generate::help(args),
    }
}
