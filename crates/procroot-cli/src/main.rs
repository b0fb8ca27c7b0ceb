//! `procroot`: resolve, read, inspect and change paths inside another root, from the command
//! line.
//!
//! A thin layer over the `procroot` library: parse the arguments ([`cli`]), make the library
//! call ([`commands`]), print text or JSON ([`output`]).
//!
//! Exit status: 0 on success, 1 when an operation failed (reported on stderr as
//! `procroot: <command> <path>: <description> (<ERRNO>)`, and with `--json` also as an
//! `{"error": ...}` object on stdout), 2 for usage errors (clap's default).

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod doctor;
mod harden;
mod mutate;
mod output;
mod proc;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output::Failure;

/// Parses the arguments (usage errors exit 2 inside clap), runs the subcommand, and turns its
/// outcome into the exit status.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.command.json();
    match run(&cli.command) {
        Ok(code) => code,
        Err(err) => match err.downcast_ref::<Failure>() {
            // The reader went away (`procroot cat big | head`): nothing is wrong.
            Some(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
            Some(failure) => {
                failure.report(json);
                ExitCode::from(1)
            }
            None => {
                eprintln!("procroot: {err:#}");
                ExitCode::from(1)
            }
        },
    }
}

/// Runs one subcommand. An `Err` is a failure that has not been reported yet (a [`Failure`]
/// carries the errno for `--json`); failures that were reported along the way (`cat` goes on
/// after a file it cannot read) show in the exit code.
fn run(command: &Command) -> anyhow::Result<ExitCode> {
    Ok(match command {
        Command::Resolve(args) => commands::resolve(args)?,
        Command::Cat(args) => commands::cat(args)?,
        Command::Ls(args) => commands::ls(args)?,
        Command::Stat(args) => commands::stat(args)?,
        Command::Readlink(args) => commands::readlink(args)?,
        Command::Mkdir(args) => mutate::mkdir(args)?,
        Command::Rm(args) => mutate::rm(args)?,
        Command::Mv(args) => mutate::mv(args)?,
        Command::Ln(args) => mutate::ln(args)?,
        Command::Mknod(args) => mutate::mknod(args)?,
        Command::Chmod(args) => mutate::chmod(args)?,
        Command::Chown(args) => mutate::chown(args)?,
        Command::Touch(args) => mutate::touch(args)?,
        Command::Write(args) => mutate::write(args)?,
        Command::Cp(args) => mutate::cp(args)?,
        Command::Proc(args) => proc::run(args)?,
        Command::Doctor(args) => doctor::run(args)?,
        Command::Harden(args) => harden::harden(args)?,
        Command::MountProc(args) => harden::mount_proc(args)?,
        Command::Sysctl(args) => harden::sysctl(args)?,
    })
}
