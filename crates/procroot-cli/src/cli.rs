//! The command line: clap definitions, and how they become a [`procroot::Root`].
//!
//! Every subcommand's `…Args` struct and every value type of an option live here, and only
//! here: the command modules take their arguments from this module and this module imports
//! none of them, so the parser can be read (and changed) in one place without import circles.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use procroot::{Backend, Policy, ResolveFlags, Root};
use procroot_runtime::exec::NsKinds;
use procroot_runtime::inspect::audit::Class;
use procroot_runtime::inspect::find::{Glob, Perm, Size, TypeSet};

/// Text shown after `procroot -h`.
const SHORT_CONVENTIONS: &str =
    "Exit status: 0 success, 1 operation error, 2 usage error. See --help for the error and JSON \
     formats.";

/// The one line under every subcommand's help (`-h` and `--help`): the conventions in full are
/// [`CONVENTIONS`], shown once, under `procroot --help` (and once in the man page).
const SUBCOMMAND_TRAILER: &str = "Exit status: 0 success, 1 operation error, 2 usage error. \
     Errors and --json: see procroot --help.";

/// Text shown after `procroot --help` (and in the man page, once): exit codes and the JSON
/// conventions shared by all subcommands.
const CONVENTIONS: &str = "\
Exit status:
  0  success
  1  an operation failed (the path does not exist, escapes the root, ...)
  2  usage error (unknown option, missing PATH, conflicting options)
An empty PATH operand ('') is not a usage error: as for coreutils it names nothing (ENOENT,
exit 1).
A stdout whose reader has gone (`procroot ... | head -c0`) is not an error: every command
stops printing and exits 0 (or 1 if an operation failed); one that changes things still makes
every change it was asked for.

Errors are printed on stderr as `procroot: ` and the library's message,
`<operation> \"<path>\" in <root>: <description> (<ERRNO>)`, for example
  procroot: resolve \"/nope\" in /srv/root: No such file or directory (ENOENT)
The operation is the library call that failed (resolve, open, read, mkdir, mkdir_all, touch,
write, create, copy in, ...). Control characters, quotes, bytes that are not UTF-8, and
characters that change how text is shown without being seen (bidirectional overrides and
isolates such as U+202E, zero-width characters, U+2028, U+2029, U+FEFF) are shown escaped in a
path and in the root's name (`\\u{a}`, `\\\"`, `\\xff`, `\\u{202e}`).

With --json, output is one JSON object per line. An error is also printed on stdout as
  {\"error\": {\"errno\": \"ENOENT\", \"code\": 2, \"message\": \"resolve \\\"/nope\\\" in ...\",
   \"kind\": \"not_found\", \"operation\": \"resolve\", \"path\": \"/nope\", \"root\": \"/srv/root\"}}
`kind` is not_found, safety_violation (an escape, a refused mount crossing or special file),
invalid_input, not_supported or os; `path` and `root` are null when the error has none.
JSON strings must be UTF-8: a path or name that is not keeps its field (for example \"path\"),
holding the text with invalid bytes replaced by U+FFFD, plus a field of the same name ending in
`_base64` (\"path_base64\") holding the exact bytes in standard base64 with padding. Only such
names get the `_base64` field.";

/// `--version`'s text: the version, and for a build whose first wall is broken on purpose
/// ([`procroot::FAULT_INJECTION`]) a mark that cannot be missed.
const VERSION: &str = if procroot::FAULT_INJECTION {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (FAULT-INJECTION BUILD: the resolver is broken on purpose, for tests only)"
    )
} else {
    env!("CARGO_PKG_VERSION")
};

/// The warning a fault-injection build prints on stderr before every command.
pub const FAULT_INJECTION_WARNING: &str = "procroot: warning: this is a FAULT-INJECTION build \
    (--cfg procroot_fault_injection): its resolver follows symlinks and `..` out of the root on \
    purpose, for tests only; never use it on real data";

/// Race-free path resolution inside another root.
///
/// Every PATH is resolved inside a root, as if that root were `/`: a directory (--root DIR), or
/// another process's root and mount namespace (--pid PID, through the /proc/PID/root
/// "wormhole"). Absolute symlinks restart at the root and `..` never climbs out of it, even while
/// something inside the root renames and swaps files. Paths are resolved by the kernel (openat2)
/// when it can, or by an equivalent userspace walker.
#[derive(Debug, Parser)]
#[command(
    name = "procroot",
    version = VERSION,
    verbatim_doc_comment,
    // Our own `help` (Command::Help): clap's refuses `help --help` (exit 2).
    disable_help_subcommand = true,
    after_help = SHORT_CONVENTIONS,
    after_long_help = CONVENTIONS
)]
pub struct Cli {
    /// The options given before the subcommand (`procroot --root R cat /f`), moved into the
    /// subcommand's own by [`parse`].
    #[command(flatten)]
    pub leading: LeadingOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommand's options that are also accepted before it, as `procroot --root R cat /f`
/// (the same as `procroot cat --root R /f`). [`parse`] moves each into the subcommand's own
/// options; one the subcommand does not take, or one given both before and after it, is a
/// usage error (exit 2).
#[derive(Debug, Args)]
#[command(
    next_help_heading = "Options also accepted before the command (see the command's --help)"
)]
pub struct LeadingOpts {
    /// The command's --root DIR: resolve paths inside directory DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "pid")]
    pub root: Option<PathBuf>,
    /// The command's --pid PID: resolve paths inside the root of process PID.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// The command's --policy.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub policy: Option<PolicyArg>,
    /// The command's --no-symlinks.
    #[arg(long)]
    pub no_symlinks: bool,
    /// The command's --no-xdev.
    #[arg(long)]
    pub no_xdev: bool,
    /// The command's --backend.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Option<BackendArg>,
    /// The command's --json.
    #[arg(long)]
    pub json: bool,
    /// The command's --no-sandbox (only commands that confine themselves take it).
    #[arg(long)]
    pub no_sandbox: bool,
}

/// The clap command, built in full ([`built`]), with every help text's prose reflowed
/// ([`reflow`]) so that clap can wrap it to the terminal's width (`wrap_help`, `COLUMNS`).
/// What `--help`, `procroot help`, the man page and the completions use.
pub fn command() -> clap::Command {
    help_command(None)
}

/// [`command`], named `bin_name` in usage lines when given (as the parser names it after the
/// program's file name).
fn help_command(bin_name: Option<String>) -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    if let Some(name) = bin_name {
        cmd = cmd.bin_name(name);
    }
    reflow_command(built(cmd))
}

/// `cmd` built in full ([`clap::Command::build`]), each subcommand with the help texts its
/// variant of [`Command`] declares.
///
/// [`Command`] is `defer`red, so that a run builds the arguments of the one subcommand it runs
/// and not those of every subcommand (a third of `procroot cat`'s page faults; BENCHMARKS.md
/// 8.2). The deferred part, the `...Args` struct's own definition, then runs after the
/// variant's attributes instead of before them, and the struct's doc comment ("Arguments of
/// `procroot cat`.") would replace the variant's `about` and `long_about`. The variant's texts,
/// read before the build, are put back; a text the variant leaves unset (`harden`'s long help
/// is its struct's: the variant has only an `about` attribute) stays the struct's.
fn built(mut cmd: clap::Command) -> clap::Command {
    type Text = Option<clap::builder::StyledStr>;
    let declared: Vec<(String, [Text; 4])> = cmd
        .get_subcommands()
        .map(|sub| {
            let texts = [
                sub.get_about().cloned(),
                sub.get_long_about().cloned(),
                sub.get_after_help().cloned(),
                sub.get_after_long_help().cloned(),
            ];
            (sub.get_name().to_owned(), texts)
        })
        .collect();
    cmd.build();
    for (name, [about, long_about, after_help, after_long_help]) in declared {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            if let Some(text) = about {
                sub = sub.about(text);
            }
            if let Some(text) = long_about {
                sub = sub.long_about(text);
            }
            if let Some(text) = after_help {
                sub = sub.after_help(text);
            }
            if let Some(text) = after_long_help {
                sub = sub.after_long_help(text);
            }
            sub
        });
    }
    cmd
}

/// [`command`]'s work on `cmd` and, depth first, its subcommands.
fn reflow_command(mut cmd: clap::Command) -> clap::Command {
    if let Some(text) = cmd.get_long_about().map(ToString::to_string) {
        cmd = cmd.long_about(reflow(&text));
    }
    if let Some(text) = cmd.get_after_long_help().map(ToString::to_string) {
        cmd = cmd.after_long_help(reflow(&text));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, reflow_command);
    }
    cmd
}

/// Joins the lines of each prose paragraph of a verbatim help text into one line: the source
/// wraps them at about 95 columns, and clap, wrapping each line again to an 80-column
/// terminal, would leave a word or two alone on every other line. An indented line (an
/// example, a table, a JSON sample, a list) and the line after it are kept as they are.
pub(crate) fn reflow(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_prose = false;
    for (i, line) in text.lines().enumerate() {
        let prose = !line.is_empty() && !line.starts_with(char::is_whitespace);
        if i > 0 {
            out.push(if prose && prev_prose { ' ' } else { '\n' });
        }
        out.push_str(line);
        prev_prose = prose;
    }
    out
}

/// Parses the command line (`std::env::args_os`): clap, then the options given before the
/// subcommand moved into it ([`LeadingOpts`]).
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    // The reflowed command only where help is shown: every other run skips reflowing some
    // 30 help texts at start-up.
    let mut cmd = Cli::command();
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(matches) => matches,
        // Help, asked for or shown for a missing subcommand (`procroot proc`), from the full
        // command ([`built`]): the parser's has the deferred subcommands' texts out of order.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            return Err(help_command(cmd.get_bin_name().map(str::to_owned))
                .try_get_matches_from(std::env::args_os())
                .expect_err("the same arguments ask for help"));
        }
        Err(e) => return Err(e),
    };
    let mut cli = Cli::from_arg_matches(&matches)?;
    let (name, sub) = matches.subcommand().expect("clap requires a subcommand");
    cli.move_leading(name, sub)
        .map_err(|msg| cmd.error(clap::error::ErrorKind::ArgumentConflict, msg))?;
    Ok(cli)
}

impl Cli {
    /// Moves the [`LeadingOpts`] that were given into the options of subcommand `name`, whose
    /// matches are `sub`. The error is a usage error's message.
    fn move_leading(&mut self, name: &str, sub: &clap::ArgMatches) -> Result<(), String> {
        let lead = &mut self.leading;
        let given = [
            ("root", lead.root.is_some()),
            ("pid", lead.pid.is_some()),
            ("policy", lead.policy.is_some()),
            ("no_symlinks", lead.no_symlinks),
            ("no_xdev", lead.no_xdev),
            ("backend", lead.backend.is_some()),
            ("json", lead.json),
            ("no_sandbox", lead.no_sandbox),
        ];
        // A command with `RootOpts` takes all of them (its --json and --no-sandbox are there).
        let (root_opts, json, no_sandbox) = self.command.leading_targets();
        let has_root = root_opts.is_some();
        for (id, _) in given.iter().filter(|(_, given)| *given) {
            let flag = format!("--{}", id.replace('_', "-"));
            let takes = has_root
                || match *id {
                    "json" => json.is_some(),
                    "no_sandbox" => no_sandbox.is_some(),
                    _ => false,
                };
            if !takes {
                return Err(format!(
                    "'{flag}' before the command does not apply to '{name}', which has no such \
                     option (see procroot {name} --help)"
                ));
            }
            // `proc`'s --json and --no-sandbox are global within `proc` (`proc cat --json`):
            // clap has already copied the leading one into them, so it counts once.
            let propagated = name == "proc" && matches!(*id, "json" | "no_sandbox");
            if !propagated && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                return Err(format!(
                    "'{flag}' was given both before and after the command '{name}'"
                ));
            }
        }
        if let Some(opts) = root_opts {
            opts.root = opts.root.take().or(lead.root.take());
            opts.pid = opts.pid.or(lead.pid);
            if opts.root.is_some() && opts.pid.is_some() {
                return Err("'--root' and '--pid' cannot be used together".into());
            }
            opts.policy = lead.policy.unwrap_or(opts.policy);
            opts.backend = lead.backend.unwrap_or(opts.backend);
            opts.no_symlinks |= lead.no_symlinks;
            opts.no_xdev |= lead.no_xdev;
            opts.json |= lead.json;
            opts.no_sandbox |= lead.no_sandbox;
        }
        if let Some(json) = json {
            *json |= lead.json;
        }
        if let Some(no_sandbox) = no_sandbox {
            *no_sandbox |= lead.no_sandbox;
        }
        Ok(())
    }
}

