//! `procroot proc`: procfs through the hardened handle.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use procroot::{OFlags, PidFd, ProcBase, Procfs};

use crate::cli::{ProcAction, ProcArgs};
use crate::commands::{copy_file, print_link, print_listing, print_stat, CatError};
use crate::output::Failure;

/// Runs `procroot proc`.
pub fn run(args: &ProcArgs) -> Result<ExitCode, Failure> {
    let (command, subpath) = match &args.action {
        ProcAction::Cat { subpath } => ("proc cat", subpath),
        ProcAction::Ls { subpath, .. } => ("proc ls", subpath),
        ProcAction::Readlink { subpath } => ("proc readlink", subpath),
        ProcAction::Stat { subpath } => ("proc stat", subpath),
    };
    // Messages name the path as procfs would: `/proc/<base>/<subpath>`.
    let shown = shown_path(args, subpath);
    // The library's errors name the procfs path themselves; only a failed read of an opened
    // file needs this.
    let fail = |e: procroot::Error| -> Failure {
        if e.operation().is_empty() {
            e.context(command, &shown).into()
        } else {
            e.into()
        }
    };

    if let Some(nspath) = &args.pidns {
        // The helper that makes the instance is a copy of this process inside the target's
        // PID namespace: its /proc/<pid>/exe must be a sealed copy, not the binary on disk
        // (CVE-2019-5736).
        crate::harden::seal_self(command)?;
        let ns = procroot::procfs::open_pid_namespace(nspath).map_err(Failure::from)?;
        let procfs = Arc::new(Procfs::for_pidns(&ns).map_err(fail)?);
        let subpath = subpath.strip_prefix("/").unwrap_or(subpath);
        return act(args, &procfs, ProcBase::Root, subpath, &shown);
    }
    let pidfd = args.base.pid.map(PidFd::open).transpose().map_err(fail)?;
    let base = match (&pidfd, args.base.thread_self, args.base.proc_root) {
        (Some(pidfd), _, _) => ProcBase::PidFd(pidfd),
        (None, true, _) => ProcBase::ThreadSelf,
        (None, _, true) => ProcBase::Root,
        _ => ProcBase::SelfProcess,
    };
    // The root of procfs is only useful with its global files (sys/, cpuinfo): unmasked.
    let procfs: Arc<Procfs> = if args.base.proc_root {
        Procfs::cached_unmasked()
    } else {
        Procfs::cached()
    }
    .map_err(fail)?;
    // The second wall: from here on, only this procfs instance can be read. Only for this
    // process's own directories: Landlock also refuses ptrace-mode access to every process
    // outside the sandbox, which is what another process's exe, cwd, root, fd/ and environ
    // need, so `--pid` and `--proc-root` stay unconfined (procfs lookups are held beneath the
    // private instance by the handle itself, and `proc` writes nothing).
    if args.base.pid.is_none() && !args.base.proc_root {
        crate::confine::confine(
            crate::confine::Notice::json(args.json),
            crate::confine::procfs(&procfs),
        )?;
    }
    act(args, &procfs, base, subpath, &shown)
}

/// Does `args.action` on `subpath` under `base` of `procfs`.
fn act(
    args: &ProcArgs,
    procfs: &Procfs,
    base: ProcBase<'_>,
    subpath: &Path,
    shown: &Path,
) -> Result<ExitCode, Failure> {
    let command = match &args.action {
        ProcAction::Cat { .. } => "proc cat",
        ProcAction::Ls { .. } => "proc ls",
        ProcAction::Readlink { .. } => "proc readlink",
        ProcAction::Stat { .. } => "proc stat",
    };
    // The library's errors name the procfs path themselves; only a failed read of an opened
    // file needs this.
    let fail = |e: procroot::Error| -> Failure {
        if e.operation().is_empty() {
            e.context(command, shown).into()
        } else {
            e.into()
        }
    };
    match &args.action {
        ProcAction::Cat { .. } => {
            let file = procfs.open(base, subpath, OFlags::RDONLY).map_err(fail)?;
            let mut stdout = io::stdout().lock();
            let mut buf = vec![0u8; 64 * 1024];
            match copy_file(file, &mut stdout, &mut buf, fail) {
                Ok(()) => {}
                Err(CatError::Source(failure) | CatError::Stdout(failure)) => return Err(failure),
            }
            stdout.flush().map_err(|e| Failure::stdout(&e))?;
        }
        ProcAction::Ls { long, .. } => {
            let entries = procfs
                .read_dir(base, subpath)
                .and_then(|dir| dir.collect::<procroot::Result<Vec<_>>>())
                .map_err(fail)?;
            print_listing(args.json.then_some(shown), entries, *long)?;
        }
        ProcAction::Readlink { .. } => {
            let target = procfs.readlink(base, subpath).map_err(fail)?;
            print_link(shown, &target, args.json)?;
        }
        ProcAction::Stat { .. } => {
            let md = procfs.symlink_metadata(base, subpath).map_err(fail)?;
            print_stat(shown, &md, args.json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `/proc/<base>/<subpath>`, as the user would write it.
fn shown_path(args: &ProcArgs, subpath: &Path) -> PathBuf {
    if let Some(ns) = &args.pidns {
        let subpath = subpath.strip_prefix("/").unwrap_or(subpath);
        return PathBuf::from(format!("procfs of {}", ns.display())).join(subpath);
    }
    let base = match (args.base.pid, args.base.thread_self, args.base.proc_root) {
        (Some(pid), _, _) => format!("/proc/{pid}"),
        (None, true, _) => "/proc/thread-self".to_owned(),
        (None, _, true) => "/proc".to_owned(),
        _ => "/proc/self".to_owned(),
    };
    let base = PathBuf::from(base);
    if subpath.as_os_str().is_empty() {
        base
    } else {
        base.join(subpath)
    }
}
