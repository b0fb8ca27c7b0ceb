//! The subcommands that change things inside a root: `mkdir`, `rm`, `mv`, `ln`, `mknod`,
//! `chmod`, `chown`, `touch`, `write` and `cp`. Each opens the root, makes one library call per
//! operand and, with `--json`, prints one `{"op": ..., "path": ...}` object per success. Text
//! output is silent on success, as with coreutils.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use procroot::{Errno, NodeKind, OFlags, RenameFlags, ReplaceMode, Root};
use procroot_runtime::sandbox::Access;
use serde_json::{Map, Value};

use crate::cli::{
    ChmodArgs, ChownArgs, Cli, CpArgs, LnArgs, MkdirArgs, MknodArgs, MvArgs, RmArgs, RootOpts,
    TouchArgs, WriteArgs,
};
use crate::commands::{check_operand, in_context};
use crate::confine::{confine, Job, Notice};
use crate::output::{insert_os, print_json, Failure};
use crate::progress::{Watcher, Work};

/// The mode `write` gives a new file when there is neither `--mode` nor a file to replace.
const WRITE_DEFAULT_MODE: u32 = 0o644;
/// The mode `write --append` creates files with, before the umask.
const CREATE_MODE: u32 = 0o666;

/// Opens the root chosen by `opts`, and confines this process as `command`'s profile says (the
/// second wall, [`crate::confine::PROFILES`]).
fn open_root(opts: &RootOpts, command: &'static str) -> Result<Root, Failure> {
    let root = opts.open()?;
    confine(Notice::json(opts.json), Job::on(command, &root))?;
    Ok(root)
}

/// A `{"op": op, "path": path}` object, ready for more fields.
fn done(op: &str, path: &Path) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("op".into(), op.into());
    insert_os(&mut obj, "path", path.as_os_str());
    obj
}

/// Prints `obj` with `--json`; nothing otherwise.
fn report(json: bool, obj: Map<String, Value>) -> Result<(), Failure> {
    if json {
        print_json(&Value::Object(obj))
    } else {
        Ok(())
    }
}

/// Runs `one` on every path, reporting failures as they happen and going on with the next:
/// exit status 1 if any failed. A failure to write stdout stops everything, except a closed
/// pipe (`procroot mkdir --json a b | head -n1`): the reader is gone, not the work, so every
/// path is still done, unreported, and the command ends as a closed pipe does (quietly, exit
/// 0 unless a path failed). An empty path is `command`'s ENOENT failure ([`check_operand`]).
fn for_each_path(
    command: &'static str,
    paths: &[PathBuf],
    json: bool,
    mut one: impl FnMut(&Path) -> Result<Option<Map<String, Value>>, Failure>,
) -> Result<ExitCode, Failure> {
    let mut status = ExitCode::SUCCESS;
    let mut reader_gone = false;
    for path in paths {
        match check_operand(command, path).and_then(|()| one(path)) {
            Ok(Some(obj)) => match report(json && !reader_gone, obj) {
                Err(failure) if failure.is_broken_pipe() => reader_gone = true,
                other => other?,
            },
            Ok(None) => {}
            // Ctrl-C: the other paths are not touched.
            Err(failure @ Failure::Interrupted(_)) => return Err(failure),
            Err(failure) => {
                failure.report(json);
                status = ExitCode::from(1);
            }
        }
    }
    Ok(status)
}

/// A usage error in clap's format, for `subcommand`: [`main`](crate::main) prints it and
/// exits with status 2.
pub(crate) fn usage_error(subcommand: &str, message: impl std::fmt::Display) -> Failure {
    let mut cli = Cli::command();
    cli.build();
    let kind = clap::error::ErrorKind::ArgumentConflict;
    Failure::Usage(match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(kind, message),
        None => cli.error(kind, message),
    })
}