/// The subcommand's name in `args` (the program name first, as `std::env::args_os`): the first
/// argument after the global `--no-sandbox` flags, before the parser has run.
pub fn subcommand_name(args: impl IntoIterator<Item = OsString>) -> Option<OsString> {
    args.into_iter().skip(1).find(|a| a != "--no-sandbox")
}

/// The subcommands.
///
/// `defer`: the parser builds the arguments of the subcommand it runs, not of all of them,
/// on every start; [`command`] builds them all, with the help as declared here ([`built`]).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Print the absolute path inside the root that PATH resolves to
    ///
    /// Prints `/etc/passwd` for a file, `/` for the root itself, and `/run/app.sock` for
    /// `/var/run/app.sock` when `/var/run` is a symlink to `/run`.
    ///
    /// With --json, prints one object:
    ///   {"path": "/run/app.sock", "type": "socket", "backend": "kernel"}
    /// `type` is file, dir, symlink, fifo, socket, char, block or unknown (with --except-last:
    /// null when the last component does not exist). `backend` is the resolver that produced
    /// the answer: kernel or emulated. With --backend kernel it is emulated when openat2's
    /// answer was re-examined by the userspace walker (see --backend).
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Resolve(ResolveArgs),
    /// Write the contents of files inside the root to stdout
    ///
    /// The bytes are copied unchanged and streamed, so binary and large files are fine. After a
    /// file that cannot be opened or read, the remaining files are still written, and the exit
    /// status is 1.
    ///
    /// Each PATH is looked at before it is opened: a FIFO (which would block), a socket or a
    /// device node (the host's device: `c 1 9` is the host's urandom) is refused with ENXIO,
    /// naming its type, unless --special-files. Then it is opened without blocking: a FIFO with
    /// no writer reads as empty.
    ///
    /// With --json, the contents are still written raw; only errors are JSON objects, one line
    /// each on stdout, after whatever was written before them.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Cat(CatArgs),
    /// List a directory inside the root
    ///
    /// Prints the names one per line, sorted bytewise, without `.` and `..`. With -l, each line
    /// is the type padded to 7 columns, two spaces, and the name:
    ///   dir      etc
    ///   symlink  lib
    /// A name containing a newline is ambiguous in this output; use --json.
    ///
    /// With --json, prints one object, where `path` is the directory's path inside the root:
    ///   {"path": "/etc", "entries": [{"name": "passwd", "type": "file"}, ...]}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Ls(LsArgs),
    /// Show the metadata of a file inside the root
    ///
    /// Prints `key: value` lines: path (inside the root), type, mode (permission bits in octal,
    /// with setuid, setgid and sticky: 0644, 4755), size, ino, dev (major:minor of the device of
    /// the file system holding the file), nlink, uid, gid, and the times atime, mtime, ctime
    /// and btime (birth) in seconds since the epoch with nanoseconds, as coreutils
    /// `stat -c %.9X` shows them (1733480000.123456789); `btime: -` when the kernel does not
    /// give a birth time (statx without STATX_BTIME).
    ///
    /// With --json, prints one object with the same keys, where mode and dev are strings ("0644",
    /// "8:1"), plus dev_major and dev_minor as numbers, and each time as seconds and
    /// nanoseconds (btime and btime_nsec null when unknown):
    ///   {"path": "/etc/passwd", "type": "file", "mode": "0644", "size": 1221, "ino": 737,
    ///    "dev": "8:1", "dev_major": 8, "dev_minor": 1, "nlink": 1, "uid": 0, "gid": 0,
    ///    "atime": 1733480000, "atime_nsec": 123456789, "mtime": ..., "mtime_nsec": ...,
    ///    "ctime": ..., "ctime_nsec": ..., "btime": null, "btime_nsec": null}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Stat(StatArgs),
    /// Print the target of a symlink inside the root
    ///
    /// Prints the target exactly as stored in the link (it is not resolved), and a newline. The
    /// directories leading to the link are resolved inside the root; the link itself is never
    /// followed. PATH not being a symlink is an error (EINVAL).
    ///
    /// With --json, prints one object, where `path` is the link's own path inside the root:
    ///   {"path": "/var/run", "target": "/run"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Readlink(ReadlinkArgs),
    /// List the entries inside the root that match predicates, as find -xdev does
    ///
    /// Walks each PATH (default /) inside the root and prints the path inside the root of every
    /// entry that matches all the predicates given (they are ANDed), one per line (--print0:
    /// NUL-separated), its bytes unchanged, as find -print does: a name with a newline is
    /// ambiguous, and a name chosen inside the root may hold terminal escape sequences; for a
    /// root you do not trust, use --print0 or --json. The starting path itself is depth 0 and
    /// is listed too, as find lists it.
    ///
    /// Every entry is reached by its directory's fd and its name: a symlink is never followed
    /// unless --follow, and then it is resolved inside the root (an absolute target or `..`
    /// stays in it; a directory reached twice is not walked again). The walk stays on each
    /// PATH's mount (find -xdev) unless --cross-mounts. An entry that cannot be read (a
    /// directory without permission, a name that vanished) is reported on stderr and the walk
    /// goes on; the exit status is then 1.
    ///
    /// The predicates have find's meaning: --name and --path are shell globs (find -name,
    /// -path: `*` and `?` also match a leading `.` and, in --path, `/`; the globset syntax
    /// also has {a,b} and **) on the entry's name and on its path inside the root; --perm is
    /// octal MODE (exactly these bits), -MODE (all of them) or /MODE (any of them); --size
    /// counts in units rounded up (--size -1M: only empty files). --name, --path and --type
    /// need no stat when the file system gives the type in the directory (d_type); the others,
    /// and --json, make one statx per entry.
    ///
    /// With --json, prints one object per entry (mode and dev as `procroot stat` shows them,
    /// `target` null unless a symlink):
    ///   {"path": "/usr/bin/su", "type": "file", "mode": "4755", "size": 72000, "uid": 0,
    ///    "gid": 0, "mtime": 1733480000, "mtime_nsec": 123456789, "nlink": 1, "ino": 1234,
    ///    "dev": "8:1", "target": null}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Find(FindArgs),
    /// Report what in the root is dangerous to a host process that uses it
    ///
    /// Walks PATH (default /) inside the root, never following a symlink and staying on its
    /// mount unless --cross-mounts, and reports each finding under one of these classes:
    ///   device               a character or block device node, except /dev/null, zero,
    ///                        full, random, urandom, tty, console, ptmx with their standard
    ///                        numbers (type, major, minor, uid, gid, mode)
    ///   setuid, setgid       a set-ID entry, as find -perm /6000 (uid, gid, mode)
    ///   capabilities         an executable regular file with security.capability, decoded
    ///                        (capabilities: "cap_net_raw+ep", rootid, uid, gid, mode)
    ///   hardlinked-setid     a set-ID regular file with more than one link (nlink, ino, uid,
    ///                        mode)
    ///   world-writable       a regular file anyone may write, or such a directory without
    ///                        the sticky bit (type, uid, mode)
    ///   fifo, socket         a host tool that opens it blocks or talks to the container
    ///                        (uid, mode)
    ///   escaping-symlink     a symlink a naive host process would follow elsewhere than the
    ///                        root's resolver: an absolute target, or `..` above the root
    ///                        (target, inside, inside_error, host)
    ///   sticky-foreign-link  a symlink in a sticky world-writable directory owned by neither
    ///                        the directory's owner nor root (target, uid, dir, dir_uid)
    ///   magic-link-name      a symlink to /proc/<pid|self|thread-self>/{root,cwd,exe,fd/N,...}
    ///                        (target)
    /// `inside` is where the link leads inside the root (null when it leads nowhere, with the
    /// errno in `inside_error`); `host` is what a host process following it by path would read,
    /// computed lexically, never by following it on the host: an absolute target on the host,
    /// or for `..` above the root the path beside the root (with --pid, the path the host
    /// process would open under /proc/PID/root). Only directories are opened, never a FIFO or a
    /// device: one statx per entry, a readlink per symlink, and per executable regular file a
    /// getxattrat of security.capability (before Linux 6.13, which lacks it, the file is
    /// reopened read-only for it).
    ///
    /// Text output: a `CLASS: COUNT` line per class, then each finding on one line, grouped
    /// by class: the class, the path, and its fields. Paths and targets are quoted and escaped
    /// as in error messages (control characters, bidirectional overrides, bytes that are not
    /// UTF-8), so that a name chosen inside the root cannot forge a line of the report or send
    /// escape sequences to the terminal:
    ///   escaping-symlink "/bin/sh": target "/bin/busybox", inside "/usr/bin/busybox",
    ///     host would read "/bin/busybox"
    /// With --json, one object per finding:
    ///   {"class": "setuid", "path": "/usr/bin/su", "uid": 0, "gid": 0, "mode": "4755"}
    ///
    /// The exit status is 0 when nothing of the --fail-on classes was found (by default none, so
    /// audit only reports), 1 when something was or when an entry could not be examined (the
    /// audit is then incomplete; reported on stderr), 2 for a usage error. So
    /// `procroot audit --root R --fail-on device,setuid,escaping-symlink` can gate a pipeline.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Audit(AuditArgs),
    /// Create directories inside the root
    ///
    /// Creates each PATH with mode MODE (default 0777, minus the umask, as mkdir(1)). The
    /// parent must exist, and PATH must not: an existing symlink there, even a dangling one, is
    /// EEXIST and is never followed. With -p, missing parents are created too (each with MODE),
    /// an existing directory is fine, and `..` in the part that does not exist yet is refused.
    /// Setuid and setgid bits are refused (EINVAL): mkdir(2) would drop them silently. A PATH
    /// ending in `.` or `..` is EINVAL, even when its parent does not exist. With -p, a file, a
    /// symlink to a file or a dangling symlink in the way is ENOTDIR (as in libpathrs).
    ///
    /// After a PATH that fails, the others are still created, and the exit status is 1.
    ///
    /// With --json, prints one object per PATH created:
    ///   {"op": "mkdir", "path": "/srv/data"}
    /// With -p, `path` is the directory's resolved path inside the root; without it, PATH as
    /// given.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Mkdir(MkdirArgs),
    /// Remove files and directory trees inside the root
    ///
    /// Removes each PATH: a file, symlink (removed, never followed), FIFO, socket or device.
    /// A directory needs -r, which removes it and everything in it, never following a symlink
    /// and never leaving the root, even while something inside the root moves directories
    /// around. -r does not enter another mount (EXDEV) unless --cross-mounts is given; a mount
    /// point itself cannot be removed (EBUSY). With -f, a PATH that does not exist is not an
    /// error.
    ///
    /// After a PATH that fails, the others are still removed, and the exit status is 1.
    ///
    /// With -r, when stderr is a terminal and the removal takes longer than half a second, a
    /// progress line shows the entries removed, the rate and the current path (never with
    /// --json or --quiet). Ctrl-C stops the removal between two entries (what was removed
    /// stays removed, the other PATHs are not touched) with exit status 130.
    ///
    /// With --json, prints one object per PATH removed (`path` as given):
    ///   {"op": "rm", "path": "/srv/old"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Rm(RmArgs),
    /// Rename a file or directory inside the root
    ///
    /// rename(2) semantics: TO is the new name, not a directory to move FROM into; an existing
    /// file at TO is replaced (a directory only by a directory, and only if empty). Neither
    /// FROM's nor TO's last component is followed: a symlink is renamed, or replaced, itself.
    /// Across mounts the kernel refuses with EXDEV.
    ///   --no-replace  fail with EEXIST if TO exists (RENAME_NOREPLACE)
    ///   --exchange    swap FROM and TO atomically; both must exist (RENAME_EXCHANGE)
    ///   --whiteout    leave an overlayfs whiteout at FROM (RENAME_WHITEOUT, needs CAP_MKNOD)
    ///
    /// With --json, prints one object (paths as given):
    ///   {"op": "mv", "from": "/srv/a", "to": "/srv/b"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Mv(MvArgs),
    /// Make a hard link or (with -s) a symbolic link inside the root
    ///
    /// Coreutils order: `ln TARGET LINK` makes LINK, which must not exist. With -s, TARGET is
    /// stored in the symlink verbatim: it is data, not resolved now (an absolute TARGET will be
    /// resolved inside the root when the link is followed). Without -s, TARGET is an existing
    /// file inside the root (a trailing symlink is linked itself, not followed) and LINK a new
    /// name for it.
    ///
    /// With --json, prints one object (paths as given):
    ///   {"op": "ln", "path": "/usr/bin/sh", "target": "bash", "symbolic": true}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Ln(LnArgs),
    /// Make a FIFO or a device node inside the root
    ///
    ///   procroot mknod --root R /run/fifo p
    ///   procroot mknod --root R /dev/null c 1 3 --mode 0666
    /// TYPE is p (FIFO), c (character device) or b (block device); u is the same as c (as in
    /// mknod(1): an unbuffered character device). c, u and b need MAJOR and MINOR and CAP_MKNOD. MAJOR is at most 4095 and MINOR at most 1048575 (else EINVAL: the kernel
    /// would keep only the low bits and make another device). MODE defaults to 0666, minus the
    /// umask. PATH must not exist (EEXIST, never followed).
    ///
    /// With --json, prints one object (`path` as given, `node` as p, c:MAJOR:MINOR or
    /// b:MAJOR:MINOR):
    ///   {"op": "mknod", "path": "/dev/null", "node": "c:1:3"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Mknod(MknodArgs),
    /// Change the permission bits of a file inside the root
    ///
    /// MODE is octal (`644`, `0755`, `4755`); symbolic modes (u+x) are not supported. A
    /// trailing symlink is followed, inside the root, as chmod(1) does. The change is made on
    /// the resolved file's fd, never on a path that could be swapped.
    ///
    /// Landlock does not mediate this change: before it, the file is checked to be inside the
    /// root independently of the resolver (the second check: the file a walk down from the
    /// root reaches, by mount id, device and inode), else EACCES "refused by the second check".
    /// --no-sandbox turns the check off.
    ///
    /// With --json, prints one object (`path` as given, `mode` as four octal digits):
    ///   {"op": "chmod", "path": "/srv/run.sh", "mode": "0755"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Chmod(ChmodArgs),
    /// Change the owner and group of a file inside the root
    ///
    /// OWNER is numeric: `UID`, `UID:GID`, or `:GID` (group only). Names are not looked up:
    /// the root's /etc/passwd is not ours to trust. A trailing symlink is followed, inside the
    /// root, unless --nofollow (then the link's own owner changes, like chown -h).
    ///
    /// Landlock does not mediate this change: before it, the file is checked to be inside the
    /// root independently of the resolver (the second check: the file a walk down from the
    /// root reaches, by mount id, device and inode), else EACCES "refused by the second check".
    /// --no-sandbox turns the check off.
    ///
    /// With --json, prints one object (`path` as given; null for what was left unchanged):
    ///   {"op": "chown", "path": "/srv/data", "uid": 1000, "gid": null}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Chown(ChownArgs),
    /// Set the times of files inside the root to now, creating them if missing
    ///
    /// Each PATH's access and modification times are set to the current time, following a
    /// trailing symlink inside the root (with --nofollow, the symlink's own times). A PATH that
    /// does not exist is created as an empty file (mode 0666 minus the umask). A dangling
    /// symlink is never followed to create its target: that is ELOOP. Nothing is opened: the
    /// times are set through the resolved file, and a new file is created exclusively.
    ///
    /// FIFOs, sockets and device nodes are refused (ENXIO), unless --special-files.
    ///
    /// Landlock does not mediate setting times: an existing file is first checked to be inside
    /// the root independently of the resolver (the second check), else EACCES "refused by the
    /// second check"; --no-sandbox turns the check off. Creating a missing file is confined by
    /// Landlock.
    ///
    /// After a PATH that fails, the others are still touched, and the exit status is 1.
    ///
    /// With --json, prints one object per PATH (`path` as given):
    ///   {"op": "touch", "path": "/srv/stamp"}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Touch(TouchArgs),
    /// Write stdin to a file inside the root
    ///
    /// Without --append, stdin is written to a temporary file in PATH's directory, which then
    /// replaces PATH in one rename: PATH is never half-written, and on error it is left as it
    /// was. The new file belongs to the caller and gets MODE, or else the mode of the regular
    /// file it replaces, or else 0644 (nothing there, or a symlink, FIFO, socket or device node,
    /// whose mode is not a file's). A kept set-user-ID bit survives only if the new file has the
    /// old one's owner, set-group-ID only if it has its owner and group. A symlink at PATH is
    /// replaced, not followed (its target's mode is not taken).
    ///
    /// With --append, stdin is appended to PATH (created with MODE, default 0666 minus the
    /// umask, if missing); a trailing symlink is ELOOP, never followed. An existing FIFO (which
    /// would block), socket or device node (the host's device) is refused with ENXIO unless
    /// --special-files; then it is opened without blocking (a FIFO nobody reads: ENXIO).
    ///
    /// Ctrl-C stops it, even while it waits for input: without --append the temporary is
    /// removed (only if it is still the file it created) and PATH is left as it was; with
    /// --append what was appended stays. The exit status is then 130.
    ///
    /// With --json, prints one object (`path` as given, `bytes` written):
    ///   {"op": "write", "path": "/etc/hostname", "bytes": 4}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Write(WriteArgs),
    /// Copy files and directory trees into or out of the root
    ///
    /// An operand that starts with `:` is a path inside the root; the other is a path on the
    /// host. Exactly one of them must be inside the root:
    ///   procroot cp --root R ./site :/srv/www          copy in
    ///   procroot cp --root R :/etc/hosts ./hosts.copy  copy out
    /// (A host path that starts with `:` can be written `./:name`.)
    ///
    /// Like `cp -a` without owners: directories are copied whole; symlinks are copied as
    /// symlinks with their target verbatim (SRC itself too), never followed; mode bits and
    /// access and modification times are kept. If DST is an existing directory, the copy goes
    /// into it under SRC's last name; otherwise it is made at DST, whose parent must exist.
    /// Any other error looking DST up (EXDEV with --no-xdev, ELOOP, EACCES) is reported.
    /// Nothing is overwritten or merged: an existing destination is EEXIST, naming the entry
    /// in the way (DST/NAME when DST is a directory). The copy is built
    /// under a temporary name and renamed into place when complete; a failed copy removes what
    /// it created, and only that (by inode, never across a mount, never another's chmod): if
    /// someone swapped the temporary for something else, that is left alone and the error
    /// says so.
    ///
    /// Holes are kept (only the data extents are copied, as cp --sparse=auto). Extended
    /// attributes and ACLs are copied as by `cp -a` (see --xattrs); one that cannot be set is
    /// a warning on stderr ("procroot: warning: cp: ..."; with --json, in "warnings"), and a
    /// lost access ACL narrows the copy's mode (group bits to the ACL's, "other" cleared if it
    /// named users or groups) so that the copy is never more open than its source.
    ///
    /// FIFOs, sockets and device nodes are refused (ENXIO, naming the type) unless
    /// --special-files; they are never opened, so nothing blocks on a FIFO and no host device
    /// is read. Set-user-ID and set-group-ID bits are kept only when the copy keeps the file's
    /// owner (and group): run as root, a copy of uid 1000's mode-4755 file is mode 0755. An
    /// entry swapped during the copy fails it with EAGAIN, naming the entry and what changed.
    ///
    /// When stderr is a terminal and the copy takes longer than half a second, a progress line
    /// shows the entries and bytes copied, the rate and the current path (never with --json or
    /// --quiet). Ctrl-C stops the copy and removes what it created, its temporary included, as
    /// for any failed copy; the exit status is then 130. A second Ctrl-C while that removal
    /// runs stops it too: the temporary is kept, and the message names it. When the removal
    /// leaves something (an entry the copy did not make, planted in it meanwhile), the message
    /// counts what was left and why.
    ///
    /// With --json, prints one object (operands as given, with their `:`; "warnings" only when
    /// there are some):
    ///   {"op": "cp", "from": "./site", "to": ":/srv/www",
    ///    "warnings": [{"path": "site/a", "what": "extended attribute \"user.x\"",
    ///                  "outcome": "not copied", "errno": "EPERM", "message": "..."}]}
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Cp(CpArgs),
    /// Apply container image layers to the root, never writing outside it
    ///
    /// Each LAYER is a tar stream, uncompressed, gzip or zstd (told by its first bytes), or `-`
    /// for stdin; they are applied in order, with the OCI image-spec's layer semantics:
    ///   procroot unpack --root /var/lib/machines/web base.tar.gz app.tar.zst
    ///   procroot unpack --root /var/lib/machines/web --image ./layout:latest
    ///
    /// Every entry's name is a path inside the root: a leading `/` is dropped, `..` above the
    /// root refuses that entry, and parent directories are resolved inside the root, so a
    /// symlink made by a lower layer (or this one, or someone racing in the root) is followed
    /// only inside it (with --no-dirlinks, an entry whose parent crosses a symlink is refused).
    /// Files are never written through a symlink at their name; symlinks are made verbatim and
    /// never followed; a hard link's target must be inside the root; whiteouts (`.wh.NAME`,
    /// `.wh..wh..opq`) remove only inside the root, on its mount, and never what the same layer
    /// made. As root, owners come from the archive (--no-same-owner: the caller's); set-ID bits
    /// are kept only with the owner. Device nodes need --special-files (else they are skipped
    /// and listed); FIFOs are made.
    ///
    /// --image DIR (or DIR:REF) applies the layers of an OCI image layout: the manifest REF
    /// names in DIR/index.json (its org.opencontainers.image.ref.name, or its digest), or the
    /// only one there. DIR is untrusted too: each of its files is read beneath it (a symlink out
    /// of it is EXDEV, a FIFO or device ENXIO), and each blob is checked against its
    /// descriptor's size and digest as it is read. A mismatch stops the unpack (EBADMSG),
    /// naming the layer; it is known only at the blob's end, so that layer's entries up to
    /// there were applied, and no later layer was. DIR:REF splits at the first `:` after the
    /// last `/` (img:sha256:... names a digest), unless DIR:REF is itself a directory.
    ///
    /// When stderr is a terminal and the unpack takes longer than half a second, a progress
    /// line shows the entries and bytes written and the rate (never with --json or --quiet).
    /// Ctrl-C stops it between two entries; the exit status is then 130, and what was applied
    /// stays (an unpack is not undone, as with tar).
    ///
    /// With --json, prints one object: the entries applied by type, bytes written, whiteouts
    /// and opaque directories applied, and every entry skipped or refused with its reason,
    /// per layer:
    ///   {"op": "unpack", "layers": [{"layer": "base.tar.gz", "compression": "gzip",
    ///    "entries": {...}, "bytes_written": 123, "whiteouts": 0, "opaque_dirs": 0,
    ///    "skipped": [{"path": "dev/sda", "reason": "..."}]}]}
    /// (with --image, "image", "manifest" and each layer's "digest" too).
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Unpack(UnpackArgs),
    /// Read procfs through procroot's hardened handle
    ///
    /// SUBPATH is relative to a base directory of procfs: this process (--self, the default),
    /// this thread (--thread-self), another process (--pid PID, through a pidfd so that a
    /// reused PID is detected), or the procfs root (--proc-root). The procfs is a private
    /// instance procroot mounted itself where it can (see `procroot doctor`), so nothing mounted
    /// over /proc or its files can redirect the read. `..` is refused.
    ///
    ///   procroot proc --pid 4242 cat status
    ///   procroot proc --pid 4242 readlink exe
    ///   procroot proc --proc-root cat sys/kernel/ostype
    ///
    /// `cat`, `ls` and `stat` never follow a magic link (exe, cwd, root, fd/N: ELOOP); `readlink`
    /// reads one, refusing (EXDEV) when something is mounted on it. --proc-root uses an
    /// unmasked instance (with sys/, cpuinfo, ...); the process bases use one that shows only
    /// processes this one may inspect.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Proc(ProcArgs),
    /// Report kernel features and whether /proc can be trusted
    ///
    /// Probes, without changing anything: the kernel features procroot uses (openat2,
    /// open_tree, fsopen, STATX_MNT_ID_UNIQUE, STATX_ATTR_MOUNT_ROOT, procfs subset=pid and
    /// pidns=, MFD_EXEC, setns on a pidfd); which procfs acquisition methods work here and which
    /// one procroot uses; whether the global /proc is really procfs; every mount on top of /proc
    /// (a second procfs stacked on /proc counts) or anything below it (read from
    /// /proc/self/mountinfo through the hardened handle); what /proc shows: its PID namespace
    /// and whether it is procroot's, whether /proc/self names this process, and options that
    /// hide things (subset=pid, hidepid=); procroot's own PID namespace and whether it is the
    /// initial one; which resolver `--backend auto` picks; how `exec` seals procroot's own
    /// binary (CVE-2019-5736): the first of overlay, memfd, tmpfile that works here; and the
    /// second wall: the kernel's Landlock ABI (or why it is unavailable) and what each command
    /// is confined to (see --no-sandbox).
    ///
    /// A feature is `yes`, `no (ERRNO)` when the kernel lacks it, or `present, but refused
    /// (EPERM)` when this process may not use it (a missing privilege or a seccomp filter). Each
    /// probe makes the call the library makes (open_tree clones /proc, as the open_tree method
    /// does), so a feature is never `yes` where its method fails.
    ///
    /// /proc is trustworthy when it is procfs (its root), nothing is mounted on it or below it,
    /// it is procroot's PID namespace, /proc/self is this process, and it hides nothing. A bind
    /// of procfs onto itself (`mount --bind /proc/sys /proc/sys`, read-only, as container
    /// runtimes do) redirects nothing: it is listed under self-binds and accepted, as
    /// procroot's own lookups accept it.
    ///
    /// With --json, prints one object:
    ///   {"kernel": "6.18.0", "features": {"openat2": {"status": "yes"},
    ///                                     "open_tree": {"status": "refused", "errno": "EPERM"}, ...},
    ///    "procfs": {"methods": [{"method": "fsmount", "works": true}, ...], "chosen": "fsmount"},
    ///    "global_proc": {"is_procfs": true, "is_procfs_root": true},
    ///    "proc_overmounts": [{"mount_point": "/proc/sys/fs/binfmt_misc", "fs_type": ..., ...}],
    ///    "proc_self_binds": [{"mount_point": "/proc/sys", "root": "/sys", "options": "ro,...", ...}],
    ///    "proc_view": {"self": 4242, "self_is_this_process": true,
    ///                  "pidns": {"ino": 4026531836, "ours": true}, "nspid_levels": 1,
    ///                  "restrictions": []},
    ///    "pid_namespace": {"ino": 4026531836, "initial": true},
    ///    "proc_trustworthy": false, "auto_backend": "kernel",
    ///    "sealed_exe": {"running": null, "strategy": "overlay"},
    ///    "sandbox": {"status": "available", "landlock_abi": 7,
    ///                "profiles": [{"commands": ["resolve", "cat", ...],
    ///                              "access": "read beneath the root"}, ...]}}
    /// The exit status is 0 whenever the report could be made; check `proc_trustworthy`.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Doctor(DoctorArgs),
    /// Run a command in another process's namespaces and root (like nsenter)
    ///
    /// procroot first re-executes itself from a sealed copy of its binary (CVE-2019-5736: the
    /// target's processes can see /proc/<procroot's pid>/exe) unless the binary is on a
    /// read-only mount, which no process in a container can make writable (the mount is in the
    /// host's mount namespace): the zero-cost setup is `mount --bind -o ro` of the installed
    /// binary onto itself (e.g. from a systemd mount unit), or a read-only /usr. The mount's
    /// own read-only flag counts, not a read-only file system under a writable mount. The
    /// re-exec costs one more start, 0.8-1.1 ms a call idle (BENCHMARKS.md). Then procroot
    /// enters the target's namespaces (one setns on its pidfd, else its /proc/PID/ns files, the
    /// user namespace first), chroots into its root, changes to --cwd inside it (verified:
    /// CVE-2024-21626), forks again when a PID or time namespace was entered, and execs CMD.
    ///
    /// What the target can reach: CMD's execve runs with only fds 0-2, the --keep-fd ones and
    /// procroot's error pipe open; every other fd is closed before it (not only marked
    /// close-on-exec, which the kernel applies after it has looked up CMD and its #!
    /// interpreter: a `#!/proc/self/fd/N/...` line finds nothing of procroot's). When the
    /// target has a PID namespace of its own, the one process it can see (CMD's, before its
    /// execve) is non-dumpable, never shares procroot's memory and is born without procroot's
    /// fds, so a container process with CAP_SYS_PTRACE that stops it finds nothing of the host
    /// in it.
    ///
    /// procroot stays CMD's responsive stand-in: it passes SIGINT, SIGTERM, SIGHUP, SIGQUIT,
    /// SIGWINCH, SIGUSR1 and SIGUSR2 on to CMD (not those the terminal already sent to both);
    /// when CMD stops (^Z), procroot stops too and `fg` resumes both; before CMD's execve, any
    /// of them but SIGWINCH kills what procroot was preparing (a container that stops it cannot
    /// hold procroot) and procroot exits 128+N.
    ///
    /// CMD runs as the target runs, read from the live process (no runtime config needed):
    /// its uids, gids and supplementary groups, its five capability sets (bounding, permitted,
    /// effective, inheritable, ambient), no_new_privs, and its seccomp filters (copied with
    /// PTRACE_SECCOMP_GET_FILTER; if that is impossible, exec refuses and names --no-seccomp).
    /// LSM labels are not copied. --user changes the ids; --privileged keeps procroot's own
    /// (host root: see below).
    ///
    /// CMD's environment is the target's own (/proc/PID/environ, read through the hardened
    /// procfs), plus TERM when procroot has one, not procroot's: procroot's environment holds
    /// host credentials that must not reach a binary of the container, whose other processes
    /// can read CMD's environment. If the target's environment cannot be read, exec fails and
    /// names it; it never falls back to procroot's. --env, --env-clear and --preserve-env
    /// change it. CMD's name is looked up in that environment's PATH inside the target's root.
    ///
    /// The exit status is CMD's, or 128+N when it died of signal N; 127 when CMD was not found
    /// and 126 when it was found but cannot be executed (as sh, nsenter and docker exec), the
    /// message naming CMD, execve and the root. procroot's other failures
    /// (exit 1) are reported like every other subcommand's: a target that exited is ESRCH and
    /// CMD never runs; a refused namespace is EPERM, naming it; a --keep-fd that is not open is
    /// EBADF; --cgroup into a frozen cgroup is EBUSY.
    #[command(verbatim_doc_comment, after_help = SUBCOMMAND_TRAILER)]
    Exec(ExecArgs),
    // `about` as an attribute, not a doc comment: a doc comment here would also reset the long
    // help that `HardenArgs` carries, and `harden --help` would lose what it guarantees.
    #[command(
        about = "Mask and make read-only paths of a container rootfs (see --help)",
        after_help = SUBCOMMAND_TRAILER
    )]
    Harden(HardenArgs),
    // `about` as an attribute, as for `Harden`: a doc comment would reset the long help of
    // `MountProcArgs` and `SysctlArgs`, and their --help would lose what they guarantee.
    #[command(
        about = "Mount a new procfs inside a root, optionally of another PID namespace (see --help)",
        after_help = SUBCOMMAND_TRAILER
    )]
    MountProc(MountProcArgs),
    #[command(
        about = "Read or write a sysctl, optionally in another process's namespaces (see --help)",
        after_help = SUBCOMMAND_TRAILER
    )]
    Sysctl(SysctlArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout
    ///
    ///   procroot completions bash > ~/.local/share/bash-completion/completions/procroot
    ///   procroot completions zsh > ~/.zfunc/_procroot    # a directory in $fpath
    ///   procroot completions fish > ~/.config/fish/completions/procroot.fish
    /// Generated from this binary's own argument definitions, so it always matches them.
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
    /// Print the man page, procroot(1), to stdout
    ///
    ///   procroot man > procroot.1 && man -l procroot.1
    ///   procroot man | sudo tee /usr/local/share/man/man1/procroot.1 >/dev/null
    /// One page: the command, then a section per subcommand (PROCROOT CP, PROCROOT PROC CAT,
    /// ...), then exit status, errors and JSON. Generated from this binary's own argument
    /// definitions and help texts.
    #[command(verbatim_doc_comment)]
    Man,
    /// Print the help of procroot, or of a subcommand (`procroot help proc cat`)
    ///
    /// The same text as `procroot COMMAND --help`: every option, and what the command
    /// guarantees.
    #[command(verbatim_doc_comment)]
    Help(HelpArgs),
}

