//! `procroot exec`: run a command in another process's namespaces and root.

use std::ffi::OsString;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use procroot_runtime::exec::{sealed_exe, Command};

use crate::cli::ExecArgs;
use crate::output::Failure;

/// Checks the `--keep-fd` values of an `exec` command line are open, before anything is parsed,
/// opened or re-executed (`main` calls it first): a number checked after procroot has opened its
/// pidfd and procfs could name one of those, which the target would then get. Values that are
/// not numbers are left to the parser (a usage error).
pub fn check_keep_fds_first(args: impl IntoIterator<Item = OsString>) -> Result<(), Failure> {
    let mut args = args.into_iter().skip_while(|a| a != "exec").skip(1);
    let mut fds = Vec::new();
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") | None => break,
            Some("--keep-fd") => args.next(),
            Some(a) if a.starts_with("--keep-fd=") => Some(a["--keep-fd=".len()..].into()),
            // The options that take a value: their value is not the command.
            Some("--pid" | "--ns" | "--cwd" | "--user" | "--env" | "--config") => {
                args.next();
                continue;
            }
            Some(a) if a.starts_with('-') => continue,
            // The command: what follows is its own arguments.
            Some(_) => break,
        };
        if let Some(fd) = value.and_then(|v| v.to_str()?.parse().ok()) {
            fds.push(fd);
        }
    }
    procroot_runtime::exec::check_keep_fds(&fds).map_err(keep_fd_failure)?;
    let _ = INHERITED.set(fds);
    Ok(())
}

fn keep_fd_failure(e: procroot::Error) -> Failure {
    Failure::Library(e.context("exec", Path::new("--keep-fd")))
}

/// The `--keep-fd` numbers [`check_keep_fds_first`] found open before procroot opened anything:
/// fds this process inherited, which it never closes.
static INHERITED: OnceLock<Vec<RawFd>> = OnceLock::new();

/// The `--keep-fd` fds, borrowed for the rest of the process's life: the one place where
/// `procroot exec` turns a number into an fd (the library takes only borrowed fds, so that a
/// number closed and reused meanwhile can never be handed to the target). Only numbers that
/// [`check_keep_fds_first`] saw open first thing are taken; any other is refused as not open
/// (fail closed: checked later, it could name one of procroot's own fds).
#[allow(unsafe_code)]
fn kept_fds(fds: &[i32]) -> Result<Vec<BorrowedFd<'static>>, Failure> {
    let inherited = INHERITED.get().map(Vec::as_slice).unwrap_or_default();
    let mut kept = Vec::with_capacity(fds.len());
    for &fd in fds {
        if !inherited.contains(&fd) {
            return Err(keep_fd_failure(procroot_runtime::exec::not_open_in_caller(
                fd,
            )));
        }
        // SAFETY: `fd` was open when `main` called `check_keep_fds_first`, before this process
        // opened any fd of its own, so it is one the process inherited; nothing in procroot
        // closes an fd it does not own (it owns no `OwnedFd` of this number), so the fd stays
        // open, naming the same file, until the process exits.
        kept.push(unsafe { BorrowedFd::borrow_raw(fd) });
    }
    Ok(kept)
}

/// Makes sure procroot runs from a sealed copy of its binary ([`sealed_exe::ensure`]: the
/// target's processes can see `/proc/<our pid>/exe`), re-executing it if not. `main` calls it
/// before parsing the arguments when the subcommand is `exec` (the process about to be
/// replaced then skips the parser); [`run`] calls it again, which then only checks.
pub fn seal() -> Result<(), Failure> {
    sealed_exe::ensure()
        .map(drop)
        .map_err(|e| Failure::Library(e.context("exec: seal", Path::new("/proc/self/exe"))))
}

/// Runs `procroot exec`: seals procroot's own binary first (the target's processes can see
/// `/proc/<our pid>/exe`), then runs the command and exits as it did (128+N after signal N;
/// 127 when the command was not found, 126 when it could not be executed, see
/// [`Failure::exit_status`]).
pub fn run(args: &ExecArgs) -> Result<ExitCode, Failure> {
    let shown = PathBuf::from(args.pid.to_string());
    seal()?;
    let pidfd = procroot_runtime::exec::open_target(args.pid)
        .map_err(|e| Failure::Library(e.within("exec --pid", &shown)))?;
    let mut command = Command::new(&args.command[0]);
    command.args(&args.command[1..]).current_dir(&args.cwd);
    for fd in kept_fds(&args.keep_fd)? {
        command.keep_fd(fd);
    }
    if args.cgroup {
        command.join_cgroup();
    }
    if args.privileged {
        command.privileged();
    }
    if let Some((uid, gid)) = args.user {
        command.user(uid, gid);
    }
    if args.no_seccomp {
        command.without_seccomp();
    }
    if let Some(config) = &args.config {
        let profile = procroot_runtime::exec::seccomp_profile::load_profile(config)
            .map_err(|e| Failure::Library(e.within("exec", Path::new("--config"))))?;
        command.seccomp_profile(profile);
    }
    if args.env_clear {
        command.env_clear();
    }
    if args.preserve_env {
        command.preserve_env();
    }
    for (key, value) in &args.env {
        command.env(key, value);
    }
    // procroot stays the command's responsive stand-in: signals passed on, job control.
    command.forward_signals();
    // The library's errors already say `exec in "<pid>"` and keep what failed inside it.
    let status =
        procroot_runtime::exec::spawn_in(&pidfd, args.ns, &command).map_err(Failure::Library)?;
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

#[cfg(test)]
mod tests {
    use procroot_runtime::exec::NsKind;

    /// `--ns`'s help lists the namespace kinds by hand (clap wants a literal): it must name
    /// exactly the kinds of the library's one namespace table.
    #[test]
    fn ns_help_lists_every_kind_of_the_table() {
        let cmd = <super::ExecArgs as clap::Args>::augment_args(clap::Command::new("exec"));
        let help = cmd
            .get_arguments()
            .find(|a| a.get_id() == "ns")
            .and_then(|a| a.get_help())
            .expect("--ns has help")
            .to_string();
        let list = help
            .split("comma-separated list of ")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .expect("the list in the help");
        let mut listed: Vec<&str> = list.split(',').map(str::trim).collect();
        let mut table: Vec<&str> = NsKind::ALL.iter().map(|k| k.name()).collect();
        listed.sort_unstable();
        table.sort_unstable();
        assert_eq!(listed, table, "{help}");
    }
}