/// `procroot mkdir`.
pub fn mkdir(args: &MkdirArgs) -> Result<ExitCode, Failure> {
    let root = open_root(&args.root, "mkdir")?;
    for_each_path("mkdir", &args.paths, args.root.json, |path| {
        if args.parents {
            let handle = root.mkdir_all(path, args.mode)?;
            if !args.root.json {
                // Text output is silent: nothing to look up.
                return Ok(None);
            }
            // The path comes from the handle, which knows it when mkdir_all created anything:
            // never a second lookup by name, which a rename of the new tree right after its
            // creation would make fail although everything was created.
            let resolved = handle
                .path_in_root()
                .map_err(in_context(&root, "mkdir_all", path))?;
            Ok(Some(done("mkdir", resolved)))
        } else {
            root.mkdir(path, args.mode)?;
            Ok(Some(done("mkdir", path)))
        }
    })
}

/// `procroot rm`.
pub fn rm(args: &RmArgs) -> Result<ExitCode, Failure> {
    let root = open_root(&args.root, if args.recursive { "rm -r" } else { "rm" })?;
    // With -f an empty PATH, like any missing one, is not an error (as `rm -f ''`).
    let paths: Vec<PathBuf> = (args.paths.iter())
        .filter(|p| !(args.force && p.as_os_str().is_empty()))
        .cloned()
        .collect();
    // Only a recursive removal can take long enough to show progress or be interrupted.
    let mut watcher =
        (args.recursive).then(|| Watcher::new(Work::Remove, args.root.json, args.quiet));
    for_each_path("rm", &paths, args.root.json, |path| {
        let removed = match watcher.as_mut() {
            Some(watcher) => {
                let mut hook = |p: &procroot::Progress<'_>| watcher.hook(p);
                let opts = procroot::RemoveAllOptions::default()
                    .with_cross_mounts(args.cross_mounts)
                    .with_progress(&mut hook);
                let removed = root.remove_all_with(path, opts);
                watcher.clear();
                removed
            }
            None => root.remove_file(path),
        };
        match removed {
            Ok(()) => Ok(Some(done("rm", path))),
            Err(e) if args.force && e.errno() == Errno::NOENT => Ok(None),
            Err(e) => Err(match watcher.as_mut() {
                Some(watcher) => watcher.failure(e),
                None => e.into(),
            }),
        }
    })
}