impl Command {
    /// Where the [`LeadingOpts`] go in this subcommand: its [`RootOpts`] (which hold its
    /// `--json` and `--no-sandbox`), or else its `--json` and its `--no-sandbox`; `None` where
    /// it has no such option.
    #[allow(clippy::type_complexity)]
    fn leading_targets(&mut self) -> (Option<&mut RootOpts>, Option<&mut bool>, Option<&mut bool>) {
        let root = match self {
            Command::Resolve(args) => &mut args.root,
            Command::Cat(args) => &mut args.root,
            Command::Ls(args) => &mut args.root,
            Command::Stat(args) => &mut args.root,
            Command::Readlink(args) => &mut args.root,
            Command::Find(args) => &mut args.root,
            Command::Audit(args) => &mut args.root,
            Command::Mkdir(args) => &mut args.root,
            Command::Rm(args) => &mut args.root,
            Command::Mv(args) => &mut args.root,
            Command::Ln(args) => &mut args.root,
            Command::Mknod(args) => &mut args.root,
            Command::Chmod(args) => &mut args.root,
            Command::Chown(args) => &mut args.root,
            Command::Touch(args) => &mut args.root,
            Command::Write(args) => &mut args.root,
            Command::Cp(args) => &mut args.root,
            Command::Unpack(args) => &mut args.root,
            Command::Proc(args) => {
                return (None, Some(&mut args.json), Some(&mut args.no_sandbox));
            }
            Command::Doctor(args) => return (None, Some(&mut args.json), None),
            Command::Harden(args) => return (None, Some(&mut args.json), None),
            Command::MountProc(args) => return (None, Some(&mut args.json), None),
            Command::Sysctl(args) => return (None, Some(&mut args.json), None),
            Command::Exec(_) | Command::Completions(_) | Command::Man | Command::Help(_) => {
                return (None, None, None);
            }
        };
        (Some(root), None, None)
    }

    /// Whether the second wall is off for this command: its `--no-sandbox`. Commands that never
    /// confine themselves (doctor, exec, harden, mount-proc, sysctl) do not take it; nor do
    /// completions and man, which only write to stdout.
    pub fn no_sandbox(&self) -> bool {
        match self {
            Command::Resolve(args) => args.root.no_sandbox,
            Command::Cat(args) => args.root.no_sandbox,
            Command::Ls(args) => args.root.no_sandbox,
            Command::Stat(args) => args.root.no_sandbox,
            Command::Readlink(args) => args.root.no_sandbox,
            Command::Find(args) => args.root.no_sandbox,
            Command::Audit(args) => args.root.no_sandbox,
            Command::Mkdir(args) => args.root.no_sandbox,
            Command::Rm(args) => args.root.no_sandbox,
            Command::Mv(args) => args.root.no_sandbox,
            Command::Ln(args) => args.root.no_sandbox,
            Command::Mknod(args) => args.root.no_sandbox,
            Command::Chmod(args) => args.root.no_sandbox,
            Command::Chown(args) => args.root.no_sandbox,
            Command::Touch(args) => args.root.no_sandbox,
            Command::Write(args) => args.root.no_sandbox,
            Command::Cp(args) => args.root.no_sandbox,
            Command::Unpack(args) => args.root.no_sandbox,
            Command::Proc(args) => args.no_sandbox,
            Command::Doctor(_)
            | Command::Exec(_)
            | Command::Harden(_)
            | Command::MountProc(_)
            | Command::Sysctl(_)
            | Command::Completions(_)
            | Command::Man
            | Command::Help(_) => false,
        }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        match self {
            Command::Resolve(args) => args.root.json,
            Command::Cat(args) => args.root.json,
            Command::Ls(args) => args.root.json,
            Command::Stat(args) => args.root.json,
            Command::Readlink(args) => args.root.json,
            Command::Find(args) => args.root.json,
            Command::Audit(args) => args.root.json,
            Command::Mkdir(args) => args.root.json,
            Command::Rm(args) => args.root.json,
            Command::Mv(args) => args.root.json,
            Command::Ln(args) => args.root.json,
            Command::Mknod(args) => args.root.json,
            Command::Chmod(args) => args.root.json,
            Command::Chown(args) => args.root.json,
            Command::Touch(args) => args.root.json,
            Command::Write(args) => args.root.json,
            Command::Cp(args) => args.root.json,
            Command::Unpack(args) => args.root.json,
            Command::Proc(args) => args.json,
            Command::Doctor(args) => args.json,
            Command::Exec(_) | Command::Completions(_) | Command::Man | Command::Help(_) => false,
            Command::Harden(args) => args.json,
            Command::MountProc(args) => args.json,
            Command::Sysctl(args) => args.json,
        }
    }
}