/// `procroot mv`.
pub fn mv(args: &MvArgs) -> Result<ExitCode, Failure> {
    check_operand("mv", &args.from)?;
    check_operand("mv", &args.to)?;
    let root = open_root(&args.root, "mv")?;
    let mut flags = RenameFlags::empty();
    flags.set(RenameFlags::NOREPLACE, args.no_replace);
    flags.set(RenameFlags::EXCHANGE, args.exchange);
    flags.set(RenameFlags::WHITEOUT, args.whiteout);
    root.rename(&args.from, &args.to, flags)?;
    let mut obj = Map::new();
    obj.insert("op".into(), "mv".into());
    insert_os(&mut obj, "from", args.from.as_os_str());
    insert_os(&mut obj, "to", args.to.as_os_str());
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot ln`.
pub fn ln(args: &LnArgs) -> Result<ExitCode, Failure> {
    check_operand("ln", &args.target)?;
    check_operand("ln", &args.link)?;
    if args.symbolic {
        let root = open_root(&args.root, "ln -s")?;
        root.symlink(&args.target, &args.link)?;
    } else {
        // The target's type is looked at before confining, to give exactly the MAKE_* right it
        // needs (a device node needs MAKE_CHAR or MAKE_BLOCK to be linked, though no device is
        // made). If it changes before the link, Landlock refuses the link (EACCES): the look
        // only narrows the rights. If it cannot be looked at, no MAKE_* at all, and the link
        // reports why.
        let root = args.root.open()?;
        let make = root
            .resolve_nofollow(&args.target)
            .and_then(|handle| handle.file_type())
            .map_or(Access::empty(), Access::make);
        confine(
            Notice::json(args.root.json),
            Job::on("ln", &root).of_type(make),
        )?;
        root.hardlink(&args.target, &args.link)?;
    }
    let mut obj = done("ln", &args.link);
    insert_os(&mut obj, "target", args.target.as_os_str());
    obj.insert("symbolic".into(), args.symbolic.into());
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot mknod`.
pub fn mknod(args: &MknodArgs) -> Result<ExitCode, Failure> {
    check_operand("mknod", &args.path)?;
    // The library reads `p`, `c:MAJOR:MINOR` and `b:MAJOR:MINOR`; the command line has
    // mknod(1)'s separate operands.
    // `u` is mknod(1)'s other name for a character device ("unbuffered"): the same as `c`.
    let kind = if args.kind == "u" {
        "c"
    } else {
        args.kind.as_str()
    };
    let spec = match (kind, args.major, args.minor) {
        ("p", None, None) => "p".to_owned(),
        ("p", _, _) => return Err(usage_error("mknod", "a FIFO (p) takes no MAJOR and MINOR")),
        (kind, Some(major), Some(minor)) => format!("{kind}:{major}:{minor}"),
        (kind, _, _) => {
            return Err(usage_error(
                "mknod",
                format!("a device ({kind}) needs MAJOR and MINOR numbers"),
            ))
        }
    };
    // Parsed (and device numbers range-checked, EINVAL) before the root is even opened. The
    // kind's type is inferred from `Root::mknod`. The parse error has no path of its own.
    let kind = spec
        .parse()
        .map_err(|e: procroot::Error| Failure::from(e.context("mknod", &args.path)))?;
    let make = match kind {
        NodeKind::Fifo => Access::MAKE_FIFO,
        NodeKind::CharDevice { .. } => Access::MAKE_CHAR,
        NodeKind::BlockDevice { .. } => Access::MAKE_BLOCK,
    };
    let root = args.root.open()?;
    confine(
        Notice::json(args.root.json),
        Job::on("mknod", &root).of_type(make),
    )?;
    root.mknod(&args.path, kind, args.mode)?;
    let mut obj = done("mknod", &args.path);
    obj.insert("node".into(), kind.to_string().into());
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot chmod`.
pub fn chmod(args: &ChmodArgs) -> Result<ExitCode, Failure> {
    check_operand("chmod", &args.path)?;
    let root = open_root(&args.root, "chmod")?;
    root.set_permissions(&args.path, args.mode)?;
    let mut obj = done("chmod", &args.path);
    obj.insert("mode".into(), format!("{:04o}", args.mode).into());
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot chown`.
pub fn chown(args: &ChownArgs) -> Result<ExitCode, Failure> {
    check_operand("chown", &args.path)?;
    let root = open_root(&args.root, "chown")?;
    let (uid, gid) = (args.owner.uid, args.owner.gid);
    let changed = if args.nofollow {
        root.chown_nofollow(&args.path, uid, gid)
    } else {
        root.chown(&args.path, uid, gid)
    };
    changed?;
    let mut obj = done("chown", &args.path);
    obj.insert("uid".into(), uid.map_or(Value::Null, Value::from));
    obj.insert("gid".into(), gid.map_or(Value::Null, Value::from));
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot touch`: [`Root::touch`], which never opens what it touches.
pub fn touch(args: &TouchArgs) -> Result<ExitCode, Failure> {
    let root = open_root(&args.root, "touch")?
        .with_special_files(crate::commands::special_files(args.special_files));
    for_each_path("touch", &args.paths, args.root.json, |path| {
        if args.nofollow {
            root.touch_nofollow(path)?;
        } else {
            root.touch(path)?;
        }
        Ok(Some(done("touch", path)))
    })
}

/// `procroot write`.
pub fn write(args: &WriteArgs) -> Result<ExitCode, Failure> {
    check_operand("write", &args.path)?;
    // --append opens an existing PATH through O_PATH after checking its type: a FIFO or device
    // node is refused (ENXIO) unless --special-files, and then opened without blocking.
    let command = if args.append {
        "write --append"
    } else {
        "write"
    };
    let root = open_root(&args.root, command)?
        .with_special_files(crate::commands::special_files(args.special_files));
    let path = &args.path;
    // Ctrl-C ends a read waiting for input: the library then removes its temporary (by
    // identity) and leaves PATH as it was; exit 130.
    let mut watcher = Watcher::new(Work::Write, args.root.json, true);
    let stdin = watcher.reader(io::stdin().lock());
    let written = if args.append {
        let mode = args.mode.unwrap_or(CREATE_MODE);
        let mut file = root.create_file(path, OFlags::WRONLY | OFlags::APPEND, mode)?;
        io::copy(&mut { stdin }, &mut file).map_err(|e| {
            procroot::Error::from(e)
                .context("write", path)
                .in_root(root.display_name())
        })
    } else {
        // Keep the mode of the file being replaced, unless told otherwise: the library reads it
        // right before its rename, relative to the same parent fd.
        let mode = args
            .mode
            .map_or(ReplaceMode::KeepOr(WRITE_DEFAULT_MODE), ReplaceMode::Exact);
        root.replace_file_with(path, mode, stdin)
    };
    let bytes = written.map_err(|e| watcher.failure(e))?;
    let mut obj = done("write", path);
    obj.insert("bytes".into(), bytes.into());
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}

/// `procroot cp`: exactly one operand is `:PATH`, inside the root.
pub fn cp(args: &CpArgs) -> Result<ExitCode, Failure> {
    // An empty operand, or `:` alone (the empty path inside the root), names nothing: ENOENT.
    for operand in [&args.src, &args.dst] {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(operand.as_os_str());
        if bytes.is_empty() || bytes == b":" {
            check_operand("cp", Path::new(""))?;
        }
    }
    let in_root = |p: &Path| {
        use std::os::unix::ffi::OsStrExt;
        p.as_os_str()
            .as_bytes()
            .strip_prefix(b":")
            .map(|rest| PathBuf::from(std::ffi::OsStr::from_bytes(rest)))
    };
    let mut watcher = Watcher::new(Work::Copy, args.root.json, args.quiet);
    let mut hook = |p: &procroot::Progress<'_>| watcher.hook(p);
    let mut warnings = Vec::new();
    let mut warn = |w: &procroot::CopyWarning| warnings.push(w.clone());
    let opts = procroot::CopyOptions::default()
        .with_special_files(crate::commands::special_files(args.special_files))
        .with_xattrs(args.xattrs.into())
        .with_progress(&mut hook)
        .with_warnings(&mut warn);
    let copied = match (in_root(&args.src), in_root(&args.dst)) {
        (None, Some(dst)) => {
            let root = args.root.open()?;
            // The library's rules for this copy (`sandbox::copy_rules`): read beneath the host
            // source, make and write beneath the root.
            let job = Job::copy("cp (in)", &root, &args.src).special_files(args.special_files);
            confine(Notice::json(args.root.json), job)?;
            root.copy_in_with(&args.src, dst, opts)
        }
        (Some(src), None) => {
            let root = args.root.open()?;
            // The library's rules for this copy: read beneath the root; beneath the host
            // directory the copy lands in, make and write but never read a file or make a
            // device node.
            let job = Job::copy("cp (out)", &root, &args.dst).special_files(args.special_files);
            confine(Notice::json(args.root.json), job)?;
            root.copy_out_with(src, &args.dst, opts)
        }
        (Some(_), Some(_)) => {
            return Err(usage_error(
                "cp",
                "both SRC and DST are inside the root (`:`); exactly one must be",
            ))
        }
        (None, None) => {
            return Err(usage_error(
                "cp",
                "neither SRC nor DST is inside the root; mark the one inside with `:` \
                 (`:/etc/hosts`)",
            ))
        }
    };
    watcher.clear();
    // What the copy went on without, on stderr (also with --json: they matter as much as the
    // result), and in the JSON.
    for warning in &warnings {
        crate::output::print_stderr(format_args!("procroot: warning: cp: {warning}"));
    }
    copied.map_err(|e| watcher.failure(e))?;
    let mut obj = Map::new();
    obj.insert("op".into(), "cp".into());
    insert_os(&mut obj, "from", args.src.as_os_str());
    insert_os(&mut obj, "to", args.dst.as_os_str());
    if !warnings.is_empty() {
        let list = warnings.iter().map(|w| {
            let mut entry = Map::new();
            insert_os(&mut entry, "path", w.path.as_os_str());
            entry.insert("what".into(), w.what.clone().into());
            entry.insert("outcome".into(), w.outcome.clone().into());
            entry.insert("errno".into(), procroot::error::errno_name(w.errno).into());
            entry.insert("message".into(), w.to_string().into());
            Value::Object(entry)
        });
        obj.insert("warnings".into(), Value::Array(list.collect()));
    }
    report(args.root.json, obj)?;
    Ok(ExitCode::SUCCESS)
}