/// Arguments of `procroot proc`.
#[derive(Debug, Args)]
pub struct ProcArgs {
    /// Which procfs directory SUBPATH is relative to.
    #[command(flatten)]
    pub base: ProcBaseOpts,
    /// Read a new procfs of this PID namespace (/proc/PID/ns/pid) instead: SUBPATH is relative
    /// to its root (a leading / is allowed), so `ls /` lists the PIDs as that namespace sees
    /// them. NSPATH is opened O_PATH and must be a PID namespace file (a FIFO or device is
    /// refused by type, unopened). The instance may come from a helper forked into the
    /// namespace, so procroot runs from a sealed copy of its binary first (see procroot
    /// mount-proc --help for how the instance is made and what that needs).
    #[arg(long, value_name = "NSPATH", conflicts_with_all = ["pid", "self_process", "thread_self"])]
    pub pidns: Option<PathBuf>,
    /// Print results (and errors) as JSON, one object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Turn off the second wall (Landlock, with --self or --thread-self).
    ///
    /// Landlock confines `proc` with --self (the default) or --thread-self to reading beneath
    /// /proc/self of procroot's private procfs, so that a bug in procroot's own checks fails
    /// with EACCES. With --pid, --proc-root or --pidns, `proc`
    /// is not confined (Landlock refuses ptrace-mode access to every process outside the
    /// sandbox) and this option changes nothing.
    #[arg(long, global = true)]
    pub no_sandbox: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: ProcAction,
}

/// `procroot proc`'s base directory: at most one of these.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct ProcBaseOpts {
    /// Process PID's directory (/proc/PID), checked through a pidfd: if the process exits
    /// before the lookup, this is an error (ESRCH), never another process's files.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// This process's directory (/proc/self). The default.
    #[arg(long = "self")]
    pub self_process: bool,
    /// This thread's directory (/proc/thread-self).
    #[arg(long)]
    pub thread_self: bool,
    /// The procfs root (/proc), in an unmasked instance.
    #[arg(long)]
    pub proc_root: bool,
}

/// What `procroot proc` does with SUBPATH.
#[derive(Debug, Subcommand)]
pub enum ProcAction {
    /// Write a procfs file to stdout (magic links are not followed)
    Cat {
        /// The file, relative to the base (`status`, `sys/kernel/ostype`).
        #[arg(value_name = "SUBPATH")]
        subpath: PathBuf,
    },
    /// List a procfs directory
    Ls {
        /// The directory, relative to the base (default: the base itself).
        #[arg(value_name = "SUBPATH", default_value = "")]
        subpath: PathBuf,
        /// Also print each entry's type.
        #[arg(short = 'l', long = "long")]
        long: bool,
    },
    /// Print the target of a (magic) link, such as `exe`, `cwd`, `root` or `fd/3`
    Readlink {
        /// The link, relative to the base.
        #[arg(value_name = "SUBPATH")]
        subpath: PathBuf,
    },
    /// Show the metadata of a procfs entry (a symlink is described, not followed)
    Stat {
        /// The entry, relative to the base.
        #[arg(value_name = "SUBPATH")]
        subpath: PathBuf,
    },
}

// The doc attribute is a `concat!`, not a `///` comment, so that clap does not take it as the
// subcommand's description: `Command` is `defer`red, and this struct's description would
// replace the variant's long help, which clap must see when it builds the subcommand (whether
// `-h` offers `--help`; cli::built puts back the other texts).
#[doc = concat!("Arguments of `procroot doctor`.")]
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `procroot resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The path to resolve, relative to the root (a leading `/` makes no difference).
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// Do not follow PATH's last component if it is a symlink: print the symlink's own path.
    #[arg(long)]
    pub nofollow: bool,
    /// Resolve every component but the last, which is neither followed nor required to exist
    /// (procfsroot's EvalExceptLast). Prints the parent's path inside the root joined with the
    /// last name. As in procfsroot, a last name followed by a slash (`dir/`) is resolved like
    /// the others: `etc/passwd/` fails with ENOTDIR, `etc/missing/` with ENOENT. With --json, `type` is the last component's own type (a symlink is not
    /// followed), or null when it does not exist.
    #[arg(long, conflicts_with = "nofollow")]
    pub except_last: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The files to write, in order.
    #[arg(value_name = "PATH", value_parser = path_operand(), required = true)]
    pub paths: Vec<PathBuf>,
    /// Refuse a PATH whose last component is a symlink, with ELOOP (O_NOFOLLOW).
    #[arg(long)]
    pub nofollow: bool,
    /// Also open FIFOs, sockets and device nodes (refused by default, ENXIO: a FIFO would
    /// block, a device node would reach the host's device). A FIFO is opened without
    /// blocking.
    #[arg(long)]
    pub special_files: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The directory to list.
    #[arg(value_name = "PATH", value_parser = path_operand(), default_value = "/")]
    pub path: PathBuf,
    /// Also print each entry's type (file, dir, symlink, fifo, socket, char, block, unknown),
    /// without following symlinks.
    #[arg(short = 'l', long = "long")]
    pub long: bool,
    /// Refuse a PATH whose last component is a symlink, with ENOTDIR (as
    /// O_DIRECTORY|O_NOFOLLOW does).
    #[arg(long)]
    pub nofollow: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot stat`.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The file to describe.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// If PATH's last component is a symlink, describe the symlink itself (like lstat).
    #[arg(long)]
    pub nofollow: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot readlink`.
#[derive(Debug, Args)]
pub struct ReadlinkArgs {
    /// The symlink to read.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// Accepted for symmetry with the other commands; the last component is never followed.
    #[arg(long)]
    pub nofollow: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Where to start, inside the root (default /). Each is walked in turn.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub paths: Vec<PathBuf>,
    /// The entry's name matches the shell glob GLOB (as find -name; repeatable, all must
    /// match).
    #[arg(long, value_name = "GLOB", value_parser = |s: &str| Glob::new("--name", s))]
    pub name: Vec<Glob>,
    /// The entry's path inside the root (`/usr/bin/su`) matches GLOB, `*` matching `/` too (as
    /// find -path; repeatable, all must match).
    #[arg(long = "path", value_name = "GLOB", value_parser = |s: &str| Glob::new("--path", s))]
    pub path_glob: Vec<Glob>,
    /// The entry is of one of these types, comma-separated: f file, d directory, l symlink
    /// (never followed unless --follow), p FIFO, s socket, c character device, b block device.
    #[arg(long = "type", value_name = "f,d,l,p,s,c,b", value_parser = TypeSet::parse)]
    pub types: Option<TypeSet>,
    /// Descend at most N levels below each PATH (0: only PATH itself).
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,
    /// List only entries at least N levels below PATH (1: not PATH itself).
    #[arg(long, value_name = "N")]
    pub min_depth: Option<usize>,
    /// Also walk into other mounts (by default the walk stays on each PATH's mount, as find
    /// -xdev: another mount, such as a container's /proc, is listed but not entered).
    #[arg(long)]
    pub cross_mounts: bool,
    /// Follow symlinks, resolved inside the root (an absolute target or `..` never leaves
    /// it); a directory reached a second time is not walked again. Entries are then described
    /// as what their links lead to, as with find -L.
    #[arg(long)]
    pub follow: bool,
    /// The permission bits (setuid, setgid, sticky included) are exactly MODE (octal),
    /// include all of -MODE's bits, or any of /MODE's (/0 matches everything), as find -perm.
    #[arg(long, value_name = "[-/]MODE", allow_hyphen_values = true, value_parser = Perm::parse)]
    pub perm: Option<Perm>,
    /// Owned by user id N (numeric: the root's /etc/passwd is not consulted).
    #[arg(long, value_name = "N")]
    pub uid: Option<u32>,
    /// Owned by group id N (numeric).
    #[arg(long, value_name = "N")]
    pub gid: Option<u32>,
    /// The size, in units rounded up, is N, more than N (+N) or less than N (-N). Units: c
    /// bytes, w 2 bytes, b 512-byte blocks (the default, as find), k KiB, M MiB, G GiB.
    #[arg(long, value_name = "[+-]N[cwbkMG]", allow_hyphen_values = true, value_parser = Size::parse)]
    pub size: Option<Size>,
    /// Modified later (to the nanosecond) than the file PATH inside the root. PATH's last
    /// symlink is not followed unless --follow, as find -newer.
    #[arg(long, value_name = "PATH", value_parser = path_operand())]
    pub newer: Option<PathBuf>,
    /// End each path with a NUL byte instead of a newline.
    #[arg(long, conflicts_with = "json")]
    pub print0: bool,
    /// List each directory's entries in bytewise order of their names (default: the file
    /// system's order, as find).
    #[arg(long)]
    pub sort: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where to start, inside the root.
    #[arg(value_name = "PATH", value_parser = path_operand(), default_value = "/")]
    pub path: PathBuf,
    /// Exit with status 1 when a finding of one of these classes is made: comma-separated
    /// class names (device, setuid, setgid, capabilities, hardlinked-setid, world-writable,
    /// fifo, socket, escaping-symlink, sticky-foreign-link, magic-link-name), or `all`.
    #[arg(long, value_name = "CLASS,...", value_delimiter = ',', value_parser = parse_class)]
    pub fail_on: Vec<Vec<Class>>,
    /// Also walk into other mounts (by default the walk stays on PATH's mount).
    #[arg(long)]
    pub cross_mounts: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Parses an audit class name, or `all`.
fn parse_class(text: &str) -> Result<Vec<Class>, String> {
    if text == "all" {
        return Ok(Class::ALL.to_vec());
    }
    Class::from_name(text).map(|c| vec![c]).ok_or_else(|| {
        let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
        format!(
            "unknown class {text:?}: expected all or one of {}",
            names.join(", ")
        )
    })
}

/// Arguments of `procroot mkdir`.
#[derive(Debug, Args)]
pub struct MkdirArgs {
    /// The directories to create.
    #[arg(value_name = "PATH", value_parser = path_operand(), required = true)]
    pub paths: Vec<PathBuf>,
    /// Create missing parents too; an existing directory is not an error.
    #[arg(short = 'p', long = "parents")]
    pub parents: bool,
    /// The permission bits, in octal (default 0777, minus the umask).
    #[arg(long, value_name = "MODE", value_parser = parse_mode, default_value = "0777")]
    pub mode: u32,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The files (with -r, also directories) to remove.
    #[arg(value_name = "PATH", value_parser = path_operand(), required = true)]
    pub paths: Vec<PathBuf>,
    /// Remove directories and everything in them.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    pub recursive: bool,
    /// With -r, also empty directories that are other mounts (never the default).
    #[arg(long, requires = "recursive")]
    pub cross_mounts: bool,
    /// A PATH that does not exist is not an error.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// With -r, never show the progress line (shown on a terminal when removing takes longer
    /// than half a second, never with --json).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot mv`.
#[derive(Debug, Args)]
pub struct MvArgs {
    /// The file or directory to rename.
    #[arg(value_name = "FROM", value_parser = path_operand())]
    pub from: PathBuf,
    /// Its new name.
    #[arg(value_name = "TO", value_parser = path_operand())]
    pub to: PathBuf,
    /// Fail with EEXIST if TO exists (RENAME_NOREPLACE).
    #[arg(long, group = "rename_mode")]
    pub no_replace: bool,
    /// Swap FROM and TO atomically (RENAME_EXCHANGE).
    #[arg(long, group = "rename_mode")]
    pub exchange: bool,
    /// Leave an overlayfs whiteout at FROM (RENAME_WHITEOUT).
    #[arg(long, group = "rename_mode")]
    pub whiteout: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot ln`.
#[derive(Debug, Args)]
pub struct LnArgs {
    /// With -s, the symlink's target (stored verbatim); else the existing file inside the root.
    #[arg(value_name = "TARGET", value_parser = path_operand())]
    pub target: PathBuf,
    /// The link to create, inside the root.
    #[arg(value_name = "LINK", value_parser = path_operand())]
    pub link: PathBuf,
    /// Make a symbolic link instead of a hard link.
    #[arg(short = 's', long = "symbolic")]
    pub symbolic: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot mknod`.
#[derive(Debug, Args)]
pub struct MknodArgs {
    /// The node to create.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// p (FIFO), c (character device), u (the same as c, as in mknod(1)) or b (block device).
    #[arg(value_name = "TYPE", value_parser = ["p", "c", "u", "b"])]
    pub kind: String,
    /// The device's major number (c, u and b only).
    #[arg(value_name = "MAJOR")]
    pub major: Option<u32>,
    /// The device's minor number (c, u and b only).
    #[arg(value_name = "MINOR", requires = "major")]
    pub minor: Option<u32>,
    /// The permission bits, in octal (default 0666, minus the umask).
    #[arg(long, value_name = "MODE", value_parser = parse_mode, default_value = "0666")]
    pub mode: u32,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot chmod`.
#[derive(Debug, Args)]
pub struct ChmodArgs {
    /// The new permission bits, in octal (`644`, `0755`, `4755`).
    #[arg(value_name = "MODE", value_parser = parse_mode)]
    pub mode: u32,
    /// The file to change.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot chown`.
#[derive(Debug, Args)]
pub struct ChownArgs {
    /// `UID`, `UID:GID` or `:GID`, numeric.
    #[arg(value_name = "OWNER", value_parser = parse_owner)]
    pub owner: Owner,
    /// The file to change.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// Change a trailing symlink itself, not what it points to (chown -h).
    #[arg(long)]
    pub nofollow: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// A parsed `UID[:GID]` / `:GID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The new owner, if it changes.
    pub uid: Option<u32>,
    /// The new group, if it changes.
    pub gid: Option<u32>,
}

/// Arguments of `procroot touch`.
#[derive(Debug, Args)]
pub struct TouchArgs {
    /// The files to touch (created if missing).
    #[arg(value_name = "PATH", value_parser = path_operand(), required = true)]
    pub paths: Vec<PathBuf>,
    /// Set a trailing symlink's own times, not its target's.
    #[arg(long)]
    pub nofollow: bool,
    /// Also touch FIFOs, sockets and device nodes (refused by default, ENXIO). Their times are
    /// set without opening them.
    #[arg(long)]
    pub special_files: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The file to write.
    #[arg(value_name = "PATH", value_parser = path_operand())]
    pub path: PathBuf,
    /// Append to the file instead of replacing it.
    #[arg(long)]
    pub append: bool,
    /// The new file's permission bits, in octal.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<u32>,
    /// With --append, also write to an existing FIFO, socket or device node (refused by
    /// default, ENXIO: a FIFO would block, a device node would reach the host's device). A
    /// FIFO is opened without blocking (ENXIO while nothing reads it).
    #[arg(long)]
    pub special_files: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// What to copy: `:PATH` inside the root, or a host path.
    #[arg(value_name = "SRC", value_parser = path_operand())]
    pub src: PathBuf,
    /// Where to copy it: `:PATH` inside the root, or a host path.
    #[arg(value_name = "DST", value_parser = path_operand())]
    pub dst: PathBuf,
    /// Copy FIFOs, sockets and device nodes too, recreating them (device nodes need
    /// CAP_MKNOD); without it they are refused with ENXIO. A device node is never made on the
    /// host: copying one out is EACCES (the sandbox) unless --no-sandbox too.
    #[arg(long)]
    pub special_files: bool,
    /// Which extended attributes to copy (regular files and directories): `all` as `cp -a`
    /// (user.*, ACLs, security.* where permitted, trusted.* only as root; security.capability
    /// only when the copy keeps the file's owner), one that cannot be set being a warning;
    /// `none`; `strict`, as `all` but one that cannot be set fails the copy.
    #[arg(long, value_name = "WHICH", value_enum, default_value_t = XattrsArg::All)]
    pub xattrs: XattrsArg,
    /// Never show the progress line (shown on a terminal when the copy takes longer than half
    /// a second, never with --json).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// Arguments of `procroot unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The layers, applied in order: tar files (uncompressed, gzip or zstd), `-` for stdin.
    /// An uncompressed LAYER file has its files' data copied by the kernel
    /// (copy_file_range); stdin and pipes are read as a stream.
    #[arg(
        value_name = "LAYER",
        value_parser = path_operand(),
        required_unless_present = "image",
        conflicts_with = "image"
    )]
    pub layers: Vec<PathBuf>,
    /// Apply the layers of an OCI image layout instead: DIR, or DIR:REF to choose the manifest
    /// by its ref name (org.opencontainers.image.ref.name) or digest.
    #[arg(long, value_name = "DIR[:REF]", value_parser = path_operand())]
    pub image: Option<PathBuf>,
    /// Give the files the caller's owner, not the archive's, as tar's --no-same-owner (the
    /// default for a user other than root, as in tar); set-user-ID and set-group-ID bits are
    /// then dropped.
    #[arg(long, conflicts_with = "same_owner")]
    pub no_same_owner: bool,
    /// Give the files the archive's owners, as tar's --same-owner (the default as root); as
    /// another user, the first entry the caller may not give away stops the layer (EPERM).
    #[arg(long)]
    pub same_owner: bool,
    /// Make device nodes (needs CAP_MKNOD); without it they are skipped and listed in the
    /// report.
    #[arg(long)]
    pub special_files: bool,
    /// Refuse an entry whose parent directories cross a symlink (instead of following it,
    /// inside the root).
    #[arg(long)]
    pub no_dirlinks: bool,
    /// Let an entry replace an existing directory (removing its tree, on this mount only),
    /// as GNU tar's --overwrite-dir; without it a directory is replaced only by a directory.
    #[arg(long)]
    pub overwrite_dirs: bool,
    /// Never show the progress line (shown on a terminal when the unpack takes longer than
    /// half a second, never with --json).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Which root, and how to resolve in it.
    #[command(flatten)]
    pub root: RootOpts,
}

/// A PATH operand: any bytes, the empty string included. clap's own path parser refuses an
/// empty value as a usage error (exit 2), but for coreutils (`cat ''`, `stat ''`, `realpath ''`)
/// an empty path is a path that does not exist: ENOENT, exit 1. The commands say so
/// themselves ([`crate::commands::check_operand`]).
fn path_operand() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// Parses an octal mode: `644`, `0755`, `0o4755`; at most `7777`.
fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|_| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("{text:?} is not an octal mode such as 0644"))?;
    if mode > 0o7777 {
        return Err(format!("{text:?} is beyond 7777, the largest octal mode"));
    }
    Ok(mode)
}

/// Parses `UID`, `UID:GID` or `:GID`.
fn parse_owner(text: &str) -> Result<Owner, String> {
    let bad = || format!("{text:?} is not UID, UID:GID or :GID (numeric ids)");
    let id = |s: &str| s.parse::<u32>().ok().filter(|&n| n != u32::MAX);
    let (uid, gid) = match text.split_once(':') {
        None => (Some(id(text).ok_or_else(bad)?), None),
        Some(("", gid)) => (None, Some(id(gid).ok_or_else(bad)?)),
        Some((uid, gid)) => (
            Some(id(uid).ok_or_else(bad)?),
            Some(id(gid).ok_or_else(bad)?),
        ),
    };
    Ok(Owner { uid, gid })
}

/// The options shared by every subcommand: which root, how to resolve in it, output format.
#[derive(Debug, Args)]
pub struct RootOpts {
    /// Resolve paths inside directory DIR, as if it were `/` [default: /].
    #[arg(long, value_name = "DIR", conflicts_with = "pid")]
    pub root: Option<PathBuf>,
    /// Resolve paths inside the root of process PID, in its mount namespace (/proc/PID/root).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// How `..`, absolute paths and absolute symlinks relate to the root.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = PolicyArg::InRoot)]
    pub policy: PolicyArg,
    /// Refuse to follow any symlink, with ELOOP. A last component that is not followed
    /// (--nofollow, --except-last) may still be a symlink.
    #[arg(long)]
    pub no_symlinks: bool,
    /// Refuse to cross a mount point, with EXDEV.
    #[arg(long)]
    pub no_xdev: bool,
    /// Which resolver to use. All give the same answers, the kernel's refusals included: a
    /// symlink on a nosymfollow mount is ELOOP, and with fs.protected_symlinks=1 a symlink in a
    /// sticky, world-writable directory (like /tmp) owned by neither the caller nor the
    /// directory's owner is EACCES when it is the last component.
    #[arg(long, value_enum, value_name = "BACKEND", default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Print results (and errors) as JSON, one object per line.
    #[arg(long)]
    pub json: bool,
    /// Turn off the second wall (Landlock, and the second check of chmod, chown and touch).
    ///
    /// The second wall stands behind procroot's own checks so that a bug in them fails with
    /// EACCES instead of touching a host file. It has two parts. Landlock
    /// confines reads, writes, creation, removal, renames and links: once it has opened the
    /// root, this command confines itself to exactly the rights its job needs beneath the root
    /// (cp also its host side, never reading beside the copy or making a device node there).
    /// Landlock does not mediate mode, owner, times, xattrs, stat or readlink: chmod, chown
    /// and touch of an existing file are checked instead by the second check (the file must be
    /// the one reached by walking down from the root, by mount id, device and inode); resolve,
    /// stat and readlink only look and rely on the first wall. `procroot doctor` shows the
    /// Landlock ABI and each command's rights. Without Landlock in the kernel, and for mv and
    /// ln at Landlock ABI 1, commands run without it (with --json, a {"sandbox": {"status":
    /// "unavailable", ...}} line says so). Never confined, and so without this option: doctor,
    /// exec, harden, mount-proc, sysctl.
    #[arg(long)]
    pub no_sandbox: bool,
}

impl RootOpts {
    /// Opens the chosen root and applies the resolve options. Magic links (/proc/PID/fd/N,
    /// /proc/PID/root, ...) are always refused inside the root.
    pub fn open(&self) -> procroot::Result<Root> {
        let root = match (self.pid, &self.root) {
            (Some(pid), _) => Root::for_pid(pid)?,
            (None, Some(dir)) => Root::open(dir)?,
            (None, None) => Root::open("/")?,
        };
        let mut flags = ResolveFlags::NO_MAGICLINKS;
        flags.set(ResolveFlags::NO_SYMLINKS, self.no_symlinks);
        flags.set(ResolveFlags::NO_XDEV, self.no_xdev);
        Ok(root
            .with_policy(self.policy.into())
            .with_flags(flags)
            .with_backend(self.backend.into())
            // The second check of metadata changes goes with Landlock: --no-sandbox turns off
            // both walls behind the resolver.
            .with_second_check(crate::confine::enabled()))
    }
}

/// Arguments of `procroot exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The process whose namespaces and root to enter.
    #[arg(long, value_name = "PID")]
    pub pid: u32,
    /// The namespaces to enter: `all` (every namespace the target does not share with procroot)
    /// or a comma-separated list of mnt, uts, ipc, net, pid, cgroup, user, time. Namespaces the
    /// target shares with procroot are skipped. An unknown name is a usage error (exit 2).
    #[arg(long, value_name = "all|KIND,...", default_value = "all", value_parser = parse_ns)]
    pub ns: NsKinds,
    /// The working directory, resolved inside the target's root (symlinks stay inside it, magic
    /// links such as /proc/self/fd/N are refused), and checked again after entering.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub cwd: PathBuf,
    /// Pass fd N on to the command (repeatable). N must be open when procroot starts: it is
    /// checked before procroot opens anything (EBADF otherwise, and nothing runs). Every other
    /// fd above 2 is closed (not just marked close-on-exec) before the command's execve, so that
    /// neither the command nor a `#!/proc/self/fd/N/...` interpreter line can reach one of
    /// procroot's fds.
    #[arg(long = "keep-fd", value_name = "N")]
    pub keep_fd: Vec<i32>,
    /// Start the command in the target's cgroup (cgroup v2, as `runc exec`), so the container's
    /// limits and accounting apply to it. Without it the command stays in procroot's cgroup.
    /// The cgroup is checked to hold the target; one outside procroot's cgroup namespace (a
    /// `..` path) or under a cgroup2 mount rooted elsewhere is refused (EXDEV), never clamped.
    #[arg(long)]
    pub cgroup: bool,
    /// Keep procroot's own privileges (its uid, groups, every capability, no seccomp filter,
    /// its LSM label), as nsenter does, instead of the target's. The command then holds host root inside the
    /// container, and the container's binaries it runs (including a replaced /bin/sh or the
    /// dynamic loader) act with it: use this only when the container's files are trusted.
    #[arg(long, conflicts_with_all = ["user", "no_seccomp"])]
    pub privileged: bool,
    /// Run as UID and GID (default: the target's gid), numbered as in the target's user
    /// namespace, with no supplementary groups, like `docker exec --user`; the target's
    /// capability sets, no_new_privs and seccomp filters still apply.
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// Run without the target's seccomp filters when they cannot be copied (copying needs
    /// CAP_SYS_ADMIN in the initial user namespace and ptrace access to the target). Without
    /// this or --config, such a target is refused. Everything else stays the target's.
    #[arg(long = "no-seccomp", conflicts_with = "config")]
    pub no_seccomp: bool,
    /// The container's OCI runtime config (config.json): when the target's seccomp filter
    /// cannot be copied, its linux.seccomp section is compiled into a filter and installed
    /// instead (a copied filter wins; a target without a filter gets none). Only the native
    /// architecture is compiled: a syscall from any other ABI (32-bit x86, x32) kills the
    /// command. Refused before anything runs: a config without linux.seccomp, SCMP_ACT_NOTIFY,
    /// the flags SECCOMP_FILTER_FLAG_LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV, and a syscall name
    /// no architecture knows (named in the error).
    #[arg(long, value_name = "config.json", conflicts_with = "privileged")]
    pub config: Option<PathBuf>,
    /// Set the variable KEY to VALUE in the command's environment (repeatable; later ones win).
    /// KEY and VALUE are bytes, not necessarily UTF-8.
    ///
    /// Without --env-clear or --preserve-env the environment is the target's own, read from
    /// /proc/PID/environ (as docker exec gives a container its configured environment), plus
    /// TERM when procroot has one. procroot's own environment holds host credentials that must
    /// not reach a binary of the container, and the container's other processes can read the
    /// command's environment. If the target's environment cannot be read, nothing runs: it
    /// never falls back to procroot's.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = EnvVar)]
    pub env: Vec<(OsString, OsString)>,
    /// Start with an empty environment (then only --env's variables).
    #[arg(long = "env-clear", conflicts_with = "preserve_env")]
    pub env_clear: bool,
    /// Start with procroot's own environment, as nsenter does, instead of the target's: every
    /// host variable (tokens, credentials, PATH) then reaches the container.
    #[arg(long = "preserve-env")]
    pub preserve_env: bool,
    /// The command and its arguments (after `--`). A name without `/` is looked up in PATH
    /// inside the target's root.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `--env KEY=VALUE` on the raw bytes (a value need not be UTF-8): a usage error without `=`
/// or with an empty KEY.
#[derive(Clone)]
struct EnvVar;

impl clap::builder::TypedValueParser for EnvVar {
    type Value = (OsString, OsString);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let b = value.as_bytes();
        match b.iter().position(|&c| c == b'=') {
            Some(i) if i > 0 => Ok((
                OsStr::from_bytes(&b[..i]).to_owned(),
                OsStr::from_bytes(&b[i + 1..]).to_owned(),
            )),
            _ => Err(cmd.clone().error(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value {value:?} for '--env <KEY=VALUE>': expected KEY=VALUE with a non-empty KEY"),
            )),
        }
    }
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let num = |n: &str| {
        n.parse::<u32>()
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| format!("{n:?} is not a numeric id (names are not looked up)"))
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((num(u)?, Some(num(g)?))),
        None => Ok((num(s)?, None)),
    }
}

fn parse_ns(s: &str) -> Result<NsKinds, String> {
    s.parse::<NsKinds>()
        .map_err(|e| e.description().into_owned())
}

/// Arguments of `procroot harden`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Mask and make read-only paths of a container rootfs, in the current mount namespace

Every path is resolved inside DIR (symlinks, at the path or an ancestor, are followed inside
DIR, never out of it) to a file descriptor, and the mount is attached onto that descriptor
with move_mount(2): a rename or a symlink swap inside DIR can never make a mount land outside
it. Paths are done one at a time (no descriptor is held per path: any number of paths works
under a low open-file limit).

  unshare -m --propagation slave procroot harden --root /var/lib/ctr/rootfs --defaults
  procroot harden --root DIR --config config.json --json

What it does:
  - A masked file is covered with the host's /dev/null, checked to be the character device
    1:3 (never DIR's own /dev/null: CVE-2025-31133), read-only, nosuid, noexec (not nodev:
    opening the mask would then fail with EACCES instead of reading empty, as runc's do); a
    masked directory with an empty read-only nosuid,nodev,noexec tmpfs.
  - A read-only path gets a recursive read-only clone of itself: every mount below it is
    read-only too, each keeping its own nosuid, nodev, noexec and atime flags.
  - Every mount is private (in no peer group) before it is attached: a mount later made on
    top of a mask inside DIR never reaches the host's /dev/null or a bind source.
  - Missing paths are skipped (also a path under a file, /proc/kcore/x). A trailing / or /. on
    a file (/proc/timer_list/) is refused. A path is applied once per name: a second path
    reaching the very same file through a symlink is skipped; hard links are distinct names,
    each covered.
  - After the mounts, it looks for processes that already have their working directory, root
    or an open file at or below a covered path (through procroot's own procfs, each candidate
    checked by mount id and inode): such a process keeps the old, writable, unmasked view,
    since lookups that start below a mount never cross it. They are listed as `preexisting`,
    and the exit status is 1.

What the caller must provide:
  - DIR's /proc mounted first (procroot mount-proc --root DIR /proc), in the container's
    private mount namespace. When paths under /proc are asked for and DIR's /proc is not a
    procfs (fstatfs of /proc resolved inside DIR, never mountinfo's text), those paths would
    be skipped: harden warns on stderr (with --json, under `warnings`) and goes on; with
    --strict it fails instead (exit 1), before mounting anything.
  - The container's mount namespace, not the host's, and one whose mounts do not propagate to
    the host: make DIR's mounts slave or private first (unshare -m --propagation slave, or
    mount --make-rslave), as runc does. A mount attached under a shared parent is propagated
    to that parent's peers by the kernel.
  - Hardening must finish before any process runs in DIR or holds anything inside it.
  - The new mount API (Linux 5.2; mount_setattr 5.12). Without it the mounts are made with
    mount(2) on /proc/thread-self/fd/N, checked through procroot's own procfs, reached again
    from the target's parent directory (held open from before the mount: renaming it or an
    ancestor cannot misdirect this) and identified by mount id, made private at once, every
    mount of a read-only subtree remounted read-only, and reported as `fallback`. A path that
    cannot be done so (a mount hidden under another, the target itself renamed meanwhile) is
    refused and its mounts undone through the target's fd, never by name. DIR itself cannot
    be a target there (NotSupported).

--defaults applies runc's default masked and read-only lists and Docker's additions
(/proc/interrupts, /sys/devices/virtual/powercap, /sys/devices/system/cpu/cpu*/thermal_throttle).
A `*` in a path (there, or in --mask, --readonly, --config) is expanded inside DIR when harden
runs, and each existing match is masked and reported on its own. --config reads linux.maskedPaths and
linux.readonlyPaths of an OCI runtime config.json (a regular file: a FIFO or device is refused
by type, unopened; a parse error keeps the parser's line, column and field). Its linux.sysctl
entries are not applied: those a container may own are listed with the command that applies
them in its namespaces (procroot sysctl --pid); machine-wide ones (kernel.core_pattern) are
refused, as sysctl --pid would refuse them, and make the exit status 1. --readonly-proc is
Docker's read-only /proc mode: DIR's whole /proc and /sys are made read-only (before the
read-only paths); LSM label writes still work, as procroot writes labels through its own
procfs instance.

Errors: the host's /dev/null is checked before any mount; if it is not the null device,
nothing is mounted and the exit status is 1. From the first mount on, every mount made is
reported, and every failure is listed under `refused`.

Output: one line per path: `masked P`, `read-only P`, `skipped P: REASON`, `refused P: ERROR`,
`fallback P`, and `preexisting PID HANDLE: P` (HANDLE is cwd, root or fd N). With --json, one
object:
  {\"masked\": [...], \"readonly\": [...], \"skipped\": [{\"path\": P, \"reason\": R}],
   \"refused\": [{\"path\": P, \"errno\": \"EXDEV\", \"message\": M}], \"fallback\": [...],
   \"preexisting\": [{\"pid\": N, \"handle\": \"cwd\", \"path\": P}],
   \"warnings\": [{\"path\": \"/proc\", \"message\": M}],
   \"sysctl\": {\"name\": \"value\"},
   \"sysctl_refused\": [{\"name\": N, \"value\": V, \"errno\": \"EINVAL\", \"message\": M}]}
Exit status 1 if anything was refused or a preexisting handle was found."
)]
pub struct HardenArgs {
    /// The container's root directory. `--rootfs` is another spelling of this option, kept for
    /// the command lines written before every command took `--root`.
    #[arg(long, visible_alias = "rootfs", value_name = "DIR")]
    pub root: PathBuf,
    /// runc's default masked and read-only paths, plus Docker's masked additions.
    #[arg(long)]
    pub defaults: bool,
    /// An OCI runtime config.json: its linux.maskedPaths and linux.readonlyPaths.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A path (inside DIR) to mask. Repeatable.
    #[arg(long = "mask", value_name = "P")]
    pub mask: Vec<PathBuf>,
    /// A path (inside DIR) to make read-only. Repeatable.
    #[arg(long = "readonly", value_name = "P")]
    pub readonly: Vec<PathBuf>,
    /// Also make DIR's whole /proc and /sys read-only (Docker's read-only /proc mode).
    #[arg(long)]
    pub readonly_proc: bool,
    /// Fail (exit 1, nothing mounted) instead of warning when paths under /proc are asked
    /// for and DIR's /proc is not a procfs.
    #[arg(long)]
    pub strict: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `procroot mount-proc`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Mount a new procfs on DEST inside a root, in the current mount namespace

DEST must resolve inside DIR to a real directory with no symlink anywhere on the way: a
symlink is refused (ELOOP), a file too (ENOTDIR), and nothing is mounted (CVE-2019-19921,
CVE-2023-27561). The mount is nosuid,nodev,noexec and attached onto DEST's file descriptor.

  unshare -m procroot mount-proc --root /var/lib/ctr/rootfs --pidns /proc/4242/ns/pid /proc

DEST must not be below DIR's /proc or on a procfs (EPERM: a procfs on /proc/sys would undo
the masks there); DIR's /proc itself is where it belongs. Without the new mount API (Linux
before 5.2, or a seccomp filter refusing fsopen/move_mount) the mount is made with mount(2) on
/proc/thread-self/fd/N and reported as `fallback`.

--pidns NSPATH shows that PID namespace (its init is PID 1). NSPATH is opened O_PATH and must
be a PID namespace file (/proc/PID/ns/pid): a FIFO, a device or anything else is refused by
type, unopened. The instance comes from the pidns= mount option on Linux 6.18+, otherwise
from a helper process that procroot forks into the namespace (non-dumpable; procroot runs
from a sealed copy of its binary, so the helper's /proc/PID/exe is never the file on disk).
Needs CAP_SYS_ADMIN over the namespace's user namespace, and the new mount API: without it
--pidns fails up front (NotSupported, ENOSYS, nothing mounted). --subset-pid shows only
process directories; --hidepid takes 0, 1, 2, 4 or off, noaccess, invisible, ptraceable.
Run it in the container's mount namespace (unshare -m), before any container process starts."
)]
pub struct MountProcArgs {
    /// The container's root directory.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// A PID namespace file (/proc/PID/ns/pid) whose processes the new procfs shows.
    #[arg(long, value_name = "NSPATH")]
    pub pidns: Option<PathBuf>,
    /// Mount with subset=pid (only process directories, self and thread-self).
    #[arg(long)]
    pub subset_pid: bool,
    /// Mount with hidepid=N.
    #[arg(long, value_name = "N")]
    pub hidepid: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where to mount, inside DIR (usually /proc).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,
}

/// Arguments of `procroot sysctl`.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    long_about = "\
Read or write a sysctl through procroot's own procfs

NAME is dotted (kernel.hostname) or a path under /proc/sys (kernel/hostname; with a slash,
dots are part of the names, as in net/ipv4/conf/eth0.100/forwarding). A name that is empty,
absolute, or has `.`, `..` or a NUL byte is refused (EINVAL). NAME=VALUE writes VALUE in one
write(2); NAME alone prints the value. The file is opened through a private procfs instance:
a /proc mounted over, or a file mounted over inside /proc/sys, is refused (EXDEV).

  procroot sysctl kernel.ostype
  procroot sysctl --pid 4242 net.ipv4.ip_forward=1

--pid PID reads or writes the sysctl in the namespace of PID that owns it, or refuses (exit 1,
nothing opened). Accepted, as runc's validator accepts them for a container:
  net.*                                    PID's network namespace
  kernel.msgmax, kernel.msgmnb, kernel.msgmni, kernel.sem, kernel.shmall,
  kernel.shmmax, kernel.shmmni, kernel.shm_rmid_forced, fs.mqueue.*
                                           PID's IPC namespace
  kernel.hostname, kernel.domainname       PID's UTS namespace
  user.*                                   PID's user namespace
  kernel.pid_max                           PID's PID namespace (Linux 6.14+)
Anything else (kernel.core_pattern, vm.*, most of fs.*) is the whole machine's: refused
(EINVAL, \"not in a separate kernel namespace\"). So is a name whose namespace PID shares
with procroot (a container in the host's network namespace has the host's net.*). user.* and
kernel.pid_max are opened by a helper forked into PID's user and PID namespaces (so procroot
runs from a sealed copy of its binary first); the others by a thread that joined the one
namespace. Needs CAP_SYS_ADMIN over those namespaces; on a kernel where kernel.pid_max is
machine-wide (before 6.14) it is refused (NotSupported)."
)]
pub struct SysctlArgs {
    /// Act in the namespace of this process that owns the sysctl (see above), or refuse.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// NAME to read, or NAME=VALUE to write.
    #[arg(value_name = "NAME[=VALUE]")]
    pub name: String,
}

// The doc attribute is a `concat!`, not a `///` comment, so that clap does not take it as the
// subcommand's description: `Command` is `defer`red, and this struct's description would
// replace the variant's long help, which clap must see when it builds the subcommand (whether
// `-h` offers `--help`; cli::built puts back the other texts).
#[doc = concat!("Arguments of `procroot help`.")]
#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The subcommand, and for `proc` its action (`proc cat`); none: procroot's own help.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Arguments of `procroot completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// The shells `procroot completions` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash: source it, or save it as
    /// ~/.local/share/bash-completion/completions/procroot.
    Bash,
    /// zsh: save it as `_procroot` in a directory of $fpath.
    Zsh,
    /// fish: save it as ~/.config/fish/completions/procroot.fish.
    Fish,
}

impl Shell {
    /// Every shell, for tests.
    #[cfg(test)]
    pub(crate) const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];
}

/// `cp --xattrs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XattrsArg {
    /// As `cp -a`; one that cannot be set is a warning.
    All,
    /// None.
    None,
    /// As `all`; one that cannot be set fails the copy, which leaves nothing.
    Strict,
}

impl From<XattrsArg> for procroot::Xattrs {
    fn from(arg: XattrsArg) -> procroot::Xattrs {
        match arg {
            XattrsArg::All => procroot::Xattrs::All,
            XattrsArg::None => procroot::Xattrs::None,
            XattrsArg::Strict => procroot::Xattrs::Strict,
        }
    }
}

/// `--policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// chroot-like (RESOLVE_IN_ROOT): `..` at the root stays at the root, absolute symlinks
    /// restart at the root.
    InRoot,
    /// procfsroot-like, for /proc/PID/root: `..` above the root is an error (EXDEV), absolute
    /// symlinks restart at the root.
    InRootStrict,
    /// RESOLVE_BENEATH (Go os.Root, cap-std): any escape is an error (EXDEV), including an
    /// absolute symlink.
    Beneath,
}

impl From<PolicyArg> for Policy {
    fn from(policy: PolicyArg) -> Policy {
        match policy {
            PolicyArg::InRoot => Policy::InRoot,
            PolicyArg::InRootStrict => Policy::InRootStrict,
            PolicyArg::Beneath => Policy::Beneath,
        }
    }
}

/// `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The kernel (openat2) when it works, else the emulated walker.
    Auto,
    /// The kernel's openat2; where it is unavailable, an error with the errno openat2 failed
    /// with (ENOSYS, or EPERM from a seccomp filter). The userspace walker still answers (and
    /// --json says backend emulated) where openat2's answer needs a second look: EAGAIN on every
    /// one of 17 tries (renames elsewhere on the system), and EXDEV under --policy
    /// in-root-strict, which has no kernel flag. A kernel ELOOP is final.
    Kernel,
    /// Only the userspace walker.
    Emulated,
}

impl From<BackendArg> for Backend {
    fn from(backend: BackendArg) -> Backend {
        match backend {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Kernel => Backend::Kernel,
            BackendArg::Emulated => Backend::Emulated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The module doc's promise: no other module defines a clap argument type, and this one
    /// names no command module (the `CompletionsArgs` circle with `generate`).
    #[test]
    fn every_argument_type_lives_here() {
        let others = [
            ("commands.rs", include_str!("commands.rs")),
            ("confine.rs", include_str!("confine.rs")),
            ("doctor.rs", include_str!("doctor.rs")),
            ("exec.rs", include_str!("exec.rs")),
            ("generate.rs", include_str!("generate.rs")),
            ("harden.rs", include_str!("harden.rs")),
            ("main.rs", include_str!("main.rs")),
            ("mutate.rs", include_str!("mutate.rs")),
            ("output.rs", include_str!("output.rs")),
            ("proc.rs", include_str!("proc.rs")),
            ("progress.rs", include_str!("progress.rs")),
        ];
        for (name, text) in others {
            for derive in ["Args", "Parser", "Subcommand", "ValueEnum"] {
                let found = text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("#[derive("))
                    .any(|l| l.contains(derive));
                assert!(!found, "{name} derives {derive}: it belongs in cli.rs");
            }
        }
        let this = include_str!("cli.rs");
        for module in [
            "commands", "doctor", "exec", "generate", "harden", "mutate", "proc",
        ] {
            let path = format!("crate::{module}::");
            let code = this.lines().filter(|l| !l.trim_start().starts_with("//"));
            assert!(
                !code.clone().any(|l| l.contains(&path)),
                "cli.rs uses {path}"
            );
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_subcommand_is_found_before_parsing() {
        let name = |args: &[&str]| subcommand_name(args.iter().map(OsString::from));
        assert_eq!(
            name(&["procroot", "exec", "--pid", "1"]),
            Some("exec".into())
        );
        assert_eq!(
            name(&["procroot", "--no-sandbox", "exec"]),
            Some("exec".into())
        );
        assert_eq!(name(&["procroot", "cat", "exec"]), Some("cat".into()));
        assert_eq!(name(&["procroot"]), None);
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("0o4755"), Ok(0o4755));
        assert_eq!(parse_mode("7777"), Ok(0o7777));
        for bad in ["", "8", "0o", "u+x", "17777", "-1", "+7", "0x1"] {
            assert!(parse_mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn owners_are_numeric() {
        let owner = |uid, gid| Ok(Owner { uid, gid });
        assert_eq!(parse_owner("1000"), owner(Some(1000), None));
        assert_eq!(parse_owner("1000:100"), owner(Some(1000), Some(100)));
        assert_eq!(parse_owner(":100"), owner(None, Some(100)));
        for bad in ["", ":", "1000:", "root", "1:x", "4294967295", "1:2:3"] {
            assert!(parse_owner(bad).is_err(), "{bad:?}");
        }
    }
}
